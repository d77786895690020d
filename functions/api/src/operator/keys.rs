//! `/v1/keys` and `/v1/keys/{keyId}` (and its audit trail): issuing a key, listing and
//! finding keys, reading, changing and revoking one.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use keyroll_core::error::Error;
use keyroll_core::idempotency::{IdempotentOperation, RequestOutcome};
use keyroll_core::index::KeyListFilter;
use keyroll_core::key::KeyStatus;
use keyroll_core::service::NewKey;

use super::auth::Authenticated;
use crate::actions::audit::{audit_of, AuditPaging};
use crate::actions::delivery_key::register;
use crate::actions::revoke::revoke;
use crate::actions::update::update;
use crate::dto::limits::{KEY_LIST_PAGE, MAX_PREFIX_CHARS};
use crate::dto::*;
use crate::http::cursor::{key_list_cursor, parse_key_list_cursor};
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
        MalformedBody, Unauthenticated, StateConflict, TooLarge, UnsupportedMediaType, Invalid,
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
        request
            .expires_at
            .as_deref()
            .map(|text| requested_time("expiresAt", text))
            .transpose()?,
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

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct KeyListQuery {
    /// Only this organisation's keys.
    organization_id: Option<String>,
    /// Only keys of this status: `active`, `revoked` or `expired`.
    status: Option<String>,
    /// Only the key one of whose secrets (any stage) shows exactly this prefix, as a
    /// customer quotes it (`sk_live_3fA9kQ2z`): one page, from a lookup index.
    prefix: Option<String>,
    /// Keys per page, 1-100 (default 50).
    limit: Option<usize>,
    /// `nextCursor` of the previous page (ignored with `prefix`).
    cursor: Option<String>,
}

/// Keys, newest first: all of them, an organisation's, of one status, or the one a
/// shown prefix names. Each page costs the same whatever the table holds.
#[utoipa::path(get, path = "/v1/keys", tag = "keys",
    params(KeyListQuery),
    responses(
        (status = 200, body = KeyListResponse),
        Unauthenticated, Invalid,
    ))]
pub async fn list_keys(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<KeyListQuery>,
) -> Result<Json<KeyListResponse>, ApiError> {
    let limit = crate::dto::page_limit(query.limit, 50, KEY_LIST_PAGE)?;
    let status = query.status.as_deref().map(key_status).transpose()?;
    let filter = KeyListFilter {
        organization: query
            .organization_id
            .as_deref()
            .map(organization)
            .transpose()?,
        status,
    };
    let before = query
        .cursor
        .as_deref()
        .map(parse_key_list_cursor)
        .transpose()?;
    // A prefix names a few keys at most: one page, whatever the cursor says.
    if let Some(prefix) = query.prefix {
        let shown = (1..=MAX_PREFIX_CHARS).contains(&prefix.chars().count())
            && prefix.bytes().all(|b| b.is_ascii_graphic());
        if !shown {
            return Err(Error::invalid("prefix", "must be 1-72 visible ASCII characters").into());
        }
        let keys = state.keyroll.keys_by_prefix(&prefix, &filter).await?;
        return Ok(Json(KeyListResponse {
            keys: keys.iter().map(KeyView::from).collect(),
            next_cursor: None,
        }));
    }
    let page = state
        .keyroll
        .list_keys(&filter, before.as_ref(), limit)
        .await?;
    Ok(Json(KeyListResponse {
        keys: page.keys.iter().map(KeyView::from).collect(),
        next_cursor: page.next.as_ref().map(key_list_cursor),
    }))
}

fn key_status(text: &str) -> Result<KeyStatus, Error> {
    KeyStatus::ALL
        .into_iter()
        .find(|status| status.as_str() == text)
        .ok_or_else(|| Error::invalid("status", "must be active, revoked or expired"))
}

/// Which integrations use the key's secrets (by network, User-Agent product,
/// `Keyroll-Client` and app version, never a full address), and whether each has moved
/// to the new secret of the key's rotation in progress (or its last one).
#[utoipa::path(get, path = "/v1/keys/{keyId}/callers", tag = "keys",
    params(("keyId" = String, Path, description = "key_…"), CallersQuery),
    responses(
        (status = 200, body = CallersResponse),
        Unauthenticated, NotFound, Invalid,
    ))]
pub async fn callers(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    QueryParams(query): QueryParams<CallersQuery>,
) -> Result<Json<CallersResponse>, ApiError> {
    let by_app_version = query.by_app_version()?;
    let found = state
        .keyroll
        .key_callers(&key_id(&raw)?, keyroll_core::service::KeyScope::Any)
        .await?;
    Ok(Json(CallersResponse::of(found, by_app_version)))
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

/// Register or replace a key's delivery key: the public half of a P-256 key pair the
/// key's client holds, to which its successors are encrypted (compact JWE,
/// `ECDH-ES+A256KW` / `A256GCM`, `kid` the thumbprint). A private key (any `d`), another
/// curve or key type, or a point off the curve is a 422 and is never stored. Audited and
/// notified (`key.delivery_key_registered`).
#[utoipa::path(put, path = "/v1/keys/{keyId}/delivery-key", tag = "keys",
    request_body = DeliveryKeyRequest,
    params(("keyId" = String, Path, description = "key_…")),
    responses(
        (status = 200, body = KeyResponse),
        MalformedBody, Unauthenticated, NotFound, StateConflict, TooLarge, UnsupportedMediaType, Invalid,
    ))]
pub async fn set_delivery_key(
    State(state): State<AppState>,
    Extension(Authenticated(actor)): Extension<Authenticated>,
    Path(raw): Path<String>,
    body: JsonBody<DeliveryKeyRequest>,
) -> Result<Response, ApiError> {
    register(&state, actor, key_id(&raw)?, None, body).await
}
