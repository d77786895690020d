//! The processor Lambda. Clients are built once per container.

use std::sync::Arc;

use keyroll_core::config::Config;
use keyroll_core::queue::SqsQueue;
use keyroll_processor::{handle, Deps};
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    keyroll_core::logging::init_lambda();
    let config = Config::from_env()?;
    let queue_url = config
        .queue_url
        .clone()
        .ok_or("configuration: KEYROLL_QUEUE_URL is required by the processor")?;
    let sdk = keyroll_core::aws::load_config_for(keyroll_core::aws::Function::Processor).await;
    let keyroll = keyroll_core::aws::keyroll(config, &sdk).await?;
    let deps = Deps {
        keyroll: Arc::new(keyroll),
        queue: Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), queue_url)),
    };
    let deps = &deps;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| async move {
        handle(deps, event).await
    }))
    .await
}
