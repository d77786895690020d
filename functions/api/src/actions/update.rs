//! Changing a key's attributes (a merge patch), as an operator or a customer admin
//! asked, conditional on `If-Match` when sent; the answer carries the key's `ETag`.

use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use keyroll_core::ids::{Actor, KeyId, OrganizationId};
use keyroll_core::service::{KeyPatch, KeyScope};

use crate::dto::{KeyResponse, KeyView, Viewer};
use crate::http::conditional::{etag, if_match, Precondition};
use crate::http::problem::ApiError;
use crate::AppState;

/// Applies `patch` to key `id` (only `owner`'s, when given: another's answers as
/// unknown) and answers 200 with the key as it now is and its `ETag`.
pub(crate) async fn update(
    state: &AppState,
    actor: Actor,
    id: KeyId,
    owner: Option<OrganizationId>,
    headers: &HeaderMap,
    patch: KeyPatch,
) -> Result<Response, ApiError> {
    let if_revision = match if_match(headers) {
        Precondition::Any => None,
        Precondition::Revision(revision) => Some(revision),
        // No key reaches revision u64::MAX: the planner answers 412 with the revision.
        Precondition::Unmatchable => Some(u64::MAX),
    };
    let scope = match &owner {
        Some(organization) => KeyScope::OwnedBy(organization),
        None => KeyScope::Any,
    };
    let viewer = Viewer::of(&actor);
    let key = state
        .keyroll
        .update_key(&id, &patch, if_revision, scope, actor)
        .await?;
    Ok((
        [(header::ETAG, etag(key.revision))],
        Json(KeyResponse {
            key: KeyView::from(&key).seen_by(viewer),
        }),
    )
        .into_response())
}
