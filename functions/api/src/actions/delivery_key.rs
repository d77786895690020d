//! Registering or replacing a key's delivery key as an operator or a customer admin
//! asked (both routes share it).

use axum::response::{IntoResponse, Response};
use axum::Json;
use keyroll_core::delivery_key::PublicJwk;
use keyroll_core::ids::{Actor, KeyId, OrganizationId};
use keyroll_core::service::KeyScope;

use crate::dto::{DeliveryKeyRequest, KeyResponse, KeyView, Viewer};
use crate::http::extract::JsonBody;
use crate::http::problem::ApiError;
use crate::AppState;

pub(crate) async fn register(
    state: &AppState,
    actor: Actor,
    id: KeyId,
    owner: Option<OrganizationId>,
    body: JsonBody<DeliveryKeyRequest>,
) -> Result<Response, ApiError> {
    let jwk = PublicJwk::parse(&body.value.jwk)?;
    let scope = match &owner {
        Some(organization) => KeyScope::OwnedBy(organization),
        None => KeyScope::Any,
    };
    let viewer = Viewer::of(&actor);
    let registered = state
        .keyroll
        .register_delivery_key(&id, &jwk, scope, actor)
        .await?;
    Ok(Json(KeyResponse {
        key: KeyView::from(&registered.key).seen_by(viewer),
    })
    .into_response())
}
