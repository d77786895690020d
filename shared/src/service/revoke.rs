//! Revoking keys: one key (an operator's, or a customer admin's own), and an
//! organisation's every active key when it leaves (offboarding), in pages.

use super::{Caller, Keyroll};
use crate::compliance::KeyComplianceStatus;
use crate::error::{Conflict, Error, Result};
use crate::idempotency::RequestOutcome;
use crate::ids::{KeyId, OrganizationId, Reason};
use crate::index::{CompliancePartition, SortRange};
use crate::key::{Key, KeyClass};
use crate::plan::{plan_revoke, Act, InProgress, Revocation};

/// Whose keys a caller may revoke.
#[derive(Debug, Clone, Copy)]
pub enum KeyScope<'a> {
    /// The API provider's operators: any key.
    Any,
    /// An organisation's users: its own keys; another's answers as an unknown id.
    OwnedBy(&'a OrganizationId),
}

impl KeyScope<'_> {
    pub(super) fn allows(&self, key: &Key) -> bool {
        match self {
            KeyScope::Any => true,
            KeyScope::OwnedBy(organization) => key.organization_id == **organization,
        }
    }
}

impl Keyroll {
    /// Key `id` if `scope` allows it; another organisation's key answers exactly as an
    /// unknown one.
    pub(super) async fn scoped_key(&self, id: &KeyId, scope: KeyScope<'_>) -> Result<Key> {
        match self.store.key(id).await? {
            Some(key) if scope.allows(&key) => Ok(key),
            _ => Err(Error::not_found("key", id)),
        }
    }
}

/// A revoked key, and whether this call revoked it.
#[derive(Debug, Clone)]
pub struct RevokedKey {
    pub key: Key,
    /// `false`: it was revoked before, and nothing was written.
    pub changed: bool,
}

/// How far an organisation's offboarding got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offboarding {
    /// Keys this call revoked.
    pub revoked: u64,
    /// Active keys the organisation still has (call again to continue).
    pub remaining: u64,
}

/// How many of an organisation's keys an offboarding call reads per index query.
const OFFBOARDING_PAGE: usize = 100;
/// How many revocations an offboarding call runs at once.
const OFFBOARDING_CONCURRENCY: usize = 8;

impl Keyroll {
    /// Revokes a key: every secret stops verifying now, a rotation in progress ends
    /// cancelled. Revoking a revoked key writes nothing and answers as before.
    pub async fn revoke_key(
        &self,
        key_id: &KeyId,
        reason: Reason,
        scope: KeyScope<'_>,
        caller: impl Into<Caller>,
    ) -> Result<RevokedKey> {
        let (caller, reason) = (&caller.into(), &reason);
        self.commit_with_retry(|| async move {
            let key = self.scoped_key(key_id, scope).await?;
            // A revocation must never wait for a rotation whose record is gone: the
            // key is what has to die (the event names the lost rotation, and the
            // secret it may have held is deleted from the vault).
            let in_progress = match key.active_rotation.clone() {
                None => InProgress::Read(None),
                Some(id) => match self.store.rotation(&id).await? {
                    Some(rotation) => InProgress::from(Some(rotation)),
                    None => {
                        tracing::warn!(key = %key.id, rotation = %id, "the key's rotation in progress has no record; the key is revoked without cancelling it");
                        InProgress::Lost {
                            vault_secret: format!("{}{}", self.config.secret_name_prefix, id),
                            rotation: id,
                        }
                    }
                },
            };
            let now = self.now();
            let act = Act {
                actor: &caller.actor,
                now,
            };
            match plan_revoke(key.clone(), in_progress, reason, act)? {
                Revocation::AlreadyRevoked { .. } => Ok((
                    None,
                    RevokedKey {
                        key,
                        changed: false,
                    },
                )),
                Revocation::Revokes(change) => {
                    let mut change = *change;
                    caller.record_request(
                        &mut change,
                        key_id.as_str(),
                        RequestOutcome::Changed,
                        None,
                        now,
                    )?;
                    let key = change.key().clone();
                    Ok((Some(change), RevokedKey { key, changed: true }))
                }
            }
        })
        .await
    }

    /// Revokes `organization`'s active keys until `stop_at`, from the
    /// compliance index (which holds exactly the active keys, so a key revoked by an
    /// earlier call is not read again). Call again until nothing remains: each call
    /// costs what it revokes, whatever the table or the organisation's history holds.
    pub async fn revoke_organization_keys(
        &self,
        organization: &OrganizationId,
        reason: Reason,
        stop_at: std::time::Instant,
        caller: impl Into<Caller>,
    ) -> Result<Offboarding> {
        let caller = caller.into();
        let mut revoked = 0;
        'partitions: for status in KeyComplianceStatus::ALL {
            for class in KeyClass::ALL {
                let partition = CompliancePartition {
                    status,
                    class,
                    organization: Some(organization.clone()),
                };
                let mut range = SortRange::all();
                loop {
                    if std::time::Instant::now() >= stop_at {
                        break 'partitions;
                    }
                    let (entries, more) = self
                        .store
                        .compliance_entries(&partition, &range, OFFBOARDING_PAGE)
                        .await?;
                    let Some(last) = entries.last() else {
                        break;
                    };
                    range = range.after(&last.sort_key());
                    for batch in entries.chunks(OFFBOARDING_CONCURRENCY) {
                        let revocations = batch.iter().map(|entry| {
                            self.revoke_key(
                                &entry.key_id,
                                reason.clone(),
                                KeyScope::OwnedBy(organization),
                                Caller::new(caller.actor.clone()),
                            )
                        });
                        for (entry, outcome) in batch
                            .iter()
                            .zip(futures::future::join_all(revocations).await)
                        {
                            match outcome {
                                Ok(done) => revoked += u64::from(done.changed),
                                // Gone or moved since the index was read: not ours to count.
                                Err(Error::NotFound { .. }) => {}
                                // One key that cannot be revoked now (contention outlasting
                                // the retries) does not stop the others: it stays active,
                                // counted in `remaining`, and the next call tries it again.
                                // Anything else stops the call and is answered.
                                Err(Error::Conflict(Conflict::ConcurrentModification)) => {
                                    tracing::warn!(key = %entry.key_id, "a key could not be revoked in this offboarding call (contention); it remains");
                                }
                                Err(other) => return Err(other),
                            }
                        }
                        if std::time::Instant::now() >= stop_at {
                            break 'partitions;
                        }
                    }
                    if !more {
                        break;
                    }
                }
            }
        }
        let counts = self.store.compliance_counts(Some(organization)).await?;
        let remaining = KeyComplianceStatus::ALL
            .iter()
            .map(|status| counts.of_status(*status))
            .sum();
        Ok(Offboarding { revoked, remaining })
    }
}
