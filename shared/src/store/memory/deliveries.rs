//! The in-memory delivery store, with the guards of the DynamoDB one.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;

use super::MemoryStore;
use crate::contact::{Contact, WebhookEndpoint};
use crate::delivery::{Delivery, DeliveryAttempt, DueDelivery, FeedEntry};
use crate::error::StoreError;
use crate::ids::{ContactId, OrganizationId, WebhookId};
use crate::store::deliveries::DeliveryStore;
use crate::time::Timestamp;

#[derive(Debug, Default)]
pub(super) struct Deliveries {
    contacts: BTreeMap<(OrganizationId, ContactId), Contact>,
    webhooks: BTreeMap<(OrganizationId, WebhookId), WebhookEndpoint>,
    /// By organisation, then feed sort key.
    feed: HashMap<OrganizationId, BTreeMap<String, FeedEntry>>,
    deliveries: BTreeMap<(String, String), Delivery>,
    attempts: HashMap<OrganizationId, BTreeMap<String, DeliveryAttempt>>,
    /// Emails counted by organisation and clock hour.
    emails: HashMap<(OrganizationId, Timestamp), u32>,
}

#[async_trait]
impl DeliveryStore for MemoryStore {
    async fn add_contact(&self, contact: &Contact) -> Result<(), StoreError> {
        let mut state = self.lock();
        let key = (contact.organization_id.clone(), contact.id.clone());
        if state.deliveries.contacts.contains_key(&key) {
            return Err(StoreError::Conflict);
        }
        state.deliveries.contacts.insert(key, contact.clone());
        Ok(())
    }

    async fn contacts(&self, organization: &OrganizationId) -> Result<Vec<Contact>, StoreError> {
        Ok(self
            .lock()
            .deliveries
            .contacts
            .values()
            .filter(|c| &c.organization_id == organization)
            .cloned()
            .collect())
    }

    async fn replace_contact(&self, contact: &Contact) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let key = (contact.organization_id.clone(), contact.id.clone());
        Ok(match state.deliveries.contacts.get_mut(&key) {
            Some(stored) => {
                *stored = contact.clone();
                true
            }
            None => false,
        })
    }

    async fn take_email(
        &self,
        organization: &OrganizationId,
        hour: Timestamp,
        limit: u32,
    ) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let sent = state
            .deliveries
            .emails
            .entry((organization.clone(), hour))
            .or_default();
        if *sent >= limit {
            return Ok(false);
        }
        *sent += 1;
        Ok(true)
    }

    async fn remove_contact(
        &self,
        organization: &OrganizationId,
        id: &ContactId,
    ) -> Result<bool, StoreError> {
        Ok(self
            .lock()
            .deliveries
            .contacts
            .remove(&(organization.clone(), id.clone()))
            .is_some())
    }

    async fn put_webhook(
        &self,
        endpoint: &WebhookEndpoint,
        expected_revision: Option<u64>,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        let key = (endpoint.organization_id.clone(), endpoint.id.clone());
        let stored = state.deliveries.webhooks.get(&key).map(|w| w.revision);
        if stored != expected_revision {
            return Err(StoreError::Conflict);
        }
        state.deliveries.webhooks.insert(key, endpoint.clone());
        Ok(())
    }

    async fn webhook(
        &self,
        organization: &OrganizationId,
        id: &WebhookId,
    ) -> Result<Option<WebhookEndpoint>, StoreError> {
        Ok(self
            .lock()
            .deliveries
            .webhooks
            .get(&(organization.clone(), id.clone()))
            .cloned())
    }

    async fn webhooks(
        &self,
        organization: &OrganizationId,
    ) -> Result<Vec<WebhookEndpoint>, StoreError> {
        Ok(self
            .lock()
            .deliveries
            .webhooks
            .values()
            .filter(|w| &w.organization_id == organization)
            .cloned()
            .collect())
    }

    async fn remove_webhook(
        &self,
        organization: &OrganizationId,
        id: &WebhookId,
    ) -> Result<bool, StoreError> {
        Ok(self
            .lock()
            .deliveries
            .webhooks
            .remove(&(organization.clone(), id.clone()))
            .is_some())
    }

    async fn add_to_feed(&self, entry: &FeedEntry) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let feed = state
            .deliveries
            .feed
            .entry(entry.notification.organization_id.clone())
            .or_default();
        if feed
            .values()
            .any(|e| e.notification.event_id == entry.notification.event_id)
        {
            return Ok(false);
        }
        feed.insert(entry.sort_key(), entry.clone());
        Ok(true)
    }

    async fn feed(
        &self,
        organization: &OrganizationId,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<FeedEntry>, StoreError> {
        let state = self.lock();
        let Some(feed) = state.deliveries.feed.get(organization) else {
            return Ok(Vec::new());
        };
        Ok(feed
            .iter()
            .rev()
            .filter(|(key, _)| before.is_none_or(|b| key.as_str() < b))
            .take(limit)
            .map(|(_, e)| e.clone())
            .collect())
    }

    async fn mark_read(
        &self,
        organization: &OrganizationId,
        event_id: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let Some(feed) = state.deliveries.feed.get_mut(organization) else {
            return Ok(false);
        };
        match feed
            .values_mut()
            .find(|e| e.notification.event_id == event_id)
        {
            Some(entry) => {
                entry.read_at.get_or_insert(at);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn create_delivery(&self, delivery: &Delivery) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let key = (
            delivery.event_id().to_owned(),
            delivery.target.id().to_owned(),
        );
        if state.deliveries.deliveries.contains_key(&key) {
            return Ok(false);
        }
        state.deliveries.deliveries.insert(key, delivery.clone());
        Ok(true)
    }

    async fn delivery(
        &self,
        event_id: &str,
        target_id: &str,
    ) -> Result<Option<Delivery>, StoreError> {
        Ok(self
            .lock()
            .deliveries
            .deliveries
            .get(&(event_id.to_owned(), target_id.to_owned()))
            .cloned())
    }

    async fn update_delivery(
        &self,
        delivery: &Delivery,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        let key = (
            delivery.event_id().to_owned(),
            delivery.target.id().to_owned(),
        );
        match state.deliveries.deliveries.get(&key) {
            Some(stored) if stored.version == expected_version => {
                state.deliveries.deliveries.insert(key, delivery.clone());
                Ok(())
            }
            _ => Err(StoreError::Conflict),
        }
    }

    async fn due_deliveries(
        &self,
        shard: u8,
        due_by: Timestamp,
        limit: usize,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        let mut due: Vec<DueDelivery> = self
            .lock()
            .deliveries
            .deliveries
            .values()
            .filter_map(Delivery::due)
            .filter(|d| d.shard() == shard && d.due_at <= due_by)
            .collect();
        due.sort_by_key(DueDelivery::sort_key);
        due.truncate(limit);
        Ok(due)
    }

    async fn record_attempt(&self, attempt: &DeliveryAttempt) -> Result<(), StoreError> {
        self.lock()
            .deliveries
            .attempts
            .entry(attempt.organization_id.clone())
            .or_default()
            .insert(attempt.sort_key(), attempt.clone());
        Ok(())
    }

    async fn attempts(
        &self,
        organization: &OrganizationId,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DeliveryAttempt>, StoreError> {
        let state = self.lock();
        let Some(attempts) = state.deliveries.attempts.get(organization) else {
            return Ok(Vec::new());
        };
        Ok(attempts
            .iter()
            .rev()
            .filter(|(key, _)| before.is_none_or(|b| key.as_str() < b))
            .take(limit)
            .map(|(_, a)| a.clone())
            .collect())
    }
}
