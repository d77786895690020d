//! The in-process app: the real router over the in-memory store and a manual clock,
//! driven with `oneshot`, and the helpers every area uses.

pub(crate) use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
pub(crate) use axum::http::{header, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use keyroll_api::{app, AppState, Auth};
pub(crate) use keyroll_core::testing::TestKeyroll;
pub(crate) use keyroll_core::time::{ManualClock, Timestamp};
pub(crate) use serde_json::{json, Value};
use tower::ServiceExt;

pub(crate) const TOKEN: &str = "test-admin-token-0123456789";

pub(crate) struct TestApp {
    pub(crate) router: Router,
    pub(crate) clock: ManualClock,
    /// What keyroll mailed (contacts' confirmation codes).
    pub(crate) mailer: Arc<keyroll_core::notify::mailer::MemoryMailer>,
}

pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) content_type: String,
    pub(crate) replayed: bool,
    /// The `ETag` header, if any.
    pub(crate) etag: Option<String>,
    /// The `Sunset` header (RFC 8594), if any.
    pub(crate) sunset: Option<String>,
    /// Every header of the answer.
    pub(crate) headers: axum::http::HeaderMap,
    pub(crate) body: Value,
    pub(crate) text: String,
}

pub(crate) fn epoch() -> Timestamp {
    keyroll_core::testing::epoch()
}

pub(crate) fn spawn_app() -> TestApp {
    spawn_app_with(&[])
}

/// The app with settings beyond the test defaults.
pub(crate) fn spawn_app_with(settings: &[(&str, &str)]) -> TestApp {
    spawn_app_for(settings, None)
}

/// The app with customer routes, trusting `issuers`' keys.
pub(crate) fn spawn_customer_app(issuers: &crate::customers::Issuers) -> TestApp {
    spawn_app_for(&[], Some(issuers.access()))
}

fn spawn_app_for(
    settings: &[(&str, &str)],
    customers: Option<keyroll_api::customer::CustomerAccess>,
) -> TestApp {
    let test = settings
        .iter()
        .fold(TestKeyroll::new(), |test, (name, value)| {
            test.setting(name, value)
        });
    spawn_app_on(test, customers)
}

/// The app over the service `test` wires (a vault or store of the test's own).
pub(crate) fn spawn_app_on(
    test: TestKeyroll,
    customers: Option<keyroll_api::customer::CustomerAccess>,
) -> TestApp {
    let wired = test.build();
    let router = app(AppState {
        keyroll: Arc::new(wired.keyroll),
        queue: None,
        auth: Auth::admin_token(TOKEN),
        customers,
    });
    TestApp {
        router,
        clock: wired.clock,
        mailer: wired.mailer,
    }
}

impl TestApp {
    pub(crate) async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let replayed = response.headers().get("idempotent-replayed").is_some();
        let etag = response
            .headers()
            .get(header::ETAG)
            .map(|v| v.to_str().unwrap().to_owned());
        let sunset = response
            .headers()
            .get("sunset")
            .map(|v| v.to_str().unwrap().to_owned());
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            content_type,
            replayed,
            etag,
            sunset,
            headers,
            body,
            text,
        }
    }

    pub(crate) async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        self.raw(method, path, body.map(|b| b.to_string()), &[])
            .await
    }

    pub(crate) async fn raw(
        &self,
        method: &str,
        path: &str,
        body: Option<String>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut builder = Request::builder().method(method).uri(path);
        let mut has_auth = false;
        let mut has_type = false;
        for (name, value) in headers {
            has_auth |= name.eq_ignore_ascii_case("authorization");
            has_type |= name.eq_ignore_ascii_case("content-type");
            builder = builder.header(*name, *value);
        }
        if !has_auth {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {TOKEN}"));
        }
        if body.is_some() && !has_type {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
        }
        let request = builder
            .body(body.map(Body::from).unwrap_or_else(Body::empty))
            .unwrap();
        self.send(request).await
    }

    pub(crate) async fn create_key(&self) -> (String, String) {
        let reply = self
            .call("POST", "/v1/keys", Some(json!({"organizationId": "org_acme", "name": "prod", "scopes": ["charges:read"], "rateLimit": 100})))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        (
            reply.body["key"]["id"].as_str().unwrap().to_owned(),
            reply.body["secret"].as_str().unwrap().to_owned(),
        )
    }

    pub(crate) async fn verify(&self, secret: &str) -> String {
        let reply = self
            .call("POST", "/v1/verify", Some(json!({"secret": secret})))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        reply.body["code"].as_str().unwrap().to_owned()
    }

    /// Everything observable about a key, to prove a refused request changed nothing.
    pub(crate) async fn snapshot(&self, key_id: &str) -> (Value, Value, Value) {
        let key = self
            .call("GET", &format!("/v1/keys/{key_id}"), None)
            .await
            .body;
        let rotations = self
            .call("GET", &format!("/v1/keys/{key_id}/rotations"), None)
            .await
            .body;
        let audit = self
            .call("GET", &format!("/v1/keys/{key_id}/audit"), None)
            .await
            .body;
        (key, rotations, audit)
    }
}

pub(crate) fn assert_problem(reply: &Reply, status: u16) {
    assert_eq!(reply.status.as_u16(), status, "{}", reply.text);
    assert_eq!(
        reply.content_type, "application/problem+json",
        "{}",
        reply.text
    );
    assert_eq!(reply.body["status"], status, "{}", reply.text);
    assert!(
        reply.body["type"]
            .as_str()
            .unwrap()
            .starts_with("https://keyroll.dev/problems/"),
        "{}",
        reply.text
    );
    assert!(
        reply.body["title"].is_string() && reply.body["detail"].is_string(),
        "{}",
        reply.text
    );
}

pub(crate) fn sha256_hex(text: &str) -> String {
    keyroll_core::secret::LookupHash::of(text).to_hex()
}
