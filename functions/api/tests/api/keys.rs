//! Keys: issue, read, import.

use crate::support::*;

#[tokio::test]
async fn issue_and_read_a_key_without_exposing_hashes() {
    let app = spawn_app();
    let reply = app
        .call("POST", "/v1/keys", Some(json!({"organizationId": "org_acme", "name": "mobile", "scopes": ["a", "b"], "rateLimit": 5, "class": "embedded"})))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let secret = reply.body["secret"].as_str().unwrap();
    assert!(secret.starts_with("sk_live_"));
    let id = reply.body["key"]["id"].as_str().unwrap();
    assert_eq!(reply.body["key"]["class"], "embedded");

    let got = app.call("GET", &format!("/v1/keys/{id}"), None).await;
    assert_eq!(got.status, StatusCode::OK);
    let version = &got.body["key"]["versions"][0];
    assert_eq!(version["version"], 1);
    assert_eq!(version["stage"], "current");
    assert_eq!(version["prefix"], &secret[..16]);
    assert_eq!(version["createdAt"], "2026-01-01T00:00:00Z");
    assert!(version.get("expiresAt").is_some() && version.get("lastUsedAt").is_some());
    for forbidden in ["lookupHash", "verifier", "scrypt", &secret[16..]] {
        assert!(!got.text.contains(forbidden), "{forbidden} in {}", got.text);
    }
}

/// A whole 1,000-row request (some 200 KB, over the other routes' 64 KiB) imports,
/// one result per row in row order, and counts in the compliance figures at once.
#[tokio::test]
async fn a_thousand_row_import_is_one_request() {
    let app = spawn_app();
    let rows: Vec<_> = (0..1000)
        .map(|i| {
            json!({"organizationId": format!("org_{}", i % 7), "name": format!("legacy key number {i}"),
                   "scopes": ["charges:read", "charges:write"], "rateLimit": 100, "prefix": format!("{i:08x}"),
                   "lookupHash": sha256_hex(&format!("sk_live_thousand_{i}")), "createdAt": "2025-12-01T00:00:00Z"})
        })
        .collect();
    let body = json!({ "keys": rows }).to_string();
    assert!(body.len() > 64 * 1024, "{} bytes", body.len());
    let reply = app.raw("POST", "/v1/keys/import", Some(body), &[]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["imported"], 1000);
    let results = reply.body["rows"].as_array().unwrap();
    assert_eq!(results.len(), 1000);
    assert!(
        results
            .iter()
            .enumerate()
            .all(|(i, r)| r["row"] == i as u64 + 1),
        "row order"
    );
    let report = app.call("GET", "/v1/compliance?limit=1", None).await;
    assert_eq!(report.body["activeKeys"], 1000);
    let too_big = json!({"keys": [], "pad": "x".repeat(1_100_000)}).to_string();
    assert_problem(
        &app.raw("POST", "/v1/keys/import", Some(too_big), &[]).await,
        413,
    );
}

/// The old system's prefix is the configured one, in the import as in verification.
#[tokio::test]
async fn import_takes_the_configured_legacy_prefix() {
    let app = spawn_app_with(&[("KEYROLL_LEGACY_KEY_PREFIX", "pk_old_")]);
    let secret = format!("pk_old_{}", "5e".repeat(32));
    let body = json!({"keys": [{"organizationId": "org_acme", "name": "old", "rateLimit": 5,
        "prefix": &secret[..15], "lookupHash": sha256_hex(&secret), "createdAt": "2025-12-01T00:00:00Z"}]})
    .to_string();
    let reply = app.raw("POST", "/v1/keys/import", Some(body), &[]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["imported"], 1, "{}", reply.text);
    assert_eq!(app.verify(&secret).await, "VALID");
}

#[tokio::test]
async fn import_brings_old_keys_in_and_the_scan_rotates_them() {
    let app = spawn_app();
    app.clock
        .set(Timestamp::parse("2026-01-01T00:00:00Z").unwrap());
    let old_secret = format!(
        "sk_live_{}",
        "3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b"
    );
    let young_secret = format!("sk_live_{}", "aa".repeat(32));
    let body = json!({"keys": [
        {"id": "key-abc123def456", "organizationId": "org_acme", "name": "Acme 2023", "scopes": ["charges:read"],
         "rateLimit": 100, "prefix": &old_secret[..16], "lookupHash": sha256_hex(&old_secret), "createdAt": "2023-01-01T00:00:00Z"},
        {"organizationId": "org_acme", "name": "recent", "rateLimit": 5, "prefix": "aaaaaaaa",
         "lookupHash": sha256_hex(&young_secret), "createdAt": "2025-12-01T00:00:00Z", "class": "embedded"},
        {"organizationId": "org acme", "name": "bad org", "rateLimit": 5, "prefix": "aaaaaaaa", "lookupHash": "00", "createdAt": "2025-12-01T00:00:00Z"},
        {"organizationId": "org_acme", "name": "future", "rateLimit": 5, "prefix": "bbbbbbbb",
         "lookupHash": sha256_hex("x"), "createdAt": "2030-01-01T00:00:00Z"},
        {"organizationId": "org_acme", "name": "unknown field", "rateLimit": 5, "prefix": "bbbbbbbb",
         "lookupHash": sha256_hex("y"), "createdAt": "2025-01-01T00:00:00Z", "color": "red"},
        "not an object"
    ]})
    .to_string();
    // A row not of the documented form refuses the whole file, naming each fault.
    let reply = app
        .raw("POST", "/v1/keys/import", Some(body.clone()), &[])
        .await;
    assert_problem(&reply, 422);
    let faults: Vec<_> = reply.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        faults,
        ["keys[2].organizationId", "keys[4].color", "keys[5]"],
        "{}",
        reply.text
    );
    assert_eq!(
        app.call("GET", "/v1/keys/key-abc123def456", None)
            .await
            .status,
        404
    );

    // Without them: the rows are imported one by one, a creation time in the future
    // (the clock's decision, not the form's) answered `invalid`.
    let mut parsed: Value = serde_json::from_str(&body).unwrap();
    let rows = parsed["keys"].as_array_mut().unwrap();
    rows.truncate(4);
    rows.remove(2);
    let body = parsed.to_string();
    let reply = app
        .raw("POST", "/v1/keys/import", Some(body.clone()), &[])
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(
        (
            reply.body["imported"].as_u64(),
            reply.body["duplicates"].as_u64(),
            reply.body["invalid"].as_u64()
        ),
        (Some(2), Some(0), Some(1))
    );
    let outcomes: Vec<_> = reply.body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(outcomes, ["imported", "imported", "invalid"]);
    assert_eq!(
        reply.body["rows"][0]["keyId"], "key-abc123def456",
        "the old id is kept"
    );

    // A re-run imports nothing twice.
    let again = app.raw("POST", "/v1/keys/import", Some(body), &[]).await;
    assert_eq!(
        (
            again.body["imported"].as_u64(),
            again.body["duplicates"].as_u64()
        ),
        (Some(0), Some(2))
    );

    // The CSV form; a row repeating an imported secret is a duplicate.
    let csv = format!(
        "id,organizationId,name,scopes,rateLimit,class,prefix,lookupHash,createdAt,status\n\
         ,org_beta,\"Beta, old\",read write,10,server,cccccccc,{},2024-02-01T00:00:00Z,\n\
         ,org_beta,dup,,10,,dddddddd,{},2024-02-01T00:00:00Z,active\n\
         ,org_beta,gone,,10,,eeeeeeee,{},2024-02-01T00:00:00Z,revoked\n",
        sha256_hex("sk_live_beta"),
        sha256_hex(&old_secret),
        sha256_hex("sk_live_gone")
    );
    let reply = app
        .raw(
            "POST",
            "/v1/keys/import",
            Some(csv),
            &[("content-type", "text/csv")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(
        (
            reply.body["imported"].as_u64(),
            reply.body["duplicates"].as_u64()
        ),
        (Some(2), Some(1))
    );
    assert_problem(
        &app.raw(
            "POST",
            "/v1/keys/import",
            Some("a,b\n1,2".into()),
            &[("content-type", "text/csv")],
        )
        .await,
        422,
    );
    assert_problem(
        &app.raw(
            "POST",
            "/v1/keys/import",
            Some("x".into()),
            &[("content-type", "text/plain")],
        )
        .await,
        415,
    );

    // The 3-year-old key verifies, shows as overdue, and the scan rotates it.
    assert_eq!(app.verify(&old_secret).await, "VALID");
    let report = app.call("GET", "/v1/compliance?status=overdue", None).await;
    let overdue: Vec<_> = report.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["keyId"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        overdue.contains(&"key-abc123def456".to_owned()),
        "{overdue:?}"
    );
    assert_eq!(report.body["keys"][0]["ageDays"], 1096);
    let scanned = app.call("POST", "/v1/admin/scan", None).await;
    // A policy rotation's secret waits for an operator: the customer's old secret
    // cannot fetch it (only "selfService" rotations allow that).
    let customer = app
        .raw(
            "GET",
            "/v1/self/successor",
            None,
            &[("authorization", &format!("Bearer {old_secret}"))],
        )
        .await;
    assert_problem(&customer, 404);
    assert!(scanned.body["scheduled"].as_u64().unwrap() >= 1);
    let rotations = app
        .call("GET", "/v1/keys/key-abc123def456/rotations", None)
        .await;
    let rotation = &rotations.body["rotations"][0];
    assert_eq!(rotation["trigger"], "policy");
    assert_eq!(rotation["secretHeld"], true);
    let id = rotation["id"].as_str().unwrap();
    let revealed = app
        .call("POST", &format!("/v1/rotations/{id}/reveal"), None)
        .await;
    assert_eq!(revealed.status, StatusCode::OK, "{}", revealed.text);
    let new_secret = revealed.body["secret"].as_str().unwrap().to_owned();
    assert_problem(
        &app.call("POST", &format!("/v1/rotations/{id}/reveal"), None)
            .await,
        410,
    );
    // The rotation runs its course: old secret valid through the grace, then gone.
    app.clock.advance(86_400);
    app.call("POST", "/v1/admin/process", None).await;
    assert_eq!(app.verify(&old_secret).await, "VALID");
    app.clock.advance(72 * 3600);
    app.call("POST", "/v1/admin/process", None).await;
    assert_eq!(app.verify(&old_secret).await, "REVOKED");
    assert_eq!(app.verify(&new_secret).await, "VALID");
    assert_eq!(app.verify("sk_live_gone").await, "MALFORMED");
}

/// An operator revokes a key once per Idempotency-Key (a retry is a replay), and
/// offboards an organisation: every active key of it revoked, `remaining` 0, another
/// organisation's key untouched; bad input is a 422 that changes nothing.
#[tokio::test]
async fn revoke_a_key_and_offboard_an_organisation() {
    let app = spawn_app();
    let (key, secret) = app.create_key().await;
    let headers = [("idempotency-key", "revoke-0123456789abcdef")];
    let body = json!({"reason": "employee left"}).to_string();
    let path = format!("/v1/keys/{key}/revoke");
    let first = app.raw("POST", &path, Some(body.clone()), &headers).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(first.body["key"]["status"], "revoked");
    assert_eq!(app.verify(&secret).await, "REVOKED");
    let replay = app.raw("POST", &path, Some(body), &headers).await;
    assert_eq!(replay.status, StatusCode::OK);
    assert!(replay.replayed);
    assert_eq!(
        replay.body["key"]["revokedAt"],
        first.body["key"]["revokedAt"]
    );
    let no_reason = app.call("POST", &path, Some(json!({}))).await;
    assert_problem(&no_reason, 422);

    let mut leaving = Vec::new();
    for name in ["a", "b", "c"] {
        let reply = app
            .call(
                "POST",
                "/v1/keys",
                Some(json!({"organizationId": "org_leaving", "name": name, "rateLimit": 5})),
            )
            .await;
        leaving.push(reply.body["secret"].as_str().unwrap().to_owned());
    }
    let (_, staying) = app.create_key().await;
    let bad = app
        .call(
            "POST",
            "/v1/organizations/bad%20org/revoke-keys",
            Some(json!({"reason": "gone"})),
        )
        .await;
    assert_problem(&bad, 422);
    let done = app
        .call(
            "POST",
            "/v1/organizations/org_leaving/revoke-keys",
            Some(json!({"reason": "contract ended"})),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    assert_eq!(done.body, json!({"revoked": 3, "remaining": 0}));
    for secret in &leaving {
        assert_eq!(app.verify(secret).await, "REVOKED");
    }
    assert_eq!(app.verify(&staying).await, "VALID");
    let again = app
        .call(
            "POST",
            "/v1/organizations/org_leaving/revoke-keys",
            Some(json!({"reason": "contract ended"})),
        )
        .await;
    assert_eq!(again.body, json!({"revoked": 0, "remaining": 0}));
}

/// A key with `expiresAt` shows it, and answers `EXPIRED` from that second with no job
/// run; an expiry in the past or not a date-time is a 422 that creates nothing.
#[tokio::test]
async fn a_key_expires_at_its_expiry() {
    let app = spawn_app();
    let create = |expires_at: &str| json!({"organizationId": "org_acme", "name": "trial", "rateLimit": 5, "expiresAt": expires_at});
    // Not a date-time: 422; one the clock has passed: 409, as for a late schedule.
    for (bad, status) in [
        ("2025-12-31T23:59:59Z", 409),
        ("2026-01-01T00:00:00Z", 409),
        ("next tuesday", 422),
    ] {
        let refused = app.call("POST", "/v1/keys", Some(create(bad))).await;
        assert_problem(&refused, status);
        assert!(refused.text.contains("expiresAt"), "{}", refused.text);
    }
    let reply = app
        .call("POST", "/v1/keys", Some(create("2026-01-02T00:00:00Z")))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert_eq!(reply.body["key"]["expiresAt"], "2026-01-02T00:00:00Z");
    let secret = reply.body["secret"].as_str().unwrap().to_owned();
    app.clock
        .set(Timestamp::parse("2026-01-01T23:59:59Z").unwrap());
    assert_eq!(app.verify(&secret).await, "VALID");
    app.clock
        .set(Timestamp::parse("2026-01-02T00:00:00Z").unwrap());
    assert_eq!(app.verify(&secret).await, "EXPIRED");
}

/// `PATCH /v1/keys/{keyId}`: a merge patch changes only what it names, verification
/// answers with the new scopes at once, the ETag is the revision and a stale
/// `If-Match` is 412 that changes nothing; bad values are 422; the audit event holds
/// only what changed.
#[tokio::test]
async fn patch_a_key_with_etags() {
    let app = spawn_app();
    let (key, secret) = app.create_key().await;
    let path = format!("/v1/keys/{key}");
    let got = app.call("GET", &path, None).await;
    let etag = got.etag.clone().expect("an ETag");
    assert_eq!(etag, "\"1\"");
    let merge = [
        ("content-type", "application/merge-patch+json"),
        ("if-match", etag.as_str()),
    ];
    let patch = json!({"scopes": ["refunds:write", "charges:read"], "metadata": {"customer": "cus_42", "plan": "pro"}});
    let patched = app
        .raw("PATCH", &path, Some(patch.to_string()), &merge)
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    assert_eq!(patched.etag.as_deref(), Some("\"2\""));
    assert_eq!(
        patched.body["key"]["scopes"],
        json!(["charges:read", "refunds:write"])
    );
    assert_eq!(patched.body["key"]["name"], "prod");
    assert_eq!(
        patched.body["key"]["metadata"],
        json!({"customer": "cus_42", "plan": "pro"})
    );
    let verified = app
        .call("POST", "/v1/verify", Some(json!({"secret": secret})))
        .await;
    assert_eq!(
        verified.body["scopes"],
        json!(["charges:read", "refunds:write"]),
        "verification answers with the new scopes at once: {}",
        verified.text
    );

    // The same If-Match again: the key has moved on.
    let before = app.snapshot(&key).await;
    let stale = app
        .raw(
            "PATCH",
            &path,
            Some(json!({"name": "late"}).to_string()),
            &merge,
        )
        .await;
    assert_problem(&stale, 412);
    assert_eq!(
        app.snapshot(&key).await,
        before,
        "a stale patch changes nothing"
    );

    // Remove one entry and the expiry; a patch that changes nothing writes nothing.
    let removed = app
        .call(
            "PATCH",
            &path,
            Some(json!({"metadata": {"plan": null}, "expiresAt": null})),
        )
        .await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.text);
    assert_eq!(
        removed.body["key"]["metadata"],
        json!({"customer": "cus_42"})
    );
    assert_eq!(removed.etag.as_deref(), Some("\"3\""));
    let nothing = app
        .call(
            "PATCH",
            &path,
            Some(json!({"metadata": {"customer": "cus_42"}})),
        )
        .await;
    assert_eq!(nothing.etag.as_deref(), Some("\"3\""));

    for bad in [
        json!({"name": null}),
        json!({"rateLimit": 0}),
        json!({"rateLimit": null}),
        json!({"scopes": ["no spaces"]}),
        json!({"metadata": {"": "x"}}),
        json!({"metadata": (0..17).map(|i| (format!("k{i}"), json!("v"))).collect::<serde_json::Map<_, _>>()}),
        json!({"class": "embedded"}),
    ] {
        let refused = app.call("PATCH", &path, Some(bad.clone())).await;
        assert_problem(&refused, 422);
    }
    let past = app
        .call(
            "PATCH",
            &path,
            Some(json!({"expiresAt": "2025-01-01T00:00:00Z"})),
        )
        .await;
    assert_problem(&past, 409);
    // An If-Match that is no ETag of this API matches nothing.
    let bad_etag = app
        .raw(
            "PATCH",
            &path,
            Some("{}".into()),
            &[("if-match", "W/\"3\"")],
        )
        .await;
    assert_problem(&bad_etag, 412);
    assert_eq!(
        app.snapshot(&key).await.0["key"]["metadata"],
        json!({"customer": "cus_42"})
    );

    let audit = app
        .call(
            "GET",
            &format!("/v1/keys/{key}/audit?order=newest&limit=2"),
            None,
        )
        .await;
    let latest = &audit.body["events"][0];
    assert_eq!(latest["action"], "key.updated");
    // Only what changed: the one entry removed.
    assert_eq!(latest["before"], json!({"metadata": {"plan": "pro"}}));
    assert!(
        latest["after"]["metadata"].get("customer").is_none(),
        "{latest}"
    );
    assert_problem(
        &app.call(
            "PATCH",
            "/v1/keys/key_01jzzzzzzzzzzzzzzzzzzzzzzz",
            Some(json!({"name": "x"})),
        )
        .await,
        404,
    );
}

/// `GET /v1/keys`: newest first, by organisation, by status, by a shown prefix, a page
/// at a time; bad filters are 422.
#[tokio::test]
async fn list_and_find_keys() {
    let app = spawn_app();
    let mut ids = Vec::new();
    for (i, org) in ["org_acme", "org_beta", "org_acme"].iter().enumerate() {
        app.clock.advance(60);
        let reply = app
            .call(
                "POST",
                "/v1/keys",
                Some(json!({"organizationId": org, "name": format!("k{i}"), "rateLimit": 5})),
            )
            .await;
        ids.push((
            reply.body["key"]["id"].as_str().unwrap().to_owned(),
            reply.body["key"]["versions"][0]["prefix"]
                .as_str()
                .unwrap()
                .to_owned(),
        ));
    }
    let listed = |reply: &Reply| -> Vec<String> {
        reply.body["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let first = app.call("GET", "/v1/keys?limit=2", None).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(listed(&first), [ids[2].0.clone(), ids[1].0.clone()]);
    let cursor = first.body["nextCursor"].as_str().unwrap();
    let second = app
        .call("GET", &format!("/v1/keys?limit=2&cursor={cursor}"), None)
        .await;
    assert_eq!(listed(&second), [ids[0].0.clone()]);
    assert!(second.body["nextCursor"].is_null());

    let acme = app
        .call("GET", "/v1/keys?organizationId=org_acme", None)
        .await;
    assert_eq!(listed(&acme), [ids[2].0.clone(), ids[0].0.clone()]);
    app.call(
        "POST",
        &format!("/v1/keys/{}/revoke", ids[0].0),
        Some(json!({"reason": "gone"})),
    )
    .await;
    let revoked = app.call("GET", "/v1/keys?status=revoked", None).await;
    assert_eq!(listed(&revoked), [ids[0].0.clone()]);
    let active_acme = app
        .call(
            "GET",
            "/v1/keys?organizationId=org_acme&status=active",
            None,
        )
        .await;
    assert_eq!(listed(&active_acme), [ids[2].0.clone()]);
    let found = app
        .call("GET", &format!("/v1/keys?prefix={}", ids[1].1), None)
        .await;
    assert_eq!(listed(&found), [ids[1].0.clone()]);
    assert!(found.body["nextCursor"].is_null());
    let elsewhere = app
        .call(
            "GET",
            &format!("/v1/keys?prefix={}&organizationId=org_acme", ids[1].1),
            None,
        )
        .await;
    assert!(listed(&elsewhere).is_empty());

    for bad in [
        "status=gone",
        "limit=0",
        "limit=101",
        "cursor=nope",
        "organizationId=bad%20org",
        "unknown=1",
    ] {
        assert_problem(
            &app.call("GET", &format!("/v1/keys?{bad}"), None).await,
            422,
        );
    }
}
