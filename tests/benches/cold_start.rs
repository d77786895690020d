//! Cold start of each Lambda function: process start to the first request handled,
//! under a minimal Lambda Runtime API served here on loopback (the same HTTP protocol
//! Lambda's runtime API speaks), against DynamoDB Local and moto.
//!
//!   scripts/bench cold-start [runs]      # default 20 runs per function
//!
//! For every run a fresh process of the function's optimised x86_64 binary is started;
//! "init" is spawn → its first `GET /runtime/invocation/next` (logging, configuration,
//! AWS SDK clients: everything `main` does before the first event), "first" is spawn →
//! the first response posted back (init plus handling the fixture event, including its
//! DynamoDB requests). Each function gets its own fixture from events/.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use keyroll_core::store::dynamodb::create_table;
use tokio::sync::{mpsc, Mutex};

#[derive(Debug)]
enum Reached {
    Next(Instant),
    Response(Instant),
    Error(String),
}

#[derive(Clone)]
struct RuntimeApi {
    event: Bytes,
    served: Arc<Mutex<bool>>,
    reached: mpsc::UnboundedSender<Reached>,
}

async fn next_invocation(State(api): State<RuntimeApi>) -> Response {
    let at = Instant::now();
    let _ = api.reached.send(Reached::Next(at));
    let mut served = api.served.lock().await;
    if *served {
        // One invocation per process: park the second poll until the process is killed.
        drop(served);
        std::future::pending::<()>().await;
        unreachable!()
    }
    *served = true;
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis()
        + 60_000;
    let mut headers = HeaderMap::new();
    let put = |headers: &mut HeaderMap, name: &'static str, value: String| {
        headers.insert(name, HeaderValue::from_str(&value).expect("header value"));
    };
    put(
        &mut headers,
        "lambda-runtime-aws-request-id",
        "c0ffee00-0000-4000-8000-000000000001".into(),
    );
    put(
        &mut headers,
        "lambda-runtime-deadline-ms",
        deadline.to_string(),
    );
    put(
        &mut headers,
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:keyroll-cold-start".into(),
    );
    put(
        &mut headers,
        "lambda-runtime-trace-id",
        "Root=1-00000000-000000000000000000000000;Sampled=0".into(),
    );
    (StatusCode::OK, headers, api.event.clone()).into_response()
}

async fn invocation_response(
    State(api): State<RuntimeApi>,
    UrlPath(_id): UrlPath<String>,
) -> StatusCode {
    let _ = api.reached.send(Reached::Response(Instant::now()));
    StatusCode::ACCEPTED
}

async fn invocation_error(State(api): State<RuntimeApi>, body: Bytes) -> StatusCode {
    let _ = api
        .reached
        .send(Reached::Error(String::from_utf8_lossy(&body).into_owned()));
    StatusCode::ACCEPTED
}

async fn init_error(State(api): State<RuntimeApi>, body: Bytes) -> StatusCode {
    invocation_error(State(api), body).await
}

/// One cold start: (init, first response).
async fn cold_start(binary: &Path, function: &str, event: Bytes) -> (Duration, Duration) {
    let (sender, mut reached) = mpsc::unbounded_channel();
    let api = RuntimeApi {
        event,
        served: Arc::new(Mutex::new(false)),
        reached: sender,
    };
    let router = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next_invocation))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(invocation_response),
        )
        .route(
            "/2018-06-01/runtime/invocation/{id}/error",
            post(|state, _: UrlPath<String>, body| invocation_error(state, body)),
        )
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(api);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind runtime API");
    let address = listener.local_addr().expect("address");
    let server = tokio::spawn(async move { axum::serve(listener, router).await });

    let spawned = Instant::now();
    let mut child = tokio::process::Command::new(binary)
        .env("AWS_LAMBDA_RUNTIME_API", format!("http://{address}"))
        .env("AWS_LAMBDA_FUNCTION_NAME", function)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
    let mut init = None;
    let first = loop {
        match tokio::time::timeout(Duration::from_secs(30), reached.recv()).await {
            Ok(Some(Reached::Next(at))) => {
                init.get_or_insert(at - spawned);
            }
            Ok(Some(Reached::Response(at))) => break at - spawned,
            Ok(Some(Reached::Error(body))) => panic!("{function} reported an error: {body}"),
            Ok(None) | Err(_) => panic!("{function} did not answer within 30 s"),
        }
    };
    child.kill().await.ok();
    server.abort();
    (init.expect("a poll precedes the response"), first)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    let runs: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(20);
    std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
        .expect("AWS_ENDPOINT_URL_DYNAMODB: run scripts/bench cold-start");
    let binaries = PathBuf::from(std::env::var("KEYROLL_COLD_START_BINARIES").expect(
        "KEYROLL_COLD_START_BINARIES: the directory of the built functions (scripts/bench sets it)",
    ));
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");

    // The functions read the table and queue from their environment, as in Lambda.
    let sdk = keyroll_core::aws::load_config().await;
    let table = format!("keyroll-cold-start-{}", std::process::id());
    create_table(&keyroll_core::aws::dynamodb_client(&sdk), &table)
        .await
        .expect("create table");
    let queue_url = aws_sdk_sqs::Client::new(&sdk)
        .create_queue()
        .queue_name("keyroll-cold-start.fifo")
        .attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .expect("create queue")
        .queue_url
        .expect("queue url");
    // SAFETY: set before any other thread reads the environment (the runtime's workers
    // do not read it), and inherited by the spawned functions.
    unsafe {
        std::env::set_var("KEYROLL_TABLE_NAME", &table);
        std::env::set_var("KEYROLL_QUEUE_URL", &queue_url);
    }

    println!("cold start, {runs} runs per function (fresh process each), optimised x86_64 build");
    println!("| function | fixture | init p50 | init p90 | init max | first response p50 | first response p90 |");
    println!("|---|---|---|---|---|---|---|");
    for (function, fixture) in [
        ("api", "events/api-get-compliance.json"),
        ("authorizer", "events/authorizer-http-api.json"),
        ("processor", "events/processor-schedule.json"),
        ("scanner", "events/scanner-schedule.json"),
    ] {
        let event = Bytes::from(std::fs::read(repo.join(fixture)).expect("fixture"));
        let binary = binaries.join(function);
        let mut inits = Vec::with_capacity(runs);
        let mut firsts = Vec::with_capacity(runs);
        // One unmeasured start warms the page cache, as a warm Lambda host would have it.
        cold_start(&binary, function, event.clone()).await;
        for _ in 0..runs {
            let (init, first) = cold_start(&binary, function, event.clone()).await;
            inits.push(init);
            firsts.push(first);
        }
        inits.sort();
        firsts.sort();
        println!(
            "| {function} | {fixture} | {} ms | {} ms | {} ms | {} ms | {} ms |",
            ms(percentile(&inits, 0.5)),
            ms(percentile(&inits, 0.9)),
            ms(*inits.last().expect("runs > 0")),
            ms(percentile(&firsts, 0.5)),
            ms(percentile(&firsts, 0.9)),
        );
    }
}
