//! Idempotent requests: a retried request with the same `Idempotency-Key` gets the
//! first request's result, and the operation is applied once.
//!
//! The record of a request is written in the **same transaction** as the change it
//! made, so there is no change without its record and no record without its change;
//! a concurrent duplicate loses the transaction and then finds the record.
//!
//! A rotation's result includes its new secret, which keyroll otherwise never stores.
//! To replay it, the record keeps the secret **sealed** (ChaCha20-Poly1305) under a key
//! derived from the caller's Idempotency-Key, which keyroll does not store: the record
//! is found by one hash of the key and opened with another, so a reader of the table
//! cannot open it. Keys must be 16-255 visible ASCII characters; a random UUID is the
//! intended use. Records answer for [`REPLAY_WINDOW_SECONDS`] and are ignored after.

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key as AeadKey, Nonce};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::ids::Actor;
use crate::random;
use crate::secret::RawSecret;
use crate::time::Timestamp;

/// How long a retry with the same key replays the first result (24 h).
pub const REPLAY_WINDOW_SECONDS: u64 = 86_400;

fn derive(label: &str, actor: &Actor, scope: &str, key: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in [label, actor.as_str(), scope, key] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hasher.finalize().into()
}

/// What a caller's Idempotency-Key turns into: where its record lives, what request
/// it stood for, and the key that seals its secret.
pub struct IdempotencyIntent {
    /// Hex SHA-256 naming the record (caller, operation, key).
    pub id: String,
    /// Hex SHA-256 of the operation and the request body.
    pub fingerprint: String,
    seal_key: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for IdempotencyIntent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdempotencyIntent")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl IdempotencyIntent {
    /// `key` is the header's value; `scope` names the operation (method and path);
    /// `body` is the raw request body.
    pub fn new(actor: &Actor, scope: &str, key: &str, body: &[u8]) -> Result<Self> {
        if !(16..=255).contains(&key.len()) || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::invalid(
                "Idempotency-Key",
                "must be 16-255 visible ASCII characters (use a random UUID)",
            ));
        }
        let mut fingerprint = Sha256::new();
        fingerprint.update((scope.len() as u64).to_be_bytes());
        fingerprint.update(scope.as_bytes());
        fingerprint.update(body);
        Ok(Self {
            id: hex::encode(derive("keyroll-idempotency-record", actor, scope, key)),
            fingerprint: hex::encode(fingerprint.finalize()),
            seal_key: Zeroizing::new(derive("keyroll-idempotency-seal", actor, scope, key)),
        })
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(AeadKey::from_slice(self.seal_key.as_ref()))
    }

    /// Seals a secret for the record: base64(nonce || ciphertext || tag).
    pub fn seal(&self, secret: &RawSecret) -> Result<String> {
        let nonce_bytes: [u8; 12] = random::bytes();
        let sealed = self
            .cipher()
            .encrypt(Nonce::from_slice(&nonce_bytes), secret.expose().as_bytes())
            .map_err(|_| Error::Internal("sealing failed".into()))?;
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&sealed);
        Ok(BASE64.encode(out))
    }

    /// Opens a sealed secret; `None` if it was not sealed under this key.
    pub fn open(&self, sealed: &str) -> Option<RawSecret> {
        let bytes = BASE64.decode(sealed).ok()?;
        if bytes.len() < 12 {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        let plain = Zeroizing::new(
            self.cipher()
                .decrypt(Nonce::from_slice(nonce), ciphertext)
                .ok()?,
        );
        String::from_utf8(plain.to_vec())
            .ok()
            .map(RawSecret::from_string)
    }

    /// The record of a request that succeeded with `status` on `resource_id`.
    pub fn record(
        &self,
        resource_id: &str,
        status: u16,
        secret: Option<&RawSecret>,
        now: Timestamp,
    ) -> Result<IdempotencyRecord> {
        Ok(IdempotencyRecord {
            id: self.id.clone(),
            fingerprint: self.fingerprint.clone(),
            resource_id: resource_id.to_owned(),
            status,
            sealed_secret: secret.map(|s| self.seal(s)).transpose()?,
            created_at: now,
            expires_at: now.plus_seconds(REPLAY_WINDOW_SECONDS),
        })
    }
}

/// What is stored of an idempotent request: never the key, never a plain secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdempotencyRecord {
    pub id: String,
    pub fingerprint: String,
    /// The key or rotation the request created or changed.
    pub resource_id: String,
    /// The HTTP status of the first response.
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_secret: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

impl fmt::Debug for IdempotencyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdempotencyRecord")
            .field("id", &self.id)
            .field("resourceId", &self.resource_id)
            .field("status", &self.status)
            .field("createdAt", &self.created_at)
            .finish_non_exhaustive()
    }
}

impl IdempotencyRecord {
    pub fn is_live(&self, now: Timestamp) -> bool {
        now < self.expires_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor() -> Actor {
        Actor::parse("alice").unwrap()
    }

    #[test]
    fn same_key_same_record_different_body_different_fingerprint() {
        let a = IdempotencyIntent::new(
            &actor(),
            "POST /v1/keys",
            "0d3c6a9e-5b1f-4e0a-9f43-2b2f6c1d7e88",
            b"{}",
        )
        .unwrap();
        let b = IdempotencyIntent::new(
            &actor(),
            "POST /v1/keys",
            "0d3c6a9e-5b1f-4e0a-9f43-2b2f6c1d7e88",
            b"{}",
        )
        .unwrap();
        let c = IdempotencyIntent::new(
            &actor(),
            "POST /v1/keys",
            "0d3c6a9e-5b1f-4e0a-9f43-2b2f6c1d7e88",
            b"{\"x\":1}",
        )
        .unwrap();
        let other_actor = IdempotencyIntent::new(
            &Actor::parse("bob").unwrap(),
            "POST /v1/keys",
            "0d3c6a9e-5b1f-4e0a-9f43-2b2f6c1d7e88",
            b"{}",
        )
        .unwrap();
        assert_eq!(a.id, b.id);
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_eq!(a.id, c.id);
        assert_ne!(a.fingerprint, c.fingerprint);
        assert_ne!(a.id, other_actor.id, "keys are scoped to the caller");
    }

    #[test]
    fn sealed_secret_opens_only_with_the_same_key() {
        let intent =
            IdempotencyIntent::new(&actor(), "scope", "key-0123456789abcdef", b"").unwrap();
        let other = IdempotencyIntent::new(&actor(), "scope", "key-0123456789abcdeg", b"").unwrap();
        let secret = RawSecret::from_string("sk_live_secret".into());
        let sealed = intent.seal(&secret).unwrap();
        assert!(!sealed.contains("sk_live_secret"));
        assert_eq!(intent.open(&sealed).unwrap().expose(), "sk_live_secret");
        assert!(other.open(&sealed).is_none());
        assert!(intent.open("not base64!").is_none());
        let record = intent
            .record(
                "rot_x",
                201,
                Some(&secret),
                Timestamp::from_unix(0).unwrap(),
            )
            .unwrap();
        assert!(!format!("{record:?}").contains(&sealed));
        assert!(!format!("{intent:?}").contains("key-0123456789abcdef"));
    }

    #[test]
    fn weak_keys_are_refused() {
        assert!(IdempotencyIntent::new(&actor(), "s", "1", b"").is_err());
        assert!(IdempotencyIntent::new(&actor(), "s", "has spaces in it ok", b"").is_err());
        assert!(IdempotencyIntent::new(&actor(), "s", &"k".repeat(256), b"").is_err());
    }
}
