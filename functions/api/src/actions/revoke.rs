//! Revoking one key, as an operator or a customer admin asked, once per
//! Idempotency-Key: every secret of it stops verifying now.

use axum::http::HeaderMap;
use axum::response::Response;
use keyroll_core::idempotency::{IdempotentOperation, RequestOutcome};
use keyroll_core::ids::{Actor, KeyId, OrganizationId, Reason};
use keyroll_core::service::KeyScope;

use crate::dto::RevokeKeyRequest;
use crate::http::extract::JsonBody;
use crate::http::idempotency::{idempotent, Outcome};
use crate::http::problem::ApiError;
use crate::AppState;

/// Revokes key `id` (only `owner`'s, when given: another's answers as unknown) and
/// answers 200 with the key as it now is; a revoked key answers the same, unchanged.
pub(crate) async fn revoke(
    state: &AppState,
    actor: Actor,
    id: KeyId,
    owner: Option<OrganizationId>,
    headers: &HeaderMap,
    body: JsonBody<RevokeKeyRequest>,
) -> Result<Response, ApiError> {
    let reason = Reason::parse(&body.value.reason)?;
    let keyroll = state.keyroll.clone();
    idempotent(
        state,
        actor,
        headers,
        IdempotentOperation::RevokeKey(id.clone()),
        &body.raw,
        RequestOutcome::Changed,
        |caller| async move {
            let scope = match &owner {
                Some(organization) => KeyScope::OwnedBy(organization),
                None => KeyScope::Any,
            };
            let revoked = keyroll.revoke_key(&id, reason, scope, caller).await?;
            Ok(Outcome::Key(revoked.key, None))
        },
    )
    .await
}
