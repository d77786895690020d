//! The one way state changes: a [`KeyChange`] is the key's new state, guarded by the
//! revision it was planned on, together with the rotations, secret records and audit
//! events it touches. A store applies a change entirely or not at all, and refuses it
//! when any guard fails, so two writers racing on one key can never both win and no
//! change is stored without its audit event. [`ChangeBuilder`] builds one.

use crate::audit::{changed, AuditEvent, AuditHash, Happened, HeadMac};
use crate::idempotency::IdempotencyRecord;
use crate::ids::{KeyId, RotationId};
use crate::index::{shard_of, ComplianceEntry};
use crate::key::{
    CurrentSince, Key, KeyClass, KeyComplianceStatus, SecretRecord, SecretStage, SecretState,
};
use crate::notification::{OutboxEntry, OutboxMessage};
use crate::rotation::{Rotation, RotationStatus};
use crate::secret::LookupHash;
use crate::time::Timestamp;

/// How a change writes a rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationWrite {
    pub rotation: Rotation,
    /// `None`: the rotation must not exist yet. `Some(s)`: it must be in status `s`.
    pub expected_status: Option<RotationStatus>,
}

/// How a change writes a secret's verification record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretWrite {
    /// A new record; must not exist.
    Create(SecretRecord),
    /// A new stage or expiry for an existing record.
    SetState {
        lookup_hash: LookupHash,
        state: SecretState,
        /// keyroll's MAC of the new state, added on the commit path.
        state_mac: Option<String>,
    },
}

/// One atomic, guarded state change of one key. Built by [`ChangeBuilder`]; closed once
/// built: readers see its parts, and only the service adds what the commit path adds —
/// the request's record (`Caller::record_request`), then the compliance stamp and the
/// audit head's MAC (`service/commit.rs`).
#[derive(Debug, Clone, PartialEq)]
pub struct KeyChange {
    /// The key's state after the change; `key.revision` is the last event's `seq`.
    key: Key,
    /// `None`: the key must not exist. `Some(r)`: it must still be at revision `r`.
    expected_revision: Option<u64>,
    rotations: Vec<RotationWrite>,
    secrets: Vec<SecretWrite>,
    events: Vec<AuditEvent>,
    /// The record of the idempotent request that made the change, if any. Refused
    /// (conflict) while a live record with the same id exists.
    idempotency: Option<IdempotencyRecord>,
    /// Notifications and clean-ups to carry out once the change has committed.
    outbox: Vec<OutboxEntry>,
    /// Emergency rotations started by this change, logged by month so the recent ones
    /// can be listed without reading every key.
    emergencies: Vec<EmergencyLogEntry>,
    /// Where the key was counted in the compliance totals before the change (as it
    /// was read; the revision guard makes that what is stored).
    counted_before: Option<(KeyComplianceStatus, KeyClass)>,
    /// The key's `writes` when the change was planned (with `expected_revision`): a
    /// change without an event (a usage check, a re-stamp) leaves the revision where
    /// it was, so the revision alone would not order it against one planned before it.
    expected_writes: u64,
    /// The audit head the change extends (an update's; `None` for a creation): the
    /// commit path checks it is keyroll's before MACing a head that commits to it, so a
    /// chain someone rewrote or erased is never laundered by the next change.
    prior_head: Option<PriorHead>,
}

/// The audit head a key had when a change to it was planned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorHead {
    pub revision: u64,
    pub hash: Option<AuditHash>,
    pub mac: Option<HeadMac>,
}

/// The writes of a [`KeyChange`], for a store applying it (its guards checked).
pub(crate) struct ChangeParts {
    pub key: Key,
    pub rotations: Vec<RotationWrite>,
    pub secrets: Vec<SecretWrite>,
    pub events: Vec<AuditEvent>,
    pub idempotency: Option<IdempotencyRecord>,
    pub outbox: Vec<OutboxEntry>,
    pub emergencies: Vec<EmergencyLogEntry>,
}

/// Where a key is counted in the compliance totals: its stamped status and class,
/// while it has an entry in the compliance index.
pub fn counted(key: &Key) -> Option<(KeyComplianceStatus, KeyClass)> {
    ComplianceEntry::of(key).map(|entry| (entry.status, entry.class))
}

impl KeyChange {
    /// The key's state after the change; `key().revision` is the last event's `seq`.
    pub fn key(&self) -> &Key {
        &self.key
    }

    /// `None`: the key must not exist. `Some(r)`: it must still be at revision `r`.
    pub fn expected_revision(&self) -> Option<u64> {
        self.expected_revision
    }

    /// The key's `writes` the change was planned on.
    pub fn expected_writes(&self) -> u64 {
        self.expected_writes
    }

    /// The audit head the change extends; `None` for a key's creation.
    pub fn prior_head(&self) -> Option<&PriorHead> {
        self.prior_head.as_ref()
    }

    pub fn rotations(&self) -> &[RotationWrite] {
        &self.rotations
    }

    /// The rotation this change writes with id `id`, if it writes it.
    pub fn rotation(&self, id: &RotationId) -> Option<&Rotation> {
        self.rotations
            .iter()
            .map(|write| &write.rotation)
            .find(|rotation| rotation.id == *id)
    }

    pub fn secrets(&self) -> &[SecretWrite] {
        &self.secrets
    }

    pub fn events(&self) -> &[AuditEvent] {
        &self.events
    }

    pub fn idempotency(&self) -> Option<&IdempotencyRecord> {
        self.idempotency.as_ref()
    }

    pub fn outbox(&self) -> &[OutboxEntry] {
        &self.outbox
    }

    pub fn emergencies(&self) -> &[EmergencyLogEntry] {
        &self.emergencies
    }

    /// Stamps the compliance status (and the current secret's start) the key will
    /// have: the commit path's first step.
    pub(crate) fn stamp(
        &mut self,
        status: Option<KeyComplianceStatus>,
        current_since: Option<CurrentSince>,
    ) {
        self.key.compliance = status;
        self.key.current_since = current_since;
    }

    /// Stamps when the processor next looks at the key's own expiry (the expiry
    /// index): part of the commit path's first step.
    pub(crate) fn stamp_expiry_check(&mut self, warn_ahead_seconds: u64) {
        self.key.expiry_check_at = self.key.expiry_due_at(warn_ahead_seconds);
    }

    /// Authenticates the audit head the change ends at: the commit path's second step.
    pub(crate) fn authenticate_head(&mut self, mac: HeadMac) {
        self.key.audit_head_mac = Some(mac);
    }

    /// The secret records it writes, for the commit path to add keyroll's MACs to.
    pub(crate) fn secrets_to_authenticate(&mut self) -> &mut [SecretWrite] {
        &mut self.secrets
    }

    /// Stores the record of the idempotent request that made this change with it, so
    /// the request and its result commit together.
    pub(crate) fn record_request(&mut self, record: IdempotencyRecord) {
        self.idempotency = Some(record);
    }

    /// What the change writes, taken apart by a store that applies it.
    pub(crate) fn into_parts(self) -> ChangeParts {
        ChangeParts {
            key: self.key,
            rotations: self.rotations,
            secrets: self.secrets,
            events: self.events,
            idempotency: self.idempotency,
            outbox: self.outbox,
            emergencies: self.emergencies,
        }
    }

    /// How the change moves the compliance totals: one counter down and another up
    /// when the key's status (or class) changes, one up for a new key, one down when
    /// it stops being active. Empty when it stays where it was counted.
    pub fn compliance_moves(&self) -> Vec<(KeyComplianceStatus, KeyClass, i64)> {
        let after = counted(&self.key);
        if after == self.counted_before {
            return Vec::new();
        }
        let down = self.counted_before.map(|(s, c)| (s, c, -1));
        let up = after.map(|(s, c)| (s, c, 1));
        down.into_iter().chain(up).collect()
    }
}

/// One emergency rotation in the monthly log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmergencyLogEntry {
    pub at: Timestamp,
    pub rotation_id: RotationId,
    pub key_id: KeyId,
}

impl EmergencyLogEntry {
    /// The log partition: `YYYY-MM` of the rotation's start.
    pub fn month(&self) -> String {
        self.at.to_rfc3339()[..7].to_owned()
    }

    /// Where it sorts in its month: by time, then rotation id.
    pub fn sort_key(&self) -> String {
        format!("{}#{}", self.at, self.rotation_id)
    }
}

/// Accumulates one change of one key. Secret records follow the key: after the key's
/// versions are edited, [`ChangeBuilder::finish`] writes the new stage and expiry of
/// every version that changed, so the verification records cannot drift from the key.
#[derive(Debug)]
pub struct ChangeBuilder {
    before: Option<Key>,
    key: Key,
    rotations: Vec<RotationWrite>,
    new_secrets: Vec<SecretRecord>,
    events: Vec<AuditEvent>,
    outbox: Vec<OutboxEntry>,
    emergencies: Vec<EmergencyLogEntry>,
}

impl ChangeBuilder {
    /// A change that creates `key`, which must be at revision 0 with no audit head.
    pub fn create(mut key: Key) -> Self {
        key.revision = 0;
        key.audit_head = None;
        Self {
            before: None,
            key,
            rotations: Vec::new(),
            new_secrets: Vec::new(),
            events: Vec::new(),
            outbox: Vec::new(),
            emergencies: Vec::new(),
        }
    }

    /// A change to `key` as it was read.
    pub fn update(key: Key) -> Self {
        Self {
            before: Some(key.clone()),
            key,
            rotations: Vec::new(),
            new_secrets: Vec::new(),
            events: Vec::new(),
            outbox: Vec::new(),
            emergencies: Vec::new(),
        }
    }

    pub fn key(&self) -> &Key {
        &self.key
    }

    pub fn key_mut(&mut self) -> &mut Key {
        &mut self.key
    }

    /// Adds the verification record of a version new in this change.
    pub fn add_secret(&mut self, record: SecretRecord) {
        self.new_secrets.push(record);
    }

    /// Writes `rotation`, which must be in `expected_status` (or new, for `None`).
    pub fn put_rotation(&mut self, rotation: Rotation, expected_status: Option<RotationStatus>) {
        self.rotations.retain(|w| w.rotation.id != rotation.id);
        self.rotations.push(RotationWrite {
            rotation,
            expected_status,
        });
    }

    /// Queues work for after the commit, ordered after the last recorded event.
    pub fn enqueue(&mut self, at: Timestamp, message: OutboxMessage) {
        let sort_key = format!(
            "{at}#{}#{:010}#{:03}",
            self.key.id,
            self.key.revision,
            self.outbox.len()
        );
        self.outbox.push(OutboxEntry {
            shard: shard_of(self.key.id.as_str()),
            sort_key,
            message,
        });
    }

    /// Logs an emergency rotation this change starts.
    pub fn log_emergency(&mut self, entry: EmergencyLogEntry) {
        self.emergencies.push(entry);
    }

    /// Appends the audit event for one state change, chained to the previous one.
    pub fn record(&mut self, mut happened: Happened) {
        // What changed, not both whole states: an event's size follows its change.
        (happened.before, happened.after) = changed(&happened.before, &happened.after);
        let seq = self.key.revision + 1;
        let prev = self.key.audit_head.unwrap_or(AuditHash::GENESIS);
        let event = AuditEvent::new(self.key.id.clone(), seq, happened, prev);
        self.key.revision = seq;
        self.key.audit_head = Some(event.hash);
        self.events.push(event);
    }

    pub fn finish(mut self) -> KeyChange {
        let expected_writes = self.before.as_ref().map_or(0, |k| k.writes);
        self.key.writes = expected_writes + 1;
        let mut secrets = Vec::new();
        for mut record in self.new_secrets {
            if let Some(version) = self.key.version(record.version) {
                record.stage = version.stage;
                record.expires_at = self.key.record_expiry(version);
            }
            record.scopes = self.key.scopes.clone();
            record.rate_limit = self.key.rate_limit;
            secrets.push(SecretWrite::Create(record));
        }
        if let Some(before) = &self.before {
            // What every record tells verification about its key.
            let access_changed =
                before.scopes != self.key.scopes || before.rate_limit != self.key.rate_limit;
            for version in &self.key.versions {
                let Some(old) = before.version(version.version) else {
                    continue;
                };
                // A record revoked before stays revoked and never verifies again: it
                // is not rewritten, so a change's writes follow the key's live secrets,
                // not its history (a transaction holds at most 100 items).
                if old.stage == SecretStage::Revoked && version.stage == SecretStage::Revoked {
                    continue;
                }
                let expires_at = self.key.record_expiry(version);
                if access_changed
                    || old.stage != version.stage
                    || before.record_expiry(old) != expires_at
                {
                    secrets.push(SecretWrite::SetState {
                        lookup_hash: version.lookup_hash,
                        state: SecretState {
                            stage: version.stage,
                            expires_at,
                            scopes: self.key.scopes.clone(),
                            rate_limit: self.key.rate_limit,
                        },
                        state_mac: None,
                    });
                }
            }
        }
        KeyChange {
            expected_revision: self.before.as_ref().map(|k| k.revision),
            key: self.key,
            rotations: self.rotations,
            secrets,
            events: self.events,
            idempotency: None,
            outbox: self.outbox,
            emergencies: self.emergencies,
            counted_before: self.before.as_ref().and_then(counted),
            expected_writes,
            prior_head: self.before.as_ref().map(|k| PriorHead {
                revision: k.revision,
                hash: k.audit_head,
                mac: k.audit_head_mac.clone(),
            }),
        }
    }
}
