//! An organisation's notification settings and what reached it, for the operator's
//! routes (the organisation from the path) and the customer's (from the token): email
//! contacts, webhook endpoints (whose signing secret is shown once, at creation and at
//! each rotation of it), the in-app feed and the delivery log.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use keyroll_core::contact::WebhookEndpoint;
use keyroll_core::delivery::DeliveryAttempt;
use keyroll_core::error::Error;
use keyroll_core::ids::{Actor, OrganizationId};

use crate::dto::destinations::*;
use crate::http::extract::JsonBody;
use crate::http::params::{contact_id, webhook_id};
use crate::http::problem::ApiError;
use crate::AppState;

// Each route's work is a `*_for` function of the organisation; the operator's route
// takes the organisation from the path, the customer's from the token.

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

pub(crate) async fn confirm_contact_for(
    state: &AppState,
    organization: &OrganizationId,
    id: &str,
    body: JsonBody<ConfirmContactRequest>,
) -> Result<Json<ContactView>, ApiError> {
    let contact = state
        .keyroll
        .confirm_contact(organization, &contact_id(id)?, &body.value.code)
        .await?;
    Ok(Json(ContactView::from(&contact)))
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

pub(crate) fn with_secret(
    status: StatusCode,
    endpoint: &WebhookEndpoint,
    secret: &str,
    reader: Reader,
) -> Response {
    let response = WebhookWithSecretResponse {
        webhook: WebhookView::of(endpoint, reader),
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
    reader: Reader,
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
    Ok(with_secret(
        StatusCode::CREATED,
        &endpoint,
        secret.expose(),
        reader,
    ))
}

pub(crate) async fn list_webhooks_for(
    state: &AppState,
    organization: &OrganizationId,
    reader: Reader,
) -> Result<Json<WebhooksResponse>, ApiError> {
    let webhooks = state.keyroll.webhooks(organization).await?;
    Ok(Json(WebhooksResponse {
        webhooks: webhooks
            .iter()
            .map(|w| WebhookView::of(w, reader))
            .collect(),
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
    reader: Reader,
) -> Result<Response, ApiError> {
    let (endpoint, secret) = state
        .keyroll
        .rotate_webhook_secret(organization, &webhook_id(id)?)
        .await?;
    Ok(with_secret(
        StatusCode::OK,
        &endpoint,
        secret.expose(),
        reader,
    ))
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
    reader: Reader,
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
        deliveries: attempts
            .iter()
            .map(|a| AttemptView::of(a, reader))
            .collect(),
        next_cursor,
    }))
}
