//! The delivery port: an organisation's contacts and webhook endpoints, its in-app
//! feed, and the deliveries of each notification with their attempts. Implemented by
//! the in-memory store and the DynamoDB store; one contract suite runs on both.

use async_trait::async_trait;

use crate::contact::{Contact, WebhookEndpoint};
use crate::delivery::{Delivery, DeliveryAttempt, DueDelivery, FeedEntry};
use crate::error::StoreError;
use crate::ids::{ContactId, OrganizationId, WebhookId};
use crate::time::Timestamp;

#[async_trait]
pub trait DeliveryStore: Send + Sync {
    /// Adds a contact; refused ([`StoreError::Conflict`]) if its id exists.
    async fn add_contact(&self, contact: &Contact) -> Result<(), StoreError>;

    /// An organisation's contacts, oldest first.
    async fn contacts(&self, organization: &OrganizationId) -> Result<Vec<Contact>, StoreError>;

    /// Writes a changed contact (confirmed, say) over the stored one; `false` if it has
    /// been removed meanwhile.
    async fn replace_contact(&self, contact: &Contact) -> Result<bool, StoreError>;

    /// Counts one email sent for `organization` in the clock hour starting at `hour`,
    /// unless `limit` were counted there already: then `false`, and nothing counted.
    async fn take_email(
        &self,
        organization: &OrganizationId,
        hour: Timestamp,
        limit: u32,
    ) -> Result<bool, StoreError>;

    /// Removes a contact of `organization`; `false` if it has none by that id.
    async fn remove_contact(
        &self,
        organization: &OrganizationId,
        id: &ContactId,
    ) -> Result<bool, StoreError>;

    /// Writes an endpoint: new (`expected_revision` `None`, must not exist) or an
    /// update of the revision it was read at (refused with a conflict otherwise).
    async fn put_webhook(
        &self,
        endpoint: &WebhookEndpoint,
        expected_revision: Option<u64>,
    ) -> Result<(), StoreError>;

    async fn webhook(
        &self,
        organization: &OrganizationId,
        id: &WebhookId,
    ) -> Result<Option<WebhookEndpoint>, StoreError>;

    /// An organisation's endpoints, oldest first.
    async fn webhooks(
        &self,
        organization: &OrganizationId,
    ) -> Result<Vec<WebhookEndpoint>, StoreError>;

    async fn remove_webhook(
        &self,
        organization: &OrganizationId,
        id: &WebhookId,
    ) -> Result<bool, StoreError>;

    /// Adds a notification to its organisation's feed; `false` if it is there already.
    async fn add_to_feed(&self, entry: &FeedEntry) -> Result<bool, StoreError>;

    /// Up to `limit` feed entries of `organization`, newest first, strictly older than
    /// the entry whose sort key is `before`.
    async fn feed(
        &self,
        organization: &OrganizationId,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<FeedEntry>, StoreError>;

    /// Marks an entry read (keeping the first time); `false` if the organisation's feed
    /// has no such event.
    async fn mark_read(
        &self,
        organization: &OrganizationId,
        event_id: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Creates a delivery; `false` (and nothing written) if one exists for the same
    /// event and destination: this is what makes a redelivered message send nothing.
    async fn create_delivery(&self, delivery: &Delivery) -> Result<bool, StoreError>;

    async fn delivery(
        &self,
        event_id: &str,
        target_id: &str,
    ) -> Result<Option<Delivery>, StoreError>;

    /// Writes `delivery` (whose `version` is one more than `expected_version`) if the
    /// stored one is still at `expected_version`.
    async fn update_delivery(
        &self,
        delivery: &Delivery,
        expected_version: u64,
    ) -> Result<(), StoreError>;

    /// Up to `limit` pending deliveries of retry-index `shard` due by `due_by`, soonest
    /// first.
    async fn due_deliveries(
        &self,
        shard: u8,
        due_by: Timestamp,
        limit: usize,
    ) -> Result<Vec<DueDelivery>, StoreError>;

    async fn record_attempt(&self, attempt: &DeliveryAttempt) -> Result<(), StoreError>;

    /// Up to `limit` attempts of `organization`, newest first, strictly older than the
    /// attempt whose sort key is `before`.
    async fn attempts(
        &self,
        organization: &OrganizationId,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DeliveryAttempt>, StoreError>;
}
