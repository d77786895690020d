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
//! identity provider `KEYROLL_JWT_ISSUER` names (its keys found by discovery, or
//! `KEYROLL_JWKS`), or, without one, signed by keyroll-local's
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
use keyroll_core::notify::http::HttpWebhookSender;
use keyroll_core::notify::{Notifier, NotifierSettings};
use keyroll_core::processor::{process_due, ProcessorOptions};
use keyroll_core::queue::NotificationQueue;
use keyroll_core::scan::{scan, ScanOptions};
use keyroll_core::service::Keyroll;
use keyroll_core::store::dynamodb::create_table;
use keyroll_core::time::SystemClock;

mod backend;
mod customers;
mod demo;
mod notifier;
mod settings;

use backend::{create_mac_key, create_queue, Backend};

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

async fn serve(config: Config, create_tables: bool) -> Result<()> {
    let listen: SocketAddr = settings::text(&settings::LISTEN)
        .parse()
        .context("KEYROLL_LISTEN must be host:port, e.g. 127.0.0.1:3000")?;
    let every = Intervals::from_env()?;
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
    } = Backend::from_env(&config, create_tables, &email_from).await?;
    let (token, generated) = admin_token()?;
    let notifier = Arc::new(Notifier::new(
        deliveries.clone(),
        Some(mailer.clone()),
        Arc::new(HttpWebhookSender::new(config.destinations)),
        vault.clone(),
        Arc::new(SystemClock),
        NotifierSettings {
            retry_seconds: config.webhook_retry_seconds.clone(),
            emails_per_organization_hour: config.policy.emails_per_organization_hour,
            ..NotifierSettings::default()
        },
    ));
    let keyroll = Arc::new(
        Keyroll::new(store, Arc::new(SystemClock), Arc::new(config))
            .with_vault(vault)
            .with_deliveries(deliveries)
            .with_mailer(mailer)
            .with_mac(mac),
    );
    let (customer_access, dev_identity) = customers::access(keyroll.config().destinations).await?;
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
    announce(address, &token, generated, dev_identity.as_ref(), &every);

    let scanner = tokio::spawn(run_scanner(keyroll.clone(), every.scan));
    let processor = tokio::spawn(run_processor(keyroll, queue, every.process));
    let notifying = tokio::spawn(notifier::run(notifier, source, every.notify));
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving HTTP")?;
    processor.abort();
    scanner.abort();
    notifying.abort();
    Ok(())
}

/// How often keyroll-local runs each job, as EventBridge and SQS would in AWS.
struct Intervals {
    process: Duration,
    scan: Duration,
    notify: Duration,
}

impl Intervals {
    fn from_env() -> Result<Self> {
        Ok(Self {
            process: settings::interval(&settings::PROCESS_INTERVAL_SECONDS)?,
            scan: settings::interval(&settings::SCAN_INTERVAL_SECONDS)?,
            notify: settings::interval(&settings::NOTIFY_INTERVAL_SECONDS)?,
        })
    }
}

/// The operators' bearer token: `KEYROLL_ADMIN_TOKEN`, or a fresh one (`true`: print
/// it).
fn admin_token() -> Result<(String, bool)> {
    match std::env::var(settings::ADMIN_TOKEN.name) {
        Ok(token) if token.len() >= 16 => Ok((token, false)),
        Ok(_) => bail!("KEYROLL_ADMIN_TOKEN must be at least 16 characters"),
        Err(_) => {
            let bytes: [u8; 24] = keyroll_core::random::bytes();
            Ok((format!("krl_admin_{}", hex_encode(&bytes)), true))
        }
    }
}

/// Where keyroll-local listens, how to authenticate, and how often its jobs run.
fn announce(
    address: SocketAddr,
    token: &str,
    generated: bool,
    dev_identity: Option<&customers::DevIdentity>,
    every: &Intervals,
) {
    let backend = settings::text(&settings::BACKEND);
    println!("keyroll-local listening on http://{address} (store: {backend})");
    if generated {
        println!("admin token (generated; set KEYROLL_ADMIN_TOKEN to choose one): {token}");
    }
    println!("authenticate with: Authorization: Bearer <admin token>");
    match dev_identity {
        Some(dev) => println!(
            "customer routes trust the development key in {} (issuer {}): `keyroll-local token --org ORG --role admin` prints a token; the portal is http://{address}/portal#token=<token>",
            dev.path.display(),
            dev.issuer
        ),
        None => println!(
            "customer routes trust your identity provider's tokens (KEYROLL_JWT_ISSUER); the portal is http://{address}/portal#token=<token>"
        ),
    }
    println!(
        "processor runs every {} s; OpenAPI at http://{address}/openapi.json",
        every.process.as_secs()
    );
    println!(
        "compliance scan runs every {} s; POST /v1/admin/scan runs it now",
        every.scan.as_secs()
    );
    println!(
        "the notifier delivers queued notifications every {} s",
        every.notify.as_secs()
    );
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
