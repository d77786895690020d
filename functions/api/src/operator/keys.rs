//! `/v1/keys` and `/v1/keys/{keyId}` (and its audit trail): issuing a key, reading one,
//! revoking one.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use keyroll_core::idempotency::{IdempotentOperation, RequestOutcome};
use keyroll_core::service::NewKey;

use super::auth::Authenticated;
use crate::actions::audit::{audit_of, AuditPaging};
use crate::actions::revoke::revoke;
use crate::actions::update::update;
use crate::dto::*;
use crate::http::extract::{JsonBody, QueryParams};
use crate::http::idempotency::{idempotent, Outcome};
use crate::http::params::*;
use crate::http::problem::ApiError;
use crate::http::problems::*;
use crate::AppState;

/// Issue a key. The secret is in this response only.
#[utoipa::path(post, path = "/v1/keys", tag = "keys",
    request_body = CreateKeyRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "16-255 visible ASCII characters, e.g. a random UUID")),
    responses(
        (status = 201, body = KeyWithSecretResponse),
        MalformedBody, Unauthenticated, TooLarge, UnsupportedMediaType, Invalid,
    ))]
pub async fn create_key(
    State(state): State<AppState>,
    Extension(Authenticated(actor)): Extension<Authenticated>,
    headers: HeaderMap,
    body: JsonBody<CreateKeyRequest>,
) -> Result<Response, ApiError> {
    let request = body.value;
    let new_key = NewKey::parse(
        &request.organization_id,
        &request.name,
        &request.scopes,
        request.rate_limit,
        request.class,
        request.expires_at.as_deref(),
    )?;
    let keyroll = state.keyroll.clone();
    idempotent(
        &state,
        actor,
        &headers,
        IdempotentOperation::IssueKey,
        &body.raw,
        RequestOutcome::Created,
        |caller| async move {
            let issued = keyroll.issue_key(new_key, caller).await?;
            Ok(Outcome::Key(issued.key, Some(issued.secret)))
        },
    )
    .await
}

/// Revoke a key: every secret of it answers `REVOKED` from now on, a rotation in
/// progress ends `cancelled` (its held new secret is deleted), the customer is told
/// once (`key.revoked`). Revoking a revoked key answers the same and writes nothing.
#[utoipa::path(post, path = "/v1/keys/{keyId}/revoke", tag = "keys",
    request_body = RevokeKeyRequest,
    params(("keyId" = String, Path, description = "key_…"),
           ("Idempotency-Key" = Option<String>, Header, description = "16-255 visible ASCII characters")),
    responses(
        (status = 200, body = KeyResponse),
        MalformedBody, Unauthenticated, NotFound, StateConflict, TooLarge, UnsupportedMediaType, Invalid,
    ))]
pub async fn revoke_key(
    State(state): State<AppState>,
    Extension(Authenticated(actor)): Extension<Authenticated>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: JsonBody<RevokeKeyRequest>,
) -> Result<Response, ApiError> {
    revoke(&state, actor, key_id(&raw)?, None, &headers, body).await
}

/// Change a key (a JSON merge patch, RFC 7396; sent as `application/merge-patch+json`
/// or `application/json`): its name, scopes, rate limit, metadata or expiry. Every
/// secret record is rewritten in the same transaction, so verification answers with
/// the new scopes and rate limit at once (the authorizer within its cache bound).
/// `If-Match` with the key's `ETag` makes the change conditional (412 if it changed
/// since). Audited with only what changed; a patch that changes nothing writes nothing.
#[utoipa::path(patch, path = "/v1/keys/{keyId}", tag = "keys",
    request_body(content = UpdateKeyRequest, content_type = "application/merge-patch+json"),
    params(("keyId" = String, Path, description = "key_…"),
           ("If-Match" = Option<String>, Header, description = "the key's ETag, e.g. \"12\"")),
    responses(
        (status = 200, body = KeyResponse, headers(("ETag" = String, description = "the key's revision"))),
        MalformedBody, Unauthenticated, NotFound, StateConflict, PreconditionFailed, TooLarge, UnsupportedMediaType, Invalid,
    ))]
pub async fn update_key(
    State(state): State<AppState>,
    Extension(Authenticated(actor)): Extension<Authenticated>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: JsonBody<UpdateKeyRequest>,
) -> Result<Response, ApiError> {
    let id = key_id(&raw)?;
    let patch = body.value.into_patch()?;
    update(&state, actor, id, None, &headers, patch).await
}

/// A key with its secret versions (never a hash or a secret).
#[utoipa::path(get, path = "/v1/keys/{keyId}", tag = "keys",
    params(("keyId" = String, Path, description = "key_…")),
    responses(
        (status = 200, body = KeyResponse, headers(("ETag" = String, description = "the key's revision, for `If-Match`"))),
        Unauthenticated, NotFound,
    ))]
pub async fn get_key(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    let (key, usage) = state.keyroll.key_with_usage(&key_id(&raw)?).await?;
    Ok((
        [(
            axum::http::header::ETAG,
            crate::http::conditional::etag(key.revision),
        )],
        Json(KeyResponse {
            key: KeyView::with_usage(&key, &usage),
        }),
    )
        .into_response())
}

/// A page of a key's audit trail (each event with what changed), and whether its
/// whole hash chain is intact: the check reads every event, 200 per query, in
/// constant memory.
#[utoipa::path(get, path = "/v1/keys/{keyId}/audit", tag = "audit",
    params(("keyId" = String, Path, description = "key_…"), AuditPaging),
    responses(
        (status = 200, body = AuditResponse),
        Unauthenticated, NotFound, Invalid,
    ))]
pub async fn audit(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    QueryParams(paging): QueryParams<AuditPaging>,
) -> Result<Json<AuditResponse>, ApiError> {
    audit_of(&state, key_id(&raw)?, &paging, Viewer::Operator).await
}
