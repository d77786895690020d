//! The API as a Lambda function behind API Gateway (IAM auth). Clients are built once
//! per container; every request runs the same router as keyroll-local.

use std::sync::Arc;

use keyroll_api::{app, AppState, Auth};
use keyroll_core::config::Config;
use keyroll_core::queue::{NotificationQueue, SqsQueue};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    keyroll_core::logging::init_lambda();
    let config = Config::from_env()?;
    let sdk = keyroll_core::aws::load_config().await;
    let keyroll = keyroll_core::aws::keyroll(config, &sdk);
    let queue: Option<Arc<dyn NotificationQueue>> = std::env::var("KEYROLL_QUEUE_URL")
        .ok()
        .filter(|url| !url.is_empty())
        .map(|url| {
            Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), url))
                as Arc<dyn NotificationQueue>
        });
    let state = AppState {
        keyroll: Arc::new(keyroll),
        auth: Auth::ApiGatewayIam,
        queue,
        customers: None,
    };
    lambda_http::run(app(state)).await
}
