//! Conditional requests (RFC 9110): a key's `ETag` is its revision, and `If-Match`
//! makes a change conditional on the revision the caller last saw.

use axum::http::{header, HeaderMap, HeaderValue};

/// The `ETag` of a key at `revision`: `"<revision>"`.
pub fn etag(revision: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{revision}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}

/// What `If-Match` asks of the key's revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// No header, or `*`: any revision.
    Any,
    /// This revision (`"12"`).
    Revision(u64),
    /// A value that is no ETag of this API: no revision matches it (RFC 9110, 412).
    Unmatchable,
}

/// What the request's `If-Match` asks.
pub fn if_match(headers: &HeaderMap) -> Precondition {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Precondition::Any;
    };
    let text = value.to_str().unwrap_or("").trim();
    if text == "*" {
        return Precondition::Any;
    }
    text.strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
        .filter(|digits| !digits.is_empty() && digits.len() <= 19)
        .and_then(|digits| digits.parse::<u64>().ok())
        .map_or(Precondition::Unmatchable, Precondition::Revision)
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
        assert_eq!(if_match(&HeaderMap::new()), Precondition::Any);
        assert_eq!(with("*"), Precondition::Any);
        assert_eq!(with("\"12\""), Precondition::Revision(12));
        assert_eq!(etag(12), "\"12\"");
        for bad in [
            "12",
            "W/\"12\"",
            "\"\"",
            "\"x\"",
            "\"99999999999999999999\"",
        ] {
            assert_eq!(with(bad), Precondition::Unmatchable, "{bad}");
        }
    }
}
