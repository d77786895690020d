//! The notifier end to end on the real stand-ins: DynamoDB Local, moto (SQS FIFO,
//! SES v2, Secrets Manager) and webhook receivers on loopback, whose signatures the
//! Standard Webhooks reference library checks.

use std::sync::Arc;
use std::time::Duration;

#[path = "notifier/starvation.rs"]
mod starvation;

use keyroll_core::delivery::AttemptOutcome;
use keyroll_core::ids::{Actor, KeyName, OrganizationId};
use keyroll_core::notification::Notification;
use keyroll_core::notify::http::HttpWebhookSender;
use keyroll_core::notify::ses::SesMailer;
use keyroll_core::notify::{Mailer, Notifier, NotifierSettings};
use keyroll_core::processor::{process_due, ProcessorOptions};
use keyroll_core::queue::SqsQueue;
use keyroll_core::service::{Keyroll, NewKey, RotationRequest, Start};
use keyroll_core::store::dynamodb::{create_table, DynamoStore};
use keyroll_core::store::DeliveryStore;
use keyroll_core::testing::TestKeyroll;
use keyroll_core::time::SystemClock;
use keyroll_tests::fixture::{dynamodb_client, moto_vault};
use keyroll_tests::queues::moto_fifo_queue;
use keyroll_tests::receiver::{verify_with_standard_webhooks, Receiver};
use keyroll_tests::ReturnedSecret;
use serde_json::Value;

struct World {
    keyroll: Keyroll,
    notifier: Notifier,
    store: Arc<DynamoStore>,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    organization: OrganizationId,
    /// Unique per test: moto's one SES outbox is shared by every test.
    contact: String,
}

fn suffix() -> String {
    hex::encode(keyroll_core::random::bytes::<5>())
}

async fn world() -> World {
    world_sending(200).await
}

/// A world whose organisations may be sent `emails_per_hour` emails an hour.
async fn world_sending(emails_per_hour: u32) -> World {
    let client = dynamodb_client().await;
    let id = suffix();
    let table = format!("keyroll-notify-{id}");
    create_table(&client, &table).await.expect("table");
    let store = Arc::new(DynamoStore::new(client, table));
    let sdk = keyroll_core::aws::load_config().await;
    assert!(
        std::env::var("AWS_ENDPOINT_URL_SESV2").is_ok(),
        "AWS_ENDPOINT_URL_SESV2 is not set: run scripts/test"
    );
    let ses = aws_sdk_sesv2::Client::new(&sdk);
    let from = "keyroll@keyroll.example";
    let _ = ses
        .create_email_identity()
        .email_identity(from)
        .send()
        .await;
    let (sqs, queue_url) = moto_fifo_queue().await;
    let vault = moto_vault().await;
    let wired = TestKeyroll::new()
        .setting("KEYROLL_ALLOW_LOOPBACK_WEBHOOKS", "true")
        .setting("KEYROLL_SECRET_NAME_PREFIX", &format!("keyroll-{id}/"))
        .setting(
            "KEYROLL_EMAILS_PER_ORGANIZATION_HOUR",
            &emails_per_hour.to_string(),
        )
        .store(store.clone())
        .deliveries(store.clone())
        .vault(vault.clone())
        // On the notifier's clock: both count the organisation's emails per clock hour.
        .starting_at(keyroll_core::time::Clock::now(&SystemClock))
        .build();
    // The notifier signs with the wall clock: receivers check webhook-timestamp. Retries
    // are a second apart so the test can wait for them.
    let mailer = Arc::new(SesMailer::new(ses, from)) as Arc<dyn Mailer>;
    let notifier = Notifier::new(
        store.clone(),
        Some(mailer.clone()),
        Arc::new(HttpWebhookSender::new(wired.config.destinations)),
        vault,
        Arc::new(SystemClock),
        NotifierSettings {
            retry_seconds: vec![1, 1, 1],
            emails_per_organization_hour: emails_per_hour,
            ..NotifierSettings::default()
        },
    );
    World {
        // A customer's new contact is sent its confirmation through SES as well.
        keyroll: wired.keyroll.with_mailer(mailer),
        notifier,
        store,
        sqs,
        queue_url,
        organization: OrganizationId::parse(&format!("org_{id}")).unwrap(),
        contact: format!("ops-{id}@acme.example"),
    }
}

impl World {
    fn actor(&self) -> Actor {
        Actor::parse("alice").unwrap()
    }

    /// Issues a key and rotates it now; the processor moves the notifications to SQS.
    async fn rotate(&self) -> (String, String) {
        let issued = self
            .keyroll
            .issue_key(
                NewKey {
                    organization_id: self.organization.clone(),
                    name: KeyName::parse("Acme production backend").unwrap(),
                    scopes: vec![],
                    rate_limit: 10,
                    class: Default::default(),
                    expires_at: None,
                },
                &self.actor(),
            )
            .await
            .unwrap();
        let rotated = self
            .keyroll
            .schedule_rotation(
                &issued.key.id,
                RotationRequest {
                    start: Start::Now,
                    grace_seconds: Some(3600),
                    ..Default::default()
                },
                &self.actor(),
            )
            .await
            .unwrap();
        let queue = SqsQueue::new(self.sqs.clone(), self.queue_url.clone());
        process_due(&self.keyroll, Some(&queue), ProcessorOptions::default())
            .await
            .unwrap();
        (
            issued.secret.expose().to_owned(),
            rotated.returned_secret().expose().to_owned(),
        )
    }

    /// Every notification on the queue, received (and deleted) as the Lambda would.
    async fn receive(&self) -> Vec<Notification> {
        let mut out = Vec::new();
        let mut empty = 0;
        while empty < 2 {
            let messages = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .send()
                .await
                .unwrap()
                .messages
                .unwrap_or_default();
            if messages.is_empty() {
                empty += 1;
                continue;
            }
            for message in messages {
                out.push(serde_json::from_str(message.body().unwrap()).unwrap());
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(message.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
        out
    }

    /// The emails moto's SES accepted for this test's contact: (subject, body).
    async fn emails(&self) -> Vec<(String, String)> {
        let moto = std::env::var("KEYROLL_MOTO_URL").expect("KEYROLL_MOTO_URL: run scripts/test");
        let data: Value = reqwest::get(format!("{moto}/moto-api/data.json"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut out = Vec::new();
        for message in data["ses"]["Message"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            let to = message["destinations"].to_string();
            if to.contains(&self.contact) {
                out.push((
                    message["subject"].as_str().unwrap_or_default().to_owned(),
                    message["body"].as_str().unwrap_or_default().to_owned(),
                ));
            }
        }
        out
    }
}

/// A rotation's notifications reach an email contact (read back from moto's SES) and a
/// webhook receiver whose signature check with the reference library passes; a
/// redelivered batch sends nothing twice; no secret is in any of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rotation_reaches_email_and_a_signed_webhook_exactly_once() {
    let w = world().await;
    w.keyroll
        .add_contact(w.organization.clone(), &w.contact, None, &w.actor())
        .await
        .unwrap();
    let receiver = Receiver::start(204).await;
    let (_, signing_secret) = w
        .keyroll
        .add_webhook(w.organization.clone(), &receiver.url, None, &w.actor())
        .await
        .unwrap();
    let (old_secret, new_secret) = w.rotate().await;
    let notifications = w.receive().await;
    assert_eq!(notifications.len(), 2, "scheduled and started");
    for notification in &notifications {
        let report = w.notifier.accept(notification).await.unwrap();
        assert_eq!((report.delivered, report.failed), (2, 0), "{report:?}");
    }
    let emails = w.emails().await;
    assert_eq!(emails.len(), 2, "{emails:?}");
    assert!(emails
        .iter()
        .any(|(subject, _)| subject.contains("has a new secret")));
    let hooks = receiver.accepted();
    assert_eq!(hooks.len(), 2);
    for hook in &hooks {
        assert!(
            verify_with_standard_webhooks(signing_secret.expose(), hook),
            "the reference library rejects {hook:?}"
        );
        let event_id = hook.header("webhook-id").unwrap();
        assert!(notifications.iter().any(|n| n.event_id == event_id));
    }

    // The queue delivers the same messages again: nothing is sent twice.
    for notification in &notifications {
        let report = w.notifier.accept(notification).await.unwrap();
        assert_eq!(report.delivered, 0);
    }
    assert_eq!(w.emails().await.len(), 2, "no second email");
    assert_eq!(receiver.received().len(), 2, "no second webhook");
    let feed = w.keyroll.feed(&w.organization, None, 10).await.unwrap();
    assert_eq!(feed.len(), 2);

    let feed_text =
        serde_json::to_string(&feed.iter().map(|e| &e.notification).collect::<Vec<_>>()).unwrap();
    for secret in [&old_secret, &new_secret] {
        let body = &secret[16..];
        for (subject, text) in &emails {
            assert!(
                !subject.contains(body) && !text.contains(body),
                "a secret in an email"
            );
        }
        for hook in receiver.received() {
            assert!(!hook.body.contains(body), "a secret in a webhook");
        }
        assert!(!feed_text.contains(body), "a secret in the feed");
    }
}

/// A receiver that is down gets the message once it is back, exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_receiver_that_is_down_gets_the_message_once_it_is_back() {
    let w = world().await;
    let receiver = Receiver::start(503).await;
    w.keyroll
        .add_webhook(w.organization.clone(), &receiver.url, None, &w.actor())
        .await
        .unwrap();
    w.rotate().await;
    let notifications = w.receive().await;
    for notification in &notifications {
        let report = w.notifier.accept(notification).await.unwrap();
        assert_eq!(report.retrying, 1, "{report:?}");
    }
    assert!(receiver.accepted().is_empty());
    receiver.answer(204);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let report = w.notifier.retry_due(None).await.unwrap();
    assert_eq!(report.delivered, notifications.len() as u64, "{report:?}");
    tokio::time::sleep(Duration::from_millis(1300)).await;
    w.notifier.retry_due(None).await.unwrap();
    let accepted = receiver.accepted();
    assert_eq!(accepted.len(), notifications.len(), "each exactly once");
    let attempts = w
        .keyroll
        .delivery_attempts(&w.organization, None, 20)
        .await
        .unwrap();
    assert!(attempts
        .iter()
        .any(|a| a.outcome == AttemptOutcome::Retrying && a.status == Some(503)));
    assert!(attempts
        .iter()
        .any(|a| a.outcome == AttemptOutcome::Delivered && a.status == Some(204)));
}

/// A contact a customer adds is mailed its confirmation code and nothing else: a
/// rotation's notifications pass it by until the code comes back. Once confirmed it
/// gets them, up to the organisation's emails per hour; past that, emails wait for a
/// later hour and another contact's confirmation is refused (429) with nothing added.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_customers_contact_gets_only_its_confirmation_until_confirmed_and_emails_are_limited() {
    let w = world_sending(3).await;
    let admin = keyroll_core::ids::Actor::customer(&w.organization, "admin@acme").unwrap();
    let contact = w
        .keyroll
        .add_contact(w.organization.clone(), &w.contact, None, &admin)
        .await
        .unwrap();
    assert!(!contact.is_confirmed());
    let emails = w.emails().await;
    assert_eq!(emails.len(), 1, "the confirmation only: {emails:?}");
    let (subject, body) = &emails[0];
    assert!(subject.contains("Confirm"), "{subject}");
    let code = body
        .split("confirmation code: ")
        .nth(1)
        .map(|rest| rest[..14].to_owned())
        .expect("the code is in the email");

    w.rotate().await;
    for notification in &w.receive().await {
        let report = w.notifier.accept(notification).await.unwrap();
        assert_eq!(report.delivered, 0, "not sent to an unconfirmed contact");
    }
    assert_eq!(w.emails().await.len(), 1, "still the confirmation only");

    let wrong = w
        .keyroll
        .confirm_contact(&w.organization, &contact.id, "0000-0000-0000")
        .await
        .unwrap_err();
    assert_eq!(wrong.kind(), keyroll_core::error::ErrorKind::Conflict);
    let foreign = OrganizationId::parse("org_someone_else").unwrap();
    assert_eq!(
        w.keyroll
            .confirm_contact(&foreign, &contact.id, &code)
            .await
            .unwrap_err()
            .kind(),
        keyroll_core::error::ErrorKind::NotFound,
        "another organisation's contact is unknown"
    );
    let confirmed = w
        .keyroll
        .confirm_contact(&w.organization, &contact.id, &code.to_lowercase())
        .await
        .unwrap();
    assert!(confirmed.is_confirmed());

    w.rotate().await;
    for notification in &w.receive().await {
        let report = w.notifier.accept(notification).await.unwrap();
        assert_eq!(report.delivered, 1, "{report:?}");
    }
    assert_eq!(
        w.emails().await.len(),
        3,
        "the confirmation and two notifications"
    );

    // The organisation has had its three emails this hour.
    w.rotate().await;
    for notification in &w.receive().await {
        let report = w.notifier.accept(notification).await.unwrap();
        assert_eq!((report.delivered, report.retrying), (0, 1), "{report:?}");
    }
    assert_eq!(w.emails().await.len(), 3, "nothing past the limit");
    let attempts = w
        .keyroll
        .delivery_attempts(&w.organization, None, 20)
        .await
        .unwrap();
    assert!(attempts
        .iter()
        .any(|a| a.outcome == AttemptOutcome::Retrying
            && a.error.as_deref() == Some(keyroll_core::notify::EMAIL_LIMIT_REACHED)));
    let refused = w
        .keyroll
        .add_contact(w.organization.clone(), "second@acme.example", None, &admin)
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused,
            keyroll_core::error::Error::TooManyRequests {
                retry_after_seconds: 1..=3600,
                ..
            }
        ),
        "{refused:?}"
    );
    assert_eq!(
        w.keyroll.contacts(&w.organization).await.unwrap().len(),
        1,
        "the refused contact was not added"
    );
}

/// An endpoint that answers 410 is disabled, and the organisation's contacts are told.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_endpoint_answering_410_is_disabled_and_its_contacts_are_told() {
    let w = world().await;
    w.keyroll
        .add_contact(w.organization.clone(), &w.contact, None, &w.actor())
        .await
        .unwrap();
    let receiver = Receiver::start(410).await;
    let (endpoint, _) = w
        .keyroll
        .add_webhook(w.organization.clone(), &receiver.url, None, &w.actor())
        .await
        .unwrap();
    w.rotate().await;
    let notifications = w.receive().await;
    w.notifier.accept(&notifications[0]).await.unwrap();
    let stored = w
        .store
        .webhook(&w.organization, &endpoint.id)
        .await
        .unwrap()
        .unwrap();
    assert!(stored.disabled_at.is_some());
    assert!(stored.disabled_reason.unwrap().contains("410"));
    assert!(w
        .emails()
        .await
        .iter()
        .any(|(subject, _)| subject.contains("webhook endpoint was disabled")));
    w.notifier.accept(&notifications[1]).await.unwrap();
    assert_eq!(receiver.received().len(), 1, "never called again");
}
