//! The operator's key lists: every key or an organisation's, of any status or one,
//! newest first, a page at a time; and finding the key a customer names by the prefix
//! of one of its secrets. Each page costs one query per list partition and one read
//! per key, whatever the table holds.

use super::Keyroll;
use crate::error::{Error, Result};
use crate::index::{KeyListFilter, ListedKey};
use crate::key::Key;

/// The most keys one page holds.
pub const MAX_LIST_PAGE: usize = 100;
/// The most keys one prefix names (a shown prefix is 8 random characters: a few at most).
pub const MAX_PREFIX_MATCHES: usize = 20;

/// One page of a key list.
#[derive(Debug, Clone)]
pub struct KeyListPage {
    pub keys: Vec<Key>,
    /// Where the next page starts (the last entry the index gave, so a key skipped on
    /// this page does not end the list early); `None` on the last page.
    pub next: Option<ListedKey>,
}

impl Keyroll {
    /// One page of the keys `filter` holds, newest first, created before `before`.
    pub async fn list_keys(
        &self,
        filter: &KeyListFilter,
        before: Option<&ListedKey>,
        limit: usize,
    ) -> Result<KeyListPage> {
        let limit = limit.clamp(1, MAX_LIST_PAGE);
        let listed = self.store.list_keys(filter, before, limit).await?;
        let next = (listed.len() == limit)
            .then(|| listed.last().cloned())
            .flatten();
        let reads = listed.iter().map(|entry| self.store.key(&entry.key_id));
        let keys = futures::future::try_join_all(reads)
            .await?
            .into_iter()
            .flatten()
            // The index is a copy; the item is the truth.
            .filter(|key| filter.holds(key))
            .collect();
        Ok(KeyListPage { keys, next })
    }

    /// The keys one of whose secrets (any stage) shows `prefix` exactly, that `filter`
    /// holds.
    pub async fn keys_by_prefix(&self, prefix: &str, filter: &KeyListFilter) -> Result<Vec<Key>> {
        if prefix.is_empty() {
            return Err(Error::invalid("prefix", "must not be empty"));
        }
        let ids = self
            .store
            .keys_with_prefix(prefix, MAX_PREFIX_MATCHES)
            .await?;
        let reads = ids.iter().map(|id| self.store.key(id));
        let mut keys: Vec<Key> = futures::future::try_join_all(reads)
            .await?
            .into_iter()
            .flatten()
            .filter(|key| filter.holds(key) && key.versions.iter().any(|v| v.prefix == prefix))
            .collect();
        keys.sort_by_key(|key| std::cmp::Reverse(ListedKey::of(key).sort_key()));
        Ok(keys)
    }
}
