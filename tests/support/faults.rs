//! A store that fails on purpose: it wraps a real adapter and injects throttling,
//! lost races and "crashes" (a step that does not happen) at chosen points.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use keyroll_core::audit::AuditEvent;
use keyroll_core::compliance::ComplianceSnapshot;
use keyroll_core::idempotency::IdempotencyRecord;
use keyroll_core::ids::{KeyId, RotationId};
use keyroll_core::index::{AgeRef, DueRef, ExpiryRef, KeyListFilter, ListedKey};
use keyroll_core::key::{Key, KeyClass, SecretRecord};
use keyroll_core::notification::OutboxEntry;
use keyroll_core::rotation::Rotation;
use keyroll_core::secret::LookupHash;
use keyroll_core::store::{KeyChange, Store, StoreError};
use keyroll_core::time::Timestamp;

#[derive(Default)]
pub struct Faults {
    /// The next N commits fail as if DynamoDB throttled them (nothing written).
    pub throttle_commits: AtomicU32,
    /// The next N commits fail as if another writer won (nothing written).
    pub conflict_commits: AtomicU32,
    /// Every commit fails as if its guard were refused, as long as this is set: a
    /// guard that can never pass.
    pub refuse_every_commit: std::sync::atomic::AtomicBool,
    /// The next N commits are applied and then fail as if the answer was lost (a
    /// timeout or a 5xx after DynamoDB committed).
    pub fail_after_commit: AtomicU32,
    /// The next N outbox removals fail, as if the process died after delivering.
    pub fail_outbox_removals: AtomicU32,
    /// The next N use writes fail as if DynamoDB were unreachable.
    pub fail_use_writes: AtomicU32,
    /// The next N caller writes fail as if DynamoDB were unreachable.
    pub fail_caller_writes: AtomicU32,
}

fn take(counter: &AtomicU32) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

pub struct FaultyStore {
    pub inner: Arc<dyn Store>,
    pub faults: Arc<Faults>,
}

#[async_trait]
impl Store for FaultyStore {
    async fn key(&self, id: &KeyId) -> Result<Option<Key>, StoreError> {
        self.inner.key(id).await
    }
    async fn secret(&self, hash: &LookupHash) -> Result<Option<SecretRecord>, StoreError> {
        self.inner.secret(hash).await
    }
    async fn record_use(
        &self,
        hash: &LookupHash,
        record: &keyroll_core::usage::UseRecord,
    ) -> Result<bool, StoreError> {
        if take(&self.faults.fail_use_writes) {
            return Err(StoreError::unavailable_because(
                "UpdateItem",
                "injected: use write failed",
            ));
        }
        self.inner.record_use(hash, record).await
    }
    async fn record_callers(
        &self,
        hash: &LookupHash,
        sightings: &[keyroll_core::callers::Sighting],
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        if take(&self.faults.fail_caller_writes) {
            return Err(StoreError::unavailable_because(
                "UpdateItem",
                "injected: caller write failed",
            ));
        }
        self.inner.record_callers(hash, sightings, now).await
    }
    async fn callers(
        &self,
        hash: &LookupHash,
    ) -> Result<Option<keyroll_core::callers::CallerLog>, StoreError> {
        self.inner.callers(hash).await
    }
    async fn keys_of(
        &self,
        organization: &keyroll_core::ids::OrganizationId,
        after: Option<&KeyId>,
        limit: usize,
    ) -> Result<Vec<KeyId>, StoreError> {
        self.inner.keys_of(organization, after, limit).await
    }
    async fn rotation(&self, id: &RotationId) -> Result<Option<Rotation>, StoreError> {
        self.inner.rotation(id).await
    }
    async fn rotation_of_key(
        &self,
        key_id: &KeyId,
        id: &RotationId,
    ) -> Result<Option<Rotation>, StoreError> {
        self.inner.rotation_of_key(key_id, id).await
    }
    async fn rotations_of(&self, key_id: &KeyId) -> Result<Vec<Rotation>, StoreError> {
        self.inner.rotations_of(key_id).await
    }
    async fn audit_events(
        &self,
        key_id: &KeyId,
        after: Option<u64>,
        order: keyroll_core::audit::AuditOrder,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        self.inner.audit_events(key_id, after, order, limit).await
    }
    async fn due_rotations(
        &self,
        shard: u8,
        due_by: Timestamp,
        after: Option<&DueRef>,
        limit: usize,
    ) -> Result<Vec<DueRef>, StoreError> {
        self.inner.due_rotations(shard, due_by, after, limit).await
    }
    async fn list_keys(
        &self,
        filter: &KeyListFilter,
        before: Option<&ListedKey>,
        limit: usize,
    ) -> Result<Vec<ListedKey>, StoreError> {
        self.inner.list_keys(filter, before, limit).await
    }
    async fn keys_with_prefix(&self, prefix: &str, limit: usize) -> Result<Vec<KeyId>, StoreError> {
        self.inner.keys_with_prefix(prefix, limit).await
    }
    async fn key_policy(
        &self,
        organization: &keyroll_core::ids::OrganizationId,
    ) -> Result<Option<keyroll_core::key_policy::KeyPolicy>, StoreError> {
        self.inner.key_policy(organization).await
    }
    async fn put_key_policy(
        &self,
        policy: &keyroll_core::key_policy::KeyPolicy,
    ) -> Result<(), StoreError> {
        self.inner.put_key_policy(policy).await
    }
    async fn expiring_keys(
        &self,
        shard: u8,
        due_by: Timestamp,
        after: Option<&ExpiryRef>,
        limit: usize,
    ) -> Result<Vec<ExpiryRef>, StoreError> {
        self.inner.expiring_keys(shard, due_by, after, limit).await
    }
    async fn aged_keys(
        &self,
        class: KeyClass,
        shard: u8,
        before: Timestamp,
        after: Option<&AgeRef>,
        limit: usize,
    ) -> Result<Vec<AgeRef>, StoreError> {
        self.inner
            .aged_keys(class, shard, before, after, limit)
            .await
    }
    async fn emergencies(
        &self,
        month: &str,
        before: Option<&keyroll_core::change::EmergencyLogEntry>,
        limit: usize,
    ) -> Result<Vec<keyroll_core::change::EmergencyLogEntry>, StoreError> {
        self.inner.emergencies(month, before, limit).await
    }
    async fn put_snapshot(&self, snapshot: &ComplianceSnapshot) -> Result<(), StoreError> {
        self.inner.put_snapshot(snapshot).await
    }
    async fn snapshots(&self, limit: usize) -> Result<Vec<ComplianceSnapshot>, StoreError> {
        self.inner.snapshots(limit).await
    }
    async fn compliance_entries(
        &self,
        partition: &keyroll_core::index::CompliancePartition,
        range: &keyroll_core::index::SortRange,
        limit: usize,
    ) -> Result<(Vec<keyroll_core::index::ComplianceEntry>, bool), StoreError> {
        self.inner.compliance_entries(partition, range, limit).await
    }
    async fn compliance_counts(
        &self,
        organization: Option<&keyroll_core::ids::OrganizationId>,
    ) -> Result<keyroll_core::compliance::ComplianceCounts, StoreError> {
        self.inner.compliance_counts(organization).await
    }
    async fn count_active(&self, class: KeyClass, shard: u8) -> Result<u64, StoreError> {
        self.inner.count_active(class, shard).await
    }
    async fn idempotency(&self, id: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.inner.idempotency(id).await
    }
    async fn outbox(
        &self,
        shard: u8,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        self.inner.outbox(shard, after, limit).await
    }
    async fn remove_outbox(&self, entries: &[(u8, String)]) -> Result<(), StoreError> {
        if take(&self.faults.fail_outbox_removals) {
            return Err(StoreError::unavailable_because(
                "BatchWriteItem",
                "injected: crashed before removing the outbox entries",
            ));
        }
        self.inner.remove_outbox(entries).await
    }
    async fn try_lease(
        &self,
        name: &str,
        owner: &str,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.inner.try_lease(name, owner, until, now).await
    }
    async fn release_lease(&self, name: &str, owner: &str) -> Result<(), StoreError> {
        self.inner.release_lease(name, owner).await
    }
    async fn sweep_legacy(
        &self,
        limit: usize,
    ) -> Result<keyroll_core::store::SweepPage, StoreError> {
        self.inner.sweep_legacy(limit).await
    }
    async fn authenticate_secret_record(
        &self,
        record: &keyroll_core::key::SecretRecord,
    ) -> Result<bool, StoreError> {
        self.inner.authenticate_secret_record(record).await
    }
    async fn commit(&self, change: KeyChange) -> Result<(), StoreError> {
        self.before_commit()?;
        self.inner.commit(change).await?;
        self.after_commit()
    }
    async fn create_keys(&self, changes: &[KeyChange]) -> Result<(), StoreError> {
        self.before_commit()?;
        self.inner.create_keys(changes).await?;
        self.after_commit()
    }
    async fn put_held_marker(
        &self,
        marker: &keyroll_core::held::HeldMarker,
    ) -> Result<(), StoreError> {
        self.inner.put_held_marker(marker).await
    }
    async fn held_markers(
        &self,
        before: Timestamp,
        limit: usize,
    ) -> Result<Vec<keyroll_core::held::HeldMarker>, StoreError> {
        self.inner.held_markers(before, limit).await
    }
    async fn remove_held_marker(
        &self,
        marker: &keyroll_core::held::HeldMarker,
    ) -> Result<(), StoreError> {
        self.inner.remove_held_marker(marker).await
    }
}

impl FaultyStore {
    /// The injected refusals of a transaction before it is sent.
    fn before_commit(&self) -> Result<(), StoreError> {
        if take(&self.faults.throttle_commits) {
            return Err(StoreError::unavailable_because(
                "TransactWriteItems",
                "injected: ProvisionedThroughputExceeded",
            ));
        }
        if take(&self.faults.conflict_commits)
            || self.faults.refuse_every_commit.load(Ordering::SeqCst)
        {
            return Err(StoreError::Conflict);
        }
        Ok(())
    }

    /// The injected loss of a transaction's answer once it has committed.
    fn after_commit(&self) -> Result<(), StoreError> {
        if take(&self.faults.fail_after_commit) {
            return Err(StoreError::unavailable_because(
                "TransactWriteItems",
                "injected: the commit's answer was lost",
            ));
        }
        Ok(())
    }
}
