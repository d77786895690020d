//! The one write path. Every change of a key — an operation's, a key's creation, an
//! import, the scan's re-stamp — is committed here: its compliance status is stamped,
//! the audit head it ends at is MACed, and the store applies it. Nothing else in
//! keyroll calls `Store::commit`, so no change can skip the stamp or the MAC (a key's
//! creation once did, when it had a copy of this path).

use super::Keyroll;
use crate::audit::{AuditHash, HeadMac};
use crate::change::{KeyChange, PriorHead, SecretWrite};
use crate::compliance::KeyComplianceStatus;
use crate::error::{Conflict, Error};
use crate::ids::KeyId;
use crate::key::{CurrentSince, Key, SecretRecord};

/// A change with its key's compliance status stamped: the status can be read before
/// it commits (the scan writes a re-stamp only when the status moved).
pub(super) struct Stamped(KeyChange);

impl Stamped {
    /// The compliance status the key will have once this change is applied.
    pub(super) fn status(&self) -> Option<KeyComplianceStatus> {
        self.0.key().compliance
    }
}

/// A stamped change whose audit head is authenticated: ready to apply, and to apply
/// again unchanged when only contention refused it.
#[derive(Clone)]
pub(super) struct Ready(KeyChange);

impl Ready {
    /// The change as it will be applied.
    pub(super) fn change(&self) -> &KeyChange {
        &self.0
    }
}

impl Keyroll {
    /// Stamps, authenticates and commits `change`; the key as it was committed.
    pub(super) async fn commit(&self, change: KeyChange) -> Result<Key, Error> {
        let stamped = self.stamp(change).await?;
        self.commit_stamped(stamped).await
    }

    /// Authenticates and commits a stamped change; the key as it was committed.
    pub(super) async fn commit_stamped(&self, stamped: Stamped) -> Result<Key, Error> {
        let ready = self.authenticate(stamped).await?;
        self.apply(ready).await
    }

    /// Stamps the compliance status the key of `change` will have, and since when its
    /// current secret is current.
    pub(super) async fn stamp(&self, mut change: KeyChange) -> Result<Stamped, Error> {
        let status = self.compliance_of(&change).await?;
        let now = self.now();
        let key = change.key();
        let current_since = match key.current().map(|v| (v.version, v.created_at)) {
            None => key.current_since,
            Some((version, created_at)) => match key.current_since {
                // Never recorded (a key from before the record): current since created.
                None => Some(CurrentSince {
                    version,
                    at: created_at,
                }),
                Some(since) if since.version != version => Some(CurrentSince { version, at: now }),
                unchanged => unchanged,
            },
        };
        change.stamp(status, current_since);
        let warn_ahead = u64::from(self.config.policy.warn_ahead_days) * crate::compliance::DAY;
        change.stamp_expiry_check(warn_ahead);
        Ok(Stamped(change))
    }

    /// Stamps only the compliance status of a change that changes nothing else: the
    /// scan's re-stamp of a key time has moved.
    pub(super) async fn restamp(&self, mut change: KeyChange) -> Result<Stamped, Error> {
        let status = self.compliance_of(&change).await?;
        let current_since = change.key().current_since;
        change.stamp(status, current_since);
        Ok(Stamped(change))
    }

    /// MACs the audit head a change with events ends at, so the chain it closes cannot
    /// be recomputed by anyone without the MAC key — after checking that the head it
    /// extends is keyroll's: a new head commits to every event before it, so MACing one
    /// on top of a rewritten or erased chain would launder it.
    pub(super) async fn authenticate(&self, stamped: Stamped) -> Result<Ready, Error> {
        let Stamped(mut change) = stamped;
        let head = change
            .key()
            .audit_head
            .filter(|_| !change.events().is_empty());
        if let (Some(_), Some(prior)) = (head, change.prior_head()) {
            if !self
                .prior_head_is_authentic(&change.key().id, prior)
                .await?
            {
                let (key_id, revision) = (&change.key().id, prior.revision);
                tracing::error!(alert = "audit_head_not_authentic", key_id = %key_id, revision, "a key's stored audit head is not one keyroll wrote (rewritten, stripped of its MAC or erased): the change is refused; see the runbook");
                return Err(Conflict::AuditHeadNotAuthentic.into());
            }
        }
        if let Some(hash) = head {
            let key = change.key();
            let message = HeadMac::message(&key.id, key.revision, &hash);
            let tag = self.mac.mac(&message).await?;
            change.authenticate_head(HeadMac {
                v: HeadMac::VERSION,
                mac: hex::encode(tag),
            });
        }
        self.authenticate_secrets(&mut change).await?;
        Ok(Ready(change))
    }

    /// MACs what each secret record the change writes is and its state, so a record
    /// nobody with the key made does not verify (see `verification.rs`).
    async fn authenticate_secrets(&self, change: &mut KeyChange) -> Result<(), Error> {
        let key = change.key();
        let (key_id, organization) = (key.id.clone(), key.organization_id.clone());
        for write in change.secrets_to_authenticate() {
            match write {
                SecretWrite::Create(record) => {
                    record.identity_mac = Some(self.mac_hex(&record.identity_message()).await?);
                    record.state_mac = Some(self.mac_hex(&record.state_message()).await?);
                }
                SecretWrite::SetState {
                    lookup_hash,
                    state,
                    state_mac,
                } => {
                    let message = state.message(lookup_hash, &key_id, &organization);
                    *state_mac = Some(self.mac_hex(&message).await?);
                }
            }
        }
        Ok(())
    }

    /// keyroll's MAC of `message`, in hex as records store it.
    async fn mac_hex(&self, message: &[u8]) -> Result<String, Error> {
        Ok(hex::encode(self.mac.mac(message).await?))
    }

    /// MACs a secret record an older release wrote, as it reads now (the upgrade
    /// sweep): the table is trusted once, at the upgrade, as it was for audit heads —
    /// only while `KEYROLL_AUDIT_MAC_REQUIRED` is off (the upgrade's deploy; once it is
    /// on, a record without MACs is refused, never MACed), and only a record its key
    /// names (same organisation, version, lookup hash and origin). Whether it was
    /// MACed (not if the record changed or went since).
    pub(crate) async fn authenticate_legacy_record(
        &self,
        mut record: SecretRecord,
    ) -> Result<bool, crate::error::StoreError> {
        if self.config.audit_mac_required {
            tracing::warn!(key_id = %record.key_id, "a secret record without MACs is left as it is: KEYROLL_AUDIT_MAC_REQUIRED is on, so it does not verify (deploy with it off until the upgrade sweep is done)");
            return Ok(false);
        }
        let key = self.store.key(&record.key_id).await?;
        let named = key.as_ref().is_some_and(|key| {
            key.organization_id == record.organization_id
                && key.version(record.version).is_some_and(|version| {
                    version.lookup_hash == record.lookup_hash && version.origin == record.origin
                })
        });
        if !named {
            tracing::warn!(key_id = %record.key_id, version = record.version, "a secret record without MACs that its key does not name (another organisation, version or secret) is not MACed: was the table written outside keyroll? The upgrade sweep meets it on every pass until it is removed");
            return Ok(false);
        }
        let macs = async {
            record.identity_mac = Some(self.mac_hex(&record.identity_message()).await?);
            // A change since the upgrade MACed its state already: that one stays.
            if record.state_mac.is_none() {
                record.state_mac = Some(self.mac_hex(&record.state_message()).await?);
            }
            Ok::<_, Error>(())
        };
        macs.await.map_err(|error| {
            crate::error::StoreError::unavailable("MAC of a legacy secret record", error)
        })?;
        self.store.authenticate_secret_record(&record).await
    }

    /// Whether the head a change extends is keyroll's. Every key's creation records an
    /// event, so a stored key at revision 0 or without a head was erased, and a head
    /// without a MAC was stripped — unless `KEYROLL_AUDIT_MAC_REQUIRED` is off, which
    /// accepts keys from before chains were authenticated (and keys loaded outside
    /// keyroll, as the scale tests' seeding does). One local HMAC (a version-1 head:
    /// one KMS call, once per key).
    async fn prior_head_is_authentic(
        &self,
        key_id: &KeyId,
        prior: &PriorHead,
    ) -> Result<bool, Error> {
        let hash = prior.hash.filter(|_| prior.revision > 0);
        let (Some(hash), Some(head_mac)) = (hash, &prior.mac) else {
            return Ok(!self.config.audit_mac_required);
        };
        self.head_mac_is_authentic(key_id, prior.revision, &hash, head_mac)
            .await
    }

    /// Whether `head_mac` is keyroll's MAC of the head `hash` at `revision`.
    pub(super) async fn head_mac_is_authentic(
        &self,
        key_id: &KeyId,
        revision: u64,
        hash: &AuditHash,
        head_mac: &HeadMac,
    ) -> Result<bool, Error> {
        let Ok(tag) = hex::decode(&head_mac.mac) else {
            return Ok(false);
        };
        let message = HeadMac::message(key_id, revision, hash);
        match head_mac.v {
            HeadMac::VERSION => self.mac.verify(&message, &tag).await,
            HeadMac::KMS_VERSION => self.mac.verify_original(&message, &tag).await,
            _ => Ok(false),
        }
        .map_err(Error::from)
    }

    /// Applies a ready change: the only call of `Store::commit`; the key as committed.
    pub(super) async fn apply(&self, ready: Ready) -> Result<Key, Error> {
        let Ready(change) = ready;
        let key = change.key().clone();
        self.store.commit(change).await?;
        Ok(key)
    }
}
