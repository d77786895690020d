//! Rotating a key as an operator or a customer asked: a planned rotation or an
//! emergency one, once per Idempotency-Key.

use axum::http::HeaderMap;
use axum::response::Response;
use keyroll_core::error::Error;
use keyroll_core::idempotency::{IdempotentOperation, RequestOutcome};
use keyroll_core::ids::{KeyId, Reason};
use keyroll_core::rotation::Retire;
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
    let retire = retire_of(&value)?;
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
        retire,
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

/// How the request's old secret retires: its mode with the options that belong to it;
/// an option of another mode is refused rather than ignored.
fn retire_of(value: &ScheduleRotationRequest) -> Result<Option<Retire>, Error> {
    use keyroll_core::rules;
    let misplaced = |field: &'static str, mode: &str| {
        Error::invalid(field, format!("applies only with retire: {mode}"))
    };
    let moved = matches!(value.retire, Some(RetireMode::WhenMoved));
    let faded = matches!(value.retire, Some(RetireMode::WhenFaded));
    if value.quiet_seconds.is_some() && !moved {
        return Err(misplaced("quietSeconds", "when_moved"));
    }
    if !faded {
        if value.fade_below_percent.is_some() {
            return Err(misplaced("fadeBelowPercent", "when_faded"));
        }
        if value.fade_below_daily_uses.is_some() {
            return Err(misplaced("fadeBelowDailyUses", "when_faded"));
        }
    }
    Ok(match value.retire {
        None => None,
        Some(RetireMode::Deadline) => Some(Retire::Deadline),
        Some(RetireMode::WhenMoved) => Some(Retire::WhenMoved {
            quiet_seconds: crate::dto::within(
                "quietSeconds",
                value.quiet_seconds,
                rules::QUIET_SECONDS,
            )?
            .unwrap_or(rules::DEFAULT_QUIET_SECONDS),
        }),
        Some(RetireMode::WhenFaded) => Some(Retire::WhenFaded {
            below_basis_points: match value.fade_below_percent {
                None => rules::DEFAULT_FADE_BELOW_BASIS_POINTS,
                Some(percent) => basis_points(percent)?,
            },
            below_daily_uses: crate::dto::within(
                "fadeBelowDailyUses",
                value.fade_below_daily_uses,
                rules::FADE_BELOW_DAILY_USES,
            )?
            .unwrap_or(rules::DEFAULT_FADE_BELOW_DAILY_USES),
        }),
    })
}

/// `fadeBelowPercent` in hundredths of a percent, within 0.01 to 100.
fn basis_points(percent: f64) -> Result<u32, Error> {
    let range = keyroll_core::rules::FADE_BELOW_BASIS_POINTS;
    let points = (percent * 100.0).round();
    if !percent.is_finite() || points < range.min as f64 || points > range.max as f64 {
        return Err(Error::invalid(
            "fadeBelowPercent",
            "must be from 0.01 to 100",
        ));
    }
    Ok(points as u32)
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
