//! The compliance report (`GET /v1/compliance`, `GET /v1/compliance.csv`) and the
//! scan trigger (`POST /v1/admin/scan`).

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use keyroll_core::compliance::{coverage, ComplianceSnapshot, KeyCompliance, KeyComplianceStatus};
use keyroll_core::error::Error;
use keyroll_core::ids::OrganizationId;
use keyroll_core::scan::{scan, ScanOptions, ScanReport};
use keyroll_core::time::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::extract::QueryParams;
use crate::problem::{ApiError, Problem};
use crate::AppState;

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;
const HISTORY_DAYS: usize = 90;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ComplianceQuery {
    /// Only this organisation's keys.
    organization_id: Option<String>,
    /// `compliant`, `rotation_in_progress`, `rotation_blocked` or `overdue`.
    status: Option<String>,
    /// Keys per page, 1-1000 (default 100).
    limit: Option<usize>,
    /// `nextCursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComplianceReport {
    #[schema(value_type = String, format = DateTime)]
    generated_at: Timestamp,
    /// Maximum secret age of server keys.
    max_age_days: u32,
    /// Maximum secret age of embedded keys.
    embedded_max_age_days: u32,
    /// Figures over every active key matching `organizationId` (not only this page).
    active_keys: u64,
    compliant: u64,
    /// Keys with a rotation in progress, blocked ones included.
    in_progress: u64,
    /// Of `inProgress`: rotations that cannot end because nobody has received their
    /// new secret ("rotation blocked: new secret not delivered").
    blocked: u64,
    non_compliant: u64,
    coverage_percent: f64,
    keys: Vec<KeyCompliance>,
    next_cursor: Option<String>,
    /// Daily snapshots written by the scanner, newest first (90 days).
    history: Vec<ComplianceSnapshot>,
}

/// Figures over every row that matched the organisation filter.
struct Figures {
    active: u64,
    compliant: u64,
    in_progress: u64,
    blocked: u64,
    overdue: u64,
}

struct Filtered {
    rows: Vec<KeyCompliance>,
    figures: Figures,
}

async fn filtered(state: &AppState, query: &ComplianceQuery) -> Result<Filtered, ApiError> {
    let organization = query
        .organization_id
        .as_deref()
        .map(OrganizationId::parse)
        .transpose()?;
    let status = query
        .status
        .as_deref()
        .map(KeyComplianceStatus::parse)
        .transpose()?;
    let mut rows = state.keyroll.key_statuses().await?;
    if let Some(organization) = &organization {
        rows.retain(|r| r.organization_id == organization.as_str());
    }
    let count = |s: KeyComplianceStatus| rows.iter().filter(|r| r.status == s).count() as u64;
    let blocked = count(KeyComplianceStatus::RotationBlocked);
    let figures = Figures {
        active: rows.len() as u64,
        compliant: count(KeyComplianceStatus::Compliant),
        in_progress: count(KeyComplianceStatus::RotationInProgress) + blocked,
        blocked,
        overdue: count(KeyComplianceStatus::Overdue),
    };
    if let Some(status) = status {
        rows.retain(|r| r.status == status);
    }
    Ok(Filtered { rows, figures })
}

/// Where every active key stands against the maximum-age rule, with the trend.
#[utoipa::path(get, path = "/v1/compliance", tag = "compliance",
    params(ComplianceQuery),
    responses(
        (status = 200, body = ComplianceReport),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn report(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<ComplianceQuery>,
) -> Result<Json<ComplianceReport>, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(Error::invalid("limit", "must be from 1 to 1000").into());
    }
    let Filtered { rows, figures } = filtered(&state, &query).await?;
    let start = match &query.cursor {
        None => 0,
        Some(cursor) => {
            rows.iter()
                .position(|r| &r.key_id == cursor)
                .ok_or_else(|| {
                    Error::invalid(
                        "cursor",
                        "not a cursor of this report; start again without one",
                    )
                })?
                + 1
        }
    };
    let page: Vec<KeyCompliance> = rows.iter().skip(start).take(limit).cloned().collect();
    let next_cursor = (start + page.len() < rows.len())
        .then(|| page.last().map(|r| r.key_id.clone()))
        .flatten();
    let policy = state.keyroll.config().policy;
    Ok(Json(ComplianceReport {
        generated_at: state.keyroll.now(),
        max_age_days: policy.server.max_age_days,
        embedded_max_age_days: policy.embedded.max_age_days,
        active_keys: figures.active,
        compliant: figures.compliant,
        in_progress: figures.in_progress,
        blocked: figures.blocked,
        non_compliant: figures.overdue,
        coverage_percent: coverage(figures.active, figures.compliant + figures.in_progress),
        keys: page,
        next_cursor,
        history: state.keyroll.compliance_history(HISTORY_DAYS).await?,
    }))
}

/// The same report as CSV, every matching key, for auditors.
#[utoipa::path(get, path = "/v1/compliance.csv", tag = "compliance",
    params(ComplianceQuery),
    responses(
        (status = 200, content_type = "text/csv", body = String, description = "keyId,organizationId,class,prefix,ageDays,status,rotationId"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn report_csv(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<ComplianceQuery>,
) -> Result<Response, ApiError> {
    let Filtered { rows, .. } = filtered(&state, &query).await?;
    // Every field is an id, a prefix, a number or a fixed word: no quoting needed.
    let mut csv = String::from("keyId,organizationId,class,prefix,ageDays,status,rotationId\n");
    for r in rows {
        csv.push_str(&format!(
            "{},{},{},{},{},{},{}\n",
            r.key_id,
            r.organization_id,
            r.class,
            r.prefix,
            r.age_days,
            r.status.as_str(),
            r.rotation_id.unwrap_or_default()
        ));
    }
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], csv).into_response())
}

/// Run the compliance scan once: schedule rotations of overdue keys, warn ahead,
/// write today's snapshot.
#[utoipa::path(post, path = "/v1/admin/scan", tag = "admin",
    responses(
        (status = 200, body = ScanReport),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn run_scan(State(state): State<AppState>) -> Result<Json<ScanReport>, ApiError> {
    Ok(Json(scan(&state.keyroll, ScanOptions::default()).await?))
}
