//! Load: keyroll-local (the same router as the Lambda API) on DynamoDB Local, driven
//! over loopback HTTP by concurrent clients: verifications, scheduled rotations and
//! emergency rotations, then all three at once. Reports throughput and p50/p99 per
//! kind, then checks that nothing was lost: every request answered 2xx, every key has
//! at most one rotation in progress and a valid current secret, every audit chain
//! verifies.
//!
//!   scripts/bench load [keys] [verifications] [concurrency]   # default 200 4000 16
//!
//! The server is the optimised `keyroll-local` binary (bench profile) started here with
//! KEYROLL_BACKEND=aws, its own table, and the processor and scanner intervals long
//! enough not to run during the measurement.

use std::net::TcpListener;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use serde_json::{json, Value};

const TOKEN: &str = "load-bench-admin-token-0123456789";

/// One request of a mixed phase, started when its turn comes.
type Request = Box<
    dyn FnOnce() -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<(Duration, Value), String>>>,
    >,
>;

struct Server {
    base: String,
    child: std::process::Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

fn start_server() -> Server {
    let binary = std::env::var("KEYROLL_LOCAL_BINARY")
        .expect("KEYROLL_LOCAL_BINARY: run scripts/bench load");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = std::process::Command::new(binary)
        .arg("--create-tables")
        .env("KEYROLL_BACKEND", "aws")
        .env("KEYROLL_LISTEN", format!("127.0.0.1:{port}"))
        .env("KEYROLL_ADMIN_TOKEN", TOKEN)
        .env(
            "KEYROLL_TABLE_NAME",
            format!("keyroll-load-{}", std::process::id()),
        )
        .env("KEYROLL_PROCESS_INTERVAL_SECONDS", "86400")
        .env("KEYROLL_SCAN_INTERVAL_SECONDS", "86400")
        .env("KEYROLL_MIN_GRACE_SECONDS", "60")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start keyroll-local");
    Server {
        base: format!("http://127.0.0.1:{port}"),
        child,
    }
}

#[derive(Default)]
struct Samples {
    latencies: Vec<Duration>,
    bodies: Vec<Value>,
    failures: Vec<String>,
    elapsed: Duration,
}

impl Samples {
    fn report(&mut self, kind: &str, concurrency: usize) {
        self.latencies.sort();
        let n = self.latencies.len();
        let at = |p: f64| self.latencies[((n as f64 - 1.0) * p).round() as usize];
        println!(
            "| {kind} | {n} | {concurrency} | {:.0} | {:.2} ms | {:.2} ms | {} |",
            n as f64 / self.elapsed.as_secs_f64(),
            at(0.5).as_secs_f64() * 1000.0,
            at(0.99).as_secs_f64() * 1000.0,
            self.failures.len(),
        );
    }
}

async fn call(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    body: Value,
) -> Result<(Duration, Value), String> {
    let started = Instant::now();
    let response = client
        .post(format!("{base}{path}"))
        .bearer_auth(TOKEN)
        .header(
            "idempotency-key",
            format!("load-{}-{}", path.len(), uuid_like()),
        )
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("{path}: {e}"))?;
    let status = response.status();
    let value: Value = response.json().await.unwrap_or(Value::Null);
    let elapsed = started.elapsed();
    if status.is_success() {
        Ok((elapsed, value))
    } else {
        Err(format!("{path}: {status} {value}"))
    }
}

fn uuid_like() -> String {
    let bytes: [u8; 16] = keyroll_core::random::bytes();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs `requests` through `concurrency` clients; returns latencies and failures.
async fn phase<F, Fut>(requests: Vec<F>, concurrency: usize) -> Samples
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<(Duration, Value), String>>,
{
    let started = Instant::now();
    let results: Vec<_> = stream::iter(requests.into_iter().map(|f| f()))
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let mut samples = Samples {
        elapsed: started.elapsed(),
        ..Samples::default()
    };
    for result in results {
        match result {
            Ok((latency, body)) => {
                samples.latencies.push(latency);
                samples.bodies.push(body);
            }
            Err(failure) => samples.failures.push(failure),
        }
    }
    samples
}

#[tokio::main]
async fn main() {
    let numbers: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let keys = numbers.first().copied().unwrap_or(200);
    let verifications = numbers.get(1).copied().unwrap_or(4000);
    let concurrency = numbers.get(2).copied().unwrap_or(16);
    let server = start_server();
    let base = Arc::new(server.base.clone());
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if client
            .get(format!("{base}/openapi.json"))
            .send()
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Keys.
    let created = phase(
        (0..keys)
            .map(|i| {
                let (client, base) = (client.clone(), base.clone());
                move || async move {
                    call(&client, &base, "/v1/keys", json!({"organizationId": "org_load", "name": format!("load {i}"), "rateLimit": 100})).await
                }
            })
            .collect(),
        concurrency,
    )
    .await;
    assert!(created.failures.is_empty(), "{:?}", created.failures);
    let ids: Vec<String> = created
        .bodies
        .iter()
        .map(|b| b["key"]["id"].as_str().unwrap().to_owned())
        .collect();
    let secrets: Vec<String> = created
        .bodies
        .iter()
        .map(|b| b["secret"].as_str().unwrap().to_owned())
        .collect();

    println!(
        "load on keyroll-local (DynamoDB Local), loopback HTTP, {} keys",
        ids.len()
    );
    println!("| kind | requests | concurrency | requests/s | p50 | p99 | failed |");
    println!("|---|---|---|---|---|---|---|");
    let verify = |i: usize| {
        let (client, base, secret) = (
            client.clone(),
            base.clone(),
            secrets[i % secrets.len()].clone(),
        );
        move || async move {
            let (latency, body) =
                call(&client, &base, "/v1/verify", json!({"secret": secret})).await?;
            if body["valid"] == true {
                Ok((latency, body))
            } else {
                Err(format!("verify: {body}"))
            }
        }
    };
    let mut verified = phase((0..verifications).map(verify).collect(), concurrency).await;
    verified.report("verify", concurrency);

    let schedule = |i: usize| {
        let (client, base, id) = (client.clone(), base.clone(), ids[i].clone());
        move || async move {
            call(
                &client,
                &base,
                &format!("/v1/keys/{id}/rotations"),
                json!({"immediate": true, "gracePeriodSeconds": 3600, "reason": "load"}),
            )
            .await
        }
    };
    let mut scheduled = phase((0..ids.len()).map(schedule).collect(), concurrency).await;
    scheduled.report("schedule (immediate)", concurrency);

    let emergency = |i: usize| {
        let (client, base, id) = (client.clone(), base.clone(), ids[i].clone());
        move || async move {
            call(
                &client,
                &base,
                &format!("/v1/keys/{id}/emergency-rotation"),
                json!({"reason": "load", "gracePeriodSeconds": 600}),
            )
            .await
        }
    };
    let mut emergencies = phase((0..ids.len()).map(emergency).collect(), concurrency).await;
    emergencies.report("emergency (supersedes)", concurrency);

    // Mixed: verifications of the (now previous, in-grace) original secrets while a
    // second emergency round rotates every key again.
    let mut mixed_requests: Vec<Request> = Vec::new();
    for i in 0..ids.len() {
        let e = emergency(i);
        mixed_requests.push(Box::new(move || Box::pin(e())));
        for j in 0..4 {
            let (client, base, secret) = (
                client.clone(),
                base.clone(),
                secrets[(i + j) % secrets.len()].clone(),
            );
            mixed_requests.push(Box::new(move || {
                Box::pin(async move {
                    call(&client, &base, "/v1/verify", json!({"secret": secret})).await
                })
            }));
        }
    }
    let mut mixed = phase(mixed_requests, concurrency).await;
    mixed.report("mixed (1 emergency : 4 verify)", concurrency);

    // Nothing lost.
    let mut problems = Vec::new();
    for samples in [&verified, &scheduled, &emergencies, &mixed] {
        problems.extend(samples.failures.iter().take(5).cloned());
    }
    let checks = stream::iter(ids.iter().cloned())
        .map(|id| {
            let (client, base) = (client.clone(), base.clone());
            async move {
                let get = |path: String| {
                    let (client, base) = (client.clone(), base.clone());
                    async move {
                        client
                            .get(format!("{base}{path}"))
                            .bearer_auth(TOKEN)
                            .send()
                            .await
                            .unwrap()
                            .json::<Value>()
                            .await
                            .unwrap()
                    }
                };
                let audit = get(format!("/v1/keys/{id}/audit")).await;
                let rotations = get(format!("/v1/keys/{id}/rotations")).await;
                let key = get(format!("/v1/keys/{id}")).await;
                let mut issues = Vec::new();
                if audit["chainValid"] != true {
                    issues.push(format!("{id}: audit chain broken"));
                }
                let open = rotations["rotations"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|r| r["status"] == "scheduled" || r["status"] == "grace_period")
                    .count();
                if open > 1 {
                    issues.push(format!("{id}: {open} rotations in progress"));
                }
                if rotations["rotations"].as_array().unwrap().len() != 3 {
                    issues.push(format!(
                        "{id}: {} rotations, expected 3",
                        rotations["rotations"].as_array().unwrap().len()
                    ));
                }
                let current = key["key"]["versions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|v| v["stage"] == "current")
                    .count();
                if current != 1 {
                    issues.push(format!("{id}: {current} current secrets"));
                }
                issues
            }
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>()
        .await;
    problems.extend(checks.into_iter().flatten());
    if problems.is_empty() {
        println!("\nconsistency: every request answered 2xx; {} keys each with 3 rotations, at most one in progress, one current secret, and a valid audit chain", ids.len());
    } else {
        for problem in problems.iter().take(20) {
            eprintln!("problem: {problem}");
        }
        panic!("{} consistency problems", problems.len());
    }
    drop(server);
}
