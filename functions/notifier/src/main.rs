//! The notifier Lambda. Clients are built once per container.

use std::sync::Arc;

use keyroll_core::config::Config;
use keyroll_core::notify::http::HttpWebhookSender;
use keyroll_core::notify::ses::SesMailer;
use keyroll_core::notify::{Mailer, Notifier, NotifierSettings};
use keyroll_core::store::dynamodb::DynamoStore;
use keyroll_core::time::SystemClock;
use keyroll_core::vault::SecretsManagerVault;
use keyroll_notifier::{handle, Deps};
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    keyroll_core::logging::init_lambda();
    let config = Config::from_env()?;
    let sdk = keyroll_core::aws::load_config_for(keyroll_core::aws::Function::Notifier).await;
    let store = Arc::new(DynamoStore::new(
        keyroll_core::aws::dynamodb_client(&sdk),
        config.table_name.clone(),
    ));
    let mailer: Option<Arc<dyn Mailer>> = config.email_from.as_ref().map(|from| {
        Arc::new(SesMailer::new(
            aws_sdk_sesv2::Client::new(&sdk),
            from.clone(),
        )) as Arc<dyn Mailer>
    });
    let settings = NotifierSettings {
        retry_seconds: config.webhook_retry_seconds.clone(),
        emails_per_organization_hour: config.policy.emails_per_organization_hour,
        ..NotifierSettings::default()
    };
    let notifier = Notifier::new(
        store,
        mailer,
        Arc::new(HttpWebhookSender::new(config.destinations)),
        Arc::new(SecretsManagerVault::new(
            aws_sdk_secretsmanager::Client::new(&sdk),
        )),
        Arc::new(SystemClock),
        settings,
    );
    let deps = Deps { notifier };
    let deps = &deps;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| async move {
        handle(deps, event).await
    }))
    .await
}
