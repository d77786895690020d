//! The API as a Lambda function behind API Gateway: IAM auth on the operator routes,
//! the HTTP API's JWT authorizer on the customer routes. Clients are built once per
//! container; every request runs the same router as keyroll-local.

use std::sync::Arc;

use keyroll_api::customer::CustomerAccess;
use keyroll_api::identity::IdentitySettings;
use keyroll_api::{app, AppState, Auth};
use keyroll_core::config::Config;
use keyroll_core::queue::{NotificationQueue, SqsQueue};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    keyroll_core::logging::init_lambda();
    let config = Config::from_env()?;
    let customers = customer_access(&config).await?;
    let sdk = keyroll_core::aws::load_config_for(keyroll_core::aws::Function::Api).await;
    let queue: Option<Arc<dyn NotificationQueue>> = config.queue_url.clone().map(|url| {
        Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), url)) as Arc<dyn NotificationQueue>
    });
    // A customer's new contact is sent its confirmation code from here.
    let mailer = config.email_from.clone().map(|from| {
        Arc::new(keyroll_core::notify::ses::SesMailer::new(
            aws_sdk_sesv2::Client::new(&sdk),
            from,
        ))
    });
    let mut keyroll = keyroll_core::aws::keyroll(config, &sdk).await?;
    if let Some(mailer) = mailer {
        keyroll = keyroll.with_mailer(mailer);
    }
    let state = AppState {
        keyroll: Arc::new(keyroll),
        auth: Auth::ApiGatewayIam,
        queue,
        customers,
    };
    lambda_http::run(app(state)).await
}

/// Customer routes behind API Gateway's JWT authorizer, whose verified claims arrive
/// in the request context; the token is verified here too, against the issuer's keys
/// (found by discovery) or `KEYROLL_JWKS`.
async fn customer_access(config: &Config) -> Result<Option<CustomerAccess>, lambda_http::Error> {
    let Some(settings) = IdentitySettings::from_env()? else {
        return Ok(None);
    };
    use keyroll_core::time::Clock;
    let verifier = settings
        .verifier(config.destinations, keyroll_core::time::SystemClock.now())
        .await?;
    Ok(Some(CustomerAccess::behind_gateway(
        settings.claims.clone(),
        Some(verifier),
    )))
}
