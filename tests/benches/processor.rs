//! Processor throughput on DynamoDB Local: loads N due rotations, then measures one
//! processor pass starting them all and one completing them all, with the DynamoDB
//! requests each costs and where the time goes. Notifications go to the in-memory
//! queue (moto's FIFO queue cannot take this volume; see docs/performance.md).
//!
//!   scripts/bench                     # N = 1000 and 10000
//!   scripts/bench 2000                # other sizes
//!
//! Needs the stand-ins (scripts/bench starts them). Prints a Markdown table.

use keyroll_core::service::Start;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::stream::{self, StreamExt};
use keyroll_core::audit::AuditEvent;
use keyroll_core::compliance::ComplianceSnapshot;
use keyroll_core::idempotency::IdempotencyRecord;
use keyroll_core::ids::{Actor, KeyId, KeyName, OrganizationId, RotationId};
use keyroll_core::index::{AgeRef, DueRef, ExpiryRef, KeyListFilter, ListedKey};
use keyroll_core::key::{Key, KeyClass, SecretRecord};
use keyroll_core::notification::OutboxEntry;
use keyroll_core::processor::{process_due, ProcessorOptions};
use keyroll_core::queue::MemoryQueue;
use keyroll_core::rotation::Rotation;
use keyroll_core::secret::{LookupHash, VerifierParams};
use keyroll_core::service::{NewKey, RotationRequest};
use keyroll_core::store::dynamodb::create_table;
use keyroll_core::store::dynamodb::DynamoStore;
use keyroll_core::store::{KeyChange, Store, StoreError};
use keyroll_core::testing::TestKeyroll;
use keyroll_core::time::Timestamp;

/// Adds up the time callers spend waiting on the store (across concurrent calls).
struct TimedStore {
    inner: Arc<DynamoStore>,
    waited_ns: AtomicU64,
}

impl TimedStore {
    async fn timed<T>(&self, call: impl std::future::Future<Output = T>) -> T {
        let start = Instant::now();
        let out = call.await;
        self.waited_ns
            .fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
        out
    }
}

#[async_trait]
impl Store for TimedStore {
    async fn key(&self, id: &KeyId) -> Result<Option<Key>, StoreError> {
        self.timed(self.inner.key(id)).await
    }
    async fn secret(&self, hash: &LookupHash) -> Result<Option<SecretRecord>, StoreError> {
        self.timed(self.inner.secret(hash)).await
    }
    async fn record_use(
        &self,
        hash: &LookupHash,
        record: &keyroll_core::usage::UseRecord,
    ) -> Result<bool, StoreError> {
        self.timed(self.inner.record_use(hash, record)).await
    }
    async fn record_callers(
        &self,
        hash: &LookupHash,
        sightings: &[keyroll_core::callers::Sighting],
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.timed(self.inner.record_callers(hash, sightings, now))
            .await
    }
    async fn callers(
        &self,
        hash: &LookupHash,
    ) -> Result<Option<keyroll_core::callers::CallerLog>, StoreError> {
        self.timed(self.inner.callers(hash)).await
    }
    async fn keys_of(
        &self,
        organization: &keyroll_core::ids::OrganizationId,
        after: Option<&KeyId>,
        limit: usize,
    ) -> Result<Vec<KeyId>, StoreError> {
        self.timed(self.inner.keys_of(organization, after, limit))
            .await
    }
    async fn rotation(&self, id: &RotationId) -> Result<Option<Rotation>, StoreError> {
        self.timed(self.inner.rotation(id)).await
    }
    async fn rotation_of_key(
        &self,
        key_id: &KeyId,
        id: &RotationId,
    ) -> Result<Option<Rotation>, StoreError> {
        self.timed(self.inner.rotation_of_key(key_id, id)).await
    }
    async fn rotations_of(&self, key_id: &KeyId) -> Result<Vec<Rotation>, StoreError> {
        self.timed(self.inner.rotations_of(key_id)).await
    }
    async fn audit_events(
        &self,
        key_id: &KeyId,
        after: Option<u64>,
        order: keyroll_core::audit::AuditOrder,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        self.timed(self.inner.audit_events(key_id, after, order, limit))
            .await
    }
    async fn due_rotations(
        &self,
        shard: u8,
        due_by: Timestamp,
        after: Option<&DueRef>,
        limit: usize,
    ) -> Result<Vec<DueRef>, StoreError> {
        self.timed(self.inner.due_rotations(shard, due_by, after, limit))
            .await
    }
    async fn list_keys(
        &self,
        filter: &KeyListFilter,
        before: Option<&ListedKey>,
        limit: usize,
    ) -> Result<Vec<ListedKey>, StoreError> {
        self.timed(self.inner.list_keys(filter, before, limit))
            .await
    }
    async fn keys_with_prefix(&self, prefix: &str, limit: usize) -> Result<Vec<KeyId>, StoreError> {
        self.timed(self.inner.keys_with_prefix(prefix, limit)).await
    }
    async fn key_policy(
        &self,
        organization: &keyroll_core::ids::OrganizationId,
    ) -> Result<Option<keyroll_core::key_policy::KeyPolicy>, StoreError> {
        self.timed(self.inner.key_policy(organization)).await
    }
    async fn put_key_policy(
        &self,
        policy: &keyroll_core::key_policy::KeyPolicy,
    ) -> Result<(), StoreError> {
        self.timed(self.inner.put_key_policy(policy)).await
    }
    async fn expiring_keys(
        &self,
        shard: u8,
        due_by: Timestamp,
        after: Option<&ExpiryRef>,
        limit: usize,
    ) -> Result<Vec<ExpiryRef>, StoreError> {
        self.timed(self.inner.expiring_keys(shard, due_by, after, limit))
            .await
    }
    async fn aged_keys(
        &self,
        class: KeyClass,
        shard: u8,
        before: Timestamp,
        after: Option<&AgeRef>,
        limit: usize,
    ) -> Result<Vec<AgeRef>, StoreError> {
        self.timed(self.inner.aged_keys(class, shard, before, after, limit))
            .await
    }
    async fn emergencies(
        &self,
        month: &str,
        before: Option<&keyroll_core::change::EmergencyLogEntry>,
        limit: usize,
    ) -> Result<Vec<keyroll_core::change::EmergencyLogEntry>, StoreError> {
        self.timed(self.inner.emergencies(month, before, limit))
            .await
    }
    async fn put_snapshot(&self, snapshot: &ComplianceSnapshot) -> Result<(), StoreError> {
        self.timed(self.inner.put_snapshot(snapshot)).await
    }
    async fn snapshots(&self, limit: usize) -> Result<Vec<ComplianceSnapshot>, StoreError> {
        self.timed(self.inner.snapshots(limit)).await
    }
    async fn compliance_entries(
        &self,
        partition: &keyroll_core::index::CompliancePartition,
        range: &keyroll_core::index::SortRange,
        limit: usize,
    ) -> Result<(Vec<keyroll_core::index::ComplianceEntry>, bool), StoreError> {
        self.timed(self.inner.compliance_entries(partition, range, limit))
            .await
    }
    async fn compliance_counts(
        &self,
        organization: Option<&keyroll_core::ids::OrganizationId>,
    ) -> Result<keyroll_core::compliance::ComplianceCounts, StoreError> {
        self.timed(self.inner.compliance_counts(organization)).await
    }
    async fn count_active(&self, class: KeyClass, shard: u8) -> Result<u64, StoreError> {
        self.timed(self.inner.count_active(class, shard)).await
    }
    async fn idempotency(&self, id: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.timed(self.inner.idempotency(id)).await
    }
    async fn outbox(
        &self,
        shard: u8,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        self.timed(self.inner.outbox(shard, after, limit)).await
    }
    async fn remove_outbox(&self, entries: &[(u8, String)]) -> Result<(), StoreError> {
        self.timed(self.inner.remove_outbox(entries)).await
    }
    async fn try_lease(
        &self,
        name: &str,
        owner: &str,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.timed(self.inner.try_lease(name, owner, until, now))
            .await
    }
    async fn release_lease(&self, name: &str, owner: &str) -> Result<(), StoreError> {
        self.timed(self.inner.release_lease(name, owner)).await
    }
    async fn put_held_marker(
        &self,
        marker: &keyroll_core::held::HeldMarker,
    ) -> Result<(), StoreError> {
        self.timed(self.inner.put_held_marker(marker)).await
    }
    async fn held_markers(
        &self,
        before: Timestamp,
        limit: usize,
    ) -> Result<Vec<keyroll_core::held::HeldMarker>, StoreError> {
        self.timed(self.inner.held_markers(before, limit)).await
    }
    async fn remove_held_marker(
        &self,
        marker: &keyroll_core::held::HeldMarker,
    ) -> Result<(), StoreError> {
        self.timed(self.inner.remove_held_marker(marker)).await
    }
    async fn sweep_legacy(
        &self,
        limit: usize,
    ) -> Result<keyroll_core::store::SweepPage, StoreError> {
        self.timed(self.inner.sweep_legacy(limit)).await
    }
    async fn authenticate_secret_record(
        &self,
        record: &keyroll_core::key::SecretRecord,
    ) -> Result<bool, StoreError> {
        self.timed(self.inner.authenticate_secret_record(record))
            .await
    }
    async fn commit(&self, change: KeyChange) -> Result<(), StoreError> {
        self.timed(self.inner.commit(change)).await
    }
    async fn create_keys(&self, changes: &[KeyChange]) -> Result<(), StoreError> {
        self.timed(self.inner.create_keys(changes)).await
    }
}

/// CPU seconds (user + system) used so far by process `pid` ("self" for this one).
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

struct Phase {
    name: &'static str,
    transitions: u64,
    wall: Duration,
    reads: u64,
    writes: u64,
    waited: Duration,
    own_cpu: f64,
    dynamodb_cpu: f64,
}

async fn run(n: usize, dynamodb_pid: &str) -> Vec<Phase> {
    let sdk = keyroll_core::aws::load_config().await;
    let client = keyroll_core::aws::dynamodb_client(&sdk);
    let table = format!("keyroll-bench-{n}-{}", std::process::id());
    create_table(&client, &table).await.expect("create table");
    let dynamo = Arc::new(DynamoStore::new(client, table));
    let timed = Arc::new(TimedStore {
        inner: dynamo.clone(),
        waited_ns: AtomicU64::new(0),
    });
    // Seeding mints N secrets; their verifier cost is not what is measured here.
    let wired = TestKeyroll::with_defaults()
        .store(timed.clone())
        .without_vault()
        .verifier(VerifierParams {
            log_n: 4,
            r: 8,
            p: 1,
        })
        .build();
    let (keyroll, clock) = (wired.keyroll, wired.clock);
    let queue = MemoryQueue::new();
    let start = Timestamp::parse("2026-01-01T01:00:00Z").unwrap();
    let actor = Actor::parse("bench").unwrap();

    let seeding = Instant::now();
    stream::iter(0..n)
        .for_each_concurrent(32, |i| {
            let (keyroll, actor) = (&keyroll, &actor);
            async move {
                let issued = keyroll
                    .issue_key(
                        NewKey {
                            organization_id: OrganizationId::parse("org_bench").unwrap(),
                            name: KeyName::parse(&format!("key {i}")).unwrap(),
                            scopes: vec![],
                            rate_limit: 10,
                            class: Default::default(),
                            expires_at: None,
                        },
                        actor,
                    )
                    .await
                    .expect("issue");
                keyroll
                    .schedule_rotation(
                        &issued.key.id,
                        RotationRequest {
                            start: Start::At(start),
                            grace_seconds: Some(60),
                            ..Default::default()
                        },
                        actor,
                    )
                    .await
                    .expect("schedule");
            }
        })
        .await;
    // Deliver the scheduling notices so each phase below measures its own work.
    process_due(&keyroll, Some(&queue), ProcessorOptions::default())
        .await
        .expect("drain");
    eprintln!("N = {n}: seeded in {:.1?}", seeding.elapsed());

    let mut phases = Vec::new();
    for (name, at) in [("start", start), ("complete", start.plus_seconds(60))] {
        clock.set(at);
        let (reads, writes) = (dynamo.read_count(), dynamo.write_count());
        timed.waited_ns.store(0, Ordering::Relaxed);
        let (own, java) = (cpu_seconds("self"), cpu_seconds(dynamodb_pid));
        let began = Instant::now();
        let report = process_due(&keyroll, Some(&queue), ProcessorOptions::default())
            .await
            .expect("run");
        let wall = began.elapsed();
        let transitions = report.started + report.completed;
        assert_eq!(transitions, n as u64, "{report:?}");
        assert_eq!(report.notified, n as u64);
        phases.push(Phase {
            name,
            transitions,
            wall,
            reads: dynamo.read_count() - reads,
            writes: dynamo.write_count() - writes,
            waited: Duration::from_nanos(timed.waited_ns.load(Ordering::Relaxed)),
            own_cpu: cpu_seconds("self") - own,
            dynamodb_cpu: cpu_seconds(dynamodb_pid) - java,
        });
    }
    phases
}

#[tokio::main]
async fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect::<Vec<_>>();
    let sizes = if sizes.is_empty() {
        vec![1000, 10_000]
    } else {
        sizes
    };
    std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
        .expect("AWS_ENDPOINT_URL_DYNAMODB: run scripts/bench");
    let dynamodb_pid = std::env::var("KEYROLL_DYNAMODB_PID").unwrap_or_else(|_| "self".into());
    println!("| N | phase | rotations/s | wall | reads/rotation | writes/rotation | waiting on DynamoDB (sum over 8 workers) | processor CPU | DynamoDB Local CPU |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for n in sizes {
        for p in run(n, &dynamodb_pid).await {
            let per = p.transitions as f64;
            println!(
                "| {n} | {} | {:.0} | {:.2} s | {:.2} | {:.2} | {:.1} s ({:.0}% of 8 x wall) | {:.2} s | {:.2} s |",
                p.name,
                per / p.wall.as_secs_f64(),
                p.wall.as_secs_f64(),
                p.reads as f64 / per,
                p.writes as f64 / per,
                p.waited.as_secs_f64(),
                100.0 * p.waited.as_secs_f64() / (8.0 * p.wall.as_secs_f64()),
                p.own_cpu,
                p.dynamodb_cpu,
            );
        }
    }
}
