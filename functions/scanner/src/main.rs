//! The compliance scanner Lambda. Clients are built once per container.

use std::sync::Arc;

use keyroll_core::config::Config;
use keyroll_core::service::Keyroll;
use keyroll_core::store::dynamodb::DynamoStore;
use keyroll_core::time::SystemClock;
use keyroll_core::vault::SecretsManagerVault;
use keyroll_scanner::{handle, Deps};
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    keyroll_core::logging::init_lambda();
    let config = Config::from_env()?;
    let sdk = keyroll_core::aws::load_config().await;
    let store = DynamoStore::new(
        keyroll_core::aws::dynamodb_client(&sdk),
        config.table_name.clone(),
    );
    let keyroll = Keyroll::new(Arc::new(store), Arc::new(SystemClock), Arc::new(config))
        .with_vault(Arc::new(SecretsManagerVault::new(
            aws_sdk_secretsmanager::Client::new(&sdk),
        )));
    let deps = Deps {
        keyroll: Arc::new(keyroll),
    };
    let deps = &deps;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| async move {
        handle(deps, event).await
    }))
    .await
}
