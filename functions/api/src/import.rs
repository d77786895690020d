//! `POST /v1/keys/import`: brings the old system's keys in with their real creation
//! dates, as JSON (`{"keys": [...]}`) or CSV (`text/csv`, header row).
//!
//! Every row must have the form the document gives `ImportRow`; if any has not, the
//! request is refused (422) with each row's fault in `errors` (`keys[3].name`) and
//! nothing is imported. Rows of the right form are then imported one by one, each with
//! its outcome: `imported`, `duplicate` (a re-run imports nothing twice: same id or same
//! secret), or `invalid` for what only the configuration or the clock decides (a
//! prefix without this deployment's legacy prefix, a creation time in the future).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::{Extension, Json};
use futures::StreamExt;
use keyroll_core::error::{Conflict, Error};
use keyroll_core::ids::KeyId;
use keyroll_core::key::KeyClass;
use keyroll_core::secret::LookupHash;
use keyroll_core::service::{LegacyKey, NewKey};
use keyroll_core::time::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Authenticated;
use crate::problem::{ApiError, FieldProblem, Problem};
use crate::AppState;

pub const MAX_ROWS: usize = 1000;

/// At most this many faulty rows are listed in a refusal's `errors`.
pub const MAX_REPORTED_FAULTS: usize = 100;

/// Body limit of an import (the other routes take 64 KiB): 1,000 rows with room.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// How many rows are imported at once: each is one transaction, so a 1,000-row
/// request takes 1,000 / IMPORT_CONCURRENCY round trips rather than 1,000, while
/// DynamoDB sees a bounded burst.
pub const IMPORT_CONCURRENCY: usize = 16;

/// One key of the old system.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImportRow {
    /// The old system's key id, kept (1-64 letters, digits, '_', '-'); a new one if absent.
    id: Option<String>,
    /// The owning organisation: 1-64 of `A-Za-z0-9_-.:`.
    organization_id: String,
    name: String,
    #[serde(default)]
    scopes: Vec<String>,
    rate_limit: u32,
    #[serde(default)]
    class: KeyClass,
    /// The secret's shown prefix: 8 lower-case hex characters, with or without the old
    /// system's prefix (`KEYROLL_LEGACY_KEY_PREFIX`, default `sk_live_`). A row whose
    /// prefix is neither is imported as `invalid`.
    prefix: String,
    /// SHA-256 hex of the whole secret, as the old system stores it.
    lookup_hash: String,
    /// When the secret was created (RFC 3339): its age decides compliance.
    #[schema(format = DateTime)]
    created_at: String,
    /// `active` (default) or `revoked`.
    status: Option<ImportStatus>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportStatus {
    Active,
    Revoked,
}

/// The longest shown prefix: the old system's prefix and 8 hex characters.
pub const MAX_PREFIX_CHARS: usize = 72;
/// A shown prefix's form: visible ASCII ending in 8 lower-case hex characters.
pub const PREFIX_PATTERN: &str = r"^[\u0021-\u007e]*[0-9a-f]{8}$";

fn prefix_has_form(prefix: &str) -> bool {
    let tail = prefix.len().checked_sub(8).and_then(|at| prefix.get(at..));
    (8..=MAX_PREFIX_CHARS).contains(&prefix.len())
        && prefix.bytes().all(|b| b.is_ascii_graphic())
        && tail.is_some_and(|t| t.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

/// A row of the documented form, before what the configuration and the clock decide.
struct ShapedRow {
    id: Option<KeyId>,
    revoked: bool,
    key: NewKey,
    lookup_hash: LookupHash,
    prefix: String,
    created_at: String,
}

/// Row `index` checked against `ImportRow`'s form; the fault names the row's field.
fn shaped(index: usize, value: serde_json::Value) -> Result<ShapedRow, FieldProblem> {
    let at = format!("keys[{index}]");
    let fault = |error: Error| {
        let field = error.field().unwrap_or("row").to_owned();
        let message = error
            .field_message()
            .map(str::to_owned)
            .unwrap_or_else(|| error.to_string());
        FieldProblem {
            field: if field.starts_with(&at) {
                field
            } else {
                format!("{at}.{field}")
            },
            message,
        }
    };
    let row: ImportRow = crate::extract::from_value(value, &at).map_err(|error| match error {
        ApiError::Domain(error) => fault(error),
        other => FieldProblem {
            field: at.clone(),
            message: other.problem().detail,
        },
    })?;
    let id = row
        .id
        .as_deref()
        .map(KeyId::parse)
        .transpose()
        .map_err(|_| FieldProblem {
            field: format!("{at}.id"),
            message: "must be 1-64 letters, digits, '_' or '-'".into(),
        })?;
    let key = NewKey::parse(
        &row.organization_id,
        &row.name,
        &row.scopes,
        row.rate_limit,
        row.class,
    )
    .and_then(|key| key.validate().map(|()| key))
    .map_err(fault)?;
    let lookup_hash =
        LookupHash::parse_hex(&row.lookup_hash.to_ascii_lowercase()).map_err(fault)?;
    if !prefix_has_form(&row.prefix) {
        return Err(FieldProblem {
            field: format!("{at}.prefix"),
            message: "must be visible ASCII ending in 8 lower-case hex characters, at most 72"
                .into(),
        });
    }
    if let Err(keyroll_core::time::TimestampError::Syntax) = Timestamp::parse(&row.created_at) {
        return Err(FieldProblem {
            field: format!("{at}.createdAt"),
            message: keyroll_core::time::TimestampError::Syntax.to_string(),
        });
    }
    Ok(ShapedRow {
        id,
        revoked: row.status == Some(ImportStatus::Revoked),
        key,
        lookup_hash,
        prefix: row.prefix,
        created_at: row.created_at,
    })
}

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

/// What the configuration and the clock decide about a row of the right form.
fn legacy_of(row: ShapedRow, legacy_prefix: &str) -> Result<LegacyKey, Error> {
    let visible = row
        .prefix
        .strip_prefix(legacy_prefix)
        .unwrap_or(&row.prefix)
        .to_owned();
    Ok(LegacyKey {
        id: row.id,
        revoked: row.revoked,
        key: row.key,
        lookup_hash: row.lookup_hash,
        visible_prefix: visible,
        created_at: Timestamp::parse(&row.created_at)
            .map_err(|e| Error::invalid("createdAt", e.to_string()))?,
    })
}

/// Splits CSV text into records (RFC 4180 quoting: `"a, b"`, `""` for a quote).
fn csv_records(text: &str) -> Result<Vec<Vec<String>>, Error> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                if record.iter().any(|f| !f.is_empty()) {
                    records.push(std::mem::take(&mut record));
                } else {
                    record.clear();
                }
            }
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return Err(Error::invalid("body", "a quoted CSV field is not closed"));
    }
    record.push(field);
    if record.iter().any(|f| !f.is_empty()) {
        records.push(record);
    }
    Ok(records)
}

/// CSV rows as JSON objects, so both forms share one row parser.
fn csv_rows(text: &str) -> Result<Vec<serde_json::Value>, Error> {
    let mut records = csv_records(text)?.into_iter();
    let header = records
        .next()
        .ok_or_else(|| Error::invalid("body", "the CSV has no header row"))?;
    const COLUMNS: [&str; 10] = [
        "id",
        "organizationId",
        "name",
        "scopes",
        "rateLimit",
        "class",
        "prefix",
        "lookupHash",
        "createdAt",
        "status",
    ];
    for column in &header {
        if !COLUMNS.contains(&column.trim()) {
            return Err(Error::invalid(
                "body",
                format!(
                    "unknown CSV column {:?}",
                    column.chars().take(40).collect::<String>()
                ),
            ));
        }
    }
    Ok(records
        .map(|record| {
            let mut object = serde_json::Map::new();
            for (column, value) in header.iter().zip(record) {
                let (column, value) = (column.trim(), value.trim().to_owned());
                if value.is_empty() {
                    continue;
                }
                let json = match column {
                    "scopes" => {
                        serde_json::Value::from(value.split_whitespace().collect::<Vec<_>>())
                    }
                    "rateLimit" => value
                        .parse::<u64>()
                        .map(serde_json::Value::from)
                        .unwrap_or(serde_json::Value::String(value)),
                    _ => serde_json::Value::String(value),
                };
                object.insert(column.to_owned(), json);
            }
            serde_json::Value::Object(object)
        })
        .collect())
}

/// Import keys from the old system (JSON or CSV).
#[utoipa::path(post, path = "/v1/keys/import", tag = "keys",
    request_body(content = ImportRequest, description = "Or text/csv with a header row: id,organizationId,name,scopes (space-separated),rateLimit,class,prefix,lookupHash,createdAt,status"),
    responses(
        (status = 200, body = ImportResponse),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn import_keys(
    State(state): State<AppState>,
    Extension(Authenticated(actor)): Extension<Authenticated>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<ImportResponse>), ApiError> {
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
            let request: ImportRequest = crate::extract::parse_json(&body)?;
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
    let legacy_prefix = state
        .keyroll
        .config()
        .secret_format
        .legacy_prefix()
        .to_owned();
    let legacy_prefix = legacy_prefix.as_str();
    let mut response = ImportResponse {
        imported: 0,
        duplicates: 0,
        invalid: 0,
        rows: Vec::new(),
    };
    // Every row's form first: a file with a fault imports nothing.
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
    // Rows run concurrently but answer in order. Two rows with the same secret race
    // on the secret record's guarded write: one is imported, the other a duplicate.
    let outcomes: Vec<_> = futures::stream::iter(shaped_rows.into_iter().enumerate())
        .map(|(index, row)| {
            let keyroll = &state.keyroll;
            let actor = &actor;
            async move {
                let parsed = legacy_of(row, legacy_prefix);
                let outcome = match parsed {
                    Err(error) => Err(error),
                    Ok(legacy) => keyroll.import_legacy_key(legacy, actor).await,
                };
                (index + 1, outcome)
            }
        })
        .buffered(IMPORT_CONCURRENCY)
        .collect()
        .await;
    for (row, outcome) in outcomes {
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
    Ok((StatusCode::OK, Json(response)))
}
