//! keyroll-local: the whole service on a developer's machine.
//!
//! `keyroll-local [--create-tables]` serves the same router as the Lambda API on
//! `KEYROLL_LISTEN` (default 127.0.0.1:3000) and runs the processor every
//! `KEYROLL_PROCESS_INTERVAL_SECONDS` (default 60). The store is the embedded
//! in-memory one unless `KEYROLL_BACKEND=aws`, which uses DynamoDB at the standard
//! AWS endpoints (`AWS_ENDPOINT_URL_DYNAMODB` for DynamoDB Local); `--create-tables`
//! creates the table first. Callers authenticate with
//! `Authorization: Bearer $KEYROLL_ADMIN_TOKEN`; when unset, a token is generated and
//! printed.
//!
//! `keyroll-local demo` runs a scripted rotation end to end instead (see demo.rs).
//!
//! Customer users reach `/v1/org/…` and the portal (`/portal`) with a token: from the
//! identity provider `KEYROLL_JWKS` names, or, without one, signed by keyroll-local's
//! development key — `keyroll-local token --org ORG [--role admin] [--user NAME]`
//! prints one (see customers.rs).
//!
//! `keyroll-local setup` creates the table and the FIFO notification queue at the AWS
//! endpoints (DynamoDB Local and moto, or a sandbox account), prints the environment
//! the Lambda functions need (`KEYROLL_TABLE_NAME`, `KEYROLL_QUEUE_URL`) and exits;
//! it is what `scripts/lambda-smoke` and `sam local invoke --env-vars` start from.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use keyroll_api::{app, AppState, Auth};
use keyroll_core::config::Config;
use keyroll_core::mac::{KeyedMac, KmsMac, LocalMac};
use keyroll_core::notify::http::HttpWebhookSender;
use keyroll_core::notify::mailer::FolderMailer;
use keyroll_core::notify::ses::SesMailer;
use keyroll_core::notify::{Mailer, Notifier, NotifierSettings};
use keyroll_core::processor::{process_due, ProcessorOptions};
use keyroll_core::queue::{MemoryQueue, NotificationQueue, SqsQueue};
use keyroll_core::scan::{scan, ScanOptions};
use keyroll_core::service::Keyroll;
use keyroll_core::store::dynamodb::create_table;
use keyroll_core::store::dynamodb::DynamoStore;
use keyroll_core::store::memory::MemoryStore;
use keyroll_core::store::DeliveryStore;
use keyroll_core::store::Store;
use keyroll_core::time::SystemClock;
use keyroll_core::vault::{MemoryVault, SecretVault, SecretsManagerVault};

mod customers;
mod demo;
mod notifier;

#[derive(Debug, PartialEq, Eq)]
enum Command {
    Serve { create_tables: bool },
    Demo,
    Setup,
    Token(customers::TokenRequest),
}

fn parse_args(args: &[String]) -> Result<Command> {
    match args {
        [] => Ok(Command::Serve {
            create_tables: false,
        }),
        [flag] if flag == "--create-tables" => Ok(Command::Serve {
            create_tables: true,
        }),
        [command] if command == "demo" => Ok(Command::Demo),
        [command] if command == "setup" => Ok(Command::Setup),
        [command, rest @ ..] if command == "token" => {
            Ok(Command::Token(customers::TokenRequest::parse(rest)?))
        }
        _ => bail!(
            "usage: keyroll-local [--create-tables] | keyroll-local demo | keyroll-local setup | keyroll-local token --org ORG [--role admin] [--user NAME]"
        ),
    }
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = parse_args(&args)?;
    if let Command::Token(request) = &command {
        return customers::print_token(request);
    }
    let config = Config::from_env().context("invalid keyroll configuration")?;
    match command {
        Command::Demo => demo::run(config).await,
        Command::Setup => setup(&config).await,
        Command::Serve { create_tables } => serve(config, create_tables).await,
        Command::Token(_) => Ok(()),
    }
}

/// An HMAC key in KMS (moto locally) for the keyed MAC, as the template makes one.
async fn create_mac_key(kms: &aws_sdk_kms::Client) -> Result<String> {
    let created = kms
        .create_key()
        .key_spec(aws_sdk_kms::types::KeySpec::Hmac256)
        .key_usage(aws_sdk_kms::types::KeyUsageType::GenerateVerifyMac)
        .description("keyroll-local: audit heads and idempotency records")
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "creating the KMS HMAC key: {}",
                aws_sdk_kms::error::DisplayErrorContext(&e)
            )
        })?;
    created
        .key_metadata
        .map(|m| m.key_id)
        .ok_or_else(|| anyhow::anyhow!("KMS created a key without metadata"))
}

/// What keyroll-local runs on: the in-memory adapters, or the AWS ones.
struct Backend {
    store: Arc<dyn Store>,
    deliveries: Arc<dyn DeliveryStore>,
    queue: Arc<dyn NotificationQueue>,
    vault: Arc<dyn SecretVault>,
    mailer: Arc<dyn Mailer>,
    source: notifier::Source,
    /// The keyed MAC: KMS when a key is configured (or created), else the process's own.
    mac: Arc<dyn KeyedMac>,
}

async fn serve(config: Config, create_tables: bool) -> Result<()> {
    let listen: SocketAddr = env_or("KEYROLL_LISTEN", "127.0.0.1:3000")
        .parse()
        .context("KEYROLL_LISTEN must be host:port, e.g. 127.0.0.1:3000")?;
    let interval: u64 = env_or("KEYROLL_PROCESS_INTERVAL_SECONDS", "60")
        .parse()
        .ok()
        .filter(|s| *s > 0)
        .context(
            "KEYROLL_PROCESS_INTERVAL_SECONDS must be a whole number of seconds, at least 1",
        )?;
    let backend = env_or("KEYROLL_BACKEND", "memory");
    let email_from = config
        .email_from
        .clone()
        .unwrap_or_else(|| LOCAL_EMAIL_FROM.to_owned());
    let Backend {
        store,
        deliveries,
        queue,
        vault,
        mailer,
        source,
        mac,
    } = match backend.as_str() {
        "memory" => {
            let memory = Arc::new(MemoryStore::new());
            let queue = Arc::new(MemoryQueue::new());
            let folder = std::env::var("KEYROLL_EMAIL_DIR")
                .map(std::path::PathBuf::from)
                .unwrap_or_else(|_| {
                    std::env::temp_dir().join(format!("keyroll-local-mail-{}", std::process::id()))
                });
            let mailer = FolderMailer::new(&folder, email_from.clone())
                .with_context(|| format!("creating the mail folder {}", folder.display()))?;
            println!("emails are written to {}", folder.display());
            Backend {
                store: memory.clone(),
                deliveries: memory,
                queue: queue.clone(),
                vault: Arc::new(MemoryVault::new()),
                mailer: Arc::new(mailer),
                source: notifier::Source::Memory(queue),
                mac: Arc::new(LocalMac::random()),
            }
        }
        "aws" => {
            let sdk = keyroll_core::aws::load_config().await;
            let client = keyroll_core::aws::dynamodb_client(&sdk);
            if create_tables {
                create_table(&client, &config.table_name)
                    .await
                    .with_context(|| format!("creating table {}", config.table_name))?;
            }
            let sqs = aws_sdk_sqs::Client::new(&sdk);
            let queue_url = match (&config.queue_url, create_tables) {
                (Some(url), _) => url.clone(),
                (None, true) => create_queue(&sqs).await?,
                (None, false) => bail!("KEYROLL_BACKEND=aws needs KEYROLL_QUEUE_URL (or --create-tables to create a queue)"),
            };
            println!("notifications go to {queue_url}; emails from {email_from} through SES");
            let ses = aws_sdk_sesv2::Client::new(&sdk);
            if create_tables {
                verify_sender(&ses, &email_from).await?;
            }
            let dynamo = Arc::new(DynamoStore::new(client, config.table_name.clone()));
            let kms = aws_sdk_kms::Client::new(&sdk);
            let mac_key = match (config.mac_key_id.clone(), create_tables) {
                (Some(key), _) => Some(key),
                (None, true) => Some(create_mac_key(&kms).await?),
                (None, false) => None,
            };
            let mac: Arc<dyn KeyedMac> = match mac_key {
                Some(key) => {
                    println!(
                        "audit heads and idempotency records are authenticated with KMS key {key}"
                    );
                    Arc::new(KmsMac::new(kms, key))
                }
                None => Arc::new(LocalMac::random()),
            };
            Backend {
                store: dynamo.clone(),
                deliveries: dynamo,
                queue: Arc::new(SqsQueue::new(sqs.clone(), queue_url.clone())),
                vault: Arc::new(SecretsManagerVault::new(
                    aws_sdk_secretsmanager::Client::new(&sdk),
                )),
                mailer: Arc::new(SesMailer::new(ses, email_from.clone())),
                source: notifier::Source::Sqs {
                    client: sqs,
                    url: queue_url,
                },
                mac,
            }
        }
        other => bail!("KEYROLL_BACKEND must be memory or aws (got {other:?})"),
    };
    let (token, generated) = match std::env::var("KEYROLL_ADMIN_TOKEN") {
        Ok(token) if token.len() >= 16 => (token, false),
        Ok(_) => bail!("KEYROLL_ADMIN_TOKEN must be at least 16 characters"),
        Err(_) => {
            let bytes: [u8; 24] = keyroll_core::random::bytes();
            (format!("krl_admin_{}", hex_encode(&bytes)), true)
        }
    };
    let notifier = Arc::new(Notifier::new(
        deliveries.clone(),
        Some(mailer),
        Arc::new(HttpWebhookSender::new(config.destinations)),
        vault.clone(),
        Arc::new(SystemClock),
        NotifierSettings {
            retry_seconds: config.webhook_retry_seconds.clone(),
            ..NotifierSettings::default()
        },
    ));
    let keyroll = Arc::new(
        Keyroll::new(store, Arc::new(SystemClock), Arc::new(config))
            .with_vault(vault)
            .with_deliveries(deliveries)
            .with_mac(mac),
    );
    let (customer_access, dev_identity) = customers::access()?;
    let router = app(AppState {
        keyroll: keyroll.clone(),
        auth: Auth::admin_token(&token),
        queue: Some(queue.clone()),
        customers: Some(customer_access),
    });
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let address = listener.local_addr()?;

    println!("keyroll-local listening on http://{address} (store: {backend})");
    if generated {
        println!("admin token (generated; set KEYROLL_ADMIN_TOKEN to choose one): {token}");
    }
    println!("authenticate with: Authorization: Bearer <admin token>");
    match &dev_identity {
        Some(dev) => println!(
            "customer routes trust the development key in {} (issuer {}): `keyroll-local token --org ORG --role admin` prints a token; the portal is http://{address}/portal#token=<token>",
            dev.path.display(),
            dev.issuer
        ),
        None => println!(
            "customer routes trust KEYROLL_JWKS; the portal is http://{address}/portal#token=<token>"
        ),
    }
    println!("processor runs every {interval} s; OpenAPI at http://{address}/openapi.json");

    let scan_interval: u64 = env_or("KEYROLL_SCAN_INTERVAL_SECONDS", "86400")
        .parse()
        .ok()
        .filter(|s| *s > 0)
        .context("KEYROLL_SCAN_INTERVAL_SECONDS must be a whole number of seconds, at least 1")?;
    println!("compliance scan runs every {scan_interval} s; POST /v1/admin/scan runs it now");
    let scanner = tokio::spawn(run_scanner(
        keyroll.clone(),
        Duration::from_secs(scan_interval),
    ));
    let processor = tokio::spawn(run_processor(keyroll, queue, Duration::from_secs(interval)));
    let notify_interval: u64 = env_or("KEYROLL_NOTIFY_INTERVAL_SECONDS", "1")
        .parse()
        .ok()
        .filter(|s| *s > 0)
        .context("KEYROLL_NOTIFY_INTERVAL_SECONDS must be a whole number of seconds, at least 1")?;
    println!("the notifier delivers queued notifications every {notify_interval} s");
    let notifying = tokio::spawn(notifier::run(
        notifier,
        source,
        Duration::from_secs(notify_interval),
    ));
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving HTTP")?;
    processor.abort();
    scanner.abort();
    notifying.abort();
    Ok(())
}

/// Creates the table and queue the functions use (both calls succeed when they exist)
/// and prints them as environment assignments.
async fn setup(config: &Config) -> Result<()> {
    let sdk = keyroll_core::aws::load_config().await;
    create_table(
        &keyroll_core::aws::dynamodb_client(&sdk),
        &config.table_name,
    )
    .await
    .with_context(|| format!("creating table {}", config.table_name))?;
    let queue_url = create_queue(&aws_sdk_sqs::Client::new(&sdk)).await?;
    let mac_key = match &config.mac_key_id {
        Some(key) => key.clone(),
        None => create_mac_key(&aws_sdk_kms::Client::new(&sdk)).await?,
    };
    println!("KEYROLL_TABLE_NAME={}", config.table_name);
    println!("KEYROLL_QUEUE_URL={queue_url}");
    println!("KEYROLL_MAC_KEY_ID={mac_key}");
    Ok(())
}

/// Runs the compliance scan on an interval, as the daily EventBridge rule does in AWS.
async fn run_scanner(keyroll: Arc<Keyroll>, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        match scan(&keyroll, ScanOptions::default()).await {
            Ok(report) => tracing::info!(
                scheduled = report.scheduled,
                warned = report.warned,
                coverage_percent = report.snapshot.coverage_percent,
                "compliance scan"
            ),
            Err(error) => {
                tracing::warn!(error = %keyroll_core::error::Chain(&error), "compliance scan failed")
            }
        }
    }
}

/// Runs the processor on an interval, as EventBridge does in AWS.
async fn run_processor(keyroll: Arc<Keyroll>, queue: Arc<dyn NotificationQueue>, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        match process_due(&keyroll, Some(queue.as_ref()), ProcessorOptions::default()).await {
            Ok(report) => tracing::info!(
                started = report.started,
                completed = report.completed,
                notified = report.notified,
                failed = report.failed,
                remaining = report.remaining,
                "processor run"
            ),
            Err(error) => {
                tracing::warn!(error = %keyroll_core::error::Chain(&error), "processor run failed")
            }
        }
    }
}

/// The sender keyroll-local uses when `KEYROLL_EMAIL_FROM` is not set.
const LOCAL_EMAIL_FROM: &str = "keyroll@keyroll.local";

/// Makes `from` a verified SES identity (moto refuses mail from unverified senders).
async fn verify_sender(ses: &aws_sdk_sesv2::Client, from: &str) -> Result<()> {
    match ses
        .create_email_identity()
        .email_identity(from)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_already_exists_exception()) =>
        {
            Ok(())
        }
        Err(error) => Err(anyhow::anyhow!(
            "verifying the sender {from} in SES: {}",
            aws_sdk_sesv2::error::DisplayErrorContext(&error)
        )),
    }
}

/// Creates (or finds) the local notification queue, FIFO like the deployed one.
async fn create_queue(sqs: &aws_sdk_sqs::Client) -> Result<String> {
    use aws_sdk_sqs::types::QueueAttributeName;
    let output = sqs
        .create_queue()
        .queue_name("keyroll-notifications.fifo")
        .attributes(QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .context("creating the notification queue")?;
    output.queue_url.context("the queue has no URL")
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
    }
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_parsed_strictly() {
        let args = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse_args(&args(&[])).unwrap(),
            Command::Serve {
                create_tables: false
            }
        );
        assert_eq!(
            parse_args(&args(&["--create-tables"])).unwrap(),
            Command::Serve {
                create_tables: true
            }
        );
        assert_eq!(parse_args(&args(&["demo"])).unwrap(), Command::Demo);
        assert_eq!(parse_args(&args(&["setup"])).unwrap(), Command::Setup);
        assert!(parse_args(&args(&["setup", "--force"])).is_err());
        assert!(parse_args(&args(&["--delete-everything"])).is_err());
    }
}
