//! The customer routes over real HTTP against keyroll-local, on the in-memory store and
//! on DynamoDB Local with moto (SQS, Secrets Manager, SES): with tokens of two
//! organisations, every customer route given the other organisation's ids answers
//! exactly like an unknown id and changes nothing; a customer's reveal reaches the
//! organisation's feed naming the user. And the customer portal in headless Chromium,
//! clicked like a person (tests/cdp), with its screenshot in `.artifacts/portal.png`.

use std::path::PathBuf;
use std::time::Duration;

use keyroll_api::identity::dev::{DevClaims, DevSigningKey, DEV_AUDIENCE, DEV_ISSUER};
use keyroll_api::identity::{ClaimNames, Role};
use keyroll_core::time::{Clock, SystemClock};
use serde_json::{json, Value};

mod cdp;
mod common;
use common::{start_server, Server};

const TOKEN: &str = "customers-admin-token-0123456789";

pub struct Stack {
    pub server: Server,
    pub dev: DevSigningKey,
    pub client: reqwest::Client,
    _key_dir: TempDir,
}

/// A folder removed when dropped.
pub struct TempDir(pub PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn unique() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        hex::encode(keyroll_core::random::bytes::<4>())
    )
}

/// keyroll-local on `backend` with its development key in a fresh file the test can
/// sign with too.
pub async fn stack(backend: &str) -> Stack {
    let dir = std::env::temp_dir().join(format!("keyroll-customers-{}", unique()));
    let key_file = dir.join("dev-key");
    let dev = DevSigningKey::load_or_create(&key_file).unwrap();
    let mut env: Vec<(String, String)> = vec![
        ("KEYROLL_BACKEND".into(), backend.into()),
        ("KEYROLL_ADMIN_TOKEN".into(), TOKEN.into()),
        (
            "KEYROLL_DEV_KEY_FILE".into(),
            key_file.display().to_string(),
        ),
        ("KEYROLL_PROCESS_INTERVAL_SECONDS".into(), "1".into()),
        ("KEYROLL_ALLOW_LOOPBACK_WEBHOOKS".into(), "true".into()),
        (
            "KEYROLL_EMAIL_DIR".into(),
            dir.join("mail").display().to_string(),
        ),
    ];
    let mut args = vec![];
    if backend == "aws" {
        for variable in [
            "AWS_ENDPOINT_URL_DYNAMODB",
            "AWS_ENDPOINT_URL_SQS",
            "AWS_ENDPOINT_URL_SECRETS_MANAGER",
            "AWS_ENDPOINT_URL_SESV2",
        ] {
            assert!(
                std::env::var(variable).is_ok(),
                "{variable} is not set: this test needs DynamoDB Local and moto; run scripts/test"
            );
        }
        let id = unique();
        let sdk = keyroll_core::aws::load_config().await;
        let queue_url = aws_sdk_sqs::Client::new(&sdk)
            .create_queue()
            .queue_name(format!("keyroll-customers-{id}.fifo"))
            .attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true")
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        env.push((
            "KEYROLL_TABLE_NAME".into(),
            format!("keyroll-customers-{id}"),
        ));
        env.push(("KEYROLL_QUEUE_URL".into(), queue_url));
        env.push((
            "KEYROLL_SECRET_NAME_PREFIX".into(),
            format!("keyroll-customers-{id}/"),
        ));
        args.push("--create-tables");
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Stack {
        server: start_server(&args, &env),
        dev,
        client: reqwest::Client::new(),
        _key_dir: TempDir(dir),
    }
}

/// What a call answered.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub text: String,
}

impl Stack {
    pub fn token(&self, organization: &str, user: &str, role: Role) -> String {
        let names = ClaimNames::default();
        let claims = DevClaims {
            names: &names,
            issuer: DEV_ISSUER,
            audience: DEV_AUDIENCE,
            organization,
            subject: user,
            role,
            now: SystemClock.now(),
        };
        self.dev.sign(&claims.to_json()).unwrap()
    }

    pub async fn call(&self, bearer: &str, method: &str, path: &str, body: Option<Value>) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.server.base))
            .bearer_auth(bearer);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        Reply {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
        }
    }

    pub async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let reply = self.call(TOKEN, method, path, body).await;
        assert!((200..300).contains(&reply.status), "{path}: {}", reply.text);
        reply.body
    }

    /// A new key of `organization`: its id.
    pub async fn key(&self, organization: &str, name: &str) -> String {
        self.admin(
            "POST",
            "/v1/keys",
            Some(json!({"organizationId": organization, "name": name, "rateLimit": 10})),
        )
        .await["key"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A key of `organization` with a self-service rotation whose new secret is held.
    pub async fn key_with_held_rotation(&self, organization: &str) -> (String, String) {
        let key_id = self
            .key(organization, &format!("{organization} backend"))
            .await;
        // Self-service successors are sealed to the key's delivery key.
        self.admin(
            "PUT",
            &format!("/v1/keys/{key_id}/delivery-key"),
            Some(json!({"jwk": {"kty": "EC", "crv": "P-256", "x": "gI0GAILBdu7T53akrFmMyGcsF3n5dO7MmwNBHKW5SV0", "y": "SLW_xSffzlPWrHEVI30DHM_4egVwt3NQqeUD7nMFpps"}})),
        )
        .await;
        let rotation = self
            .admin(
                "POST",
                &format!("/v1/keys/{key_id}/rotations"),
                Some(json!({"selfService": true, "immediate": true, "gracePeriodSeconds": 172800})),
            )
            .await;
        assert_eq!(rotation["rotation"]["secretHeld"], true);
        assert!(rotation.get("secret").is_none());
        (
            key_id,
            rotation["rotation"]["id"].as_str().unwrap().to_owned(),
        )
    }

    /// Waits until the organisation's feed (as its admin sees it) holds `kind`.
    pub async fn feed_entry(&self, organization: &str, kind: &str) -> Value {
        for _ in 0..60 {
            let feed = self
                .admin(
                    "GET",
                    &format!("/v1/organizations/{organization}/notifications"),
                    None,
                )
                .await;
            if let Some(entry) = feed["notifications"]
                .as_array()
                .unwrap()
                .iter()
                .find(|n| n["type"] == kind)
            {
                return entry.clone();
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        panic!("no {kind} in {organization}'s feed");
    }
}

/// Everything the operator sees of `organization` and its key: what a foreign
/// customer's calls must leave as it was.
async fn state_of(stack: &Stack, organization: &str, key: &str) -> Value {
    let org = format!("/v1/organizations/{organization}");
    json!({
        "key": stack.admin("GET", &format!("/v1/keys/{key}"), None).await,
        "rotations": stack.admin("GET", &format!("/v1/keys/{key}/rotations"), None).await,
        "audit": stack.admin("GET", &format!("/v1/keys/{key}/audit"), None).await["events"],
        "contacts": stack.admin("GET", &format!("{org}/contacts"), None).await,
        "webhooks": stack.admin("GET", &format!("{org}/webhooks"), None).await,
        "feed": stack.admin("GET", &format!("{org}/notifications"), None).await,
    })
}

async fn tenants_are_isolated(backend: &str) {
    let stack = stack(backend).await;
    let (acme_key, acme_rotation) = stack.key_with_held_rotation("org_acme").await;
    let (globex_key, globex_rotation) = stack.key_with_held_rotation("org_globex").await;
    let contact = stack
        .admin(
            "POST",
            "/v1/organizations/org_globex/contacts",
            Some(json!({"email": "security@globex.example"})),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let webhook = stack
        .admin(
            "POST",
            "/v1/organizations/org_globex/webhooks",
            // A type nothing here sends, so no delivery changes the endpoint.
            Some(json!({"url": "http://127.0.0.1:9/keyroll", "types": ["key.expiring"]})),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let event = stack.feed_entry("org_globex", "rotation.started").await["eventId"]
        .as_str()
        .unwrap()
        .to_owned();
    // Once the feed has settled (the scheduled and started notifications both in).
    let mut before = state_of(&stack, "org_globex", &globex_key).await;
    loop {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let now = state_of(&stack, "org_globex", &globex_key).await;
        if now == before {
            break;
        }
        before = now;
    }

    let alice = stack.token("org_acme", "alice", Role::Admin);
    let unknown_key = "key_01jzzzzzzzzzzzzzzzzzzzzzzz";
    let unknown_rotation = "rot_01jzzzzzzzzzzzzzzzzzzzzzzz";
    let unknown_contact = "ctc_01jzzzzzzzzzzzzzzzzzzzzzzz";
    let unknown_webhook = "whk_01jzzzzzzzzzzzzzzzzzzzzzzz";
    let unknown_event = "evt_01jzzzzzzzzzzzzzzzzzzzzzzz_0000000001";
    let extend = json!({"gracePeriodSeconds": 60, "reason": "more time"});
    let emergency = json!({"reason": "leaked", "gracePeriodSeconds": 0});
    let routes: Vec<(&str, String, String, Option<Value>)> = vec![
        (
            "GET",
            format!("/v1/org/keys/{globex_key}"),
            format!("/v1/org/keys/{unknown_key}"),
            None,
        ),
        (
            "POST",
            format!("/v1/org/keys/{globex_key}/rotations"),
            format!("/v1/org/keys/{unknown_key}/rotations"),
            Some(json!({"immediate": true})),
        ),
        (
            "POST",
            format!("/v1/org/keys/{globex_key}/emergency-rotation"),
            format!("/v1/org/keys/{unknown_key}/emergency-rotation"),
            Some(emergency),
        ),
        (
            "GET",
            format!("/v1/org/audit?keyId={globex_key}"),
            format!("/v1/org/audit?keyId={unknown_key}"),
            None,
        ),
        (
            "POST",
            format!("/v1/org/rotations/{globex_rotation}/complete"),
            format!("/v1/org/rotations/{unknown_rotation}/complete"),
            Some(json!({})),
        ),
        (
            "POST",
            format!("/v1/org/rotations/{globex_rotation}/extend"),
            format!("/v1/org/rotations/{unknown_rotation}/extend"),
            Some(extend),
        ),
        (
            "POST",
            format!("/v1/org/rotations/{globex_rotation}/reveal"),
            format!("/v1/org/rotations/{unknown_rotation}/reveal"),
            None,
        ),
        (
            "DELETE",
            format!("/v1/org/contacts/{contact}"),
            format!("/v1/org/contacts/{unknown_contact}"),
            None,
        ),
        (
            "DELETE",
            format!("/v1/org/webhooks/{webhook}"),
            format!("/v1/org/webhooks/{unknown_webhook}"),
            None,
        ),
        (
            "POST",
            format!("/v1/org/webhooks/{webhook}/rotate-secret"),
            format!("/v1/org/webhooks/{unknown_webhook}/rotate-secret"),
            None,
        ),
        (
            "POST",
            format!("/v1/org/notifications/{event}/read"),
            format!("/v1/org/notifications/{unknown_event}/read"),
            None,
        ),
    ];
    let foreign_ids = [&globex_key, &globex_rotation, &contact, &webhook, &event];
    let unknown_ids = [
        unknown_key,
        unknown_rotation,
        unknown_contact,
        unknown_webhook,
        unknown_event,
    ];
    for (method, foreign, unknown, body) in &routes {
        let theirs = stack.call(&alice, method, foreign, body.clone()).await;
        let nobodys = stack.call(&alice, method, unknown, body.clone()).await;
        assert_eq!(theirs.status, 404, "{method} {foreign}: {}", theirs.text);
        // The same answer, but for the id it names.
        let mut normalised = theirs.text.clone();
        for (foreign_id, unknown_id) in foreign_ids.iter().zip(unknown_ids) {
            normalised = normalised.replace(foreign_id.as_str(), unknown_id);
        }
        assert_eq!(normalised, nobodys.text, "{method} {foreign} vs {unknown}");
    }
    // The lists hold only acme's own.
    let keys = stack.call(&alice, "GET", "/v1/org/keys", None).await;
    let listed: Vec<&str> = keys.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, vec![acme_key.as_str()]);
    for list in ["contacts", "webhooks", "notifications", "deliveries"] {
        let reply = stack
            .call(&alice, "GET", &format!("/v1/org/{list}"), None)
            .await;
        assert_eq!(reply.status, 200, "{list}: {}", reply.text);
        for id in foreign_ids {
            assert!(!reply.text.contains(id.as_str()), "{list} shows {id}");
        }
        assert!(!reply.text.contains("org_globex"), "{list}");
    }
    assert_eq!(
        state_of(&stack, "org_globex", &globex_key).await,
        before,
        "another organisation's calls changed nothing"
    );

    // A viewer of acme reads but cannot reveal; alice can, once, and the feed says so.
    let vera = stack.token("org_acme", "vera", Role::Viewer);
    let refused = stack
        .call(
            &vera,
            "POST",
            &format!("/v1/org/rotations/{acme_rotation}/reveal"),
            None,
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    let revealed = stack
        .call(
            &alice,
            "POST",
            &format!("/v1/org/rotations/{acme_rotation}/reveal"),
            None,
        )
        .await;
    assert_eq!(revealed.status, 200, "{}", revealed.text);
    let secret = revealed.body["secret"].as_str().unwrap();
    let verified = stack
        .admin("POST", "/v1/verify", Some(json!({"secret": secret})))
        .await;
    assert_eq!(verified["code"], "VALID");
    let told = stack.feed_entry("org_acme", "rotation.revealed").await;
    assert_eq!(told["actor"], "customer:org_acme/alice");
    assert_eq!(told["rotationId"], acme_rotation.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_memory_another_organisations_ids_answer_as_unknown_and_change_nothing() {
    tenants_are_isolated("memory").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_dynamodb_another_organisations_ids_answer_as_unknown_and_change_nothing() {
    tenants_are_isolated("aws").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyroll_local_token_prints_a_token_the_server_accepts() {
    let stack = stack("memory").await;
    // The same key file the server trusts.
    let key_file = stack._key_dir.0.join("dev-key");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_keyroll-local"))
        .args([
            "token", "--org", "org_acme", "--role", "admin", "--user", "alice",
        ])
        .env("KEYROLL_DEV_KEY_FILE", &key_file)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    let reply = stack.call(&token, "GET", "/v1/org/keys", None).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_keyroll-local"))
        .args(["token", "--role", "admin"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_shows_the_keys_and_a_click_reveals_the_held_secret_once() {
    cdp::chromium();
    let stack = stack("memory").await;
    let (key, rotation) = stack.key_with_held_rotation("org_acme").await;
    let calm = stack.key("org_acme", "reporting").await;
    stack.key_with_held_rotation("org_globex").await;
    let alice = stack.token("org_acme", "alice", Role::Admin);

    let mut browser = open_portal(&stack, &alice).await;
    assert_eq!(
        browser
            .eval("document.getElementById('organization').textContent")
            .await,
        "org_acme"
    );
    assert_eq!(
        browser
            .eval("document.getElementById('user').textContent")
            .await,
        "alice"
    );
    // Its two keys, not the other organisation's.
    let rows = browser
        .eval("[...document.querySelectorAll('#keys tr')].map(r => r.dataset.key)")
        .await;
    let mut expected = vec![json!(key), json!(calm)];
    expected.sort_by_key(|v| v.as_str().unwrap().to_owned());
    assert_eq!(rows, Value::Array(expected));
    // The key with a delivery key names it by its thumbprint; the other says it has none.
    let thumbprint = stack.admin("GET", &format!("/v1/keys/{key}"), None).await["key"]
        ["deliveryKey"]["thumbprint"]
        .clone();
    assert!(thumbprint.is_string(), "{thumbprint}");
    assert_eq!(
        browser
            .eval(&format!(
                "[...document.querySelectorAll('tr[data-key=\"{key}\"] [data-delivery-key]')].map(d => d.dataset.deliveryKey)"
            ))
            .await,
        json!([thumbprint])
    );
    let calm_row = browser
        .eval(&format!(
            "document.querySelector('tr[data-key=\"{calm}\"]').textContent"
        ))
        .await;
    assert!(
        calm_row.as_str().unwrap().contains("no delivery key"),
        "{calm_row}"
    );
    // Deadlines count down.
    browser
        .wait_for("[...document.querySelectorAll('[data-deadline]')].every(s => /\\d+h \\d\\dm/.test(s.textContent))")
        .await;
    assert!(
        browser
            .eval(&format!(
                "!!document.querySelector('[data-roll=\"{calm}\"]')"
            ))
            .await
            == json!(true)
    );

    browser
        .click(&format!("[data-reveal=\"{rotation}\"]"))
        .await;
    let verified = shown_secret_verifies(&stack, &mut browser).await;
    assert_eq!(verified["keyId"], key.as_str());
    let shown = stack
        .admin("GET", &format!("/v1/rotations/{rotation}"), None)
        .await;
    assert!(shown["rotation"]["revealedAt"].is_string(), "{shown}");
    // The page reloads its keys: the secret is collected, and cannot be revealed again.
    browser
        .wait_for(&format!(
            "!document.querySelector('[data-reveal=\"{rotation}\"]')"
        ))
        .await;
    // The feed shows who collected it once the notifier has delivered it.
    browser
        .wait_for("[...document.querySelectorAll('#feed tr')].some(r => r.dataset.type === 'rotation.revealed' && r.textContent.includes('alice'))")
        .await;
    let artifacts = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    browser.screenshot(&artifacts.join("portal.png")).await;
    let again = stack
        .call(
            &alice,
            "POST",
            &format!("/v1/org/rotations/{rotation}/reveal"),
            None,
        )
        .await;
    assert_eq!(again.status, 410, "{}", again.text);
    // The portal sent an Idempotency-Key with the reveal: had its answer been lost, the
    // retry (the same key) gets the same secret instead of 410.
    let sent_key = browser
        .eval(&format!(
            "sessionStorage.getItem('keyroll-reveal:{rotation}')"
        ))
        .await;
    let sent_key = sent_key.as_str().expect("the portal kept the reveal's key");
    let retry = reqwest::Client::new()
        .post(format!(
            "{}/v1/org/rotations/{rotation}/reveal",
            stack.server.base
        ))
        .bearer_auth(&alice)
        .header("Idempotency-Key", sent_key)
        .send()
        .await
        .unwrap();
    assert_eq!(retry.status(), 200);
    let retried: Value = retry.json().await.unwrap();
    let shown = browser
        .eval("document.getElementById('secret').textContent")
        .await;
    assert_eq!(retried["secret"], shown, "the same secret");
}

/// Chromium on the portal, signed in with `token`, once the page has loaded.
async fn open_portal(stack: &Stack, token: &str) -> cdp::Browser {
    let mut browser = cdp::Browser::launch().await;
    browser
        .open(&format!("{}/portal#token={token}", stack.server.base))
        .await;
    browser
        .wait_for("document.body && document.body.dataset.loaded === 'true'")
        .await;
    browser
}

/// Waits for the portal to show a secret, and checks it verifies — as the company's
/// backend would for its integration `billing-cron/1.4`: the verification.
async fn shown_secret_verifies(stack: &Stack, browser: &mut cdp::Browser) -> Value {
    browser
        .wait_for("document.getElementById('secret').textContent.startsWith('sk_')")
        .await;
    let secret = browser
        .eval("document.getElementById('secret').textContent")
        .await
        .as_str()
        .unwrap()
        .to_owned();
    let caller = json!({"ip": "198.51.100.23", "userAgent": "billing-cron/1.4"});
    let verified = stack
        .admin(
            "POST",
            "/v1/verify",
            Some(json!({"secret": secret, "caller": caller})),
        )
        .await;
    assert_eq!(verified["code"], "VALID", "{verified}");
    verified
}

/// The portal's New key and Revoke, clicked like a person: an admin creates a key
/// inside the provider's policy (the secret shown once verifies), is told which field
/// is outside it, and revokes a key after a confirmation naming it; a viewer is offered
/// neither.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_creates_a_key_inside_the_policy_and_revokes_one() {
    cdp::chromium();
    let stack = stack("memory").await;
    stack
        .admin(
            "PUT",
            "/v1/organizations/org_acme/key-policy",
            Some(json!({"allowedScopes": ["charges:read"], "maxRateLimit": 100, "maxKeys": 5, "classes": ["server"]})),
        )
        .await;
    let old = stack.key("org_acme", "old integration").await;
    let alice = stack.token("org_acme", "alice", Role::Admin);
    let mut browser = open_portal(&stack, &alice).await;

    // Outside the policy: the problem names the field, and no key is made.
    browser.click("#new-key").await;
    browser.type_into("#new-name", "billing service").await;
    browser.type_into("#new-scopes", "charges:write").await;
    browser.type_into("#new-rate", "50").await;
    browser.click("#create-key").await;
    browser
        .wait_for("document.getElementById('error').textContent.includes('scopes')")
        .await;
    assert_eq!(
        browser
            .eval("document.querySelectorAll('#keys tr').length")
            .await,
        json!(1)
    );
    // Inside it: 201, the secret shown once, and it verifies as a key of org_acme.
    browser.type_into("#new-scopes", "charges:read").await;
    browser.click("#create-key").await;
    let verified = shown_secret_verifies(&stack, &mut browser).await;
    let created = verified["keyId"].as_str().unwrap().to_owned();
    let key = stack
        .admin("GET", &format!("/v1/keys/{created}"), None)
        .await;
    assert_eq!(key["key"]["organizationId"], "org_acme");
    assert_eq!(key["key"]["name"], "billing service");
    assert_eq!(key["key"]["scopes"], json!(["charges:read"]));
    assert_eq!(key["key"]["rateLimit"], 50);
    browser
        .wait_for(&format!(
            "!!document.querySelector('#keys tr[data-key=\"{created}\"]')"
        ))
        .await;
    browser.click("#hide").await;

    // Its integration called with it (the verification above names it); the admin
    // rolls the key: the row says who still uses the old secret.
    for _ in 0..2 {
        browser.click(&format!("[data-roll=\"{created}\"]")).await;
    }
    // (The new secret is not used here: its caller has not moved.)
    browser
        .wait_for("document.getElementById('secret').textContent.startsWith('sk_')")
        .await;
    browser
        .wait_for(&format!(
            "(document.querySelector('[data-callers=\"{created}\"]') || {{}}).textContent === '0 of 1 callers moved; not moved: billing-cron/1.4 from 198.51.100.0/24'"
        ))
        .await;
    browser.click("#hide").await;

    // Revoke asks again, naming the key; the second press revokes it.
    browser.click(&format!("[data-revoke=\"{old}\"]")).await;
    browser
        .wait_for(&format!(
            "document.querySelector('[data-revoke=\"{old}\"]').textContent === 'Confirm: revoke old integration'"
        ))
        .await;
    assert_eq!(
        stack.admin("GET", &format!("/v1/keys/{old}"), None).await["key"]["status"],
        "active",
        "one press revokes nothing"
    );
    browser.click(&format!("[data-revoke=\"{old}\"]")).await;
    browser
        .wait_for(&format!(
            "document.querySelector('#keys tr[data-key=\"{old}\"]').dataset.status === 'revoked'"
        ))
        .await;
    let revoked = stack.admin("GET", &format!("/v1/keys/{old}"), None).await;
    assert_eq!(revoked["key"]["status"], "revoked", "{revoked}");
    let artifacts = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    browser
        .screenshot(&artifacts.join("portal-new-key.png"))
        .await;

    // A viewer is offered neither.
    drop(browser);
    let bob = stack.token("org_acme", "bob", Role::Viewer);
    let mut browser = open_portal(&stack, &bob).await;
    assert_eq!(
        browser
            .eval("document.getElementById('role').textContent")
            .await,
        "viewer"
    );
    assert_eq!(
        browser
            .eval(&format!(
                "[document.getElementById('new-key').disabled, document.querySelector('[data-revoke=\"{created}\"]').disabled]"
            ))
            .await,
        json!([true, true])
    );
}
