//! The notifier's throughput: N notifications for one organisation with one webhook
//! endpoint (a receiver on loopback answering 204) and one email contact (moto's SES),
//! over DynamoDB Local, accepted as the Lambda accepts them from SQS — one batch of 10
//! at a time, several containers at once.
//!
//!   scripts/bench notifier [notifications] [containers]     # default 500, 4
//!
//! Reported: notifications/s, and per notification the webhook requests, the SES
//! requests and the DynamoDB requests (counted, not timed).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use futures::stream::{self, StreamExt};
use keyroll_core::contact::EmailAddress;
use keyroll_core::email::EmailMessage;
use keyroll_core::ids::{Actor, KeyId, KeyName, OrganizationId};
use keyroll_core::notification::{Notification, NotificationType, SCHEMA_VERSION};
use keyroll_core::notify::http::HttpWebhookSender;
use keyroll_core::notify::ses::SesMailer;
use keyroll_core::notify::{MailError, Mailer, Notifier, NotifierSettings};
use keyroll_core::store::dynamodb::{create_table, DynamoStore};
use keyroll_core::testing::TestKeyroll;
use keyroll_core::time::{SystemClock, Timestamp};
use keyroll_core::vault::SecretsManagerVault;
use keyroll_tests::receiver::Receiver;

/// Counts what reaches the mail service.
struct CountingMailer {
    inner: SesMailer,
    sent: AtomicU64,
}

#[async_trait]
impl Mailer for CountingMailer {
    async fn send(&self, to: &EmailAddress, message: &EmailMessage) -> Result<(), MailError> {
        self.sent.fetch_add(1, Ordering::Relaxed);
        self.inner.send(to, message).await
    }
}

fn notification(organization: &OrganizationId, n: usize) -> Notification {
    Notification {
        kind: NotificationType::RotationStarted,
        schema_version: SCHEMA_VERSION,
        event_id: format!("evt_01jd4x8m2q7r5t9v3w6y0z1a2b_{n:010}"),
        occurred_at: Timestamp::parse("2026-11-25T18:00:00Z").unwrap(),
        key_id: KeyId::parse("key_01jd4x8m2q7r5t9v3w6y0z1a2b").unwrap(),
        organization_id: organization.clone(),
        key_name: KeyName::parse("Acme production backend").unwrap(),
        rotation_id: None,
        old_prefix: Some("sk_live_3fA9kQ2z".into()),
        new_prefix: Some("sk_live_Ns3Xz4Wh".into()),
        deadline: Some(Timestamp::parse("2026-11-28T18:00:00Z").unwrap()),
        reason: None,
        trigger: None,
        old_secret_last_used_at: None,
        old_secret_used_in_last_24h: false,
        actor: None,
        callers_not_moved: vec![],
        delivery_key_thumbprint: None,
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let count = args.first().copied().unwrap_or(500);
    let containers = args.get(1).copied().unwrap_or(4).max(1);
    let sdk = keyroll_core::aws::load_config().await;
    let client = keyroll_core::aws::dynamodb_client(&sdk);
    let table = format!("keyroll-notifier-bench-{}", std::process::id());
    create_table(&client, &table).await.expect("table");
    let store = Arc::new(DynamoStore::new(client, table));
    let vault = Arc::new(SecretsManagerVault::new(
        aws_sdk_secretsmanager::Client::new(&sdk),
    ));
    let ses = aws_sdk_sesv2::Client::new(&sdk);
    let from = "keyroll@keyroll.example";
    let _ = ses
        .create_email_identity()
        .email_identity(from)
        .send()
        .await;
    let wired = TestKeyroll::new()
        .setting("KEYROLL_ALLOW_LOOPBACK_WEBHOOKS", "true")
        .setting(
            "KEYROLL_SECRET_NAME_PREFIX",
            &format!("bench-{}/", std::process::id()),
        )
        .store(store.clone())
        .deliveries(store.clone())
        .vault(vault.clone())
        .build();
    let organization = OrganizationId::parse("org_bench").unwrap();
    let actor = Actor::parse("bench").unwrap();
    let receiver = Receiver::start(204).await;
    wired
        .keyroll
        .add_webhook(organization.clone(), &receiver.url, None, &actor)
        .await
        .unwrap();
    wired
        .keyroll
        .add_contact(organization.clone(), "ops@acme.example", None, &actor)
        .await
        .unwrap();
    let mailer = Arc::new(CountingMailer {
        inner: SesMailer::new(ses, from),
        sent: AtomicU64::new(0),
    });
    let notifier = Arc::new(Notifier::new(
        store.clone(),
        Some(mailer.clone() as Arc<dyn Mailer>),
        Arc::new(HttpWebhookSender::new(wired.config.destinations)),
        vault,
        Arc::new(SystemClock),
        NotifierSettings::default(),
    ));
    let notifications: Vec<Notification> =
        (0..count).map(|n| notification(&organization, n)).collect();
    let batches: Vec<Vec<Notification>> = notifications.chunks(10).map(<[_]>::to_vec).collect();
    let requests_before = store.request_count();
    let started = Instant::now();
    stream::iter(batches)
        .for_each_concurrent(containers, |batch| {
            let notifier = notifier.clone();
            async move {
                for n in &batch {
                    notifier.accept(n).await.expect("accepted");
                }
            }
        })
        .await;
    let elapsed = started.elapsed();
    let requests = store.request_count() - requests_before;
    let webhooks = receiver.accepted().len();
    let emails = mailer.sent.load(Ordering::Relaxed);
    println!("| notifications | containers | wall | notifications/s | webhook requests | SES requests | DynamoDB requests per notification |");
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| {count} | {containers} | {:.2} s | {:.0} | {webhooks} | {emails} | {:.1} |",
        elapsed.as_secs_f64(),
        count as f64 / elapsed.as_secs_f64(),
        requests as f64 / count as f64
    );
    assert_eq!(
        webhooks, count,
        "every notification reached the receiver once"
    );
    assert_eq!(emails as usize, count, "and the contact once");
}
