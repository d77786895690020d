//! `/v1/keys/{keyId}/rotations` and `/v1/keys/{keyId}/emergency-rotation`: a key's
//! rotations, and rotating it (planned or at once).

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::{Extension, Json};

use super::auth::Authenticated;
use crate::actions::rotate::{emergency, schedule};
use crate::dto::*;
use crate::http::extract::JsonBody;
use crate::http::params::*;
use crate::http::problem::ApiError;
use crate::http::problems::*;
use crate::AppState;

/// Schedule a rotation: the new secret is valid at once; the old one expires at
/// start + grace.
#[utoipa::path(post, path = "/v1/keys/{keyId}/rotations", tag = "rotations",
    request_body(content = ScheduleRotationRequest, description = "May be empty for all defaults"),
    params(("keyId" = String, Path, description = "key_…"),
           ("Idempotency-Key" = Option<String>, Header, description = "16-255 visible ASCII characters")),
    responses(
        (status = 201, body = RotationWithSecretResponse),
        MalformedBody, Unauthenticated, NotFound, StateConflict, TooLarge, UnsupportedMediaType, Invalid,
    ))]
pub async fn schedule_rotation(
    State(state): State<AppState>,
    Extension(Authenticated(actor)): Extension<Authenticated>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: JsonBody<ScheduleRotationRequest>,
) -> Result<Response, ApiError> {
    let id = key_id(&raw)?;
    schedule(&state, actor, id, &headers, body).await
}

/// Emergency rotation: starts now; every other secret of the key expires within the
/// grace (0 = now); a rotation in progress is superseded; no secret lives longer.
#[utoipa::path(post, path = "/v1/keys/{keyId}/emergency-rotation", tag = "rotations",
    request_body = EmergencyRotationRequest,
    params(("keyId" = String, Path, description = "key_…"),
           ("Idempotency-Key" = Option<String>, Header, description = "16-255 visible ASCII characters")),
    responses(
        (status = 201, body = RotationWithSecretResponse),
        MalformedBody, Unauthenticated, NotFound, StateConflict, TooLarge, UnsupportedMediaType, Invalid,
    ))]
pub async fn emergency_rotation(
    State(state): State<AppState>,
    Extension(Authenticated(actor)): Extension<Authenticated>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: JsonBody<EmergencyRotationRequest>,
) -> Result<Response, ApiError> {
    let id = key_id(&raw)?;
    emergency(&state, actor, id, &headers, body).await
}

/// A key's rotations, newest first.
#[utoipa::path(get, path = "/v1/keys/{keyId}/rotations", tag = "rotations",
    params(("keyId" = String, Path, description = "key_…")),
    responses(
        (status = 200, body = RotationsResponse),
        Unauthenticated, NotFound,
    ))]
pub async fn list_rotations(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<RotationsResponse>, ApiError> {
    let rotations = state.keyroll.rotations_of(&key_id(&raw)?).await?;
    Ok(Json(RotationsResponse {
        rotations: rotations.iter().map(RotationView::from).collect(),
    }))
}
