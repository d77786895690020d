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
use keyroll_core::service::{Keyroll, NewKey, RotationRequest, Start};
use keyroll_core::store::dynamodb::create_table;
use keyroll_core::store::dynamodb::DynamoStore;
use keyroll_core::store::memory::MemoryStore;
use keyroll_core::store::Store;
use keyroll_core::testing::TestKeyroll;
use keyroll_core::time::{ManualClock, Timestamp};
use keyroll_core::vault::{MemoryVault, SecretVault};

use crate::faults::{Faults, FaultyStore};
use crate::fixture::{dynamodb_client, epoch};
use crate::queues::moto_fifo_queue;
pub use crate::queues::Inbox;

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
    mac: Arc<dyn keyroll_core::mac::KeyedMac>,
) -> (Arc<Keyroll>, ManualClock, Arc<Faults>) {
    let faults = Arc::new(Faults::default());
    let faulty: Arc<dyn Store> = Arc::new(FaultyStore {
        inner: store,
        faults: faults.clone(),
    });
    let wired = TestKeyroll::new()
        .store(faulty)
        .vault(vault)
        .mac(mac)
        .build();
    (Arc::new(wired.keyroll), wired.clock, faults)
}

pub async fn memory_world() -> World {
    let vault: Arc<dyn SecretVault> = Arc::new(MemoryVault::new());
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let mac = Arc::new(keyroll_core::mac::LocalMac::random());
    let (keyroll, clock, faults) = build(store.clone(), vault.clone(), mac);
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
    let (sqs, url) = moto_fifo_queue().await;
    let unreachable = aws_sdk_sqs::config::Builder::from(&sdk)
        .endpoint_url("http://127.0.0.1:1")
        .retry_config(aws_sdk_sqs::config::retry::RetryConfig::disabled())
        .build();
    let broken = Arc::new(SqsQueue::new(
        aws_sdk_sqs::Client::from_conf(unreachable),
        url.clone(),
    ));
    let vault = crate::fixture::moto_vault().await;
    let mac = crate::fixture::kms_mac().await;
    let (keyroll, clock, faults) = build(dynamo.clone(), vault.clone(), mac);
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
                            expires_at: None,
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

pub fn by_key(messages: &[Notification]) -> BTreeMap<KeyId, Vec<NotificationType>> {
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

pub fn assert_unique(messages: &[Notification]) {
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
