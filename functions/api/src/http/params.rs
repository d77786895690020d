//! Path values turned into ids (an id of the wrong shape is simply unknown: 404; an
//! organisation id of the wrong shape is invalid), and an optional reason.

use keyroll_core::error::Error;
use keyroll_core::ids::{ContactId, KeyId, OrganizationId, Reason, RotationId, WebhookId};

use crate::http::problem::ApiError;

pub(crate) fn key_id(raw: &str) -> Result<KeyId, ApiError> {
    KeyId::parse(raw).map_err(|_| Error::not_found("key", "with that id").into())
}

pub(crate) fn rotation_id(raw: &str) -> Result<RotationId, ApiError> {
    RotationId::parse(raw).map_err(|_| Error::not_found("rotation", "with that id").into())
}

pub(crate) fn optional_reason(text: Option<String>) -> Result<Option<Reason>, Error> {
    text.map(|t| Reason::parse(&t)).transpose()
}

pub(crate) fn organization(raw: &str) -> Result<OrganizationId, ApiError> {
    Ok(OrganizationId::parse(raw)?)
}

pub(crate) fn contact_id(raw: &str) -> Result<ContactId, ApiError> {
    ContactId::parse(raw).map_err(|_| Error::not_found("contact", "with that id").into())
}

pub(crate) fn webhook_id(raw: &str) -> Result<WebhookId, ApiError> {
    WebhookId::parse(raw).map_err(|_| Error::not_found("webhook", "with that id").into())
}
