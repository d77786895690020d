//! The DynamoDB delivery store. Items (all in the one table):
//!
//! | item | pk | sk |
//! |---|---|---|
//! | contact | `ORG#<org>` | `CONTACT#<contactId>` |
//! | emails sent in an hour | `ORG#<org>` | `EMAILS#<hour, unix seconds>` (a counter; expires a day after) |
//! | webhook endpoint | `ORG#<org>` | `WEBHOOK#<webhookId>` (guarded by `revision`) |
//! | feed entry | `FEED#<org>` | `ENTRY#<occurredAt>#<eventId>` |
//! | feed pointer | `FEED#<org>` | `EVENT#<eventId>` (finds the entry to mark read) |
//! | delivery | `DELIVERY#<eventId>` | `TARGET#<contactId or webhookId>` (guarded by `version`; in the `due` index under `RETRY#<shard>` while pending) |
//! | attempt | `ATTEMPTS#<org>` | `<at>#<eventId>#<target>#<attempt>` |

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use super::items::{decode, keyed, s, text_attribute, Item};
use super::schema::{attr, DUE_INDEX, DUE_PK, DUE_SK, PK, SK, TTL};
use super::transaction::put_new;
use super::{conditional_outcome, unavailable, DynamoStore};
use crate::contact::{Contact, WebhookEndpoint};
use crate::delivery::{Delivery, DeliveryAttempt, DueDelivery, FeedEntry};
use crate::error::StoreError;
use crate::ids::{ContactId, OrganizationId, WebhookId};
use crate::store::deliveries::DeliveryStore;
use crate::time::Timestamp;

/// The partitions the notifier reads and writes on the table, as prefixes: its role may
/// touch no other (template.yaml, checked by tests/template.rs).
pub const NOTIFIER_PARTITIONS: [&str; 4] = ["ORG#", "FEED#", "DELIVERY#", "ATTEMPTS#"];
/// The index partitions the notifier queries: pending deliveries by retry shard.
pub const NOTIFIER_INDEX_PARTITIONS: [&str; 1] = ["RETRY#"];

fn org_pk(organization: &OrganizationId) -> String {
    format!("ORG#{organization}")
}
fn contact_sk(id: &ContactId) -> String {
    format!("CONTACT#{id}")
}
fn webhook_sk(id: &WebhookId) -> String {
    format!("WEBHOOK#{id}")
}
fn feed_pk(organization: &OrganizationId) -> String {
    format!("FEED#{organization}")
}
const FEED_ENTRY: &str = "ENTRY#";
fn feed_pointer_sk(event_id: &str) -> String {
    format!("EVENT#{event_id}")
}
fn delivery_pk(event_id: &str) -> String {
    format!("DELIVERY#{event_id}")
}
fn delivery_sk(target_id: &str) -> String {
    format!("TARGET#{target_id}")
}
fn retry_pk(shard: u8) -> String {
    format!("RETRY#{shard}")
}
fn attempts_pk(organization: &OrganizationId) -> String {
    format!("ATTEMPTS#{organization}")
}

fn delivery_item(delivery: &Delivery) -> Result<Item, StoreError> {
    let mut item = keyed(
        delivery,
        delivery_pk(delivery.event_id()),
        delivery_sk(delivery.target.id()),
    )?;
    if let Some(due) = delivery.due() {
        item.insert(DUE_PK.into(), s(retry_pk(due.shard())));
        item.insert(DUE_SK.into(), s(due.sort_key()));
    }
    Ok(item)
}

impl DynamoStore {
    /// A put whose condition is `condition` over `#pk` and, when given, one more name.
    async fn put_if(
        &self,
        item: Item,
        condition: &str,
        extra: Option<(&str, &str, AttributeValue)>,
    ) -> Result<bool, StoreError> {
        self.count_write();
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .expression_attribute_names("#pk", PK);
        if let Some((name, attribute, value)) = extra {
            request = request
                .expression_attribute_names(name, attribute)
                .expression_attribute_values(":expected", value);
        }
        conditional_outcome("PutItem", request.send().await)
    }

    async fn delete_existing(&self, pk: String, sk: String) -> Result<bool, StoreError> {
        self.count_write();
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(PK, s(pk))
            .key(SK, s(sk))
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .send()
            .await;
        conditional_outcome("DeleteItem", result)
    }

    /// Items of partition `pk` whose sort key starts with `prefix`: all of them, or
    /// (with a page) newest first from `before` down, one more than the page holds
    /// (the range is inclusive; [`page_below`] drops the cursor's own item).
    async fn query_prefix(
        &self,
        pk: String,
        prefix: &str,
        page: Option<(Option<String>, usize)>,
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
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":pk", s(pk.clone()))
                .consistent_read(true)
                .set_exclusive_start_key(start);
            query = match &page {
                None => query
                    .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                    .expression_attribute_values(":prefix", s(prefix)),
                Some((before, limit)) => {
                    // '~' sorts above every character of a sort key; "0" below every
                    // time, which is how prefix-less sort keys start. DynamoDB takes no
                    // empty strings.
                    let upper = match before {
                        Some(before) => format!("{prefix}{before}"),
                        None => format!("{prefix}~"),
                    };
                    let lower = if prefix.is_empty() { "0" } else { prefix };
                    query
                        .key_condition_expression("#pk = :pk AND #sk BETWEEN :low AND :high")
                        .expression_attribute_values(":low", s(lower))
                        .expression_attribute_values(":high", s(upper))
                        .scan_index_forward(false)
                        .limit(
                            i32::try_from(limit.saturating_sub(items.len()) + 1)
                                .unwrap_or(i32::MAX),
                        )
                }
            };
            let output = query.send().await.map_err(|e| unavailable("Query", e))?;
            items.extend(output.items.unwrap_or_default());
            let enough = page.as_ref().is_some_and(|(_, limit)| items.len() > *limit);
            match output.last_evaluated_key {
                Some(next) if !next.is_empty() && !enough => start = Some(next),
                _ => return Ok(items),
            }
        }
    }
}

/// The newest-first page of `items` strictly below `before` (BETWEEN is inclusive).
fn page_below<T>(
    items: Vec<Item>,
    before: Option<&str>,
    prefix: &str,
    limit: usize,
) -> Result<Vec<T>, StoreError>
where
    T: serde::de::DeserializeOwned,
{
    let mut out = Vec::new();
    for item in items {
        let sk = text_attribute(&item, SK)?
            .trim_start_matches(prefix)
            .to_owned();
        if before.is_some_and(|b| sk.as_str() >= b) {
            continue;
        }
        out.push(decode(item)?);
        if out.len() == limit {
            break;
        }
    }
    Ok(out)
}

#[async_trait]
impl DeliveryStore for DynamoStore {
    async fn add_contact(&self, contact: &Contact) -> Result<(), StoreError> {
        let item = keyed(
            contact,
            org_pk(&contact.organization_id),
            contact_sk(&contact.id),
        )?;
        match self.put_if(item, "attribute_not_exists(#pk)", None).await? {
            true => Ok(()),
            false => Err(StoreError::Conflict),
        }
    }

    async fn contacts(&self, organization: &OrganizationId) -> Result<Vec<Contact>, StoreError> {
        self.query_prefix(org_pk(organization), "CONTACT#", None)
            .await?
            .into_iter()
            .map(decode)
            .collect()
    }

    async fn replace_contact(&self, contact: &Contact) -> Result<bool, StoreError> {
        let item = keyed(
            contact,
            org_pk(&contact.organization_id),
            contact_sk(&contact.id),
        )?;
        self.put_if(item, "attribute_exists(#pk)", None).await
    }

    async fn take_email(
        &self,
        organization: &OrganizationId,
        hour: Timestamp,
        limit: u32,
    ) -> Result<bool, StoreError> {
        self.count_write();
        let expires = hour.plus_seconds(86_400 + 3600).unix();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(org_pk(organization)))
            .key(SK, s(format!("EMAILS#{}", hour.unix())))
            .update_expression("SET #sent = if_not_exists(#sent, :zero) + :one, #ttl = :ttl")
            .condition_expression("attribute_not_exists(#sent) OR #sent < :limit")
            .expression_attribute_names("#sent", "sent")
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":limit", AttributeValue::N(limit.to_string()))
            .expression_attribute_values(":ttl", AttributeValue::N(expires.to_string()))
            .send()
            .await;
        conditional_outcome("UpdateItem", result)
    }

    async fn remove_contact(
        &self,
        organization: &OrganizationId,
        id: &ContactId,
    ) -> Result<bool, StoreError> {
        self.delete_existing(org_pk(organization), contact_sk(id))
            .await
    }

    async fn put_webhook(
        &self,
        endpoint: &WebhookEndpoint,
        expected_revision: Option<u64>,
    ) -> Result<(), StoreError> {
        let item = keyed(
            endpoint,
            org_pk(&endpoint.organization_id),
            webhook_sk(&endpoint.id),
        )?;
        let written = match expected_revision {
            None => self.put_if(item, "attribute_not_exists(#pk)", None).await?,
            Some(revision) => {
                self.put_if(
                    item,
                    "attribute_exists(#pk) AND #revision = :expected",
                    Some((
                        "#revision",
                        attr::REVISION,
                        AttributeValue::N(revision.to_string()),
                    )),
                )
                .await?
            }
        };
        if written {
            Ok(())
        } else {
            Err(StoreError::Conflict)
        }
    }

    async fn webhook(
        &self,
        organization: &OrganizationId,
        id: &WebhookId,
    ) -> Result<Option<WebhookEndpoint>, StoreError> {
        self.get(org_pk(organization), &webhook_sk(id))
            .await?
            .map(decode)
            .transpose()
    }

    async fn webhooks(
        &self,
        organization: &OrganizationId,
    ) -> Result<Vec<WebhookEndpoint>, StoreError> {
        self.query_prefix(org_pk(organization), "WEBHOOK#", None)
            .await?
            .into_iter()
            .map(decode)
            .collect()
    }

    async fn remove_webhook(
        &self,
        organization: &OrganizationId,
        id: &WebhookId,
    ) -> Result<bool, StoreError> {
        self.delete_existing(org_pk(organization), webhook_sk(id))
            .await
    }

    async fn add_to_feed(&self, entry: &FeedEntry) -> Result<bool, StoreError> {
        let organization = &entry.notification.organization_id;
        let sort_key = entry.sort_key();
        let item = keyed(
            entry,
            feed_pk(organization),
            format!("{FEED_ENTRY}{sort_key}"),
        )?;
        let pointer = HashMap::from([
            (PK.to_owned(), s(feed_pk(organization))),
            (
                SK.to_owned(),
                s(feed_pointer_sk(&entry.notification.event_id)),
            ),
            ("entry".to_owned(), s(sort_key)),
        ]);
        self.count_write();
        match self
            .client
            .transact_write_items()
            .transact_items(put_new(&self.table, pointer)?)
            .transact_items(put_new(&self.table, item)?)
            .send()
            .await
            .map_err(super::transaction::classify_transaction_error)
        {
            Ok(_) => Ok(true),
            // The pointer exists: this event is in the feed already.
            Err(StoreError::Conflict) => Ok(false),
            Err(other) => Err(other),
        }
    }

    async fn feed(
        &self,
        organization: &OrganizationId,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<FeedEntry>, StoreError> {
        let items = self
            .query_prefix(
                feed_pk(organization),
                FEED_ENTRY,
                Some((before.map(str::to_owned), limit)),
            )
            .await?;
        page_below(items, before, FEED_ENTRY, limit)
    }

    async fn mark_read(
        &self,
        organization: &OrganizationId,
        event_id: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let Some(pointer) = self
            .get(feed_pk(organization), &feed_pointer_sk(event_id))
            .await?
        else {
            return Ok(false);
        };
        let entry = text_attribute(&pointer, "entry")?.to_owned();
        self.count_write();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(feed_pk(organization)))
            .key(SK, s(format!("{FEED_ENTRY}{entry}")))
            .condition_expression("attribute_exists(#pk)")
            .update_expression("SET #read = if_not_exists(#read, :at)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#read", "readAt")
            .expression_attribute_values(":at", s(at.to_rfc3339()))
            .send()
            .await;
        conditional_outcome("UpdateItem", result)
    }

    async fn create_delivery(&self, delivery: &Delivery) -> Result<bool, StoreError> {
        self.put_if(delivery_item(delivery)?, "attribute_not_exists(#pk)", None)
            .await
    }

    async fn delivery(
        &self,
        event_id: &str,
        target_id: &str,
    ) -> Result<Option<Delivery>, StoreError> {
        self.get(delivery_pk(event_id), &delivery_sk(target_id))
            .await?
            .map(decode)
            .transpose()
    }

    async fn update_delivery(
        &self,
        delivery: &Delivery,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        let written = self
            .put_if(
                delivery_item(delivery)?,
                "attribute_exists(#pk) AND #version = :expected",
                Some((
                    "#version",
                    "version",
                    AttributeValue::N(expected_version.to_string()),
                )),
            )
            .await?;
        if written {
            Ok(())
        } else {
            Err(StoreError::Conflict)
        }
    }

    async fn due_deliveries(
        &self,
        shard: u8,
        due_by: Timestamp,
        limit: usize,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        self.count_read();
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(DUE_INDEX)
            .key_condition_expression("#pk = :pk AND #sk <= :upper")
            .expression_attribute_names("#pk", DUE_PK)
            .expression_attribute_names("#sk", DUE_SK)
            .expression_attribute_values(":pk", s(retry_pk(shard)))
            .expression_attribute_values(":upper", s(format!("{due_by}#~")))
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| unavailable("Query", e))?;
        output
            .items
            .unwrap_or_default()
            .iter()
            .map(|item| {
                let sort = text_attribute(item, DUE_SK)?;
                let mut parts = sort.splitn(3, '#');
                let (Some(at), Some(event), Some(target)) =
                    (parts.next(), parts.next(), parts.next())
                else {
                    return Err(StoreError::Corrupt(format!("retry entry {sort:?}")));
                };
                Ok(DueDelivery {
                    due_at: Timestamp::parse(at).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    event_id: event.to_owned(),
                    target_id: target.to_owned(),
                })
            })
            .collect()
    }

    async fn record_attempt(&self, attempt: &DeliveryAttempt) -> Result<(), StoreError> {
        let item = keyed(
            attempt,
            attempts_pk(&attempt.organization_id),
            attempt.sort_key(),
        )?;
        self.put_if(item, "attribute_not_exists(#pk)", None)
            .await
            .map(|_| ())
    }

    async fn attempts(
        &self,
        organization: &OrganizationId,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DeliveryAttempt>, StoreError> {
        // Attempt sort keys start with their time; "0" sorts below every one of them.
        let items = self
            .query_prefix(
                attempts_pk(organization),
                "",
                Some((before.map(str::to_owned), limit)),
            )
            .await?;
        page_below(items, before, "", limit)
    }
}

#[cfg(test)]
mod tests {
    /// Every partition the delivery store writes is one the notifier's role allows.
    #[test]
    fn the_notifiers_partitions_are_the_stores() {
        use super::*;
        let org = OrganizationId::parse("org_acme").unwrap();
        for pk in [
            org_pk(&org),
            feed_pk(&org),
            delivery_pk("evt_1"),
            attempts_pk(&org),
        ] {
            assert!(
                NOTIFIER_PARTITIONS.iter().any(|p| pk.starts_with(p)),
                "{pk}"
            );
        }
        assert!(retry_pk(3).starts_with(NOTIFIER_INDEX_PARTITIONS[0]));
    }
}
