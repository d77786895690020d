//! Request values checked against the document's rules: a number within its range, a
//! page size, a requested instant. Each refusal names the field.

use keyroll_core::time::Timestamp;

/// A number checked against its documented range (`rules`), as the document states it.
pub fn within(
    field: &'static str,
    value: Option<u64>,
    range: keyroll_core::rules::Range,
) -> Result<Option<u64>, keyroll_core::Error> {
    match value {
        Some(n) if !range.contains(n) => {
            Err(keyroll_core::Error::invalid(field, range.expectation()))
        }
        other => Ok(other),
    }
}

/// A page size: `default` when absent, else within `range` (the document's).
pub fn page_limit(
    value: Option<usize>,
    default: usize,
    range: keyroll_core::rules::Range,
) -> Result<usize, keyroll_core::Error> {
    let limit = value.unwrap_or(default);
    if !range.contains(limit as u64) {
        return Err(keyroll_core::Error::invalid("limit", range.expectation()));
    }
    Ok(limit)
}

/// A requested instant: RFC 3339 is the document's rule (422 otherwise); one keyroll
/// cannot represent (before 1970, after 9999) is outside what it allows (409).
pub fn requested_time(field: &'static str, text: &str) -> Result<Timestamp, keyroll_core::Error> {
    use keyroll_core::time::TimestampError;
    Timestamp::parse(text).map_err(|error| match error {
        TimestampError::Syntax => keyroll_core::Error::invalid(field, error.to_string()),
        TimestampError::OutOfRange => keyroll_core::Error::outside_policy(field, error.to_string()),
    })
}
