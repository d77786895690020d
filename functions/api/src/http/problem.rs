//! One error type for every HTTP failure, answered as RFC 9457
//! `application/problem+json` with a stable `type`. [`status_and_type`] is the one
//! table from the core's error kinds to HTTP. Internal detail (storage errors, broken
//! invariants) is logged and never sent.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use keyroll_core::error::{Chain, Conflict, Dependency, Error, ErrorKind};
use serde::Serialize;
use utoipa::ToSchema;

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A stable URI naming the kind of problem.
    #[serde(rename = "type")]
    pub problem_type: &'static str,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// For `rotation-in-progress`: the rotation that is in the way.
    #[serde(rename = "rotationId", skip_serializing_if = "Option::is_none")]
    pub rotation_id: Option<String>,
    /// For `invalid-request` and `outside-policy`: each input at fault, named as the
    /// caller sent it (`rateLimit`, `keys[3].name`, `limit`, `Idempotency-Key`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
}

/// One input at fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldProblem {
    /// The body field (a path such as `keys[3].name`), query or path parameter, or
    /// header.
    pub field: String,
    /// What is wrong with it, without its value.
    pub message: String,
}

/// Everything a route can fail with.
#[derive(Debug)]
pub enum ApiError {
    Domain(Error),
    /// Several inputs at fault at once (an import's rows), answered 422.
    InvalidFields(Vec<FieldProblem>),
    Unauthorized,
    MalformedJson(String),
    PayloadTooLarge,
    UnsupportedMediaType,
    RouteNotFound,
    MethodNotAllowed,
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        ApiError::Domain(error)
    }
}

const BASE: &str = "https://keyroll.dev/problems/";

/// The HTTP status and problem `type` of a domain error: the only place that maps the
/// core's errors to HTTP.
pub fn status_and_type(error: &Error) -> (u16, &'static str) {
    match error.kind() {
        ErrorKind::Invalid => (422, "https://keyroll.dev/problems/invalid-request"),
        ErrorKind::NotFound => (404, "https://keyroll.dev/problems/not-found"),
        ErrorKind::Conflict => match error.conflict() {
            Some(Conflict::RotationInProgress { .. }) => {
                (409, "https://keyroll.dev/problems/rotation-in-progress")
            }
            Some(Conflict::ConcurrentModification) => {
                (409, "https://keyroll.dev/problems/concurrent-modification")
            }
            Some(Conflict::OutsidePolicy { .. }) => {
                (409, "https://keyroll.dev/problems/outside-policy")
            }
            _ => (409, "https://keyroll.dev/problems/wrong-state"),
        },
        ErrorKind::Gone => (410, "https://keyroll.dev/problems/gone"),
        ErrorKind::PreconditionFailed => (412, "https://keyroll.dev/problems/precondition-failed"),
        ErrorKind::Forbidden => (403, "https://keyroll.dev/problems/forbidden"),
        ErrorKind::Unauthenticated => (401, "https://keyroll.dev/problems/unauthorized"),
        ErrorKind::TooManyRequests => (429, "https://keyroll.dev/problems/too-many-requests"),
        ErrorKind::Unavailable => (503, "https://keyroll.dev/problems/unavailable"),
        ErrorKind::Internal => (500, "https://keyroll.dev/problems/internal"),
    }
}

fn title_of(status: u16) -> &'static str {
    match status {
        400 => "Malformed request",
        401 => "Authentication required",
        403 => "Forbidden",
        404 => "Not found",
        405 => "Method not allowed",
        409 => "Conflict with the current state",
        410 => "Gone",
        412 => "Precondition failed",
        413 => "Request body too large",
        415 => "Unsupported media type",
        422 => "Invalid request",
        429 => "Too many requests",
        503 => "Service unavailable",
        _ => "Internal error",
    }
}

impl ApiError {
    pub fn problem(&self) -> Problem {
        let mut errors = Vec::new();
        let (status, problem_type, detail, rotation_id) = match self {
            ApiError::Domain(error) => {
                let (status, problem_type) = status_and_type(error);
                if let (Some(field), Some(message)) = (error.field(), error.field_message()) {
                    errors.push(FieldProblem {
                        field: field.to_owned(),
                        message: message.to_owned(),
                    });
                }
                let detail = if error.is_public() {
                    error.to_string()
                } else {
                    // The cause (an SDK's error code and message) is for the operator.
                    tracing::error!(cause = %Chain(error), "request failed");
                    match error {
                        Error::Unavailable {
                            dependency: Dependency::Store,
                            ..
                        }
                        | Error::Corrupt(_) => {
                            "the storage backend is unavailable; retry later".to_owned()
                        }
                        Error::Unavailable { .. } => {
                            "a service keyroll depends on is unavailable; retry later".to_owned()
                        }
                        _ => "an internal error occurred".to_owned(),
                    }
                };
                let rotation_id = match error.conflict() {
                    Some(Conflict::RotationInProgress { rotation_id }) => Some(rotation_id.clone()),
                    _ => None,
                };
                (status, problem_type, detail, rotation_id)
            }
            ApiError::InvalidFields(problems) => {
                errors.clone_from(problems);
                let detail = match problems.as_slice() {
                    [one] => format!("invalid {}: {}", one.field, one.message),
                    many => format!(
                        "{} inputs are invalid, the first {}: {}",
                        many.len(),
                        many.first().map_or("", |p| p.field.as_str()),
                        many.first().map_or("", |p| p.message.as_str())
                    ),
                };
                (
                    422,
                    "https://keyroll.dev/problems/invalid-request",
                    detail,
                    None,
                )
            }
            ApiError::Unauthorized => (
                401,
                "https://keyroll.dev/problems/unauthorized",
                "valid credentials are required".to_owned(),
                None,
            ),
            ApiError::MalformedJson(detail) => (
                400,
                "https://keyroll.dev/problems/malformed-json",
                detail.clone(),
                None,
            ),
            ApiError::PayloadTooLarge => (
                413,
                "https://keyroll.dev/problems/payload-too-large",
                "the request body is larger than this route takes (64 KiB; 1 MiB for an import or a leak report)".to_owned(),
                None,
            ),
            ApiError::UnsupportedMediaType => (
                415,
                "https://keyroll.dev/problems/unsupported-media-type",
                "send the body as application/json".to_owned(),
                None,
            ),
            ApiError::RouteNotFound => (
                404,
                "https://keyroll.dev/problems/not-found",
                "no such route".to_owned(),
                None,
            ),
            ApiError::MethodNotAllowed => (
                405,
                "https://keyroll.dev/problems/method-not-allowed",
                "this route does not accept that method".to_owned(),
                None,
            ),
        };
        debug_assert!(problem_type.starts_with(BASE));
        Problem {
            problem_type,
            title: title_of(status),
            status,
            detail,
            rotation_id,
            errors,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after = match &self {
            ApiError::Domain(error) => error.retry_after_seconds(),
            _ => None,
        };
        let problem = self.problem();
        let status =
            StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(seconds) = retry_after {
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyroll_core::error::StoreError;

    #[test]
    fn every_kind_of_error_has_its_status() {
        let cases = [
            (Error::invalid("reason", "too long"), 422),
            (Error::not_found("key", "key_x"), 404),
            (Conflict::KeyRevoked.into(), 409),
            (Conflict::KeyExpired.into(), 409),
            (
                Conflict::RotationInProgress {
                    rotation_id: "rot_x".into(),
                }
                .into(),
                409,
            ),
            (Conflict::ConcurrentModification.into(), 409),
            (Error::Gone("revealed".into()), 410),
            (Error::Forbidden("emergency".into()), 403),
            (Error::Unauthenticated, 401),
            (
                StoreError::unavailable_because("GetItem", "down").into(),
                503,
            ),
            (
                keyroll_core::error::DependencyError::because(
                    Dependency::Vault,
                    "GetSecretValue",
                    "down",
                )
                .into(),
                503,
            ),
            (
                keyroll_core::error::DependencyError::because(
                    Dependency::Mac,
                    "GenerateMac",
                    "down",
                )
                .into(),
                503,
            ),
            (Error::Internal("bug".into()), 500),
        ];
        for (error, status) in cases {
            let (got, problem_type) = status_and_type(&error);
            assert_eq!(got, status, "{error}");
            assert!(problem_type.starts_with(BASE));
        }
        let detail =
            ApiError::Domain(StoreError::unavailable_because("GetItem", "10.0.0.1 refused").into())
                .problem()
                .detail;
        assert!(!detail.contains("10.0.0.1"));
    }
}
