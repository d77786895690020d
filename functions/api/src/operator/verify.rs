//! `/v1/verify`: the company's gateway asks whether a secret is valid, and for what.

use axum::extract::State;
use axum::Json;
use keyroll_core::service::Verification;

use crate::dto::*;
use crate::http::extract::JsonBody;
use crate::http::problem::ApiError;
use crate::http::problems::*;
use crate::AppState;

/// Verify a secret: format and checksum, one lookup, the stored verifier, then the
/// stage and expiry at this second.
#[utoipa::path(post, path = "/v1/verify", tag = "verify",
    request_body = VerifyRequest,
    responses(
        (status = 200, body = VerifyResponse),
        MalformedBody, Unauthenticated, TooLarge, UnsupportedMediaType, Invalid,
    ))]
pub async fn verify(
    State(state): State<AppState>,
    body: JsonBody<VerifyRequest>,
) -> Result<Json<VerifyResponse>, ApiError> {
    let caller = body.value.caller.as_ref().and_then(|c| c.fingerprint());
    let verification = state.keyroll.verify_by(&body.value.secret, caller).await?;
    let (code, record) = match verification {
        Verification::Malformed => (VerifyCode::Malformed, None),
        Verification::NotFound => (VerifyCode::NotFound, None),
        Verification::Valid(r) => (VerifyCode::Valid, Some(r)),
        Verification::Expired(r) => (VerifyCode::Expired, Some(r)),
        Verification::Revoked(r) => (VerifyCode::Revoked, Some(r)),
    };
    let valid = matches!(code, VerifyCode::Valid);
    Ok(Json(VerifyResponse {
        valid,
        code,
        key_id: record.as_ref().map(|r| r.key_id.to_string()),
        organization_id: record
            .as_ref()
            .filter(|_| valid)
            .map(|r| r.organization_id.to_string()),
        scopes: record
            .as_ref()
            .filter(|_| valid)
            .map(|r| r.scopes.iter().map(ToString::to_string).collect()),
        rate_limit: record.as_ref().filter(|_| valid).map(|r| r.rate_limit),
        stage: record.as_ref().map(|r| r.stage),
        expires_at: record.as_ref().and_then(|r| r.expires_at),
    }))
}
