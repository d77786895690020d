//! The secret vault port: where keyroll keeps a secret it minted for nobody in
//! particular (a rotation the compliance scanner started), until it is revealed once
//! or its rotation ends. AWS Secrets Manager in AWS, memory locally.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use aws_sdk_secretsmanager::types::Tag;

use crate::secret::RawSecret;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("secret vault unavailable: {0}")]
pub struct VaultError(pub String);

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

pub struct SecretsManagerVault {
    client: aws_sdk_secretsmanager::Client,
}

impl SecretsManagerVault {
    pub fn new(client: aws_sdk_secretsmanager::Client) -> Self {
        Self { client }
    }
}

fn describe<E, R>(
    operation: &str,
    error: &aws_sdk_secretsmanager::error::SdkError<E, R>,
) -> VaultError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    VaultError(format!(
        "{operation}: {}",
        aws_sdk_secretsmanager::error::DisplayErrorContext(error)
    ))
}

#[async_trait]
impl SecretVault for SecretsManagerVault {
    async fn put(
        &self,
        name: &str,
        secret: &RawSecret,
        tags: &[(&str, &str)],
    ) -> Result<(), VaultError> {
        let mut request = self
            .client
            .create_secret()
            .name(name)
            .secret_string(secret.expose())
            .description("keyroll: a rotated API-key secret awaiting its one reveal");
        for (key, value) in tags {
            request = request.tags(Tag::builder().key(*key).value(*value).build());
        }
        request
            .send()
            .await
            .map(|_| ())
            .map_err(|e| describe("CreateSecret", &e))
    }

    async fn get(&self, name: &str) -> Result<Option<RawSecret>, VaultError> {
        // Ask for AWSCURRENT explicitly (moto 5.2.1 misreports the default stage).
        match self
            .client
            .get_secret_value()
            .secret_id(name)
            .version_stage("AWSCURRENT")
            .send()
            .await
        {
            Ok(output) => Ok(output.secret_string.map(RawSecret::from_string)),
            Err(error) => {
                let service = error.as_service_error();
                if service.is_some_and(|e| {
                    e.is_resource_not_found_exception() || e.is_invalid_request_exception()
                }) {
                    Ok(None)
                } else {
                    Err(describe("GetSecretValue", &error))
                }
            }
        }
    }

    async fn delete(&self, name: &str) -> Result<(), VaultError> {
        match self
            .client
            .delete_secret()
            .secret_id(name)
            .force_delete_without_recovery(true)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(error) => {
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception())
                {
                    Ok(())
                } else {
                    Err(describe("DeleteSecret", &error))
                }
            }
        }
    }
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
            return Err(VaultError(format!("{name} already exists")));
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
