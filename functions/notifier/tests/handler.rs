//! The notifier handler on events/notifier-sqs-batch.json, over the in-memory store,
//! mailer and vault, with a real webhook receiver on loopback.

use std::sync::{Arc, Mutex};

use keyroll_core::delivery::DeliveryStatus;
use keyroll_core::ids::{Actor, OrganizationId};
use keyroll_core::notify::http::HttpWebhookSender;
use keyroll_core::notify::mailer::MemoryMailer;
use keyroll_core::notify::{Mailer, Notifier, NotifierSettings};
use keyroll_core::store::DeliveryStore;
use keyroll_core::testing::TestKeyroll;
use keyroll_core::time::Timestamp;
use keyroll_notifier::{handle, Deps};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::Value;

/// An invocation context with ten minutes left (as a duration, like cargo-lambda's).
fn context() -> Context {
    let mut context = Context::default();
    context.deadline = 600_000;
    context
}

fn fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../events/notifier-sqs-batch.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A webhook receiver on a loopback port that answers 204 and keeps what it got.
async fn receiver() -> (String, Arc<Mutex<Vec<(Vec<(String, String)>, String)>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let kept = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let kept = kept.clone();
            async move {
                let headers = headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
                    .collect();
                kept.lock().unwrap().push((headers, body));
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}/hook"), received)
}

#[tokio::test]
async fn a_batch_is_delivered_once_and_a_bad_message_is_reported_back() {
    let wired = TestKeyroll::new()
        .setting("KEYROLL_ALLOW_LOOPBACK_WEBHOOKS", "true")
        .starting_at(Timestamp::parse("2026-11-25T18:00:00Z").unwrap())
        .build();
    let memory = wired.memory.clone().unwrap();
    let org = OrganizationId::parse("org_acme").unwrap();
    let actor = Actor::parse("alice").unwrap();
    wired
        .keyroll
        .add_contact(org.clone(), "ops@acme.example", None, &actor)
        .await
        .unwrap();
    let (url, received) = receiver().await;
    let (_, signing_secret) = wired
        .keyroll
        .add_webhook(org.clone(), &url, None, &actor)
        .await
        .unwrap();
    let mailer = Arc::new(MemoryMailer::new());
    let notifier = Notifier::new(
        memory.clone(),
        Some(mailer.clone() as Arc<dyn Mailer>),
        Arc::new(HttpWebhookSender::new(wired.config.destinations)),
        wired.vault.clone().unwrap(),
        Arc::new(wired.clock.clone()),
        NotifierSettings::default(),
    );
    let deps = Deps { notifier };
    let event = || LambdaEvent::new(fixture(), context());

    let answer = handle(&deps, event()).await.unwrap();
    let failures = answer["batchItemFailures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{answer}");
    assert_eq!(
        failures[0]["itemIdentifier"],
        "2e1424d4-f796-459a-8184-9c92662be6da"
    );
    assert_eq!(mailer.sent().len(), 1);
    let (to, email) = &mailer.sent()[0];
    assert_eq!(to.as_str(), "ops@acme.example");
    assert!(email.subject.contains("Acme production backend"));
    assert!(email.text.contains("sk_live_Ns3Xz4Wh"));
    {
        let got = received.lock().unwrap();
        assert_eq!(got.len(), 1);
        let (headers, body) = &got[0];
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(
            header("webhook-id").as_deref(),
            Some("evt_01jd4x8m2q7r5t9v3w6y0z1a2b_0000000003")
        );
        let timestamp: i64 = header("webhook-timestamp").unwrap().parse().unwrap();
        let expected = keyroll_core::webhook::SigningSecret::parse(signing_secret.expose())
            .unwrap()
            .sign(
                "evt_01jd4x8m2q7r5t9v3w6y0z1a2b_0000000003",
                timestamp,
                body.as_bytes(),
            );
        assert_eq!(header("webhook-signature"), Some(expected));
        let sent: Value = serde_json::from_str(body).unwrap();
        assert_eq!(sent["type"], "rotation.started");
    }

    // The queue redelivers the batch: nothing is sent twice.
    handle(&deps, event()).await.unwrap();
    assert_eq!(mailer.sent().len(), 1, "no second email");
    assert_eq!(received.lock().unwrap().len(), 1, "no second webhook");
    let feed = memory.feed(&org, None, 10).await.unwrap();
    assert_eq!(feed.len(), 1, "one feed entry");
    let attempts = memory.attempts(&org, None, 10).await.unwrap();
    assert_eq!(attempts.len(), 2, "one email and one webhook attempt");
    let delivery = memory
        .delivery(
            "evt_01jd4x8m2q7r5t9v3w6y0z1a2b_0000000003",
            attempts[0].target.id(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(delivery.status, DeliveryStatus::Delivered);
}

#[tokio::test]
async fn the_schedule_runs_the_due_retries() {
    let wired = TestKeyroll::new().build();
    let notifier = Notifier::new(
        wired.memory.clone().unwrap(),
        None,
        Arc::new(HttpWebhookSender::new(wired.config.destinations)),
        wired.vault.clone().unwrap(),
        Arc::new(wired.clock.clone()),
        NotifierSettings::default(),
    );
    let deps = Deps { notifier };
    let schedule: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../events/processor-schedule.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let report = handle(&deps, LambdaEvent::new(schedule, context()))
        .await
        .unwrap();
    assert_eq!(report["delivered"], 0);
    assert_eq!(report["retrying"], 0);
}

/// A FIFO queue keeps a key's messages in order only if nothing after a failure of
/// that key goes through: the rest of its group in the batch is handed back too.
#[tokio::test]
async fn after_a_failure_the_rest_of_its_message_group_is_handed_back() {
    let wired = TestKeyroll::new().build();
    let notifier = Notifier::new(
        wired.memory.clone().unwrap(),
        None,
        Arc::new(HttpWebhookSender::new(wired.config.destinations)),
        wired.vault.clone().unwrap(),
        Arc::new(wired.clock.clone()),
        NotifierSettings::default(),
    );
    let deps = Deps { notifier };
    let mut batch = fixture();
    let records = batch["Records"].as_array_mut().unwrap();
    records.reverse(); // the malformed message first, then a valid one of the same key
    let answer = handle(&deps, LambdaEvent::new(batch, context()))
        .await
        .unwrap();
    let failures: Vec<&str> = answer["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap())
        .collect();
    assert_eq!(
        failures,
        [
            "2e1424d4-f796-459a-8184-9c92662be6da",
            "059f36b4-87a3-44ab-83d2-661975830a7d"
        ]
    );
    let org = OrganizationId::parse("org_acme").unwrap();
    assert!(
        wired
            .memory
            .unwrap()
            .feed(&org, None, 10)
            .await
            .unwrap()
            .is_empty(),
        "the held-back message was not taken"
    );
}
