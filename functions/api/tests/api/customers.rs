//! The customer routes in-process, on the manual clock: which tokens open them (and
//! that every other one gets the same 401), what a viewer may do, who the audit trail
//! and the notifications name, and a customer's reveal counting as delivery. Tenant
//! isolation over real HTTP on both stores is in functions/local/tests/customers.rs.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{KeyPair, RsaKeyPair, RSA_PKCS1_SHA256};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use keyroll_api::customer::CustomerAccess;
use keyroll_api::identity::dev::DevSigningKey;
use keyroll_api::identity::{ClaimNames, IdentitySettings, TokenVerifier};

use keyroll_core::time::Clock;

use crate::support::*;

pub(crate) const ISSUER: &str = "https://idp.example.test/";
pub(crate) const AUDIENCE: &str = "keyroll-test";
const RSA_KID: &str = "rsa-1";

/// A test identity provider with an ES256 and an RS256 key.
pub(crate) struct Issuers {
    es256: DevSigningKey,
    rsa: RsaKeyPair,
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl Issuers {
    pub(crate) fn new() -> Self {
        Self {
            es256: DevSigningKey::generate().unwrap(),
            rsa: RsaKeyPair::generate(KeySize::Rsa2048).unwrap(),
        }
    }

    pub(crate) fn jwks(&self) -> String {
        let mut set: Value = serde_json::from_str(&self.es256.jwks()).unwrap();
        let public = self.rsa.public_key();
        set["keys"].as_array_mut().unwrap().push(json!({
            "kty": "RSA",
            "kid": RSA_KID,
            "use": "sig",
            "n": b64(public.modulus().big_endian_without_leading_zero()),
            "e": b64(public.exponent().big_endian_without_leading_zero()),
        }));
        set.to_string()
    }

    pub(crate) fn access(&self) -> CustomerAccess {
        let settings = IdentitySettings {
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
            jwks: Some(self.jwks()),
            claims: ClaimNames::default(),
        };
        CustomerAccess::verified_here(TokenVerifier::new(&settings, &self.jwks()).unwrap())
    }

    pub(crate) fn claims(org: &str, sub: &str, role: &str, now: Timestamp) -> Value {
        json!({
            "iss": ISSUER, "aud": AUDIENCE, "sub": sub, "org_id": org,
            "keyroll_role": role, "iat": now.unix(), "exp": now.unix() + 3600,
        })
    }

    pub(crate) fn es256(&self, claims: &Value) -> String {
        self.es256.sign(claims).unwrap()
    }

    fn rs256(&self, header: &Value, claims: &Value) -> String {
        let message = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
        let mut signature = vec![0; self.rsa.public_modulus_len()];
        self.rsa
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                message.as_bytes(),
                &mut signature,
            )
            .unwrap();
        format!("{message}.{}", b64(signature))
    }

    /// The classic confusion: HS256 with the RSA public key (as PEM) as the secret.
    fn hs256_with_public_key(&self, claims: &Value) -> String {
        let header = json!({"alg": "HS256", "typ": "JWT", "kid": RSA_KID});
        let message = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
        let pem = format!(
            "-----BEGIN RSA PUBLIC KEY-----\n{}\n-----END RSA PUBLIC KEY-----\n",
            STANDARD.encode(self.rsa.public_key().as_ref())
        );
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(pem.as_bytes()).unwrap();
        mac.update(message.as_bytes());
        format!("{message}.{}", b64(mac.finalize().into_bytes()))
    }

    /// A token for `sub` of `org` with role `role`, valid at `now`.
    pub(crate) fn token(&self, org: &str, sub: &str, role: &str, now: Timestamp) -> String {
        self.es256(&Self::claims(org, sub, role, now))
    }
}

impl TestApp {
    /// A customer call with `token`.
    pub(crate) async fn as_customer(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Reply {
        let bearer = format!("Bearer {token}");
        self.raw(
            method,
            path,
            body.map(|b| b.to_string()),
            &[("authorization", &bearer)],
        )
        .await
    }

    async fn key_of(&self, org: &str) -> (String, String) {
        let reply = self
            .call("POST", "/v1/keys", Some(json!({"organizationId": org, "name": "prod", "scopes": ["charges:read"], "rateLimit": 100})))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        (
            reply.body["key"]["id"].as_str().unwrap().to_owned(),
            reply.body["secret"].as_str().unwrap().to_owned(),
        )
    }
}

#[tokio::test]
async fn only_a_valid_rs256_or_es256_token_opens_the_customer_routes_and_every_refusal_is_the_same_401(
) {
    let issuers = Issuers::new();
    let app = spawn_customer_app(&issuers);
    let now = app.clock.now();
    let claims = |edit: &dyn Fn(&mut Value)| {
        let mut claims = Issuers::claims("org_acme", "alice", "admin", now);
        edit(&mut claims);
        claims
    };
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": RSA_KID});

    let accepted = [
        ("es256", issuers.es256(&claims(&|_| {}))),
        ("rs256", issuers.rs256(&header, &claims(&|_| {}))),
        (
            "expired within the leeway",
            issuers.es256(&claims(&|c| c["exp"] = json!(now.unix() - 30))),
        ),
        (
            "audience in a list",
            issuers.es256(&claims(&|c| c["aud"] = json!(["other", AUDIENCE]))),
        ),
        (
            "an access token's client_id, without aud",
            issuers.es256(&claims(&|c| {
                let object = c.as_object_mut().unwrap();
                object.remove("aud");
                object.insert("client_id".into(), json!(AUDIENCE));
            })),
        ),
    ];
    for (case, token) in &accepted {
        let reply = app.as_customer(token, "GET", "/v1/org/keys", None).await;
        assert_eq!(reply.status, StatusCode::OK, "{case}: {}", reply.text);
    }

    let es256_parts: Vec<String> = issuers
        .es256(&claims(&|_| {}))
        .split('.')
        .map(str::to_owned)
        .collect();
    let unsigned = |alg: &str| {
        format!(
            "{}.{}.",
            b64(json!({"alg": alg, "typ": "JWT", "kid": issuers.es256.kid()}).to_string()),
            b64(claims(&|_| {}).to_string())
        )
    };
    let other = Issuers::new();
    let refused = [
        (
            "expired",
            issuers.es256(&claims(&|c| c["exp"] = json!(now.unix() - 61))),
        ),
        (
            "no exp",
            issuers.es256(&claims(&|c| {
                c.as_object_mut().unwrap().remove("exp");
            })),
        ),
        (
            "not yet valid",
            issuers.es256(&claims(&|c| c["nbf"] = json!(now.unix() + 120))),
        ),
        (
            "wrong audience",
            issuers.es256(&claims(&|c| c["aud"] = json!("another-app"))),
        ),
        (
            "another client_id, without aud",
            issuers.es256(&claims(&|c| {
                let object = c.as_object_mut().unwrap();
                object.remove("aud");
                object.insert("client_id".into(), json!("another-app"));
            })),
        ),
        (
            "wrong issuer",
            issuers.es256(&claims(&|c| c["iss"] = json!("https://evil.example/"))),
        ),
        ("alg none", unsigned("none")),
        ("alg none, capitalised", unsigned("None")),
        (
            "HS256 with the public key",
            issuers.hs256_with_public_key(&claims(&|_| {})),
        ),
        (
            "RS256 header on the EC key",
            issuers.rs256(
                &json!({"alg": "RS256", "kid": issuers.es256.kid()}),
                &claims(&|_| {}),
            ),
        ),
        (
            "unknown kid",
            issuers.rs256(&json!({"alg": "RS256", "kid": "rsa-2"}), &claims(&|_| {})),
        ),
        ("another issuer's key", other.es256(&claims(&|_| {}))),
        (
            "tampered claims",
            format!(
                "{}.{}.{}",
                es256_parts[0],
                b64(claims(&|c| c["org_id"] = json!("org_globex")).to_string()),
                es256_parts[2]
            ),
        ),
        (
            "no organisation",
            issuers.es256(&claims(&|c| {
                c.as_object_mut().unwrap().remove("org_id");
            })),
        ),
        ("not a token", "not.a.token".to_owned()),
        ("the admin token", TOKEN.to_owned()),
    ];
    let mut bodies = std::collections::BTreeSet::new();
    for (case, token) in &refused {
        let reply = app.as_customer(token, "GET", "/v1/org/keys", None).await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "{case}: {}",
            reply.text
        );
        assert_eq!(reply.content_type, "application/problem+json", "{case}");
        bodies.insert(reply.text.clone());
    }
    let missing = app
        .raw("GET", "/v1/org/keys", None, &[("authorization", "")])
        .await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    bodies.insert(missing.text);
    assert_eq!(bodies.len(), 1, "every refusal reads the same: {bodies:?}");

    // A customer token is no operator credential.
    let token = issuers.token("org_acme", "alice", "admin", now);
    let operator = app.as_customer(&token, "GET", "/v1/rotations", None).await;
    assert_eq!(operator.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn without_customer_settings_the_customer_routes_refuse_everyone() {
    let app = spawn_app();
    let issuers = Issuers::new();
    let token = issuers.token("org_acme", "alice", "admin", app.clock.now());
    let reply = app.as_customer(&token, "GET", "/v1/org/keys", None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_viewer_reads_but_every_change_is_403_and_changes_nothing() {
    let issuers = Issuers::new();
    let app = spawn_customer_app(&issuers);
    let (key, _) = app.key_of("org_acme").await;
    // Self-service successors are sealed to the key's delivery key.
    let registered = app
        .call("PUT", &format!("/v1/keys/{key}/delivery-key"), Some(json!({"jwk": {"kty": "EC", "crv": "P-256", "x": "gI0GAILBdu7T53akrFmMyGcsF3n5dO7MmwNBHKW5SV0", "y": "SLW_xSffzlPWrHEVI30DHM_4egVwt3NQqeUD7nMFpps"}})))
        .await;
    assert_eq!(registered.status, StatusCode::OK, "{}", registered.text);
    // Something for every change to aim at: a held rotation and a contact.
    let rotation = app
        .call(
            "POST",
            &format!("/v1/keys/{key}/rotations"),
            Some(json!({"selfService": true, "immediate": true})),
        )
        .await
        .body["rotation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let contact = app
        .call(
            "POST",
            "/v1/organizations/org_acme/contacts",
            Some(json!({"email": "ops@acme.test"})),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let state = || async {
        json!({
            "key": app.call("GET", &format!("/v1/keys/{key}"), None).await.body,
            "rotations": app.call("GET", &format!("/v1/keys/{key}/rotations"), None).await.body,
            "audit": app.call("GET", &format!("/v1/keys/{key}/audit"), None).await.body["events"],
            "contacts": app.call("GET", "/v1/organizations/org_acme/contacts", None).await.body,
            "webhooks": app.call("GET", "/v1/organizations/org_acme/webhooks", None).await.body,
        })
    };
    let viewer = issuers.token("org_acme", "vera", "viewer", app.clock.now());
    let no_role = issuers.es256(&{
        let mut claims = Issuers::claims("org_acme", "nora", "", app.clock.now());
        claims.as_object_mut().unwrap().remove("keyroll_role");
        claims
    });
    let webhook = "whk_01jzzzzzzzzzzzzzzzzzzzzzzz";
    for token in [&viewer, &no_role] {
        let listed = app.as_customer(token, "GET", "/v1/org/keys", None).await;
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
        assert_eq!(listed.body["keys"][0]["id"], key.as_str());
        let me = app.as_customer(token, "GET", "/v1/org/me", None).await;
        assert_eq!(me.body["role"], "viewer");
        let before = state().await;
        for (method, path, body) in [
            (
                "POST",
                format!("/v1/org/keys/{key}/rotations"),
                Some(json!({})),
            ),
            (
                "POST",
                format!("/v1/org/keys/{key}/emergency-rotation"),
                Some(json!({"reason": "leaked"})),
            ),
            (
                "POST",
                format!("/v1/org/rotations/{rotation}/complete"),
                Some(json!({})),
            ),
            (
                "POST",
                format!("/v1/org/rotations/{rotation}/extend"),
                Some(json!({"gracePeriodSeconds": 60, "reason": "more"})),
            ),
            ("POST", format!("/v1/org/rotations/{rotation}/reveal"), None),
            (
                "POST",
                format!("/v1/org/keys/{key}/revoke"),
                Some(json!({"reason": "not mine to kill"})),
            ),
            (
                "PATCH",
                format!("/v1/org/keys/{key}"),
                Some(json!({"name": "renamed by a viewer"})),
            ),
            (
                "POST",
                "/v1/org/keys".to_owned(),
                Some(json!({"name": "a viewer's", "rateLimit": 1})),
            ),
            (
                "POST",
                "/v1/org/contacts".to_owned(),
                Some(json!({"email": "x@acme.test"})),
            ),
            ("DELETE", format!("/v1/org/contacts/{contact}"), None),
            (
                "POST",
                format!("/v1/org/contacts/{contact}/confirm"),
                Some(json!({"code": "0000-0000-0000"})),
            ),
            (
                "POST",
                "/v1/org/webhooks".to_owned(),
                Some(json!({"url": "https://hooks.acme.example/k"})),
            ),
            ("DELETE", format!("/v1/org/webhooks/{webhook}"), None),
            (
                "POST",
                format!("/v1/org/webhooks/{webhook}/rotate-secret"),
                None,
            ),
            (
                "POST",
                "/v1/org/notifications/evt_1_0000000001/read".to_owned(),
                None,
            ),
        ] {
            let reply = app.as_customer(token, method, &path, body).await;
            assert_eq!(
                reply.status,
                StatusCode::FORBIDDEN,
                "{method} {path}: {}",
                reply.text
            );
            assert_eq!(reply.content_type, "application/problem+json");
        }
        assert_eq!(state().await, before, "a refused change changes nothing");
    }
}

#[tokio::test]
async fn a_customers_actions_are_audited_as_the_user_and_the_provider_stays_anonymous() {
    let issuers = Issuers::new();
    let app = spawn_customer_app(&issuers);
    let (key, old_secret) = app.key_of("org_acme").await;
    let alice = issuers.token("org_acme", "alice", "admin", app.clock.now());

    // The key as the customer sees it: prefixes, age, deadline.
    let shown = app
        .as_customer(&alice, "GET", &format!("/v1/org/keys/{key}"), None)
        .await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.text);
    let view = &shown.body["key"];
    assert_eq!(view["currentPrefix"], view["versions"][0]["prefix"]);
    assert_eq!(view["pendingPrefix"], Value::Null);
    assert_eq!(view["secretAgeDays"], 0);
    assert_eq!(
        view["complianceDeadline"],
        app.clock.now().plus_seconds(90 * 86_400).to_rfc3339()
    );
    assert_eq!(
        view["createdBy"], "provider",
        "the operator's name is not shown"
    );
    assert_eq!(view["rotation"], Value::Null);

    // Roll it: the new secret is in the response, once; the old one keeps working.
    let rolled = app
        .as_customer(
            &alice,
            "POST",
            &format!("/v1/org/keys/{key}/rotations"),
            Some(json!({"gracePeriodSeconds": 3600, "immediate": true, "reason": "yearly"})),
        )
        .await;
    assert_eq!(rolled.status, StatusCode::CREATED, "{}", rolled.text);
    let new_secret = rolled.body["secret"].as_str().unwrap().to_owned();
    let rotation = rolled.body["rotation"]["id"].as_str().unwrap().to_owned();
    assert_eq!(rolled.body["rotation"]["actor"], "customer:org_acme/alice");
    assert_eq!(app.verify(&old_secret).await, "VALID");
    assert_eq!(app.verify(&new_secret).await, "VALID");
    let in_progress = app
        .as_customer(&alice, "GET", &format!("/v1/org/keys/{key}"), None)
        .await;
    assert_eq!(in_progress.body["key"]["rotation"]["id"], rotation.as_str());

    // More time, then "we have moved".
    let extended = app
        .as_customer(
            &alice,
            "POST",
            &format!("/v1/org/rotations/{rotation}/extend"),
            Some(json!({"gracePeriodSeconds": 600, "reason": "one more deploy"})),
        )
        .await;
    assert_eq!(extended.status, StatusCode::OK, "{}", extended.text);
    let completed = app
        .as_customer(
            &alice,
            "POST",
            &format!("/v1/org/rotations/{rotation}/complete"),
            Some(json!({"reason": "all integrations moved"})),
        )
        .await;
    assert_eq!(completed.status, StatusCode::OK, "{}", completed.text);
    assert_eq!(completed.body["rotation"]["status"], "completed");
    assert_eq!(app.verify(&old_secret).await, "REVOKED");

    // The trail names alice for her actions and the provider for its own.
    let trail = app
        .as_customer(&alice, "GET", &format!("/v1/org/audit?keyId={key}"), None)
        .await;
    assert_eq!(trail.status, StatusCode::OK, "{}", trail.text);
    assert_eq!(trail.body["chainValid"], true);
    let actors: Vec<(String, String)> = trail.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["actor"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(actors[0], ("key.created".into(), "provider".into()));
    for (action, actor) in &actors[1..] {
        assert_eq!(actor, "customer:org_acme/alice", "{action}");
    }
    assert!(actors.len() >= 4, "{actors:?}");
    // The operator's own view of the trail is unchanged.
    let operator = app
        .call("GET", &format!("/v1/keys/{key}/audit"), None)
        .await;
    assert_eq!(operator.body["events"][0]["actor"], "local-admin");
    // Pages, newest first, a cursor, and the whole chain's verdict on each.
    let n = actors.len();
    let newest = app
        .as_customer(
            &alice,
            "GET",
            &format!("/v1/org/audit?keyId={key}&order=newest&limit=2"),
            None,
        )
        .await;
    assert_eq!(newest.status, StatusCode::OK, "{}", newest.text);
    assert_eq!(newest.body["events"][0]["seq"], n as u64);
    assert_eq!(newest.body["chain"]["events"], n as u64);
    let cursor = newest.body["nextCursor"].as_str().unwrap().to_owned();
    assert_eq!(cursor, (n - 1).to_string());
    let older = app
        .call(
            "GET",
            &format!("/v1/keys/{key}/audit?order=newest&limit=2&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(older.body["events"][0]["seq"], n as u64 - 2);
    assert_eq!(older.body["chainValid"], true);
    for bad in [
        "order=sideways",
        "limit=0",
        "limit=1001",
        "cursor=x",
        "cursor=-1",
    ] {
        assert_problem(
            &app.call("GET", &format!("/v1/keys/{key}/audit?{bad}"), None)
                .await,
            422,
        );
    }
    let audit_has = |action: &str| actors.iter().any(|(a, _)| a == action);
    assert!(audit_has("rotation.scheduled") && audit_has("rotation.completed"));
    // (That the organisation's feed names alice is tested end to end, with the
    // notifier running, in functions/local/tests/customers.rs.)
}

#[tokio::test]
async fn a_policy_secret_the_customer_reveals_counts_as_delivered_and_one_never_revealed_holds_the_rotation_open(
) {
    let issuers = Issuers::new();
    let app = spawn_customer_app(&issuers);
    let (collected, collected_secret) = app.key_of("org_acme").await;
    let (ignored, ignored_secret) = app.key_of("org_acme").await;
    // 91 days on, the scan starts a policy rotation of each; the secrets are held.
    app.clock.advance(91 * 86_400);
    let scanned = app.call("POST", "/v1/admin/scan", None).await;
    assert_eq!(scanned.body["scheduled"], 2, "{}", scanned.text);
    let alice = issuers.token("org_acme", "alice", "admin", app.clock.now());
    let rotation_of = |body: &Value| body["key"]["rotation"]["id"].as_str().unwrap().to_owned();
    let listed = app.as_customer(&alice, "GET", "/v1/org/keys", None).await;
    assert_eq!(listed.body["keys"].as_array().unwrap().len(), 2);
    let collected_rotation = rotation_of(
        &app.as_customer(&alice, "GET", &format!("/v1/org/keys/{collected}"), None)
            .await
            .body,
    );
    let ignored_rotation = rotation_of(
        &app.as_customer(&alice, "GET", &format!("/v1/org/keys/{ignored}"), None)
            .await
            .body,
    );

    let revealed = app
        .as_customer(
            &alice,
            "POST",
            &format!("/v1/org/rotations/{collected_rotation}/reveal"),
            None,
        )
        .await;
    assert_eq!(revealed.status, StatusCode::OK, "{}", revealed.text);
    let new_secret = revealed.body["secret"].as_str().unwrap().to_owned();
    assert_eq!(
        revealed.body["rotation"]["revealedAt"],
        app.clock.now().to_rfc3339()
    );
    let again = app
        .as_customer(
            &alice,
            "POST",
            &format!("/v1/org/rotations/{collected_rotation}/reveal"),
            None,
        )
        .await;
    assert_eq!(again.status, StatusCode::GONE, "shown once");

    // The audit trail records who collected it.
    let trail = app
        .as_customer(
            &alice,
            "GET",
            &format!("/v1/org/audit?keyId={collected}"),
            None,
        )
        .await;
    let reveal_event = trail.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "rotation.revealed")
        .cloned()
        .unwrap();
    assert_eq!(reveal_event["actor"], "customer:org_acme/alice");

    // Just before the grace ends, the processor extends the uncollected one; just
    // after, the collected one completes on time.
    // (The processor runs every minute: it starts both when they are due.)
    let rotation = &revealed.body["rotation"];
    let at = |field: &str| Timestamp::parse(rotation[field].as_str().unwrap()).unwrap();
    let grace_ends = at("graceEndsAt");
    app.clock.set(at("scheduledAt"));
    app.call("POST", "/v1/admin/process", None).await;
    app.clock.set(grace_ends.minus_seconds(1800));
    app.call("POST", "/v1/admin/process", None).await;
    app.clock.set(grace_ends.plus_seconds(60));
    app.call("POST", "/v1/admin/process", None).await;
    let status = |id: &str| {
        let app = &app;
        let id = id.to_owned();
        async move {
            app.call("GET", &format!("/v1/rotations/{id}"), None)
                .await
                .body["rotation"]
                .clone()
        }
    };
    let done = status(&collected_rotation).await;
    assert_eq!(done["status"], "completed");
    assert_eq!(app.verify(&collected_secret).await, "REVOKED");
    assert_eq!(app.verify(&new_secret).await, "VALID");
    let waiting = status(&ignored_rotation).await;
    assert_ne!(waiting["status"], "completed", "{waiting}");
    assert_eq!(waiting["awaitingDelivery"], true);
    assert_eq!(
        app.verify(&ignored_secret).await,
        "VALID",
        "nobody has the new secret, so the old one keeps working"
    );
}

#[tokio::test]
async fn the_key_list_pages_with_a_cursor_and_refuses_a_bad_one() {
    let issuers = Issuers::new();
    let app = spawn_customer_app(&issuers);
    let mut expected = Vec::new();
    for _ in 0..3 {
        expected.push(app.key_of("org_acme").await.0);
    }
    app.key_of("org_globex").await;
    expected.sort();
    let alice = issuers.token("org_acme", "alice", "viewer", app.clock.now());
    let first = app
        .as_customer(&alice, "GET", "/v1/org/keys?limit=2", None)
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let ids = |reply: &Reply| -> Vec<String> {
        reply.body["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&first), expected[..2]);
    let cursor = first.body["nextCursor"].as_str().unwrap().to_owned();
    let rest = app
        .as_customer(
            &alice,
            "GET",
            &format!("/v1/org/keys?limit=2&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(ids(&rest), expected[2..]);
    assert_eq!(rest.body["nextCursor"], Value::Null);
    for bad in ["limit=0", "limit=101", "cursor=not%20a%20key", "page=2"] {
        let reply = app
            .as_customer(&alice, "GET", &format!("/v1/org/keys?{bad}"), None)
            .await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            reply.text
        );
    }
}

/// An admin revokes one of the organisation's keys: its secret answers `REVOKED`, the
/// audit trail names the user, a second revoke answers the same `revokedAt`; another
/// organisation's key answers exactly as an unknown one and stays valid.
#[tokio::test]
async fn an_admin_revokes_an_own_key_and_never_another_organisations() {
    let issuers = Issuers::new();
    let app = spawn_customer_app(&issuers);
    let (key, secret) = app.key_of("org_acme").await;
    let (foreign, foreign_secret) = app.key_of("org_other").await;
    let admin = issuers.token("org_acme", "ada", "admin", app.clock.now());
    let revoke = |key: String, body: Value| {
        let (app, admin) = (&app, &admin);
        async move {
            app.as_customer(
                admin,
                "POST",
                &format!("/v1/org/keys/{key}/revoke"),
                Some(body),
            )
            .await
        }
    };
    let reason = || json!({"reason": "integration decommissioned"});

    let unknown = revoke("key_01jzzzzzzzzzzzzzzzzzzzzzzz".to_owned(), reason()).await;
    let theirs = revoke(foreign.clone(), reason()).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.text);
    assert_eq!(theirs.status, StatusCode::NOT_FOUND, "{}", theirs.text);
    assert_eq!(
        theirs.text.replace(foreign.as_str(), "ID"),
        unknown.text.replace("key_01jzzzzzzzzzzzzzzzzzzzzzzz", "ID"),
        "a foreign key answers exactly as an unknown one"
    );
    assert_eq!(app.verify(&foreign_secret).await, "VALID");

    let revoked = revoke(key.clone(), reason()).await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.text);
    assert_eq!(revoked.body["key"]["status"], "revoked");
    let revoked_at = revoked.body["key"]["revokedAt"].clone();
    assert!(revoked_at.is_string());
    assert_eq!(app.verify(&secret).await, "REVOKED");
    let audit = app
        .as_customer(
            &admin,
            "GET",
            &format!("/v1/org/audit?keyId={key}&order=newest"),
            None,
        )
        .await;
    assert_eq!(audit.body["events"][0]["action"], "key.revoked");
    assert_eq!(audit.body["events"][0]["actor"], "customer:org_acme/ada");
    assert_eq!(audit.body["chainValid"], true);

    let again = revoke(key.clone(), reason()).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    assert_eq!(again.body["key"]["revokedAt"], revoked_at);
    let missing = revoke(key.clone(), json!({})).await;
    assert_eq!(
        missing.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        missing.text
    );
}

/// An admin renames a key and labels it (name and metadata only: scopes are the
/// provider's); another organisation's key answers as an unknown one.
#[tokio::test]
async fn an_admin_renames_and_labels_an_own_key_only() {
    let issuers = Issuers::new();
    let app = spawn_customer_app(&issuers);
    let (key, _) = app.key_of("org_acme").await;
    let (foreign, _) = app.key_of("org_other").await;
    let admin = issuers.token("org_acme", "ada", "admin", app.clock.now());
    let path = format!("/v1/org/keys/{key}");
    let got = app.as_customer(&admin, "GET", &path, None).await;
    let etag = got.etag.clone().expect("an ETag");
    let patch = json!({"name": "billing worker", "metadata": {"team": "billing"}});
    let patched = app.as_customer(&admin, "PATCH", &path, Some(patch)).await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    assert_eq!(patched.body["key"]["name"], "billing worker");
    assert_eq!(patched.body["key"]["metadata"], json!({"team": "billing"}));
    assert_ne!(patched.etag, Some(etag));
    let scopes = app
        .as_customer(&admin, "PATCH", &path, Some(json!({"scopes": ["admin:*"]})))
        .await;
    assert_problem(&scopes, 422);
    let theirs = app
        .as_customer(
            &admin,
            "PATCH",
            &format!("/v1/org/keys/{foreign}"),
            Some(json!({"name": "mine now"})),
        )
        .await;
    assert_problem(&theirs, 404);
    let foreign_key = app.call("GET", &format!("/v1/keys/{foreign}"), None).await;
    assert_eq!(foreign_key.body["key"]["name"], "prod");
}

/// An admin creates a key inside the policy their provider set (201, the secret
/// verifies, audited as the user), outside it 409 naming the field, and none at all
/// without a policy (403).
#[tokio::test]
async fn an_admin_creates_keys_inside_the_key_policy_only() {
    let issuers = Issuers::new();
    let app = spawn_customer_app(&issuers);
    let admin = issuers.token("org_acme", "ada", "admin", app.clock.now());
    let new_key = |scopes: Value, rate: u32| json!({"name": "new integration", "scopes": scopes, "rateLimit": rate});
    let none = app
        .as_customer(&admin, "POST", "/v1/org/keys", Some(new_key(json!([]), 1)))
        .await;
    assert_problem(&none, 403);
    assert!(none.text.contains("not enabled"), "{}", none.text);
    assert_problem(
        &app.call("GET", "/v1/organizations/org_acme/key-policy", None)
            .await,
        404,
    );

    let policy = json!({"allowedScopes": ["charges:read", "charges:write"], "maxRateLimit": 50, "maxKeys": 5, "classes": ["server"]});
    let set = app
        .call("PUT", "/v1/organizations/org_acme/key-policy", Some(policy))
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text);
    assert_eq!(set.body["maxKeys"], 5);
    let read = app
        .call("GET", "/v1/organizations/org_acme/key-policy", None)
        .await;
    assert_eq!(
        read.body["allowedScopes"],
        json!(["charges:read", "charges:write"])
    );
    assert_problem(
        &app.call("PUT", "/v1/organizations/org_acme/key-policy", Some(json!({"allowedScopes": [], "maxRateLimit": 0, "maxKeys": 5, "classes": ["server"]}))).await,
        422,
    );

    let created = app
        .as_customer(
            &admin,
            "POST",
            "/v1/org/keys",
            Some(new_key(json!(["charges:read"]), 50)),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.body["key"]["organizationId"], "org_acme");
    let secret = created.body["secret"].as_str().unwrap().to_owned();
    assert_eq!(app.verify(&secret).await, "VALID");
    assert_eq!(created.body["key"]["createdBy"], "customer:org_acme/ada");
    for (body, field) in [
        (new_key(json!(["admin:*"]), 5), "scopes"),
        (new_key(json!([]), 51), "rateLimit"),
        (
            json!({"name": "mobile", "rateLimit": 5, "class": "embedded"}),
            "class",
        ),
    ] {
        let refused = app
            .as_customer(&admin, "POST", "/v1/org/keys", Some(body))
            .await;
        assert_problem(&refused, 409);
        assert!(refused.text.contains(field), "{field}: {}", refused.text);
    }
    let other = issuers.token("org_other", "olga", "admin", app.clock.now());
    assert_problem(
        &app.as_customer(&other, "POST", "/v1/org/keys", Some(new_key(json!([]), 1)))
            .await,
        403,
    );
}

/// `POST /v1/verify` attributes the use to the `caller` it is given; the key's callers
/// show it (its network, never the address), to the operator and to the organisation's
/// users, and another organisation's user is answered as for an unknown key.
#[tokio::test]
async fn a_verification_names_its_caller_and_the_key_lists_it() {
    let issuers = Issuers::new();
    let app = spawn_customer_app(&issuers);
    let (key, secret) = app.key_of("org_acme").await;
    let caller = json!({"ip": "198.51.100.23", "userAgent": "billing-cron/1.4 python-requests/2.32",
                        "client": "keyroll-python/0.1.0", "appVersion": "7.0"});
    let verified = app
        .call(
            "POST",
            "/v1/verify",
            Some(json!({"secret": secret, "caller": caller})),
        )
        .await;
    assert_eq!(verified.body["code"], "VALID");
    let unknown_field = app
        .call(
            "POST",
            "/v1/verify",
            Some(json!({"secret": secret, "caller": {"address": "x"}})),
        )
        .await;
    assert_eq!(
        unknown_field.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        unknown_field.text
    );

    let operator = app
        .call("GET", &format!("/v1/keys/{key}/callers"), None)
        .await;
    assert_eq!(operator.status, StatusCode::OK, "{}", operator.text);
    assert_eq!(
        operator.body["callers"][0],
        json!({
            "id": operator.body["callers"][0]["id"],
            "network": "198.51.100.0/24",
            "agent": "billing-cron/1.4",
            "client": "keyroll-python/0.1.0",
            "appVersion": "7.0",
            "status": "moved",
            "versions": [{"version": 1, "firstSeen": epoch().to_rfc3339(),
                          "lastSeen": epoch().to_rfc3339(), "uses24h": 1, "uses7d": 1}],
        })
    );
    assert_eq!(
        operator.body["summary"],
        json!({"moved": 1, "notMoved": 0, "gone": 0})
    );
    assert!(!operator.text.contains("198.51.100.23"));

    // A rotation: the caller has not moved until it calls with the new secret.
    let rotated = app
        .call(
            "POST",
            &format!("/v1/keys/{key}/rotations"),
            Some(json!({"immediate": true, "gracePeriodSeconds": 86400})),
        )
        .await;
    let rotation = rotated.body["rotation"]["id"].as_str().unwrap().to_owned();
    let new_secret = rotated.body["secret"].as_str().unwrap().to_owned();
    let summary = |reply: &Reply| reply.body["rotation"]["summary"].clone();
    let shown = app
        .call("GET", &format!("/v1/rotations/{rotation}"), None)
        .await;
    assert_eq!(
        summary(&shown),
        json!({"moved": 0, "notMoved": 1, "gone": 0})
    );
    app.clock.advance(60);
    let moved = app
        .call(
            "POST",
            "/v1/verify",
            Some(json!({"secret": new_secret, "caller": caller})),
        )
        .await;
    assert_eq!(moved.body["code"], "VALID");
    let shown = app
        .call("GET", &format!("/v1/rotations/{rotation}"), None)
        .await;
    assert_eq!(
        summary(&shown),
        json!({"moved": 1, "notMoved": 0, "gone": 0})
    );
    // By app version: how the key's week of traffic splits over its secrets.
    let grouped = app
        .call(
            "GET",
            &format!("/v1/keys/{key}/callers?groupBy=appVersion"),
            None,
        )
        .await;
    assert_eq!(
        grouped.body["appVersions"],
        json!([{"appVersion": "7.0", "uses7d": 2, "sharePercent": 100.0, "versions": [
            {"version": 1, "uses7d": 1, "sharePercent": 50.0},
            {"version": 2, "uses7d": 1, "sharePercent": 50.0},
        ]}]),
        "{}",
        grouped.text
    );
    let unknown_grouping = app
        .call(
            "GET",
            &format!("/v1/keys/{key}/callers?groupBy=country"),
            None,
        )
        .await;
    assert_eq!(unknown_grouping.status, StatusCode::UNPROCESSABLE_ENTITY);

    let alice = issuers.token("org_acme", "alice", "viewer", app.clock.now());
    let own = app
        .as_customer(&alice, "GET", &format!("/v1/org/keys/{key}/callers"), None)
        .await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.text);
    assert_eq!(
        own.body["callers"][0]["id"],
        operator.body["callers"][0]["id"]
    );
    assert_eq!(own.body["callers"][0]["status"], "moved");
    let mallory = issuers.token("org_globex", "mallory", "admin", app.clock.now());
    let foreign = app
        .as_customer(
            &mallory,
            "GET",
            &format!("/v1/org/keys/{key}/callers"),
            None,
        )
        .await;
    let unknown = app
        .as_customer(
            &mallory,
            "GET",
            "/v1/org/keys/key_01jzzzzzzzzzzzzzzzzzzzzzzz/callers",
            None,
        )
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND, "{}", foreign.text);
    assert_eq!(
        foreign.text.replace(key.as_str(), "ID"),
        unknown.text.replace("key_01jzzzzzzzzzzzzzzzzzzzzzzz", "ID"),
        "a foreign key answers exactly as an unknown one"
    );
}

/// `retire` on the rotation requests, operator's and customer's: its options belong to
/// their mode (another mode's option is a 422), `when_faded` is for embedded keys (409),
/// a refusal changes nothing, and the rotation shows how and by when its old secret
/// retires.
#[tokio::test]
async fn rotations_take_a_retire_condition_on_both_routes() {
    let issuers = Issuers::new();
    let app = spawn_customer_app(&issuers);
    let (key, _) = app.key_of("org_acme").await;
    let alice = issuers.token("org_acme", "alice", "admin", app.clock.now());
    let before = app.snapshot(&key).await;
    for (body, status, field) in [
        (
            json!({"retire": "deadline", "quietSeconds": 600}),
            422,
            "quietSeconds",
        ),
        (
            json!({"retire": "when_moved", "quietSeconds": 59}),
            422,
            "quietSeconds",
        ),
        (
            json!({"retire": "when_moved", "quietSeconds": 604_801}),
            422,
            "quietSeconds",
        ),
        (
            json!({"retire": "when_moved", "fadeBelowPercent": 1}),
            422,
            "fadeBelowPercent",
        ),
        (
            json!({"retire": "when_faded", "fadeBelowPercent": 0}),
            422,
            "fadeBelowPercent",
        ),
        (
            json!({"retire": "when_faded", "fadeBelowPercent": 100.5}),
            422,
            "fadeBelowPercent",
        ),
        (json!({"fadeBelowDailyUses": 5}), 422, "fadeBelowDailyUses"),
        (
            json!({"retire": "when_moved", "autoExtend": true}),
            422,
            "retire",
        ),
        (json!({"retire": "when_faded"}), 409, "retire"),
    ] {
        for reply in [
            app.call(
                "POST",
                &format!("/v1/keys/{key}/rotations"),
                Some(body.clone()),
            )
            .await,
            app.as_customer(
                &alice,
                "POST",
                &format!("/v1/org/keys/{key}/rotations"),
                Some(body.clone()),
            )
            .await,
        ] {
            assert_eq!(reply.status.as_u16(), status, "{body}: {}", reply.text);
            assert_eq!(reply.content_type, "application/problem+json");
            assert!(reply.text.contains(field), "{body}: {}", reply.text);
        }
    }
    let refused = app
        .call(
            "POST",
            &format!("/v1/keys/{key}/rotations"),
            Some(json!({"retire": "sometime"})),
        )
        .await;
    assert!(
        [400, 422].contains(&refused.status.as_u16()),
        "{}",
        refused.text
    );
    assert_eq!(
        app.snapshot(&key).await,
        before,
        "a refusal changes nothing"
    );

    let rolled = app
        .as_customer(
            &alice,
            "POST",
            &format!("/v1/org/keys/{key}/rotations"),
            Some(json!({"immediate": true, "gracePeriodSeconds": 86400, "retire": "when_moved", "quietSeconds": 1800})),
        )
        .await;
    assert_eq!(rolled.status, StatusCode::CREATED, "{}", rolled.text);
    let rotation = &rolled.body["rotation"];
    assert_eq!(rotation["retire"], "when_moved");
    assert_eq!(rotation["quietSeconds"], 1800);
    let grace_end = Timestamp::parse(rotation["graceEndsAt"].as_str().unwrap()).unwrap();
    assert_eq!(
        rotation["retireBy"],
        grace_end.plus_seconds(30 * 86_400).to_rfc3339(),
        "the grace end plus the server class's maximum grace"
    );
    let id = rotation["id"].as_str().unwrap();
    let shown = app.call("GET", &format!("/v1/rotations/{id}"), None).await;
    assert_eq!(
        shown.body["rotation"]["retire"], "when_moved",
        "{}",
        shown.text
    );
    assert!(shown.body["rotation"]["summary"].is_object());
}

/// Webhook URLs carry tokens in their query, and a failed email's error is the mail
/// service's (it names the account and its roles): the organisation's users, viewers
/// included, read URLs without query or fragment and keyroll's own failures as a
/// sentence; the operator reads everything stored.
#[tokio::test]
async fn customers_read_webhook_urls_and_delivery_errors_redacted() {
    use keyroll_core::delivery::{AttemptOutcome, DeliveryAttempt, Target};
    use keyroll_core::store::DeliveryStore;
    let issuers = Issuers::new();
    let deliveries = Arc::new(keyroll_core::store::memory::MemoryStore::new());
    let app = spawn_app_on(
        TestKeyroll::new()
            .setting("KEYROLL_ALLOW_LOOPBACK_WEBHOOKS", "true")
            .deliveries(deliveries.clone()),
        Some(issuers.access()),
    );
    let hook = "http://127.0.0.1:9/services/T0/B0/s3cr3t-path?token=s3cr3t-query#frag-s3cr3t";
    let added = app
        .call(
            "POST",
            "/v1/organizations/org_acme/webhooks",
            Some(json!({"url": hook})),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
    assert_eq!(added.body["url"], hook, "the operator reads it whole");
    let webhook_id = added.body["id"].as_str().unwrap().to_owned();
    let ses_error = "MessageRejected: User arn:aws:sts::123456789012:assumed-role/keyroll-Notifier/x is not authorized";
    let attempt = |n: u32, target: Target, destination: &str, error: &str, detail: Option<&str>| {
        DeliveryAttempt {
            organization_id: keyroll_core::ids::OrganizationId::parse("org_acme").unwrap(),
            event_id: "evt_01jd4x8m2q7r5t9v3w6y0z1a2b_0000000001".into(),
            target,
            destination: destination.into(),
            attempt: n,
            at: epoch().plus_seconds(u64::from(n)),
            status: None,
            latency_ms: 3,
            outcome: AttemptOutcome::Retrying,
            error: Some(error.into()),
            detail: detail.map(str::to_owned),
        }
    };
    let email = || Target::Email {
        contact_id: keyroll_core::ids::ContactId::generate(),
    };
    for recorded in [
        // Recorded before `detail` existed: the mail service's words in `error`.
        attempt(1, email(), "ops@acme.test", ses_error, None),
        attempt(
            2,
            email(),
            "ops@acme.test",
            keyroll_core::notify::EMAIL_NOT_ACCEPTED,
            Some(ses_error),
        ),
        attempt(
            3,
            Target::Webhook {
                webhook_id: keyroll_core::ids::WebhookId::parse(&webhook_id).unwrap(),
            },
            hook,
            "no answer within 5.0 s",
            None,
        ),
    ] {
        deliveries.record_attempt(&recorded).await.unwrap();
    }

    for role in ["viewer", "admin"] {
        let token = issuers.token("org_acme", "vera", role, app.clock.now());
        for path in ["/v1/org/webhooks", "/v1/org/deliveries"] {
            let reply = app.as_customer(&token, "GET", path, None).await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
            for hidden in ["s3cr3t", "arn:aws", "123456789012", "MessageRejected"] {
                assert!(
                    !reply.text.contains(hidden),
                    "{role} {path} shows {hidden}: {}",
                    reply.text
                );
            }
        }
        let listed = app
            .as_customer(&token, "GET", "/v1/org/webhooks", None)
            .await;
        assert_eq!(
            listed.body["webhooks"][0]["url"],
            "http://127.0.0.1:9/redacted"
        );
        let log = app
            .as_customer(&token, "GET", "/v1/org/deliveries", None)
            .await;
        let attempts = log.body["deliveries"].as_array().unwrap();
        assert_eq!(attempts.len(), 3);
        assert_eq!(attempts[0]["destination"], "http://127.0.0.1:9/redacted");
        assert_eq!(attempts[0]["error"], "no answer within 5.0 s");
        for email in &attempts[1..] {
            assert_eq!(email["error"], keyroll_core::notify::EMAIL_NOT_ACCEPTED);
            assert!(email.get("detail").is_none());
        }
    }
    let operator = app
        .call("GET", "/v1/organizations/org_acme/deliveries", None)
        .await;
    assert_eq!(operator.body["deliveries"][0]["destination"], hook);
    assert_eq!(operator.body["deliveries"][1]["detail"], ses_error);
    assert_eq!(operator.body["deliveries"][2]["error"], ses_error);
}

/// A customer admin looping rotations, or signing-secret rotations, reaches the
/// organisation's limits: 429 with `Retry-After`, and nothing changes; an hour (a day)
/// later it works again. The operator is not limited.
#[tokio::test]
async fn the_organisations_limits_answer_429_with_retry_after_and_change_nothing() {
    let issuers = Issuers::new();
    let app = spawn_app_on(
        TestKeyroll::new().setting("KEYROLL_ALLOW_LOOPBACK_WEBHOOKS", "true"),
        Some(issuers.access()),
    );
    let (key, _) = app.key_of("org_acme").await;
    let admin = || issuers.token("org_acme", "ada", "admin", app.clock.now());
    let emergency = || async {
        app.as_customer(
            &admin(),
            "POST",
            &format!("/v1/org/keys/{key}/emergency-rotation"),
            Some(json!({"reason": "looping", "gracePeriodSeconds": 0})),
        )
        .await
    };
    for n in 0..6 {
        let done = emergency().await;
        assert_eq!(done.status, StatusCode::CREATED, "{n}: {}", done.text);
        app.clock.advance(60);
    }
    let before = app.snapshot(&key).await;
    let refused = emergency().await;
    assert_problem(&refused, 429);
    assert!(refused.body["detail"]
        .as_str()
        .is_some_and(|d| d.contains("at most 6 per hour")));
    let retry_after = refused
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .expect("Retry-After in seconds");
    assert_eq!(retry_after, 3600 - 6 * 60, "when the first leaves the hour");
    assert_eq!(app.snapshot(&key).await, before, "nothing changed");
    // The operator is not limited.
    let operator = app
        .call(
            "POST",
            &format!("/v1/keys/{key}/emergency-rotation"),
            Some(json!({"reason": "operator", "gracePeriodSeconds": 0})),
        )
        .await;
    assert_eq!(operator.status, StatusCode::CREATED, "{}", operator.text);
    app.clock.advance(retry_after);
    assert_eq!(emergency().await.status, StatusCode::CREATED);

    // Signing secrets: 3 rotations of one endpoint a day.
    let added = app
        .as_customer(
            &admin(),
            "POST",
            "/v1/org/webhooks",
            Some(json!({"url": "http://127.0.0.1:9/hook"})),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
    let webhook = added.body["id"].as_str().unwrap().to_owned();
    let rotate = || async {
        app.as_customer(
            &admin(),
            "POST",
            &format!("/v1/org/webhooks/{webhook}/rotate-secret"),
            None,
        )
        .await
    };
    for _ in 0..3 {
        assert_eq!(rotate().await.status, StatusCode::OK);
        app.clock.advance(60);
    }
    let listed = app
        .as_customer(&admin(), "GET", "/v1/org/webhooks", None)
        .await
        .body;
    let refused = rotate().await;
    assert_problem(&refused, 429);
    assert_eq!(
        refused
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some((86_400 - 3 * 60).to_string().as_str())
    );
    let after = app
        .as_customer(&admin(), "GET", "/v1/org/webhooks", None)
        .await
        .body;
    assert_eq!(after, listed, "no signing secret was added");
}

/// A contact an admin adds is unconfirmed and mailed a code (only the code); the code
/// confirms it, a wrong one or a viewer changes nothing, another organisation's
/// contact is unknown. Confirmations count against the organisation's emails per
/// hour: past them, 429 with `Retry-After` and no contact added.
#[tokio::test]
async fn a_customers_contact_is_confirmed_by_the_code_its_address_was_sent() {
    let issuers = Issuers::new();
    let app = spawn_app_on(
        TestKeyroll::new().setting("KEYROLL_EMAILS_PER_ORGANIZATION_HOUR", "2"),
        Some(issuers.access()),
    );
    let admin = || issuers.token("org_acme", "ada", "admin", app.clock.now());
    let added = app
        .as_customer(
            &admin(),
            "POST",
            "/v1/org/contacts",
            Some(json!({"email": "ops@acme.example"})),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
    assert_eq!(added.body["confirmed"], false);
    assert!(added.body["confirmationExpiresAt"].is_string());
    assert!(
        !added.text.to_lowercase().contains("code"),
        "{}",
        added.text
    );
    let id = added.body["id"].as_str().unwrap().to_owned();
    let sent = app.mailer.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0.as_str(), "ops@acme.example");
    let code = sent[0]
        .1
        .text
        .split("confirmation code: ")
        .nth(1)
        .map(|rest| rest[..14].to_owned())
        .unwrap();
    let confirm = |token: String, contact: String, code: Value| {
        let app = &app;
        async move {
            app.as_customer(
                &token,
                "POST",
                &format!("/v1/org/contacts/{contact}/confirm"),
                Some(json!({ "code": code })),
            )
            .await
        }
    };
    let wrong = confirm(admin(), id.clone(), json!("0000-0000-0000")).await;
    assert_problem(&wrong, 409);
    assert!(!wrong.text.contains(&code));
    let viewer = issuers.token("org_acme", "vic", "viewer", app.clock.now());
    assert_problem(&confirm(viewer, id.clone(), json!(code)).await, 403);
    let other = issuers.token("org_other", "oz", "admin", app.clock.now());
    assert_problem(&confirm(other, id.clone(), json!(code)).await, 404);
    assert_problem(
        &confirm(admin(), "con_unknown".into(), json!(code)).await,
        404,
    );
    assert_problem(&confirm(admin(), id.clone(), json!(7)).await, 422);
    let listed = app
        .as_customer(&admin(), "GET", "/v1/org/contacts", None)
        .await;
    assert_eq!(listed.body["contacts"][0]["confirmed"], false, "unchanged");

    let done = confirm(admin(), id.clone(), json!(code.to_lowercase())).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    assert_eq!(done.body["confirmed"], true);
    assert!(done.body.get("confirmationExpiresAt").is_none());
    let again = confirm(admin(), id.clone(), json!("anything")).await;
    assert_eq!(again.status, StatusCode::OK, "a confirmed contact stays so");

    // Two emails an hour: the second contact's confirmation is the last.
    let second = app
        .as_customer(
            &admin(),
            "POST",
            "/v1/org/contacts",
            Some(json!({"email": "sec@acme.example"})),
        )
        .await;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.text);
    let before = app
        .as_customer(&admin(), "GET", "/v1/org/contacts", None)
        .await
        .body;
    let refused = app
        .as_customer(
            &admin(),
            "POST",
            "/v1/org/contacts",
            Some(json!({"email": "third@acme.example"})),
        )
        .await;
    assert_problem(&refused, 429);
    assert!(refused.headers.get("retry-after").is_some());
    assert_eq!(app.mailer.sent().len(), 2, "no third email");
    let after = app
        .as_customer(&admin(), "GET", "/v1/org/contacts", None)
        .await
        .body;
    assert_eq!(after, before, "no contact added");
    // The operator's contacts are confirmed at once and mailed nothing.
    let operator = app
        .call(
            "POST",
            "/v1/organizations/org_acme/contacts",
            Some(json!({"email": "noc@acme.example"})),
        )
        .await;
    assert_eq!(operator.status, StatusCode::CREATED, "{}", operator.text);
    assert_eq!(operator.body["confirmed"], true);
    assert_eq!(app.mailer.sent().len(), 2);
}
