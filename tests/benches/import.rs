//! Import throughput on DynamoDB Local: N rows of an old system's `api_keys` table over
//! 50 organisations, sent to the API's router (in process, the admin token, the real
//! DynamoDB adapter) as 1,000-row JSON requests, one after another, as a migration
//! script would; then the first 10,000 rows sent again (a re-run after a timeout:
//! every row a duplicate). Prints rows per second and DynamoDB writes per 1,000 rows,
//! and checks the compliance totals count every key once.
//!
//!   scripts/bench import 100000

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use keyroll_api::Auth;
use keyroll_api::{app, AppState};
use keyroll_core::secret::LookupHash;
use keyroll_core::store::dynamodb::DynamoStore;
use keyroll_core::testing::TestKeyroll;
use keyroll_core::time::Timestamp;
use tower::ServiceExt;

const TOKEN: &str = "bench-admin-token-0123456789abcdef";
const ORGANISATIONS: usize = 50;
const ROWS_PER_REQUEST: usize = 1000;

/// Row `i` of the old system's table.
fn row(i: usize) -> serde_json::Value {
    let secret = format!("sk_live_import_bench_{i}_{}", std::process::id());
    serde_json::json!({
        "id": format!("key_legacy_{i:07}"),
        "organizationId": format!("org_{:02}", i % ORGANISATIONS),
        "name": format!("imported {i}"),
        "scopes": ["charges:read"],
        "rateLimit": 10,
        "prefix": format!("{:08x}", i),
        "lookupHash": LookupHash::of(&secret).to_hex(),
        "createdAt": "2026-03-01T00:00:00Z",
    })
}

async fn import(router: &axum::Router, rows: std::ops::Range<usize>) -> serde_json::Value {
    let body = serde_json::json!({ "keys": rows.map(row).collect::<Vec<_>>() }).to_string();
    let request = Request::builder()
        .method("POST")
        .uri("/v1/keys/import")
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&bytes)
    );
    serde_json::from_slice(&bytes).unwrap()
}

/// Sends rows `range` in 1,000-row requests; each request's counts must be `expect`
/// ("imported" or "duplicates"). Prints the rate and the writes per 1,000 rows.
async fn run(
    router: &axum::Router,
    dynamo: &DynamoStore,
    range: std::ops::Range<usize>,
    expect: &str,
    label: &str,
) {
    let rows = range.len();
    let writes = dynamo.write_count();
    let began = Instant::now();
    let mut start = range.start;
    while start < range.end {
        let end = (start + ROWS_PER_REQUEST).min(range.end);
        let body = import(router, start..end).await;
        assert_eq!(
            body[expect],
            end - start,
            "rows {start}..{end}: {}",
            body[expect]
        );
        start = end;
    }
    let wall = began.elapsed().as_secs_f64();
    println!(
        "| {label} | {rows} | {wall:.1} s | **{:.0}** | {:.0} |",
        rows as f64 / wall,
        (dynamo.write_count() - writes) as f64 * 1000.0 / rows as f64,
    );
}

#[tokio::main]
async fn main() {
    let n = keyroll_tests::bench::size_argument(100_000);
    let dynamo = keyroll_tests::bench::fresh_table("import-bench").await;
    let wired = TestKeyroll::with_defaults()
        .starting_at(Timestamp::parse("2026-06-01T00:00:00Z").unwrap())
        .store(dynamo.clone())
        .build();
    let keyroll = Arc::new(wired.keyroll);
    let router = app(AppState {
        keyroll: keyroll.clone(),
        auth: Auth::admin_token(TOKEN),
        queue: None,
        customers: None,
    });

    println!("| run | rows | wall | rows/s | DynamoDB writes per 1,000 rows |");
    println!("|---|---|---|---|---|");
    run(&router, &dynamo, 0..n, "imported", "import").await;
    let again = n.min(10_000);
    run(
        &router,
        &dynamo,
        0..again,
        "duplicates",
        "re-run (every row a duplicate)",
    )
    .await;

    let figures = keyroll.compliance_figures(None).await.unwrap();
    assert_eq!(figures.active, n as u64, "every key counted once");
    println!(
        "\ncompliance totals: {} active keys (every imported key, once)",
        figures.active
    );
}
