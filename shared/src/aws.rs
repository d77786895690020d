//! AWS SDK configuration and the Lambda functions' wiring, loaded once per process (in
//! `main`, never per request). Only with an AWS adapter feature.
//!
//! The standard chain applies: credentials and region from the environment or the
//! Lambda role, and endpoint overrides from `AWS_ENDPOINT_URL_DYNAMODB`,
//! `AWS_ENDPOINT_URL_SQS`, `AWS_ENDPOINT_URL_SECRETS_MANAGER` or `AWS_ENDPOINT_URL`,
//! which is how the same code talks to DynamoDB Local and moto.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;

/// keyroll's Lambda functions, each with the timeout template.yaml gives it
/// (tests/template.rs keeps the two equal): the budget its AWS calls are sized to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Authorizer,
    Api,
    Processor,
    Notifier,
    Scanner,
}

impl Function {
    pub const ALL: [Function; 5] = [
        Function::Authorizer,
        Function::Api,
        Function::Processor,
        Function::Notifier,
        Function::Scanner,
    ];

    /// The workspace binary (and template `BuildProperties.Binary`) of the function.
    pub fn binary(self) -> &'static str {
        match self {
            Function::Authorizer => "authorizer",
            Function::Api => "api",
            Function::Processor => "processor",
            Function::Notifier => "notifier",
            Function::Scanner => "scanner",
        }
    }

    /// The function's Lambda timeout.
    pub fn timeout(self) -> Duration {
        Duration::from_secs(match self {
            Function::Authorizer => 5,
            Function::Api => 30,
            Function::Processor | Function::Notifier => 60,
            Function::Scanner => 900,
        })
    }

    /// How long one AWS call may take inside this function. Without a bound the SDK
    /// waits as long as the socket does: one slow DynamoDB read could use the key
    /// authorizer's whole 5 s and refuse a customer's request that a retry would have
    /// passed. An attempt gets a fifth of the budget (at most 3 s), the whole call with
    /// its retries two fifths (at most 10 s), a connection at most 1 s; a function with
    /// a long budget still fails one call fast and moves on to the next.
    pub fn sdk_timeouts(self) -> TimeoutConfig {
        let budget = self.timeout();
        let attempt = (budget / 5).min(Duration::from_secs(3));
        let operation = (budget * 2 / 5).min(Duration::from_secs(10));
        TimeoutConfig::builder()
            .connect_timeout(attempt.min(Duration::from_secs(1)))
            .operation_attempt_timeout(attempt)
            .operation_timeout(operation)
            .build()
    }
}

/// The SDK configuration a function runs with: the standard chain, and its timeouts.
pub async fn load_config_for(function: Function) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(function.sdk_timeouts())
        .load()
        .await
}

/// The SDK configuration of tools and tests (keyroll-local, the CLI): the standard
/// chain with the SDK's default timeouts.
pub async fn load_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

#[cfg(feature = "dynamodb")]
pub fn dynamodb_client(config: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(config)
}

/// keyroll over DynamoDB and the system clock, without a vault or the shared MAC key:
/// what the others build on.
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

/// The keyed MAC every function shares: a key derived once, here, from the KMS HMAC key
/// of `KEYROLL_MAC_KEY_ID` (one `GenerateMac`; no KMS call per request after it).
/// Without it a function refuses to start: a key of its own would make every other
/// container's chains and secret records look forged and its idempotency records
/// unfindable.
#[cfg(all(feature = "dynamodb", feature = "kms"))]
async fn derived_mac(
    config: &crate::config::Config,
    sdk: &aws_config::SdkConfig,
) -> crate::error::Result<crate::mac::DerivedMac> {
    let key_id = config.mac_key_id.clone().ok_or_else(|| {
        crate::error::Error::Config(
            "KEYROLL_MAC_KEY_ID is required: the KMS HMAC key every function shares".into(),
        )
    })?;
    Ok(
        crate::mac::DerivedMac::derive(std::sync::Arc::new(crate::mac::KmsMac::new(
            aws_sdk_kms::Client::new(sdk),
            key_id,
        )))
        .await?,
    )
}

/// keyroll as the key authorizer runs it: DynamoDB, the system clock and the derived
/// MAC key it checks secret records with; no vault. Built once per container.
#[cfg(all(feature = "dynamodb", feature = "kms"))]
pub async fn verifying_keyroll(
    config: crate::config::Config,
    sdk: &aws_config::SdkConfig,
) -> crate::error::Result<crate::service::Keyroll> {
    let mac = derived_mac(&config, sdk).await?;
    Ok(keyroll_on_dynamodb(config, sdk).with_mac(std::sync::Arc::new(mac)))
}

/// keyroll as the functions that change state run it: DynamoDB, Secrets Manager, the
/// system clock, the derived MAC key (audit heads, idempotency records, secret
/// records). Built once per container, in `main`.
#[cfg(all(feature = "dynamodb", feature = "secrets-manager", feature = "kms"))]
pub async fn keyroll(
    config: crate::config::Config,
    sdk: &aws_config::SdkConfig,
) -> crate::error::Result<crate::service::Keyroll> {
    let mac = derived_mac(&config, sdk).await?;
    Ok(keyroll_on_dynamodb(config, sdk)
        .with_vault(std::sync::Arc::new(crate::vault::SecretsManagerVault::new(
            aws_sdk_secretsmanager::Client::new(sdk),
        )))
        .with_mac(std::sync::Arc::new(mac)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_aws_call_fits_well_inside_its_function_budget() {
        for function in Function::ALL {
            let timeouts = function.sdk_timeouts();
            let attempt = timeouts.operation_attempt_timeout().unwrap();
            let operation = timeouts.operation_timeout().unwrap();
            assert!(attempt < operation, "{function:?}");
            assert!(operation * 2 < function.timeout(), "{function:?}");
            assert!(
                timeouts.connect_timeout().unwrap() <= attempt,
                "{function:?}"
            );
        }
        let authorizer = Function::Authorizer.sdk_timeouts();
        assert_eq!(
            authorizer.operation_attempt_timeout(),
            Some(Duration::from_secs(1))
        );
        assert_eq!(authorizer.operation_timeout(), Some(Duration::from_secs(2)));
    }
}
