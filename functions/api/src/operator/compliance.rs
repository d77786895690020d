//! `/v1/compliance` and `/v1/compliance.csv`: the compliance report, a page at a time.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use keyroll_core::compliance::{ComplianceSnapshot, KeyCompliance, KeyComplianceStatus};
use keyroll_core::ids::OrganizationId;
use keyroll_core::rules::Range;
use keyroll_core::service::{ComplianceCursor, ComplianceFilter};
use keyroll_core::time::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::dto::limits::{CSV_PAGE, MAX_CSV_PAGE, REPORT_PAGE};
use crate::http::extract::QueryParams;
use crate::http::problem::ApiError;
use crate::http::problems::*;
use crate::AppState;

const DEFAULT_LIMIT: usize = 100;

const CSV_HEADER: &str = "keyId,organizationId,class,prefix,ageDays,status,rotationId\n";

const HISTORY_DAYS: usize = 90;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ComplianceQuery {
    /// Only this organisation's keys.
    organization_id: Option<String>,
    /// `compliant`, `rotation_in_progress`, `rotation_blocked` or `overdue`.
    status: Option<String>,
    /// Keys per page: 1-1000 (default 100); for the CSV 1-10000 (default 10000).
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

/// The filter and cursor of a report request, validated.
struct Request {
    filter: ComplianceFilter,
    cursor: Option<ComplianceCursor>,
}

fn request(query: &ComplianceQuery) -> Result<Request, ApiError> {
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
    let cursor = query
        .cursor
        .as_deref()
        .map(ComplianceCursor::parse)
        .transpose()?;
    Ok(Request {
        filter: ComplianceFilter {
            organization,
            status,
        },
        cursor,
    })
}

fn limit(query: &ComplianceQuery, default: usize, range: Range) -> Result<usize, ApiError> {
    Ok(crate::dto::page_limit(query.limit, default, range)?)
}

/// Where every active key stands against the maximum-age rule, with the trend. One
/// page of keys, oldest secret first; the figures cover every active key matching
/// `organizationId` (kept as counters, so they cost the same at any size).
#[utoipa::path(get, path = "/v1/compliance", tag = "compliance",
    params(ComplianceQuery),
    responses(
        (status = 200, body = ComplianceReport),
        Unauthenticated, Invalid,
    ))]
pub async fn report(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<ComplianceQuery>,
) -> Result<Json<ComplianceReport>, ApiError> {
    let limit = limit(&query, DEFAULT_LIMIT, REPORT_PAGE)?;
    let Request { filter, cursor } = request(&query)?;
    let keyroll = &state.keyroll;
    let (page, figures, history) = futures::try_join!(
        keyroll.compliance_page(&filter, cursor.as_ref(), limit),
        keyroll.compliance_figures(filter.organization.as_ref()),
        keyroll.compliance_history(HISTORY_DAYS),
    )?;
    let policy = keyroll.config().policy;
    Ok(Json(ComplianceReport {
        generated_at: keyroll.now(),
        max_age_days: policy.server.max_age_days,
        embedded_max_age_days: policy.embedded.max_age_days,
        active_keys: figures.active,
        compliant: figures.compliant,
        in_progress: figures.in_progress,
        blocked: figures.blocked,
        non_compliant: figures.overdue,
        coverage_percent: figures.coverage_percent(),
        keys: page.rows,
        next_cursor: page.next.map(|c| c.to_string()),
        history,
    }))
}

/// The report as CSV for auditors, in pages that each fit a Lambda response: the
/// header row on the first page only, and a `Link: <…>; rel="next"` header while there
/// are more, so the pages concatenate into one file.
#[utoipa::path(get, path = "/v1/compliance.csv", tag = "compliance",
    params(ComplianceQuery),
    responses(
        (status = 200, content_type = "text/csv", body = String,
            description = "keyId,organizationId,class,prefix,ageDays,status,rotationId (10,000 rows per page unless `limit` says fewer)",
            headers(("Link" = String, description = "`<…>; rel=\"next\"`: the next page, while there is one"))),
        Unauthenticated, Invalid,
    ))]
pub async fn report_csv(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<ComplianceQuery>,
) -> Result<Response, ApiError> {
    let limit = limit(&query, MAX_CSV_PAGE, CSV_PAGE)?;
    let Request { filter, cursor } = request(&query)?;
    let page = state
        .keyroll
        .compliance_page(&filter, cursor.as_ref(), limit)
        .await?;
    let mut csv = String::new();
    if cursor.is_none() {
        csv.push_str(CSV_HEADER);
    }
    // Every field is an id, a prefix, a number or a fixed word: no quoting needed.
    for r in page.rows {
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
    let mut response = ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], csv).into_response();
    if let Some(next) = page.next {
        let mut link = format!("/v1/compliance.csv?cursor={next}&limit={limit}");
        if let Some(org) = &filter.organization {
            link.push_str(&format!("&organizationId={org}"));
        }
        if let Some(status) = filter.status {
            link.push_str(&format!("&status={}", status.as_str()));
        }
        // Ids, timestamps and fixed words only: always a valid header value.
        if let Ok(value) = header::HeaderValue::from_str(&format!("<{link}>; rel=\"next\"")) {
            response.headers_mut().insert(header::LINK, value);
        }
    }
    Ok(response)
}
