//! Conditional requests (RFC 9110): a key's `ETag` is its revision, and `If-Match`
//! makes a change conditional on the revision the caller last saw.

use axum::http::{header, HeaderMap, HeaderValue};
use keyroll_core::error::Error;

/// The `ETag` of a key at `revision`: `"<revision>"`.
pub fn etag(revision: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{revision}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}

/// The revision `If-Match` requires: `None` without the header or with `*`; a value
/// that is not one of this API's ETags is a 422 naming the header.
pub fn if_match(headers: &HeaderMap) -> Result<Option<u64>, Error> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or("").trim();
    if text == "*" {
        return Ok(None);
    }
    text.strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
        .filter(|digits| !digits.is_empty() && digits.len() <= 19)
        .and_then(|digits| digits.parse::<u64>().ok())
        .map(Some)
        .ok_or_else(|| {
            Error::invalid(
                "If-Match",
                "must be an ETag this API gave, e.g. \"12\" (with the quotes), or *",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_reads_this_apis_etags_only() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::IF_MATCH, HeaderValue::from_str(value).unwrap());
            if_match(&headers)
        };
        assert_eq!(if_match(&HeaderMap::new()).unwrap(), None);
        assert_eq!(with("*").unwrap(), None);
        assert_eq!(with("\"12\"").unwrap(), Some(12));
        assert_eq!(etag(12), "\"12\"");
        for bad in [
            "12",
            "W/\"12\"",
            "\"\"",
            "\"x\"",
            "\"99999999999999999999\"",
        ] {
            assert!(with(bad).is_err(), "{bad}");
        }
    }
}
