//! An import's rows: their form (as the document states it), read from JSON or CSV,
//! and the legacy key each becomes.

use keyroll_core::error::Error;
use keyroll_core::ids::{KeyId, KeyName, OrganizationId, Scope};
use keyroll_core::key::KeyClass;
use keyroll_core::secret::LookupHash;
use keyroll_core::service::{LegacyKey, NewKey};
use keyroll_core::time::Timestamp;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::dto::limits::MAX_PREFIX_CHARS;
use crate::http::problem::{ApiError, FieldProblem};

/// One key of the old system.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImportRow {
    /// The old system's key id, kept (1-64 letters, digits, '_', '-'); a new one if absent.
    #[schema(value_type = Option<KeyId>, inline)]
    id: Option<String>,
    /// The owning organisation: 1-64 of `A-Za-z0-9_-.:`.
    #[schema(value_type = OrganizationId, inline)]
    organization_id: String,
    #[schema(value_type = KeyName, inline)]
    name: String,
    #[serde(default)]
    #[schema(value_type = Vec<Scope>, inline)]
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

pub(crate) fn prefix_has_form(prefix: &str) -> bool {
    let tail = prefix.len().checked_sub(8).and_then(|at| prefix.get(at..));
    (8..=MAX_PREFIX_CHARS).contains(&prefix.len())
        && prefix.bytes().all(|b| b.is_ascii_graphic())
        && tail.is_some_and(|t| t.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

/// A row of the documented form, before what the configuration and the clock decide.
pub(crate) struct ShapedRow {
    id: Option<KeyId>,
    revoked: bool,
    key: NewKey,
    lookup_hash: LookupHash,
    prefix: String,
    created_at: String,
}

/// Row `index` checked against `ImportRow`'s form; the fault names the row's field.
pub(crate) fn shaped(index: usize, value: serde_json::Value) -> Result<ShapedRow, FieldProblem> {
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
    let row: ImportRow =
        crate::http::extract::from_value(value, &at).map_err(|error| match error {
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
        None,
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

/// What the configuration and the clock decide about a row of the right form.
pub(crate) fn legacy_of(row: ShapedRow, legacy_prefix: &str) -> Result<LegacyKey, Error> {
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

/// CSV rows as JSON objects, so both forms share one row parser.
pub(crate) fn csv_rows(text: &str) -> Result<Vec<serde_json::Value>, Error> {
    let mut records = keyroll_core::csv::records(text)?.into_iter();
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
