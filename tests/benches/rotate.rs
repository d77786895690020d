//! What an operator's rotation costs, against DynamoDB Local and KMS on moto, as the
//! api runs it (its MAC key derived once from KMS): an immediate schedule and an
//! emergency (superseding it), one after the other on each of 200 keys, sequential.
//!
//!   scripts/bench rotate [rounds]      # default 5 rounds of 200 keys
//!
//! Beside them, in the same run and interleaved so all see the same machine: the floor
//! (one strongly consistent GetItem, one two-item TransactWriteItems, one scrypt
//! derivation: what any rotation must do) and each part of a request on its own —
//! reads, the transaction, hashing, the MAC — and the KMS requests made after start.
//! Then each case beside its own floor: as many consistent GetItems as it reads, one
//! transaction of as many plain puts as it writes items, one scrypt derivation —
//! the per-request breakdown, and how much of it is keyroll's own work.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use keyroll_core::config::Config;
use keyroll_core::ids::{Actor, KeyId, KeyName, OrganizationId, Reason};
use keyroll_core::mac::{DerivedMac, KeyedMac, KmsMac};
use keyroll_core::secret::{RawSecret, Verifier, VerifierParams};
use keyroll_core::service::{
    EmergencyRequest, EmergencySource, Keyroll, NewKey, RotationRequest, Start,
};
use keyroll_core::store::dynamodb::{create_table, schema, DynamoStore};
use keyroll_core::time::SystemClock;
use keyroll_tests::fixture::CountingMac;

const KEYS: usize = 200;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn p50(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    percentile(&samples, 0.5)
}

fn row(case: &str, mut samples: Vec<Duration>, floor: Duration, requests: Option<f64>) {
    samples.sort();
    let median = percentile(&samples, 0.5);
    println!(
        "| {case} | {} | {} ms | {} ms | {:.1}× | {} |",
        samples.len(),
        ms(median),
        ms(percentile(&samples, 0.99)),
        median.as_secs_f64() / floor.as_secs_f64(),
        requests.map_or("–".to_owned(), |r| format!("{r:.1}")),
    );
}

#[tokio::main]
async fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5);
    std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
        .expect("AWS_ENDPOINT_URL_DYNAMODB: run scripts/bench rotate");
    std::env::var("AWS_ENDPOINT_URL_KMS").expect("AWS_ENDPOINT_URL_KMS: run scripts/bench rotate");
    let sdk = keyroll_core::aws::load_config().await;
    let client = keyroll_core::aws::dynamodb_client(&sdk);
    let table = format!("keyroll-rotate-bench-{}", std::process::id());
    create_table(&client, &table).await.expect("create table");
    let store = Arc::new(DynamoStore::new(client, table));
    let kms = aws_sdk_kms::Client::new(&sdk);
    let key_id = kms
        .create_key()
        .key_spec(aws_sdk_kms::types::KeySpec::Hmac256)
        .key_usage(aws_sdk_kms::types::KeyUsageType::GenerateVerifyMac)
        .send()
        .await
        .expect("an HMAC key in moto")
        .key_metadata
        .expect("metadata")
        .key_id;
    let counting = Arc::new(CountingMac::new(Arc::new(KmsMac::new(kms, key_id))));
    let mac = Arc::new(DerivedMac::derive(counting.clone()).await.expect("derive"));
    let config = Config::from_lookup(|_| None).expect("defaults");
    let keyroll = Keyroll::new(store.clone(), Arc::new(SystemClock), Arc::new(config))
        .with_deliveries(store.clone())
        .with_mac(mac.clone());
    let actor = Actor::parse("arn:aws:sts::123456789012:assumed-role/Bench").unwrap();
    let mut keys: Vec<KeyId> = Vec::with_capacity(KEYS);
    for i in 0..KEYS {
        let issued = keyroll
            .issue_key(
                NewKey {
                    organization_id: OrganizationId::parse("org_bench").unwrap(),
                    name: KeyName::parse(&format!("bench {i}")).unwrap(),
                    scopes: vec![],
                    rate_limit: 100,
                    class: Default::default(),
                    expires_at: None,
                },
                &actor,
            )
            .await
            .expect("issue");
        keys.push(issued.key.id);
    }
    let kms_after_start = counting.calls();

    let secret =
        RawSecret::from_string("sk_live_benchmarkbenchmarkbenchmarkbenchmarkbenchm".into());
    let head = keyroll_core::mac::message("keyroll-audit-head-v1", &["key", "7", "hash"]);
    let n = rounds * KEYS;
    let (mut schedules, mut emergencies) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut gets, mut transactions, mut hashing, mut macs, mut floors) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut schedule_requests, mut emergency_requests) = (0u64, 0u64);
    let (mut schedule_items, mut emergency_items) = (0u64, 0u64);
    let (mut schedule_floors, mut emergency_floors) =
        (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n {
        let key = &keys[i % KEYS];
        // The floor's parts, on this key's own items.
        let started = Instant::now();
        let item = store
            .client()
            .get_item()
            .table_name(store.table())
            .key(schema::PK, AttributeValue::S(format!("KEY#{key}")))
            .key(schema::SK, AttributeValue::S("KEY".into()))
            .consistent_read(true)
            .send()
            .await
            .expect("GetItem");
        let get = started.elapsed();
        assert!(item.item.is_some());
        let put = |sk: &str| {
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(store.table())
                        .item(schema::PK, AttributeValue::S(format!("BENCH#{i}")))
                        .item(schema::SK, AttributeValue::S(sk.to_owned()))
                        .build()
                        .expect("put"),
                )
                .build()
        };
        // One transaction of `n` plain puts, timed.
        let transaction_of = |n: u64, case: &'static str| {
            let items: Vec<TransactWriteItem> =
                (0..n).map(|k| put(&format!("{case}#{k}"))).collect();
            let client = store.client().clone();
            async move {
                let started = Instant::now();
                client
                    .transact_write_items()
                    .set_transact_items(Some(items))
                    .send()
                    .await
                    .expect("TransactWriteItems");
                started.elapsed()
            }
        };
        let started = Instant::now();
        store
            .client()
            .transact_write_items()
            .transact_items(put("A"))
            .transact_items(put("B"))
            .send()
            .await
            .expect("TransactWriteItems");
        let transaction = started.elapsed();
        let started = Instant::now();
        Verifier::derive(&secret, VerifierParams::DEFAULT).expect("derive");
        let hash = started.elapsed();
        let started = Instant::now();
        mac.mac(&head).await.expect("mac");
        macs.push(started.elapsed());
        gets.push(get);
        transactions.push(transaction);
        hashing.push(hash);
        floors.push(get + transaction + hash);

        let (before, reads_before, items_before) = (
            store.request_count(),
            store.read_count(),
            store.transacted_item_count(),
        );
        let started = Instant::now();
        keyroll
            .schedule_rotation(
                key,
                RotationRequest {
                    start: Start::Now,
                    grace_seconds: Some(3600),
                    ..Default::default()
                },
                &actor,
            )
            .await
            .expect("schedule");
        schedules.push(started.elapsed());
        schedule_requests += store.request_count() - before;
        let (reads, items) = (
            store.read_count() - reads_before,
            store.transacted_item_count() - items_before,
        );
        schedule_items += items;
        schedule_floors.push(get * reads as u32 + transaction_of(items, "S").await + hash);

        let (before, reads_before, items_before) = (
            store.request_count(),
            store.read_count(),
            store.transacted_item_count(),
        );
        let started = Instant::now();
        keyroll
            .emergency_rotation(
                key,
                EmergencyRequest {
                    reason: Reason::parse("benchmark").unwrap(),
                    grace_seconds: Some(0),
                    source: EmergencySource::Operator,
                },
                &actor,
            )
            .await
            .expect("emergency");
        emergencies.push(started.elapsed());
        emergency_requests += store.request_count() - before;
        let (reads, items) = (
            store.read_count() - reads_before,
            store.transacted_item_count() - items_before,
        );
        emergency_items += items;
        emergency_floors.push(get * reads as u32 + transaction_of(items, "E").await + hash);
    }
    let kms_during = counting.calls() - kms_after_start;

    let floor = p50(floors.clone());
    println!(
        "operator rotations through the service as the api runs it, sequential, {KEYS} keys × {rounds} rounds, DynamoDB Local, MAC key derived from KMS (moto)"
    );
    println!("| case | samples | p50 | p99 | p50 / floor | DynamoDB requests each |");
    println!("|---|---|---|---|---|---|");
    let (schedule_samples, emergency_samples) = (schedules.clone(), emergencies.clone());
    row(
        "schedule (immediate, secret returned)",
        schedules,
        floor,
        Some(schedule_requests as f64 / n as f64),
    );
    row(
        "emergency (grace 0, supersedes the schedule)",
        emergencies,
        floor,
        Some(emergency_requests as f64 / n as f64),
    );
    row(
        "floor: GetItem + 2-item transaction + scrypt",
        floors,
        floor,
        None,
    );
    println!("\nthe parts, each on its own (p50): reads (one consistent GetItem) {} ms; transaction (two items) {} ms; hashing (one scrypt derivation at the default parameters) {} ms; MAC (one local HMAC of a head) {mac_ms:.4} ms",
        ms(p50(gets)),
        ms(p50(transactions)),
        ms(p50(hashing)),
        mac_ms = p50(macs).as_secs_f64() * 1000.0,
    );
    println!(
        "KMS requests: {kms_after_start} at start (the derivation), {kms_during} during {} rotations",
        2 * n
    );
    println!("\neach case beside its own floor (its reads as consistent GetItems, one transaction of as many plain puts as it writes items, one scrypt)");
    println!("| case | items written | own floor p50 | case p50 | case / own floor |");
    println!("|---|---|---|---|---|");
    for (case, items, floors, samples) in [
        (
            "schedule",
            schedule_items,
            schedule_floors,
            &schedule_samples,
        ),
        (
            "emergency",
            emergency_items,
            emergency_floors,
            &emergency_samples,
        ),
    ] {
        let own = p50(floors);
        let median = p50(samples.clone());
        println!(
            "| {case} | {:.1} | {} ms | {} ms | {:.2}× |",
            items as f64 / n as f64,
            ms(own),
            ms(median),
            median.as_secs_f64() / own.as_secs_f64()
        );
    }
}
