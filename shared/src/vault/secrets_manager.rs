//! The AWS Secrets Manager adapter of the vault.

use async_trait::async_trait;
use aws_sdk_secretsmanager::types::Tag;

use super::{SecretVault, VaultError};
use crate::error::Dependency;
use crate::secret::RawSecret;

pub struct SecretsManagerVault {
    client: aws_sdk_secretsmanager::Client,
}

impl SecretsManagerVault {
    pub fn new(client: aws_sdk_secretsmanager::Client) -> Self {
        Self { client }
    }
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
            .map_err(|e| VaultError::new(Dependency::Vault, "CreateSecret", e))
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
                    Err(VaultError::new(Dependency::Vault, "GetSecretValue", error))
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
                    Err(VaultError::new(Dependency::Vault, "DeleteSecret", error))
                }
            }
        }
    }
}
