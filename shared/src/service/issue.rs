//! Issuing keys, and importing the old system's.

use super::{Caller, Keyroll};
use crate::error::{Conflict, Error, Result};
use crate::idempotency::RequestOutcome;
use crate::key::Key;
use crate::plan::{plan_import, plan_issue, Act, LegacyKey, NewKey};
use crate::secret::RawSecret;

/// A new key and its first secret. The secret is returned here only.
#[derive(Debug)]
pub struct IssuedKey {
    pub key: Key,
    pub secret: RawSecret,
}

impl Keyroll {
    /// Issues a key with its first secret.
    pub async fn issue_key(&self, request: NewKey, caller: impl Into<Caller>) -> Result<IssuedKey> {
        let caller = caller.into();
        request.validate()?;
        let (minted, secret) = self.mint().await?;
        let now = self.now();
        let act = Act {
            actor: &caller.actor,
            now,
        };
        let mut change = plan_issue(request, &secret, act)?;
        let id = change.key().id.clone();
        let secret = Some(&minted.secret);
        caller.record_request(
            &mut change,
            id.as_str(),
            RequestOutcome::Created,
            secret,
            now,
        )?;
        // A new key's id and secret are fresh: a conflict can only be contention on
        // the shared counters, or a live idempotency record (which stays a conflict).
        // Stamped and authenticated once; only the write is repeated.
        let ready = self.authenticate(self.stamp(change).await?).await?;
        let mut attempt = 1;
        let key = loop {
            match self.apply(ready.clone()).await {
                Ok(key) => break key,
                Err(Error::Conflict(Conflict::ConcurrentModification))
                    if attempt < super::CONFLICT_ATTEMPTS =>
                {
                    attempt += 1
                }
                Err(error) => return Err(error),
            }
        };
        Ok(IssuedKey {
            key,
            secret: minted.secret,
        })
    }

    /// Imports a key from the old system by its lookup hash. Its secret keeps working
    /// (verified by hash alone) until it is rotated away.
    pub async fn import_legacy_key(
        &self,
        legacy: LegacyKey,
        caller: impl Into<Caller>,
    ) -> Result<Key> {
        let caller = caller.into();
        let lookup_hash = legacy.lookup_hash;
        let id = legacy.id.clone();
        for _ in 0..super::CONFLICT_ATTEMPTS {
            let now = self.now();
            let act = Act {
                actor: &caller.actor,
                now,
            };
            let mut change = plan_import(legacy.clone(), &self.config.secret_format, act)?;
            let key_id = change.key().id.clone();
            caller.record_request(
                &mut change,
                key_id.as_str(),
                RequestOutcome::Created,
                None,
                now,
            )?;
            match self.commit(change).await {
                Ok(key) => return Ok(key),
                // The key id or the secret record exists already — or, on DynamoDB, a
                // concurrent import of the same secret made both transactions give
                // up: only an existing record makes this row a duplicate.
                Err(Error::Conflict(Conflict::ConcurrentModification)) => {
                    let secret_exists = self.store.secret(&lookup_hash).await?.is_some();
                    let id_taken = match &id {
                        Some(id) => self.store.key(id).await?.is_some(),
                        None => false,
                    };
                    if secret_exists || id_taken {
                        return Err(Conflict::AlreadyImported.into());
                    }
                }
                Err(other) => return Err(other),
            }
        }
        Err(Conflict::ConcurrentModification.into())
    }
}
