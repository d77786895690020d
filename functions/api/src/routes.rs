//! The routes. Each parses and validates its input into domain types (422 on any
//! invalid value, before anything changes), calls one keyroll operation, and maps the
//! result to a response.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use keyroll_core::audit::AuditOrder;
use keyroll_core::error::{Error, ErrorKind};
use keyroll_core::idempotency::IdempotencyIntent;
use keyroll_core::ids::{KeyId, Reason, RotationId};
use keyroll_core::processor::{process_due, ProcessReport, ProcessorOptions};
use keyroll_core::rules::Range;
use keyroll_core::secret::RawSecret;
use keyroll_core::service::{
    AuditPageRequest, Caller, EmergencyRequest, EmergencySource, NewKey, ScheduleTrigger, Start,
    Verification,
};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::Authenticated;
use crate::dto::*;
use crate::extract::JsonBody;
use crate::extract::QueryParams;
use crate::problem::{ApiError, Problem};
use crate::AppState;

pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// Rotations per page of the due index and the emergency log.
pub const ROTATION_PAGE: Range = Range::new(1, keyroll_core::service::MAX_ROTATION_PAGE as u64);
/// How far back the emergency log is read.
pub const EMERGENCY_DAYS: Range = Range::new(1, 366);

pub(crate) fn key_id(raw: &str) -> Result<KeyId, ApiError> {
    KeyId::parse(raw).map_err(|_| Error::not_found("key", "with that id").into())
}

pub(crate) fn rotation_id(raw: &str) -> Result<RotationId, ApiError> {
    RotationId::parse(raw).map_err(|_| Error::not_found("rotation", "with that id").into())
}

pub(crate) fn optional_reason(text: Option<String>) -> Result<Option<Reason>, Error> {
    text.map(|t| Reason::parse(&t)).transpose()
}

/// What a state-changing route produced: a key or a rotation, with the secret it
/// minted if any.
pub(crate) enum Outcome {
    Key(keyroll_core::key::Key, Option<RawSecret>),
    Rotation(keyroll_core::rotation::Rotation, Option<RawSecret>),
}

/// The response for `outcome`, as `viewer` may see it.
fn respond(status: StatusCode, outcome: Outcome, viewer: Viewer) -> Response {
    match outcome {
        Outcome::Key(key, Some(secret)) => (
            status,
            Json(KeyWithSecretResponse {
                key: KeyView::from(&key).seen_by(viewer),
                secret: secret.expose().to_owned(),
            }),
        )
            .into_response(),
        Outcome::Key(key, None) => (
            status,
            Json(KeyResponse {
                key: KeyView::from(&key).seen_by(viewer),
            }),
        )
            .into_response(),
        Outcome::Rotation(rotation, Some(secret)) => (
            status,
            Json(RotationWithSecretResponse {
                rotation: RotationView::from(&rotation).seen_by(viewer),
                secret: Some(secret.expose().to_owned()),
            }),
        )
            .into_response(),
        Outcome::Rotation(rotation, None) => (
            status,
            Json(RotationResponse {
                rotation: RotationView::from(&rotation).seen_by(viewer),
            }),
        )
            .into_response(),
    }
}

/// The request's `Idempotency-Key`, checked against `rules::IDEMPOTENCY_KEY` before
/// anything else is done with it.
pub(crate) fn idempotency_key(headers: &HeaderMap) -> Result<Option<&str>, Error> {
    let Some(value) = headers.get(IDEMPOTENCY_HEADER) else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key) if keyroll_core::rules::IDEMPOTENCY_KEY.accepts(key) => Ok(Some(key)),
        _ => Err(Error::invalid(
            "Idempotency-Key",
            "must be 16-255 visible ASCII characters (use a random UUID)",
        )),
    }
}

/// Runs a state-changing operation once per Idempotency-Key (remembered 24 h): a retry
/// gets the first result — the same status, the same resource shown as it is now, the
/// same one-time secret — marked `Idempotent-Replayed: true`; the same key with another
/// body gets 422; a duplicate racing the first finds its record after losing the race.
pub(crate) async fn idempotent<F, Fut>(
    state: &AppState,
    actor: keyroll_core::ids::Actor,
    headers: &HeaderMap,
    scope: String,
    raw_body: &[u8],
    status: StatusCode,
    operation: F,
) -> Result<Response, ApiError>
where
    F: FnOnce(Caller) -> Fut,
    Fut: std::future::Future<Output = Result<Outcome, Error>>,
{
    let key = idempotency_key(headers)?;
    // The operation consumes the intent; a copy answers a replay after a lost race.
    let mut caller = Caller::new(actor.clone());
    let mut intent = None;
    if let Some(key) = key {
        let derived = state
            .keyroll
            .idempotency_intent(&actor, &scope, key, raw_body)
            .await?;
        if let Some(response) = replay(state, &derived, Viewer::of(&actor)).await? {
            return Ok(response);
        }
        caller = caller.with_idempotency(derived.clone());
        intent = Some(derived);
    }
    match operation(caller).await {
        Ok(outcome) => Ok(respond(status, outcome, Viewer::of(&actor))),
        Err(error) if error.kind() == ErrorKind::Conflict => match &intent {
            // A duplicate of this request may have won the race: answer with its result.
            Some(intent) => match replay(state, intent, Viewer::of(&actor)).await? {
                Some(response) => Ok(response),
                None => Err(error.into()),
            },
            None => Err(error.into()),
        },
        Err(error) => Err(error.into()),
    }
}

async fn replay(
    state: &AppState,
    intent: &IdempotencyIntent,
    viewer: Viewer,
) -> Result<Option<Response>, ApiError> {
    let Some(replay) = state.keyroll.replay(intent).await? else {
        return Ok(None);
    };
    // Rotation ids are strict (`rot_<ulid>`); anything else names a key.
    let outcome = if let Ok(id) = RotationId::parse(&replay.resource_id) {
        Outcome::Rotation(state.keyroll.rotation(&id).await?, replay.secret)
    } else {
        let id = KeyId::parse(&replay.resource_id)
            .map_err(|_| Error::Internal("idempotency record names an unknown resource".into()))?;
        Outcome::Key(state.keyroll.key(&id).await?, replay.secret)
    };
    let status = StatusCode::from_u16(replay.status).unwrap_or(StatusCode::OK);
    let mut response = respond(status, outcome, viewer);
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    Ok(Some(response))
}

pub(crate) fn scope(method: &Method, path: &str) -> String {
    format!("{method} {path}")
}

/// Issue a key. The secret is in this response only.
#[utoipa::path(post, path = "/v1/keys", tag = "keys",
    request_body = CreateKeyRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "16-255 visible ASCII characters, e.g. a random UUID")),
    responses(
        (status = 201, body = KeyWithSecretResponse),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_key(
    State(state): State<AppState>,
    Extension(Authenticated(actor)): Extension<Authenticated>,
    headers: HeaderMap,
    body: JsonBody<CreateKeyRequest>,
) -> Result<Response, ApiError> {
    let request = body.value;
    let new_key = NewKey::parse(
        &request.organization_id,
        &request.name,
        &request.scopes,
        request.rate_limit,
        request.class,
    )?;
    let keyroll = state.keyroll.clone();
    idempotent(
        &state,
        actor,
        &headers,
        scope(&Method::POST, "/v1/keys"),
        &body.raw,
        StatusCode::CREATED,
        |caller| async move {
            let issued = keyroll.issue_key(new_key, caller).await?;
            Ok(Outcome::Key(issued.key, Some(issued.secret)))
        },
    )
    .await
}

/// A key with its secret versions (never a hash or a secret).
#[utoipa::path(get, path = "/v1/keys/{keyId}", tag = "keys",
    params(("keyId" = String, Path, description = "key_…")),
    responses(
        (status = 200, body = KeyResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_key(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<KeyResponse>, ApiError> {
    let (key, usage) = state.keyroll.key_with_usage(&key_id(&raw)?).await?;
    Ok(Json(KeyResponse {
        key: KeyView::with_usage(&key, &usage),
    }))
}

/// Schedule a rotation: the new secret is valid at once; the old one expires at
/// start + grace.
#[utoipa::path(post, path = "/v1/keys/{keyId}/rotations", tag = "rotations",
    request_body(content = ScheduleRotationRequest, description = "May be empty for all defaults"),
    params(("keyId" = String, Path, description = "key_…"),
           ("Idempotency-Key" = Option<String>, Header, description = "16-255 visible ASCII characters")),
    responses(
        (status = 201, body = RotationWithSecretResponse),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn schedule_rotation(
    State(state): State<AppState>,
    Extension(Authenticated(actor)): Extension<Authenticated>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: JsonBody<ScheduleRotationRequest>,
) -> Result<Response, ApiError> {
    let id = key_id(&raw)?;
    let path = format!("/v1/keys/{id}/rotations");
    schedule(&state, actor, id, &path, &headers, body).await
}

/// Schedules a rotation of `id` as `actor` asked in `body` (the operator's and the
/// customer's route share it; `path` scopes the Idempotency-Key).
pub(crate) async fn schedule(
    state: &AppState,
    actor: keyroll_core::ids::Actor,
    id: KeyId,
    path: &str,
    headers: &HeaderMap,
    body: JsonBody<ScheduleRotationRequest>,
) -> Result<Response, ApiError> {
    let value = body.value;
    let start = match (value.immediate, value.scheduled_at) {
        (true, Some(_)) => {
            return Err(Error::invalid("scheduledAt", "cannot be combined with immediate").into())
        }
        (true, None) => Start::Now,
        (false, Some(at)) => Start::At(crate::dto::requested_time("scheduledAt", &at)?),
        (false, None) => Start::Default,
    };
    let request = keyroll_core::service::RotationRequest {
        reason: optional_reason(value.reason)?,
        grace_seconds: crate::dto::within(
            "gracePeriodSeconds",
            value.grace_period_seconds,
            keyroll_core::rules::GRACE_SECONDS,
        )?,
        start,
        trigger: if value.self_service {
            ScheduleTrigger::SelfService
        } else {
            ScheduleTrigger::Manual
        },
        complete_when_unused_seconds: crate::dto::within(
            "completeWhenUnusedSeconds",
            value.complete_when_unused_seconds,
            keyroll_core::rules::COMPLETE_WHEN_UNUSED_SECONDS,
        )?,
        auto_extend: value.auto_extend,
    };
    let keyroll = state.keyroll.clone();
    idempotent(
        state,
        actor,
        headers,
        scope(&Method::POST, path),
        &body.raw,
        StatusCode::CREATED,
        |caller| async move {
            let issued = keyroll.schedule_rotation(&id, request, caller).await?;
            // A held (self-service) secret is not in the result at all.
            Ok(Outcome::Rotation(
                issued.rotation,
                issued.delivery.into_returned(),
            ))
        },
    )
    .await
}

/// Emergency rotation: starts now; every other secret of the key expires within the
/// grace (0 = now); a rotation in progress is superseded; no secret lives longer.
#[utoipa::path(post, path = "/v1/keys/{keyId}/emergency-rotation", tag = "rotations",
    request_body = EmergencyRotationRequest,
    params(("keyId" = String, Path, description = "key_…"),
           ("Idempotency-Key" = Option<String>, Header, description = "16-255 visible ASCII characters")),
    responses(
        (status = 201, body = RotationWithSecretResponse),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn emergency_rotation(
    State(state): State<AppState>,
    Extension(Authenticated(actor)): Extension<Authenticated>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: JsonBody<EmergencyRotationRequest>,
) -> Result<Response, ApiError> {
    let id = key_id(&raw)?;
    let path = format!("/v1/keys/{id}/emergency-rotation");
    emergency(&state, actor, id, &path, &headers, body).await
}

/// Rotates `id` at once as `actor` asked in `body` (operator's and customer's route).
pub(crate) async fn emergency(
    state: &AppState,
    actor: keyroll_core::ids::Actor,
    id: KeyId,
    path: &str,
    headers: &HeaderMap,
    body: JsonBody<EmergencyRotationRequest>,
) -> Result<Response, ApiError> {
    let request = EmergencyRequest {
        reason: Reason::parse(&body.value.reason)?,
        grace_seconds: crate::dto::within(
            "gracePeriodSeconds",
            body.value.grace_period_seconds,
            keyroll_core::rules::EMERGENCY_GRACE_SECONDS,
        )?,
        source: EmergencySource::Operator,
    };
    let keyroll = state.keyroll.clone();
    idempotent(
        state,
        actor,
        headers,
        scope(&Method::POST, path),
        &body.raw,
        StatusCode::CREATED,
        |caller| async move {
            let issued = keyroll.emergency_rotation(&id, request, caller).await?;
            Ok(Outcome::Rotation(
                issued.rotation,
                issued.delivery.into_returned(),
            ))
        },
    )
    .await
}

/// A key's rotations, newest first.
#[utoipa::path(get, path = "/v1/keys/{keyId}/rotations", tag = "rotations",
    params(("keyId" = String, Path, description = "key_…")),
    responses(
        (status = 200, body = RotationsResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
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

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RotationPageQuery {
    /// `nextCursor` of the previous page.
    cursor: Option<String>,
    /// Rotations per page, 1-500 (default 100).
    limit: Option<usize>,
}

/// A position in the due index: `<due time>.<rotationId>.<keyId>` (none of the three
/// contains a dot; the time in Unix seconds), of the shape `rules::due_cursor_pattern`.
fn due_cursor(entry: &keyroll_core::index::DueRef) -> String {
    format!(
        "{}.{}.{}",
        entry.due_at.unix(),
        entry.rotation_id,
        entry.key_id
    )
}

fn parse_due_cursor(text: &str) -> Result<keyroll_core::index::DueRef, Error> {
    let invalid = || {
        Error::invalid(
            "cursor",
            "not a cursor of this list; start again without one",
        )
    };
    let mut parts = text.splitn(3, '.');
    let (Some(due), Some(rotation), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(invalid());
    };
    Ok(keyroll_core::index::DueRef {
        due_at: keyroll_core::rules::cursor_time(due).ok_or_else(invalid)?,
        rotation_id: RotationId::parse(rotation).map_err(|_| invalid())?,
        key_id: KeyId::parse(key).map_err(|_| invalid())?,
    })
}

/// Rotations in progress (scheduled or in grace), soonest due first, a page at a time.
#[utoipa::path(get, path = "/v1/rotations", tag = "rotations",
    params(RotationPageQuery),
    responses(
        (status = 200, body = RotationPageResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
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

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EmergenciesQuery {
    /// How far back, 1-366 days (default 30).
    days: Option<u64>,
    /// `nextCursor` of the previous page.
    cursor: Option<String>,
    /// Rotations per page, 1-500 (default 100).
    limit: Option<usize>,
}

/// A position in the emergency log: `<time>.<rotationId>.<keyId>`.
fn emergency_cursor(entry: &keyroll_core::change::EmergencyLogEntry) -> String {
    format!("{}.{}.{}", entry.at.unix(), entry.rotation_id, entry.key_id)
}

fn parse_emergency_cursor(text: &str) -> Result<keyroll_core::change::EmergencyLogEntry, Error> {
    let due = parse_due_cursor(text)?;
    Ok(keyroll_core::change::EmergencyLogEntry {
        at: due.due_at,
        rotation_id: due.rotation_id,
        key_id: due.key_id,
    })
}

/// Emergency and leak rotations started in the last `days` days, newest first,
/// whether still in grace or already completed.
#[utoipa::path(get, path = "/v1/emergencies", tag = "rotations",
    params(EmergenciesQuery),
    responses(
        (status = 200, body = RotationPageResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn recent_emergencies(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<EmergenciesQuery>,
) -> Result<Json<RotationPageResponse>, ApiError> {
    let days = crate::dto::within("days", query.days, EMERGENCY_DAYS)?.unwrap_or(30);
    let limit = crate::dto::page_limit(query.limit, 100, ROTATION_PAGE)?;
    let after = query
        .cursor
        .as_deref()
        .map(parse_emergency_cursor)
        .transpose()?;
    let (rotations, next) = state
        .keyroll
        .recent_emergencies(days, after.as_ref(), limit)
        .await?;
    Ok(Json(RotationPageResponse {
        rotations: rotations.iter().map(RotationView::from).collect(),
        next_cursor: next.as_ref().map(emergency_cursor),
    }))
}

/// One rotation.
#[utoipa::path(get, path = "/v1/rotations/{rotationId}", tag = "rotations",
    params(("rotationId" = String, Path, description = "rot_…")),
    responses(
        (status = 200, body = RotationResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_rotation(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<RotationResponse>, ApiError> {
    let rotation = state.keyroll.rotation(&rotation_id(&raw)?).await?;
    Ok(Json(RotationResponse {
        rotation: (&rotation).into(),
    }))
}

macro_rules! rotation_action {
    ($(#[$doc:meta])* $name:ident, $path:literal, $request:ty, |$keyroll:ident, $id:ident, $value:ident, $caller:ident| $call:expr) => {
        $(#[$doc])*
        #[utoipa::path(post, path = $path, tag = "rotations",
            request_body = $request,
            params(("rotationId" = String, Path, description = "rot_…"),
                   ("Idempotency-Key" = Option<String>, Header, description = "16-255 visible ASCII characters")),
            responses(
                (status = 200, body = RotationResponse),
                (status = 400, body = Problem, content_type = "application/problem+json"),
                (status = 401, body = Problem, content_type = "application/problem+json"),
                (status = 404, body = Problem, content_type = "application/problem+json"),
                (status = 409, body = Problem, content_type = "application/problem+json"),
                (status = 413, body = Problem, content_type = "application/problem+json"),
                (status = 415, body = Problem, content_type = "application/problem+json"),
                (status = 422, body = Problem, content_type = "application/problem+json"),
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
            let path = $path.replace("{rotationId}", $id.as_str());
            act_on_rotation(&state, actor, &path, &headers, &body.raw, |$caller| async move { $call }).await
        }
    };
}

/// Runs an action on one rotation once per Idempotency-Key (see [`idempotent`]) and
/// answers 200 with the rotation as it now is (the operator's and customer's routes).
pub(crate) async fn act_on_rotation<F, Fut>(
    state: &AppState,
    actor: keyroll_core::ids::Actor,
    path: &str,
    headers: &HeaderMap,
    raw_body: &[u8],
    action: F,
) -> Result<Response, ApiError>
where
    F: FnOnce(Caller) -> Fut,
    Fut: std::future::Future<Output = Result<keyroll_core::rotation::Rotation, Error>>,
{
    idempotent(
        state,
        actor,
        headers,
        scope(&Method::POST, path),
        raw_body,
        StatusCode::OK,
        |caller| async move { Ok(Outcome::Rotation(action(caller).await?, None)) },
    )
    .await
}

rotation_action!(
    /// Cancel a rotation that has not started: its new secret is revoked, the old one
    /// keeps working. Refused (409) once its held new secret was handed out, unless
    /// `force` (with a reason).
    cancel_rotation, "/v1/rotations/{rotationId}/cancel", CancelRotationRequest,
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
    complete_rotation, "/v1/rotations/{rotationId}/complete", CompleteRotationRequest,
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
    extend_rotation, "/v1/rotations/{rotationId}/extend", ExtendRotationRequest,
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
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 410, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn reveal_secret(
    State(state): State<AppState>,
    Extension(Authenticated(actor)): Extension<Authenticated>,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = rotation_id(&raw)?;
    let path = format!("/v1/rotations/{id}/reveal");
    reveal(&state, actor, id, &path, &headers).await
}

/// Hands out rotation `id`'s held secret to `actor` (operator's and customer's route).
pub(crate) async fn reveal(
    state: &AppState,
    actor: keyroll_core::ids::Actor,
    id: RotationId,
    path: &str,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let keyroll = state.keyroll.clone();
    idempotent(
        state,
        actor,
        headers,
        scope(&Method::POST, path),
        b"",
        StatusCode::OK,
        |caller| async move {
            let (rotation, secret) = keyroll.reveal_secret(&id, caller).await?;
            Ok(Outcome::Rotation(rotation, Some(secret)))
        },
    )
    .await
}

/// Which page of an audit trail: the paging fields of both audit routes.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditPaging {
    /// `oldest` (default) or `newest` first.
    pub order: Option<String>,
    /// Events per page, 1-1000 (default 100).
    pub limit: Option<usize>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

/// Events per audit page.
pub const AUDIT_PAGE: Range = Range::new(1, 1000);

impl AuditPaging {
    fn request(&self) -> Result<AuditPageRequest, Error> {
        let order = match self.order.as_deref() {
            None | Some("oldest") => AuditOrder::OldestFirst,
            Some("newest") => AuditOrder::NewestFirst,
            Some(_) => return Err(Error::invalid("order", "must be oldest or newest")),
        };
        let limit = crate::dto::page_limit(self.limit, 100, AUDIT_PAGE)?;
        let after = self
            .cursor
            .as_deref()
            .map(|c| {
                keyroll_core::rules::sequence_cursor(c).ok_or_else(|| {
                    Error::invalid(
                        "cursor",
                        "not a cursor of this trail; start again without one",
                    )
                })
            })
            .transpose()?;
        Ok(AuditPageRequest {
            order,
            after,
            limit,
        })
    }
}

/// A page of a key's audit trail (each event with what changed), and whether its
/// whole hash chain is intact: the check reads every event, 200 per query, in
/// constant memory.
#[utoipa::path(get, path = "/v1/keys/{keyId}/audit", tag = "audit",
    params(("keyId" = String, Path, description = "key_…"), AuditPaging),
    responses(
        (status = 200, body = AuditResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn audit(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    QueryParams(paging): QueryParams<AuditPaging>,
) -> Result<Json<AuditResponse>, ApiError> {
    audit_of(&state, key_id(&raw)?, &paging, Viewer::Operator).await
}

/// Key `id`'s audit trail as `viewer` may see it (operator's and customer's route).
pub(crate) async fn audit_of(
    state: &AppState,
    id: KeyId,
    paging: &AuditPaging,
    viewer: Viewer,
) -> Result<Json<AuditResponse>, ApiError> {
    let request = paging.request()?;
    let page = state.keyroll.audit_page(&id, request).await?;
    Ok(Json(AuditResponse {
        key_id: id.to_string(),
        events: page
            .events
            .iter()
            .map(|e| AuditEventView::from(e).seen_by(viewer))
            .collect(),
        next_cursor: page.next.map(|seq| seq.to_string()),
        chain_valid: page.report.valid,
        chain: page.report,
    }))
}

/// Verify a secret: format and checksum, one lookup, the stored verifier, then the
/// stage and expiry at this second.
#[utoipa::path(post, path = "/v1/verify", tag = "verify",
    request_body = VerifyRequest,
    responses(
        (status = 200, body = VerifyResponse),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn verify(
    State(state): State<AppState>,
    body: JsonBody<VerifyRequest>,
) -> Result<Json<VerifyResponse>, ApiError> {
    let verification = state.keyroll.verify(&body.value.secret).await?;
    let (code, record) = match verification {
        Verification::Malformed => (VerifyCode::Malformed, None),
        Verification::NotFound => (VerifyCode::NotFound, None),
        Verification::Valid(r) => (VerifyCode::Valid, Some(r)),
        Verification::Expired(r) => (VerifyCode::Expired, Some(r)),
        Verification::Revoked(r) => (VerifyCode::Revoked, Some(r)),
    };
    let valid = matches!(code, VerifyCode::Valid);
    Ok(Json(VerifyResponse {
        valid,
        code,
        key_id: record.as_ref().map(|r| r.key_id.to_string()),
        organization_id: record
            .as_ref()
            .filter(|_| valid)
            .map(|r| r.organization_id.to_string()),
        scopes: record
            .as_ref()
            .filter(|_| valid)
            .map(|r| r.scopes.iter().map(ToString::to_string).collect()),
        rate_limit: record.as_ref().filter(|_| valid).map(|r| r.rate_limit),
        stage: record.as_ref().map(|r| r.stage),
        expires_at: record.as_ref().and_then(|r| r.expires_at),
    }))
}

/// Run the processor once: start and complete every due rotation. It stops starting
/// work in time to answer within the request's deadline; `remaining` counts what it
/// left for the next run.
#[utoipa::path(post, path = "/v1/admin/process", tag = "admin",
    responses(
        (status = 200, body = ProcessReport),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn process(
    State(state): State<AppState>,
    lambda: Option<Extension<lambda_http::Context>>,
) -> Result<Json<ProcessReport>, ApiError> {
    let options = ProcessorOptions {
        stop_at: Some(crate::deadline::stop_at(lambda.as_deref())),
        ..ProcessorOptions::default()
    };
    let report = process_due(&state.keyroll, state.queue.as_deref(), options).await?;
    Ok(Json(report))
}
