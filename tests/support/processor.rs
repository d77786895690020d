//! The processor and notification suite, run over the in-memory adapters and over
//! DynamoDB Local + moto (SQS FIFO, Secrets Manager) with the same tests.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use futures::future::join_all;
use futures::stream::{self, StreamExt};
use keyroll_core::ids::{Actor, KeyId, KeyName, OrganizationId};
use keyroll_core::notification::{Notification, NotificationType};
use keyroll_core::processor::{process_due, ProcessReport, ProcessorOptions};
use keyroll_core::queue::{MemoryQueue, NotificationQueue, SqsQueue};
use keyroll_core::rotation::RotationStatus;
use keyroll_core::service::{Keyroll, NewKey, RotationRequest, ScheduleTrigger, Start};

use crate::ReturnedSecret;
use keyroll_core::store::dynamodb::create_table;
use keyroll_core::store::dynamodb::DynamoStore;
use keyroll_core::store::memory::MemoryStore;
use keyroll_core::store::Store;
use keyroll_core::time::{ManualClock, Timestamp};
use keyroll_core::vault::{MemoryVault, SecretVault, SecretsManagerVault};

use crate::faults::{Faults, FaultyStore};
use crate::fixture::{dynamodb_client, epoch, test_config};

/// Where delivered notifications can be read back.
pub enum Inbox {
    Memory(Arc<MemoryQueue>),
    Sqs {
        client: aws_sdk_sqs::Client,
        url: String,
    },
}

impl Inbox {
    /// How many messages are in the queue, without consuming them.
    pub async fn count(&self) -> usize {
        match self {
            Inbox::Memory(queue) => queue.delivered().len(),
            Inbox::Sqs { client, url } => {
                let attributes = client
                    .get_queue_attributes()
                    .queue_url(url)
                    .attribute_names(
                        aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages,
                    )
                    .send()
                    .await
                    .expect("queue attributes")
                    .attributes
                    .unwrap_or_default();
                attributes[&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages]
                    .parse()
                    .unwrap()
            }
        }
    }

    /// Every message delivered since the last call (SQS: received and deleted).
    pub async fn take(&self) -> Vec<Notification> {
        match self {
            Inbox::Memory(queue) => queue.delivered(),
            Inbox::Sqs { client, url } => {
                let mut out = Vec::new();
                let mut empty_polls = 0;
                while empty_polls < 2 {
                    let received = client
                        .receive_message()
                        .queue_url(url)
                        .max_number_of_messages(10)
                        .visibility_timeout(60)
                        .send()
                        .await
                        .expect("receive from moto")
                        .messages
                        .unwrap_or_default();
                    if received.is_empty() {
                        empty_polls += 1;
                        continue;
                    }
                    for message in received {
                        let body = message.body().expect("message body");
                        out.push(serde_json::from_str(body).expect("a notification"));
                        client
                            .delete_message()
                            .queue_url(url)
                            .receipt_handle(message.receipt_handle().unwrap())
                            .send()
                            .await
                            .expect("delete message");
                    }
                }
                out
            }
        }
    }
}

pub struct World {
    pub keyroll: Arc<Keyroll>,
    pub clock: ManualClock,
    pub faults: Arc<Faults>,
    pub queue: Arc<dyn NotificationQueue>,
    /// A queue that cannot be reached.
    pub broken_queue: Arc<dyn NotificationQueue>,
    pub inbox: Inbox,
    pub vault: Arc<dyn SecretVault>,
    /// The store under the fault injection, to inspect what was written.
    pub store: Arc<dyn Store>,
    pub dynamo: Option<Arc<DynamoStore>>,
}

fn build(
    store: Arc<dyn Store>,
    vault: Arc<dyn SecretVault>,
) -> (Arc<Keyroll>, ManualClock, Arc<Faults>) {
    let faults = Arc::new(Faults::default());
    let faulty: Arc<dyn Store> = Arc::new(FaultyStore {
        inner: store,
        faults: faults.clone(),
    });
    let clock = ManualClock::new(epoch());
    let keyroll =
        Keyroll::new(faulty, Arc::new(clock.clone()), Arc::new(test_config())).with_vault(vault);
    (Arc::new(keyroll), clock, faults)
}

pub async fn memory_world() -> World {
    let vault: Arc<dyn SecretVault> = Arc::new(MemoryVault::new());
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let (keyroll, clock, faults) = build(store.clone(), vault.clone());
    let queue = Arc::new(MemoryQueue::new());
    let broken = Arc::new(MemoryQueue::new());
    broken.set_down(true);
    World {
        keyroll,
        clock,
        faults,
        queue: queue.clone(),
        broken_queue: broken,
        inbox: Inbox::Memory(queue),
        vault,
        store,
        dynamo: None,
    }
}

/// DynamoDB Local with the in-memory queue (same deduplication contract as SQS FIFO),
/// for volumes moto's FIFO queue cannot take in reasonable time: moto checks every
/// queued message on each send, and 2,000 sends took minutes (docs/performance.md).
pub async fn dynamodb_world_with_memory_queue() -> World {
    let mut world = aws_world().await;
    let queue = Arc::new(MemoryQueue::new());
    world.queue = queue.clone();
    world.inbox = Inbox::Memory(queue);
    world
}

pub async fn aws_world() -> World {
    let client = dynamodb_client().await;
    let suffix = hex::encode(keyroll_core::random::bytes::<6>());
    let table = format!("keyroll-proc-{suffix}");
    create_table(&client, &table).await.expect("create table");
    let dynamo = Arc::new(DynamoStore::new(client, table));
    let sdk = keyroll_core::aws::load_config().await;
    assert!(
        std::env::var("AWS_ENDPOINT_URL_SQS").is_ok(),
        "AWS_ENDPOINT_URL_SQS is not set: run scripts/test"
    );
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = sqs
        .create_queue()
        .queue_name(format!("keyroll-{suffix}.fifo"))
        .attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .expect("create queue in moto")
        .queue_url
        .unwrap();
    let unreachable = aws_sdk_sqs::config::Builder::from(&sdk)
        .endpoint_url("http://127.0.0.1:1")
        .retry_config(aws_sdk_sqs::config::retry::RetryConfig::disabled())
        .build();
    let broken = Arc::new(SqsQueue::new(
        aws_sdk_sqs::Client::from_conf(unreachable),
        url.clone(),
    ));
    let vault: Arc<dyn SecretVault> = Arc::new(SecretsManagerVault::new(
        aws_sdk_secretsmanager::Client::new(&sdk),
    ));
    let (keyroll, clock, faults) = build(dynamo.clone(), vault.clone());
    World {
        keyroll,
        clock,
        faults,
        queue: Arc::new(SqsQueue::new(sqs.clone(), url.clone())),
        broken_queue: broken,
        inbox: Inbox::Sqs { client: sqs, url },
        vault,
        store: dynamo.clone(),
        dynamo: Some(dynamo),
    }
}

impl World {
    pub fn actor(&self) -> Actor {
        Actor::parse("alice@example.com").unwrap()
    }

    pub async fn run(&self) -> ProcessReport {
        process_due(
            &self.keyroll,
            Some(self.queue.as_ref()),
            ProcessorOptions::default(),
        )
        .await
        .expect("processor run")
    }

    /// `count` keys, each with a rotation starting at `start` with `grace` seconds.
    pub async fn seed(&self, count: usize, start: Timestamp, grace: u64) -> Vec<KeyId> {
        stream::iter(0..count)
            .map(|i| async move {
                let issued = self
                    .keyroll
                    .issue_key(
                        NewKey {
                            organization_id: OrganizationId::parse("org_acme").unwrap(),
                            name: KeyName::parse(&format!("key {i}")).unwrap(),
                            scopes: vec![],
                            rate_limit: 10,
                            class: Default::default(),
                        },
                        &self.actor(),
                    )
                    .await
                    .expect("issue");
                self.keyroll
                    .schedule_rotation(
                        &issued.key.id,
                        RotationRequest {
                            start: Start::At(start),
                            grace_seconds: Some(grace),
                            ..Default::default()
                        },
                        &self.actor(),
                    )
                    .await
                    .expect("schedule");
                issued.key.id
            })
            .buffer_unordered(16)
            .collect()
            .await
    }
}

fn by_key(messages: &[Notification]) -> BTreeMap<KeyId, Vec<NotificationType>> {
    let mut map: BTreeMap<KeyId, Vec<(String, NotificationType)>> = BTreeMap::new();
    for m in messages {
        map.entry(m.key_id.clone())
            .or_default()
            .push((m.event_id.clone(), m.kind));
    }
    map.into_iter()
        .map(|(k, mut v)| {
            v.sort_by(|a, b| a.0.cmp(&b.0));
            (k, v.into_iter().map(|(_, kind)| kind).collect())
        })
        .collect()
}

fn assert_unique(messages: &[Notification]) {
    let mut seen = HashSet::new();
    for m in messages {
        assert!(
            seen.insert(m.event_id.clone()),
            "duplicate delivery of {}",
            m.event_id
        );
        let text = serde_json::to_string(m).unwrap();
        assert!(!text.contains("secret\""), "no secret field: {text}");
    }
}

#[macro_export]
macro_rules! processor_suite {
    ($make:path, $race_size:expr) => {
        $crate::processor_suite!(@each $make;
            rotations_advance_on_time_and_notify_once,
            queue_outage_delays_but_never_loses_a_message,
            throttling_and_lost_races_are_retried,
            crash_between_delivery_and_removal_delivers_once,
            crash_after_commit_before_delivery_is_finished_later,
            policy_secret_is_revealed_once_then_gone,
            held_secret_is_deleted_when_the_rotation_ends,
            rotation_completes_early_once_clients_have_moved,
            embedded_grace_extends_while_the_old_secret_is_in_use,
        );
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn racing_processors_advance_every_rotation_exactly_once() {
            $crate::processor::racing_processors_advance_every_rotation_exactly_once($make().await, $race_size).await;
        }
    };
    (@each $make:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                $crate::processor::$name($make().await).await;
            }
        )*
    };
}

pub async fn rotations_advance_on_time_and_notify_once(w: World) {
    let start = epoch().plus_seconds(3600);
    let keys = w.seed(3, start, 3 * 86_400).await;
    let report = w.run().await;
    assert_eq!(
        (report.started, report.notified),
        (0, 3),
        "only the scheduling notices"
    );

    w.clock.set(start.minus_seconds(1));
    assert_eq!(w.run().await.started, 0, "not yet due");
    w.clock.set(start);
    assert_eq!(w.run().await.started, 3);
    // The reminder goes out 24 h before the grace ends.
    w.clock.set(start.plus_seconds(2 * 86_400 - 1));
    assert_eq!(w.run().await.reminded, 0);
    w.clock.set(start.plus_seconds(2 * 86_400));
    assert_eq!(w.run().await.reminded, 3);
    w.clock.set(start.plus_seconds(3 * 86_400));
    let report = w.run().await;
    assert_eq!((report.completed, report.notified), (3, 3));
    assert_eq!(
        w.run().await,
        ProcessReport::default(),
        "a re-run does nothing"
    );

    let messages = w.inbox.take().await;
    assert_unique(&messages);
    let grouped = by_key(&messages);
    assert_eq!(grouped.len(), 3);
    for key in &keys {
        assert_eq!(
            grouped[key],
            [
                NotificationType::RotationScheduled,
                NotificationType::RotationStarted,
                NotificationType::RotationReminder,
                NotificationType::RotationCompleted
            ]
        );
    }
    let reminder = messages
        .iter()
        .find(|m| m.kind == NotificationType::RotationReminder)
        .unwrap();
    assert_eq!(reminder.deadline, Some(start.plus_seconds(3 * 86_400)));
    assert!(
        reminder.old_prefix.is_some()
            && reminder.new_prefix.is_some()
            && reminder.rotation_id.is_some()
    );
}

pub async fn racing_processors_advance_every_rotation_exactly_once(w: World, count: usize) {
    let start = epoch().plus_seconds(60);
    let phase = std::time::Instant::now();
    let keys = w.seed(count, start, 60).await;
    eprintln!("seeded {count} rotations in {:?}", phase.elapsed());
    let phase = std::time::Instant::now();
    let w = Arc::new(w);
    let mut totals = ProcessReport::default();
    for at in [start, start.plus_seconds(60)] {
        w.clock.set(at);
        let runs = (0..3).map(|_| {
            let w = w.clone();
            tokio::spawn(async move { w.run().await })
        });
        for report in join_all(runs).await {
            let report = report.expect("task");
            totals.started += report.started;
            totals.completed += report.completed;
            totals.failed += report.failed;
        }
    }
    assert_eq!(
        (totals.started, totals.completed),
        (count as u64, count as u64),
        "{totals:?}"
    );
    eprintln!("processed in {:?}", phase.elapsed());
    // Nothing is left undelivered...
    for shard in 0..keyroll_core::store::INDEX_SHARDS {
        assert!(w.store.outbox(shard, None, 1).await.unwrap().is_empty());
    }
    // ...and the queue holds exactly one message per event: the 3 x count events have
    // distinct ids, and a copy of one would make the count larger (SQS FIFO and moto
    // drop a copy only while the first is still queued, which it is: nothing has
    // consumed them).
    assert_eq!(
        w.inbox.count().await,
        3 * count,
        "scheduled + started + completed, once each"
    );
    if let Inbox::Memory(_) = w.inbox {
        let messages = w.inbox.take().await;
        assert_unique(&messages);
    }
    for key in keys.iter().take(50) {
        let trail = w.keyroll.audit_trail(key).await.unwrap();
        assert!(trail.report.valid);
        assert_eq!(trail.events.len(), 4);
    }
    for key in &keys {
        let rotations = w.keyroll.rotations_of(key).await.unwrap();
        assert_eq!(rotations.len(), 1);
        assert_eq!(rotations[0].status, RotationStatus::Completed);
    }
}

pub async fn queue_outage_delays_but_never_loses_a_message(w: World) {
    let start = epoch().plus_seconds(10);
    w.seed(4, start, 600).await;
    w.clock.set(start);
    let report = process_due(
        &w.keyroll,
        Some(w.broken_queue.as_ref()),
        ProcessorOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        (report.started, report.notified),
        (4, 0),
        "state changes commit while the queue is down"
    );
    assert!(w.inbox.take().await.is_empty());
    let report = w.run().await;
    assert_eq!(
        report.notified, 8,
        "4 scheduled + 4 started, delivered once the queue is back"
    );
    assert_eq!(w.run().await.notified, 0);
    let messages = w.inbox.take().await;
    assert_unique(&messages);
    assert_eq!(messages.len(), 8);
}

pub async fn throttling_and_lost_races_are_retried(w: World) {
    let start = epoch().plus_seconds(10);
    w.seed(3, start, 600).await;
    w.clock.set(start);
    w.faults
        .throttle_commits
        .store(2, std::sync::atomic::Ordering::SeqCst);
    w.faults
        .conflict_commits
        .store(2, std::sync::atomic::Ordering::SeqCst);
    let report = w.run().await;
    assert_eq!((report.started, report.failed), (3, 0), "{report:?}");
}

pub async fn crash_between_delivery_and_removal_delivers_once(w: World) {
    let start = epoch().plus_seconds(10);
    w.seed(2, start, 600).await;
    w.faults
        .fail_outbox_removals
        .store(1, std::sync::atomic::Ordering::SeqCst);
    // The run delivers, then "dies" before it can remove the outbox entries.
    assert!(process_due(
        &w.keyroll,
        Some(w.queue.as_ref()),
        ProcessorOptions::default()
    )
    .await
    .is_err());
    // The next run delivers them again; the queue's deduplication drops the copies.
    w.run().await;
    assert_eq!(w.run().await.notified, 0, "the outbox is empty now");
    let messages = w.inbox.take().await;
    assert_unique(&messages);
    assert_eq!(messages.len(), 2);
}

pub async fn crash_after_commit_before_delivery_is_finished_later(w: World) {
    let start = epoch().plus_seconds(10);
    let keys = w.seed(2, start, 600).await;
    w.clock.set(start);
    // The change commits; the process "dies" before its outbox is delivered.
    for key in &keys {
        let rotation = w.keyroll.rotations_of(key).await.unwrap().remove(0);
        assert!(
            w.keyroll
                .advance_rotation(&rotation.id)
                .await
                .unwrap()
                .started
        );
    }
    let report = w.run().await;
    assert_eq!((report.started, report.notified), (0, 4));
    let messages = w.inbox.take().await;
    assert_unique(&messages);
    assert_eq!(messages.len(), 4);
}

async fn policy_rotation(w: &World) -> (KeyId, keyroll_core::rotation::Rotation) {
    let issued = w
        .keyroll
        .issue_key(
            NewKey {
                organization_id: OrganizationId::parse("org_acme").unwrap(),
                name: KeyName::parse("old key").unwrap(),
                scopes: vec![],
                rate_limit: 10,
                class: Default::default(),
            },
            &w.actor(),
        )
        .await
        .unwrap();
    let issued_rotation = w
        .keyroll
        .schedule_rotation(
            &issued.key.id,
            RotationRequest {
                trigger: ScheduleTrigger::Policy,
                ..Default::default()
            },
            &Actor::system("scanner"),
        )
        .await
        .unwrap();
    (issued.key.id, issued_rotation.rotation)
}

pub async fn policy_secret_is_revealed_once_then_gone(w: World) {
    let (_, rotation) = policy_rotation(&w).await;
    let name = rotation.vault_secret.clone().expect("held in the vault");
    assert!(w.vault.get(&name).await.unwrap().is_some());

    let (revealed, secret) = w
        .keyroll
        .reveal_secret(&rotation.id, &w.actor())
        .await
        .unwrap();
    assert!(revealed.revealed_at.is_some());
    assert!(w.keyroll.verify(secret.expose()).await.unwrap().is_valid());
    assert!(
        w.vault.get(&name).await.unwrap().is_none(),
        "deleted at reveal"
    );

    let again = w
        .keyroll
        .reveal_secret(&rotation.id, &w.actor())
        .await
        .unwrap_err();
    assert_eq!(again.kind(), keyroll_core::ErrorKind::Gone);
    w.run().await; // the outbox's delete finds nothing left: still fine
    assert!(w.vault.get(&name).await.unwrap().is_none());
}

pub async fn held_secret_is_deleted_when_the_rotation_ends(w: World) {
    let (_, rotation) = policy_rotation(&w).await;
    let name = rotation.vault_secret.clone().unwrap();
    w.keyroll
        .cancel_rotation(&rotation.id, None, &w.actor())
        .await
        .unwrap();
    assert!(
        w.vault.get(&name).await.unwrap().is_some(),
        "deleted by the processor, after the commit"
    );
    w.run().await;
    assert!(w.vault.get(&name).await.unwrap().is_none());
    assert_eq!(
        w.keyroll
            .reveal_secret(&rotation.id, &w.actor())
            .await
            .unwrap_err()
            .kind(),
        keyroll_core::ErrorKind::Gone
    );
}

async fn issue(w: &World, class: keyroll_core::key::KeyClass) -> (KeyId, String) {
    let issued = w
        .keyroll
        .issue_key(
            NewKey {
                organization_id: OrganizationId::parse("org_acme").unwrap(),
                name: KeyName::parse("mobile app").unwrap(),
                scopes: vec![],
                rate_limit: 10,
                class,
            },
            &w.actor(),
        )
        .await
        .expect("issue");
    (issued.key.id, issued.secret.expose().to_owned())
}

fn find(messages: &[Notification], kind: NotificationType) -> &Notification {
    messages
        .iter()
        .find(|m| m.kind == kind)
        .unwrap_or_else(|| panic!("no {kind:?} in {messages:?}"))
}

/// completeWhenUnusedSeconds on a simulated clock: the rotation completes once the new
/// secret is in use and the old one has been quiet for an hour — not before.
pub async fn rotation_completes_early_once_clients_have_moved(w: World) {
    let (key, old) = issue(&w, Default::default()).await;
    let scheduled = w
        .keyroll
        .schedule_rotation(
            &key,
            RotationRequest {
                start: Start::Now,
                grace_seconds: Some(3 * 86_400),
                complete_when_unused_seconds: Some(3600),
                ..Default::default()
            },
            &w.actor(),
        )
        .await
        .expect("schedule");
    let new = scheduled.returned_secret().expose().to_owned();
    let rotation = scheduled.rotation.id;
    let start = w.keyroll.now();

    // Clients still use the old secret ten minutes in; nobody uses the new one yet.
    w.clock.set(start.plus_seconds(600));
    assert!(w.keyroll.verify(&old).await.unwrap().is_valid());
    w.clock.set(start.plus_seconds(3600));
    assert_eq!(w.run().await.completed, 0, "the new secret is unused");
    // The clients move.
    w.clock.set(start.plus_seconds(3660));
    assert!(w.keyroll.verify(&new).await.unwrap().is_valid());
    // Next check: a quarter of the hour after the last one.
    w.clock.set(start.plus_seconds(3600 + 899));
    assert_eq!(w.run().await.completed, 0, "not due yet");
    w.clock.set(start.plus_seconds(3600 + 900));
    assert_eq!(
        w.run().await.completed,
        1,
        "old quiet since +10 min, new in use"
    );
    let done = w.keyroll.rotation(&rotation).await.unwrap();
    assert_eq!(done.status, RotationStatus::Completed);
    assert!(done.completed_at.unwrap() < done.grace_ends_at, "early");
    assert_eq!(w.keyroll.verify(&old).await.unwrap().code(), "REVOKED");
    assert!(w.keyroll.verify(&new).await.unwrap().is_valid());

    let messages = w.inbox.take().await;
    let completed = find(&messages, NotificationType::RotationCompleted);
    assert!(
        completed
            .reason
            .as_ref()
            .unwrap()
            .to_string()
            .starts_with("completed early"),
        "{completed:?}"
    );
    assert_eq!(
        completed.old_secret_last_used_at,
        Some(start.plus_seconds(600))
    );
    assert!(completed.old_secret_used_in_last_24h, "used 65 min before");
    let trail = w.keyroll.audit_trail(&key).await.unwrap();
    assert!(trail.report.valid);
}

/// autoExtend on an embedded key: an hour before the grace ends, the old secret is still
/// in use, so the grace moves by the step (7 days); with no more use it then ends on
/// time. The customer hears of the extension and of the reminder's usage.
pub async fn embedded_grace_extends_while_the_old_secret_is_in_use(w: World) {
    let (key, old) = issue(&w, keyroll_core::key::KeyClass::Embedded).await;
    let scheduled = w
        .keyroll
        .schedule_rotation(
            &key,
            RotationRequest {
                start: Start::Now,
                grace_seconds: Some(2 * 86_400),
                auto_extend: true,
                ..Default::default()
            },
            &w.actor(),
        )
        .await
        .expect("schedule");
    let rotation = scheduled.rotation.id;
    let first_end = scheduled.rotation.grace_ends_at;

    // The app still ships the old secret: used two hours before the end.
    w.clock.set(first_end.minus_seconds(2 * 3600));
    assert!(w.keyroll.verify(&old).await.unwrap().is_valid());
    w.clock.set(first_end.minus_seconds(3600));
    let report = w.run().await;
    assert_eq!((report.extended, report.completed), (1, 0));
    let extended = w.keyroll.rotation(&rotation).await.unwrap();
    let second_end = first_end.plus_seconds(7 * 86_400);
    assert_eq!(extended.grace_ends_at, second_end);
    w.clock.set(first_end.plus_seconds(60));
    assert!(
        w.keyroll.verify(&old).await.unwrap().is_valid(),
        "past the first end"
    );

    // The reminder of the new deadline tells whether the old secret is still used.
    w.clock.set(second_end.minus_seconds(86_400));
    assert_eq!(w.run().await.reminded, 1);
    // No more use: no second extension; the grace ends on time.
    w.clock.set(second_end.minus_seconds(3600));
    let report = w.run().await;
    assert_eq!((report.extended, report.completed), (0, 0));
    w.clock.set(second_end);
    assert_eq!(w.run().await.completed, 1);
    assert_eq!(w.keyroll.verify(&old).await.unwrap().code(), "REVOKED");

    let messages = w.inbox.take().await;
    let notice = find(&messages, NotificationType::RotationExtended);
    assert_eq!(notice.deadline, Some(second_end));
    assert!(notice.old_secret_used_in_last_24h);
    let reminder = find(&messages, NotificationType::RotationReminder);
    assert!(
        !reminder.old_secret_used_in_last_24h,
        "last used 6 days before the reminder"
    );
    let trail = w.keyroll.audit_trail(&key).await.unwrap();
    assert!(trail.report.valid);
    let automatic = trail
        .events
        .iter()
        .find(|e| e.action == keyroll_core::audit::AuditAction::RotationExtended)
        .expect("audited");
    assert_eq!(automatic.actor.to_string(), "keyroll:processor");
}
