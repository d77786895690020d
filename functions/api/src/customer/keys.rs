//! A customer's own keys: the list and one key with their deadlines, creating one
//! inside the key policy, rotating one (planned or as an emergency), renaming,
//! revoking one, and its audit trail.

use crate::dto::limits::KEY_PAGE;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use keyroll_core::error::Error;
use keyroll_core::idempotency::{IdempotentOperation, RequestOutcome};
use keyroll_core::ids::KeyId;
use keyroll_core::key::{Key, SecretStage};
use keyroll_core::rotation::Rotation;
use keyroll_core::time::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::access::Customer;
use crate::actions::audit::{audit_of, AuditPaging};
use crate::actions::delivery_key::register;
use crate::actions::revoke::revoke;
use crate::actions::rotate::{emergency, schedule};
use crate::actions::update::update;
use crate::dto::{
    AuditResponse, CallersQuery, CallersResponse, CreateOwnKeyRequest, DeliveryKeyRequest,
    EmergencyRotationRequest, KeyResponse, KeyView, KeyWithSecretResponse, RevokeKeyRequest,
    RotationView, RotationWithSecretResponse, ScheduleRotationRequest, UpdateOwnKeyRequest, Viewer,
};
use crate::http::conditional::etag;
use crate::http::extract::{JsonBody, QueryParams};
use crate::http::idempotency::{idempotent, Outcome};
use crate::http::params::key_id;
use crate::http::problem::ApiError;
use crate::http::problems::*;
use crate::AppState;

const DEFAULT_KEY_PAGE: usize = 50;

/// One of the organisation's keys as its users see it: the secrets (prefixes, stages,
/// expiry and last use), how old the current secret is and when it must be rotated,
/// and the rotation in progress.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrgKeyView {
    #[serde(flatten)]
    pub key: KeyView,
    /// The prefix of the secret integrations should use now.
    pub current_prefix: Option<String>,
    /// The prefix of the next secret, already valid, while a rotation is scheduled.
    pub pending_prefix: Option<String>,
    /// Whole days since the current secret was created.
    pub secret_age_days: Option<u64>,
    /// When the current secret reaches the maximum age of its class and a rotation
    /// starts by itself.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub compliance_deadline: Option<Timestamp>,
    /// The rotation in progress: its `graceEndsAt` is when the old secret stops.
    pub rotation: Option<RotationView>,
}

impl OrgKeyView {
    fn new(view: KeyView, key: &Key, rotation: Option<&Rotation>, state: &AppState) -> Self {
        let now = state.keyroll.now();
        let created = key.current_secret_created_at();
        let max_age = state
            .keyroll
            .config()
            .policy
            .for_class(key.class)
            .max_age_seconds();
        let prefix_of = |stage| {
            key.versions
                .iter()
                .find(|v| v.stage == stage)
                .map(|v| v.prefix.clone())
        };
        Self {
            key: view.seen_by(Viewer::Customer),
            current_prefix: prefix_of(SecretStage::Current),
            pending_prefix: prefix_of(SecretStage::Pending),
            secret_age_days: created.map(|c| now.seconds_since(c).max(0) as u64 / 86_400),
            compliance_deadline: created.map(|c| c.plus_seconds(max_age)),
            rotation: rotation.map(|r| RotationView::from(r).seen_by(Viewer::Customer)),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrgKeysResponse {
    pub keys: Vec<OrgKeyView>,
    /// Pass as `cursor` for the next page; null on the last one.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrgKeyResponse {
    pub key: OrgKeyView,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct KeysQuery {
    /// `nextCursor` of the previous page.
    cursor: Option<String>,
    /// Keys per page, 1-100 (default 50).
    limit: Option<usize>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// The key (one of your organisation's).
    key_id: String,
    /// `oldest` (default) or `newest` first.
    order: Option<String>,
    /// Events per page, 1-1000 (default 100).
    limit: Option<usize>,
    /// `nextCursor` of the previous page.
    cursor: Option<String>,
}

/// Your organisation's keys, in creation order.
#[utoipa::path(get, path = "/v1/org/keys", tag = "customer",
    params(KeysQuery),
    security(("customerToken" = [])),
    responses(
        (status = 200, body = OrgKeysResponse),
        Unauthenticated, Invalid,
    ))]
pub async fn list_keys(
    State(state): State<AppState>,
    Extension(Customer(user)): Extension<Customer>,
    QueryParams(query): QueryParams<KeysQuery>,
) -> Result<Json<OrgKeysResponse>, ApiError> {
    let limit = crate::dto::page_limit(query.limit, DEFAULT_KEY_PAGE, KEY_PAGE)?;
    let after = query
        .cursor
        .as_deref()
        .map(|c| {
            KeyId::parse(c).map_err(|_| {
                Error::invalid(
                    "cursor",
                    "not a cursor of this list; start again without one",
                )
            })
        })
        .transpose()?;
    let page = state
        .keyroll
        .organization_keys(&user.organization, after.as_ref(), limit)
        .await?;
    let next_cursor = page.next.map(|id| id.to_string());
    let keys = page
        .keys
        .iter()
        .map(|owned| {
            OrgKeyView::new(
                KeyView::from(&owned.key),
                &owned.key,
                owned.rotation.as_ref(),
                &state,
            )
        })
        .collect();
    Ok(Json(OrgKeysResponse { keys, next_cursor }))
}

/// Create a key for a new integration, inside the key policy your provider set: the
/// secret is in this response only. No policy: 403; outside it: 409 naming the field.
#[utoipa::path(post, path = "/v1/org/keys", tag = "customer",
    request_body = CreateOwnKeyRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "16-255 visible ASCII characters")),
    security(("customerToken" = [])),
    responses(
        (status = 201, body = KeyWithSecretResponse),
        MalformedBody, Unauthenticated, Forbidden, StateConflict, TooLarge, UnsupportedMediaType, Invalid,
    ))]
pub async fn create_key(
    State(state): State<AppState>,
    Extension(Customer(user)): Extension<Customer>,
    headers: HeaderMap,
    body: JsonBody<CreateOwnKeyRequest>,
) -> Result<Response, ApiError> {
    let raw = body.raw.clone();
    let new_key = body.value.into_new_key(&user.organization)?;
    let keyroll = state.keyroll.clone();
    idempotent(
        &state,
        user.actor,
        &headers,
        IdempotentOperation::IssueKey,
        &raw,
        RequestOutcome::Created,
        |caller| async move {
            let issued = keyroll.issue_own_key(new_key, caller).await?;
            Ok(Outcome::Key(issued.key, Some(issued.secret)))
        },
    )
    .await
}

/// One of your organisation's keys, with the recorded use of its newest secrets.
#[utoipa::path(get, path = "/v1/org/keys/{keyId}", tag = "customer",
    params(("keyId" = String, Path, description = "key_…")),
    security(("customerToken" = [])),
    responses(
        (status = 200, body = OrgKeyResponse, headers(("ETag" = String, description = "the key's revision, for `If-Match`"))),
        Unauthenticated, NotFound,
    ))]
pub async fn get_key(
    State(state): State<AppState>,
    Extension(Customer(user)): Extension<Customer>,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    let key = state
        .keyroll
        .owned_key(&user.organization, &key_id(&raw)?)
        .await?;
    let usage = state.keyroll.secret_usage(&key).await?;
    let rotation = match &key.active_rotation {
        Some(rotation) => Some(state.keyroll.rotation(rotation).await?),
        None => None,
    };
    let view = OrgKeyView::new(
        KeyView::with_usage(&key, &usage),
        &key,
        rotation.as_ref(),
        &state,
    );
    Ok((
        [(axum::http::header::ETAG, etag(key.revision))],
        Json(OrgKeyResponse { key: view }),
    )
        .into_response())
}

/// Rename one of your keys or change its metadata (a JSON merge patch, RFC 7396; sent
/// as `application/merge-patch+json` or `application/json`). `If-Match` with the
/// key's `ETag` makes the change conditional (412 if it changed since).
#[utoipa::path(patch, path = "/v1/org/keys/{keyId}", tag = "customer",
    request_body(content = UpdateOwnKeyRequest, content_type = "application/merge-patch+json"),
    params(("keyId" = String, Path, description = "key_…"),
           ("If-Match" = Option<String>, Header, description = "the key's ETag, e.g. \"12\"")),
    security(("customerToken" = [])),
    responses(
        (status = 200, body = KeyResponse, headers(("ETag" = String, description = "the key's revision"))),
        MalformedBody, Unauthenticated, Forbidden, NotFound, StateConflict, PreconditionFailed, TooLarge, UnsupportedMediaType, Invalid,
    ))]
pub async fn update_key(
    State(state): State<AppState>,
    Extension(Customer(user)): Extension<Customer>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: JsonBody<UpdateOwnKeyRequest>,
) -> Result<Response, ApiError> {
    let id = key_id(&raw)?;
    let patch = body.value.into_patch()?;
    update(
        &state,
        user.actor,
        id,
        Some(user.organization),
        &headers,
        patch,
    )
    .await
}

/// Roll one of your keys: the new secret is in this response (shown once) and valid at
/// once; the old one keeps working for the grace, within your provider's bounds.
#[utoipa::path(post, path = "/v1/org/keys/{keyId}/rotations", tag = "customer",
    request_body(content = ScheduleRotationRequest, description = "May be empty for all defaults"),
    params(("keyId" = String, Path, description = "key_…"),
           ("Idempotency-Key" = Option<String>, Header, description = "16-255 visible ASCII characters")),
    security(("customerToken" = [])),
    responses(
        (status = 201, body = RotationWithSecretResponse),
        MalformedBody, Unauthenticated, Forbidden, NotFound, StateConflict, TooManyRequests, TooLarge, UnsupportedMediaType, Invalid,
    ))]
pub async fn schedule_rotation(
    State(state): State<AppState>,
    Extension(Customer(user)): Extension<Customer>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: JsonBody<ScheduleRotationRequest>,
) -> Result<Response, ApiError> {
    let id = key_id(&raw)?;
    state.keyroll.owned_key(&user.organization, &id).await?;
    schedule(&state, user.actor, id, &headers, body).await
}

/// Roll one of your keys now because its secret may have leaked: every older secret
/// stops within the grace (0 = at once). The new secret is in this response.
#[utoipa::path(post, path = "/v1/org/keys/{keyId}/emergency-rotation", tag = "customer",
    request_body = EmergencyRotationRequest,
    params(("keyId" = String, Path, description = "key_…"),
           ("Idempotency-Key" = Option<String>, Header, description = "16-255 visible ASCII characters")),
    security(("customerToken" = [])),
    responses(
        (status = 201, body = RotationWithSecretResponse),
        MalformedBody, Unauthenticated, Forbidden, NotFound, StateConflict, TooManyRequests, TooLarge, UnsupportedMediaType, Invalid,
    ))]
pub async fn emergency_rotation(
    State(state): State<AppState>,
    Extension(Customer(user)): Extension<Customer>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: JsonBody<EmergencyRotationRequest>,
) -> Result<Response, ApiError> {
    let id = key_id(&raw)?;
    state.keyroll.owned_key(&user.organization, &id).await?;
    emergency(&state, user.actor, id, &headers, body).await
}

/// Which of your integrations use the key's secrets (by network, User-Agent product,
/// `Keyroll-Client` and app version), and whether each has moved to the new secret of
/// the key's rotation in progress (or its last one).
#[utoipa::path(get, path = "/v1/org/keys/{keyId}/callers", tag = "customer",
    params(("keyId" = String, Path, description = "key_…"), CallersQuery),
    security(("customerToken" = [])),
    responses(
        (status = 200, body = CallersResponse),
        Unauthenticated, NotFound, Invalid,
    ))]
pub async fn callers(
    State(state): State<AppState>,
    Extension(Customer(user)): Extension<Customer>,
    Path(raw): Path<String>,
    QueryParams(query): QueryParams<CallersQuery>,
) -> Result<Json<CallersResponse>, ApiError> {
    let by_app_version = query.by_app_version()?;
    let found = state
        .keyroll
        .key_callers(
            &key_id(&raw)?,
            keyroll_core::service::KeyScope::OwnedBy(&user.organization),
        )
        .await?;
    Ok(Json(CallersResponse::of(found, by_app_version)))
}

/// Revoke one of your keys (an integration decommissioned, a secret that must die):
/// every secret of it stops working now, for good. Revoking it again answers the same.
#[utoipa::path(post, path = "/v1/org/keys/{keyId}/revoke", tag = "customer",
    request_body = RevokeKeyRequest,
    params(("keyId" = String, Path, description = "key_…"),
           ("Idempotency-Key" = Option<String>, Header, description = "16-255 visible ASCII characters")),
    security(("customerToken" = [])),
    responses(
        (status = 200, body = KeyResponse),
        MalformedBody, Unauthenticated, Forbidden, NotFound, StateConflict, TooLarge, UnsupportedMediaType, Invalid,
    ))]
pub async fn revoke_key(
    State(state): State<AppState>,
    Extension(Customer(user)): Extension<Customer>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: JsonBody<RevokeKeyRequest>,
) -> Result<Response, ApiError> {
    let id = key_id(&raw)?;
    revoke(
        &state,
        user.actor,
        id,
        Some(user.organization),
        &headers,
        body,
    )
    .await
}

/// The audit trail of one of your keys, and whether its hash chain is intact. The
/// provider's operators appear as `provider`.
#[utoipa::path(get, path = "/v1/org/audit", tag = "customer",
    params(AuditQuery),
    security(("customerToken" = [])),
    responses(
        (status = 200, body = AuditResponse),
        Unauthenticated, NotFound, Invalid,
    ))]
pub async fn audit(
    State(state): State<AppState>,
    Extension(Customer(user)): Extension<Customer>,
    QueryParams(query): QueryParams<AuditQuery>,
) -> Result<Json<AuditResponse>, ApiError> {
    let id = key_id(&query.key_id)?;
    state.keyroll.owned_key(&user.organization, &id).await?;
    let paging = AuditPaging {
        order: query.order,
        limit: query.limit,
        cursor: query.cursor,
    };
    audit_of(&state, id, &paging, Viewer::Customer).await
}

/// Register or replace the delivery key of one of your keys: the public half of a P-256
/// key pair your client holds, to which the key's successors are encrypted (compact
/// JWE, `ECDH-ES+A256KW` / `A256GCM`). Replacing the one your client registered needs
/// you (an admin) or the provider's operator. Audited and notified
/// (`key.delivery_key_registered`); the key shows its thumbprint.
#[utoipa::path(put, path = "/v1/org/keys/{keyId}/delivery-key", tag = "customer",
    request_body = DeliveryKeyRequest,
    params(("keyId" = String, Path, description = "key_…")),
    security(("customerToken" = [])),
    responses(
        (status = 200, body = KeyResponse),
        MalformedBody, Unauthenticated, Forbidden, NotFound, StateConflict, TooLarge, UnsupportedMediaType, Invalid,
    ))]
pub async fn set_delivery_key(
    State(state): State<AppState>,
    Extension(Customer(user)): Extension<Customer>,
    Path(raw): Path<String>,
    body: JsonBody<DeliveryKeyRequest>,
) -> Result<Response, ApiError> {
    let id = key_id(&raw)?;
    register(&state, user.actor, id, Some(user.organization), body).await
}
