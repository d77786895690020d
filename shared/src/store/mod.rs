//! The storage port: what keyroll needs from a database. Every state change arrives
//! as one [`KeyChange`] (see [`crate::change`]) that an adapter applies entirely or not
//! at all, refusing it with [`StoreError::Conflict`] when any guard fails.
//!
//! Adapters: [`memory::MemoryStore`] (the local default and the fast test double) and,
//! with the `dynamodb` feature, `dynamodb::DynamoStore`. One contract suite
//! (tests/contract) runs against both.

use async_trait::async_trait;

use crate::audit::{AuditEvent, AuditOrder};
use crate::change::EmergencyLogEntry;
use crate::compliance::{ComplianceCounts, ComplianceSnapshot};
use crate::held::HeldMarker;
use crate::idempotency::IdempotencyRecord;
use crate::ids::{KeyId, OrganizationId, RotationId};
use crate::index::{
    AgeRef, ComplianceEntry, CompliancePartition, DueRef, ExpiryRef, KeyListFilter, ListedKey,
    SortRange,
};
use crate::key::{Key, KeyClass, SecretRecord};
use crate::notification::OutboxEntry;
use crate::rotation::Rotation;
use crate::secret::LookupHash;
use crate::time::Timestamp;

pub mod deliveries;
#[cfg(feature = "dynamodb")]
pub mod dynamodb;
pub mod memory;
pub mod sweep;

pub use deliveries::DeliveryStore;
pub use sweep::SweepPage;

pub use crate::change::{ChangeBuilder, KeyChange, RotationWrite, SecretWrite};
pub use crate::error::StoreError;
pub use crate::index::{shard_of, INDEX_SHARDS};

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

    /// Adds a container's caller sightings to a secret's caller log
    /// ([`crate::callers::CallerLog::record`] at `now`), replacing the log only if no
    /// other write replaced it since it was read; `false` if one did (the sightings
    /// wait for the next minute). Written only after a won use write, so at most as
    /// often as uses.
    async fn record_callers(
        &self,
        lookup_hash: &LookupHash,
        sightings: &[crate::callers::Sighting],
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// A secret's caller log, if any caller was ever recorded.
    async fn callers(
        &self,
        lookup_hash: &LookupHash,
    ) -> Result<Option<crate::callers::CallerLog>, StoreError>;

    async fn rotation(&self, id: &RotationId) -> Result<Option<Rotation>, StoreError>;

    /// A rotation of a known key (the key's active rotation): one read, where
    /// [`Store::rotation`] by id alone first finds the key.
    async fn rotation_of_key(
        &self,
        key_id: &KeyId,
        id: &RotationId,
    ) -> Result<Option<Rotation>, StoreError>;

    /// Up to `limit` ids of `organization`'s keys (every status), in id order, after
    /// `after`. Like the other indexes it may lag a moment behind a new key.
    async fn keys_of(
        &self,
        organization: &OrganizationId,
        after: Option<&KeyId>,
        limit: usize,
    ) -> Result<Vec<KeyId>, StoreError>;

    /// Up to `limit` keys the filter holds, newest first, created before `before`
    /// (the last entry of the previous page). Every page reads the same few index
    /// partitions whatever the table holds; like the other indexes it may lag a moment
    /// behind a change, so callers re-read the keys.
    async fn list_keys(
        &self,
        filter: &KeyListFilter,
        before: Option<&ListedKey>,
        limit: usize,
    ) -> Result<Vec<ListedKey>, StoreError>;

    /// Up to `limit` ids of the keys one of whose secrets (any stage) shows `prefix`,
    /// from a lookup index.
    async fn keys_with_prefix(&self, prefix: &str, limit: usize) -> Result<Vec<KeyId>, StoreError>;

    /// Every rotation of a key, newest first.
    async fn rotations_of(&self, key_id: &KeyId) -> Result<Vec<Rotation>, StoreError>;

    /// Up to `limit` audit events of a key as stored, in sequence order or reversed,
    /// after sequence number `after` in that order.
    async fn audit_events(
        &self,
        key_id: &KeyId,
        after: Option<u64>,
        order: AuditOrder,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, StoreError>;

    /// Up to `limit` rotations of index `shard` due at or before `due_by`, in due
    /// order, starting after `after`.
    async fn due_rotations(
        &self,
        shard: u8,
        due_by: Timestamp,
        after: Option<&DueRef>,
        limit: usize,
    ) -> Result<Vec<DueRef>, StoreError>;

    /// Up to `limit` active keys of index `shard` whose own expiry needs the processor
    /// (a warning ahead of it, or marking it expired) at or before `due_by`, in due
    /// order, starting after `after`.
    async fn expiring_keys(
        &self,
        shard: u8,
        due_by: Timestamp,
        after: Option<&ExpiryRef>,
        limit: usize,
    ) -> Result<Vec<ExpiryRef>, StoreError>;

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

    /// Up to `limit` of the emergency rotations logged in `month` (`YYYY-MM`), newest
    /// first, older than `before` when given.
    async fn emergencies(
        &self,
        month: &str,
        before: Option<&EmergencyLogEntry>,
        limit: usize,
    ) -> Result<Vec<EmergencyLogEntry>, StoreError>;

    /// Up to `limit` entries of a compliance index partition within `range`, oldest
    /// secret first, and whether the range may hold more. Like the other indexes it may
    /// lag a moment behind a change.
    async fn compliance_entries(
        &self,
        partition: &CompliancePartition,
        range: &SortRange,
        limit: usize,
    ) -> Result<(Vec<ComplianceEntry>, bool), StoreError>;

    /// The compliance totals' counters (every organisation's, or one's), summed over
    /// their shards: as every committed change has moved them.
    async fn compliance_counts(
        &self,
        organization: Option<&OrganizationId>,
    ) -> Result<ComplianceCounts, StoreError>;

    /// The key policy of `organization`, if its operator set one.
    async fn key_policy(
        &self,
        organization: &OrganizationId,
    ) -> Result<Option<crate::key_policy::KeyPolicy>, StoreError>;

    /// Stores an organisation's key policy (replacing the one it had).
    async fn put_key_policy(&self, policy: &crate::key_policy::KeyPolicy)
        -> Result<(), StoreError>;

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

    /// Records that a secret is about to be held in the vault for a rotation not yet
    /// committed (written before the secret is).
    async fn put_held_marker(&self, marker: &HeldMarker) -> Result<(), StoreError>;

    /// Up to `limit` markers of secrets held before `before`, oldest first.
    async fn held_markers(
        &self,
        before: Timestamp,
        limit: usize,
    ) -> Result<Vec<HeldMarker>, StoreError>;

    /// Removes a marker (removing one that is gone is not an error).
    async fn remove_held_marker(&self, marker: &HeldMarker) -> Result<(), StoreError>;

    /// One page (at most `limit` items read) of the upgrade sweep through what an older
    /// release wrote and the current one would write differently: keys without the
    /// index attributes added since get them (without changing the key), idempotency
    /// records from before expiry are deleted. The sweep keeps its place in the store;
    /// once it has been through everything it answers `done` for one read.
    async fn sweep_legacy(&self, limit: usize) -> Result<SweepPage, StoreError>;

    /// Writes `record`'s MACs onto the stored record of an older release, which has
    /// none yet: its identity MAC, and its state MAC unless a change since has written
    /// one. `false` (nothing written) if the record is gone, has its identity MAC
    /// already, or its state changed since it was read.
    async fn authenticate_secret_record(&self, record: &SecretRecord) -> Result<bool, StoreError>;

    /// Applies the change atomically, or refuses it with [`StoreError::Conflict`].
    async fn commit(&self, change: KeyChange) -> Result<(), StoreError>;

    /// Applies changes that each create a key (at most [`MAX_KEY_CREATIONS`]) all
    /// together or not at all, moving the compliance totals once for them all: an
    /// import's rows. Refused with [`StoreError::Conflict`] if any key or secret
    /// exists, or two of the changes name one; a change that is not a creation is refused
    /// the same way.
    async fn create_keys(&self, changes: &[KeyChange]) -> Result<(), StoreError>;
}

/// Most key creations [`Store::create_keys`] takes at once. A creation writes its key,
/// its secret record and its audit event; with every organisation's counter and at
/// most one organisation's counter per creation, 24 make at most 97 items, within
/// DynamoDB's 100 per transaction.
pub const MAX_KEY_CREATIONS: usize = 24;

/// What every adapter refuses in a batch of creations before looking at the table:
/// more than [`MAX_KEY_CREATIONS`] (a caller's mistake, refused outright), a change
/// that is not a creation, or two that create one key or one secret (a conflict, as
/// they would be one by one).
pub fn check_creations(changes: &[KeyChange]) -> Result<(), StoreError> {
    if changes.len() > MAX_KEY_CREATIONS {
        return Err(StoreError::Corrupt(format!(
            "a batch of {} key creations; at most {MAX_KEY_CREATIONS}",
            changes.len()
        )));
    }
    let mut keys = std::collections::HashSet::new();
    let mut secrets = std::collections::HashSet::new();
    for change in changes {
        if change.expected_revision().is_some() || !keys.insert(&change.key().id) {
            return Err(StoreError::Conflict);
        }
        for write in change.secrets() {
            if let SecretWrite::Create(record) = write {
                if !secrets.insert(record.lookup_hash) {
                    return Err(StoreError::Conflict);
                }
            }
        }
    }
    Ok(())
}
