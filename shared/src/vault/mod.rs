//! The secret vault port: where keyroll keeps a secret it minted for nobody in
//! particular (a rotation the compliance scanner started), until it is revealed once
//! or its rotation ends. AWS Secrets Manager in AWS (the `secrets-manager` feature),
//! memory locally.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::error::{Dependency, DependencyError};
use crate::secret::RawSecret;

#[cfg(feature = "secrets-manager")]
mod secrets_manager;
#[cfg(feature = "secrets-manager")]
pub use secrets_manager::SecretsManagerVault;

/// The secret vault failed doing an operation (a [`DependencyError`] of
/// [`Dependency::Vault`]).
pub type VaultError = DependencyError;

#[async_trait]
pub trait SecretVault: Send + Sync {
    /// Stores `secret` under `name` with descriptive tags (never the secret).
    async fn put(
        &self,
        name: &str,
        secret: &RawSecret,
        tags: &[(&str, &str)],
    ) -> Result<(), VaultError>;
    /// The secret under `name`, if it is still there.
    async fn get(&self, name: &str) -> Result<Option<RawSecret>, VaultError>;
    /// Deletes `name` at once, without a recovery window; deleting nothing is fine.
    async fn delete(&self, name: &str) -> Result<(), VaultError>;
}

/// In-memory vault for local runs and tests.
#[derive(Debug, Default)]
pub struct MemoryVault {
    secrets: Mutex<HashMap<String, String>>,
}

impl MemoryVault {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.secrets.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl SecretVault for MemoryVault {
    async fn put(
        &self,
        name: &str,
        secret: &RawSecret,
        _tags: &[(&str, &str)],
    ) -> Result<(), VaultError> {
        let mut secrets = self.secrets.lock().unwrap_or_else(|p| p.into_inner());
        if secrets.contains_key(name) {
            return Err(VaultError::because(
                Dependency::Vault,
                "put",
                format!("{name} already exists"),
            ));
        }
        secrets.insert(name.to_owned(), secret.expose().to_owned());
        Ok(())
    }

    async fn get(&self, name: &str) -> Result<Option<RawSecret>, VaultError> {
        Ok(self
            .secrets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
            .map(RawSecret::from_string))
    }

    async fn delete(&self, name: &str) -> Result<(), VaultError> {
        self.secrets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
        Ok(())
    }
}
