//! Idempotency-Key: one result per key, replayed.

use crate::support::*;

#[tokio::test]
async fn idempotency_key_replays_the_first_result_once() {
    let app = spawn_app();
    let (key, _) = app.create_key().await;
    let path = format!("/v1/keys/{key}/rotations");
    let idem = [("idempotency-key", "9b1f2c5e-0d1a-4f6b-8a3e-2c7d9e0f1a2b")];
    let body = json!({"reason": "quarterly", "immediate": true}).to_string();
    let first = app.raw("POST", &path, Some(body.clone()), &idem).await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert!(!first.replayed);
    let retry = app.raw("POST", &path, Some(body.clone()), &idem).await;
    assert_eq!(retry.status, StatusCode::CREATED);
    assert!(retry.replayed);
    assert_eq!(retry.body["rotation"]["id"], first.body["rotation"]["id"]);
    assert_eq!(
        retry.body["secret"], first.body["secret"],
        "the same secret, not a second one"
    );
    let versions = app.call("GET", &format!("/v1/keys/{key}"), None).await.body["key"]["versions"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(versions, 2, "minted once");

    // Same key, different body: 422 and nothing changes.
    let before = app.snapshot(&key).await;
    let other = app
        .raw(
            "POST",
            &path,
            Some(json!({"reason": "other"}).to_string()),
            &idem,
        )
        .await;
    assert_problem(&other, 422);
    assert_eq!(app.snapshot(&key).await, before);

    // Key creation replays too.
    let create = json!({"organizationId": "org", "name": "n", "rateLimit": 1}).to_string();
    let idem2 = [("idempotency-key", "create-key-0123456789abcdef")];
    let a = app
        .raw("POST", "/v1/keys", Some(create.clone()), &idem2)
        .await;
    let b = app.raw("POST", "/v1/keys", Some(create), &idem2).await;
    assert_eq!(a.body["key"]["id"], b.body["key"]["id"]);
    assert_eq!(a.body["secret"], b.body["secret"]);
    assert!(b.replayed);
}

#[tokio::test]
async fn concurrent_duplicates_get_one_rotation() {
    let app = Arc::new(spawn_app());
    let (key, _) = app.create_key().await;
    let path = format!("/v1/keys/{key}/rotations");
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let app = app.clone();
        let path = path.clone();
        tasks.push(tokio::spawn(async move {
            app.raw(
                "POST",
                &path,
                Some("{}".into()),
                &[("idempotency-key", "dup-0123456789abcdef-000")],
            )
            .await
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        let reply = task.await.unwrap();
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        ids.push(reply.body["rotation"]["id"].as_str().unwrap().to_owned());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every duplicate got the one rotation");
    let listed = app
        .call("GET", &format!("/v1/keys/{key}/rotations"), None)
        .await;
    assert_eq!(listed.body["rotations"].as_array().unwrap().len(), 1);
}

/// Reveals of one held secret with the same Idempotency-Key, at once: those that lose
/// find the secret already revealed (410 on their own) and must answer with the
/// winner's result instead, so all get 200 and the same secret. Ten held secrets, so
/// the race is met whatever the scheduling.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_reveals_with_one_key_get_the_same_secret() {
    let app = Arc::new(spawn_app());
    let mut keys = Vec::new();
    for _ in 0..10 {
        keys.push(app.create_key().await.0);
    }
    app.clock.advance(91 * 86_400);
    let scanned = app.call("POST", "/v1/admin/scan", None).await;
    assert_eq!(scanned.body["scheduled"], 10, "{}", scanned.text);
    for key in keys {
        let rotations = app
            .call("GET", &format!("/v1/keys/{key}/rotations"), None)
            .await;
        let path = format!(
            "/v1/rotations/{}/reveal",
            rotations.body["rotations"][0]["id"].as_str().unwrap()
        );
        let start = Arc::new(tokio::sync::Barrier::new(16));
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (app, path, start) = (app.clone(), path.clone(), start.clone());
            tasks.push(tokio::spawn(async move {
                start.wait().await;
                app.raw(
                    "POST",
                    &path,
                    None,
                    &[("idempotency-key", "reveal-0123456789abcdef")],
                )
                .await
            }));
        }
        let mut secrets = Vec::new();
        for task in tasks {
            let reply = task.await.unwrap();
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
            secrets.push(reply.body["secret"].as_str().unwrap().to_owned());
        }
        secrets.dedup();
        assert_eq!(secrets.len(), 1, "one secret for every duplicate");
        // Without the key, another reveal is still refused.
        assert_problem(&app.call("POST", &path, None).await, 410);
    }
}
