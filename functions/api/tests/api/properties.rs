//! Property tests of the rotation state machine, through the API (in process, on the
//! in-memory store, with a manual clock): any sequence of schedule / emergency /
//! cancel / extend / complete / process / verify at arbitrary times, with any request
//! replayed, keeps the invariants named below. Each invariant is checked after every
//! step; a failing sequence is shrunk by proptest to a minimal one.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use keyroll_api::{app, AppState, Auth};
use keyroll_core::testing::TestKeyroll;
use keyroll_core::time::{Clock, ManualClock, Timestamp};
use proptest::prelude::*;
use serde_json::{json, Value};
use tower::ServiceExt;

const TOKEN: &str = "property-test-admin-token";
const DAY: u64 = 86_400;

#[derive(Debug, Clone)]
enum Op {
    Schedule {
        immediate: bool,
        delay: u64,
        grace: u64,
    },
    Emergency {
        grace: u64,
    },
    Cancel,
    Complete,
    Extend {
        add: u64,
    },
    Process,
    Wait {
        seconds: u64,
    },
    Verify {
        which: usize,
    },
    ReplayLast,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (any::<bool>(), 0..2 * DAY, 60..3 * DAY)
            .prop_map(|(immediate, delay, grace)| Op::Schedule { immediate, delay, grace }),
        2 => prop_oneof![Just(0u64), 1..4 * 3600u64].prop_map(|grace| Op::Emergency { grace }),
        1 => Just(Op::Cancel),
        1 => Just(Op::Complete),
        1 => (1..2 * DAY).prop_map(|add| Op::Extend { add }),
        3 => Just(Op::Process),
        4 => prop_oneof![0..120u64, 0..3 * DAY].prop_map(|seconds| Op::Wait { seconds }),
        2 => any::<usize>().prop_map(|which| Op::Verify { which }),
        2 => Just(Op::ReplayLast),
    ]
}

struct Reply {
    status: StatusCode,
    body: Value,
    replayed: bool,
}

/// A state-changing request, kept so it can be replayed byte for byte.
#[derive(Clone)]
struct Sent {
    method: &'static str,
    path: String,
    body: String,
    idempotency_key: String,
    status: StatusCode,
    reply: Value,
    at: Timestamp,
}

struct World {
    router: axum::Router,
    clock: ManualClock,
    key: String,
    /// Every secret ever minted for the key, in order.
    secrets: Vec<String>,
    /// Secrets seen not to verify: they must never verify again.
    dead: HashSet<String>,
    /// Emergency caps: a secret may not verify at or after this instant.
    caps: HashMap<String, Timestamp>,
    last: Option<Sent>,
    step: usize,
}

impl World {
    async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        idempotency_key: Option<&str>,
    ) -> Reply {
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"));
        if body.is_some() {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
        }
        if let Some(key) = idempotency_key {
            builder = builder.header("idempotency-key", key);
        }
        let request = builder
            .body(
                body.map(|b| Body::from(b.to_owned()))
                    .unwrap_or_else(Body::empty),
            )
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let replayed = response.headers().contains_key("idempotent-replayed");
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            replayed,
        }
    }

    /// A state-changing call with a fresh Idempotency-Key; never a 5xx.
    async fn change(&mut self, method: &'static str, path: String, body: Value) -> Reply {
        let body = body.to_string();
        let idempotency_key = format!("property-step-{:06}-{}", self.step, self.key);
        let reply = self
            .send(method, &path, Some(&body), Some(&idempotency_key))
            .await;
        assert!(
            reply.status.as_u16() < 500,
            "{method} {path} {body}: {} {}",
            reply.status,
            reply.body
        );
        if reply.status.is_success() {
            self.last = Some(Sent {
                method,
                path,
                body,
                idempotency_key,
                status: reply.status,
                reply: reply.body.clone(),
                at: self.clock.now(),
            });
        }
        reply
    }

    async fn key_view(&self) -> Value {
        let reply = self
            .send("GET", &format!("/v1/keys/{}", self.key), None, None)
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        reply.body["key"].clone()
    }

    /// What a replay must leave untouched: the key (without its usage figures), its
    /// rotations and its audit trail.
    async fn snapshot(&self) -> (Value, Value, Value) {
        let mut key = self.key_view().await;
        for version in key["versions"].as_array_mut().unwrap() {
            let version = version.as_object_mut().unwrap();
            version.remove("lastUsedAt");
            version.remove("dailyUses");
        }
        let rotations = self
            .send(
                "GET",
                &format!("/v1/keys/{}/rotations", self.key),
                None,
                None,
            )
            .await
            .body;
        let audit = self
            .send("GET", &format!("/v1/keys/{}/audit", self.key), None, None)
            .await
            .body;
        (key, rotations, audit)
    }

    async fn active_rotation(&self) -> Option<String> {
        self.key_view().await["activeRotationId"]
            .as_str()
            .map(str::to_owned)
    }

    async fn verify(&self, secret: &str) -> String {
        let reply = self
            .send(
                "POST",
                "/v1/verify",
                Some(&json!({"secret": secret}).to_string()),
                None,
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        reply.body["code"].as_str().unwrap().to_owned()
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    fn remember_secret(&mut self, reply: &Reply) {
        if let Some(secret) = reply.body["secret"].as_str() {
            self.secrets.push(secret.to_owned());
        }
    }

    async fn apply(&mut self, op: &Op) {
        self.step += 1;
        match op {
            Op::Schedule {
                immediate,
                delay,
                grace,
            } => {
                let mut body = json!({"gracePeriodSeconds": grace, "reason": "property test"});
                if *immediate {
                    body["immediate"] = json!(true);
                } else {
                    body["scheduledAt"] = json!(self.now().plus_seconds(*delay).to_rfc3339());
                }
                let reply = self
                    .change("POST", format!("/v1/keys/{}/rotations", self.key), body)
                    .await;
                self.remember_secret(&reply);
            }
            Op::Emergency { grace } => {
                let before = self.key_view().await;
                let now = self.now();
                let reply = self
                    .change(
                        "POST",
                        format!("/v1/keys/{}/emergency-rotation", self.key),
                        json!({"reason": "property test", "gracePeriodSeconds": grace}),
                    )
                    .await;
                if reply.status.is_success() {
                    let after = self.key_view().await;
                    emergency_never_lengthens_a_life(&before, &after, now.plus_seconds(*grace));
                    for secret in &self.secrets {
                        let cap = self.caps.entry(secret.clone()).or_insert(Timestamp::MAX);
                        *cap = (*cap).min(now.plus_seconds(*grace));
                    }
                    self.remember_secret(&reply);
                }
            }
            Op::Cancel | Op::Complete => {
                if let Some(rotation) = self.active_rotation().await {
                    let action = if matches!(op, Op::Cancel) {
                        "cancel"
                    } else {
                        "complete"
                    };
                    self.change(
                        "POST",
                        format!("/v1/rotations/{rotation}/{action}"),
                        json!({"reason": "property test"}),
                    )
                    .await;
                }
            }
            Op::Extend { add } => {
                if let Some(rotation) = self.active_rotation().await {
                    self.change(
                        "POST",
                        format!("/v1/rotations/{rotation}/extend"),
                        json!({"gracePeriodSeconds": add, "reason": "property test"}),
                    )
                    .await;
                }
            }
            Op::Process => {
                let reply = self.send("POST", "/v1/admin/process", None, None).await;
                assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
                assert_eq!(reply.body["failed"], 0);
            }
            Op::Wait { seconds } => self.clock.advance(*seconds),
            Op::Verify { which } => {
                let secret = self.secrets[which % self.secrets.len()].clone();
                self.verify(&secret).await;
            }
            Op::ReplayLast => {
                // Idempotency-Keys are remembered for 24 hours (like Stripe's); a later
                // "replay" is a new request by design.
                let remembered = self
                    .last
                    .clone()
                    .filter(|sent| self.clock.now().seconds_since(sent.at) < DAY as i64);
                if let Some(sent) = remembered {
                    let before = self.snapshot().await;
                    let reply = self
                        .send(
                            sent.method,
                            &sent.path,
                            Some(&sent.body),
                            Some(&sent.idempotency_key),
                        )
                        .await;
                    // replaying_a_step_changes_nothing
                    assert_eq!(
                        reply.status, sent.status,
                        "a replay answers as the first time"
                    );
                    // The same rotation (shown as it is now) and the same one-time
                    // secret: a retry never mints another.
                    assert_eq!(
                        reply.body["rotation"]["id"], sent.reply["rotation"]["id"],
                        "the same rotation"
                    );
                    assert_eq!(
                        reply.body["secret"], sent.reply["secret"],
                        "the same secret, not a new one"
                    );
                    assert!(reply.replayed, "marked Idempotent-Replayed");
                    assert_eq!(self.snapshot().await, before, "a replay changes nothing");
                }
            }
        }
        self.check_invariants().await;
    }

    async fn check_invariants(&mut self) {
        let now = self.now();
        let key = self.key_view().await;
        let mut valid = 0;
        for secret in self.secrets.clone() {
            let code = self.verify(&secret).await;
            if code == "VALID" {
                valid += 1;
                // a_dead_secret_never_comes_back
                assert!(
                    !self.dead.contains(&secret),
                    "a dead secret verified again at {now}"
                );
                // no_secret_outlives_its_deadline (the emergency caps)
                if let Some(cap) = self.caps.get(&secret) {
                    assert!(
                        now < *cap,
                        "a secret outlived its emergency deadline {cap} at {now}"
                    );
                }
                // ... and the expiry the key shows
                let version = key["versions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|v| v["prefix"].as_str() == Some(&secret[..16]))
                    .expect("every secret is a version of the key");
                if let Some(expires) = version["expiresAt"].as_str() {
                    assert!(
                        now < Timestamp::parse(expires).unwrap(),
                        "verified at or after its expiry"
                    );
                }
            } else {
                self.dead.insert(secret);
            }
        }
        // a_key_always_has_a_valid_secret
        assert!(valid >= 1, "no valid secret left at {now}: {key}");
        // the_audit_chain_always_verifies
        let audit = self
            .send("GET", &format!("/v1/keys/{}/audit", self.key), None, None)
            .await;
        assert_eq!(audit.body["chainValid"], true, "{}", audit.body);
    }
}

/// emergency_never_lengthens_a_life: every secret the key had keeps an expiry no later
/// than before and no later than the emergency's deadline.
fn emergency_never_lengthens_a_life(before: &Value, after: &Value, deadline: Timestamp) {
    for old in before["versions"].as_array().unwrap() {
        if old["stage"] == "revoked" {
            continue;
        }
        let new = after["versions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["version"] == old["version"])
            .unwrap();
        if new["stage"] == "revoked" {
            continue;
        }
        let expires = Timestamp::parse(
            new["expiresAt"]
                .as_str()
                .expect("an emergency sets an expiry"),
        )
        .unwrap();
        assert!(
            expires <= deadline,
            "version {} outlives the emergency",
            old["version"]
        );
        if let Some(was) = old["expiresAt"].as_str() {
            assert!(
                expires <= Timestamp::parse(was).unwrap(),
                "an emergency lengthened version {}",
                old["version"]
            );
        }
    }
}

async fn world() -> World {
    let wired = TestKeyroll::with_defaults()
        .setting("KEYROLL_MIN_GRACE_SECONDS", "60")
        .build();
    let clock = wired.clock;
    let router = app(AppState {
        keyroll: Arc::new(wired.keyroll),
        auth: Auth::admin_token(TOKEN),
        queue: None,
        customers: None,
    });
    let mut world = World {
        router,
        clock,
        key: String::new(),
        secrets: Vec::new(),
        dead: HashSet::new(),
        caps: HashMap::new(),
        last: None,
        step: 0,
    };
    let created = world
        .send(
            "POST",
            "/v1/keys",
            Some(
                &json!({"organizationId": "org_prop", "name": "property", "rateLimit": 1})
                    .to_string(),
            ),
            None,
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    world.key = created.body["key"]["id"].as_str().unwrap().to_owned();
    world
        .secrets
        .push(created.body["secret"].as_str().unwrap().to_owned());
    world
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// The invariants, after every step of any sequence:
    /// a_key_always_has_a_valid_secret, no_secret_outlives_its_deadline,
    /// a_dead_secret_never_comes_back, emergency_never_lengthens_a_life,
    /// the_audit_chain_always_verifies, replaying_a_step_changes_nothing.
    #[test]
    fn rotation_invariants_hold_for_any_sequence(ops in proptest::collection::vec(op(), 1..25)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let mut world = world().await;
            world.check_invariants().await;
            for op in &ops {
                world.apply(op).await;
            }
        });
    }
}
