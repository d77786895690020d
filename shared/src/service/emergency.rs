//! Emergency rotations, by an operator or from a GitHub leak report.

use super::{Caller, FirstRead, Keyroll, RotationIssued, Verification};
use crate::error::{Conflict, Error, Result};
use crate::idempotency::RequestOutcome;
use crate::ids::{Actor, KeyId, Reason, RotationId};
use crate::leak::ReportedToken;
use crate::plan::{plan_emergency, plan_kill_leaked, Act, EmergencyRequest, EmergencySource};

/// What a leak report found about one token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeakVerdict {
    /// A keyroll secret; `rotation` is the emergency rotation this report started
    /// (`None` when the secret was already dead or already being rotated for a leak).
    TruePositive {
        key_id: KeyId,
        rotation: Option<RotationId>,
    },
    /// A keyroll secret that was a previous secret of its key, not exposing the current
    /// one: it alone was revoked now (or already had been by a concurrent report).
    RevokedAlone { key_id: KeyId },
    /// Not a keyroll secret.
    FalsePositive,
}

impl Keyroll {
    /// Rotates now because the secret may be compromised. Every other secret of the
    /// key expires within the grace (0: revoked at once); a rotation in progress is
    /// closed as superseded; no secret's life is ever lengthened.
    pub async fn emergency_rotation(
        &self,
        key_id: &KeyId,
        request: EmergencyRequest,
        caller: impl Into<Caller>,
    ) -> Result<RotationIssued> {
        let caller = &caller.into();
        request.grace(&self.config.policy.emergency)?;
        // Nobody is handed a leak rotation's secret (no person asked for it): it waits
        // in the vault for the key owner's reveal.
        let held = matches!(request.source, EmergencySource::Leak { .. });
        let read = || async move {
            let key = self.load_key(key_id).await?;
            let active = self.active_rotation_of(&key).await?;
            Ok::<_, Error>((key, active))
        };
        self.precheck_customer_rotation(key_id, &caller.actor)
            .await?;
        let (minted, first_read) = tokio::join!(self.mint_successor(key_id, held), read());
        let (minted, successor) = minted?;
        let first_read = &FirstRead::new(first_read);
        let (request, successor_ref, minted_ref) = (&request, &successor, &minted);
        let outcome = self
            .commit_with_retry(|| async move {
                let (key, active) = match first_read.take() {
                    Some(read) => read?,
                    None => read().await?,
                };
                let now = self.now();
                let act = Act {
                    actor: &caller.actor,
                    now,
                };
                let (mut change, rotation) = plan_emergency(
                    key,
                    active,
                    request,
                    &self.config.policy,
                    successor_ref,
                    act,
                )?;
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

    /// Acts on every token of a GitHub secret-scanning report, each on its own: a
    /// failure on one (a throttled write, a vault outage) is that token's outcome and
    /// never stops the others. Each is idempotent, so GitHub's retry of the report
    /// rotates what failed and answers the rest as already handled.
    ///
    /// Tokens not reached by `stop_at` (the request's deadline) fail as unavailable, so
    /// a large report answers in time and its retry carries on.
    pub async fn report_leaks(
        &self,
        tokens: &[ReportedToken],
        stop_at: Option<std::time::Instant>,
    ) -> Vec<Result<LeakVerdict>> {
        let mut outcomes = Vec::with_capacity(tokens.len());
        for token in tokens {
            if stop_at.is_some_and(|deadline| std::time::Instant::now() >= deadline) {
                outcomes.push(Err(crate::error::StoreError::unavailable_because(
                    "report_leak",
                    "the report's deadline came first",
                )
                .into()));
                continue;
            }
            let outcome = self
                .report_leak(&token.token, &token.url, &token.source)
                .await;
            if let Err(error) = &outcome {
                tracing::warn!(error = %crate::error::Chain(error), token_type = %crate::leak::sanitized(&token.token_type, 100), "a reported token could not be handled; the report's retry handles it");
            }
            outcomes.push(outcome);
        }
        outcomes
    }

    /// Acts on one token of a GitHub secret-scanning report. A live keyroll secret that
    /// exposes its key's current secret (it is the current or pending one, or could
    /// have fetched its self-service successor) gets an emergency rotation (trigger
    /// `leak`, grace `KEYROLL_LEAK_GRACE_SECONDS`, the new secret held for the owner's
    /// reveal); a live previous secret that does not is revoked alone, so the current
    /// secret the customer already deployed keeps working. A secret already dead, or
    /// already being rotated for a leak, is a true positive with nothing more to do;
    /// anything else is not ours.
    pub async fn report_leak(&self, token: &str, url: &str, source: &str) -> Result<LeakVerdict> {
        let record = match self.check_secret(token).await? {
            Verification::Malformed | Verification::NotFound => {
                return Ok(LeakVerdict::FalsePositive)
            }
            Verification::Expired(record) | Verification::Revoked(record) => {
                return Ok(LeakVerdict::TruePositive {
                    key_id: record.key_id,
                    rotation: None,
                })
            }
            Verification::Valid(record) => record,
        };
        let reason = Reason::system(format!(
            "leaked: reported by GitHub secret scanning at {} (source: {})",
            crate::leak::sanitized(url, 300),
            crate::leak::sanitized(source, 40)
        ));
        let actor = Actor::system("github-secret-scanning");
        match self.revoke_leaked_alone(&record, &reason, &actor).await {
            Ok(()) => {
                return Ok(LeakVerdict::RevokedAlone {
                    key_id: record.key_id,
                })
            }
            Err(Error::Conflict(Conflict::LeakNeedsRotation)) => {}
            Err(Error::Conflict(Conflict::LeakedSecretIsDead | Conflict::LeakAlreadyRotating)) => {
                return Ok(LeakVerdict::TruePositive {
                    key_id: record.key_id,
                    rotation: None,
                })
            }
            Err(error) => return Err(error),
        }
        let request = EmergencyRequest {
            reason,
            grace_seconds: Some(self.config.policy.emergency.leak_grace_seconds),
            source: EmergencySource::Leak {
                version: record.version,
            },
        };
        match self
            .emergency_rotation(&record.key_id, request, actor)
            .await
        {
            Ok(issued) => Ok(LeakVerdict::TruePositive {
                key_id: record.key_id,
                rotation: Some(issued.rotation.id),
            }),
            // Already rotated away by a concurrent report, or the key is revoked.
            Err(Error::Conflict(
                Conflict::LeakAlreadyRotating
                | Conflict::LeakedSecretIsDead
                | Conflict::KeyRevoked
                | Conflict::KeyExpired
                | Conflict::WrongState(_),
            )) => Ok(LeakVerdict::TruePositive {
                key_id: record.key_id,
                rotation: None,
            }),
            Err(error) => Err(error),
        }
    }

    /// Revokes the leaked secret `record` alone when it exposes nothing else
    /// ([`crate::plan::plan_kill_leaked`] decides): `LeakNeedsRotation` when the key's
    /// current secret must be rotated instead, `LeakedSecretIsDead` or
    /// `LeakAlreadyRotating` when there is nothing left to do.
    async fn revoke_leaked_alone(
        &self,
        record: &crate::key::SecretRecord,
        reason: &Reason,
        actor: &Actor,
    ) -> Result<()> {
        self.commit_with_retry(|| async move {
            let now = self.now();
            let key = self.load_key(&record.key_id).await?;
            let active = self.active_rotation_of(&key).await?;
            let change = plan_kill_leaked(
                key,
                active.as_ref(),
                record.version,
                reason,
                Act { actor, now },
            )?;
            Ok((Some(change), ()))
        })
        .await
    }
}
