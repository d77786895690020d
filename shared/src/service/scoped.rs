//! What an organisation's own users may reach: its keys and their rotations. Anything
//! of another organisation is refused exactly as an unknown id is, so a customer can
//! neither touch nor detect a key that is not theirs.

use super::Keyroll;
use crate::error::{Error, Result};
use crate::ids::{KeyId, OrganizationId, RotationId};
use crate::key::Key;
use crate::rotation::Rotation;

/// The most keys one page of [`Keyroll::organization_keys`] holds.
pub const MAX_KEY_PAGE: usize = 100;

/// One page of an organisation's keys.
#[derive(Debug, Clone)]
pub struct KeyPage {
    pub keys: Vec<OwnedKey>,
    /// Where the next page starts (the last id the index gave, so a key skipped on
    /// this page does not end the list early); `None` on the last page.
    pub next: Option<KeyId>,
}

/// One of an organisation's keys, with the rotation in progress if there is one.
#[derive(Debug, Clone)]
pub struct OwnedKey {
    pub key: Key,
    pub rotation: Option<Rotation>,
}

impl Keyroll {
    /// `id`, if `organization` owns it; otherwise the same not-found as an unknown id.
    pub async fn owned_key(&self, organization: &OrganizationId, id: &KeyId) -> Result<Key> {
        match self.store.key(id).await? {
            Some(key) if &key.organization_id == organization => Ok(key),
            _ => Err(Error::not_found("key", id)),
        }
    }

    /// Rotation `id`, if it is of a key `organization` owns; otherwise the same
    /// not-found as an unknown id.
    pub async fn owned_rotation(
        &self,
        organization: &OrganizationId,
        id: &RotationId,
    ) -> Result<Rotation> {
        let not_found = || Error::not_found("rotation", id);
        let rotation = self.store.rotation(id).await?.ok_or_else(not_found)?;
        match self.store.key(&rotation.key_id).await? {
            Some(key) if &key.organization_id == organization => Ok(rotation),
            _ => Err(not_found()),
        }
    }

    /// One page of `organization`'s keys in id order after `after`, each with its
    /// rotation in progress: one index query and, per key, one or two reads made
    /// concurrently, so the cost follows the page and not the table.
    pub async fn organization_keys(
        &self,
        organization: &OrganizationId,
        after: Option<&KeyId>,
        limit: usize,
    ) -> Result<KeyPage> {
        let limit = limit.clamp(1, MAX_KEY_PAGE);
        let ids = self.store.keys_of(organization, after, limit).await?;
        let next = (ids.len() == limit).then(|| ids.last().cloned()).flatten();
        let reads = ids.iter().map(|id| async move {
            let Some(key) = self.store.key(id).await? else {
                return Ok::<_, Error>(None);
            };
            // The index is a copy; the item is the truth.
            if &key.organization_id != organization {
                return Ok(None);
            }
            let rotation = match &key.active_rotation {
                Some(rotation) => self.store.rotation(rotation).await?,
                None => None,
            };
            Ok(Some(OwnedKey { key, rotation }))
        });
        let keys = futures::future::try_join_all(reads)
            .await?
            .into_iter()
            .flatten()
            .collect();
        Ok(KeyPage { keys, next })
    }
}
