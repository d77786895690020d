//! `/v1/organizations/{organizationId}/…`: an organisation's email contacts, webhook
//! endpoints, in-app feed and delivery log, as its operator sets and reads them; and
//! the keys its admins may create (its key policy); and revoking all its keys when it
//! leaves.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Json};

use keyroll_core::ids::Reason;

use super::auth::Authenticated;
use crate::actions::destinations::*;
use crate::dto::destinations::*;
use crate::dto::{KeyPolicyBody, KeyPolicyView, OffboardingResponse, RevokeKeyRequest};
use crate::http::extract::{JsonBody, QueryParams};
use crate::http::params::organization;
use crate::http::problem::ApiError;
use crate::http::problems::*;
use crate::AppState;

/// Offboard an organisation: revoke every active key of it, as many as fit in the
/// request's time. Call again until `remaining` is 0; each call continues where the
/// last stopped, and a revoked key is not read again.
#[utoipa::path(post, path = "/v1/organizations/{organizationId}/revoke-keys", tag = "keys",
    request_body = RevokeKeyRequest,
    params(("organizationId" = String, Path)),
    responses(
        (status = 200, body = OffboardingResponse),
        MalformedBody, Unauthenticated, StateConflict, TooLarge, UnsupportedMediaType, Invalid,
    ))]
pub async fn revoke_keys(
    State(state): State<AppState>,
    Extension(Authenticated(actor)): Extension<Authenticated>,
    lambda: Option<Extension<lambda_http::Context>>,
    Path(raw): Path<String>,
    body: JsonBody<RevokeKeyRequest>,
) -> Result<Json<OffboardingResponse>, ApiError> {
    let organization = organization(&raw)?;
    let reason = Reason::parse(&body.value.reason)?;
    let stop_at = crate::http::deadline::stop_at(lambda.as_deref());
    let done = state
        .keyroll
        .revoke_organization_keys(&organization, reason, stop_at, actor)
        .await?;
    Ok(Json(OffboardingResponse {
        revoked: done.revoked,
        remaining: done.remaining,
    }))
}

/// Set what the organisation's admins may create themselves: the scopes, rate limit,
/// number of active keys and classes of their keys. Without a policy they create none.
#[utoipa::path(put, path = "/v1/organizations/{organizationId}/key-policy", tag = "keys",
    request_body = KeyPolicyBody,
    params(("organizationId" = String, Path)),
    responses(
        (status = 200, body = KeyPolicyView),
        MalformedBody, Unauthenticated, TooLarge, UnsupportedMediaType, Invalid,
    ))]
pub async fn set_key_policy(
    State(state): State<AppState>,
    Extension(Authenticated(actor)): Extension<Authenticated>,
    Path(raw): Path<String>,
    body: JsonBody<KeyPolicyBody>,
) -> Result<Json<KeyPolicyView>, ApiError> {
    let organization = organization(&raw)?;
    let request = body.value.into_request()?;
    let policy = state
        .keyroll
        .set_key_policy(&organization, request, &actor)
        .await?;
    Ok(Json(KeyPolicyView::from(&policy)))
}

/// The organisation's key policy; 404 when none is set (its admins create no keys).
#[utoipa::path(get, path = "/v1/organizations/{organizationId}/key-policy", tag = "keys",
    params(("organizationId" = String, Path)),
    responses(
        (status = 200, body = KeyPolicyView),
        Unauthenticated, NotFound, Invalid,
    ))]
pub async fn key_policy(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<KeyPolicyView>, ApiError> {
    let organization = organization(&raw)?;
    match state.keyroll.key_policy(&organization).await? {
        Some(policy) => Ok(Json(KeyPolicyView::from(&policy))),
        None => Err(keyroll_core::error::Error::not_found("key policy", &organization).into()),
    }
}

/// Add an email contact.
#[utoipa::path(post, path = "/v1/organizations/{organizationId}/contacts", tag = "notifications",
    request_body = CreateContactRequest,
    params(("organizationId" = String, Path)),
    responses(
        (status = 201, body = ContactView),
        DestinationOutsidePolicy, MalformedBody, Unauthenticated, UnsupportedMediaType, Invalid,
    ))]
pub async fn add_contact(
    State(state): State<AppState>,
    Extension(Authenticated(actor)): Extension<Authenticated>,
    Path(raw): Path<String>,
    body: JsonBody<CreateContactRequest>,
) -> Result<Response, ApiError> {
    add_contact_for(&state, organization(&raw)?, actor, body).await
}

/// The organisation's email contacts.
#[utoipa::path(get, path = "/v1/organizations/{organizationId}/contacts", tag = "notifications",
    params(("organizationId" = String, Path)),
    responses(
        (status = 200, body = ContactsResponse),
        Unauthenticated, Invalid,
    ))]
pub async fn list_contacts(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<ContactsResponse>, ApiError> {
    list_contacts_for(&state, &organization(&raw)?).await
}

/// Remove an email contact.
#[utoipa::path(delete, path = "/v1/organizations/{organizationId}/contacts/{contactId}", tag = "notifications",
    params(("organizationId" = String, Path), ("contactId" = String, Path)),
    responses(
        (status = 204),
        Unauthenticated, NotFound, Invalid,
    ))]
pub async fn remove_contact(
    State(state): State<AppState>,
    Path((raw, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    remove_contact_for(&state, &organization(&raw)?, &id).await
}

/// Register a webhook endpoint; its signing secret is in this response only.
#[utoipa::path(post, path = "/v1/organizations/{organizationId}/webhooks", tag = "notifications",
    request_body = CreateWebhookRequest,
    params(("organizationId" = String, Path)),
    responses(
        (status = 201, body = WebhookWithSecretResponse),
        DestinationOutsidePolicy, MalformedBody, Unauthenticated, UnsupportedMediaType, Invalid,
    ))]
pub async fn add_webhook(
    State(state): State<AppState>,
    Extension(Authenticated(actor)): Extension<Authenticated>,
    Path(raw): Path<String>,
    body: JsonBody<CreateWebhookRequest>,
) -> Result<Response, ApiError> {
    add_webhook_for(&state, organization(&raw)?, actor, body, Reader::Operator).await
}

/// The organisation's webhook endpoints (never their secrets).
#[utoipa::path(get, path = "/v1/organizations/{organizationId}/webhooks", tag = "notifications",
    params(("organizationId" = String, Path)),
    responses(
        (status = 200, body = WebhooksResponse),
        Unauthenticated, Invalid,
    ))]
pub async fn list_webhooks(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<WebhooksResponse>, ApiError> {
    list_webhooks_for(&state, &organization(&raw)?, Reader::Operator).await
}

/// Remove a webhook endpoint (and delete its signing secrets).
#[utoipa::path(delete, path = "/v1/organizations/{organizationId}/webhooks/{webhookId}", tag = "notifications",
    params(("organizationId" = String, Path), ("webhookId" = String, Path)),
    responses(
        (status = 204),
        Unauthenticated, NotFound, Invalid,
    ))]
pub async fn remove_webhook(
    State(state): State<AppState>,
    Path((raw, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    remove_webhook_for(&state, &organization(&raw)?, &id).await
}

/// Add a signing secret (in this response only); the current one keeps signing for a
/// day, both in `webhook-signature`, so the receiver can switch without a gap.
#[utoipa::path(post, path = "/v1/organizations/{organizationId}/webhooks/{webhookId}/rotate-secret", tag = "notifications",
    params(("organizationId" = String, Path), ("webhookId" = String, Path)),
    responses(
        (status = 200, body = WebhookWithSecretResponse),
        Unauthenticated, NotFound, StateConflict, TooManyRequests, Invalid,
    ))]
pub async fn rotate_webhook_secret(
    State(state): State<AppState>,
    Path((raw, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    rotate_webhook_secret_for(&state, &organization(&raw)?, &id, Reader::Operator).await
}

/// The organisation's in-app feed: every notification, newest first, read or not.
#[utoipa::path(get, path = "/v1/organizations/{organizationId}/notifications", tag = "notifications",
    params(("organizationId" = String, Path), PageQuery),
    responses(
        (status = 200, body = NotificationsResponse),
        Unauthenticated, Invalid,
    ))]
pub async fn notifications(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    QueryParams(query): QueryParams<PageQuery>,
) -> Result<Json<NotificationsResponse>, ApiError> {
    notifications_for(&state, &organization(&raw)?, query).await
}

/// Mark a notification of the feed read.
#[utoipa::path(post, path = "/v1/organizations/{organizationId}/notifications/{eventId}/read", tag = "notifications",
    params(("organizationId" = String, Path), ("eventId" = String, Path)),
    responses(
        (status = 204),
        Unauthenticated, NotFound, Invalid,
    ))]
pub async fn mark_read(
    State(state): State<AppState>,
    Path((raw, event_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    mark_read_for(&state, &organization(&raw)?, &event_id).await
}

/// Every delivery attempt to the organisation's contacts and endpoints, newest first.
#[utoipa::path(get, path = "/v1/organizations/{organizationId}/deliveries", tag = "notifications",
    params(("organizationId" = String, Path), PageQuery),
    responses(
        (status = 200, body = DeliveriesResponse),
        Unauthenticated, Invalid,
    ))]
pub async fn deliveries(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    QueryParams(query): QueryParams<PageQuery>,
) -> Result<Json<DeliveriesResponse>, ApiError> {
    deliveries_for(&state, &organization(&raw)?, query, Reader::Operator).await
}
