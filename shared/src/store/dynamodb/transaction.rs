//! A [`KeyChange`] as one `TransactWriteItems`: every item a put or update whose
//! condition expression is the change's guard for it, so the transaction applies
//! entirely or not at all.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};

use super::items::{
    attribute, audit_item, emergency_item, idempotency_item, key_item, outbox_item, pointer_item,
    rotation_item, s, secret_item, Item,
};
use super::schema::{attr, counter_attribute, secret_pk, totals_pk, totals_sk, PK, SECRET_SK, SK};
use crate::change::{KeyChange, RotationWrite, SecretWrite};
use crate::compliance::{ComplianceCounts, KeyComplianceStatus};
use crate::error::StoreError;
use crate::index::total_shard_of;
use crate::key::KeyClass;

/// A put guarded by `condition`, whose `#name`s and `:value`s are given.
fn put_if(
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

/// A put of an item that must not exist yet: every append (events, outbox entries,
/// log entries) and every creation.
pub fn put_new(table: &str, item: Item) -> Result<TransactWriteItem, StoreError> {
    put_if(
        table,
        item,
        "attribute_not_exists(#pk)",
        &[("#pk", PK)],
        Item::new(),
    )
}

/// A secret record's new stage, expiry, scopes and rate limit; the record must exist.
fn set_secret_state(
    table: &str,
    write: &SecretWrite,
) -> Result<Option<TransactWriteItem>, StoreError> {
    let SecretWrite::SetState {
        lookup_hash,
        state,
        state_mac,
    } = write
    else {
        return Ok(None);
    };
    let mut update = Update::builder()
        .table_name(table)
        .key(PK, s(secret_pk(lookup_hash)))
        .key(SK, s(SECRET_SK))
        .condition_expression("attribute_exists(#pk)")
        .expression_attribute_names("#pk", PK)
        .expression_attribute_names("#stage", attr::STAGE)
        .expression_attribute_names("#expires", attr::EXPIRES_AT)
        .expression_attribute_names("#scopes", attr::SCOPES)
        .expression_attribute_names("#rate", attr::RATE_LIMIT)
        .expression_attribute_names("#smac", attr::STATE_MAC)
        .expression_attribute_values(":stage", s(state.stage.as_str()))
        .expression_attribute_values(":scopes", attribute(&state.scopes)?)
        .expression_attribute_values(":rate", AttributeValue::N(state.rate_limit.to_string()));
    // What is set, and what is removed (an expiry or a MAC the new state has not).
    let mut set = vec!["#stage = :stage", "#scopes = :scopes", "#rate = :rate"];
    let mut remove = Vec::new();
    match state.expires_at {
        Some(expiry) => {
            set.push("#expires = :expires");
            update = update.expression_attribute_values(":expires", s(expiry.to_rfc3339()));
        }
        None => remove.push("#expires"),
    }
    match state_mac {
        Some(mac) => {
            set.push("#smac = :smac");
            update = update.expression_attribute_values(":smac", s(mac.as_str()));
        }
        None => remove.push("#smac"),
    }
    let mut expression = format!("SET {}", set.join(", "));
    if !remove.is_empty() {
        expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
    }
    update = update.update_expression(expression);
    let update = update
        .build()
        .map_err(|e| StoreError::Corrupt(format!("update: {e}")))?;
    Ok(Some(TransactWriteItem::builder().update(update).build()))
}

/// The writes of `change`, each with its guard.
pub fn transaction(table: &str, change: &KeyChange) -> Result<Vec<TransactWriteItem>, StoreError> {
    let mut writes = item_writes(table, change)?;
    writes.extend(move_counters(table, change)?);
    Ok(writes)
}

/// The writes of changes that each create a key, as one transaction: each change's
/// items with their guards, then the compliance counters moved once for them all — in
/// one counter shard (the first key's), so that batches running side by side meet on
/// few counter items. The totals are the sum of every shard, whichever holds a count.
pub fn creations(table: &str, changes: &[KeyChange]) -> Result<Vec<TransactWriteItem>, StoreError> {
    let Some(first) = changes.first() else {
        return Ok(Vec::new());
    };
    // DynamoDB refuses a transaction naming one item twice with a validation error:
    // refused as a conflict first, as the memory store does.
    crate::store::check_creations(changes)?;
    let mut writes = Vec::new();
    let mut counts: HashMap<Option<&crate::ids::OrganizationId>, ComplianceCounts> = HashMap::new();
    for change in changes {
        writes.extend(item_writes(table, change)?);
        for (status, class, delta) in change.compliance_moves() {
            for scope in [None, Some(&change.key().organization_id)] {
                counts.entry(scope).or_default().add(status, class, delta);
            }
        }
    }
    let shard = total_shard_of(&first.key().id);
    for (scope, counts) in counts {
        let moves = counts.moves();
        if !moves.is_empty() {
            writes.push(add_to_counters(table, scope, shard, &moves)?);
        }
    }
    if writes.len() > MAX_TRANSACTION_ITEMS {
        return Err(StoreError::unavailable_because(
            "TransactWriteItems",
            format!(
                "{} key creations make {} items, over {MAX_TRANSACTION_ITEMS}",
                changes.len(),
                writes.len()
            ),
        ));
    }
    Ok(writes)
}

/// DynamoDB's bound on the items of one TransactWriteItems.
pub const MAX_TRANSACTION_ITEMS: usize = 100;

/// The writes of `change` but the counters', each with its guard.
fn item_writes(table: &str, change: &KeyChange) -> Result<Vec<TransactWriteItem>, StoreError> {
    let mut writes = Vec::new();
    let key = key_item(change.key())?;
    writes.push(match change.expected_revision() {
        None => put_new(table, key)?,
        Some(revision) => {
            let values = HashMap::from([
                (":revision".into(), AttributeValue::N(revision.to_string())),
                (
                    ":writes".into(),
                    AttributeValue::N(change.expected_writes().to_string()),
                ),
            ]);
            // A key written before the counter has none: it counts as 0.
            let condition = if change.expected_writes() == 0 {
                "#revision = :revision AND (attribute_not_exists(#writes) OR #writes = :writes)"
            } else {
                "#revision = :revision AND #writes = :writes"
            };
            put_if(
                table,
                key,
                condition,
                &[("#revision", attr::REVISION), ("#writes", attr::WRITES)],
                values,
            )?
        }
    });
    for RotationWrite {
        rotation,
        expected_status,
    } in change.rotations()
    {
        let item = rotation_item(rotation)?;
        match expected_status {
            None => {
                writes.push(put_new(table, item)?);
                writes.push(put_new(table, pointer_item(rotation))?);
            }
            Some(status) => writes.push(put_if(
                table,
                item,
                "#status = :status",
                &[("#status", attr::STATUS)],
                HashMap::from([(":status".into(), s(status.as_str()))]),
            )?),
        }
    }
    for write in change.secrets() {
        match write {
            SecretWrite::Create(record) => writes.push(put_new(table, secret_item(record)?)?),
            SecretWrite::SetState { .. } => writes.extend(set_secret_state(table, write)?),
        }
    }
    if let Some(record) = change.idempotency() {
        // An expired record may be replaced; a live one may not.
        writes.push(put_if(
            table,
            idempotency_item(record)?,
            "attribute_not_exists(#pk) OR #expires <= :now",
            &[("#pk", PK), ("#expires", attr::EXPIRES_AT)],
            HashMap::from([(":now".into(), s(record.created_at.to_rfc3339()))]),
        )?);
    }
    for entry in change.outbox() {
        writes.push(put_new(table, outbox_item(entry)?)?);
    }
    for entry in change.emergencies() {
        writes.push(put_new(table, emergency_item(entry))?);
    }
    for event in change.events() {
        writes.push(put_new(table, audit_item(event)?)?);
    }
    Ok(writes)
}

/// The compliance totals' counters the change moves (every organisation's and the
/// key's organisation's, in the key's counter shard), as unconditional ADDs: the key's
/// revision guard already makes the move happen exactly once.
fn move_counters(table: &str, change: &KeyChange) -> Result<Vec<TransactWriteItem>, StoreError> {
    let moves = change.compliance_moves();
    if moves.is_empty() {
        return Ok(Vec::new());
    }
    let shard = total_shard_of(&change.key().id);
    [None, Some(&change.key().organization_id)]
        .into_iter()
        .map(|scope| add_to_counters(table, scope, shard, &moves))
        .collect()
}

/// The unconditional `ADD` of `moves` to the counter item of `scope` in `shard`.
fn add_to_counters(
    table: &str,
    scope: Option<&crate::ids::OrganizationId>,
    shard: u8,
    moves: &[(KeyComplianceStatus, KeyClass, i64)],
) -> Result<TransactWriteItem, StoreError> {
    let adds = CounterAdds::of(moves);
    let update = Update::builder()
        .table_name(table)
        .key(PK, s(totals_pk(scope)))
        .key(SK, s(totals_sk(shard)))
        .update_expression(adds.expression)
        .set_expression_attribute_names(Some(adds.names))
        .set_expression_attribute_values(Some(adds.values))
        .build()
        .map_err(|e| StoreError::Corrupt(format!("update: {e}")))?;
    Ok(TransactWriteItem::builder().update(update).build())
}

/// `ADD` of each `(status, class, delta)` to its counter attribute on a totals item:
/// the expression and its placeholders, for a transaction's update or an UpdateItem.
pub struct CounterAdds {
    pub expression: String,
    pub names: HashMap<String, String>,
    pub values: HashMap<String, AttributeValue>,
}

impl CounterAdds {
    pub fn of(moves: &[(KeyComplianceStatus, KeyClass, i64)]) -> Self {
        let mut adds = Vec::new();
        let (mut names, mut values) = (HashMap::new(), HashMap::new());
        for (n, (status, class, delta)) in moves.iter().enumerate() {
            adds.push(format!("#c{n} :d{n}"));
            names.insert(format!("#c{n}"), counter_attribute(*status, *class));
            values.insert(format!(":d{n}"), AttributeValue::N(delta.to_string()));
        }
        Self {
            expression: format!("ADD {}", adds.join(", ")),
            names,
            values,
        }
    }
}

/// Whether a failed transaction met only other transactions (on DynamoDB's side, on
/// items such as the shared counters), with every guard of its own holding: then it
/// can be sent again as it is.
pub fn only_met_other_transactions<R>(error: &SdkError<TransactWriteItemsError, R>) -> bool {
    let SdkError::ServiceError(service) = error else {
        return false;
    };
    match service.err() {
        TransactWriteItemsError::TransactionCanceledException(cancelled) => {
            let codes: Vec<&str> = cancelled
                .cancellation_reasons()
                .iter()
                .filter_map(|reason| reason.code())
                .filter(|code| *code != "None")
                .collect();
            !codes.is_empty() && codes.iter().all(|c| *c == "TransactionConflict")
        }
        other => other.code() == Some("TransactionConflictException"),
    }
}

/// Condition failures and transaction conflicts mean "someone else changed it first";
/// everything else is an availability problem.
pub fn classify_transaction_error<R>(error: SdkError<TransactWriteItemsError, R>) -> StoreError
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
            return StoreError::unavailable_because(
                "TransactWriteItems",
                format!("transaction cancelled: {}", codes.join(", ")),
            );
        }
        if service.err().code() == Some("TransactionConflictException") {
            return StoreError::Conflict;
        }
    }
    StoreError::unavailable("TransactWriteItems", error)
}
