//! What the jobs ask of a rotation or key: the processor's step, giving up on a
//! rotation that cannot advance, a key's own expiry, and the scanner's expiry warning
//! and late starts.

use super::Keyroll;
use crate::change::ChangeBuilder;
use crate::error::{Error, Result};
use crate::ids::{Actor, KeyId, Reason, RotationId};
use crate::key::Key;
use crate::plan::{
    advance_needs_usage, advance_reads_callers, plan_advance, plan_expiry, plan_fail,
    plan_start_late, plan_warn_expiring, Act, Advance, ExpiryStep,
};
use crate::rollover::{Traffic, Usage};
use crate::rotation::Rotation;
use crate::time::Timestamp;

impl Keyroll {
    /// The processor's step for one rotation: starts it if its time has come and
    /// completes it if its grace is over. Does nothing (and writes nothing) if neither
    /// is due, so a late or repeated run is harmless.
    pub async fn advance_rotation(&self, id: &RotationId) -> Result<Advance> {
        let actor = Actor::system("processor");
        let actor = &actor;
        self.commit_with_retry(|| async move {
            let now = self.now();
            let (rotation, key) = self.load_rotation_and_key(id).await?;
            let usage = if advance_needs_usage(&rotation, now) {
                let mut usage = self.usage_of(&key, &rotation, now).await?;
                if advance_reads_callers(&rotation, now) {
                    let (not_moved, old_callers) = self.old_secret_callers(&key, &rotation).await?;
                    usage.callers_not_moved = not_moved;
                    usage.old_callers = Some(old_callers);
                }
                Some(usage)
            } else {
                None
            };
            let act = Act { actor, now };
            Ok(
                match plan_advance(key, rotation, usage.as_ref(), &self.config.policy, act)? {
                    Some((change, advance)) => (Some(change), advance),
                    None => (None, Advance::default()),
                },
            )
        })
        .await
    }

    /// Gives up on a rotation that cannot be advanced (its state is inconsistent), so
    /// it stops failing every run; the key keeps every secret that was valid.
    pub async fn fail_rotation(&self, id: &RotationId, failure: &str) -> Result<Rotation> {
        let actor = Actor::system("processor");
        let actor = &actor;
        self.commit_with_retry(|| async move {
            let now = self.now();
            let (rotation, key) = self.load_rotation_and_key(id).await?;
            let (change, rotation) = plan_fail(key, rotation, failure, Act { actor, now })?;
            Ok((Some(change), rotation))
        })
        .await
    }

    /// Warns the customer, once per secret version, that the key's current secret
    /// reaches its maximum age at `deadline` (a policy rotation follows then). Returns
    /// whether a warning was recorded now.
    pub async fn warn_expiring(
        &self,
        key_id: &KeyId,
        deadline: Timestamp,
        reason: Reason,
    ) -> Result<bool> {
        let actor = Actor::system("scanner");
        let (actor, reason) = (&actor, &reason);
        self.commit_with_retry(|| async move {
            let now = self.now();
            let key = self.load_key(key_id).await?;
            Ok(
                match plan_warn_expiring(key, deadline, reason, actor, now) {
                    Some(change) => (Some(change), true),
                    None => (None, false),
                },
            )
        })
        .await
    }

    /// Starts now a rotation of an overdue key that was scheduled to start too late to
    /// cover it, keeping its new secret and grace length (the scanner's remedy for the
    /// maximum-age rule). `None` when the rotation covers the key: nothing to do.
    pub async fn start_late_rotation(
        &self,
        id: &RotationId,
        reason: Reason,
    ) -> Result<Option<Rotation>> {
        let actor = Actor::system("scanner");
        let (actor, reason) = (&actor, &reason);
        self.commit_with_retry(|| async move {
            let now = self.now();
            let (rotation, key) = self.load_rotation_and_key(id).await?;
            let act = Act { actor, now };
            Ok(
                match plan_start_late(key, rotation, &self.config.policy, reason, act)? {
                    Some((change, rotation)) => (Some(change), Some(rotation)),
                    None => (None, None),
                },
            )
        })
        .await
    }

    /// The processor's step for a key's own expiry: the warning ahead of it, or
    /// marking it expired once it has passed. Writes nothing when neither is due.
    pub async fn settle_key_expiry(&self, key_id: &KeyId) -> Result<ExpiryStep> {
        let actor = Actor::system("processor");
        let actor = &actor;
        let warn_ahead = u64::from(self.config.policy.warn_ahead_days) * crate::compliance::DAY;
        self.commit_with_retry(|| async move {
            let now = self.now();
            let key = self.load_key(key_id).await?;
            let rotation = self.active_rotation_of(&key).await?;
            // Where the key should sit in the expiry index under today's setting.
            let misplaced = key.expiry_check_at != key.expiry_due_at(warn_ahead);
            Ok(
                match plan_expiry(key.clone(), rotation, warn_ahead, Act { actor, now })? {
                    Some((change, step)) => (Some(change), step),
                    // Nothing is due, but the key sits where an earlier
                    // KEYROLL_WARN_AHEAD_DAYS put it (lowered since): an event-less
                    // change moves it (the commit path stamps its place), so it is not
                    // read again on every run until its warning is due.
                    None if misplaced => (
                        Some(ChangeBuilder::update(key).finish()),
                        ExpiryStep::default(),
                    ),
                    None => (None, ExpiryStep::default()),
                },
            )
        })
        .await
    }

    /// When the rotation's old and new secrets were last used, and the week's traffic
    /// on each, from their records.
    pub(crate) async fn usage_of(
        &self,
        key: &Key,
        rotation: &Rotation,
        now: Timestamp,
    ) -> Result<Usage> {
        let record = |version: u32| {
            let hash = key.version(version).map(|v| v.lookup_hash);
            async move {
                Ok::<_, Error>(match hash {
                    Some(hash) => self.store.secret(&hash).await?,
                    None => None,
                })
            }
        };
        let (old, new) =
            futures::try_join!(record(rotation.from_version), record(rotation.to_version))?;
        let week = |r: &Option<crate::key::SecretRecord>| {
            r.as_ref()
                .map_or(0, |r| crate::callers::uses_in_week(&r.daily_uses, now))
        };
        let old_daily = old.as_ref().map_or(0, |r| {
            [now, now.minus_seconds(86_400)]
                .iter()
                .map(|day| r.daily_uses.get(&day.day()).copied().unwrap_or(0))
                .max()
                .unwrap_or(0)
        });
        Ok(Usage {
            old_last_used: old.as_ref().and_then(|r| r.last_used_at),
            new_last_used: new.as_ref().and_then(|r| r.last_used_at),
            traffic: Traffic {
                old_7d: week(&old),
                new_7d: week(&new),
                old_daily,
            },
            ..Usage::default()
        })
    }
}
