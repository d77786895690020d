//! `GET /v1/self/key`: a key's client learns, with any live secret of the key, whether
//! a successor waits for it and when to ask again. Nothing secret in the answer.

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use keyroll_core::error::Error;
use keyroll_core::key::SecretStage;
use keyroll_core::time::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

use super::successor::presented_secret;
use crate::http::problem::ApiError;
use crate::http::problems::*;
use crate::AppState;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SelfKeyResponse {
    pub key_id: String,
    /// The presented secret's stage: `current`, `pending` (a successor already
    /// valid) or `previous` (an old secret in its grace).
    pub stage: SecretStage,
    /// When the presented secret stops verifying; null when it does not.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
    /// The successor waiting for the presented secret: fetch it now
    /// (`GET /v1/self/successor`). Null when there is none.
    pub successor: Option<SelfSuccessor>,
    /// Ask again after this many seconds (spread it by ±50 %): 0 when a successor
    /// waits, 300 while the key has another rotation in progress, else 3600.
    pub poll_after_seconds: u64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SelfSuccessor {
    pub rotation_id: String,
    /// When the old secret's grace ends.
    #[schema(value_type = String, format = DateTime)]
    pub grace_ends_at: Timestamp,
}

/// Where your key stands, authenticated with any live secret of it: the secret's stage
/// and expiry, the successor waiting for it, and when to ask again. What a client
/// library polls, cheaply (no secret in the answer), before it fetches a successor.
#[utoipa::path(get, path = "/v1/self/key", tag = "self-service",
    security(("currentSecret" = []), ("currentSecretHeader" = [])),
    responses(
        (status = 200, body = SelfKeyResponse, headers(("Sunset" = String, description = "when the presented secret stops working, as an HTTP date (RFC 8594), if it does"))),
        Unauthenticated,
    ))]
pub async fn self_key(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let presented = presented_secret(&headers).ok_or(Error::Unauthenticated)?;
    let found = state.keyroll.self_key(presented).await?;
    let body = Json(SelfKeyResponse {
        key_id: found.key_id.to_string(),
        stage: found.stage,
        expires_at: found.expires_at,
        successor: found
            .successor
            .map(|(rotation_id, grace_ends_at)| SelfSuccessor {
                rotation_id: rotation_id.to_string(),
                grace_ends_at,
            }),
        poll_after_seconds: found.poll_after_seconds,
    });
    let no_store = (header::CACHE_CONTROL, "no-store".to_owned());
    Ok(match found.expires_at {
        Some(at) => (
            [
                no_store,
                (header::HeaderName::from_static("sunset"), at.to_http_date()),
            ],
            body,
        )
            .into_response(),
        None => ([no_store], body).into_response(),
    })
}
