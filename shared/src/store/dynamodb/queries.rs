//! Reads beyond single items: a key's partition (rotations, audit), the sparse `due`
//! and `age` indexes, the emergency log, snapshots and the outbox. Every page is one
//! counted request.

use std::collections::HashMap;

use super::items::{
    audit_from_item, compliance_entry_from_item, corrupt, decode, s, split_index_sort_key,
    text_attribute, Item,
};
use super::schema::{
    age_pk, attr, audit_sk, compliance_org_pk, compliance_pk, counter_attribute, due_pk,
    emergency_pk, expiry_pk, key_pk, list_pk, org_list_pk, org_pk, outbox_pk, pointer_pk,
    prefix_pk, rotation_sk, totals_pk, AGE_INDEX, AGE_PK, AGE_SK, AUDIT_SK_PREFIX, CMP_ORG_PK,
    CMP_PK, CMP_SK, COMPLIANCE_INDEX, COMPLIANCE_ORG_INDEX, COMPLIANCE_PK, DUE_INDEX, DUE_PK,
    DUE_SK, HELD_PK, KEY_SK, LIST_INDEX, LIST_PK, LIST_SK, ORG_INDEX, ORG_LIST_INDEX, ORG_LIST_PK,
    ORG_PK, ORG_SK, PK, POINTER_SK, ROTATION_SK_PREFIX, SK, SNAPSHOT_SK_PREFIX, TOTALS_SK_PREFIX,
};
use super::{unavailable, DynamoStore};
use crate::audit::{AuditEvent, AuditOrder};
use crate::change::EmergencyLogEntry;
use crate::compliance::{ComplianceCounts, ComplianceSnapshot, KeyComplianceStatus};
use crate::error::StoreError;
use crate::held::HeldMarker;
use crate::ids::{KeyId, OrganizationId, RotationId};
use crate::index::{
    list_partitions, AgeRef, ComplianceEntry, CompliancePartition, DueRef, ExpiryRef,
    KeyListFilter, ListedKey, SortRange,
};
use crate::key::KeyClass;
use crate::notification::{OutboxEntry, OutboxMessage};
use crate::rotation::Rotation;
use crate::time::Timestamp;

/// Which items of a partition a query reads.
enum SortKeys<'a> {
    StartingWith(&'a str),
}

impl DynamoStore {
    /// Every item of partition `pk` (whose sort key starts with a prefix, if given),
    /// consistently, in sort order or reversed.
    async fn query_partition(
        &self,
        pk: String,
        sort_keys: SortKeys<'_>,
        forward: bool,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            self.count_read();
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .expression_attribute_names("#pk", PK)
                .expression_attribute_values(":pk", s(pk.clone()))
                .consistent_read(true)
                .scan_index_forward(forward)
                .set_exclusive_start_key(start);
            query = match sort_keys {
                SortKeys::StartingWith(prefix) => query
                    .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                    .expression_attribute_names("#sk", SK)
                    .expression_attribute_values(":prefix", s(prefix)),
            };
            let output = query.send().await.map_err(|e| unavailable("Query", e))?;
            let page = output.items.unwrap_or_default();
            self.count_items(page.len());
            items.extend(page);
            match output.last_evaluated_key {
                Some(next) if !next.is_empty() => start = Some(next),
                _ => return Ok(items),
            }
        }
    }

    /// Up to `limit` items of partition `pk` after sort key `after`, consistently, in
    /// sort order (`forward`) or reversed: one counted request per page of results.
    async fn partition_page(
        &self,
        pk: String,
        after: Option<String>,
        forward: bool,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        self.prefixed_page(pk, "", after, forward, limit).await
    }

    /// The same, of the items whose sort key starts with `prefix` (`""`: every item).
    async fn prefixed_page(
        &self,
        pk: String,
        prefix: &str,
        after: Option<String>,
        forward: bool,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> =
            after.map(|sk| HashMap::from([(PK.to_owned(), s(pk.clone())), (SK.to_owned(), s(sk))]));
        let (condition, prefix) = if prefix.is_empty() {
            ("#pk = :pk", None)
        } else {
            ("#pk = :pk AND begins_with(#sk, :prefix)", Some(prefix))
        };
        while items.len() < limit {
            self.count_read();
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression(condition)
                .expression_attribute_names("#pk", PK)
                .expression_attribute_values(":pk", s(pk.clone()));
            if let Some(prefix) = prefix {
                query = query
                    .expression_attribute_names("#sk", SK)
                    .expression_attribute_values(":prefix", s(prefix));
            }
            let output = query
                .consistent_read(true)
                .scan_index_forward(forward)
                .limit(i32::try_from(limit - items.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| unavailable("Query", e))?;
            let page = output.items.unwrap_or_default();
            self.count_items(page.len());
            items.extend(page);
            match output.last_evaluated_key {
                Some(next) if !next.is_empty() => start = Some(next),
                _ => break,
            }
        }
        Ok(items)
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
            self.count_read();
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
            let page = output.items.unwrap_or_default();
            self.count_items(page.len());
            items.extend(page);
            match output.last_evaluated_key {
                Some(next) if !next.is_empty() => start = Some(next),
                _ => break,
            }
        }
        items.truncate(limit);
        Ok(items)
    }

    pub(super) async fn rotation_by_id(
        &self,
        id: &RotationId,
    ) -> Result<Option<Rotation>, StoreError> {
        let Some(pointer) = self.get(pointer_pk(id), POINTER_SK).await? else {
            return Ok(None);
        };
        let key_id = KeyId::parse(text_attribute(&pointer, attr::KEY_ID)?)
            .map_err(|e| StoreError::Corrupt(format!("rotation pointer: {e}")))?;
        self.get(key_pk(&key_id), &rotation_sk(id))
            .await?
            .map(decode)
            .transpose()
    }

    pub(super) async fn rotation_in_key(
        &self,
        key_id: &KeyId,
        id: &RotationId,
    ) -> Result<Option<Rotation>, StoreError> {
        self.get(key_pk(key_id), &rotation_sk(id))
            .await?
            .map(decode)
            .transpose()
    }

    pub(super) async fn rotations_of_key(
        &self,
        key_id: &KeyId,
    ) -> Result<Vec<Rotation>, StoreError> {
        self.query_partition(
            key_pk(key_id),
            SortKeys::StartingWith(ROTATION_SK_PREFIX),
            false,
        )
        .await?
        .into_iter()
        .map(decode)
        .collect()
    }

    pub(super) async fn audit_events_of(
        &self,
        key_id: &KeyId,
        after: Option<u64>,
        order: AuditOrder,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        self.prefixed_page(
            key_pk(key_id),
            AUDIT_SK_PREFIX,
            after.map(audit_sk),
            order == AuditOrder::OldestFirst,
            limit,
        )
        .await?
        .iter()
        .map(audit_from_item)
        .collect()
    }

    pub(super) async fn query_due(
        &self,
        shard: u8,
        due_by: Timestamp,
        after: Option<&DueRef>,
        limit: usize,
    ) -> Result<Vec<DueRef>, StoreError> {
        let start = after.map(|a| (key_pk(&a.key_id), rotation_sk(&a.rotation_id), a.sort_key()));
        let items = self
            .query_due_partition(due_pk(shard), start, due_by, limit)
            .await?;
        items
            .iter()
            .map(|item| {
                let (due_at, rotation) = split_index_sort_key(item, DUE_SK)?;
                let key = text_attribute(item, PK)?
                    .strip_prefix("KEY#")
                    .ok_or_else(|| StoreError::Corrupt("a due entry's pk is not a key's".into()))?;
                Ok(DueRef {
                    due_at,
                    rotation_id: RotationId::parse(rotation).map_err(corrupt)?,
                    key_id: KeyId::parse(key).map_err(corrupt)?,
                })
            })
            .collect()
    }

    /// One page of a key list: up to `limit` entries newest first from each partition
    /// the filter spans (queried at once), merged.
    pub(super) async fn query_listed(
        &self,
        filter: &KeyListFilter,
        before: Option<&ListedKey>,
        limit: usize,
    ) -> Result<Vec<ListedKey>, StoreError> {
        let before = before.map_or_else(|| "~".to_owned(), ListedKey::sort_key);
        let queries = list_partitions(filter).into_iter().map(|(status, shard)| {
            let (index, pk_name, pk) = match (&filter.organization, shard) {
                (Some(organization), _) => (
                    ORG_LIST_INDEX,
                    ORG_LIST_PK,
                    org_list_pk(organization, status),
                ),
                (None, shard) => (LIST_INDEX, LIST_PK, list_pk(status, shard.unwrap_or(0))),
            };
            let before = before.clone();
            async move {
                self.count_read();
                let limit = i32::try_from(limit).unwrap_or(i32::MAX);
                let output = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name(index)
                    .key_condition_expression("#pk = :pk AND #sk < :before")
                    .expression_attribute_names("#pk", pk_name)
                    .expression_attribute_names("#sk", LIST_SK)
                    .expression_attribute_values(":pk", s(pk))
                    .expression_attribute_values(":before", s(before))
                    .scan_index_forward(false)
                    .limit(limit)
                    .send()
                    .await
                    .map_err(|e| unavailable("Query", e))?;
                let items = output.items.unwrap_or_default();
                self.count_items(items.len());
                items
                    .iter()
                    .map(|item| {
                        let (created_at, key) = split_index_sort_key(item, LIST_SK)?;
                        Ok(ListedKey {
                            created_at,
                            key_id: KeyId::parse(key).map_err(corrupt)?,
                        })
                    })
                    .collect::<Result<Vec<_>, StoreError>>()
            }
        });
        let mut listed: Vec<ListedKey> = futures::future::try_join_all(queries)
            .await?
            .into_iter()
            .flatten()
            .collect();
        listed.sort_by_key(|entry| std::cmp::Reverse(entry.sort_key()));
        listed.truncate(limit);
        Ok(listed)
    }

    /// The keys whose secrets show `prefix`: one query of the `org` index's
    /// `PREFIX#` partition.
    pub(super) async fn query_shown_prefix(
        &self,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<KeyId>, StoreError> {
        let items = self
            .query_index(
                ORG_INDEX,
                (ORG_PK, ORG_SK),
                prefix_pk(prefix),
                "~".to_owned(),
                None,
                limit,
            )
            .await?;
        let mut ids = items
            .iter()
            .map(|item| KeyId::parse(text_attribute(item, ORG_SK)?).map_err(corrupt))
            .collect::<Result<Vec<_>, StoreError>>()?;
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    /// Up to `limit` items of one `due` index partition due at or before `due_by`, after
    /// the item `(pk, sk, due_sk)` when given.
    async fn query_due_partition(
        &self,
        partition: String,
        after: Option<(String, String, String)>,
        due_by: Timestamp,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        let start = after.map(|(pk, sk, due_sk)| {
            HashMap::from([
                (PK.to_owned(), s(pk)),
                (SK.to_owned(), s(sk)),
                (DUE_PK.to_owned(), s(partition.clone())),
                (DUE_SK.to_owned(), s(due_sk)),
            ])
        });
        // '~' sorts after every id character, so "<due_by>#~" includes all due at due_by.
        let upper = format!("{due_by}#~");
        self.query_index(DUE_INDEX, (DUE_PK, DUE_SK), partition, upper, start, limit)
            .await
    }

    pub(super) async fn query_expiring(
        &self,
        shard: u8,
        due_by: Timestamp,
        after: Option<&ExpiryRef>,
        limit: usize,
    ) -> Result<Vec<ExpiryRef>, StoreError> {
        let start = after.map(|a| (key_pk(&a.key_id), KEY_SK.to_owned(), a.sort_key()));
        let items = self
            .query_due_partition(expiry_pk(shard), start, due_by, limit)
            .await?;
        items
            .iter()
            .map(|item| {
                let (due_at, key) = split_index_sort_key(item, DUE_SK)?;
                Ok(ExpiryRef {
                    due_at,
                    key_id: KeyId::parse(key).map_err(corrupt)?,
                })
            })
            .collect()
    }

    pub(super) async fn query_aged(
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

    pub(super) async fn query_org_keys(
        &self,
        organization: &OrganizationId,
        after: Option<&KeyId>,
        limit: usize,
    ) -> Result<Vec<KeyId>, StoreError> {
        let start = after.map(|id| {
            HashMap::from([
                (PK.to_owned(), s(key_pk(id))),
                (SK.to_owned(), s(KEY_SK)),
                (ORG_PK.to_owned(), s(org_pk(organization))),
                (ORG_SK.to_owned(), s(id.as_str())),
            ])
        });
        // Every key id sorts below "~".
        let items = self
            .query_index(
                ORG_INDEX,
                (ORG_PK, ORG_SK),
                org_pk(organization),
                "~".to_owned(),
                start,
                limit,
            )
            .await?;
        items
            .iter()
            .map(|item| KeyId::parse(text_attribute(item, ORG_SK)?).map_err(corrupt))
            .collect()
    }

    pub(super) async fn query_emergencies(
        &self,
        month: &str,
        before: Option<&EmergencyLogEntry>,
        limit: usize,
    ) -> Result<Vec<EmergencyLogEntry>, StoreError> {
        let items = self
            .partition_page(
                emergency_pk(month),
                before.map(EmergencyLogEntry::sort_key),
                false,
                limit,
            )
            .await?;
        items
            .iter()
            .map(|item| {
                let (at, rotation) = split_index_sort_key(item, SK)?;
                Ok(EmergencyLogEntry {
                    at,
                    rotation_id: RotationId::parse(rotation).map_err(corrupt)?,
                    key_id: KeyId::parse(text_attribute(item, attr::KEY_ID)?).map_err(corrupt)?,
                })
            })
            .collect()
    }

    pub(super) async fn query_snapshots(
        &self,
        limit: usize,
    ) -> Result<Vec<ComplianceSnapshot>, StoreError> {
        self.count_read();
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":pk", s(COMPLIANCE_PK))
            .expression_attribute_values(":prefix", s(SNAPSHOT_SK_PREFIX))
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

    /// How many entries an age-index partition holds: a count, 1 MB of index entries
    /// per request, no items returned.
    pub(super) async fn count_age_index(
        &self,
        class: KeyClass,
        shard: u8,
    ) -> Result<u64, StoreError> {
        let mut total = 0u64;
        let mut start: Option<Item> = None;
        loop {
            self.count_read();
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

    /// The oldest held-secret markers, up to `limit`, of those held before `before`.
    pub(super) async fn query_held_markers(
        &self,
        before: Timestamp,
        limit: usize,
    ) -> Result<Vec<HeldMarker>, StoreError> {
        let items = self
            .partition_page(HELD_PK.to_owned(), None, true, limit)
            .await?;
        let mut markers = Vec::with_capacity(items.len());
        for item in items {
            let marker: HeldMarker = decode(item)?;
            if marker.held_at >= before {
                break;
            }
            markers.push(marker);
        }
        Ok(markers)
    }

    pub(super) async fn query_outbox(
        &self,
        shard: u8,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let items = self
            .partition_page(outbox_pk(shard), after.map(str::to_owned), true, limit)
            .await?;
        let mut entries = Vec::with_capacity(items.len());
        for item in items {
            let message: OutboxMessage =
                serde_json::from_str(text_attribute(&item, attr::MESSAGE)?)
                    .map_err(|e| StoreError::Corrupt(format!("outbox message: {e}")))?;
            entries.push(OutboxEntry {
                shard,
                sort_key: text_attribute(&item, SK)?.to_owned(),
                message,
            });
        }
        Ok(entries)
    }

    /// Up to `limit` entries of a compliance index partition within `range`: the index
    /// projects a row's fields, so nothing else is read. A key condition takes one
    /// bound pair, inclusive, so the exclusive ends are dropped here.
    pub(super) async fn query_compliance(
        &self,
        partition: &CompliancePartition,
        range: &SortRange,
        limit: usize,
    ) -> Result<(Vec<ComplianceEntry>, bool), StoreError> {
        let (index, pk_name, pk_value) = match &partition.organization {
            None => (
                COMPLIANCE_INDEX,
                CMP_PK,
                compliance_pk(partition.status, partition.class),
            ),
            Some(org) => (
                COMPLIANCE_ORG_INDEX,
                CMP_ORG_PK,
                compliance_org_pk(org, partition.status, partition.class),
            ),
        };
        // Every sort key starts with a digit: "!" is below them all (and not empty,
        // which a key condition refuses).
        let lower = if range.after.is_empty() {
            "!".to_owned()
        } else {
            range.after.clone()
        };
        if lower >= range.before {
            return Ok((Vec::new(), false));
        }
        let wanted = limit + 1;
        let mut entries = Vec::new();
        let mut start: Option<Item> = None;
        let mut more = false;
        loop {
            self.count_read();
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression("#pk = :pk AND #sk BETWEEN :lower AND :upper")
                .expression_attribute_names("#pk", pk_name)
                .expression_attribute_names("#sk", CMP_SK)
                .expression_attribute_values(":pk", s(pk_value.clone()))
                .expression_attribute_values(":lower", s(lower.clone()))
                .expression_attribute_values(":upper", s(range.before.clone()))
                .limit(i32::try_from(wanted - entries.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| unavailable("Query", e))?;
            let items = output.items.unwrap_or_default();
            self.count_items(items.len());
            for item in &items {
                let sort = text_attribute(item, CMP_SK)?;
                if range.contains(sort) {
                    entries.push(compliance_entry_from_item(
                        item,
                        partition.status,
                        partition.class,
                    )?);
                }
            }
            match output.last_evaluated_key {
                Some(next) if !next.is_empty() => {
                    if entries.len() >= wanted {
                        more = true;
                        break;
                    }
                    start = Some(next);
                }
                _ => break,
            }
        }
        more |= entries.len() > limit;
        entries.truncate(limit);
        Ok((entries, more))
    }

    /// The compliance totals' counter items of a scope: one query of at most
    /// [`crate::index::TOTAL_SHARDS`] small items.
    pub(super) async fn query_totals(
        &self,
        organization: Option<&OrganizationId>,
    ) -> Result<ComplianceCounts, StoreError> {
        let items = self
            .query_partition(
                totals_pk(organization),
                SortKeys::StartingWith(TOTALS_SK_PREFIX),
                true,
            )
            .await?;
        let mut counts = ComplianceCounts::default();
        for item in &items {
            for status in KeyComplianceStatus::ALL {
                for class in KeyClass::ALL {
                    if let Some(value) = item.get(&counter_attribute(status, class)) {
                        let n: i64 = value
                            .as_n()
                            .map_err(|_| corrupt("counter"))?
                            .parse()
                            .map_err(corrupt)?;
                        counts.add(status, class, n);
                    }
                }
            }
        }
        Ok(counts)
    }
}
