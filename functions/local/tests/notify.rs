//! keyroll-local runs the whole notification loop: with the memory backend a rotation
//! made through its API reaches an email contact (as an `.eml` file in the mail folder)
//! and a webhook receiver on loopback, and lands in the organisation's feed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

mod common;
use common::start_server;

const TOKEN: &str = "notify-admin-token-0123456789abcdef";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_reaches_email_webhook_and_feed_with_nothing_else_running() {
    let received: Arc<Mutex<Vec<(String, String)>>> = Arc::new(Mutex::new(Vec::new()));
    let kept = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let kept = kept.clone();
            async move {
                let signature = headers
                    .get("webhook-signature")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                kept.lock().unwrap().push((signature, body));
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let mail = std::env::temp_dir().join(format!("keyroll-notify-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&mail);
    let server = start_server(
        &[],
        &[
            ("KEYROLL_ADMIN_TOKEN", TOKEN),
            ("KEYROLL_EMAIL_DIR", mail.to_str().unwrap()),
            ("KEYROLL_ALLOW_LOOPBACK_WEBHOOKS", "true"),
            ("KEYROLL_PROCESS_INTERVAL_SECONDS", "1"),
            ("KEYROLL_MIN_GRACE_SECONDS", "1"),
        ],
    );
    let client = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        client
            .post(format!("{}{path}", server.base))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
    };
    let contact = post(
        "/v1/organizations/org_acme/contacts",
        json!({"email": "ops@acme.example"}),
    )
    .await
    .unwrap();
    assert_eq!(contact.status(), 201);
    let webhook = post("/v1/organizations/org_acme/webhooks", json!({"url": hook}))
        .await
        .unwrap();
    assert_eq!(webhook.status(), 201);
    let webhook: Value = webhook.json().await.unwrap();
    assert!(webhook["secret"].as_str().unwrap().starts_with("whsec_"));
    let key: Value = post(
        "/v1/keys",
        json!({"organizationId": "org_acme", "name": "Acme backend", "rateLimit": 10}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let key_id = key["key"]["id"].as_str().unwrap();
    let rotation = post(
        &format!("/v1/keys/{key_id}/rotations"),
        json!({"immediate": true, "gracePeriodSeconds": 3600}),
    )
    .await
    .unwrap();
    assert_eq!(rotation.status(), 201);
    let rotation: Value = rotation.json().await.unwrap();
    let new_secret = rotation["secret"].as_str().unwrap().to_owned();

    // The processor (every second) moves the outbox to the queue; the notifier delivers.
    let mut emails = Vec::new();
    for _ in 0..100 {
        emails = std::fs::read_dir(&mail)
            .map(|entries| {
                entries
                    .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
                    .collect()
            })
            .unwrap_or_default();
        if emails.len() >= 2 && received.lock().unwrap().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        emails.len(),
        2,
        "rotation.scheduled and rotation.started, by email"
    );
    assert!(emails
        .iter()
        .any(|e| e.contains("To: ops@acme.example") && e.contains("has a new secret")));
    let hooks = received.lock().unwrap().clone();
    assert_eq!(hooks.len(), 2, "and by webhook");
    assert!(hooks
        .iter()
        .all(|(signature, _)| signature.starts_with("v1,")));
    let body = &new_secret[16..];
    assert!(
        emails.iter().all(|e| !e.contains(body)),
        "no secret in an email"
    );
    assert!(
        hooks.iter().all(|(_, b)| !b.contains(body)),
        "no secret in a webhook"
    );

    let feed: Value = client
        .get(format!(
            "{}/v1/organizations/org_acme/notifications",
            server.base
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entries = feed["notifications"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["type"], "rotation.started", "newest first");
    assert_eq!(entries[0]["read"], false);
    let _ = std::fs::remove_dir_all(&mail);
}

/// With `KEYROLL_BACKEND=aws` (DynamoDB Local, moto's SQS, SES and Secrets Manager),
/// keyroll-local consumes its queue itself: a rotation made through its API reaches
/// the contact through SES and the webhook, with nothing else running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_aws_keyroll_local_consumes_its_queue_and_sends_through_ses() {
    for variable in [
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_ENDPOINT_URL_SQS",
        "AWS_ENDPOINT_URL_SESV2",
        "KEYROLL_MOTO_URL",
    ] {
        assert!(
            std::env::var(variable).is_ok(),
            "{variable} is not set: run scripts/test"
        );
    }
    let id = format!(
        "{}{}",
        std::process::id(),
        keyroll_core::random::bytes::<2>()[0]
    );
    // Its own queue: another keyroll-local on a shared queue would take its messages.
    let sdk = keyroll_core::aws::load_config().await;
    let queue_url = aws_sdk_sqs::Client::new(&sdk)
        .create_queue()
        .queue_name(format!("keyroll-local-notify-{id}.fifo"))
        .attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let received: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let kept = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: String| {
            let kept = kept.clone();
            async move {
                kept.lock().unwrap().push(body);
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let table = format!("keyroll-local-notify-{id}");
    let server = start_server(
        &["--create-tables"],
        &[
            ("KEYROLL_BACKEND", "aws"),
            ("KEYROLL_TABLE_NAME", &table),
            ("KEYROLL_QUEUE_URL", &queue_url),
            (
                "KEYROLL_SECRET_NAME_PREFIX",
                &format!("keyroll-local-{id}/"),
            ),
            ("KEYROLL_ADMIN_TOKEN", TOKEN),
            ("KEYROLL_ALLOW_LOOPBACK_WEBHOOKS", "true"),
            ("KEYROLL_PROCESS_INTERVAL_SECONDS", "1"),
        ],
    );
    let client = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        client
            .post(format!("{}{path}", server.base))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
    };
    let contact = format!("ops-{id}@acme.example");
    let org = format!("org_local_{id}");
    assert_eq!(
        post(
            &format!("/v1/organizations/{org}/contacts"),
            json!({"email": contact})
        )
        .await
        .unwrap()
        .status(),
        201
    );
    assert_eq!(
        post(
            &format!("/v1/organizations/{org}/webhooks"),
            json!({"url": hook})
        )
        .await
        .unwrap()
        .status(),
        201
    );
    let key: Value = post(
        "/v1/keys",
        json!({"organizationId": org, "name": "Acme backend", "rateLimit": 10}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let key_id = key["key"]["id"].as_str().unwrap();
    let rotated = post(
        &format!("/v1/keys/{key_id}/rotations"),
        json!({"immediate": true, "gracePeriodSeconds": 3600}),
    )
    .await
    .unwrap();
    assert_eq!(rotated.status(), 201);

    let moto = std::env::var("KEYROLL_MOTO_URL").unwrap();
    let mut emails = 0;
    for _ in 0..200 {
        let data: Value = reqwest::get(format!("{moto}/moto-api/data.json"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        emails = data["ses"]["Message"]
            .as_array()
            .map(|messages| {
                messages
                    .iter()
                    .filter(|m| m["destinations"].to_string().contains(&contact))
                    .count()
            })
            .unwrap_or(0);
        if emails >= 2 && received.lock().unwrap().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        emails, 2,
        "rotation.scheduled and rotation.started through SES"
    );
    assert_eq!(received.lock().unwrap().len(), 2, "and to the webhook");
}
