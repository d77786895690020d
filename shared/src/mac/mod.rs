//! The keyed-MAC port: a MAC whose key never leaves its holder — a KMS HMAC key in AWS
//! (`GenerateMac`/`VerifyMac`; the `kms` feature), a process-local random key in
//! memory mode. It authenticates what the table alone must not be enough to forge or
//! open: the head of every key's audit chain, and the names and sealing keys of
//! idempotent replies.

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::DependencyError;

mod derived;
#[cfg(feature = "kms")]
mod kms;
pub use derived::DerivedMac;
#[cfg(feature = "kms")]
pub use kms::KmsMac;

/// The keyed MAC failed doing an operation (a [`DependencyError`] of
/// [`Dependency::Mac`](crate::error::Dependency::Mac)).
pub type MacError = DependencyError;

#[async_trait]
pub trait KeyedMac: Send + Sync {
    /// The MAC of `message` (32 bytes, HMAC-SHA-256).
    async fn mac(&self, message: &[u8]) -> Result<Vec<u8>, MacError>;
    /// Whether `mac` is the MAC of `message`, compared in constant time.
    async fn verify(&self, message: &[u8], mac: &[u8]) -> Result<bool, MacError>;
    /// Whether `mac` is the MAC of `message` under the original key a local key was
    /// derived from (a version-1 audit head, MACed by KMS itself). The same as
    /// [`KeyedMac::verify`] for a MAC that derives nothing.
    async fn verify_original(&self, message: &[u8], mac: &[u8]) -> Result<bool, MacError> {
        self.verify(message, mac).await
    }
}

/// A MAC message from labelled parts, each length-prefixed so no two part lists
/// encode alike.
pub fn message(label: &str, parts: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in std::iter::once(label).chain(parts.iter().copied()) {
        out.extend_from_slice(&(part.len() as u64).to_be_bytes());
        out.extend_from_slice(part.as_bytes());
    }
    out
}

/// HMAC-SHA-256 under a key of this process alone, from the OS CSPRNG: for local runs
/// and tests, where one process holds the whole state.
pub struct LocalMac {
    key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for LocalMac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalMac { key: <redacted> }")
    }
}

impl LocalMac {
    pub fn random() -> Self {
        Self {
            key: Zeroizing::new(crate::random::bytes::<32>()),
        }
    }

    /// Under `key` (one derived from a key held elsewhere).
    pub fn from_key(key: Zeroizing<[u8; 32]>) -> Self {
        Self { key }
    }

    fn keyed(&self) -> Hmac<Sha256> {
        // Any key length is valid for HMAC.
        <Hmac<Sha256> as Mac>::new_from_slice(self.key.as_slice()).expect("HMAC takes any key")
    }
}

#[async_trait]
impl KeyedMac for LocalMac {
    async fn mac(&self, message: &[u8]) -> Result<Vec<u8>, MacError> {
        let mut mac = self.keyed();
        mac.update(message);
        Ok(mac.finalize().into_bytes().to_vec())
    }

    async fn verify(&self, message: &[u8], tag: &[u8]) -> Result<bool, MacError> {
        let mut mac = self.keyed();
        mac.update(message);
        Ok(mac.verify_slice(tag).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_local_mac_verifies_its_own_tags_only() {
        let mac = LocalMac::random();
        let tag = mac.mac(b"hello").await.unwrap();
        assert_eq!(tag.len(), 32);
        assert!(mac.verify(b"hello", &tag).await.unwrap());
        assert!(!mac.verify(b"hellp", &tag).await.unwrap());
        assert!(!LocalMac::random().verify(b"hello", &tag).await.unwrap());
        assert_ne!(message("a", &["bc"]), message("ab", &["c"]));
        assert!(!format!("{mac:?}").contains(&hex::encode(mac.key.as_slice())));
    }
}
