//! The DynamoDB adapter. Every change is one `TransactWriteItems` whose condition
//! expressions are the guards of [`KeyChange`]; reads of single items are strongly
//! consistent; the processor and the scanner read the sparse `due` and `age` indexes.
//!
//! - [`schema`]: the table, its indexes, the keys of every item;
//! - `items`: each item type's attributes (pinned by a golden test);
//! - `transaction`: a change as one guarded transaction;
//! - `queries`: partition and index queries.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, DeleteRequest, PutRequest, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, WriteRequest,
};
use aws_sdk_dynamodb::Client;

use self::items::{decode, key_item, s, secret_item, snapshot_item, Item};
use self::schema::{
    attr, idempotency_pk, key_pk, lease_pk, outbox_pk, secret_pk, IDEMPOTENCY_SK, KEY_SK, LEASE_SK,
    PK, SECRET_SK, SK,
};
use super::{KeyChange, Store, StoreError};
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
use crate::usage::UseRecord;

mod deliveries;
pub use deliveries::{NOTIFIER_INDEX_PARTITIONS, NOTIFIER_PARTITIONS};
mod items;
mod queries;
pub mod schema;
mod sweep;
mod transaction;

pub use schema::create_table;

fn unavailable<E, R>(operation: &str, error: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    StoreError::unavailable(operation, error)
}

/// A conditional write's outcome: `true` written, `false` refused by its condition;
/// any other failure is the store being unavailable.
fn conditional_outcome<O, E, R>(
    operation: &str,
    result: Result<O, SdkError<E, R>>,
) -> Result<bool, StoreError>
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(error)
            if error
                .as_service_error()
                .and_then(ProvideErrorMetadata::code)
                == Some("ConditionalCheckFailedException") =>
        {
            Ok(false)
        }
        Err(error) => Err(unavailable(operation, error)),
    }
}

/// How many times a batch write is sent before its unprocessed items are an error.
const BATCH_ATTEMPTS: u32 = 6;

/// The wait before resending a batch's unprocessed items: exponential from 50 ms,
/// capped at 1.6 s, of which a random half (`jitter` in [0, 1)) so that writers
/// throttled together do not come back together.
fn batch_backoff(attempt: u32, jitter: f64) -> std::time::Duration {
    let ceiling_ms = 50u64 << attempt.min(5);
    let jitter = jitter.clamp(0.0, 1.0);
    std::time::Duration::from_millis(((ceiling_ms as f64) * (0.5 + jitter / 2.0)) as u64)
}

/// How often a transaction that met only other transactions is sent again.
const TRANSACTION_RETRIES: u32 = 4;

pub struct DynamoStore {
    client: Client,
    table: String,
    reads: AtomicU64,
    writes: AtomicU64,
    items: AtomicU64,
    /// Items sent in transactions (each attempt counts).
    transacted: AtomicU64,
}

impl std::fmt::Debug for DynamoStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoStore")
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            reads: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            items: AtomicU64::new(0),
            transacted: AtomicU64::new(0),
        }
    }

    /// The table this store reads and writes.
    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// DynamoDB requests sent so far (every page of a query counts). Lets tests and
    /// benchmarks assert costs with counts rather than clocks.
    pub fn request_count(&self) -> u64 {
        self.read_count() + self.write_count()
    }

    /// GetItem and Query requests (every page counts).
    pub fn read_count(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// TransactWriteItems, BatchWriteItem, PutItem, UpdateItem and DeleteItem requests.
    pub fn write_count(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    /// Items written in transactions so far (a change's state, audit events, outbox
    /// entries, logs and counters): what a transaction costs grows with them.
    pub fn transacted_item_count(&self) -> u64 {
        self.transacted.load(Ordering::Relaxed)
    }

    fn count_read(&self) {
        self.reads.fetch_add(1, Ordering::Relaxed);
    }

    /// Items DynamoDB returned to queries and reads so far.
    pub fn items_read(&self) -> u64 {
        self.items.load(Ordering::Relaxed)
    }

    fn count_items(&self, n: usize) {
        self.items.fetch_add(n as u64, Ordering::Relaxed);
    }

    fn count_write(&self) {
        self.writes.fetch_add(1, Ordering::Relaxed);
    }

    /// Puts `item` whole, unconditionally (an item that is replaced, never guarded).
    async fn put(&self, item: Item) -> Result<(), StoreError> {
        self.count_write();
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| unavailable("PutItem", e))
    }

    async fn get(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        self.count_read();
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(pk))
            .key(SK, s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable("GetItem", e))?;
        self.count_items(usize::from(output.item.is_some()));
        Ok(output.item)
    }

    /// Loads keys with their secret records in bulk (BatchWriteItem, no guards, no
    /// audit events). For seeding benchmarks and fixtures only: nothing in keyroll
    /// calls it, because every real change must be a guarded, audited transaction.
    #[doc(hidden)]
    pub async fn bulk_load_for_benchmarks(
        &self,
        keys: &[(Key, SecretRecord)],
    ) -> Result<(), StoreError> {
        let mut requests = Vec::new();
        for (key, record) in keys {
            for item in [key_item(key)?, secret_item(record)?] {
                let put = PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map_err(|e| StoreError::Corrupt(format!("put request: {e}")))?;
                requests.push(WriteRequest::builder().put_request(put).build());
            }
        }
        self.batch_write(requests).await?;
        // The compliance totals, as the keys' creating changes would have moved them.
        let mut counters: HashMap<(String, u8), ComplianceCounts> = HashMap::new();
        for (key, _) in keys {
            let Some((status, class)) = crate::change::counted(key) else {
                continue;
            };
            let shard = crate::index::total_shard_of(&key.id);
            for scope in [None, Some(&key.organization_id)] {
                counters
                    .entry((schema::totals_pk(scope), shard))
                    .or_default()
                    .add(status, class, 1);
            }
        }
        for ((pk, shard), counts) in counters {
            let adds = transaction::CounterAdds::of(&counts.moves());
            self.count_write();
            self.client
                .update_item()
                .table_name(&self.table)
                .key(PK, s(pk))
                .key(SK, s(schema::totals_sk(shard)))
                .update_expression(adds.expression)
                .set_expression_attribute_names(Some(adds.names))
                .set_expression_attribute_values(Some(adds.values))
                .send()
                .await
                .map_err(|e| unavailable("UpdateItem", e))?;
        }
        Ok(())
    }

    /// Sends `requests` in BatchWriteItem calls of 25, resending what DynamoDB leaves
    /// unprocessed under load (up to 5 times per call).
    async fn batch_write(&self, requests: Vec<WriteRequest>) -> Result<(), StoreError> {
        for chunk in requests.chunks(25) {
            let mut pending = chunk.to_vec();
            for attempt in 0..BATCH_ATTEMPTS {
                if pending.is_empty() {
                    break;
                }
                if attempt > 0 {
                    // Unprocessed items mean the table is throttling: resending at
                    // once only adds to it.
                    tokio::time::sleep(batch_backoff(attempt, crate::random::unit_interval()))
                        .await;
                }
                self.count_write();
                let output = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, pending)
                    .send()
                    .await
                    .map_err(|e| unavailable("BatchWriteItem", e))?;
                pending = output
                    .unprocessed_items
                    .and_then(|mut items| items.remove(&self.table))
                    .unwrap_or_default();
            }
            if !pending.is_empty() {
                return Err(StoreError::unavailable_because(
                    "BatchWriteItem",
                    "items left unprocessed",
                ));
            }
        }
        Ok(())
    }

    /// A secret record written before use tracking has no `dailyUses` map, so the
    /// nested update is refused; its first use creates the map instead (same minute
    /// condition). Records with the map, or already used this minute, are left alone.
    async fn record_first_use(
        &self,
        lookup_hash: &LookupHash,
        record: &UseRecord,
    ) -> Result<bool, StoreError> {
        self.count_write();
        let result = self.first_use_write(lookup_hash, record).send().await;
        conditional_outcome("UpdateItem", result)
    }

    /// The first use of a record written before use tracking: creates its map.
    fn first_use_write(
        &self,
        lookup_hash: &LookupHash,
        record: &UseRecord,
    ) -> UpdateItemFluentBuilder {
        let daily = AttributeValue::M(HashMap::from([(
            record.day(),
            AttributeValue::N(record.uses.to_string()),
        )]));
        self.client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(secret_pk(lookup_hash)))
            .key(SK, s(SECRET_SK))
            .condition_expression(
                "attribute_exists(#pk) AND attribute_not_exists(#daily) \
                 AND (attribute_not_exists(#last) OR #last < :minute)",
            )
            .update_expression("SET #last = :at, #daily = :daily")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#last", attr::LAST_USED_AT)
            .expression_attribute_names("#daily", attr::DAILY_USES)
            .expression_attribute_values(":at", s(record.at.to_rfc3339()))
            .expression_attribute_values(":minute", s(record.at.start_of_minute().to_rfc3339()))
            .expression_attribute_values(":daily", daily)
    }

    /// A secret's caller log replaced, if it is still at revision `expected` (absent
    /// when `None`): the authorizer's other write, naming only
    /// [`USE_WRITE_ATTRIBUTES`] at the top level.
    fn callers_write(
        &self,
        lookup_hash: &LookupHash,
        log: &crate::callers::CallerLog,
        expected: Option<u64>,
    ) -> Result<UpdateItemFluentBuilder, StoreError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(secret_pk(lookup_hash)))
            .key(SK, s(schema::CALLERS_SK))
            .update_expression("SET #log = :log")
            .expression_attribute_names("#log", attr::CALLER_LOG)
            .expression_attribute_values(":log", items::attribute(log)?);
        Ok(match expected {
            None => update.condition_expression("attribute_not_exists(#log)"),
            Some(revision) => update
                .condition_expression("#log.#revision = :revision")
                .expression_attribute_names("#revision", "revision")
                .expression_attribute_values(":revision", AttributeValue::N(revision.to_string())),
        })
    }

    /// A use of a record: its last use and the day's count (the key authorizer's only
    /// write; [`USE_WRITE_ATTRIBUTES`] are all it names at the top level).
    fn use_write(&self, lookup_hash: &LookupHash, record: &UseRecord) -> UpdateItemFluentBuilder {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(secret_pk(lookup_hash)))
            .key(SK, s(SECRET_SK))
            .condition_expression(
                "attribute_exists(#pk) AND attribute_exists(#daily) \
                 AND (attribute_not_exists(#last) OR #last < :minute)",
            )
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#last", attr::LAST_USED_AT)
            .expression_attribute_names("#daily", attr::DAILY_USES)
            .expression_attribute_names("#day", record.day())
            .expression_attribute_values(":at", s(record.at.to_rfc3339()))
            .expression_attribute_values(":minute", s(record.at.start_of_minute().to_rfc3339()))
            .expression_attribute_values(":uses", AttributeValue::N(record.uses.to_string()))
            .expression_attribute_values(":zero", AttributeValue::N("0".into()));
        let mut expression =
            "SET #last = :at, #daily.#day = if_not_exists(#daily.#day, :zero) + :uses".to_owned();
        for (i, day) in record.forget_days.iter().enumerate() {
            expression.push_str(if i == 0 { " REMOVE " } else { ", " });
            expression.push_str(&format!("#daily.#forget{i}"));
            update = update.expression_attribute_names(format!("#forget{i}"), day);
        }
        // A refused write brings the record back, so a lost race (used this minute
        // already, the common case under load) costs one request; only a record from
        // before use tracking, without the map, needs the second write.
        update
            .update_expression(expression)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn key(&self, id: &KeyId) -> Result<Option<Key>, StoreError> {
        self.get(key_pk(id), KEY_SK).await?.map(decode).transpose()
    }

    async fn secret(&self, lookup_hash: &LookupHash) -> Result<Option<SecretRecord>, StoreError> {
        self.get(secret_pk(lookup_hash), SECRET_SK)
            .await?
            .map(decode)
            .transpose()
    }

    async fn record_use(
        &self,
        lookup_hash: &LookupHash,
        record: &UseRecord,
    ) -> Result<bool, StoreError> {
        self.count_write();
        let result = self.use_write(lookup_hash, record).send().await;
        match result {
            Ok(_) => Ok(true),
            Err(error) => {
                let refused = error.as_service_error().and_then(|e| match e {
                    UpdateItemError::ConditionalCheckFailedException(refusal) => {
                        Some(refusal.item())
                    }
                    _ => None,
                });
                match refused {
                    Some(Some(item)) if !item.contains_key(attr::DAILY_USES) => {
                        self.record_first_use(lookup_hash, record).await
                    }
                    Some(_) => Ok(false),
                    None => Err(unavailable("UpdateItem", error)),
                }
            }
        }
    }

    async fn record_callers(
        &self,
        lookup_hash: &LookupHash,
        sightings: &[crate::callers::Sighting],
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let read = self.callers(lookup_hash).await?;
        let existed = read.is_some();
        let mut log = read.unwrap_or_default();
        let expected = log.revision;
        log.record(sightings, now);
        self.count_write();
        let result = self
            .callers_write(lookup_hash, &log, existed.then_some(expected))?
            .send()
            .await;
        conditional_outcome("UpdateItem", result)
    }

    async fn callers(
        &self,
        lookup_hash: &LookupHash,
    ) -> Result<Option<crate::callers::CallerLog>, StoreError> {
        let Some(mut item) = self.get(secret_pk(lookup_hash), schema::CALLERS_SK).await? else {
            return Ok(None);
        };
        let log = item
            .remove(attr::CALLER_LOG)
            .ok_or_else(|| StoreError::Corrupt("a CALLERS item without its log".into()))?;
        serde_dynamo::from_attribute_value(log)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("caller log: {e}")))
    }

    async fn rotation(&self, id: &RotationId) -> Result<Option<Rotation>, StoreError> {
        self.rotation_by_id(id).await
    }

    async fn rotation_of_key(
        &self,
        key_id: &KeyId,
        id: &RotationId,
    ) -> Result<Option<Rotation>, StoreError> {
        self.rotation_in_key(key_id, id).await
    }

    async fn rotations_of(&self, key_id: &KeyId) -> Result<Vec<Rotation>, StoreError> {
        self.rotations_of_key(key_id).await
    }

    async fn keys_of(
        &self,
        organization: &OrganizationId,
        after: Option<&KeyId>,
        limit: usize,
    ) -> Result<Vec<KeyId>, StoreError> {
        self.query_org_keys(organization, after, limit).await
    }

    async fn audit_events(
        &self,
        key_id: &KeyId,
        after: Option<u64>,
        order: AuditOrder,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        self.audit_events_of(key_id, after, order, limit).await
    }

    async fn due_rotations(
        &self,
        shard: u8,
        due_by: Timestamp,
        after: Option<&DueRef>,
        limit: usize,
    ) -> Result<Vec<DueRef>, StoreError> {
        self.query_due(shard, due_by, after, limit).await
    }

    async fn list_keys(
        &self,
        filter: &KeyListFilter,
        before: Option<&ListedKey>,
        limit: usize,
    ) -> Result<Vec<ListedKey>, StoreError> {
        self.query_listed(filter, before, limit).await
    }

    async fn keys_with_prefix(&self, prefix: &str, limit: usize) -> Result<Vec<KeyId>, StoreError> {
        self.query_shown_prefix(prefix, limit).await
    }

    async fn expiring_keys(
        &self,
        shard: u8,
        due_by: Timestamp,
        after: Option<&ExpiryRef>,
        limit: usize,
    ) -> Result<Vec<ExpiryRef>, StoreError> {
        self.query_expiring(shard, due_by, after, limit).await
    }

    async fn aged_keys(
        &self,
        class: KeyClass,
        shard: u8,
        created_before: Timestamp,
        after: Option<&AgeRef>,
        limit: usize,
    ) -> Result<Vec<AgeRef>, StoreError> {
        self.query_aged(class, shard, created_before, after, limit)
            .await
    }

    async fn emergencies(
        &self,
        month: &str,
        before: Option<&EmergencyLogEntry>,
        limit: usize,
    ) -> Result<Vec<EmergencyLogEntry>, StoreError> {
        self.query_emergencies(month, before, limit).await
    }

    async fn compliance_entries(
        &self,
        partition: &CompliancePartition,
        range: &SortRange,
        limit: usize,
    ) -> Result<(Vec<ComplianceEntry>, bool), StoreError> {
        self.query_compliance(partition, range, limit).await
    }

    async fn compliance_counts(
        &self,
        organization: Option<&OrganizationId>,
    ) -> Result<ComplianceCounts, StoreError> {
        self.query_totals(organization).await
    }

    async fn key_policy(
        &self,
        organization: &OrganizationId,
    ) -> Result<Option<crate::key_policy::KeyPolicy>, StoreError> {
        self.get(schema::org_pk(organization), schema::KEY_POLICY_SK)
            .await?
            .map(decode)
            .transpose()
    }

    async fn put_key_policy(
        &self,
        policy: &crate::key_policy::KeyPolicy,
    ) -> Result<(), StoreError> {
        let item = items::keyed(
            policy,
            schema::org_pk(&policy.organization_id),
            schema::KEY_POLICY_SK.into(),
        )?;
        self.put(item).await
    }

    async fn put_snapshot(&self, snapshot: &ComplianceSnapshot) -> Result<(), StoreError> {
        self.put(snapshot_item(snapshot)?).await
    }

    async fn snapshots(&self, limit: usize) -> Result<Vec<ComplianceSnapshot>, StoreError> {
        self.query_snapshots(limit).await
    }

    async fn count_active(&self, class: KeyClass, shard: u8) -> Result<u64, StoreError> {
        self.count_age_index(class, shard).await
    }

    async fn idempotency(&self, id: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.get(idempotency_pk(id), IDEMPOTENCY_SK)
            .await?
            .map(decode)
            .transpose()
    }

    async fn outbox(
        &self,
        shard: u8,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        self.query_outbox(shard, after, limit).await
    }

    async fn remove_outbox(&self, entries: &[(u8, String)]) -> Result<(), StoreError> {
        let mut requests = Vec::new();
        for (shard, sort_key) in entries {
            let delete = DeleteRequest::builder()
                .key(PK, s(outbox_pk(*shard)))
                .key(SK, s(sort_key.clone()))
                .build()
                .map_err(|e| StoreError::Corrupt(format!("delete request: {e}")))?;
            requests.push(WriteRequest::builder().delete_request(delete).build());
        }
        self.batch_write(requests).await
    }

    async fn try_lease(
        &self,
        name: &str,
        owner: &str,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.count_write();
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(PK, s(lease_pk(name)))
            .item(SK, s(LEASE_SK))
            .item(attr::OWNER, s(owner))
            .item(attr::UNTIL, s(until.to_rfc3339()))
            .condition_expression("attribute_not_exists(#pk) OR #owner = :owner OR #until <= :now")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#owner", attr::OWNER)
            .expression_attribute_names("#until", attr::UNTIL)
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":now", s(now.to_rfc3339()))
            .send()
            .await;
        conditional_outcome("PutItem", result)
    }

    async fn release_lease(&self, name: &str, owner: &str) -> Result<(), StoreError> {
        self.count_write();
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(PK, s(lease_pk(name)))
            .key(SK, s(LEASE_SK))
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", attr::OWNER)
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        // Someone else holding the lease (ours expired) is fine too.
        conditional_outcome("DeleteItem", result).map(|_| ())
    }

    async fn put_held_marker(&self, marker: &HeldMarker) -> Result<(), StoreError> {
        self.count_write();
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(items::held_marker_item(marker)?))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| unavailable("PutItem", e))
    }

    async fn held_markers(
        &self,
        before: Timestamp,
        limit: usize,
    ) -> Result<Vec<HeldMarker>, StoreError> {
        self.query_held_markers(before, limit).await
    }

    async fn remove_held_marker(&self, marker: &HeldMarker) -> Result<(), StoreError> {
        self.count_write();
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(PK, s(schema::HELD_PK))
            .key(SK, s(marker.sort_key()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| unavailable("DeleteItem", e))
    }

    async fn sweep_legacy(&self, limit: usize) -> Result<super::SweepPage, StoreError> {
        self.sweep_page(limit).await
    }

    async fn authenticate_secret_record(&self, record: &SecretRecord) -> Result<bool, StoreError> {
        self.authenticate_record(record).await
    }

    async fn commit(&self, change: KeyChange) -> Result<(), StoreError> {
        let writes = transaction::transaction(&self.table, &change)?;
        self.transact(writes).await
    }

    async fn create_keys(&self, changes: &[KeyChange]) -> Result<(), StoreError> {
        let writes = transaction::creations(&self.table, changes)?;
        if writes.is_empty() {
            return Ok(());
        }
        self.transact(writes).await
    }
}

impl DynamoStore {
    /// Sends one TransactWriteItems; sent again, a few times, while it meets only other
    /// transactions.
    async fn transact(&self, writes: Vec<TransactWriteItem>) -> Result<(), StoreError> {
        let mut attempt = 0u32;
        loop {
            self.count_write();
            self.transacted
                .fetch_add(writes.len() as u64, Ordering::Relaxed);
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(writes.clone()))
                .send()
                .await;
            match result {
                Ok(_) => return Ok(()),
                // Nothing was applied and no guard failed: another transaction held
                // one of the items (a shared counter, most often). Sent again after a
                // short, random pause, a few times, before it counts as a conflict.
                Err(error)
                    if attempt < TRANSACTION_RETRIES
                        && transaction::only_met_other_transactions(&error) =>
                {
                    attempt += 1;
                    let jitter = u64::from(crate::random::bytes::<1>()[0]) % 20;
                    tokio::time::sleep(std::time::Duration::from_millis(
                        u64::from(attempt) * 10 + jitter,
                    ))
                    .await;
                }
                Err(error) => return Err(transaction::classify_transaction_error(error)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offline_store() -> DynamoStore {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("eu-west-1"))
            .build();
        DynamoStore::new(Client::from_conf(config), "keyroll")
    }

    /// The key authorizer's role allows exactly USE_WRITE_ATTRIBUTES on SECRET# items
    /// (tests/template.rs): the use writes must name nothing else at the top level.
    #[test]
    fn the_use_writes_touch_only_what_the_authorizer_role_allows() {
        let store = offline_store();
        let hash = LookupHash::of("sk_live_example");
        let record = UseRecord::new(Timestamp::parse("2026-03-01T12:00:00Z").unwrap(), 3);
        assert!(
            !record.forget_days.is_empty(),
            "the REMOVE branch is covered"
        );
        for write in [
            store.use_write(&hash, &record),
            store.first_use_write(&hash, &record),
        ] {
            let input = write.as_input();
            let key = input.get_key().as_ref().unwrap();
            assert!(key[PK]
                .as_s()
                .unwrap()
                .starts_with(schema::SECRET_PK_PREFIX));
            let mut named: Vec<&str> = key.keys().map(String::as_str).collect();
            let expressions = [
                input.get_update_expression().clone().unwrap_or_default(),
                input.get_condition_expression().clone().unwrap_or_default(),
            ]
            .join(" ");
            for (placeholder, name) in input.get_expression_attribute_names().as_ref().unwrap() {
                // A top-level name stands alone; `#daily.#day` names a map entry.
                let top_level = expressions
                    .match_indices(placeholder.as_str())
                    .any(|(at, _)| !expressions[..at].ends_with('.'));
                if top_level {
                    named.push(name);
                }
            }
            for name in named {
                assert!(
                    schema::USE_WRITE_ATTRIBUTES.contains(&name),
                    "the use write names {name}"
                );
            }
        }
    }

    #[test]
    fn unprocessed_batch_items_are_resent_after_a_growing_randomised_wait() {
        let waits: Vec<u128> = (1..BATCH_ATTEMPTS)
            .map(|attempt| batch_backoff(attempt, 0.0).as_millis())
            .collect();
        assert_eq!(waits, vec![50, 100, 200, 400, 800]);
        assert_eq!(batch_backoff(1, 0.999).as_millis(), 99);
        assert_eq!(batch_backoff(40, 1.0).as_millis(), 1600);
        assert!(batch_backoff(3, f64::NAN) <= batch_backoff(3, 1.0));
    }
}
