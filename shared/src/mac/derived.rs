//! The keyed MAC without a network call per use: HMAC-SHA-256 under a key derived once
//! per container from the KMS HMAC key (`GenerateMac` of a fixed label). Whoever may
//! call `GenerateMac` on that key could already make every tag keyroll makes, so the
//! derived key grants nothing new; it lives only in the function's memory (zeroized on
//! drop), never in the table, a log or an environment variable. So an audit head, an
//! idempotency record's name or a secret record's tag costs microseconds, not a KMS
//! round trip on every request.
//!
//! Audit heads MACed by KMS itself before this (head MAC version 1) still verify,
//! through [`KeyedMac::verify_original`]: one KMS call, only for a key not changed
//! since.

use std::sync::Arc;

use async_trait::async_trait;
use zeroize::Zeroizing;

use super::{message, KeyedMac, LocalMac, MacError};

/// What the derived key is the MAC of: changing it changes every tag.
const DERIVATION_LABEL: &str = "keyroll-local-mac-key-v2";

pub struct DerivedMac {
    local: LocalMac,
    original: Arc<dyn KeyedMac>,
}

impl std::fmt::Debug for DerivedMac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DerivedMac { key: <redacted> }")
    }
}

impl DerivedMac {
    /// Derives the local key from `original` (one call: KMS `GenerateMac`).
    pub async fn derive(original: Arc<dyn KeyedMac>) -> Result<Self, MacError> {
        let key = Zeroizing::new(original.mac(&message(DERIVATION_LABEL, &[])).await?);
        let mut bytes = Zeroizing::new([0u8; 32]);
        if key.len() != bytes.len() {
            return Err(MacError::because(
                crate::error::Dependency::Mac,
                "GenerateMac",
                "the derivation's MAC is not 32 bytes",
            ));
        }
        bytes.copy_from_slice(&key);
        Ok(Self {
            local: LocalMac::from_key(bytes),
            original,
        })
    }
}

#[async_trait]
impl KeyedMac for DerivedMac {
    async fn mac(&self, message: &[u8]) -> Result<Vec<u8>, MacError> {
        self.local.mac(message).await
    }

    async fn verify(&self, message: &[u8], mac: &[u8]) -> Result<bool, MacError> {
        self.local.verify(message, mac).await
    }

    async fn verify_original(&self, message: &[u8], mac: &[u8]) -> Result<bool, MacError> {
        self.original.verify(message, mac).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A MAC that counts its calls: the stand-in for KMS.
    struct Counting {
        inner: LocalMac,
        calls: AtomicUsize,
    }

    #[async_trait]
    impl KeyedMac for Counting {
        async fn mac(&self, message: &[u8]) -> Result<Vec<u8>, MacError> {
            self.calls.fetch_add(1, Ordering::Relaxed);
            self.inner.mac(message).await
        }
        async fn verify(&self, message: &[u8], mac: &[u8]) -> Result<bool, MacError> {
            self.calls.fetch_add(1, Ordering::Relaxed);
            self.inner.verify(message, mac).await
        }
    }

    #[tokio::test]
    async fn one_call_to_the_original_derives_a_key_every_container_shares() {
        let kms = Arc::new(Counting {
            inner: LocalMac::random(),
            calls: AtomicUsize::new(0),
        });
        let first = DerivedMac::derive(kms.clone()).await.unwrap();
        let second = DerivedMac::derive(kms.clone()).await.unwrap();
        assert_eq!(kms.calls.load(Ordering::Relaxed), 2, "one per container");
        for n in 0..100u32 {
            let tag = first.mac(&n.to_be_bytes()).await.unwrap();
            assert!(second.verify(&n.to_be_bytes(), &tag).await.unwrap());
        }
        assert_eq!(kms.calls.load(Ordering::Relaxed), 2, "no call per use");
        // Another KMS key derives another key.
        let other = DerivedMac::derive(Arc::new(LocalMac::random()))
            .await
            .unwrap();
        let tag = first.mac(b"head").await.unwrap();
        assert!(!other.verify(b"head", &tag).await.unwrap());
        // A tag KMS made itself (a version-1 head) verifies through the original.
        let original = kms.mac(b"old head").await.unwrap();
        assert!(!first.verify(b"old head", &original).await.unwrap());
        assert!(first.verify_original(b"old head", &original).await.unwrap());
        assert!(!format!("{first:?}").contains(&hex::encode(&tag)));
    }
}
