//! The embedded in-memory store: the local default and the fast test double. It
//! enforces exactly the guards of the DynamoDB adapter (the contract suite runs
//! against both).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

mod deliveries;

use super::{KeyChange, SecretWrite, Store, StoreError};
use crate::audit::{AuditEvent, AuditOrder};
use crate::change::EmergencyLogEntry;
use crate::compliance::{ComplianceCounts, ComplianceSnapshot, KeyComplianceStatus};
use crate::held::HeldMarker;
use crate::idempotency::IdempotencyRecord;
use crate::ids::{KeyId, OrganizationId, RotationId};
use crate::index::{
    list_partitions, AgeRef, ComplianceEntry, CompliancePartition, DueRef, ExpiryRef,
    KeyListFilter, ListedKey, SortRange,
};
use crate::key::{Key, KeyClass, SecretRecord};
use crate::notification::{OutboxEntry, OutboxMessage};
use crate::rotation::Rotation;
use crate::secret::LookupHash;
use crate::time::Timestamp;

#[derive(Debug, Default)]
struct State {
    keys: HashMap<KeyId, Key>,
    secrets: HashMap<LookupHash, SecretRecord>,
    rotations: HashMap<RotationId, Rotation>,
    audit: HashMap<KeyId, Vec<AuditEvent>>,
    idempotency: HashMap<String, IdempotencyRecord>,
    outbox: std::collections::BTreeMap<(u8, String), OutboxMessage>,
    leases: HashMap<String, (String, Timestamp)>,
    held: std::collections::BTreeMap<String, HeldMarker>,
    snapshots: std::collections::BTreeMap<String, ComplianceSnapshot>,
    key_policies: HashMap<OrganizationId, crate::key_policy::KeyPolicy>,
    emergencies: Vec<EmergencyLogEntry>,
    /// `record_use` calls, written or refused: what the once-a-minute bound counts.
    use_writes: u64,
    /// Each secret's caller log.
    callers: HashMap<LookupHash, crate::callers::CallerLog>,
    /// `record_callers` calls, written or refused.
    caller_writes: u64,
    /// Commits and batches of creations, written or refused: each would be one
    /// TransactWriteItems in DynamoDB.
    transactions: u64,
    /// Reads of keys and of the key lists, and the items they returned: what a list
    /// page costs, counted as DynamoDB's requests and items are.
    reads: u64,
    items_read: u64,
    deliveries: deliveries::Deliveries,
    /// The compliance totals, moved by each change as the DynamoDB counters are:
    /// every organisation's under `None`, and each one's.
    compliance_counts: HashMap<Option<OrganizationId>, ComplianceCounts>,
}

impl State {
    /// Moves a compliance counter of every organisation's and of `organization`'s.
    fn count(
        &mut self,
        organization: &OrganizationId,
        status: KeyComplianceStatus,
        class: KeyClass,
        delta: i64,
    ) {
        for scope in [None, Some(organization.clone())] {
            self.compliance_counts
                .entry(scope)
                .or_default()
                .add(status, class, delta);
        }
    }
}

#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-applied change: commit
        // checks every guard before it writes anything.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How many use writes were attempted (each would be one UpdateItem in DynamoDB).
    pub fn use_writes(&self) -> u64 {
        self.lock().use_writes
    }

    /// How many caller writes were attempted (each a GetItem and an UpdateItem in
    /// DynamoDB).
    pub fn caller_writes(&self) -> u64 {
        self.lock().caller_writes
    }

    /// How many transactions were attempted (commits and batches of creations).
    pub fn transactions(&self) -> u64 {
        self.lock().transactions
    }

    /// Reads of keys and of the key lists (one per list partition, as DynamoDB
    /// queries them), and the items they returned.
    pub fn reads(&self) -> (u64, u64) {
        let state = self.lock();
        (state.reads, state.items_read)
    }

    /// Loads keys with their secret records in bulk, as `DynamoStore`'s benchmark
    /// loader does (no audit events; the compliance totals moved as creating each key
    /// would). For fixtures only.
    #[doc(hidden)]
    pub fn bulk_load_for_benchmarks(&self, keys: &[(Key, SecretRecord)]) {
        let mut state = self.lock();
        for (key, record) in keys {
            if let Some((status, class)) = crate::change::counted(key) {
                state.count(&key.organization_id, status, class, 1);
            }
            state.secrets.insert(record.lookup_hash, record.clone());
            state.keys.insert(key.id.clone(), key.clone());
        }
    }

    /// Test hook: lets a test rewrite a stored key (as someone with table write access
    /// could) to prove it is detected. Nothing in keyroll calls it.
    pub fn tamper_key(&self, key_id: &KeyId, edit: impl FnOnce(&mut Key)) {
        if let Some(key) = self.lock().keys.get_mut(key_id) {
            edit(key);
        }
    }

    /// Test hook: lets a test tamper with stored audit events to prove tampering is
    /// detected. Nothing in keyroll calls it.
    pub fn tamper_audit(&self, key_id: &KeyId, edit: impl FnOnce(&mut Vec<AuditEvent>)) {
        if let Some(events) = self.lock().audit.get_mut(key_id) {
            edit(events);
        }
    }
}

fn check(state: &State, change: &KeyChange) -> Result<(), StoreError> {
    let current = state.keys.get(&change.key().id);
    match (change.expected_revision(), current) {
        (None, None) => {}
        (Some(expected), Some(key))
            if key.revision == expected && key.writes == change.expected_writes() => {}
        _ => return Err(StoreError::Conflict),
    }
    for write in change.rotations() {
        let stored = state.rotations.get(&write.rotation.id);
        match (write.expected_status, stored) {
            (None, None) => {}
            (Some(expected), Some(rotation)) if rotation.status == expected => {}
            _ => return Err(StoreError::Conflict),
        }
    }
    for write in change.secrets() {
        let exists = match write {
            SecretWrite::Create(record) => !state.secrets.contains_key(&record.lookup_hash),
            SecretWrite::SetState { lookup_hash, .. } => state.secrets.contains_key(lookup_hash),
        };
        if !exists {
            return Err(StoreError::Conflict);
        }
    }
    if let Some(record) = change.idempotency() {
        if let Some(existing) = state.idempotency.get(&record.id) {
            if existing.is_live(record.created_at) {
                return Err(StoreError::Conflict);
            }
        }
    }
    // An outbox entry is put only where none is, as DynamoDB's guarded put does.
    if change.outbox().iter().any(|entry| {
        state
            .outbox
            .contains_key(&(entry.shard, entry.sort_key.clone()))
    }) {
        return Err(StoreError::Conflict);
    }
    let stored_events = state.audit.get(&change.key().id).map_or(0, Vec::len) as u64;
    for (offset, event) in change.events().iter().enumerate() {
        if event.seq != stored_events + offset as u64 + 1 {
            return Err(StoreError::Conflict);
        }
    }
    Ok(())
}

#[async_trait]
impl Store for MemoryStore {
    async fn key(&self, id: &KeyId) -> Result<Option<Key>, StoreError> {
        let mut state = self.lock();
        state.reads += 1;
        let key = state.keys.get(id).cloned();
        state.items_read += u64::from(key.is_some());
        Ok(key)
    }

    async fn list_keys(
        &self,
        filter: &KeyListFilter,
        before: Option<&ListedKey>,
        limit: usize,
    ) -> Result<Vec<ListedKey>, StoreError> {
        let mut state = self.lock();
        // As DynamoDB reads it: up to `limit` entries from each partition the filter
        // spans, merged.
        let partitions = list_partitions(filter);
        let mut listed = Vec::new();
        for (status, shard) in partitions.iter().copied() {
            let mut entries: Vec<ListedKey> = state
                .keys
                .values()
                .filter(|k| k.status == status)
                .filter(|k| filter.organization.is_none() || filter.holds(k))
                .map(ListedKey::of)
                .filter(|e| shard.is_none_or(|s| e.shard() == s))
                .filter(|e| before.is_none_or(|b| e.sort_key() < b.sort_key()))
                .collect();
            entries.sort_by_key(|e| std::cmp::Reverse(e.sort_key()));
            entries.truncate(limit);
            state.reads += 1;
            state.items_read += entries.len() as u64;
            listed.extend(entries);
        }
        listed.sort_by_key(|e| std::cmp::Reverse(e.sort_key()));
        listed.truncate(limit);
        Ok(listed)
    }

    async fn keys_with_prefix(&self, prefix: &str, limit: usize) -> Result<Vec<KeyId>, StoreError> {
        let mut state = self.lock();
        let mut ids: Vec<KeyId> = state
            .secrets
            .values()
            .filter(|record| record.prefix.as_deref() == Some(prefix))
            .map(|record| record.key_id.clone())
            .collect();
        ids.sort();
        ids.dedup();
        ids.truncate(limit);
        state.reads += 1;
        state.items_read += ids.len() as u64;
        Ok(ids)
    }

    async fn secret(&self, lookup_hash: &LookupHash) -> Result<Option<SecretRecord>, StoreError> {
        Ok(self.lock().secrets.get(lookup_hash).cloned())
    }

    async fn record_use(
        &self,
        lookup_hash: &LookupHash,
        record: &crate::usage::UseRecord,
    ) -> Result<bool, StoreError> {
        let mut state = self.lock();
        state.use_writes += 1;
        let Some(secret) = state.secrets.get_mut(lookup_hash) else {
            return Ok(false);
        };
        if secret
            .last_used_at
            .is_some_and(|last| last >= record.at.start_of_minute())
        {
            return Ok(false);
        }
        secret.last_used_at = Some(record.at);
        *secret.daily_uses.entry(record.day()).or_default() += record.uses;
        for day in &record.forget_days {
            secret.daily_uses.remove(day);
        }
        Ok(true)
    }

    async fn record_callers(
        &self,
        lookup_hash: &LookupHash,
        sightings: &[crate::callers::Sighting],
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut state = self.lock();
        state.caller_writes += 1;
        state
            .callers
            .entry(*lookup_hash)
            .or_default()
            .record(sightings, now);
        Ok(true)
    }

    async fn callers(
        &self,
        lookup_hash: &LookupHash,
    ) -> Result<Option<crate::callers::CallerLog>, StoreError> {
        Ok(self.lock().callers.get(lookup_hash).cloned())
    }

    async fn rotation(&self, id: &RotationId) -> Result<Option<Rotation>, StoreError> {
        Ok(self.lock().rotations.get(id).cloned())
    }

    async fn rotation_of_key(
        &self,
        key_id: &KeyId,
        id: &RotationId,
    ) -> Result<Option<Rotation>, StoreError> {
        Ok(self
            .lock()
            .rotations
            .get(id)
            .filter(|r| &r.key_id == key_id)
            .cloned())
    }

    async fn keys_of(
        &self,
        organization: &OrganizationId,
        after: Option<&KeyId>,
        limit: usize,
    ) -> Result<Vec<KeyId>, StoreError> {
        let mut ids: Vec<KeyId> = self
            .lock()
            .keys
            .values()
            .filter(|k| &k.organization_id == organization)
            .filter(|k| after.is_none_or(|a| k.id.as_str() > a.as_str()))
            .map(|k| k.id.clone())
            .collect();
        ids.sort();
        ids.truncate(limit);
        Ok(ids)
    }

    async fn rotations_of(&self, key_id: &KeyId) -> Result<Vec<Rotation>, StoreError> {
        let mut rotations: Vec<Rotation> = self
            .lock()
            .rotations
            .values()
            .filter(|r| &r.key_id == key_id)
            .cloned()
            .collect();
        rotations.sort_by(|a, b| b.id.cmp(&a.id));
        Ok(rotations)
    }

    async fn audit_events(
        &self,
        key_id: &KeyId,
        after: Option<u64>,
        order: AuditOrder,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let state = self.lock();
        let Some(events) = state.audit.get(key_id) else {
            return Ok(Vec::new());
        };
        // In stored order (a test may have tampered with it), as DynamoDB's sort key.
        Ok(match order {
            AuditOrder::OldestFirst => events
                .iter()
                .filter(|e| after.is_none_or(|a| e.seq > a))
                .take(limit)
                .cloned()
                .collect(),
            AuditOrder::NewestFirst => events
                .iter()
                .rev()
                .filter(|e| after.is_none_or(|a| e.seq < a))
                .take(limit)
                .cloned()
                .collect(),
        })
    }

    async fn due_rotations(
        &self,
        shard: u8,
        due_by: Timestamp,
        after: Option<&DueRef>,
        limit: usize,
    ) -> Result<Vec<DueRef>, StoreError> {
        let mut due: Vec<DueRef> = self
            .lock()
            .rotations
            .values()
            .filter_map(DueRef::of)
            .filter(|d| d.shard() == shard && d.due_at <= due_by)
            .filter(|d| after.is_none_or(|a| d.sort_key() > a.sort_key()))
            .collect();
        due.sort_by_key(DueRef::sort_key);
        due.truncate(limit);
        Ok(due)
    }

    async fn expiring_keys(
        &self,
        shard: u8,
        due_by: Timestamp,
        after: Option<&ExpiryRef>,
        limit: usize,
    ) -> Result<Vec<ExpiryRef>, StoreError> {
        let mut due: Vec<ExpiryRef> = self
            .lock()
            .keys
            .values()
            .filter_map(ExpiryRef::of)
            .filter(|e| e.shard() == shard && e.due_at <= due_by)
            .filter(|e| after.is_none_or(|start| e.sort_key() > start.sort_key()))
            .collect();
        due.sort_by_key(ExpiryRef::sort_key);
        due.truncate(limit);
        Ok(due)
    }

    async fn aged_keys(
        &self,
        class: KeyClass,
        shard: u8,
        created_before: Timestamp,
        after: Option<&AgeRef>,
        limit: usize,
    ) -> Result<Vec<AgeRef>, StoreError> {
        let mut aged: Vec<AgeRef> = self
            .lock()
            .keys
            .values()
            .filter_map(AgeRef::of)
            .filter(|a| a.class == class && a.shard() == shard && a.created_at < created_before)
            .filter(|a| after.is_none_or(|start| a.sort_key() > start.sort_key()))
            .collect();
        aged.sort_by_key(AgeRef::sort_key);
        aged.truncate(limit);
        Ok(aged)
    }

    async fn emergencies(
        &self,
        month: &str,
        before: Option<&EmergencyLogEntry>,
        limit: usize,
    ) -> Result<Vec<EmergencyLogEntry>, StoreError> {
        let mut entries: Vec<_> = self
            .lock()
            .emergencies
            .iter()
            .filter(|e| e.month() == month)
            .filter(|e| before.is_none_or(|b| e.sort_key() < b.sort_key()))
            .cloned()
            .collect();
        entries.sort_by_key(|e| std::cmp::Reverse(e.sort_key()));
        entries.truncate(limit);
        Ok(entries)
    }

    async fn compliance_entries(
        &self,
        partition: &CompliancePartition,
        range: &SortRange,
        limit: usize,
    ) -> Result<(Vec<ComplianceEntry>, bool), StoreError> {
        let mut entries: Vec<ComplianceEntry> = self
            .lock()
            .keys
            .values()
            .filter_map(ComplianceEntry::of)
            .filter(|e| partition.holds(e) && range.contains(&e.sort_key()))
            .collect();
        entries.sort_by_key(ComplianceEntry::sort_key);
        let more = entries.len() > limit;
        entries.truncate(limit);
        Ok((entries, more))
    }

    async fn compliance_counts(
        &self,
        organization: Option<&OrganizationId>,
    ) -> Result<ComplianceCounts, StoreError> {
        Ok(self
            .lock()
            .compliance_counts
            .get(&organization.cloned())
            .cloned()
            .unwrap_or_default())
    }

    async fn key_policy(
        &self,
        organization: &OrganizationId,
    ) -> Result<Option<crate::key_policy::KeyPolicy>, StoreError> {
        Ok(self.lock().key_policies.get(organization).cloned())
    }

    async fn put_key_policy(
        &self,
        policy: &crate::key_policy::KeyPolicy,
    ) -> Result<(), StoreError> {
        self.lock()
            .key_policies
            .insert(policy.organization_id.clone(), policy.clone());
        Ok(())
    }

    async fn put_snapshot(&self, snapshot: &ComplianceSnapshot) -> Result<(), StoreError> {
        self.lock()
            .snapshots
            .insert(snapshot.date.clone(), snapshot.clone());
        Ok(())
    }

    async fn snapshots(&self, limit: usize) -> Result<Vec<ComplianceSnapshot>, StoreError> {
        Ok(self
            .lock()
            .snapshots
            .values()
            .rev()
            .take(limit)
            .cloned()
            .collect())
    }

    async fn count_active(&self, class: KeyClass, shard: u8) -> Result<u64, StoreError> {
        Ok(self
            .lock()
            .keys
            .values()
            .filter_map(AgeRef::of)
            .filter(|a| a.class == class && a.shard() == shard)
            .count() as u64)
    }

    async fn idempotency(&self, id: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        Ok(self.lock().idempotency.get(id).cloned())
    }

    async fn outbox(
        &self,
        shard: u8,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        Ok(self
            .lock()
            .outbox
            .range((shard, after.unwrap_or("").to_owned())..)
            .take_while(|((s, _), _)| *s == shard)
            .filter(|((_, key), _)| after.is_none_or(|a| key.as_str() > a))
            .take(limit)
            .map(|((shard, sort_key), message)| OutboxEntry {
                shard: *shard,
                sort_key: sort_key.clone(),
                message: message.clone(),
            })
            .collect())
    }

    async fn remove_outbox(&self, entries: &[(u8, String)]) -> Result<(), StoreError> {
        let mut state = self.lock();
        for entry in entries {
            state.outbox.remove(entry);
        }
        Ok(())
    }

    async fn try_lease(
        &self,
        name: &str,
        owner: &str,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let free = match state.leases.get(name) {
            None => true,
            Some((holder, expires)) => holder == owner || *expires <= now,
        };
        if free {
            state
                .leases
                .insert(name.to_owned(), (owner.to_owned(), until));
        }
        Ok(free)
    }

    async fn release_lease(&self, name: &str, owner: &str) -> Result<(), StoreError> {
        let mut state = self.lock();
        if state
            .leases
            .get(name)
            .is_some_and(|(holder, _)| holder == owner)
        {
            state.leases.remove(name);
        }
        Ok(())
    }

    async fn put_held_marker(&self, marker: &HeldMarker) -> Result<(), StoreError> {
        self.lock().held.insert(marker.sort_key(), marker.clone());
        Ok(())
    }

    async fn held_markers(
        &self,
        before: Timestamp,
        limit: usize,
    ) -> Result<Vec<HeldMarker>, StoreError> {
        Ok(self
            .lock()
            .held
            .values()
            .take_while(|m| m.held_at < before)
            .take(limit)
            .cloned()
            .collect())
    }

    async fn remove_held_marker(&self, marker: &HeldMarker) -> Result<(), StoreError> {
        self.lock().held.remove(&marker.sort_key());
        Ok(())
    }

    /// Nothing to sweep: the in-memory store lives only as long as the process, so it
    /// never holds an older release's items.
    async fn sweep_legacy(&self, _limit: usize) -> Result<super::SweepPage, StoreError> {
        Ok(super::SweepPage {
            done: true,
            pass_ended: true,
            ..Default::default()
        })
    }

    async fn authenticate_secret_record(&self, record: &SecretRecord) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let Some(stored) = state.secrets.get_mut(&record.lookup_hash) else {
            return Ok(false);
        };
        let state_moved = stored.state_mac.is_some() && stored.state_mac != record.state_mac;
        if stored.identity_mac.is_some() || state_moved || stored.state() != record.state() {
            return Ok(false);
        }
        stored.identity_mac = record.identity_mac.clone();
        stored.state_mac = record.state_mac.clone();
        Ok(true)
    }

    async fn commit(&self, change: KeyChange) -> Result<(), StoreError> {
        let mut state = self.lock();
        state.transactions += 1;
        check(&state, &change)?;
        apply(&mut state, change);
        Ok(())
    }

    async fn create_keys(&self, changes: &[KeyChange]) -> Result<(), StoreError> {
        super::check_creations(changes)?;
        let mut state = self.lock();
        state.transactions += 1;
        for change in changes {
            check(&state, change)?;
        }
        for change in changes {
            apply(&mut state, change.clone());
        }
        Ok(())
    }
}

/// Applies a change whose guards [`check`] has passed.
fn apply(state: &mut State, change: KeyChange) {
    for (status, class, delta) in change.compliance_moves() {
        state.count(&change.key().organization_id, status, class, delta);
    }
    let crate::change::ChangeParts {
        key,
        rotations,
        secrets,
        events,
        idempotency,
        outbox,
        emergencies,
    } = change.into_parts();
    state.emergencies.extend(emergencies);
    for entry in outbox {
        state
            .outbox
            .insert((entry.shard, entry.sort_key), entry.message);
    }
    if let Some(record) = idempotency {
        state.idempotency.insert(record.id.clone(), record);
    }
    for write in rotations {
        state
            .rotations
            .insert(write.rotation.id.clone(), write.rotation);
    }
    for write in secrets {
        match write {
            SecretWrite::Create(record) => {
                state.secrets.insert(record.lookup_hash, record);
            }
            SecretWrite::SetState {
                lookup_hash,
                state: new_state,
                state_mac,
            } => {
                if let Some(record) = state.secrets.get_mut(&lookup_hash) {
                    record.stage = new_state.stage;
                    record.expires_at = new_state.expires_at;
                    record.scopes = new_state.scopes;
                    record.rate_limit = new_state.rate_limit;
                    record.state_mac = state_mac;
                }
            }
        }
    }
    state
        .audit
        .entry(key.id.clone())
        .or_default()
        .extend(events);
    state.keys.insert(key.id.clone(), key);
}
