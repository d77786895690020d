//! `PUT /v1/self/delivery-key`: a key's client registers the public half of its
//! delivery key pair with a live secret of the key — trust on first use, only while the
//! key has none.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use keyroll_core::error::Error;
use serde::Serialize;
use utoipa::ToSchema;

use super::successor::presented_secret;
use crate::dto::DeliveryKeyRequest;
use crate::http::extract::JsonBody;
use crate::http::problem::ApiError;
use crate::http::problems::*;
use crate::AppState;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SelfDeliveryKeyResponse {
    pub key_id: String,
    /// The registered key's thumbprint (RFC 7638): the `kid` of the JWE successors.
    pub thumbprint: String,
}

/// Register your key's delivery key with a live secret of the key, if it has none yet
/// (201). The same key again answers 200 and changes nothing; another one is a 409:
/// only an operator or an admin of your organisation can replace a registered delivery
/// key. The organisation is notified (`key.delivery_key_registered`), so an enrolment
/// nobody expected is seen.
#[utoipa::path(put, path = "/v1/self/delivery-key", tag = "self-service",
    request_body = DeliveryKeyRequest,
    security(("currentSecret" = []), ("currentSecretHeader" = [])),
    responses(
        (status = 201, body = SelfDeliveryKeyResponse, description = "registered"),
        (status = 200, body = SelfDeliveryKeyResponse, description = "this key was already registered: nothing changed"),
        MalformedBody, Unauthenticated, StateConflict, TooLarge, UnsupportedMediaType, Invalid,
    ))]
pub async fn register_delivery_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: JsonBody<DeliveryKeyRequest>,
) -> Result<Response, ApiError> {
    let presented = presented_secret(&headers).ok_or(Error::Unauthenticated)?;
    let registered = state
        .keyroll
        .register_own_delivery_key(presented, &body.value.jwk)
        .await?;
    let status = if registered.first {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let thumbprint = registered
        .key
        .delivery_key
        .as_ref()
        .map(|d| d.thumbprint.clone())
        .unwrap_or_default();
    Ok((
        status,
        Json(SelfDeliveryKeyResponse {
            key_id: registered.key.id.to_string(),
            thumbprint,
        }),
    )
        .into_response())
}
