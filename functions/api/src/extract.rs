//! The JSON body extractor: every rejection is a problem document (400 malformed,
//! 413 too large, 415 wrong media type, 422 unknown field or invalid value), and the
//! raw bytes are kept for the idempotency fingerprint.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::de::DeserializeOwned;

use crate::problem::ApiError;

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub struct JsonBody<T> {
    pub value: T,
    pub raw: Bytes,
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json_content = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                let essence = v
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                essence == "application/json" || essence.ends_with("+json")
            });
        let raw = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge
                } else {
                    ApiError::MalformedJson("the request body could not be read".into())
                }
            })?;
        if raw.len() > MAX_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge);
        }
        // An empty body stands for `{}`; a non-empty one must say it is JSON.
        let text: &[u8] = if raw.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            if json_content == Some(false) {
                return Err(ApiError::UnsupportedMediaType);
            }
            &raw
        };
        let value = serde_json::from_slice(text).map_err(|error| match error.classify() {
            serde_json::error::Category::Data => ApiError::Domain(keyroll_core::Error::invalid(
                "body",
                // serde's message names the field and the expectation, never the value.
                strip_position(&error.to_string()),
            )),
            _ => ApiError::MalformedJson(format!(
                "the body is not valid JSON: {}",
                strip_position(&error.to_string())
            )),
        })?;
        Ok(JsonBody { value, raw })
    }
}

/// serde's message without its position, with quoted input values blanked (a value
/// sent in the wrong field might be a secret) and bounded in length.
fn strip_position(message: &str) -> String {
    let message = match message.find(" at line ") {
        Some(index) => &message[..index],
        None => message,
    };
    let mut out = String::new();
    let mut inside_quotes = false;
    for c in message.chars() {
        if c == '"' {
            if inside_quotes {
                out.push('…');
            }
            inside_quotes = !inside_quotes;
            out.push(c);
        } else if !inside_quotes {
            out.push(c);
        }
    }
    out.chars().take(300).collect()
}

/// Query parameters, with every rejection (unknown parameter, wrong type) a 422
/// problem document.
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> axum::extract::FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| QueryParams(value))
            .map_err(|_| {
                ApiError::Domain(keyroll_core::Error::invalid(
                    "query",
                    "unknown or malformed query parameter",
                ))
            })
    }
}
