//! The starvation drill: organisation A has 10 webhook endpoints that accept a
//! connection and never answer, and 20 notifications in flight; organisation B has one
//! healthy endpoint and one notification sent just after A's. The real notifier
//! handler runs as Lambda's SQS poller would call it (up to 5 batches at once, each
//! with a 60 s deadline, failed items left for redelivery) on a moto FIFO queue with a
//! dead-letter queue after 5 receives, over DynamoDB Local, plus the retry schedule
//! every 10 s. B's webhook and feed entry must arrive within 30 s, B's message must be
//! received once and never dead-lettered, and no run may pass its deadline.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use keyroll_core::ids::{KeyId, OrganizationId};
use keyroll_core::notification::Notification;
use keyroll_core::notify::http::HttpWebhookSender;
use keyroll_core::notify::{Notifier, NotifierSettings};
use keyroll_core::queue::{NotificationQueue, SqsQueue};
use keyroll_core::store::dynamodb::{create_table, DynamoStore};
use keyroll_core::store::DeliveryStore;
use keyroll_core::testing::TestKeyroll;
use keyroll_core::time::SystemClock;
use keyroll_notifier::{handle, Deps};
use keyroll_tests::fixture::{dynamodb_client, moto_vault};
use keyroll_tests::queues::moto_fifo_queue;
use keyroll_tests::receiver::Receiver;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{json, Value};

/// The notifier's Lambda timeout.
const RUN_DEADLINE: Duration = Duration::from_secs(60);
/// The SQS event source's MaximumConcurrency in template.yaml.
const POLLERS: usize = 5;

/// An endpoint that takes connections and never answers (nor closes them).
async fn tarpit() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    format!("http://{address}/hook")
}

fn notification(organization: &OrganizationId, key: &KeyId, n: usize) -> Notification {
    serde_json::from_value(json!({
        "type": "rotation.started",
        "schemaVersion": 1,
        "eventId": format!("evt_{}_{n:010}", key.as_str().trim_start_matches("key_")),
        "occurredAt": "2026-12-03T12:00:00Z",
        "keyId": key,
        "organizationId": organization,
        "keyName": "backend",
        "oldSecretUsedInLast24h": false,
    }))
    .unwrap()
}

fn epoch_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn context(deadline_ms: u64) -> Context {
    let mut context = Context::default();
    context.deadline = deadline_ms;
    context.request_id = format!("drill-{deadline_ms}");
    context
}

/// What the drill saw.
#[derive(Default)]
struct Log {
    /// Event ids of every message handed to a run (one per receive).
    received: Vec<String>,
    /// Each run's length, and whether it ended before its deadline.
    runs: Vec<(Duration, bool)>,
}

/// A queue with a dead-letter queue after 5 receives, and a visibility timeout of 30 s
/// (template.yaml: 360 s) so that anything handed back, or held past it by a slow run,
/// is redelivered during the drill.
async fn queues(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> String {
    let (_, dead_letters) = moto_fifo_queue().await;
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&dead_letters)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    sqs.set_queue_attributes()
        .queue_url(queue_url)
        .attributes(
            QueueAttributeName::RedrivePolicy,
            json!({"deadLetterTargetArn": arn, "maxReceiveCount": "5"}).to_string(),
        )
        .attributes(QueueAttributeName::VisibilityTimeout, "30")
        .send()
        .await
        .unwrap();
    dead_letters
}

/// Lambda's SQS poller: receive a batch, run the handler with a 60 s deadline, delete
/// what it did not hand back.
async fn poll(
    deps: Arc<Deps>,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Log>>,
) {
    while !stop.load(Ordering::SeqCst) {
        let messages = sqs
            .receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
            .send()
            .await
            .unwrap()
            .messages
            .unwrap_or_default();
        if messages.is_empty() {
            continue;
        }
        let records: Vec<Value> = messages
            .iter()
            .map(|m| {
                let group = m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId))
                    .cloned()
                    .unwrap_or_default();
                json!({
                    "messageId": m.message_id(),
                    "receiptHandle": m.receipt_handle(),
                    "body": m.body(),
                    "attributes": {"MessageGroupId": group},
                    "messageAttributes": {},
                    "eventSource": "aws:sqs",
                })
            })
            .collect();
        {
            let mut log = log.lock().unwrap();
            for m in &messages {
                let body: Value = serde_json::from_str(m.body().unwrap()).unwrap();
                log.received
                    .push(body["eventId"].as_str().unwrap().to_owned());
            }
        }
        let answer = run(&deps, json!({ "Records": records }), &log).await;
        let handed_back: Vec<&str> = answer["batchItemFailures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["itemIdentifier"].as_str().unwrap())
            .collect();
        for m in &messages {
            if !handed_back.contains(&m.message_id().unwrap()) {
                sqs.delete_message()
                    .queue_url(&queue_url)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
    }
}

/// The retry schedule: a run every 10 s, with the same deadline.
async fn schedule(deps: Arc<Deps>, stop: Arc<AtomicBool>, log: Arc<Mutex<Log>>) {
    while !stop.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_secs(10)).await;
        run(&deps, json!({"detail-type": "Scheduled Event"}), &log).await;
    }
}

/// One invocation of the handler with the notifier's deadline, logged with its length
/// and whether it ended in time.
async fn run(deps: &Deps, payload: Value, log: &Mutex<Log>) -> Value {
    let deadline = epoch_ms() + RUN_DEADLINE.as_millis() as u64;
    let started = Instant::now();
    let answer = handle(deps, LambdaEvent::new(payload, context(deadline)))
        .await
        .unwrap();
    log.lock()
        .unwrap()
        .runs
        .push((started.elapsed(), epoch_ms() < deadline));
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn endpoints_that_never_answer_cannot_starve_another_organisation() {
    let client = dynamodb_client().await;
    let table = format!(
        "keyroll-drill-{}",
        hex::encode(keyroll_core::random::bytes::<5>())
    );
    create_table(&client, &table).await.expect("table");
    let store = Arc::new(DynamoStore::new(client, table));
    let vault = moto_vault().await;
    let wired = TestKeyroll::new()
        .setting("KEYROLL_ALLOW_LOOPBACK_WEBHOOKS", "true")
        .store(store.clone())
        .deliveries(store.clone())
        .vault(vault.clone())
        .build();
    let suffix = hex::encode(keyroll_core::random::bytes::<4>());
    let org_a = OrganizationId::parse(&format!("org_tarpits_{suffix}")).unwrap();
    let org_b = OrganizationId::parse(&format!("org_healthy_{suffix}")).unwrap();
    let operator = keyroll_core::ids::Actor::parse("alice").unwrap();
    for _ in 0..10 {
        wired
            .keyroll
            .add_webhook(org_a.clone(), &tarpit().await, None, &operator)
            .await
            .unwrap();
    }
    let receiver = Receiver::start(204).await;
    wired
        .keyroll
        .add_webhook(org_b.clone(), &receiver.url, None, &operator)
        .await
        .unwrap();

    let (sqs, queue_url) = moto_fifo_queue().await;
    let dead_letters = queues(&sqs, &queue_url).await;
    let queue = SqsQueue::new(sqs.clone(), queue_url.clone());
    let keys_a: Vec<KeyId> = (0..10).map(|_| KeyId::generate()).collect();
    let from_a: Vec<Notification> = (0..20)
        .map(|n| notification(&org_a, &keys_a[n % 10], n))
        .collect();
    for batch in from_a.chunks(10) {
        queue.publish(batch).await.unwrap();
    }
    let from_b = notification(&org_b, &KeyId::generate(), 0);
    queue.publish(std::slice::from_ref(&from_b)).await.unwrap();
    let sent_b = Instant::now();

    let deps = Arc::new(Deps {
        notifier: Notifier::new(
            store.clone(),
            None,
            Arc::new(HttpWebhookSender::new(wired.config.destinations)),
            vault,
            Arc::new(SystemClock),
            NotifierSettings::default(),
        ),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let log = Arc::new(Mutex::new(Log::default()));
    let mut tasks = Vec::new();
    for _ in 0..POLLERS {
        tasks.push(tokio::spawn(poll(
            deps.clone(),
            sqs.clone(),
            queue_url.clone(),
            stop.clone(),
            log.clone(),
        )));
    }
    tasks.push(tokio::spawn(schedule(
        deps.clone(),
        stop.clone(),
        log.clone(),
    )));

    // B's webhook and feed entry.
    let mut b_latency = None;
    while sent_b.elapsed() < Duration::from_secs(60) {
        let fed = store.feed(&org_b, None, 10).await.unwrap();
        if !receiver.accepted().is_empty() && !fed.is_empty() {
            b_latency = Some(sent_b.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let A's batches finish their runs before stopping the pollers.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let fed_a = loop {
        let fed = store.feed(&org_a, None, 50).await.unwrap();
        if fed.len() == 20 || sent_b.elapsed() > Duration::from_secs(90) {
            break fed.len();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    stop.store(true, Ordering::SeqCst);
    for task in tasks {
        task.await.unwrap();
    }

    let log = std::mem::take(&mut *log.lock().unwrap());
    let b_received = log
        .received
        .iter()
        .filter(|id| **id == from_b.event_id)
        .count();
    let dead: Vec<String> = sqs
        .receive_message()
        .queue_url(&dead_letters)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default()
        .iter()
        .map(|m| m.body().unwrap_or_default().to_owned())
        .collect();
    let longest = log.runs.iter().map(|(d, _)| *d).max().unwrap_or_default();
    println!(
        "starvation drill: B's webhook and feed entry after {} ms; {} runs, the longest {:.1} s of {} s; \
         {} receives for {} messages; A's feed entries {fed_a}/20; dead-lettered {}",
        b_latency.map_or(-1, |d| d.as_millis() as i64),
        log.runs.len(),
        longest.as_secs_f64(),
        RUN_DEADLINE.as_secs(),
        log.received.len(),
        from_a.len() + 1,
        dead.len(),
    );
    let b_latency = b_latency.expect("B's webhook and feed entry arrived");
    assert!(
        b_latency < Duration::from_secs(30),
        "B waited {b_latency:?} behind A's endpoints"
    );
    assert_eq!(
        b_received, 1,
        "B's message was received once, never handed back"
    );
    assert!(
        !dead.iter().any(|body| body.contains(&from_b.event_id)),
        "B's message was dead-lettered"
    );
    assert!(dead.is_empty(), "nothing was dead-lettered: {dead:?}");
    assert_eq!(fed_a, 20, "every message of A was recorded, none lost");
    assert!(
        log.runs.iter().all(|(_, in_time)| *in_time),
        "a run passed its deadline: {:?}",
        log.runs
    );
}
