//! Compliance scan cost on DynamoDB Local: N active keys of which 1 % are past the
//! 90-day maximum. Measures the first scan (schedules a rotation per overdue key) and a
//! second one the same day (schedules nothing), with DynamoDB requests and items read.
//!
//!   scripts/bench scanner 100000
//!
//! Keys are bulk-loaded (BatchWriteItem, no audit) to keep seeding minutes short; the
//! scans themselves run the real code on the real table.

use std::time::Instant;

use keyroll_core::key::{Key, SecretRecord};
use keyroll_core::scan::{scan, ScanOptions};
use keyroll_core::testing::TestKeyroll;
use keyroll_core::time::Timestamp;

#[tokio::main]
async fn main() {
    let n = keyroll_tests::bench::size_argument(100_000);
    let dynamo = keyroll_tests::bench::fresh_table("scan-bench").await;
    let now = Timestamp::parse("2026-06-01T00:00:00Z").unwrap();
    let overdue = n / 100;

    let seeding = Instant::now();
    let keys: Vec<(Key, SecretRecord)> = (0..n)
        .map(|i| {
            // 1 % at 120 days, the rest spread over 0-60 days (none within the warning window).
            let age_days = if i < overdue { 120 } else { (i % 60) as u64 };
            keyroll_tests::fixture::bulk_key(i, now.minus_seconds(age_days * 86_400))
        })
        .collect();
    keyroll_tests::fixture::bulk_load(&dynamo, &keys).await;
    eprintln!("seeded {n} keys in {:.1?}", seeding.elapsed());

    let keyroll = TestKeyroll::with_defaults()
        .starting_at(now)
        .store(dynamo.clone())
        .build()
        .keyroll;
    println!("| N | overdue | scan | wall | DynamoDB reads | reads per overdue key | writes | coverage after |");
    println!("|---|---|---|---|---|---|---|---|");
    for label in ["first (schedules)", "second, same day"] {
        let (reads, writes) = (dynamo.read_count(), dynamo.write_count());
        let began = Instant::now();
        let report = scan(&keyroll, ScanOptions::default()).await.expect("scan");
        let wall = began.elapsed();
        let reads = dynamo.read_count() - reads;
        println!(
            "| {n} | {overdue} | {label} | {:.2} s | {reads} | {:.2} | {} | {}% |",
            wall.as_secs_f64(),
            reads as f64 / overdue.max(1) as f64,
            dynamo.write_count() - writes,
            report.snapshot.coverage_percent
        );
        assert_eq!(report.snapshot.active_keys, n as u64);
    }
}
