//! Requests to keyroll: keyroll-local with its admin token, or the deployed API signed
//! with SigV4. Problems (RFC 9457) become [`CliError::Api`].

use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::error::{CliError, FieldProblem, Result};
use crate::sigv4::Signer;

/// How requests are authenticated.
#[derive(Debug, Clone)]
pub enum Auth {
    /// keyroll-local's admin token.
    Token(String),
    /// The deployed API's IAM auth.
    SigV4(Signer),
}

/// A request body.
pub enum Body {
    Empty,
    Json(Value),
    Csv(String),
}

pub struct Api {
    base: url::Url,
    auth: Auth,
    http: reqwest::Client,
}

impl Api {
    pub fn new(base: url::Url, auth: Auth) -> Result<Self> {
        // A base URL with a path (a custom domain's base path) keeps it when joined.
        let mut base = base;
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            // A redirect would carry the credentials' headers elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("keyroll-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CliError::Failed(format!("HTTP client: {e}")))?;
        Ok(Self { base, auth, http })
    }

    /// `path` (with `query`) under the base URL.
    pub fn url(&self, path: &str, query: &[(&str, String)]) -> Result<url::Url> {
        let mut url = self
            .base
            .join(path.trim_start_matches('/'))
            .map_err(|e| CliError::Usage(format!("URL: {e}")))?;
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        Ok(url)
    }

    /// Sends a request; the answer's body as text with its headers, or the problem
    /// keyroll answered.
    pub async fn send_text(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, String)],
        body: Body,
    ) -> Result<(String, reqwest::header::HeaderMap)> {
        let url = self.url(path, query)?;
        let (content_type, bytes) = match body {
            Body::Empty => (None, Vec::new()),
            Body::Json(value) => (Some("application/json"), value.to_string().into_bytes()),
            Body::Csv(text) => (Some("text/csv"), text.into_bytes()),
        };
        let mut headers: Vec<(String, String)> = Vec::new();
        if let Some(content_type) = content_type {
            headers.push(("content-type".into(), content_type.into()));
        }
        match &self.auth {
            Auth::Token(token) => headers.push(("authorization".into(), format!("Bearer {token}"))),
            Auth::SigV4(signer) => {
                let host = url.host_str().unwrap_or_default().to_owned();
                let host = match url.port() {
                    Some(port) => format!("{host}:{port}"),
                    None => host,
                };
                let mut signed = headers.clone();
                signed.push(("host".into(), host));
                headers.extend(signer.headers(
                    method,
                    url.as_str(),
                    &signed,
                    &bytes,
                    SystemTime::now(),
                )?);
            }
        }
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|e| CliError::Failed(format!("method: {e}")))?;
        let mut request = self.http.request(method, url.clone());
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let unreachable = |e: reqwest::Error| CliError::Unreachable {
            url: self.base.to_string(),
            message: e.without_url().to_string(),
        };
        let response = request.body(bytes).send().await.map_err(unreachable)?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.map_err(unreachable)?;
        if (200..300).contains(&status) {
            return Ok((text, headers));
        }
        let problem: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        // A 404 that is not keyroll's problem document is a wrong URL, not a key that
        // does not exist: scripts must not take it for one.
        if status == 404 && !problem["title"].is_string() {
            return Err(CliError::Failed(format!(
                "{url} answered 404 without keyroll's problem document: is KEYROLL_URL keyroll's API?"
            )));
        }
        let fields = problem["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| FieldProblem {
                field: e["field"].as_str().unwrap_or("?").to_owned(),
                message: e["message"].as_str().unwrap_or("?").to_owned(),
            })
            .collect();
        Err(CliError::Api {
            status,
            title: problem["title"]
                .as_str()
                .unwrap_or_else(|| {
                    reqwest::StatusCode::from_u16(status)
                        .ok()
                        .and_then(|s| s.canonical_reason())
                        .unwrap_or("error")
                })
                .to_owned(),
            detail: problem["detail"].as_str().map(str::to_owned),
            fields,
        })
    }

    /// Sends a request and reads its JSON answer (`null` for an empty one).
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, String)],
        body: Body,
    ) -> Result<Value> {
        let (text, _) = self.send_text(method, path, query, body).await?;
        if text.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text)
            .map_err(|e| CliError::Failed(format!("keyroll's answer is not JSON: {e}")))
    }

    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value> {
        self.send("GET", path, query, Body::Empty).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Result<Value> {
        self.send("POST", path, &[], Body::Json(body)).await
    }
}

/// A path segment from user input: every byte but the unreserved ones percent-encoded,
/// so an id can never reach another route.
pub fn segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
