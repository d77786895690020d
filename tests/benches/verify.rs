//! Verification latency through the key authorizer's handler, against DynamoDB Local:
//! with its container cache cold (every request reads the secret record and runs the
//! scrypt verifier) and warm (a repeat within KEYROLL_VERIFY_CACHE_SECONDS), and the
//! verifier's own cost at the chosen and at stronger parameters.
//!
//!   scripts/bench verify [requests]      # default 2000 per case
//!
//! Requests are sequential (one Lambda container serves one request at a time), spread
//! over 200 keys, each built from `events/authorizer-http-api.json`, from 50 callers
//! (each its own network and User-Agent), so caller tracking is on. Beside them, in the
//! same run: a bare strongly consistent GetItem of the same items, the scrypt verifier
//! alone, and the record's two MACs alone (what authenticating records costs) — what a
//! cache miss is measured against.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use keyroll_authorizer::{handle, Deps, VerifyCache};
use keyroll_core::config::Config;
use keyroll_core::ids::{Actor, KeyName, OrganizationId, Scope};
use keyroll_core::secret::{RawSecret, Verifier, VerifierParams};
use keyroll_core::service::{Keyroll, NewKey};
use keyroll_core::store::dynamodb::create_table;
use keyroll_core::store::dynamodb::schema;
use keyroll_core::store::dynamodb::DynamoStore;
use keyroll_core::store::Store;
use keyroll_core::time::SystemClock;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::Value;

const KEYS: usize = 200;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

fn row(case: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let total: Duration = samples.iter().sum();
    println!(
        "| {case} | {} | {} ms | {} ms | {} ms | {:.0} |",
        samples.len(),
        ms(percentile(&samples, 0.5)),
        ms(percentile(&samples, 0.99)),
        ms(*samples.last().expect("samples")),
        samples.len() as f64 / total.as_secs_f64(),
    );
}

/// Distinct callers the requests come from.
const CALLERS: usize = 50;

/// The request event of key `i % KEYS` from caller `i % CALLERS`.
fn event_of(events: &[Value], i: usize) -> Value {
    let mut event = events[i % events.len()].clone();
    let caller = i % CALLERS;
    let ip = format!("198.51.{caller}.7");
    event["requestContext"]["http"]["sourceIp"] = Value::from(ip.clone());
    event["headers"]["x-forwarded-for"] = Value::from(ip);
    event["headers"]["user-agent"] = Value::from(format!("bench-caller-{caller}/1.0"));
    event
}

async fn run(deps: &Deps, events: &[Value], requests: usize) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(requests);
    for i in 0..requests {
        let event = event_of(events, i);
        let started = Instant::now();
        let answer = handle(deps, LambdaEvent::new(event, Context::default()))
            .await
            .expect("authorizer answers");
        samples.push(started.elapsed());
        assert_eq!(answer["isAuthorized"], true, "every secret is valid");
    }
    samples
}

#[tokio::main]
async fn main() {
    let requests: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(2000);
    std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
        .expect("AWS_ENDPOINT_URL_DYNAMODB: run scripts/bench verify");
    let sdk = keyroll_core::aws::load_config().await;
    let client = keyroll_core::aws::dynamodb_client(&sdk);
    let table = format!("keyroll-verify-bench-{}", std::process::id());
    create_table(&client, &table).await.expect("create table");
    let store = Arc::new(DynamoStore::new(client, table));
    let config = Config::from_lookup(|_| None).expect("defaults");
    // The derived key, as every function holds it after its one GetMac at start.
    let mac = Arc::new(keyroll_core::mac::LocalMac::random());
    let keyroll = Arc::new(
        Keyroll::new(store.clone(), Arc::new(SystemClock), Arc::new(config)).with_mac(mac.clone()),
    );

    let fixture = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../events/authorizer-http-api.json"
    ))
    .expect("fixture");
    let actor = Actor::parse("bench").unwrap();
    let mut events = Vec::with_capacity(KEYS);
    let mut hashes = Vec::with_capacity(KEYS);
    let mut verifiers = Vec::with_capacity(KEYS);
    let mut records = Vec::with_capacity(KEYS);
    for i in 0..KEYS {
        let issued = keyroll
            .issue_key(
                NewKey {
                    organization_id: OrganizationId::parse("org_bench").unwrap(),
                    name: KeyName::parse(&format!("bench {i}")).unwrap(),
                    scopes: vec![Scope::parse("charges:read").unwrap()],
                    rate_limit: 100,
                    class: Default::default(),
                    expires_at: None,
                },
                &actor,
            )
            .await
            .expect("issue");
        let hash = keyroll_core::secret::LookupHash::of(issued.secret.expose());
        let record = store.secret(&hash).await.expect("read").expect("record");
        verifiers.push((
            record.verifier.clone().expect("a verifier"),
            issued.secret.expose().to_owned(),
        ));
        records.push(record);
        hashes.push(hash);
        let event = fixture.replace("sk_live_REPLACE_WITH_A_SECRET", issued.secret.expose());
        events.push(serde_json::from_str::<Value>(&event).expect("fixture JSON"));
    }

    println!(
        "verification through the authorizer handler, sequential, {KEYS} keys, {CALLERS} callers, DynamoDB Local"
    );
    println!("| case | requests | p50 | p99 | max | requests/s |");
    println!("|---|---|---|---|---|---|");
    // The floor of a cache miss: the same strongly consistent GetItem, bare (no decode),
    // and the verifier's hash alone, interleaved so both see the same machine.
    let (mut bare, mut hashing) = (Vec::with_capacity(requests), Vec::with_capacity(requests));
    let mut macs = Vec::with_capacity(requests);
    for i in 0..requests {
        let hash = &hashes[i % KEYS];
        let started = Instant::now();
        let item = store
            .client()
            .get_item()
            .table_name(store.table())
            .key(schema::PK, AttributeValue::S(schema::secret_pk(hash)))
            .key(schema::SK, AttributeValue::S(schema::SECRET_SK.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .expect("GetItem");
        bare.push(started.elapsed());
        assert!(item.item.is_some());
        let (verifier, secret) = &verifiers[i % KEYS];
        let started = Instant::now();
        assert!(verifier.matches(secret));
        hashing.push(started.elapsed());
        let record = &records[i % KEYS];
        let started = Instant::now();
        let (identity, state) = (
            hex::decode(record.identity_mac.as_deref().expect("MACed")).expect("hex"),
            hex::decode(record.state_mac.as_deref().expect("MACed")).expect("hex"),
        );
        use keyroll_core::mac::KeyedMac;
        assert!(mac
            .verify(&record.identity_message(), &identity)
            .await
            .expect("local"));
        assert!(mac
            .verify(&record.state_message(), &state)
            .await
            .expect("local"));
        macs.push(started.elapsed());
    }
    // Cold: no container cache; every request is a GetItem plus scrypt (and, the first
    // time each secret is seen in a minute, its use write).
    let cold = Deps {
        keyroll: keyroll.clone(),
        cache: VerifyCache::new(0),
    };
    let before = (store.request_count(), store.write_count());
    let samples = run(&cold, &events, requests).await;
    let after = (store.request_count(), store.write_count());
    row(
        "cache cold (GetItem + record MACs + scrypt + caller)",
        samples,
    );
    row("bare GetItem, same items", bare);
    row("scrypt verifier alone", hashing);
    row("the record's two MACs alone (identity, state)", macs);
    let warm = Deps::new(keyroll.clone());
    run(&warm, &events, KEYS).await; // fill the cache
    row(
        "cache warm (repeat within 10 s)",
        run(&warm, &events, requests).await,
    );
    println!(
        "\ncold run: {} DynamoDB requests ({} writes) for {requests} verifications",
        after.0 - before.0,
        after.1 - before.1
    );

    // The verifier alone, on this core, at the chosen and at stronger parameters.
    println!("\n| scrypt parameters | one verification |");
    println!("|---|---|");
    let secret =
        RawSecret::from_string("sk_live_benchmarkbenchmarkbenchmarkbenchmarkbenchm".into());
    for log_n in [10u8, 12, 14] {
        let params = VerifierParams {
            log_n,
            ..VerifierParams::DEFAULT
        };
        let verifier = Verifier::derive(&secret, params).expect("derive");
        let rounds = if log_n >= 14 { 20 } else { 100 };
        let started = Instant::now();
        for _ in 0..rounds {
            assert!(verifier.matches(secret.expose()));
        }
        println!(
            "| log2 N = {log_n}, r = 8, p = 1 | {} ms |",
            ms(started.elapsed() / rounds)
        );
    }
}
