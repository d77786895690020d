//! `/v1/rotations…`: rotations in progress, one rotation, and acting on it (cancel,
//! complete, extend, reveal its held secret).

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::{Extension, Json};
use keyroll_core::error::Error;
use keyroll_core::idempotency::IdempotentOperation;
use keyroll_core::ids::Reason;

use super::auth::Authenticated;
use crate::actions::rotation::{act_on_rotation, reveal};
use crate::dto::limits::ROTATION_PAGE;
use crate::dto::*;
use crate::http::cursor::*;
use crate::http::extract::{JsonBody, QueryParams};
use crate::http::params::*;
use crate::http::problem::ApiError;
use crate::http::problems::*;
use crate::AppState;

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RotationPageQuery {
    /// `nextCursor` of the previous page.
    cursor: Option<String>,
    /// Rotations per page, 1-500 (default 100).
    limit: Option<usize>,
}

/// Rotations in progress (scheduled or in grace), soonest due first, a page at a time.
#[utoipa::path(get, path = "/v1/rotations", tag = "rotations",
    params(RotationPageQuery),
    responses(
        (status = 200, body = RotationPageResponse),
        Unauthenticated, Invalid,
    ))]
pub async fn rotations_in_progress(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<RotationPageQuery>,
) -> Result<Json<RotationPageResponse>, ApiError> {
    let limit = crate::dto::page_limit(query.limit, 100, ROTATION_PAGE)?;
    let after = query.cursor.as_deref().map(parse_due_cursor).transpose()?;
    let (page, next) = state
        .keyroll
        .rotations_in_progress(after.as_ref(), limit)
        .await?;
    let rotations = page
        .iter()
        .map(|(rotation, key)| {
            let mut view = RotationView::from(rotation);
            view.old_secret_last_used_at = key
                .version(rotation.from_version)
                .and_then(|v| v.last_used_at);
            view
        })
        .collect();
    Ok(Json(RotationPageResponse {
        rotations,
        next_cursor: next.as_ref().map(due_cursor),
    }))
}

/// One rotation.
///
/// With `summary`: how many of its key's callers have moved to the new secret.
#[utoipa::path(get, path = "/v1/rotations/{rotationId}", tag = "rotations",
    params(("rotationId" = String, Path, description = "rot_…")),
    responses(
        (status = 200, body = RotationResponse),
        Unauthenticated, NotFound,
    ))]
pub async fn get_rotation(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<RotationResponse>, ApiError> {
    let rotation = state.keyroll.rotation(&rotation_id(&raw)?).await?;
    let summary = state.keyroll.rotation_callers(&rotation).await?;
    let mut view = RotationView::from(&rotation);
    view.summary = Some(summary.into());
    Ok(Json(RotationResponse { rotation: view }))
}

macro_rules! rotation_action {
    ($(#[$doc:meta])* $name:ident, $path:literal, $operation:path, $request:ty, |$keyroll:ident, $id:ident, $value:ident, $caller:ident| $call:expr) => {
        $(#[$doc])*
        #[utoipa::path(post, path = $path, tag = "rotations",
            request_body = $request,
            params(("rotationId" = String, Path, description = "rot_…"),
                   ("Idempotency-Key" = Option<String>, Header, description = "16-255 visible ASCII characters")),
            responses(
                (status = 200, body = RotationResponse),
                MalformedBody, Unauthenticated, NotFound, StateConflict, TooLarge, UnsupportedMediaType, Invalid,
            ))]
        pub async fn $name(
            State(state): State<AppState>,
            Extension(Authenticated(actor)): Extension<Authenticated>,
            Path(raw): Path<String>,
            headers: HeaderMap,
            body: JsonBody<$request>,
        ) -> Result<Response, ApiError> {
            let $id = rotation_id(&raw)?;
            let $value = body.value;
            let $keyroll = state.keyroll.clone();
            let operation = $operation($id.clone());
            act_on_rotation(&state, actor, operation, &headers, &body.raw, |$caller| async move { $call }).await
        }
    };
}

rotation_action!(
    /// Cancel a rotation that has not started: its new secret is revoked, the old one
    /// keeps working. Refused (409) once its held new secret was handed out, unless
    /// `force` (with a reason).
    cancel_rotation, "/v1/rotations/{rotationId}/cancel", IdempotentOperation::CancelRotation, CancelRotationRequest,
    |keyroll, id, value, caller| {
        let reason = optional_reason(value.reason)?;
        match (value.force, reason) {
            (true, Some(reason)) => keyroll.force_cancel_rotation(&id, reason, caller).await,
            (true, None) => Err(Error::invalid("reason", "is required to force a cancellation")),
            (false, reason) => keyroll.cancel_rotation(&id, reason, caller).await,
        }
    }
);

rotation_action!(
    /// End the grace now: the old secret is revoked. Refused (409) while the
    /// rotation's held new secret has reached nobody, unless `force` (with a reason).
    complete_rotation, "/v1/rotations/{rotationId}/complete", IdempotentOperation::CompleteRotation, CompleteRotationRequest,
    |keyroll, id, value, caller| {
        let reason = optional_reason(value.reason)?;
        match (value.force, reason) {
            (true, Some(reason)) => keyroll.force_complete_rotation(&id, reason, caller).await,
            (true, None) => Err(Error::invalid("reason", "is required to force a completion")),
            (false, reason) => keyroll.complete_rotation(&id, reason, caller).await,
        }
    }
);

rotation_action!(
    /// Add to a non-emergency rotation's grace, within the class's maximum.
    extend_rotation, "/v1/rotations/{rotationId}/extend", IdempotentOperation::ExtendRotation, ExtendRotationRequest,
    |keyroll, id, value, caller| {
        let reason = Reason::parse(&value.reason)?;
        keyroll.extend_rotation(&id, value.grace_period_seconds, reason, caller).await
    }
);

/// Reveal, once, the new secret of a rotation the compliance scanner started (it waits
/// in Secrets Manager and is deleted now). A second reveal is 410.
#[utoipa::path(post, path = "/v1/rotations/{rotationId}/reveal", tag = "rotations",
    params(("rotationId" = String, Path, description = "rot_…"),
           ("Idempotency-Key" = Option<String>, Header, description = "16-255 visible ASCII characters")),
    responses(
        (status = 200, body = RotationWithSecretResponse),
        Unauthenticated, NotFound, StateConflict, Gone, Invalid,
    ))]
pub async fn reveal_secret(
    State(state): State<AppState>,
    Extension(Authenticated(actor)): Extension<Authenticated>,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = rotation_id(&raw)?;
    reveal(&state, actor, id, &headers).await
}
