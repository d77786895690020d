//! The key authorizer Lambda. Clients and the verification cache live as long as the
//! container.

use std::sync::Arc;

use keyroll_authorizer::{handle, Deps};
use keyroll_core::config::Config;
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    keyroll_core::logging::init_lambda();
    let config = Config::from_env()?;
    let sdk = keyroll_core::aws::load_config_for(keyroll_core::aws::Function::Authorizer).await;
    let deps = Deps::new(Arc::new(
        keyroll_core::aws::verifying_keyroll(config, &sdk).await?,
    ));
    let deps = &deps;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| async move {
        handle(deps, event).await
    }))
    .await
}
