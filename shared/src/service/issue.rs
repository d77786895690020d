//! Issuing keys.

use super::{Caller, Keyroll};
use crate::error::{Conflict, Error, Result};
use crate::idempotency::RequestOutcome;
use crate::key::Key;
use crate::plan::{plan_issue, Act, NewKey};
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
}
