//! Request bodies of every route, through the real router (in process, in-memory
//! store): whatever the body, the answer is never a 5xx and the process never panics.
//! The first byte picks the route, the rest is the body.
#![no_main]

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{header, Request};
use keyroll_api::{app, AppState, Auth};
use keyroll_core::testing::TestKeyroll;
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

const TOKEN: &str = "fuzz-admin-token-0123456789";
const KEY: &str = "key_01jd0000000000000000000000";
const ROTATION: &str = "rot_01jd0000000000000000000000";

const ROUTES: &[(&str, &str, &str)] = &[
    ("POST", "/v1/keys", "application/json"),
    ("POST", "/v1/keys/import", "application/json"),
    ("POST", "/v1/keys/import", "text/csv"),
    ("POST", "/v1/keys/{key}/rotations", "application/json"),
    (
        "POST",
        "/v1/keys/{key}/emergency-rotation",
        "application/json",
    ),
    (
        "POST",
        "/v1/rotations/{rotation}/cancel",
        "application/json",
    ),
    (
        "POST",
        "/v1/rotations/{rotation}/complete",
        "application/json",
    ),
    (
        "POST",
        "/v1/rotations/{rotation}/extend",
        "application/json",
    ),
    ("POST", "/v1/verify", "application/json"),
    ("POST", "/v1/leaks", "application/json"),
    ("GET", "/v1/self/successor", "application/json"),
    ("GET", "/v1/compliance?{body}", "application/json"),
];

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    })
}

fn router() -> &'static axum::Router {
    static ROUTER: OnceLock<axum::Router> = OnceLock::new();
    ROUTER.get_or_init(|| {
        let keyroll = TestKeyroll::with_defaults().build().keyroll;
        app(AppState {
            keyroll: Arc::new(keyroll),
            auth: Auth::admin_token(TOKEN),
            queue: None,
            customers: None,
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((selector, body)) = data.split_first() else {
        return;
    };
    let (method, path, content_type) = ROUTES[*selector as usize % ROUTES.len()];
    let query: String = String::from_utf8_lossy(body)
        .chars()
        .filter(|c| c.is_ascii_graphic() && *c != '#')
        .collect();
    let uri = path
        .replace("{key}", KEY)
        .replace("{rotation}", ROTATION)
        .replace("{body}", &query);
    let Ok(request) = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body.to_vec()))
    else {
        return;
    };
    let response = runtime()
        .block_on(router().clone().oneshot(request))
        .expect("infallible");
    assert!(
        !response.status().is_server_error(),
        "{method} {path}: {}",
        response.status()
    );
});
