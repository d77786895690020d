//! GitHub secret-scanning partner endpoint. GitHub finds strings shaped like keyroll
//! secrets in public code and POSTs them here, signed; each live secret is rotated at
//! once with no human in the loop, and GitHub is told which tokens were real.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use keyroll_core::leak::{parse_report, sanitized};
use keyroll_core::service::LeakVerdict;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::http::problem::ApiError;
use crate::http::problems::*;
use crate::AppState;

/// One reported token, as GitHub sends it.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LeakReportItem {
    /// The candidate secret.
    pub token: String,
    /// The token type registered with GitHub.
    #[serde(rename = "type")]
    pub token_type: String,
    /// Where it was found (may be empty).
    #[serde(default)]
    pub url: Option<String>,
    /// `content`, `commit`, `pull_request_description`, … (any case; may be absent).
    #[serde(default)]
    pub source: Option<String>,
}

/// GitHub's feedback format: one label per reported token.
#[derive(Debug, Serialize, ToSchema)]
pub struct LeakFeedback {
    /// SHA-256 (hex) of the reported token: the token itself is never echoed.
    pub token_hash: String,
    pub token_type: String,
    /// `true_positive` (a keyroll secret, now rotated if it was live) or
    /// `false_positive`; absent when the token could not be handled this time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// What keyroll did: `rotated` (an emergency rotation started now), `revoked` (a
    /// previous secret, revoked alone: the key's current secret was not exposed),
    /// `already_handled` (dead, or already rotating for a leak), `not_ours`, or
    /// `failed` (a transient error: the report is answered 503 so GitHub retries it).
    pub outcome: String,
}

/// Body limit of a leak report (the other routes take 64 KiB).
pub const MAX_REPORT_BYTES: usize = 1024 * 1024;

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Receive a GitHub secret-scanning report. The body must be signed with ECDSA P-256
/// SHA-256 by a key in `KEYROLL_GITHUB_PUBLIC_KEYS` (`Github-Public-Key-Identifier`,
/// `Github-Public-Key-Signature`); otherwise 401 and nothing changes. Each live
/// keyroll secret gets an emergency rotation (trigger `leak`), once per token, each
/// token on its own: if one fails transiently the others are still handled, and the
/// answer is 503 (problem+json, each token's outcome in `tokens`) so GitHub retries.
#[utoipa::path(post, path = "/v1/leaks", tag = "leaks",
    security(()),
    request_body(content = Vec<LeakReportItem>, description = "GitHub's report, signed"),
    params(
        ("Github-Public-Key-Identifier" = String, Header, description = "id of GitHub's signing key"),
        ("Github-Public-Key-Signature" = String, Header, description = "base64 DER ECDSA P-256 SHA-256 signature of the raw body"),
    ),
    responses(
        (status = 200, body = Vec<LeakFeedback>),
        (status = 503, body = crate::http::problem::Problem, content_type = "application/problem+json", description = "some tokens could not be handled now; `tokens` holds each token's outcome, and a retry of the same report is safe"),
        Unauthenticated, TooLarge, Invalid,
    ))]
pub async fn report(
    State(state): State<AppState>,
    lambda: Option<axum::Extension<lambda_http::Context>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let keys = &state.keyroll.config().github_keys;
    let signed = match (
        header(&headers, "github-public-key-identifier"),
        header(&headers, "github-public-key-signature"),
    ) {
        (Some(key_id), Some(signature)) => keys.verify(key_id, signature, &body),
        _ => false,
    };
    if !signed {
        tracing::warn!(
            event = "leak_report_refused",
            "leak report without a valid GitHub signature"
        );
        return Err(ApiError::Unauthorized);
    }
    let tokens = parse_report(&body)?;
    let stop_at = crate::http::deadline::stop_at(lambda.as_deref());
    let outcomes = state.keyroll.report_leaks(&tokens, Some(stop_at)).await;
    let mut failed = false;
    let mut feedback = Vec::with_capacity(tokens.len());
    for (token, outcome) in tokens.iter().zip(outcomes) {
        let (label, outcome) = match &outcome {
            Ok(LeakVerdict::TruePositive { key_id, rotation }) => {
                tracing::warn!(
                    event = "leak_reported",
                    key_id = %key_id,
                    rotation_id = rotation.as_ref().map(|r| r.to_string()).unwrap_or_default(),
                    url = %sanitized(&token.url, 300),
                    "a keyroll secret was reported leaked"
                );
                let done = if rotation.is_some() {
                    "rotated"
                } else {
                    "already_handled"
                };
                (Some("true_positive"), done)
            }
            Ok(LeakVerdict::RevokedAlone { key_id }) => {
                tracing::warn!(
                    event = "leak_reported",
                    key_id = %key_id,
                    url = %sanitized(&token.url, 300),
                    "a previous keyroll secret was reported leaked and revoked alone"
                );
                (Some("true_positive"), "revoked")
            }
            Ok(LeakVerdict::FalsePositive) => (Some("false_positive"), "not_ours"),
            Err(_) => {
                failed = true;
                (None, "failed")
            }
        };
        feedback.push(LeakFeedback {
            token_hash: keyroll_core::secret::LookupHash::of(&token.token).to_hex(),
            token_type: sanitized(&token.token_type, 100),
            label: label.map(str::to_owned),
            outcome: outcome.to_owned(),
        });
    }
    if !failed {
        return Ok(Json(feedback).into_response());
    }
    let problem = serde_json::json!({
        "type": "https://keyroll.dev/problems/unavailable",
        "title": "Some reported tokens could not be handled now",
        "status": 503,
        "detail": "every other token was handled; retry the same report (it is idempotent)",
        "tokens": feedback,
    });
    Ok((
        StatusCode::SERVICE_UNAVAILABLE,
        [
            (header::CONTENT_TYPE, "application/problem+json"),
            (header::RETRY_AFTER, "60"),
        ],
        problem.to_string(),
    )
        .into_response())
}
