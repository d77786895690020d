//! AWS SDK configuration and the Lambda functions' wiring, loaded once per process (in
//! `main`, never per request). Only with an AWS adapter feature.
//!
//! The standard chain applies: credentials and region from the environment or the
//! Lambda role, and endpoint overrides from `AWS_ENDPOINT_URL_DYNAMODB`,
//! `AWS_ENDPOINT_URL_SQS`, `AWS_ENDPOINT_URL_SECRETS_MANAGER` or `AWS_ENDPOINT_URL`,
//! which is how the same code talks to DynamoDB Local and moto.

pub async fn load_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

#[cfg(feature = "dynamodb")]
pub fn dynamodb_client(config: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(config)
}

/// keyroll over DynamoDB and the system clock, without a vault: what a function that
/// never holds a secret (the key authorizer) runs.
#[cfg(feature = "dynamodb")]
pub fn keyroll_on_dynamodb(
    config: crate::config::Config,
    sdk: &aws_config::SdkConfig,
) -> crate::service::Keyroll {
    let store = std::sync::Arc::new(crate::store::dynamodb::DynamoStore::new(
        dynamodb_client(sdk),
        config.table_name.clone(),
    ));
    crate::service::Keyroll::new(
        store.clone(),
        std::sync::Arc::new(crate::time::SystemClock),
        std::sync::Arc::new(config),
    )
    .with_deliveries(store)
}

/// keyroll as the functions that change state run it: DynamoDB, Secrets Manager, the
/// system clock. Built once per container, in `main`.
/// Audit heads and idempotency records are authenticated with the KMS key of
/// `KEYROLL_MAC_KEY_ID` (a random key of the process when unset: local runs only).
#[cfg(all(feature = "dynamodb", feature = "secrets-manager", feature = "kms"))]
pub fn keyroll(
    config: crate::config::Config,
    sdk: &aws_config::SdkConfig,
) -> crate::service::Keyroll {
    let mac_key = config.mac_key_id.clone();
    let keyroll = keyroll_on_dynamodb(config, sdk).with_vault(std::sync::Arc::new(
        crate::vault::SecretsManagerVault::new(aws_sdk_secretsmanager::Client::new(sdk)),
    ));
    match mac_key {
        Some(key_id) => keyroll.with_mac(std::sync::Arc::new(crate::mac::KmsMac::new(
            aws_sdk_kms::Client::new(sdk),
            key_id,
        ))),
        None => keyroll,
    }
}
