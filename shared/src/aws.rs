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
/// `KEYROLL_MAC_KEY_ID`, which every function that writes must share: without it the
/// function refuses to start (a key of its own would make every other container's
/// chains look forged and its idempotency records unfindable).
#[cfg(all(feature = "dynamodb", feature = "secrets-manager", feature = "kms"))]
pub fn keyroll(
    config: crate::config::Config,
    sdk: &aws_config::SdkConfig,
) -> crate::error::Result<crate::service::Keyroll> {
    let key_id = config.mac_key_id.clone().ok_or_else(|| {
        crate::error::Error::Config(
            "KEYROLL_MAC_KEY_ID is required: the KMS HMAC key every writing function shares".into(),
        )
    })?;
    Ok(keyroll_on_dynamodb(config, sdk)
        .with_vault(std::sync::Arc::new(crate::vault::SecretsManagerVault::new(
            aws_sdk_secretsmanager::Client::new(sdk),
        )))
        .with_mac(std::sync::Arc::new(crate::mac::KmsMac::new(
            aws_sdk_kms::Client::new(sdk),
            key_id,
        ))))
}
