//! Acting on a rotation (cancel, complete, extend) and revealing its held secret, as
//! an operator or a customer asked, once per Idempotency-Key.

use axum::http::HeaderMap;
use axum::response::Response;
use keyroll_core::error::Error;
use keyroll_core::idempotency::{IdempotentOperation, RequestOutcome};
use keyroll_core::ids::RotationId;
use keyroll_core::service::Caller;

use crate::http::idempotency::{idempotent, Outcome};
use crate::http::problem::ApiError;
use crate::AppState;

/// Runs an action on one rotation once per Idempotency-Key (see [`idempotent`]) and
/// answers 200 with the rotation as it now is (the operator's and customer's routes).
pub(crate) async fn act_on_rotation<F, Fut>(
    state: &AppState,
    actor: keyroll_core::ids::Actor,
    operation: IdempotentOperation,
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
        operation,
        raw_body,
        RequestOutcome::Changed,
        |caller| async move { Ok(Outcome::Rotation(action(caller).await?, None)) },
    )
    .await
}

/// Hands out rotation `id`'s held secret to `actor` (operator's and customer's route).
pub(crate) async fn reveal(
    state: &AppState,
    actor: keyroll_core::ids::Actor,
    id: RotationId,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let keyroll = state.keyroll.clone();
    idempotent(
        state,
        actor,
        headers,
        IdempotentOperation::RevealSecret(id.clone()),
        b"",
        RequestOutcome::Changed,
        |caller| async move {
            let (rotation, secret) = keyroll.reveal_secret(&id, caller).await?;
            Ok(Outcome::Rotation(rotation, Some(secret)))
        },
    )
    .await
}
