//! What keyroll-local runs on: the in-memory adapters (the default), or the AWS ones at
//! the standard endpoints (DynamoDB Local and moto, or a sandbox account), and the
//! resources it creates there as the template does in AWS.

use std::sync::Arc;

use anyhow::{bail, Context, Result};
use keyroll_core::config::Config;
use keyroll_core::mac::{DerivedMac, KeyedMac, KmsMac, LocalMac};
use keyroll_core::notify::mailer::FolderMailer;
use keyroll_core::notify::ses::SesMailer;
use keyroll_core::notify::Mailer;
use keyroll_core::queue::{MemoryQueue, NotificationQueue, SqsQueue};
use keyroll_core::store::dynamodb::create_table;
use keyroll_core::store::dynamodb::DynamoStore;
use keyroll_core::store::memory::MemoryStore;
use keyroll_core::store::DeliveryStore;
use keyroll_core::store::Store;
use keyroll_core::vault::{MemoryVault, SecretVault, SecretsManagerVault};

use crate::{notifier, settings};

/// What keyroll-local runs on: the in-memory adapters, or the AWS ones.
pub struct Backend {
    pub store: Arc<dyn Store>,
    pub deliveries: Arc<dyn DeliveryStore>,
    pub queue: Arc<dyn NotificationQueue>,
    pub vault: Arc<dyn SecretVault>,
    pub mailer: Arc<dyn Mailer>,
    pub source: notifier::Source,
    /// The keyed MAC: KMS when a key is configured (or created), else the process's own.
    pub mac: Arc<dyn KeyedMac>,
}

impl Backend {
    /// The backend `KEYROLL_BACKEND` names; with `create_tables`, the AWS resources are
    /// created first.
    pub async fn from_env(config: &Config, create_tables: bool, email_from: &str) -> Result<Self> {
        match settings::text(&settings::BACKEND).as_str() {
            "memory" => Self::memory(email_from),
            "aws" => Self::aws(config, create_tables, email_from).await,
            other => bail!("KEYROLL_BACKEND must be memory or aws (got {other:?})"),
        }
    }

    /// The embedded store, queue and vault; emails go to a folder.
    fn memory(email_from: &str) -> Result<Self> {
        let memory = Arc::new(MemoryStore::new());
        let queue = Arc::new(MemoryQueue::new());
        let folder = std::env::var(settings::EMAIL_DIR.name)
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|_| {
                std::env::temp_dir().join(format!("keyroll-local-mail-{}", std::process::id()))
            });
        let mailer = FolderMailer::new(&folder, email_from.to_owned())
            .with_context(|| format!("creating the mail folder {}", folder.display()))?;
        println!("emails are written to {}", folder.display());
        Ok(Backend {
            store: memory.clone(),
            deliveries: memory,
            queue: queue.clone(),
            vault: Arc::new(MemoryVault::new()),
            mailer: Arc::new(mailer),
            source: notifier::Source::Memory(queue),
            mac: Arc::new(LocalMac::random()),
        })
    }

    /// DynamoDB, SQS, Secrets Manager, SES and KMS at the standard endpoints.
    async fn aws(config: &Config, create_tables: bool, email_from: &str) -> Result<Self> {
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
            verify_sender(&ses, email_from).await?;
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
                Arc::new(DerivedMac::derive(Arc::new(KmsMac::new(kms, key))).await?)
            }
            None => {
                println!(
                    "warning: no KEYROLL_MAC_KEY_ID: audit heads and secret records are MACed with a key of this process; after a restart, keys changed before it refuse changes (AuditHeadNotAuthentic) and their secrets no longer verify"
                );
                Arc::new(LocalMac::random())
            }
        };
        Ok(Backend {
            store: dynamo.clone(),
            deliveries: dynamo,
            queue: Arc::new(SqsQueue::new(sqs.clone(), queue_url.clone())),
            vault: Arc::new(SecretsManagerVault::new(
                aws_sdk_secretsmanager::Client::new(&sdk),
            )),
            mailer: Arc::new(SesMailer::new(ses, email_from.to_owned())),
            source: notifier::Source::Sqs {
                client: sqs,
                url: queue_url,
            },
            mac,
        })
    }
}

/// An HMAC key in KMS (moto locally) for the keyed MAC, as the template makes one.
pub async fn create_mac_key(kms: &aws_sdk_kms::Client) -> Result<String> {
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

/// Makes `from` a verified SES identity (moto refuses mail from unverified senders).
pub async fn verify_sender(ses: &aws_sdk_sesv2::Client, from: &str) -> Result<()> {
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
pub async fn create_queue(sqs: &aws_sdk_sqs::Client) -> Result<String> {
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
