//! One error type for every HTTP failure, answered as RFC 9457
//! `application/problem+json` with a stable `type`. Internal detail (storage errors,
//! broken invariants) is logged and never sent.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use keyroll_core::error::Error;
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
}

/// Everything a route can fail with.
#[derive(Debug)]
pub enum ApiError {
    Domain(Error),
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

fn title_of(status: u16) -> &'static str {
    match status {
        400 => "Malformed request",
        401 => "Authentication required",
        403 => "Forbidden",
        404 => "Not found",
        405 => "Method not allowed",
        409 => "Conflict with the current state",
        410 => "Gone",
        413 => "Request body too large",
        415 => "Unsupported media type",
        422 => "Invalid request",
        503 => "Service unavailable",
        _ => "Internal error",
    }
}

impl ApiError {
    pub fn problem(&self) -> Problem {
        let (status, problem_type, detail, rotation_id) = match self {
            ApiError::Domain(error) => {
                let status = error.http_status();
                let detail = if error.is_public() {
                    error.to_string()
                } else {
                    tracing::error!(%error, "request failed");
                    match status {
                        503 => "the storage backend is unavailable; retry later".to_owned(),
                        _ => "an internal error occurred".to_owned(),
                    }
                };
                let rotation_id = match error {
                    Error::RotationInProgress(id) => Some(id.to_string()),
                    _ => None,
                };
                (status, error.problem_type(), detail, rotation_id)
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
                "the request body is larger than 64 KiB".to_owned(),
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
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = self.problem();
        let status =
            StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
