//! A key's delivery key: registered or replaced by an operator or a customer admin, or
//! registered on first use by the key's own client with a live secret of it.

use super::{Caller, KeyScope, Keyroll, Verification};
use crate::delivery_key::{PublicJwk, Registration};
use crate::error::{Error, Result};
use crate::ids::{Actor, KeyId};
use crate::key::Key;
use crate::plan::{plan_delivery_key, Act, DeliveryKeyChange};

/// What a registration came to, and the key as it now is.
#[derive(Debug, Clone)]
pub struct RegisteredDeliveryKey {
    pub key: Key,
    /// The key had none before (the client's first registration answers 201).
    pub first: bool,
}

impl Keyroll {
    /// Registers (or replaces) `jwk` as the delivery key of `key_id`, within `scope`.
    pub async fn register_delivery_key(
        &self,
        key_id: &KeyId,
        jwk: &PublicJwk,
        scope: KeyScope<'_>,
        caller: impl Into<Caller>,
    ) -> Result<RegisteredDeliveryKey> {
        let caller = caller.into();
        self.delivery_key_change(
            key_id,
            jwk,
            Some(scope),
            Registration::Replace,
            &caller.actor,
        )
        .await
    }

    /// The key's own client registers `jwk` (a JWK as received, checked once the
    /// client is known) with a live secret of the key (`presented`): only while the key
    /// has none; the same one again changes nothing.
    pub async fn register_own_delivery_key(
        &self,
        presented: &str,
        jwk: &serde_json::Value,
    ) -> Result<RegisteredDeliveryKey> {
        let record = match self.verify(presented).await? {
            Verification::Valid(record) => record,
            _ => return Err(Error::Unauthenticated),
        };
        let jwk = &PublicJwk::parse(jwk)?;
        let actor = Actor::self_service(&record.key_id);
        self.delivery_key_change(&record.key_id, jwk, None, Registration::FirstUse, &actor)
            .await
    }

    async fn delivery_key_change(
        &self,
        key_id: &KeyId,
        jwk: &PublicJwk,
        scope: Option<KeyScope<'_>>,
        registration: Registration,
        actor: &Actor,
    ) -> Result<RegisteredDeliveryKey> {
        self.commit_with_retry(|| async move {
            let key = match scope {
                Some(scope) => self.scoped_key(key_id, scope).await?,
                None => self.load_key(key_id).await?,
            };
            let first = key.delivery_key.is_none();
            let act = Act {
                actor,
                now: self.now(),
            };
            Ok(
                match plan_delivery_key(key.clone(), jwk.clone(), registration, act)? {
                    DeliveryKeyChange::Registered(change) | DeliveryKeyChange::Replaced(change) => {
                        let key = change.key().clone();
                        (Some(*change), RegisteredDeliveryKey { key, first })
                    }
                    DeliveryKeyChange::Unchanged => {
                        (None, RegisteredDeliveryKey { key, first: false })
                    }
                },
            )
        })
        .await
    }
}
