//! A customer acting on a rotation of their own key: "we have moved" (complete),
//! more time (extend, within the provider's policy), and collecting the held new
//! secret of a policy or self-service rotation (reveal, which is what counts as
//! delivered).

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Extension;
use keyroll_core::idempotency::IdempotentOperation;
use keyroll_core::ids::Reason;

use super::access::Customer;
use crate::actions::rotation::{act_on_rotation, reveal};
use crate::dto::{
    ExtendRotationRequest, ReasonRequest, RotationResponse, RotationWithSecretResponse,
};
use crate::http::extract::JsonBody;
use crate::http::params::{optional_reason, rotation_id};
use crate::http::problem::ApiError;
use crate::http::problems::*;
use crate::AppState;

/// End the grace now because every integration uses the new secret: the old one stops
/// working. Refused (409) while the new secret has not been collected.
#[utoipa::path(post, path = "/v1/org/rotations/{rotationId}/complete", tag = "customer",
    request_body = ReasonRequest,
    params(("rotationId" = String, Path, description = "rot_…"),
           ("Idempotency-Key" = Option<String>, Header, description = "16-255 visible ASCII characters")),
    security(("customerToken" = [])),
    responses(
        (status = 200, body = RotationResponse),
        MalformedBody, Unauthenticated, Forbidden, NotFound, StateConflict, TooLarge, UnsupportedMediaType, Invalid,
    ))]
pub async fn complete_rotation(
    State(state): State<AppState>,
    Extension(Customer(user)): Extension<Customer>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: JsonBody<ReasonRequest>,
) -> Result<Response, ApiError> {
    let id = rotation_id(&raw)?;
    state
        .keyroll
        .owned_rotation(&user.organization, &id)
        .await?;
    let reason = optional_reason(body.value.reason)?;
    let keyroll = state.keyroll.clone();
    act_on_rotation(
        &state,
        user.actor,
        IdempotentOperation::CompleteRotation(id.clone()),
        &headers,
        &body.raw,
        |caller| async move { keyroll.complete_rotation(&id, reason, caller).await },
    )
    .await
}

/// More time before the old secret stops, within the provider's maximum grace.
#[utoipa::path(post, path = "/v1/org/rotations/{rotationId}/extend", tag = "customer",
    request_body = ExtendRotationRequest,
    params(("rotationId" = String, Path, description = "rot_…"),
           ("Idempotency-Key" = Option<String>, Header, description = "16-255 visible ASCII characters")),
    security(("customerToken" = [])),
    responses(
        (status = 200, body = RotationResponse),
        MalformedBody, Unauthenticated, Forbidden, NotFound, StateConflict, TooLarge, UnsupportedMediaType, Invalid,
    ))]
pub async fn extend_rotation(
    State(state): State<AppState>,
    Extension(Customer(user)): Extension<Customer>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: JsonBody<ExtendRotationRequest>,
) -> Result<Response, ApiError> {
    let id = rotation_id(&raw)?;
    state
        .keyroll
        .owned_rotation(&user.organization, &id)
        .await?;
    let reason = Reason::parse(&body.value.reason)?;
    let seconds = body.value.grace_period_seconds;
    let keyroll = state.keyroll.clone();
    act_on_rotation(
        &state,
        user.actor,
        IdempotentOperation::ExtendRotation(id.clone()),
        &headers,
        &body.raw,
        |caller| async move { keyroll.extend_rotation(&id, seconds, reason, caller).await },
    )
    .await
}

/// Collect, once, the new secret your provider's policy (or a self-service rotation)
/// is holding for you. Your organisation's contacts are told who collected it. A
/// second reveal is 410.
#[utoipa::path(post, path = "/v1/org/rotations/{rotationId}/reveal", tag = "customer",
    params(("rotationId" = String, Path, description = "rot_…"),
           ("Idempotency-Key" = Option<String>, Header, description = "16-255 visible ASCII characters")),
    security(("customerToken" = [])),
    responses(
        (status = 200, body = RotationWithSecretResponse),
        Unauthenticated, Forbidden, NotFound, StateConflict, Gone, Invalid,
    ))]
pub async fn reveal_secret(
    State(state): State<AppState>,
    Extension(Customer(user)): Extension<Customer>,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = rotation_id(&raw)?;
    state
        .keyroll
        .owned_rotation(&user.organization, &id)
        .await?;
    reveal(&state, user.actor, id, &headers).await
}
