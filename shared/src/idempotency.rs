//! Idempotent requests: a retried request with the same `Idempotency-Key` gets the
//! first request's result, and the operation is applied once.
//!
//! The record of a request is written in the **same transaction** as the change it
//! made, so there is no change without its record and no record without its change;
//! a concurrent duplicate loses the transaction and then finds the record.
//!
//! A rotation's result includes its new secret, which keyroll otherwise never stores.
//! To replay it, the record keeps the secret **sealed** (ChaCha20-Poly1305) under a key
//! derived from the caller's Idempotency-Key, which keyroll does not store, and from
//! the keyed MAC (KMS in AWS): the record is named by one derivation and opened with
//! another, both from the MAC of (caller, operation, key), so a reader of the table —
//! or of an export of it — can neither find a guessed key's record nor open one. Keys must be 16-255 visible ASCII characters; a random UUID is the
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
use crate::ids::{Actor, KeyId, RotationId};
use crate::mac::KeyedMac;
use crate::random;
use crate::secret::RawSecret;
use crate::time::Timestamp;

/// How long a retry with the same key replays the first result (24 h).
pub const REPLAY_WINDOW_SECONDS: u64 = 86_400;

/// The operation an idempotent request asks for, and what it acts on. A request's
/// record is scoped to it, so one Idempotency-Key sent to two operations (or to one
/// operation on two keys) names two records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotentOperation {
    IssueKey,
    ScheduleRotation(KeyId),
    EmergencyRotation(KeyId),
    CancelRotation(RotationId),
    CompleteRotation(RotationId),
    ExtendRotation(RotationId),
    RevealSecret(RotationId),
    RevokeKey(KeyId),
    /// A client's fetch of its successor with its current secret.
    FetchSuccessor,
}

impl IdempotentOperation {
    /// The operation's name in a record's derivation and fingerprint.
    pub fn scope(&self) -> String {
        match self {
            Self::IssueKey => "issue-key".to_owned(),
            Self::ScheduleRotation(key) => format!("schedule-rotation {key}"),
            Self::EmergencyRotation(key) => format!("emergency-rotation {key}"),
            Self::CancelRotation(rotation) => format!("cancel-rotation {rotation}"),
            Self::CompleteRotation(rotation) => format!("complete-rotation {rotation}"),
            Self::ExtendRotation(rotation) => format!("extend-rotation {rotation}"),
            Self::RevealSecret(rotation) => format!("reveal-secret {rotation}"),
            Self::RevokeKey(key) => format!("revoke-key {key}"),
            Self::FetchSuccessor => "fetch-successor".to_owned(),
        }
    }
}

/// What an idempotent request did, so that its retry is answered the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestOutcome {
    /// It made a new key or rotation.
    Created,
    /// It acted on one that existed (a cancellation, a reveal, …).
    Changed,
}

/// A 32-byte value for `label` from the keyed MAC of the request's identity.
fn derive(label: &str, root: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(crate::mac::message(label, &[]));
    hasher.update(root);
    hasher.finalize().into()
}

/// What a caller's Idempotency-Key turns into: where its record lives, what request
/// it stood for, and the key that seals its secret. Cloned rather than derived again:
/// deriving it costs a call to the keyed MAC (KMS).
#[derive(Clone)]
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
    /// `key` is the header's value; `operation` is what the request asks for; `body`
    /// is the raw request body; `mac` is keyroll's keyed MAC (one call).
    pub async fn new(
        actor: &Actor,
        operation: &IdempotentOperation,
        key: &str,
        body: &[u8],
        mac: &dyn KeyedMac,
    ) -> Result<Self> {
        if !crate::rules::IDEMPOTENCY_KEY.accepts(key) {
            return Err(Error::invalid(
                "Idempotency-Key",
                "must be 16-255 visible ASCII characters (use a random UUID)",
            ));
        }
        let scope = operation.scope();
        let scope = scope.as_str();
        let root = Zeroizing::new(
            mac.mac(&crate::mac::message(
                "keyroll-idempotency-v2",
                &[actor.as_str(), scope, key],
            ))
            .await
            .map_err(Error::from)?,
        );
        let mut fingerprint = Sha256::new();
        fingerprint.update((scope.len() as u64).to_be_bytes());
        fingerprint.update(scope.as_bytes());
        fingerprint.update(body);
        Ok(Self {
            id: hex::encode(derive("keyroll-idempotency-record", &root)),
            fingerprint: hex::encode(fingerprint.finalize()),
            seal_key: Zeroizing::new(derive("keyroll-idempotency-seal", &root)),
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

    /// The record of a request that succeeded with `outcome` on `resource_id`.
    pub fn record(
        &self,
        resource_id: &str,
        outcome: RequestOutcome,
        secret: Option<&RawSecret>,
        now: Timestamp,
    ) -> Result<IdempotencyRecord> {
        Ok(IdempotencyRecord {
            id: self.id.clone(),
            fingerprint: self.fingerprint.clone(),
            resource_id: resource_id.to_owned(),
            outcome,
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
    /// What the first request did.
    pub outcome: RequestOutcome,
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
            .field("outcome", &self.outcome)
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
    use crate::mac::LocalMac;

    fn actor() -> Actor {
        Actor::parse("alice").unwrap()
    }

    async fn intent(
        mac: &LocalMac,
        actor: &Actor,
        key: &str,
        body: &[u8],
    ) -> Result<IdempotencyIntent> {
        IdempotencyIntent::new(actor, &IdempotentOperation::IssueKey, key, body, mac).await
    }

    const KEY: &str = "0d3c6a9e-5b1f-4e0a-9f43-2b2f6c1d7e88";

    #[tokio::test]
    async fn same_key_same_record_different_body_different_fingerprint() {
        let mac = LocalMac::random();
        let a = intent(&mac, &actor(), KEY, b"{}").await.unwrap();
        let b = intent(&mac, &actor(), KEY, b"{}").await.unwrap();
        let c = intent(&mac, &actor(), KEY, b"{\"x\":1}").await.unwrap();
        let other_actor = intent(&mac, &Actor::parse("bob").unwrap(), KEY, b"{}")
            .await
            .unwrap();
        assert_eq!(a.id, b.id);
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_eq!(a.id, c.id);
        assert_ne!(a.fingerprint, c.fingerprint);
        assert_ne!(a.id, other_actor.id, "keys are scoped to the caller");
    }

    /// Someone with the table but not the MAC key cannot turn a guessed key into its
    /// record's name or sealing key: another MAC key gives another record.
    #[tokio::test]
    async fn a_guessed_key_names_no_record_without_the_mac_key() {
        let server = LocalMac::random();
        let guesser = LocalMac::random();
        let real = intent(&server, &actor(), KEY, b"{}").await.unwrap();
        let guessed = intent(&guesser, &actor(), KEY, b"{}").await.unwrap();
        assert_ne!(real.id, guessed.id);
        let secret = RawSecret::from_string("sk_live_secret".into());
        let sealed = real.seal(&secret).unwrap();
        assert!(guessed.open(&sealed).is_none());
        let mut plain = Sha256::new();
        for part in ["keyroll-idempotency-record", "alice", "issue-key", KEY] {
            plain.update((part.len() as u64).to_be_bytes());
            plain.update(part.as_bytes());
        }
        assert_ne!(
            real.id,
            hex::encode(plain.finalize()),
            "not the old plain hash"
        );
    }

    #[tokio::test]
    async fn sealed_secret_opens_only_with_the_same_key() {
        let mac = LocalMac::random();
        let intent_a = intent(&mac, &actor(), "key-0123456789abcdef", b"")
            .await
            .unwrap();
        let other = intent(&mac, &actor(), "key-0123456789abcdeg", b"")
            .await
            .unwrap();
        let secret = RawSecret::from_string("sk_live_secret".into());
        let sealed = intent_a.seal(&secret).unwrap();
        assert!(!sealed.contains("sk_live_secret"));
        assert_eq!(intent_a.open(&sealed).unwrap().expose(), "sk_live_secret");
        assert!(other.open(&sealed).is_none());
        assert!(intent_a.open("not base64!").is_none());
        let record = intent_a
            .record(
                "rot_x",
                RequestOutcome::Created,
                Some(&secret),
                Timestamp::from_unix(0).unwrap(),
            )
            .unwrap();
        assert!(!format!("{record:?}").contains(&sealed));
        assert!(!format!("{intent_a:?}").contains("key-0123456789abcdef"));
    }

    #[tokio::test]
    async fn weak_keys_are_refused() {
        let mac = LocalMac::random();
        assert!(intent(&mac, &actor(), "1", b"").await.is_err());
        assert!(intent(&mac, &actor(), "has spaces in it ok", b"")
            .await
            .is_err());
        assert!(intent(&mac, &actor(), &"k".repeat(256), b"").await.is_err());
    }
}
