//! The upgrade sweep on DynamoDB: a Scan through the table, a page per call, that fixes
//! what an older release wrote, remembering where it is in one item (`UPGRADE` /
//! `SWEEP#2`). Every fix is conditional: a key changed since it was read has been
//! rewritten whole by that change (with every attribute), and is left alone.

use aws_sdk_dynamodb::types::AttributeValue;

use super::items::{decode, key_item, s, Item};
use super::schema::{
    attr, secret_pk, AGE_PK, AGE_SK, CMP_MOVED, CMP_ORG_PK, CMP_PK, CMP_PREFIX, CMP_SK, DUE_PK,
    DUE_SK, KEY_SK, LIST_PK, LIST_SK, ORG_LIST_PK, ORG_PK, ORG_SK, PK, SECRET_SK, SK, TTL,
};
use super::{conditional_outcome, unavailable, DynamoStore};
use crate::error::StoreError;
use crate::key::{Key, SecretRecord};
use crate::store::SweepPage;

/// Where the sweep keeps its place.
const SWEEP_PK: &str = "UPGRADE";
/// A later release with something new to sweep counts this up, and sweeps again (2:
/// secret records without MACs).
const SWEEP_SK: &str = "SWEEP#2";
const DONE: &str = "done";
const AFTER_PK: &str = "after_pk";
const AFTER_SK: &str = "after_sk";
/// Set while the pass under way has met secret records without MACs: at its end the
/// sweep starts another pass instead of being done, so a record the service could not
/// MAC (its write refused by a change in between, a run cut off) is met again.
const RECORDS_MET: &str = "records_met";

/// The index attributes a key item carries (what `key_item` derives from the key):
/// the ones a key written by an older release may lack.
const INDEX_ATTRIBUTES: [&str; 14] = [
    AGE_PK,
    AGE_SK,
    DUE_PK,
    DUE_SK,
    LIST_PK,
    LIST_SK,
    ORG_LIST_PK,
    ORG_PK,
    ORG_SK,
    CMP_PK,
    CMP_ORG_PK,
    CMP_SK,
    CMP_PREFIX,
    CMP_MOVED,
];

impl DynamoStore {
    pub(super) async fn sweep_page(&self, limit: usize) -> Result<SweepPage, StoreError> {
        let place = self.get(SWEEP_PK.to_owned(), SWEEP_SK).await?;
        if place
            .as_ref()
            .and_then(|p| p.get(DONE))
            .is_some_and(|d| matches!(d, AttributeValue::Bool(true)))
        {
            return Ok(SweepPage {
                done: true,
                pass_ended: true,
                ..SweepPage::default()
            });
        }
        let records_met_before = place
            .as_ref()
            .and_then(|p| p.get(RECORDS_MET))
            .is_some_and(|v| matches!(v, AttributeValue::Bool(true)));
        let after = place.and_then(|p| match (p.get(AFTER_PK), p.get(AFTER_SK)) {
            (Some(pk), Some(sk)) => Some((pk.clone(), sk.clone())),
            _ => None,
        });
        self.count_read();
        let mut scan = self
            .client
            .scan()
            .table_name(&self.table)
            .limit(i32::try_from(limit.clamp(1, 1_000)).unwrap_or(1_000))
            .consistent_read(true)
            .filter_expression(
                "(#sk = :key AND (attribute_not_exists(#org) OR attribute_not_exists(#list))) \
                 OR (begins_with(#pk, :idem) AND attribute_not_exists(#ttl)) \
                 OR (#sk = :secret AND attribute_not_exists(#imac))",
            )
            .expression_attribute_names("#imac", attr::IDENTITY_MAC)
            .expression_attribute_values(":secret", s(SECRET_SK))
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_names("#org", ORG_PK)
            .expression_attribute_names("#list", LIST_PK)
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":key", s(KEY_SK))
            .expression_attribute_values(":idem", s("IDEM#"));
        if let Some((pk, sk)) = after {
            scan = scan.exclusive_start_key(PK, pk).exclusive_start_key(SK, sk);
        }
        let output = scan.send().await.map_err(|e| unavailable("Scan", e))?;
        let found = output.items.unwrap_or_default();
        self.count_items(found.len());
        let mut page = SweepPage {
            examined: u64::try_from(output.scanned_count).unwrap_or(0),
            ..SweepPage::default()
        };
        for item in found {
            let sk = item.get(SK).and_then(|v| v.as_s().ok()).cloned();
            match sk.as_deref() {
                Some(KEY_SK) => page.keys_indexed += u64::from(self.index_legacy_key(item).await?),
                Some(SECRET_SK) => page.unauthenticated.push(decode(item)?),
                _ => page.records_deleted += u64::from(self.delete_legacy_record(&item).await?),
            }
        }
        let next = output
            .last_evaluated_key
            .and_then(|mut key| Some((key.remove(PK)?, key.remove(SK)?)));
        let records_met = records_met_before || !page.unauthenticated.is_empty();
        page.pass_ended = next.is_none();
        page.done = page.pass_ended && !records_met;
        match next {
            Some(next) => self.save_place(Place::After(next), records_met).await?,
            // The end of a pass that met records: another pass, from the start.
            None if records_met => self.save_place(Place::Start, false).await?,
            None => self.save_place(Place::Done, false).await?,
        }
        Ok(page)
    }

    /// Writes an older release's secret record's MACs (see
    /// [`crate::store::Store::authenticate_secret_record`]): the identity MAC if it has
    /// none, and the state MAC with it — on condition that the stored state MAC is
    /// absent or this one (kept from a change since the upgrade), so a state changed in
    /// between keeps its own.
    pub(super) async fn authenticate_record(
        &self,
        record: &SecretRecord,
    ) -> Result<bool, StoreError> {
        let (Some(identity), Some(state)) = (&record.identity_mac, &record.state_mac) else {
            return Err(StoreError::Corrupt(
                "a record to authenticate carries no MACs".into(),
            ));
        };
        self.count_write();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(secret_pk(&record.lookup_hash)))
            .key(SK, s(SECRET_SK))
            .update_expression("SET #imac = :imac, #smac = :smac")
            .condition_expression(
                "attribute_exists(#pk) AND attribute_not_exists(#imac) \
                 AND (attribute_not_exists(#smac) OR #smac = :smac) AND #stage = :stage",
            )
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#imac", attr::IDENTITY_MAC)
            .expression_attribute_names("#smac", attr::STATE_MAC)
            .expression_attribute_names("#stage", attr::STAGE)
            .expression_attribute_values(":imac", s(identity.as_str()))
            .expression_attribute_values(":smac", s(state.as_str()))
            .expression_attribute_values(":stage", s(record.stage.as_str()))
            .send()
            .await;
        conditional_outcome("UpdateItem", result)
    }

    /// Gives a key read from the table the index attributes it lacks, as the current
    /// release would have written them, if it has not changed since.
    async fn index_legacy_key(&self, item: Item) -> Result<bool, StoreError> {
        let revision = item.get(attr::REVISION).cloned();
        let key: Key = decode(item.clone())?;
        let full = key_item(&key)?;
        let missing: Vec<(&str, AttributeValue)> = INDEX_ATTRIBUTES
            .iter()
            .filter(|name| !item.contains_key(**name))
            .filter_map(|name| full.get(*name).map(|value| (*name, value.clone())))
            .collect();
        if missing.is_empty() {
            return Ok(false);
        }
        let assignments: Vec<String> = (0..missing.len())
            .map(|i| format!("#a{i} = :v{i}"))
            .collect();
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(key_pk_of(&item)?))
            .key(SK, s(KEY_SK))
            .update_expression(format!("SET {}", assignments.join(", ")))
            .expression_attribute_names("#rev", attr::REVISION);
        for (i, (name, value)) in missing.into_iter().enumerate() {
            update = update
                .expression_attribute_names(format!("#a{i}"), name)
                .expression_attribute_values(format!(":v{i}"), value);
        }
        update = match revision {
            Some(revision) => update
                .condition_expression("#rev = :rev")
                .expression_attribute_values(":rev", revision),
            None => update
                .condition_expression("attribute_exists(#pk) AND attribute_not_exists(#rev)")
                .expression_attribute_names("#pk", PK),
        };
        self.count_write();
        conditional_outcome("UpdateItem", update.send().await)
    }

    /// Deletes an idempotency record from before records expired, if it still has no
    /// expiry.
    async fn delete_legacy_record(&self, item: &Item) -> Result<bool, StoreError> {
        let (Some(pk), Some(sk)) = (item.get(PK), item.get(SK)) else {
            return Ok(false);
        };
        self.count_write();
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(PK, pk.clone())
            .key(SK, sk.clone())
            .condition_expression("attribute_not_exists(#ttl)")
            .expression_attribute_names("#ttl", TTL)
            .send()
            .await;
        conditional_outcome("DeleteItem", result)
    }

    /// Remembers where the next page starts, or that the sweep is done.
    async fn save_place(&self, place: Place, records_met: bool) -> Result<(), StoreError> {
        let mut item = Item::new();
        item.insert(PK.into(), s(SWEEP_PK));
        item.insert(SK.into(), s(SWEEP_SK));
        match place {
            Place::After((pk, sk)) => {
                item.insert(AFTER_PK.into(), pk);
                item.insert(AFTER_SK.into(), sk);
            }
            Place::Start => {}
            Place::Done => {
                item.insert(DONE.into(), AttributeValue::Bool(true));
            }
        }
        if records_met {
            item.insert(RECORDS_MET.into(), AttributeValue::Bool(true));
        }
        self.put(item).await
    }
}

/// Where the sweep goes on from.
enum Place {
    /// After this item (its pk and sk).
    After((AttributeValue, AttributeValue)),
    /// From the start of another pass.
    Start,
    Done,
}

fn key_pk_of(item: &Item) -> Result<String, StoreError> {
    item.get(PK)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .ok_or_else(|| StoreError::Corrupt("a key item without its pk".into()))
}
