//! The storage port: what keyroll needs from a database, and the one way it changes
//! state.
//!
//! Every state change is a [`KeyChange`]: the key's new state, guarded by the revision
//! it was planned on, together with the rotations, secret records and audit events it
//! touches. An adapter applies a change entirely or not at all, and refuses it with
//! [`StoreError::Conflict`] when any guard fails, so two writers racing on one key can
//! never both win and no change is stored without its audit event.

use async_trait::async_trait;

use crate::audit::AuditEvent;
use crate::compliance::ComplianceSnapshot;
use crate::idempotency::IdempotencyRecord;
use crate::ids::{KeyId, RotationId};
use crate::key::{Key, KeyClass, SecretRecord, SecretState};
use crate::notification::OutboxEntry;
use crate::rotation::{Rotation, RotationStatus};
use crate::secret::LookupHash;
use crate::time::Timestamp;

mod change;
pub mod dynamodb;
pub mod memory;
pub mod table;

pub use change::ChangeBuilder;

/// The due and age indexes are spread over this many partitions so that a busy day
/// cannot make one index partition hot; readers query every shard.
pub const INDEX_SHARDS: u8 = 4;

/// The index shard an id belongs to (stable: CRC32 of the id).
pub fn shard_of(id: &str) -> u8 {
    (crc32fast::hash(id.as_bytes()) % u32::from(INDEX_SHARDS)) as u8
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A guard failed: the state changed since it was read. Re-read and re-plan.
    #[error("conditional write failed: the state changed since it was read")]
    Conflict,
    /// The backend could not be reached or refused the request (throttling included).
    #[error("storage backend unavailable: {0}")]
    Unavailable(String),
    /// A stored item could not be decoded.
    #[error("stored item is corrupt: {0}")]
    Corrupt(String),
}

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
    },
}

/// One atomic, guarded state change of one key. Built by [`ChangeBuilder`].
#[derive(Debug, Clone, PartialEq)]
pub struct KeyChange {
    /// The key's state after the change; `key.revision` is the last event's `seq`.
    pub key: Key,
    /// `None`: the key must not exist. `Some(r)`: it must still be at revision `r`.
    pub expected_revision: Option<u64>,
    pub rotations: Vec<RotationWrite>,
    pub secrets: Vec<SecretWrite>,
    pub events: Vec<AuditEvent>,
    /// The record of the idempotent request that made the change, if any. Refused
    /// (conflict) while a live record with the same id exists.
    pub idempotency: Option<IdempotencyRecord>,
    /// Notifications and clean-ups to carry out once the change has committed.
    pub outbox: Vec<OutboxEntry>,
    /// Emergency rotations started by this change, logged by month so the recent ones
    /// can be listed without reading every key.
    pub emergencies: Vec<EmergencyLogEntry>,
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
}

/// An entry of the due index: a rotation with work for the processor.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DueRef {
    pub due_at: Timestamp,
    pub rotation_id: RotationId,
    pub key_id: KeyId,
}

impl DueRef {
    pub fn of(rotation: &Rotation) -> Option<Self> {
        rotation.due_at().map(|due_at| DueRef {
            due_at,
            rotation_id: rotation.id.clone(),
            key_id: rotation.key_id.clone(),
        })
    }

    pub fn shard(&self) -> u8 {
        shard_of(self.rotation_id.as_str())
    }

    /// The index sort key: sorts by due time, then id.
    pub fn sort_key(&self) -> String {
        format!("{}#{}", self.due_at, self.rotation_id)
    }
}

/// An entry of the age index: an active key and when its current secret was created.
/// The index is partitioned by key class (each class has its own maximum age) and
/// shard.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AgeRef {
    pub class: KeyClass,
    pub created_at: Timestamp,
    pub key_id: KeyId,
}

impl AgeRef {
    pub fn of(key: &Key) -> Option<Self> {
        key.current_secret_created_at().map(|created_at| AgeRef {
            class: key.class,
            created_at,
            key_id: key.id.clone(),
        })
    }

    pub fn shard(&self) -> u8 {
        shard_of(self.key_id.as_str())
    }

    pub fn sort_key(&self) -> String {
        format!("{}#{}", self.created_at, self.key_id)
    }
}

/// The storage port. Reads of single items are strongly consistent; index queries
/// (`due_rotations`, `aged_keys`) may lag a moment behind, so callers re-read what
/// they act on.
#[async_trait]
pub trait Store: Send + Sync {
    async fn key(&self, id: &KeyId) -> Result<Option<Key>, StoreError>;

    /// The verification record of a secret, by its lookup hash.
    async fn secret(&self, lookup_hash: &LookupHash) -> Result<Option<SecretRecord>, StoreError>;

    /// Records counted uses of a secret: `lastUsedAt = use.at`, the uses added to the
    /// day's count, aged-out days removed — unless `lastUsedAt` is already within
    /// `use.at`'s minute or the record is gone, in which case nothing is written and the
    /// answer is `false`. This is the one write verification ever causes.
    async fn record_use(
        &self,
        lookup_hash: &LookupHash,
        record: &crate::usage::UseRecord,
    ) -> Result<bool, StoreError>;

    async fn rotation(&self, id: &RotationId) -> Result<Option<Rotation>, StoreError>;

    /// Every rotation of a key, newest first.
    async fn rotations_of(&self, key_id: &KeyId) -> Result<Vec<Rotation>, StoreError>;

    /// Every audit event of a key, in sequence order, as stored.
    async fn audit_events(&self, key_id: &KeyId) -> Result<Vec<AuditEvent>, StoreError>;

    /// Up to `limit` rotations of index `shard` due at or before `due_by`, in due
    /// order, starting after `after`.
    async fn due_rotations(
        &self,
        shard: u8,
        due_by: Timestamp,
        after: Option<&DueRef>,
        limit: usize,
    ) -> Result<Vec<DueRef>, StoreError>;

    /// Up to `limit` active keys of `class` in index `shard` whose current secret was
    /// created before `created_before`, oldest first, starting after `after`.
    async fn aged_keys(
        &self,
        class: KeyClass,
        shard: u8,
        created_before: Timestamp,
        after: Option<&AgeRef>,
        limit: usize,
    ) -> Result<Vec<AgeRef>, StoreError>;

    /// The emergency rotations logged in `month` (`YYYY-MM`), newest first.
    async fn emergencies(&self, month: &str) -> Result<Vec<EmergencyLogEntry>, StoreError>;

    /// Stores the day's compliance figures (replacing that day's earlier ones).
    async fn put_snapshot(&self, snapshot: &ComplianceSnapshot) -> Result<(), StoreError>;

    /// The most recent `limit` daily snapshots, newest first.
    async fn snapshots(&self, limit: usize) -> Result<Vec<ComplianceSnapshot>, StoreError>;

    /// How many active keys of `class` index `shard` holds. A count, not a read of
    /// the keys: DynamoDB answers it from the keys-only index, 1 MB per request.
    async fn count_active(&self, class: KeyClass, shard: u8) -> Result<u64, StoreError>;

    /// The record of an idempotent request, by id (live or not).
    async fn idempotency(&self, id: &str) -> Result<Option<IdempotencyRecord>, StoreError>;

    /// Up to `limit` outbox entries of `shard`, oldest first, after sort key `after`.
    async fn outbox(
        &self,
        shard: u8,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError>;

    /// Removes carried-out outbox entries (removing one that is gone is not an error).
    async fn remove_outbox(&self, entries: &[(u8, String)]) -> Result<(), StoreError>;

    /// Takes (or renews) the named lease for `owner` until `until`, unless another
    /// owner holds it past `now`. Leases only save duplicate work; correctness never
    /// depends on them.
    async fn try_lease(
        &self,
        name: &str,
        owner: &str,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Gives the lease up if `owner` still holds it.
    async fn release_lease(&self, name: &str, owner: &str) -> Result<(), StoreError>;

    /// Applies the change atomically, or refuses it with [`StoreError::Conflict`].
    async fn commit(&self, change: KeyChange) -> Result<(), StoreError>;
}
