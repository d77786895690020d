//! The compliance scanner Lambda. Clients are built once per container.

use std::sync::Arc;

use keyroll_core::config::Config;
use keyroll_scanner::{handle, Deps};
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    keyroll_core::logging::init_lambda();
    let config = Config::from_env()?;
    let sdk = keyroll_core::aws::load_config_for(keyroll_core::aws::Function::Scanner).await;
    let keyroll = keyroll_core::aws::keyroll(config, &sdk).await?;
    let deps = Deps {
        keyroll: Arc::new(keyroll),
    };
    let deps = &deps;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| async move {
        handle(deps, event).await
    }))
    .await
}
