//! `GET /v1/self/successor`: a client fetches the successor of its API key with the
//! key's current secret.

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::Json;
use keyroll_core::error::Error;
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::problem::ApiError;
use crate::http::problems::*;
use crate::AppState;

/// The customer's secret from `Authorization: Bearer …` or `x-api-key`.
pub fn presented_secret(headers: &HeaderMap) -> Option<&str> {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &axum::http::HeaderValue| v.to_str().ok())
    };
    keyroll_core::secret::presented_secret(text(header::AUTHORIZATION.as_str()), text("x-api-key"))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SuccessorResponse {
    pub key_id: String,
    pub rotation_id: String,
    /// The new secret. Shown once: a second request answers 410.
    pub secret: String,
    /// Its shareable start.
    pub prefix: String,
    /// The new secret works from now on (pending secrets already verify).
    /// The old secret stops working at this instant.
    #[schema(value_type = String, format = DateTime)]
    pub old_secret_expires_at: keyroll_core::time::Timestamp,
}

/// Fetch the successor of your API key, once, authenticated with the key's current
/// (old) secret while a self-service rotation is scheduled or in its grace period. A
/// client library can roll itself over with no human step. Refused (403) for
/// emergency and leak rotations. Send an `Idempotency-Key` so that a retry after a
/// lost answer gets the same secret again.
#[utoipa::path(get, path = "/v1/self/successor", tag = "self-service",
    security(("currentSecret" = []), ("currentSecretHeader" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "16-255 visible ASCII characters: a retry with the same key (within 24 h) gets the same secret again instead of 410")),
    responses(
        (status = 200, body = SuccessorResponse, headers(("Sunset" = String, description = "when the old secret stops working, as an HTTP date (RFC 8594)"))),
        (status = 422, body = crate::http::problem::Problem, content_type = "application/problem+json", description = "an `Idempotency-Key` that is not 16-255 visible ASCII characters"),
        Unauthenticated, Forbidden, NotFound, Gone,
    ))]
pub async fn successor(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<impl axum::response::IntoResponse, ApiError> {
    let presented = presented_secret(&headers).ok_or(Error::Unauthenticated)?;
    let idempotency_key = crate::http::idempotency::idempotency_key(&headers)?;
    let (rotation, secret) = state.keyroll.successor(presented, idempotency_key).await?;
    // A one-time secret: no cache on the way may keep it. The old secret is going
    // away: `Sunset` (RFC 8594) says when, for any client that reads it.
    let headers = [
        (header::CACHE_CONTROL, "no-store".to_owned()),
        (
            header::HeaderName::from_static("sunset"),
            rotation.grace_ends_at.to_http_date(),
        ),
    ];
    Ok((
        headers,
        Json(SuccessorResponse {
            key_id: rotation.key_id.to_string(),
            rotation_id: rotation.id.to_string(),
            secret: secret.expose().to_owned(),
            prefix: rotation.new_prefix.clone(),
            old_secret_expires_at: rotation.grace_ends_at,
        }),
    ))
}
