//! Changing a key's attributes (a merge patch), as an operator or a customer admin
//! asked, on condition of the revision the caller last saw when it says so.

use super::{Caller, KeyScope, Keyroll};
use crate::error::Result;
use crate::ids::KeyId;
use crate::key::Key;
use crate::plan::{plan_update, Act, KeyPatch};

impl Keyroll {
    /// Applies `patch` to key `key_id` (within `scope`: another organisation's key
    /// answers as an unknown one), if it is still at revision `if_revision` when given.
    /// The key as it now is; a patch that changes nothing writes nothing.
    pub async fn update_key(
        &self,
        key_id: &KeyId,
        patch: &KeyPatch,
        if_revision: Option<u64>,
        scope: KeyScope<'_>,
        caller: impl Into<Caller>,
    ) -> Result<Key> {
        let caller = &caller.into();
        self.commit_with_retry(|| async move {
            let key = self.scoped_key(key_id, scope).await?;
            let act = Act {
                actor: &caller.actor,
                now: self.now(),
            };
            Ok(match plan_update(key.clone(), patch, if_revision, act)? {
                Some(change) => {
                    let updated = change.key().clone();
                    (Some(change), updated)
                }
                None => (None, key),
            })
        })
        .await
    }
}
