//! Idempotent requests over HTTP: the `Idempotency-Key` header, and running a
//! state-changing operation once per key, so that a retry gets the first result (the
//! same status, the resource as it is now, the same one-time secret) marked
//! `Idempotent-Replayed: true`. The core remembers what a request did (an outcome);
//! this is where an outcome becomes a status.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use keyroll_core::error::{Error, ErrorKind};
use keyroll_core::idempotency::{IdempotencyIntent, IdempotentOperation, RequestOutcome};
use keyroll_core::ids::{Actor, KeyId, RotationId};
use keyroll_core::secret::RawSecret;
use keyroll_core::service::Caller;

use crate::dto::*;
use crate::http::problem::ApiError;
use crate::AppState;

pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// What a state-changing route produced: a key or a rotation, with the secret it
/// minted if any.
pub(crate) enum Outcome {
    Key(keyroll_core::key::Key, Option<RawSecret>),
    Rotation(keyroll_core::rotation::Rotation, Option<RawSecret>),
}

/// The status that answers a request which did `outcome`.
fn status_of(outcome: RequestOutcome) -> StatusCode {
    match outcome {
        RequestOutcome::Created => StatusCode::CREATED,
        RequestOutcome::Changed => StatusCode::OK,
    }
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
    actor: Actor,
    headers: &HeaderMap,
    operation: IdempotentOperation,
    raw_body: &[u8],
    outcome: RequestOutcome,
    run: F,
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
            .idempotency_intent(&actor, &operation, key, raw_body)
            .await?;
        if let Some(response) = replay(state, &derived, Viewer::of(&actor)).await? {
            return Ok(response);
        }
        caller = caller.with_idempotency(derived.clone());
        intent = Some(derived);
    }
    match run(caller).await {
        Ok(result) => Ok(respond(status_of(outcome), result, Viewer::of(&actor))),
        // A duplicate of this request may have won the race (a conflict), or already
        // done what can be done once (a reveal: gone): answer with its result.
        Err(error) if matches!(error.kind(), ErrorKind::Conflict | ErrorKind::Gone) => {
            match &intent {
                Some(intent) => match replay(state, intent, Viewer::of(&actor)).await? {
                    Some(response) => Ok(response),
                    None => Err(error.into()),
                },
                None => Err(error.into()),
            }
        }
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
    let mut response = respond(status_of(replay.outcome), outcome, viewer);
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    Ok(Some(response))
}
