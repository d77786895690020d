//! Who the token says the caller is, as keyroll understood it: what the portal shows
//! and what decides which buttons it offers (the server still checks every call).

use axum::{Extension, Json};
use serde::Serialize;
use utoipa::ToSchema;

use super::access::Customer;
use crate::http::problems::*;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeResponse {
    pub organization_id: String,
    /// The identity provider's `sub`.
    pub subject: String,
    /// `admin` (acts) or `viewer` (reads).
    pub role: String,
    /// How the audit trail names this user.
    pub actor: String,
}

/// The signed-in user: organisation, subject, role.
#[utoipa::path(get, path = "/v1/org/me", tag = "customer",
    security(("customerToken" = [])),
    responses(
        (status = 200, body = MeResponse),
        Unauthenticated,
    ))]
pub async fn me(Extension(Customer(user)): Extension<Customer>) -> Json<MeResponse> {
    Json(MeResponse {
        organization_id: user.organization.to_string(),
        subject: user.subject.clone(),
        role: user.role.as_str().to_owned(),
        actor: user.actor.to_string(),
    })
}
