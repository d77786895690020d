//! Path values turned into ids (an id of the wrong shape is simply unknown: 404), and
//! an optional reason.

use keyroll_core::error::Error;
use keyroll_core::ids::{KeyId, Reason, RotationId};

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
