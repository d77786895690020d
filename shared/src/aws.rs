//! AWS SDK configuration, loaded once per process (in `main`, never per request).
//!
//! The standard chain applies: credentials and region from the environment or the
//! Lambda role, and endpoint overrides from `AWS_ENDPOINT_URL_DYNAMODB`,
//! `AWS_ENDPOINT_URL_SQS`, `AWS_ENDPOINT_URL_SECRETS_MANAGER` or `AWS_ENDPOINT_URL`,
//! which is how the same code talks to DynamoDB Local and moto.

pub async fn load_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

pub fn dynamodb_client(config: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(config)
}
