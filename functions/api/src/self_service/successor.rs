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
    /// The new secret as a compact JWE (RFC 7516): `alg` `ECDH-ES+A256KW`, `enc`
    /// `A256GCM`, `kid` the key's delivery key thumbprint. Only the delivery key's
    /// private half opens it; any instance may fetch it again during the grace.
    pub jwe: String,
    /// When the old secret's grace ends (the `Sunset` header says when it stops at the
    /// latest: later for a rotation that retires once its callers have moved).
    #[schema(value_type = String, format = DateTime)]
    pub grace_ends_at: keyroll_core::time::Timestamp,
}

/// Fetch the successor of your API key, sealed to the key's delivery key, authenticated
/// with the key's current (old) secret while a self-service rotation is scheduled or in
/// its grace period. Any instance of your client may fetch it, any number of times; the
/// first fetch counts as the delivery (the organisation is told). A holder of the old
/// secret alone gets ciphertext it cannot open. Refused (403) for emergency and leak
/// rotations, and (409) for a key with no delivery key: register one first.
#[utoipa::path(get, path = "/v1/self/successor", tag = "self-service",
    security(("currentSecret" = []), ("currentSecretHeader" = [])),
    responses(
        (status = 200, body = SuccessorResponse, headers(("Sunset" = String, description = "when the old secret stops working, as an HTTP date (RFC 8594)"))),
        Unauthenticated, Forbidden, NotFound, StateConflict, Gone,
    ))]
pub async fn successor(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<impl axum::response::IntoResponse, ApiError> {
    let presented = presented_secret(&headers).ok_or(Error::Unauthenticated)?;
    let sealed = state.keyroll.successor(presented).await?;
    let rotation = &sealed.rotation;
    let ends = rotation.ends_at();
    // Sealed, but still nothing for a cache to keep. The old secret is going away:
    // `Sunset` (RFC 8594) says when, for any client that reads it.
    let headers = [
        (header::CACHE_CONTROL, "no-store".to_owned()),
        (
            header::HeaderName::from_static("sunset"),
            ends.to_http_date(),
        ),
    ];
    Ok((
        headers,
        Json(SuccessorResponse {
            key_id: rotation.key_id.to_string(),
            rotation_id: rotation.id.to_string(),
            jwe: sealed.jwe,
            grace_ends_at: rotation.grace_ends_at,
        }),
    ))
}
