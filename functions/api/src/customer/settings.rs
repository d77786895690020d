//! A customer's notification settings and what reached them: the operator's
//! organisation routes for the token's organisation, with the same bodies (both go
//! through `crate::actions::destinations`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Json};

use super::access::Customer;
use crate::actions::destinations::*;
use crate::dto::destinations::*;
use crate::http::extract::{JsonBody, QueryParams};
use crate::http::problem::ApiError;
use crate::http::problems::*;
use crate::AppState;

/// Add an email contact for your organisation.
///
/// The address is sent a confirmation code and nothing else until the code is passed back with `POST …/confirm`. Each
/// confirmation counts against your organisation's emails per hour.
#[utoipa::path(post, path = "/v1/org/contacts", tag = "customer",
    request_body = CreateContactRequest,
    security(("customerToken" = [])),
    responses(
        (status = 201, body = ContactView),
        DestinationOutsidePolicy, MalformedBody, Unauthenticated, Forbidden, UnsupportedMediaType, Invalid, TooManyRequests,
    ))]
pub async fn add_contact(
    State(state): State<AppState>,
    Extension(Customer(user)): Extension<Customer>,
    body: JsonBody<CreateContactRequest>,
) -> Result<Response, ApiError> {
    add_contact_for(&state, user.organization, user.actor, body).await
}

/// Your organisation's email contacts.
#[utoipa::path(get, path = "/v1/org/contacts", tag = "customer",
    security(("customerToken" = [])),
    responses(
        (status = 200, body = ContactsResponse),
        Unauthenticated,
    ))]
pub async fn list_contacts(
    State(state): State<AppState>,
    Extension(Customer(user)): Extension<Customer>,
) -> Result<Json<ContactsResponse>, ApiError> {
    list_contacts_for(&state, &user.organization).await
}

/// Confirm an email contact with the code its address was sent.
///
/// From then on it receives the notifications it chose. Confirming a confirmed contact
/// changes nothing.
#[utoipa::path(post, path = "/v1/org/contacts/{contactId}/confirm", tag = "customer",
    params(("contactId" = String, Path)),
    request_body = ConfirmContactRequest,
    security(("customerToken" = [])),
    responses(
        (status = 200, body = ContactView),
        MalformedBody, Unauthenticated, Forbidden, NotFound, StateConflict, UnsupportedMediaType, Invalid,
    ))]
pub async fn confirm_contact(
    State(state): State<AppState>,
    Extension(Customer(user)): Extension<Customer>,
    Path(id): Path<String>,
    body: JsonBody<ConfirmContactRequest>,
) -> Result<Json<ContactView>, ApiError> {
    confirm_contact_for(&state, &user.organization, &id, body).await
}

/// Remove an email contact.
#[utoipa::path(delete, path = "/v1/org/contacts/{contactId}", tag = "customer",
    params(("contactId" = String, Path)),
    security(("customerToken" = [])),
    responses(
        (status = 204),
        Unauthenticated, Forbidden, NotFound,
    ))]
pub async fn remove_contact(
    State(state): State<AppState>,
    Extension(Customer(user)): Extension<Customer>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    remove_contact_for(&state, &user.organization, &id).await
}

/// Register a webhook endpoint; its signing secret is in this response only.
#[utoipa::path(post, path = "/v1/org/webhooks", tag = "customer",
    request_body = CreateWebhookRequest,
    security(("customerToken" = [])),
    responses(
        (status = 201, body = WebhookWithSecretResponse),
        DestinationOutsidePolicy, MalformedBody, Unauthenticated, Forbidden, UnsupportedMediaType, Invalid,
    ))]
pub async fn add_webhook(
    State(state): State<AppState>,
    Extension(Customer(user)): Extension<Customer>,
    body: JsonBody<CreateWebhookRequest>,
) -> Result<Response, ApiError> {
    add_webhook_for(
        &state,
        user.organization,
        user.actor,
        body,
        Reader::Customer,
    )
    .await
}

/// Your organisation's webhook endpoints (never their secrets).
#[utoipa::path(get, path = "/v1/org/webhooks", tag = "customer",
    security(("customerToken" = [])),
    responses(
        (status = 200, body = WebhooksResponse),
        Unauthenticated,
    ))]
pub async fn list_webhooks(
    State(state): State<AppState>,
    Extension(Customer(user)): Extension<Customer>,
) -> Result<Json<WebhooksResponse>, ApiError> {
    list_webhooks_for(&state, &user.organization, Reader::Customer).await
}

/// Remove a webhook endpoint.
#[utoipa::path(delete, path = "/v1/org/webhooks/{webhookId}", tag = "customer",
    params(("webhookId" = String, Path)),
    security(("customerToken" = [])),
    responses(
        (status = 204),
        Unauthenticated, Forbidden, NotFound,
    ))]
pub async fn remove_webhook(
    State(state): State<AppState>,
    Extension(Customer(user)): Extension<Customer>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    remove_webhook_for(&state, &user.organization, &id).await
}

/// Add a signing secret (in this response only); the current one keeps signing for a day.
#[utoipa::path(post, path = "/v1/org/webhooks/{webhookId}/rotate-secret", tag = "customer",
    params(("webhookId" = String, Path)),
    security(("customerToken" = [])),
    responses(
        (status = 200, body = WebhookWithSecretResponse),
        Unauthenticated, Forbidden, NotFound, StateConflict, TooManyRequests,
    ))]
pub async fn rotate_webhook_secret(
    State(state): State<AppState>,
    Extension(Customer(user)): Extension<Customer>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    rotate_webhook_secret_for(&state, &user.organization, &id, Reader::Customer).await
}

/// Your organisation's notification feed, newest first.
#[utoipa::path(get, path = "/v1/org/notifications", tag = "customer",
    params(PageQuery),
    security(("customerToken" = [])),
    responses(
        (status = 200, body = NotificationsResponse),
        Unauthenticated, Invalid,
    ))]
pub async fn notifications(
    State(state): State<AppState>,
    Extension(Customer(user)): Extension<Customer>,
    QueryParams(query): QueryParams<PageQuery>,
) -> Result<Json<NotificationsResponse>, ApiError> {
    notifications_for(&state, &user.organization, query).await
}

/// Mark a notification of the feed read.
#[utoipa::path(post, path = "/v1/org/notifications/{eventId}/read", tag = "customer",
    params(("eventId" = String, Path)),
    security(("customerToken" = [])),
    responses(
        (status = 204),
        Unauthenticated, Forbidden, NotFound,
    ))]
pub async fn mark_read(
    State(state): State<AppState>,
    Extension(Customer(user)): Extension<Customer>,
    Path(event_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    mark_read_for(&state, &user.organization, &event_id).await
}

/// Every delivery attempt to your organisation's contacts and endpoints, newest first.
#[utoipa::path(get, path = "/v1/org/deliveries", tag = "customer",
    params(PageQuery),
    security(("customerToken" = [])),
    responses(
        (status = 200, body = DeliveriesResponse),
        Unauthenticated, Invalid,
    ))]
pub async fn deliveries(
    State(state): State<AppState>,
    Extension(Customer(user)): Extension<Customer>,
    QueryParams(query): QueryParams<PageQuery>,
) -> Result<Json<DeliveriesResponse>, ApiError> {
    deliveries_for(&state, &user.organization, query, Reader::Customer).await
}
