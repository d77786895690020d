//! The compliance report at scale on DynamoDB Local, through the API's router: N keys
//! (10 % past the 90-day maximum) over 50 organisations. Measures the overdue-keys
//! report (first page and a later one), one organisation's report, the totals, the CSV
//! export, the dashboard's first load, with DynamoDB requests and items read per
//! call. (Import throughput: `scripts/bench import`.)
//!
//!   scripts/bench report 100000
//!
//! Keys are bulk-loaded (BatchWriteItem, with their compliance counters) to keep
//! seeding short; every measured call runs the real code on the real table.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use keyroll_api::Auth;
use keyroll_api::{app, AppState};
use keyroll_core::ids::OrganizationId;
use keyroll_core::key::{Key, SecretRecord};
use keyroll_core::store::dynamodb::DynamoStore;
use keyroll_core::testing::TestKeyroll;
use keyroll_core::time::Timestamp;
use tower::ServiceExt;

const TOKEN: &str = "bench-admin-token-0123456789abcdef";
const ORGANISATIONS: usize = 50;
const RUNS: usize = 15;

struct Bench {
    router: axum::Router,
    dynamo: Arc<DynamoStore>,
}

struct Reply {
    status: StatusCode,
    body: Vec<u8>,
    link: Option<String>,
}

impl Bench {
    async fn get(&self, path: &str) -> Reply {
        self.send("GET", path, Body::empty()).await
    }

    async fn send(&self, method: &str, path: &str, body: Body) -> Reply {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("content-type", "application/json")
            .body(body)
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let link = response
            .headers()
            .get("link")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        Reply { status, body, link }
    }

    /// Median wall time of `RUNS` runs of `call`, with the DynamoDB requests and items
    /// of one run.
    async fn measure<F, Fut>(&self, label: &str, mut call: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        call().await; // warm
        let mut times = Vec::new();
        let (requests, items) = (self.dynamo.read_count(), self.dynamo.items_read());
        for _ in 0..RUNS {
            let began = Instant::now();
            call().await;
            times.push(began.elapsed());
        }
        times.sort();
        let median = times[RUNS / 2];
        let per_run = |n: u64| n as f64 / RUNS as f64;
        println!(
            "| {label} | {:.1} ms | {:.1} ms | {:.0} | {:.0} |",
            ms(median),
            ms(times[RUNS - 1]),
            per_run(self.dynamo.read_count() - requests),
            per_run(self.dynamo.items_read() - items),
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn json(reply: &Reply) -> serde_json::Value {
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    serde_json::from_slice(&reply.body).unwrap()
}

#[tokio::main]
async fn main() {
    let n = keyroll_tests::bench::size_argument(100_000);
    let dynamo = keyroll_tests::bench::fresh_table("report-bench").await;
    let now = Timestamp::parse("2026-06-01T00:00:00Z").unwrap();

    let seeding = Instant::now();
    let keys: Vec<(Key, SecretRecord)> = (0..n)
        .map(|i| {
            // One in ten 91-190 days old (past the maximum), the rest within 60 days.
            let age_days = if i % 10 == 0 {
                91 + (i / 10) % 100
            } else {
                i % 60
            } as u64;
            let (mut key, _) =
                keyroll_tests::fixture::bulk_key(i, now.minus_seconds(age_days * 86_400));
            key.organization_id =
                OrganizationId::parse(&format!("org_{:02}", i % ORGANISATIONS)).unwrap();
            // As the last daily scan left them: the old keys settled as overdue (a
            // scan would also have scheduled their rotations; here they stay overdue
            // so the report has 10,000 to list, as in the seed's question).
            if i % 10 == 0 {
                key.compliance = Some(keyroll_core::compliance::KeyComplianceStatus::Overdue);
            }
            let record = SecretRecord::new(&key, &key.versions[0], None);
            (key, record)
        })
        .collect();
    keyroll_tests::fixture::bulk_load(&dynamo, &keys).await;
    eprintln!("seeded {n} keys in {:.1?}", seeding.elapsed());

    let wired = TestKeyroll::with_defaults()
        .starting_at(now)
        .store(dynamo.clone())
        .build();
    let bench = Bench {
        router: app(AppState {
            keyroll: Arc::new(wired.keyroll),
            auth: Auth::admin_token(TOKEN),
            queue: None,
            customers: None,
        }),
        dynamo: dynamo.clone(),
    };

    let first = json(&bench.get("/v1/compliance?status=overdue&limit=100").await);
    assert_eq!(first["nonCompliant"], n as u64 / 10);
    assert_eq!(first["keys"].as_array().unwrap().len(), 100);
    // A later page: the 40th.
    let mut cursor = first["nextCursor"].as_str().unwrap().to_owned();
    for _ in 0..38 {
        let page = json(
            &bench
                .get(&format!(
                    "/v1/compliance?status=overdue&limit=100&cursor={cursor}"
                ))
                .await,
        );
        cursor = page["nextCursor"].as_str().unwrap().to_owned();
    }

    println!("\nN = {n} keys ({} overdue, {ORGANISATIONS} organisations), DynamoDB Local, through the router:\n", n / 10);
    println!("| call | median | slowest of {RUNS} | DynamoDB requests | items read |");
    println!("|---|---|---|---|---|");
    bench
        .measure(
            "`GET /v1/compliance?status=overdue&limit=100`, first page",
            || async {
                json(&bench.get("/v1/compliance?status=overdue&limit=100").await);
            },
        )
        .await;
    let later = format!("/v1/compliance?status=overdue&limit=100&cursor={cursor}");
    bench
        .measure("the same, 40th page", || async {
            json(&bench.get(&later).await);
        })
        .await;
    bench
        .measure(
            "`GET /v1/compliance?organizationId=org_07&limit=100`",
            || async {
                let report = json(
                    &bench
                        .get("/v1/compliance?organizationId=org_07&limit=100")
                        .await,
                );
                assert_eq!(report["activeKeys"], (n / ORGANISATIONS) as u64);
            },
        )
        .await;
    bench
        .measure("the totals (`GET /v1/compliance?limit=1`)", || async {
            json(&bench.get("/v1/compliance?limit=1").await);
        })
        .await;
    bench
        .measure(
            "dashboard first load (overdue page, rotations, emergencies)",
            || async {
                let (a, b, c) = futures::join!(
                    bench.get("/v1/compliance?status=overdue&limit=100"),
                    bench.get("/v1/rotations?limit=100"),
                    bench.get("/v1/emergencies?limit=100"),
                );
                for reply in [a, b, c] {
                    json(&reply);
                }
            },
        )
        .await;

    // The CSV export: every page of the overdue keys, then of every key.
    for (label, first_page) in [
        ("overdue keys", "/v1/compliance.csv?status=overdue"),
        ("every key", "/v1/compliance.csv"),
    ] {
        let (requests, items) = (dynamo.read_count(), dynamo.items_read());
        let began = Instant::now();
        let (mut rows, mut pages, mut largest) = (0usize, 0usize, 0usize);
        let mut next = Some(first_page.to_owned());
        while let Some(path) = next {
            let reply = bench.get(&path).await;
            assert_eq!(reply.status, StatusCode::OK);
            pages += 1;
            largest = largest.max(reply.body.len());
            rows += reply.body.iter().filter(|b| **b == b'\n').count();
            next = reply.link.map(|link| {
                link.trim_start_matches('<')
                    .split('>')
                    .next()
                    .unwrap()
                    .to_owned()
            });
        }
        println!(
            "| CSV export, {label}: {rows} lines in {pages} pages (largest {:.1} MB) | {:.0} ms in all | | {} | {} |",
            largest as f64 / 1e6,
            ms(began.elapsed()),
            dynamo.read_count() - requests,
            dynamo.items_read() - items
        );
    }
}
