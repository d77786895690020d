//! A webhook receiver on a loopback port: answers with the status it is told to, and
//! keeps every request (headers and body) it got.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// What the receiver answered.
    pub status: u16,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub struct Receiver {
    pub url: String,
    answer: Arc<AtomicU16>,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    /// Listens on 127.0.0.1 and answers `status` until told otherwise.
    pub async fn start(status: u16) -> Self {
        let answer = Arc::new(AtomicU16::new(status));
        let received = Arc::new(Mutex::new(Vec::new()));
        let (answer_in, kept) = (answer.clone(), received.clone());
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
                let (answer, kept) = (answer_in.clone(), kept.clone());
                async move {
                    let status = answer.load(Ordering::SeqCst);
                    let headers = headers
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
                        .collect();
                    kept.lock().unwrap().push(Received {
                        headers,
                        body,
                        status,
                    });
                    axum::http::StatusCode::from_u16(status).unwrap()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            url: format!("http://{address}/hook"),
            answer,
            received,
        }
    }

    pub fn answer(&self, status: u16) {
        self.answer.store(status, Ordering::SeqCst);
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// The requests it accepted (answered 2xx).
    pub fn accepted(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| (200..300).contains(&r.status))
            .collect()
    }
}

/// Checks a received webhook with the Standard Webhooks reference library (PyPI), not
/// keyroll's own code: the interpreter is `KEYROLL_WEBHOOK_VERIFIER_PYTHON`, which
/// scripts/test installs. Fails (never skips) without it.
pub fn verify_with_standard_webhooks(secret: &str, request: &Received) -> bool {
    let python = std::env::var("KEYROLL_WEBHOOK_VERIFIER_PYTHON").unwrap_or_else(|_| {
        panic!("KEYROLL_WEBHOOK_VERIFIER_PYTHON is not set: run the suite with scripts/test, which installs the standardwebhooks library")
    });
    let script = r#"
import json, sys
from standardwebhooks import Webhook
data = json.load(sys.stdin)
try:
    Webhook(data["secret"]).verify(data["body"], data["headers"])
    print("ok")
except Exception as error:
    print("refused:", error)
"#;
    let input = serde_json::json!({
        "secret": secret,
        "body": request.body,
        "headers": {
            "webhook-id": request.header("webhook-id"),
            "webhook-timestamp": request.header("webhook-timestamp"),
            "webhook-signature": request.header("webhook-signature"),
        },
    });
    let mut child = std::process::Command::new(python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run the standardwebhooks verifier");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let answer = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "verifier failed: {answer}");
    answer.trim() == "ok"
}
