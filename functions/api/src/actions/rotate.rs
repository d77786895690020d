//! Rotating a key as an operator or a customer asked: a planned rotation or an
//! emergency one, once per Idempotency-Key.

use axum::http::HeaderMap;
use axum::response::Response;
use keyroll_core::error::Error;
use keyroll_core::idempotency::{IdempotentOperation, RequestOutcome};
use keyroll_core::ids::{KeyId, Reason};
use keyroll_core::service::{EmergencyRequest, EmergencySource, ScheduleTrigger, Start};

use crate::dto::*;
use crate::http::extract::JsonBody;
use crate::http::idempotency::{idempotent, Outcome};
use crate::http::params::optional_reason;
use crate::http::problem::ApiError;
use crate::AppState;

/// Schedules a rotation of `id` as `actor` asked in `body` (the operator's and the
/// customer's route share it).
pub(crate) async fn schedule(
    state: &AppState,
    actor: keyroll_core::ids::Actor,
    id: KeyId,
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
        IdempotentOperation::ScheduleRotation(id.clone()),
        &body.raw,
        RequestOutcome::Created,
        |caller| async move {
            let issued = keyroll.schedule_rotation(&id, request, caller).await?;
            // A held (self-service) secret is not in the result at all.
            Ok(Outcome::Rotation(
                issued.rotation,
                issued.handout.into_returned(),
            ))
        },
    )
    .await
}

/// Rotates `id` at once as `actor` asked in `body` (operator's and customer's route).
pub(crate) async fn emergency(
    state: &AppState,
    actor: keyroll_core::ids::Actor,
    id: KeyId,
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
        IdempotentOperation::EmergencyRotation(id.clone()),
        &body.raw,
        RequestOutcome::Created,
        |caller| async move {
            let issued = keyroll.emergency_rotation(&id, request, caller).await?;
            Ok(Outcome::Rotation(
                issued.rotation,
                issued.handout.into_returned(),
            ))
        },
    )
    .await
}
