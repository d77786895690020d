//! An organisation's notification settings and what reached it: email contacts,
//! webhook endpoints (whose signing secret is shown once, at creation and at each
//! rotation of it), the in-app feed and the delivery log. Operators call these routes
//! now; the customer routes reuse them for the caller's own organisation.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use keyroll_core::contact::{Contact, WebhookEndpoint};
use keyroll_core::delivery::{AttemptOutcome, DeliveryAttempt};
use keyroll_core::error::Error;
use keyroll_core::ids::{Actor, ContactId, OrganizationId, WebhookId};
use keyroll_core::notification::NotificationType;
use keyroll_core::time::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Authenticated;
use crate::extract::{JsonBody, QueryParams};
use crate::problem::{ApiError, Problem};
use crate::AppState;

const DEFAULT_PAGE: usize = 50;
/// Items per page of a feed or delivery log.
pub const FEED_PAGE: keyroll_core::rules::Range = keyroll_core::rules::Range::new(1, 200);

fn organization(raw: &str) -> Result<OrganizationId, ApiError> {
    Ok(OrganizationId::parse(raw)?)
}

fn contact_id(raw: &str) -> Result<ContactId, ApiError> {
    ContactId::parse(raw).map_err(|_| Error::not_found("contact", "with that id").into())
}

fn webhook_id(raw: &str) -> Result<WebhookId, ApiError> {
    WebhookId::parse(raw).map_err(|_| Error::not_found("webhook", "with that id").into())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateContactRequest {
    /// Where emails go.
    pub email: String,
    /// The notification types wanted; all of them when left out.
    pub types: Option<Vec<NotificationType>>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactView {
    pub id: String,
    pub email: String,
    pub types: Vec<NotificationType>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

impl From<&Contact> for ContactView {
    fn from(c: &Contact) -> Self {
        Self {
            id: c.id.to_string(),
            email: c.email.as_str().to_owned(),
            types: c.types.clone(),
            created_at: c.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContactsResponse {
    pub contacts: Vec<ContactView>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateWebhookRequest {
    /// An https URL on a public address.
    pub url: String,
    /// The notification types wanted; all of them when left out.
    pub types: Option<Vec<NotificationType>>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SigningSecretView {
    pub version: u32,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// When it stops signing (after a rotation of the secret).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub retires_at: Option<Timestamp>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookView {
    pub id: String,
    pub url: String,
    pub types: Vec<NotificationType>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// Set once keyroll stopped calling it (410 Gone, or failing every retry).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub disabled_at: Option<Timestamp>,
    pub disabled_reason: Option<String>,
    /// The signing secrets (never their value).
    pub secrets: Vec<SigningSecretView>,
}

impl From<&WebhookEndpoint> for WebhookView {
    fn from(w: &WebhookEndpoint) -> Self {
        Self {
            id: w.id.to_string(),
            url: w.url.clone(),
            types: w.types.clone(),
            created_at: w.created_at,
            disabled_at: w.disabled_at,
            disabled_reason: w.disabled_reason.clone(),
            secrets: w
                .secrets
                .iter()
                .map(|s| SigningSecretView {
                    version: s.version,
                    created_at: s.created_at,
                    retires_at: s.retires_at,
                })
                .collect(),
        }
    }
}

/// An endpoint with its new signing secret, shown in this response only.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookWithSecretResponse {
    #[serde(flatten)]
    pub webhook: WebhookView,
    /// `whsec_…`: verify the `webhook-signature` header with it (Standard Webhooks).
    pub secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhooksResponse {
    pub webhooks: Vec<WebhookView>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// `nextCursor` of the previous page.
    cursor: Option<String>,
    /// Items per page, 1-200 (default 50).
    limit: Option<usize>,
}

impl PageQuery {
    /// A cursor is the `nextCursor` of an earlier page: it starts with that page's last
    /// time (`2026-…`), visible ASCII, at most 256 characters.
    fn cursor(&self) -> Result<Option<&str>, ApiError> {
        match self.cursor.as_deref() {
            None => Ok(None),
            Some(cursor) if keyroll_core::rules::is_feed_cursor(cursor) => Ok(Some(cursor)),
            Some(_) => Err(Error::invalid(
                "cursor",
                "not a cursor of this list; start again without one",
            )
            .into()),
        }
    }

    fn limit(&self) -> Result<usize, ApiError> {
        Ok(crate::dto::page_limit(self.limit, DEFAULT_PAGE, FEED_PAGE)?)
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationsResponse {
    /// Newest first: each notification's documented fields, and `read`.
    #[schema(value_type = Vec<Object>)]
    pub notifications: Vec<serde_json::Value>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttemptView {
    pub event_id: String,
    /// `email` or `webhook`.
    pub channel: String,
    /// The contact's or endpoint's id.
    pub target_id: String,
    /// The address or URL tried.
    pub destination: String,
    pub attempt: u32,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// The HTTP status a webhook answered with.
    pub status: Option<u16>,
    pub latency_ms: u64,
    pub outcome: AttemptOutcome,
    pub error: Option<String>,
}

impl From<&DeliveryAttempt> for AttemptView {
    fn from(a: &DeliveryAttempt) -> Self {
        Self {
            event_id: a.event_id.clone(),
            channel: a.target.channel().to_owned(),
            target_id: a.target.id().to_owned(),
            destination: a.destination.clone(),
            attempt: a.attempt,
            at: a.at,
            status: a.status,
            latency_ms: a.latency_ms,
            outcome: a.outcome,
            error: a.error.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveriesResponse {
    /// Attempts, newest first.
    pub deliveries: Vec<AttemptView>,
    pub next_cursor: Option<String>,
}

// Each route's work is a `*_for` function of the organisation; the operator's route
// takes the organisation from the path, the customer's (crate::org) from the token.

pub(crate) async fn add_contact_for(
    state: &AppState,
    organization: OrganizationId,
    actor: Actor,
    body: JsonBody<CreateContactRequest>,
) -> Result<Response, ApiError> {
    let contact = state
        .keyroll
        .add_contact(
            organization,
            &body.value.email,
            body.value.types.as_deref(),
            actor,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(ContactView::from(&contact))).into_response())
}

pub(crate) async fn list_contacts_for(
    state: &AppState,
    organization: &OrganizationId,
) -> Result<Json<ContactsResponse>, ApiError> {
    let contacts = state.keyroll.contacts(organization).await?;
    Ok(Json(ContactsResponse {
        contacts: contacts.iter().map(ContactView::from).collect(),
    }))
}

pub(crate) async fn remove_contact_for(
    state: &AppState,
    organization: &OrganizationId,
    id: &str,
) -> Result<StatusCode, ApiError> {
    state
        .keyroll
        .remove_contact(organization, &contact_id(id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

fn with_secret(status: StatusCode, endpoint: &WebhookEndpoint, secret: &str) -> Response {
    let response = WebhookWithSecretResponse {
        webhook: WebhookView::from(endpoint),
        secret: secret.to_owned(),
    };
    (
        status,
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        Json(response),
    )
        .into_response()
}

pub(crate) async fn add_webhook_for(
    state: &AppState,
    organization: OrganizationId,
    actor: Actor,
    body: JsonBody<CreateWebhookRequest>,
) -> Result<Response, ApiError> {
    let (endpoint, secret) = state
        .keyroll
        .add_webhook(
            organization,
            &body.value.url,
            body.value.types.as_deref(),
            actor,
        )
        .await?;
    Ok(with_secret(StatusCode::CREATED, &endpoint, secret.expose()))
}

pub(crate) async fn list_webhooks_for(
    state: &AppState,
    organization: &OrganizationId,
) -> Result<Json<WebhooksResponse>, ApiError> {
    let webhooks = state.keyroll.webhooks(organization).await?;
    Ok(Json(WebhooksResponse {
        webhooks: webhooks.iter().map(WebhookView::from).collect(),
    }))
}

pub(crate) async fn remove_webhook_for(
    state: &AppState,
    organization: &OrganizationId,
    id: &str,
) -> Result<StatusCode, ApiError> {
    state
        .keyroll
        .remove_webhook(organization, &webhook_id(id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn rotate_webhook_secret_for(
    state: &AppState,
    organization: &OrganizationId,
    id: &str,
) -> Result<Response, ApiError> {
    let (endpoint, secret) = state
        .keyroll
        .rotate_webhook_secret(organization, &webhook_id(id)?)
        .await?;
    Ok(with_secret(StatusCode::OK, &endpoint, secret.expose()))
}

pub(crate) async fn notifications_for(
    state: &AppState,
    organization: &OrganizationId,
    query: PageQuery,
) -> Result<Json<NotificationsResponse>, ApiError> {
    let limit = query.limit()?;
    let entries = state
        .keyroll
        .feed(organization, query.cursor()?, limit)
        .await?;
    let next_cursor = (entries.len() == limit)
        .then(|| entries.last().map(|e| e.sort_key()))
        .flatten();
    let notifications = entries
        .iter()
        .map(|entry| {
            let mut value = serde_json::to_value(&entry.notification).unwrap_or_default();
            if let Some(object) = value.as_object_mut() {
                object.insert("read".into(), entry.read_at.is_some().into());
            }
            value
        })
        .collect();
    Ok(Json(NotificationsResponse {
        notifications,
        next_cursor,
    }))
}

pub(crate) async fn mark_read_for(
    state: &AppState,
    organization: &OrganizationId,
    event_id: &str,
) -> Result<StatusCode, ApiError> {
    if event_id.len() > 100
        || !event_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        return Err(Error::not_found("notification", "with that id").into());
    }
    state.keyroll.mark_read(organization, event_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn deliveries_for(
    state: &AppState,
    organization: &OrganizationId,
    query: PageQuery,
) -> Result<Json<DeliveriesResponse>, ApiError> {
    let limit = query.limit()?;
    let attempts = state
        .keyroll
        .delivery_attempts(organization, query.cursor()?, limit)
        .await?;
    let next_cursor = (attempts.len() == limit)
        .then(|| attempts.last().map(DeliveryAttempt::sort_key))
        .flatten();
    Ok(Json(DeliveriesResponse {
        deliveries: attempts.iter().map(AttemptView::from).collect(),
        next_cursor,
    }))
}

/// Add an email contact.
#[utoipa::path(post, path = "/v1/organizations/{organizationId}/contacts", tag = "notifications",
    request_body = CreateContactRequest,
    params(("organizationId" = String, Path)),
    responses(
        (status = 201, body = ContactView),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "well formed, but outside what the organisation may have (at most 25) or, for a webhook, where keyroll may call (https, public addresses)"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
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
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
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
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
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
        (status = 409, body = Problem, content_type = "application/problem+json", description = "well formed, but outside what the organisation may have (at most 25) or, for a webhook, where keyroll may call (https, public addresses)"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn add_webhook(
    State(state): State<AppState>,
    Extension(Authenticated(actor)): Extension<Authenticated>,
    Path(raw): Path<String>,
    body: JsonBody<CreateWebhookRequest>,
) -> Result<Response, ApiError> {
    add_webhook_for(&state, organization(&raw)?, actor, body).await
}

/// The organisation's webhook endpoints (never their secrets).
#[utoipa::path(get, path = "/v1/organizations/{organizationId}/webhooks", tag = "notifications",
    params(("organizationId" = String, Path)),
    responses(
        (status = 200, body = WebhooksResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_webhooks(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<WebhooksResponse>, ApiError> {
    list_webhooks_for(&state, &organization(&raw)?).await
}

/// Remove a webhook endpoint (and delete its signing secrets).
#[utoipa::path(delete, path = "/v1/organizations/{organizationId}/webhooks/{webhookId}", tag = "notifications",
    params(("organizationId" = String, Path), ("webhookId" = String, Path)),
    responses(
        (status = 204),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
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
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn rotate_webhook_secret(
    State(state): State<AppState>,
    Path((raw, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    rotate_webhook_secret_for(&state, &organization(&raw)?, &id).await
}

/// The organisation's in-app feed: every notification, newest first, read or not.
#[utoipa::path(get, path = "/v1/organizations/{organizationId}/notifications", tag = "notifications",
    params(("organizationId" = String, Path), PageQuery),
    responses(
        (status = 200, body = NotificationsResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
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
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
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
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn deliveries(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    QueryParams(query): QueryParams<PageQuery>,
) -> Result<Json<DeliveriesResponse>, ApiError> {
    deliveries_for(&state, &organization(&raw)?, query).await
}
