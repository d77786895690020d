//! GitHub secret-scanning partner endpoint. GitHub finds strings shaped like keyroll
//! secrets in public code and POSTs them here, signed; each live secret is rotated at
//! once with no human in the loop, and GitHub is told which tokens were real.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use keyroll_core::leak::{parse_report, sanitized};
use keyroll_core::service::LeakVerdict;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::problem::ApiError;
use crate::AppState;

/// One reported token, as GitHub sends it.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LeakReportItem {
    /// The candidate secret.
    pub token: String,
    /// The token type registered with GitHub.
    #[serde(rename = "type")]
    pub token_type: String,
    /// Where it was found.
    pub url: String,
    /// `content`, `commit`, `pull_request_description`, …
    pub source: String,
}

/// GitHub's feedback format: one label per reported token.
#[derive(Debug, Serialize, ToSchema)]
pub struct LeakFeedback {
    /// SHA-256 (hex) of the reported token: the token itself is never echoed.
    pub token_hash: String,
    pub token_type: String,
    /// `true_positive` (a keyroll secret, now rotated if it was live) or
    /// `false_positive`.
    pub label: String,
}

/// Body limit of a leak report (the other routes take 64 KiB).
pub const MAX_REPORT_BYTES: usize = 1024 * 1024;

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Receive a GitHub secret-scanning report. The body must be signed with ECDSA P-256
/// SHA-256 by a key in `KEYROLL_GITHUB_PUBLIC_KEYS` (`Github-Public-Key-Identifier`,
/// `Github-Public-Key-Signature`); otherwise 401 and nothing changes. Each live
/// keyroll secret gets an emergency rotation (trigger `leak`), once per token.
#[utoipa::path(post, path = "/v1/leaks", tag = "leaks",
    security(()),
    request_body(content = Vec<LeakReportItem>, description = "GitHub's report, signed"),
    params(
        ("Github-Public-Key-Identifier" = String, Header, description = "id of GitHub's signing key"),
        ("Github-Public-Key-Signature" = String, Header, description = "base64 DER ECDSA P-256 SHA-256 signature of the raw body"),
    ),
    responses(
        (status = 200, body = Vec<LeakFeedback>),
        (status = 401, body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 413, body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::problem::Problem, content_type = "application/problem+json"),
    ))]
pub async fn report(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Vec<LeakFeedback>>, ApiError> {
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
    let mut feedback = Vec::with_capacity(tokens.len());
    for token in &tokens {
        let verdict = state
            .keyroll
            .report_leak(&token.token, &token.url, &token.source)
            .await?;
        let label = match &verdict {
            LeakVerdict::TruePositive { key_id, rotation } => {
                tracing::warn!(
                    event = "leak_reported",
                    key_id = %key_id,
                    rotation_id = rotation.as_ref().map(|r| r.to_string()).unwrap_or_default(),
                    url = %sanitized(&token.url, 300),
                    "a keyroll secret was reported leaked"
                );
                "true_positive"
            }
            LeakVerdict::FalsePositive => "false_positive",
        };
        feedback.push(LeakFeedback {
            token_hash: keyroll_core::secret::LookupHash::of(&token.token).to_hex(),
            token_type: sanitized(&token.token_type, 100),
            label: label.to_owned(),
        });
    }
    Ok(Json(feedback))
}
