//! A scheduled rotation's life: schedule, cancel, complete, extend.

use super::{Caller, FirstRead, Keyroll, RotationIssued};
use crate::error::Result;
use crate::idempotency::RequestOutcome;
use crate::ids::{KeyId, Reason, RotationId};
use crate::plan::{
    plan_cancel, plan_complete, plan_extend, plan_schedule, Act, Completion, DeliveredSuccessor,
    RotationRequest,
};
use crate::rotation::Rotation;

impl Keyroll {
    /// Schedules a rotation: the new secret is valid at once, the old one expires at
    /// start + grace, and the processor promotes and revokes on time.
    pub async fn schedule_rotation(
        &self,
        key_id: &KeyId,
        request: RotationRequest,
        caller: impl Into<Caller>,
    ) -> Result<RotationIssued> {
        let caller = &caller.into();
        request.validate_start(self.now())?;
        request.validate()?;
        // Nobody is handed a policy or self-service rotation's secret: it waits in the
        // vault (see `mint_successor`).
        self.precheck_customer_rotation(key_id, &caller.actor)
            .await?;
        let (minted, first_read) = tokio::join!(
            self.mint_successor(key_id, request.trigger.holds_secret()),
            self.load_key(key_id)
        );
        let (minted, successor) = minted?;
        let first_read = &FirstRead::new(first_read);
        let (request, successor_ref, minted_ref) = (&request, &successor, &minted);
        let outcome = self
            .commit_with_retry(|| async move {
                let key = match first_read.take() {
                    Some(read) => read?,
                    None => self.load_key(key_id).await?,
                };
                let now = self.now();
                let act = Act {
                    actor: &caller.actor,
                    now,
                };
                let (mut change, rotation) =
                    plan_schedule(key, request, &self.config.policy, successor_ref, act)?;
                // A held secret is not replayed to the caller either.
                let replayable = successor_ref
                    .held_as
                    .is_none()
                    .then_some(&minted_ref.secret);
                caller.record_request(
                    &mut change,
                    rotation.id.as_str(),
                    RequestOutcome::Created,
                    replayable,
                    now,
                )?;
                Ok((Some(change), rotation))
            })
            .await;
        self.issued(outcome, successor, minted.secret).await
    }

    /// Calls off a rotation that has not started: its new secret is revoked and the old
    /// one keeps working with no deadline. Refused once its held new secret has been
    /// handed out ([`Keyroll::force_cancel_rotation`] revokes it anyway).
    pub async fn cancel_rotation(
        &self,
        id: &RotationId,
        reason: Option<Reason>,
        caller: impl Into<Caller>,
    ) -> Result<Rotation> {
        self.cancel(id, reason, DeliveredSuccessor::Refuse, caller.into())
            .await
    }

    /// Cancels even though the rotation's held new secret was already handed out
    /// (revealed, or fetched by the customer): it is revoked, and a client already
    /// using it breaks. An operator's decision, audited with its reason.
    pub async fn force_cancel_rotation(
        &self,
        id: &RotationId,
        reason: Reason,
        caller: impl Into<Caller>,
    ) -> Result<Rotation> {
        self.cancel(id, Some(reason), DeliveredSuccessor::Revoke, caller.into())
            .await
    }

    async fn cancel(
        &self,
        id: &RotationId,
        reason: Option<Reason>,
        delivered: DeliveredSuccessor,
        caller: Caller,
    ) -> Result<Rotation> {
        let caller = &caller;
        let reason = reason.as_ref();
        self.commit_with_retry(|| async move {
            let now = self.now();
            let (rotation, key) = self.load_rotation_and_key(id).await?;
            let act = Act {
                actor: &caller.actor,
                now,
            };
            let (mut change, rotation) = plan_cancel(key, rotation, reason, delivered, act)?;
            caller.record_request(
                &mut change,
                rotation.id.as_str(),
                RequestOutcome::Changed,
                None,
                now,
            )?;
            Ok((Some(change), rotation))
        })
        .await
    }

    /// Ends the grace now: the old secret is revoked (a scheduled rotation is started
    /// and completed in the same change). Refused while the rotation's held new secret
    /// has reached nobody.
    pub async fn complete_rotation(
        &self,
        id: &RotationId,
        reason: Option<Reason>,
        caller: impl Into<Caller>,
    ) -> Result<Rotation> {
        self.end_grace(id, Completion::Moved { reason }, caller.into())
            .await
    }

    /// Ends the grace now even though nobody received the new secret: an operator's
    /// decision, audited with its reason. The held secret stays revealable.
    pub async fn force_complete_rotation(
        &self,
        id: &RotationId,
        reason: Reason,
        caller: impl Into<Caller>,
    ) -> Result<Rotation> {
        self.end_grace(id, Completion::Forced { reason }, caller.into())
            .await
    }

    async fn end_grace(
        &self,
        id: &RotationId,
        completion: Completion,
        caller: Caller,
    ) -> Result<Rotation> {
        let (caller, completion) = (&caller, &completion);
        self.commit_with_retry(|| async move {
            let now = self.now();
            let (rotation, key) = self.load_rotation_and_key(id).await?;
            let act = Act {
                actor: &caller.actor,
                now,
            };
            let (mut change, rotation) = plan_complete(key, rotation, completion, act)?;
            caller.record_request(
                &mut change,
                rotation.id.as_str(),
                RequestOutcome::Changed,
                None,
                now,
            )?;
            Ok((Some(change), rotation))
        })
        .await
    }

    /// Gives a non-emergency rotation more grace, within the class's maximum.
    pub async fn extend_rotation(
        &self,
        id: &RotationId,
        add_seconds: u64,
        reason: Reason,
        caller: impl Into<Caller>,
    ) -> Result<Rotation> {
        let caller = &caller.into();
        if add_seconds == 0 {
            return Err(crate::error::Error::invalid(
                "gracePeriodSeconds",
                "must be at least 1",
            ));
        }
        let reason = &reason;
        self.commit_with_retry(|| async move {
            let now = self.now();
            let (rotation, key) = self.load_rotation_and_key(id).await?;
            let act = Act {
                actor: &caller.actor,
                now,
            };
            let (mut change, rotation) =
                plan_extend(key, rotation, add_seconds, reason, &self.config.policy, act)?;
            caller.record_request(
                &mut change,
                rotation.id.as_str(),
                RequestOutcome::Changed,
                None,
                now,
            )?;
            Ok((Some(change), rotation))
        })
        .await
    }
}
