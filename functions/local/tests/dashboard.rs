//! The dashboard in a real headless browser (Debian's chromium, which scripts/test
//! installs): loaded from a seeded keyroll-local, its figures must match the JSON API.
//! The screenshot is kept in `.artifacts/dashboard.png`. And finding a key by the
//! prefix a support ticket quotes, or by organisation, then revoking it, clicked like a
//! person (tests/cdp).

use std::process::Command;

use serde_json::{json, Value};

const TOKEN: &str = "dashboard-admin-token-0123456789";

mod cdp;
mod common;
use common::{start_server, Server};

fn start() -> Server {
    start_server(
        &[],
        &[
            ("KEYROLL_BACKEND", "memory"),
            ("KEYROLL_ADMIN_TOKEN", TOKEN),
            ("KEYROLL_PROCESS_INTERVAL_SECONDS", "3600"),
            ("KEYROLL_SCAN_INTERVAL_SECONDS", "86400"),
        ],
    )
}

fn chromium() -> String {
    let path = std::env::var("KEYROLL_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&path).exists(),
        "{path} not found: this test needs Debian's chromium; scripts/test installs it (apt-get install chromium)"
    );
    path
}

/// Runs headless chromium on `url` with the flags a closed network needs.
fn run_chromium(url: &str, extra: &[&str]) -> String {
    let profile = std::env::temp_dir().join(format!("keyroll-chromium-{}", std::process::id()));
    let output = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=15000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .output()
        .expect("run chromium");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The text inside the element with `id` in a dumped DOM.
fn element_text(dom: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\">");
    let start = dom
        .find(&marker)
        .unwrap_or_else(|| panic!("no #{id} in the page"))
        + marker.len();
    dom[start..start + dom[start..].find('<').unwrap()].to_owned()
}

async fn post(client: &reqwest::Client, server: &Server, path: &str, body: Value) -> Value {
    let response = client
        .post(format!("{}{path}", server.base))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    response.json().await.unwrap()
}

fn old_key(name: &str, hex_byte: &str) -> Value {
    let secret = format!("sk_live_{}", hex_byte.repeat(32));
    json!({"organizationId": "org_acme", "name": name, "rateLimit": 10, "prefix": &secret[8..16],
           "lookupHash": keyroll_core::secret::LookupHash::of(&secret).to_hex(), "createdAt": "2025-01-01T00:00:00Z"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_what_the_api_says() {
    let browser = chromium();
    let server = start();
    let client = reqwest::Client::new();

    // Two old keys the scan will rotate, then one more old key left overdue, and an
    // emergency rotation of a young key.
    post(
        &client,
        &server,
        "/v1/keys/import",
        json!({"keys": [old_key("old one", "a1"), old_key("old two", "b2")]}),
    )
    .await;
    let scan = post(&client, &server, "/v1/admin/scan", json!({})).await;
    assert_eq!(scan["scheduled"], 2);
    // The customer of "old one" still calls with its old secret.
    let used = post(
        &client,
        &server,
        "/v1/verify",
        json!({"secret": format!("sk_live_{}", "a1".repeat(32))}),
    )
    .await;
    assert_eq!(used["code"], "VALID");
    let late = post(
        &client,
        &server,
        "/v1/keys/import",
        json!({"keys": [old_key("old three", "c3")]}),
    )
    .await;
    let overdue_key = late["rows"][0]["keyId"].as_str().unwrap().to_owned();
    let young = post(
        &client,
        &server,
        "/v1/keys",
        json!({"organizationId": "org_beta", "name": "young", "rateLimit": 5}),
    )
    .await;
    let young_id = young["key"]["id"].as_str().unwrap().to_owned();
    let emergency = post(
        &client,
        &server,
        &format!("/v1/keys/{young_id}/emergency-rotation"),
        json!({"reason": "pasted in a public issue", "gracePeriodSeconds": 3600}),
    )
    .await;
    let emergency_id = emergency["rotation"]["id"].as_str().unwrap().to_owned();
    // A second emergency with no grace completes at once: it must still be listed.
    let instant = post(
        &client,
        &server,
        &format!("/v1/keys/{young_id}/emergency-rotation"),
        json!({"reason": "still leaking", "gracePeriodSeconds": 0}),
    )
    .await;
    assert_eq!(instant["rotation"]["status"], "completed");
    let instant_id = instant["rotation"]["id"].as_str().unwrap().to_owned();

    let report: Value = client
        .get(format!("{}/v1/compliance?limit=1000", server.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            report["activeKeys"].as_u64(),
            report["nonCompliant"].as_u64()
        ),
        (Some(4), Some(1))
    );

    let url = format!("{}/dashboard#token={TOKEN}", server.base);
    let dom = run_chromium(&url, &["--dump-dom"]);
    assert!(
        dom.contains("data-loaded=\"true\""),
        "the page did not finish loading:\n{dom}"
    );
    let shown: f64 = element_text(&dom, "coverage")
        .trim_end_matches('%')
        .parse()
        .unwrap();
    assert_eq!(shown, report["coveragePercent"].as_f64().unwrap());
    for (id, field) in [
        ("active-keys", "activeKeys"),
        ("compliant", "compliant"),
        ("in-progress", "inProgress"),
        ("overdue", "nonCompliant"),
    ] {
        assert_eq!(element_text(&dom, id), report[field].to_string(), "#{id}");
    }
    assert_eq!(element_text(&dom, "max-age"), "90");
    let overdue_table =
        &dom[dom.find("id=\"overdue-keys\"").unwrap()..dom.find("id=\"rotations\"").unwrap()];
    assert!(overdue_table.contains(&overdue_key));
    let emergencies = &dom[dom.find("id=\"emergencies\"").unwrap()..];
    assert!(emergencies.contains(&emergency_id) && emergencies.contains(&instant_id));
    assert!(element_text(&dom, "trend-note").starts_with("1 day(s)"));
    // The rotations table shows when each old secret was last used.
    let rotations_table =
        &dom[dom.find("id=\"rotations\"").unwrap()..dom.find("id=\"emergencies\"").unwrap()];
    assert_eq!(
        rotations_table.matches("not seen").count(),
        1,
        "old two: never used (the young key's rotations have ended)"
    );
    let today = chrono_free_today();
    assert!(rotations_table.contains(&today), "old one: used today");

    let artifacts = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("dashboard.png");
    let _ = std::fs::remove_file(&shot);
    run_chromium(
        &url,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,1200",
        ],
    );
    let png = std::fs::read(&shot).expect("chromium wrote the screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let _ = browser;
}

/// Today's UTC date, `YYYY-MM-DD` (what a last-use timestamp of today starts with).
fn chrono_free_today() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    keyroll_core::time::Timestamp::from_unix(now).unwrap().day()
}

/// Support finds the key a ticket names by its shown prefix, and an organisation's
/// keys; revoking one needs a reason and a second press naming it, after which every
/// secret of it answers `REVOKED`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_finds_a_key_by_prefix_and_revokes_it() {
    cdp::chromium();
    let server = start();
    let client = reqwest::Client::new();
    let mut issued = Vec::new();
    for (organization, name) in [
        ("org_acme", "billing"),
        ("org_acme", "reports"),
        ("org_beta", "beta app"),
    ] {
        let key = post(
            &client,
            &server,
            "/v1/keys",
            json!({"organizationId": organization, "name": name, "rateLimit": 5}),
        )
        .await;
        issued.push(key);
    }
    let target = issued[0]["key"]["id"].as_str().unwrap().to_owned();
    let secret = issued[0]["secret"].as_str().unwrap().to_owned();
    let shown_prefix = issued[0]["key"]["versions"][0]["prefix"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut browser = cdp::Browser::launch().await;
    browser
        .open(&format!("{}/dashboard#token={TOKEN}", server.base))
        .await;
    browser
        .wait_for("document.body && document.body.dataset.loaded === 'true'")
        .await;
    // By organisation: its two keys, not the other's.
    browser.type_into("#find-organization", "org_acme").await;
    browser.click("#find-go").await;
    browser
        .wait_for("document.querySelectorAll('#found tr').length === 2")
        .await;
    // By the prefix the ticket quotes (with its ellipsis, as support pastes it).
    browser.type_into("#find-organization", "").await;
    browser
        .type_into("#find-prefix", &format!("{shown_prefix}…"))
        .await;
    browser.click("#find-go").await;
    browser
        .wait_for(&format!(
            "document.querySelectorAll('#found tr').length === 1 && document.querySelector('#found tr').dataset.key === '{target}'"
        ))
        .await;
    // No reason: nothing happens but a request for one.
    let revoke = format!("#found [data-revoke=\"{target}\"]");
    browser.click(&revoke).await;
    browser
        .wait_for("document.getElementById('error').textContent.startsWith('Give a reason')")
        .await;
    browser
        .type_into("#revoke-reason", "customer offboarded (ticket 4711)")
        .await;
    browser.click(&revoke).await;
    browser
        .wait_for(&format!(
            "document.querySelector('{revoke}').textContent === 'Confirm: revoke billing'"
        ))
        .await;
    let verified = post(&client, &server, "/v1/verify", json!({"secret": secret})).await;
    assert_eq!(verified["code"], "VALID", "one press revokes nothing");
    browser.click(&revoke).await;
    browser
        .wait_for("document.querySelector('#found tr').dataset.status === 'revoked'")
        .await;
    let verified = post(&client, &server, "/v1/verify", json!({"secret": secret})).await;
    assert_eq!(verified["code"], "REVOKED", "{verified}");
    // The figures follow: two active keys left.
    browser
        .wait_for("document.getElementById('active-keys').textContent === '2'")
        .await;

    // Another key's integration calls, then the key rotates: "Who?" on its rotation
    // names the caller still on the old secret.
    let reports = issued[1]["key"]["id"].as_str().unwrap().to_owned();
    let verified = post(
        &client,
        &server,
        "/v1/verify",
        json!({"secret": issued[1]["secret"], "caller": {"ip": "203.0.113.9", "userAgent": "reports-job/2.0"}}),
    )
    .await;
    assert_eq!(verified["code"], "VALID");
    post(
        &client,
        &server,
        &format!("/v1/keys/{reports}/rotations"),
        json!({"immediate": true, "gracePeriodSeconds": 86400}),
    )
    .await;
    browser.eval("location.reload()").await;
    browser
        .wait_for(&format!(
            "document.body.dataset.loaded === 'true' && !!document.querySelector('#rotations [data-callers=\"{reports}\"]')"
        ))
        .await;
    browser
        .click(&format!("#rotations [data-callers=\"{reports}\"]"))
        .await;
    browser
        .wait_for("[...document.querySelectorAll('#rotations td')].some(td => td.textContent === '0 of 1 moved; not moved: reports-job/2.0 from 203.0.113.0/24')")
        .await;
    let artifacts = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    browser
        .screenshot(&artifacts.join("dashboard-revoke.png"))
        .await;
}
