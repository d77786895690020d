//! End to end over real HTTP: the `keyroll-local` binary on DynamoDB Local (through
//! the AWS SDK), driven like a user would with an HTTP client. Needs the stand-ins of
//! scripts/local-aws (scripts/test starts them); fails without them.

use std::time::Duration;

use serde_json::{json, Value};

const TOKEN: &str = "e2e-admin-token-0123456789abcdef";

mod common;
use common::{start_server, Server};

fn require(variable: &str) -> String {
    std::env::var(variable).unwrap_or_else(|_| {
        panic!("{variable} is not set: this test needs DynamoDB Local; run scripts/test")
    })
}

fn start(table: &str) -> Server {
    require("AWS_ENDPOINT_URL_DYNAMODB");
    start_server(
        &["--create-tables"],
        &[
            ("KEYROLL_BACKEND", "aws"),
            ("KEYROLL_TABLE_NAME", table),
            ("KEYROLL_ADMIN_TOKEN", TOKEN),
            ("KEYROLL_MIN_GRACE_SECONDS", "1"),
            // The processor must not run during the test: expiry has to hold on its own.
            ("KEYROLL_PROCESS_INTERVAL_SECONDS", "3600"),
        ],
    )
}

async fn call(
    client: &reqwest::Client,
    server: &Server,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = client
        .request(method, format!("{}{path}", server.base))
        .bearer_auth(TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn verify(client: &reqwest::Client, server: &Server, secret: &str) -> String {
    let (status, body) = call(
        client,
        server,
        reqwest::Method::POST,
        "/v1/verify",
        Some(json!({"secret": secret})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["code"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_rotation_over_http_on_dynamodb_local() {
    let table = format!("keyroll-e2e-{}", std::process::id());
    let server = start(&table);
    let client = reqwest::Client::new();

    // Unauthenticated: 401, problem document.
    let response = client
        .get(format!(
            "{}/v1/keys/key_01m89zdh2fkg7qrmj3n31f4rc2",
            server.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );

    let (status, created) = call(
        &client,
        &server,
        reqwest::Method::POST,
        "/v1/keys",
        Some(json!({"organizationId": "org_acme", "name": "prod backend", "scopes": ["charges:write"], "rateLimit": 100})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let key = created["key"]["id"].as_str().unwrap().to_owned();
    let old = created["secret"].as_str().unwrap().to_owned();

    let (status, rotated) = call(
        &client,
        &server,
        reqwest::Method::POST,
        &format!("/v1/keys/{key}/rotations"),
        Some(json!({"immediate": true, "gracePeriodSeconds": 2, "reason": "e2e"})),
    )
    .await;
    assert_eq!(status, 201, "{rotated}");
    let new = rotated["secret"].as_str().unwrap().to_owned();
    let grace_ends = rotated["rotation"]["graceEndsAt"]
        .as_str()
        .unwrap()
        .to_owned();

    assert_eq!(verify(&client, &server, &old).await, "VALID");
    assert_eq!(verify(&client, &server, &new).await, "VALID");

    // Wait out the grace on the real clock (the processor is not running).
    let deadline = keyroll_core::time::Timestamp::parse(&grace_ends)
        .expect("RFC 3339")
        .unix();
    loop {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        if now >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(verify(&client, &server, &old).await, "EXPIRED");
    assert_eq!(verify(&client, &server, &new).await, "VALID");

    let (status, audit) = call(
        &client,
        &server,
        reqwest::Method::GET,
        &format!("/v1/keys/{key}/audit"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(audit["chainValid"], true, "{audit}");
    assert_eq!(audit["events"].as_array().unwrap().len(), 3);

    // The state really is in DynamoDB Local.
    let config = keyroll_core::aws::load_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let item = dynamodb
        .get_item()
        .table_name(&table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("KEY#{key}")),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("KEY".into()),
        )
        .consistent_read(true)
        .send()
        .await
        .expect("read DynamoDB Local")
        .item
        .expect("key item in DynamoDB Local");
    assert_eq!(item["revision"].as_n().unwrap(), "3");
    let dump = format!("{item:?}");
    assert!(
        !dump.contains(&old[16..]) && !dump.contains(&new[16..]),
        "no secret stored"
    );
}
