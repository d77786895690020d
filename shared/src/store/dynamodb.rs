//! The DynamoDB adapter. Every change is one `TransactWriteItems` whose condition
//! expressions are the guards of [`KeyChange`]; reads of single items are strongly
//! consistent; the processor and the scanner read the sparse `due` and `age` indexes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, DeleteRequest, Put, TransactWriteItem, Update, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::table::{AGE_INDEX, AGE_PK, AGE_SK, DUE_INDEX, DUE_PK, DUE_SK, PK, SK};
use super::{AgeRef, DueRef, KeyChange, RotationWrite, SecretWrite, Store, StoreError};
use crate::audit::AuditEvent;
use crate::compliance::ComplianceSnapshot;
use crate::idempotency::IdempotencyRecord;
use crate::ids::{KeyId, RotationId};
use crate::key::{Key, KeyClass, SecretRecord};
use crate::notification::{OutboxEntry, OutboxMessage};
use crate::rotation::Rotation;
use crate::secret::LookupHash;
use crate::time::Timestamp;

type Item = HashMap<String, AttributeValue>;

const KEY_SK: &str = "KEY";
const ROTATION_SK_PREFIX: &str = "ROT#";
const AUDIT_SK_PREFIX: &str = "AUDIT#";
const POINTER_SK: &str = "ROT";
const SECRET_SK: &str = "SECRET";
const IDEMPOTENCY_SK: &str = "IDEM";

fn key_pk(id: &KeyId) -> String {
    format!("KEY#{id}")
}
fn rotation_sk(id: &RotationId) -> String {
    format!("{ROTATION_SK_PREFIX}{id}")
}
fn pointer_pk(id: &RotationId) -> String {
    format!("ROT#{id}")
}
fn secret_pk(hash: &LookupHash) -> String {
    format!("SECRET#{}", hash.to_hex())
}
fn idempotency_pk(id: &str) -> String {
    format!("IDEM#{id}")
}
fn outbox_pk(shard: u8) -> String {
    format!("OUTBOX#{shard}")
}
fn audit_sk(seq: u64) -> String {
    format!("{AUDIT_SK_PREFIX}{seq:020}")
}
fn due_pk(shard: u8) -> String {
    format!("DUE#{shard}")
}
fn age_pk(class: KeyClass, shard: u8) -> String {
    let class = match class {
        KeyClass::Server => "server",
        KeyClass::Embedded => "embedded",
    };
    format!("AGE#{class}#{shard}")
}

fn s(text: impl Into<String>) -> AttributeValue {
    AttributeValue::S(text.into())
}

fn encode<T: Serialize>(value: &T) -> Result<Item, StoreError> {
    serde_dynamo::to_item(value).map_err(|e| StoreError::Corrupt(format!("encode: {e}")))
}

fn decode<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(format!("decode: {e}")))
}

fn text_attribute<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| StoreError::Corrupt(format!("item has no string attribute {name}")))
}

fn corrupt(error: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(error.to_string())
}

/// An index sort key `<time>#<id>`, split into its parts.
fn split_index_sort_key<'a>(
    item: &'a Item,
    attribute: &str,
) -> Result<(Timestamp, &'a str), StoreError> {
    let sort = text_attribute(item, attribute)?;
    let (time, id) = sort
        .split_once('#')
        .ok_or_else(|| StoreError::Corrupt(format!("{attribute} {sort:?}")))?;
    Ok((Timestamp::parse(time).map_err(corrupt)?, id))
}

fn unavailable<E, R>(operation: &str, error: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    StoreError::Unavailable(format!("{operation}: {}", DisplayErrorContext(&error)))
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

fn key_item(key: &Key) -> Result<Item, StoreError> {
    let mut item = encode(key)?;
    item.insert(PK.into(), s(key_pk(&key.id)));
    item.insert(SK.into(), s(KEY_SK));
    if let Some(age) = AgeRef::of(key) {
        item.insert(AGE_PK.into(), s(age_pk(age.class, age.shard())));
        item.insert(AGE_SK.into(), s(age.sort_key()));
    }
    Ok(item)
}

fn rotation_item(rotation: &Rotation) -> Result<Item, StoreError> {
    let mut item = encode(rotation)?;
    item.insert(PK.into(), s(key_pk(&rotation.key_id)));
    item.insert(SK.into(), s(rotation_sk(&rotation.id)));
    if let Some(due) = DueRef::of(rotation) {
        item.insert(DUE_PK.into(), s(due_pk(due.shard())));
        item.insert(DUE_SK.into(), s(due.sort_key()));
    }
    Ok(item)
}

fn secret_item(record: &SecretRecord) -> Result<Item, StoreError> {
    let mut item = encode(record)?;
    item.insert(PK.into(), s(secret_pk(&record.lookup_hash)));
    item.insert(SK.into(), s(SECRET_SK));
    Ok(item)
}

/// Audit events are stored as their exact JSON so the hashed content round-trips
/// byte for byte; a few fields are repeated as attributes for people reading the table.
fn audit_item(event: &AuditEvent) -> Result<Item, StoreError> {
    let json = serde_json::to_string(event)
        .map_err(|e| StoreError::Corrupt(format!("encode audit: {e}")))?;
    Ok(HashMap::from([
        (PK.into(), s(key_pk(&event.key_id))),
        (SK.into(), s(audit_sk(event.seq))),
        ("seq".into(), AttributeValue::N(event.seq.to_string())),
        (
            "action".into(),
            s(serde_json::to_value(event.action)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()),
        ),
        ("at".into(), s(event.at.to_rfc3339())),
        ("event".into(), s(json)),
    ]))
}

fn audit_from_item(item: &Item) -> Result<AuditEvent, StoreError> {
    serde_json::from_str(text_attribute(item, "event")?)
        .map_err(|e| StoreError::Corrupt(format!("audit event: {e}")))
}

fn put(
    table: &str,
    item: Item,
    condition: &str,
    names: &[(&str, &str)],
    values: Item,
) -> Result<TransactWriteItem, StoreError> {
    let mut builder = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression(condition);
    for (placeholder, name) in names {
        builder = builder.expression_attribute_names(*placeholder, *name);
    }
    if !values.is_empty() {
        builder = builder.set_expression_attribute_values(Some(values));
    }
    let put = builder
        .build()
        .map_err(|e| StoreError::Corrupt(format!("put: {e}")))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

pub struct DynamoStore {
    client: Client,
    table: String,
    reads: AtomicU64,
    writes: AtomicU64,
}

impl std::fmt::Debug for DynamoStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoStore")
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

impl DynamoStore {
    /// A secret record written before use tracking has no `dailyUses` map, so the
    /// nested update is refused; its first use creates the map instead (same minute
    /// condition). Records with the map, or already used this minute, are left alone.
    async fn record_first_use(
        &self,
        lookup_hash: &LookupHash,
        record: &crate::usage::UseRecord,
    ) -> Result<bool, StoreError> {
        self.count_write();
        let daily = AttributeValue::M(HashMap::from([(
            record.day(),
            AttributeValue::N(record.uses.to_string()),
        )]));
        let result = self
            .client
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
            .expression_attribute_names("#last", "lastUsedAt")
            .expression_attribute_names("#daily", "dailyUses")
            .expression_attribute_values(":at", s(record.at.to_rfc3339()))
            .expression_attribute_values(":minute", s(record.at.start_of_minute().to_rfc3339()))
            .expression_attribute_values(":daily", daily)
            .send()
            .await;
        conditional_outcome("UpdateItem", result)
    }

    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            reads: AtomicU64::new(0),
            writes: AtomicU64::new(0),
        }
    }

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

    /// TransactWriteItems, BatchWriteItem, PutItem and DeleteItem requests.
    /// The table this store reads and writes.
    pub fn table_name(&self) -> &str {
        &self.table
    }

    pub fn write_count(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    fn count(&self) {
        self.reads.fetch_add(1, Ordering::Relaxed);
    }

    fn count_write(&self) {
        self.writes.fetch_add(1, Ordering::Relaxed);
    }

    async fn get(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        self.count();
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
        Ok(output.item)
    }

    /// Every item of partition `pk` whose sort key starts with `prefix`, consistently.
    async fn query_partition(
        &self,
        pk: String,
        prefix: &str,
        forward: bool,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            self.count();
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":pk", s(pk.clone()))
                .expression_attribute_values(":prefix", s(prefix))
                .consistent_read(true)
                .scan_index_forward(forward)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| unavailable("Query", e))?;
            items.extend(output.items.unwrap_or_default());
            match output.last_evaluated_key {
                Some(next) if !next.is_empty() => start = Some(next),
                _ => return Ok(items),
            }
        }
    }

    /// Up to `limit` items of a sharded sparse index with sort key `<= upper`, after
    /// `after` (whose full index key is rebuilt from the item it names).
    async fn query_index(
        &self,
        index: &str,
        (pk_name, sk_name): (&str, &str),
        pk_value: String,
        upper: String,
        after: Option<Item>,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = after;
        while items.len() < limit {
            self.count();
            let page = i32::try_from(limit - items.len()).unwrap_or(i32::MAX);
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression("#pk = :pk AND #sk <= :upper")
                .expression_attribute_names("#pk", pk_name)
                .expression_attribute_names("#sk", sk_name)
                .expression_attribute_values(":pk", s(pk_value.clone()))
                .expression_attribute_values(":upper", s(upper.clone()))
                .limit(page)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| unavailable("Query", e))?;
            items.extend(output.items.unwrap_or_default());
            match output.last_evaluated_key {
                Some(next) if !next.is_empty() => start = Some(next),
                _ => break,
            }
        }
        items.truncate(limit);
        Ok(items)
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
                let put = aws_sdk_dynamodb::types::PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map_err(|e| StoreError::Corrupt(format!("put request: {e}")))?;
                requests.push(WriteRequest::builder().put_request(put).build());
            }
        }
        self.batch_write(requests).await
    }

    /// Sends `requests` in BatchWriteItem calls of 25, resending what DynamoDB leaves
    /// unprocessed under load (up to 5 times per call).
    async fn batch_write(&self, requests: Vec<WriteRequest>) -> Result<(), StoreError> {
        for chunk in requests.chunks(25) {
            let mut pending = chunk.to_vec();
            for _ in 0..5 {
                if pending.is_empty() {
                    break;
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
                return Err(StoreError::Unavailable(
                    "batch write items left unprocessed".into(),
                ));
            }
        }
        Ok(())
    }

    fn transaction(&self, change: &KeyChange) -> Result<Vec<TransactWriteItem>, StoreError> {
        let table = self.table.as_str();
        let mut writes = Vec::new();
        let key = key_item(&change.key)?;
        writes.push(match change.expected_revision {
            None => put(
                table,
                key,
                "attribute_not_exists(#pk)",
                &[("#pk", PK)],
                Item::new(),
            )?,
            Some(revision) => put(
                table,
                key,
                "#revision = :revision",
                &[("#revision", "revision")],
                HashMap::from([(":revision".into(), AttributeValue::N(revision.to_string()))]),
            )?,
        });
        for RotationWrite {
            rotation,
            expected_status,
        } in &change.rotations
        {
            let item = rotation_item(rotation)?;
            match expected_status {
                None => {
                    writes.push(put(
                        table,
                        item,
                        "attribute_not_exists(#pk)",
                        &[("#pk", PK)],
                        Item::new(),
                    )?);
                    let pointer = HashMap::from([
                        (PK.into(), s(pointer_pk(&rotation.id))),
                        (SK.into(), s(POINTER_SK)),
                        ("keyId".into(), s(rotation.key_id.as_str())),
                    ]);
                    writes.push(put(
                        table,
                        pointer,
                        "attribute_not_exists(#pk)",
                        &[("#pk", PK)],
                        Item::new(),
                    )?);
                }
                Some(status) => writes.push(put(
                    table,
                    item,
                    "#status = :status",
                    &[("#status", "status")],
                    HashMap::from([(":status".into(), s(status.as_str()))]),
                )?),
            }
        }
        for write in &change.secrets {
            match write {
                SecretWrite::Create(record) => writes.push(put(
                    table,
                    secret_item(record)?,
                    "attribute_not_exists(#pk)",
                    &[("#pk", PK)],
                    Item::new(),
                )?),
                SecretWrite::SetState { lookup_hash, state } => {
                    let stage = serde_json::to_value(state.stage)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default();
                    let mut update = Update::builder()
                        .table_name(&self.table)
                        .key(PK, s(secret_pk(lookup_hash)))
                        .key(SK, s(SECRET_SK))
                        .condition_expression("attribute_exists(#pk)")
                        .expression_attribute_names("#pk", PK)
                        .expression_attribute_names("#stage", "stage")
                        .expression_attribute_names("#expires", "expiresAt")
                        .expression_attribute_values(":stage", s(stage));
                    update = match state.expires_at {
                        Some(expiry) => update
                            .update_expression("SET #stage = :stage, #expires = :expires")
                            .expression_attribute_values(":expires", s(expiry.to_rfc3339())),
                        None => update.update_expression("SET #stage = :stage REMOVE #expires"),
                    };
                    let update = update
                        .build()
                        .map_err(|e| StoreError::Corrupt(format!("update: {e}")))?;
                    writes.push(TransactWriteItem::builder().update(update).build());
                }
            }
        }
        if let Some(record) = &change.idempotency {
            let mut item = encode(record)?;
            item.insert(PK.into(), s(idempotency_pk(&record.id)));
            item.insert(SK.into(), s(IDEMPOTENCY_SK));
            // An expired record may be replaced; a live one may not.
            writes.push(put(
                table,
                item,
                "attribute_not_exists(#pk) OR #expires <= :now",
                &[("#pk", PK), ("#expires", "expiresAt")],
                HashMap::from([(":now".into(), s(record.created_at.to_rfc3339()))]),
            )?);
        }
        for entry in &change.outbox {
            let message = serde_json::to_string(&entry.message)
                .map_err(|e| StoreError::Corrupt(format!("encode outbox: {e}")))?;
            let item = HashMap::from([
                (PK.into(), s(outbox_pk(entry.shard))),
                (SK.into(), s(entry.sort_key.clone())),
                ("message".into(), s(message)),
            ]);
            writes.push(put(
                table,
                item,
                "attribute_not_exists(#pk)",
                &[("#pk", PK)],
                Item::new(),
            )?);
        }
        for entry in &change.emergencies {
            let item = HashMap::from([
                (PK.into(), s(format!("EMERGENCY#{}", entry.month()))),
                (SK.into(), s(format!("{}#{}", entry.at, entry.rotation_id))),
                ("keyId".into(), s(entry.key_id.as_str())),
            ]);
            writes.push(put(
                table,
                item,
                "attribute_not_exists(#pk)",
                &[("#pk", PK)],
                Item::new(),
            )?);
        }
        for event in &change.events {
            writes.push(put(
                table,
                audit_item(event)?,
                "attribute_not_exists(#pk)",
                &[("#pk", PK)],
                Item::new(),
            )?);
        }
        Ok(writes)
    }
}

/// Condition failures and transaction conflicts mean "someone else changed it first";
/// everything else is an availability problem.
fn classify_transaction_error<R>(error: SdkError<TransactWriteItemsError, R>) -> StoreError
where
    R: std::fmt::Debug + Send + Sync + 'static,
{
    if let SdkError::ServiceError(service) = &error {
        if let TransactWriteItemsError::TransactionCanceledException(cancelled) = service.err() {
            let codes: Vec<&str> = cancelled
                .cancellation_reasons()
                .iter()
                .filter_map(|reason| reason.code())
                .filter(|code| *code != "None")
                .collect();
            if codes
                .iter()
                .all(|c| matches!(*c, "ConditionalCheckFailed" | "TransactionConflict"))
            {
                return StoreError::Conflict;
            }
            return StoreError::Unavailable(format!("transaction cancelled: {}", codes.join(", ")));
        }
        if service.err().code() == Some("TransactionConflictException") {
            return StoreError::Conflict;
        }
    }
    StoreError::Unavailable(format!(
        "TransactWriteItems: {}",
        DisplayErrorContext(&error)
    ))
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
        record: &crate::usage::UseRecord,
    ) -> Result<bool, StoreError> {
        self.count_write();
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
            .expression_attribute_names("#last", "lastUsedAt")
            .expression_attribute_names("#daily", "dailyUses")
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
        if conditional_outcome(
            "UpdateItem",
            update.update_expression(expression).send().await,
        )? {
            Ok(true)
        } else {
            self.record_first_use(lookup_hash, record).await
        }
    }

    async fn rotation(&self, id: &RotationId) -> Result<Option<Rotation>, StoreError> {
        let Some(pointer) = self.get(pointer_pk(id), POINTER_SK).await? else {
            return Ok(None);
        };
        let key_id = KeyId::parse(text_attribute(&pointer, "keyId")?)
            .map_err(|e| StoreError::Corrupt(format!("rotation pointer: {e}")))?;
        self.get(key_pk(&key_id), &rotation_sk(id))
            .await?
            .map(decode)
            .transpose()
    }

    async fn rotations_of(&self, key_id: &KeyId) -> Result<Vec<Rotation>, StoreError> {
        self.query_partition(key_pk(key_id), ROTATION_SK_PREFIX, false)
            .await?
            .into_iter()
            .map(decode)
            .collect()
    }

    async fn audit_events(&self, key_id: &KeyId) -> Result<Vec<AuditEvent>, StoreError> {
        self.query_partition(key_pk(key_id), AUDIT_SK_PREFIX, true)
            .await?
            .iter()
            .map(audit_from_item)
            .collect()
    }

    async fn due_rotations(
        &self,
        shard: u8,
        due_by: Timestamp,
        after: Option<&DueRef>,
        limit: usize,
    ) -> Result<Vec<DueRef>, StoreError> {
        let start = after.map(|a| {
            HashMap::from([
                (PK.to_owned(), s(key_pk(&a.key_id))),
                (SK.to_owned(), s(rotation_sk(&a.rotation_id))),
                (DUE_PK.to_owned(), s(due_pk(shard))),
                (DUE_SK.to_owned(), s(a.sort_key())),
            ])
        });
        // '~' sorts after every id character, so "<due_by>#~" includes all due at due_by.
        let upper = format!("{due_by}#~");
        let items = self
            .query_index(
                DUE_INDEX,
                (DUE_PK, DUE_SK),
                due_pk(shard),
                upper,
                start,
                limit,
            )
            .await?;
        items
            .iter()
            .map(|item| {
                let (due_at, rotation) = split_index_sort_key(item, DUE_SK)?;
                let key = text_attribute(item, PK)?.trim_start_matches("KEY#");
                Ok(DueRef {
                    due_at,
                    rotation_id: RotationId::parse(rotation).map_err(corrupt)?,
                    key_id: KeyId::parse(key).map_err(corrupt)?,
                })
            })
            .collect()
    }

    async fn aged_keys(
        &self,
        class: KeyClass,
        shard: u8,
        created_before: Timestamp,
        after: Option<&AgeRef>,
        limit: usize,
    ) -> Result<Vec<AgeRef>, StoreError> {
        let start = after.map(|a| {
            HashMap::from([
                (PK.to_owned(), s(key_pk(&a.key_id))),
                (SK.to_owned(), s(KEY_SK)),
                (AGE_PK.to_owned(), s(age_pk(class, shard))),
                (AGE_SK.to_owned(), s(a.sort_key())),
            ])
        });
        // Strictly before: "<created_before>#" sorts before every key created then.
        let upper = format!("{created_before}#");
        let items = self
            .query_index(
                AGE_INDEX,
                (AGE_PK, AGE_SK),
                age_pk(class, shard),
                upper,
                start,
                limit,
            )
            .await?;
        items
            .iter()
            .map(|item| {
                let (created_at, key) = split_index_sort_key(item, AGE_SK)?;
                Ok(AgeRef {
                    class,
                    created_at,
                    key_id: KeyId::parse(key).map_err(corrupt)?,
                })
            })
            .collect()
    }

    async fn emergencies(&self, month: &str) -> Result<Vec<super::EmergencyLogEntry>, StoreError> {
        self.query_partition(format!("EMERGENCY#{month}"), "", false)
            .await?
            .iter()
            .map(|item| {
                let (at, rotation) = split_index_sort_key(item, SK)?;
                Ok(super::EmergencyLogEntry {
                    at,
                    rotation_id: RotationId::parse(rotation).map_err(corrupt)?,
                    key_id: KeyId::parse(text_attribute(item, "keyId")?).map_err(corrupt)?,
                })
            })
            .collect()
    }

    async fn put_snapshot(&self, snapshot: &ComplianceSnapshot) -> Result<(), StoreError> {
        let mut item = encode(snapshot)?;
        item.insert(PK.into(), s("COMPLIANCE"));
        item.insert(SK.into(), s(format!("SNAPSHOT#{}", snapshot.date)));
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

    async fn snapshots(&self, limit: usize) -> Result<Vec<ComplianceSnapshot>, StoreError> {
        self.count();
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":pk", s("COMPLIANCE"))
            .expression_attribute_values(":prefix", s("SNAPSHOT#"))
            .scan_index_forward(false)
            .limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| unavailable("Query", e))?;
        output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(decode)
            .collect()
    }

    async fn count_active(&self, class: KeyClass, shard: u8) -> Result<u64, StoreError> {
        let mut total = 0u64;
        let mut start: Option<Item> = None;
        loop {
            self.count();
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(AGE_INDEX)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", AGE_PK)
                .expression_attribute_values(":pk", s(age_pk(class, shard)))
                .select(aws_sdk_dynamodb::types::Select::Count)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| unavailable("Query", e))?;
            total += u64::try_from(output.count).unwrap_or(0);
            match output.last_evaluated_key {
                Some(next) if !next.is_empty() => start = Some(next),
                _ => return Ok(total),
            }
        }
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
        let mut entries = Vec::new();
        let mut start: Option<Item> = after
            .map(|a| HashMap::from([(PK.to_owned(), s(outbox_pk(shard))), (SK.to_owned(), s(a))]));
        while entries.len() < limit {
            self.count();
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_values(":pk", s(outbox_pk(shard)))
                .consistent_read(true)
                .limit(i32::try_from(limit - entries.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| unavailable("Query", e))?;
            for item in output.items.unwrap_or_default() {
                let message: OutboxMessage =
                    serde_json::from_str(text_attribute(&item, "message")?)
                        .map_err(|e| StoreError::Corrupt(format!("outbox message: {e}")))?;
                entries.push(OutboxEntry {
                    shard,
                    sort_key: text_attribute(&item, SK)?.to_owned(),
                    message,
                });
            }
            match output.last_evaluated_key {
                Some(next) if !next.is_empty() => start = Some(next),
                _ => break,
            }
        }
        Ok(entries)
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
            .item(PK, s(format!("LEASE#{name}")))
            .item(SK, s("LEASE"))
            .item("owner", s(owner))
            .item("until", s(until.to_rfc3339()))
            .condition_expression("attribute_not_exists(#pk) OR #owner = :owner OR #until <= :now")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_names("#until", "until")
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
            .key(PK, s(format!("LEASE#{name}")))
            .key(SK, s("LEASE"))
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        // Someone else holding the lease (ours expired) is fine too.
        conditional_outcome("DeleteItem", result).map(|_| ())
    }

    async fn commit(&self, change: KeyChange) -> Result<(), StoreError> {
        let writes = self.transaction(&change)?;
        self.count_write();
        self.client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await
            .map(|_| ())
            .map_err(classify_transaction_error)
    }
}
