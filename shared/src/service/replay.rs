//! Idempotent replay: the first result of a request, for its retry.

use super::Keyroll;
use crate::error::{Error, Result};
use crate::idempotency::{IdempotencyIntent, IdempotentOperation, RequestOutcome};
use crate::ids::Actor;
use crate::secret::RawSecret;

/// The first result of an idempotent request, to answer its retry with.
#[derive(Debug)]
pub struct Replay {
    pub resource_id: String,
    pub outcome: RequestOutcome,
    pub secret: Option<RawSecret>,
}

impl Keyroll {
    /// What a caller's `Idempotency-Key` stands for: the record's name and sealing key,
    /// derived through the keyed MAC (one call), so neither follows from the key alone.
    pub async fn idempotency_intent(
        &self,
        actor: &Actor,
        operation: &IdempotentOperation,
        key: &str,
        body: &[u8],
    ) -> Result<IdempotencyIntent> {
        IdempotencyIntent::new(actor, operation, key, body, self.mac.as_ref()).await
    }

    /// The first result of an earlier request with the same idempotency key, if one
    /// committed and is still within the replay window. The same key with a different
    /// request is refused as invalid.
    pub async fn replay(&self, intent: &IdempotencyIntent) -> Result<Option<Replay>> {
        let Some(record) = self.store.idempotency(&intent.id).await? else {
            return Ok(None);
        };
        if !record.is_live(self.now()) {
            return Ok(None);
        }
        if record.fingerprint != intent.fingerprint {
            return Err(Error::invalid(
                "Idempotency-Key",
                "was already used with a different request; use a new key for a new request",
            ));
        }
        let secret = match &record.sealed_secret {
            Some(sealed) => Some(intent.open(sealed).ok_or_else(|| {
                Error::Internal("an idempotency record could not be opened".into())
            })?),
            None => None,
        };
        Ok(Some(Replay {
            resource_id: record.resource_id,
            outcome: record.outcome,
            secret,
        }))
    }
}
