//! `POST /v1/keys/import`: brings the old system's keys in with their real creation
//! dates, as JSON (`{"keys": [...]}`) or CSV (`text/csv`, header row).
//!
//! Every row must have the form the document gives `ImportRow`; if any has not, the
//! request is refused (422) with each row's fault in `errors` (`keys[3].name`) and
//! nothing is imported. Rows of the right form are then imported, many to a
//! transaction, each with its outcome: `imported`, `duplicate` (a re-run imports nothing twice: same id or same
//! secret), or `invalid` for what only the configuration or the clock decides (a
//! prefix without this deployment's legacy prefix, a creation time in the future).
use crate::http::problem::ApiError;
use crate::http::problems::*;
use crate::operator::auth::Authenticated;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::{Extension, Json};
use keyroll_core::error::{Conflict, Error};
use keyroll_core::key::Key;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

mod rows;

use rows::*;
pub use rows::{ImportRow, ImportStatus};

use crate::dto::limits::MAX_ROWS;

/// At most this many faulty rows are listed in a refusal's `errors`.
pub const MAX_REPORTED_FAULTS: usize = 100;

/// Body limit of an import (the other routes take 64 KiB): 1,000 rows with room.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    /// At most 1,000 rows.
    #[schema(value_type = Vec<ImportRow>)]
    keys: Vec<serde_json::Value>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RowOutcome {
    Imported,
    Duplicate,
    Invalid,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RowResult {
    /// 1-based row number (CSV: not counting the header).
    row: usize,
    outcome: RowOutcome,
    key_id: Option<String>,
    error: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportResponse {
    imported: usize,
    duplicates: usize,
    invalid: usize,
    rows: Vec<RowResult>,
}

/// Import keys from the old system (JSON or CSV).
#[utoipa::path(post, path = "/v1/keys/import", tag = "keys",
    request_body(content = ImportRequest, description = "Or text/csv with a header row: id,organizationId,name,scopes (space-separated),rateLimit,class,prefix,lookupHash,createdAt,status"),
    responses(
        (status = 200, body = ImportResponse),
        MalformedBody, Unauthenticated, TooLarge, UnsupportedMediaType, Invalid,
    ))]
pub async fn import_keys(
    State(state): State<AppState>,
    Extension(Authenticated(actor)): Extension<Authenticated>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<ImportResponse>), ApiError> {
    let rows = read_rows(&headers, body)?;
    // Every row's form first: a file with a fault imports nothing.
    let shaped_rows = shape_all(rows)?;
    let legacy_prefix = state.keyroll.config().secret_format.legacy_prefix();
    // What only the configuration decides is settled here; the rest is imported many
    // rows to a transaction, each row's outcome in order.
    let mut outcomes: Vec<Option<Result<Key, Error>>> = Vec::with_capacity(shaped_rows.len());
    let mut importable = Vec::new();
    let mut places = Vec::new();
    for (index, row) in shaped_rows.into_iter().enumerate() {
        match legacy_of(row, legacy_prefix) {
            Ok(legacy) => {
                outcomes.push(None);
                importable.push(legacy);
                places.push(index);
            }
            Err(error) => outcomes.push(Some(Err(error))),
        }
    }
    let imported = state.keyroll.import_legacy_keys(importable, &actor).await;
    for (index, outcome) in places.into_iter().zip(imported) {
        outcomes[index] = Some(outcome);
    }
    let outcomes = outcomes.into_iter().flatten().collect();
    Ok((StatusCode::OK, Json(ImportResponse::of(outcomes)?)))
}

/// The request's rows, from JSON (`{"keys": [...]}`) or CSV, at most [`MAX_ROWS`].
fn read_rows(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Vec<serde_json::Value>, ApiError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::MalformedJson("the request body could not be read".into())
        }
    })?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let rows: Vec<serde_json::Value> = match content_type.as_str() {
        "application/json" => {
            let request: ImportRequest = crate::http::extract::parse_json(&body)?;
            request.keys
        }
        "text/csv" => {
            let text = std::str::from_utf8(&body)
                .map_err(|_| Error::invalid("body", "CSV must be UTF-8"))?;
            csv_rows(text)?
        }
        _ => return Err(ApiError::UnsupportedMediaType),
    };
    if rows.len() > MAX_ROWS {
        return Err(Error::invalid("keys", format!("at most {MAX_ROWS} rows per request")).into());
    }
    Ok(rows)
}

/// Every row in the document's form, or each row's fault (the first
/// [`MAX_REPORTED_FAULTS`]).
fn shape_all(rows: Vec<serde_json::Value>) -> Result<Vec<ShapedRow>, ApiError> {
    let mut problems = Vec::new();
    let mut shaped_rows = Vec::with_capacity(rows.len());
    for (index, value) in rows.into_iter().enumerate() {
        match shaped(index, value) {
            Ok(row) => shaped_rows.push(row),
            Err(problem) => problems.push(problem),
        }
    }
    if !problems.is_empty() {
        problems.truncate(MAX_REPORTED_FAULTS);
        return Err(ApiError::InvalidFields(problems));
    }
    Ok(shaped_rows)
}

impl ImportResponse {
    /// The answer for each row's outcome, in order: imported, a duplicate, or invalid
    /// by the configuration or the clock. Any other failure fails the request (its
    /// retry imports nothing twice).
    fn of(outcomes: Vec<Result<Key, Error>>) -> Result<Self, ApiError> {
        let mut response = ImportResponse {
            imported: 0,
            duplicates: 0,
            invalid: 0,
            rows: Vec::with_capacity(outcomes.len()),
        };
        for (index, outcome) in outcomes.into_iter().enumerate() {
            let row = index + 1;
            let result = match outcome {
                Ok(key) => {
                    response.imported += 1;
                    RowResult {
                        row,
                        outcome: RowOutcome::Imported,
                        key_id: Some(key.id.to_string()),
                        error: None,
                    }
                }
                Err(Error::Conflict(Conflict::AlreadyImported)) => {
                    response.duplicates += 1;
                    RowResult {
                        row,
                        outcome: RowOutcome::Duplicate,
                        key_id: None,
                        error: Some("already imported".into()),
                    }
                }
                Err(error) if error.is_public() => {
                    response.invalid += 1;
                    RowResult {
                        row,
                        outcome: RowOutcome::Invalid,
                        key_id: None,
                        error: Some(error.to_string()),
                    }
                }
                Err(error) => return Err(error.into()),
            };
            response.rows.push(result);
        }
        Ok(response)
    }
}
