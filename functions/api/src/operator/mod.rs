//! The operator's routes: the API company's security team and its automation, behind
//! API Gateway IAM (SigV4) in AWS and the admin token locally.
//!
//! | path | file |
//! |---|---|
//! | `/v1/keys`, `/v1/keys/{keyId}`, `/v1/keys/{keyId}/audit`, `/v1/keys/{keyId}/revoke` | `keys.rs` |
//! | `/v1/keys/import` | `import/` |
//! | `/v1/keys/{keyId}/rotations`, `/v1/keys/{keyId}/emergency-rotation` | `key_rotations.rs` |
//! | `/v1/rotations`, `/v1/rotations/{rotationId}/…` | `rotations.rs` |
//! | `/v1/emergencies` | `emergencies.rs` |
//! | `/v1/verify` | `verify.rs` |
//! | `/v1/compliance`, `/v1/compliance.csv` | `compliance.rs` |
//! | `/v1/admin/process`, `/v1/admin/scan` | `admin.rs` |
//! | `/v1/organizations/{organizationId}/…` | `organizations.rs` |
//! | who is calling (IAM principal or admin token) | `auth.rs` |

use axum::extract::DefaultBodyLimit;
use utoipa::openapi::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

pub mod admin;
pub mod auth;
pub mod compliance;
pub mod emergencies;
pub mod import;
pub mod key_rotations;
pub mod keys;
pub mod organizations;
pub mod rotations;
pub mod verify;

pub use auth::{authenticate, Auth, Authenticated};

/// Every operator route with its OpenAPI description, added to `document`.
pub fn routes(document: OpenApi) -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(document)
        .routes(routes!(keys::create_key, keys::list_keys))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(import::import_keys))
                // 1,000 rows of a few hundred bytes each.
                .layer(DefaultBodyLimit::max(import::MAX_BODY_BYTES)),
        )
        .routes(routes!(keys::get_key, keys::update_key))
        .routes(routes!(keys::revoke_key))
        .routes(routes!(keys::callers))
        .routes(routes!(keys::set_delivery_key))
        .routes(routes!(
            key_rotations::schedule_rotation,
            key_rotations::list_rotations
        ))
        .routes(routes!(key_rotations::emergency_rotation))
        .routes(routes!(rotations::get_rotation))
        .routes(routes!(rotations::rotations_in_progress))
        .routes(routes!(emergencies::recent_emergencies))
        .routes(routes!(rotations::cancel_rotation))
        .routes(routes!(rotations::complete_rotation))
        .routes(routes!(rotations::extend_rotation))
        .routes(routes!(rotations::reveal_secret))
        .routes(routes!(keys::audit))
        .routes(routes!(verify::verify))
        .routes(routes!(admin::process))
        .routes(routes!(compliance::report))
        .routes(routes!(compliance::report_csv))
        .routes(routes!(admin::run_scan))
        .routes(routes!(
            organizations::add_contact,
            organizations::list_contacts
        ))
        .routes(routes!(organizations::remove_contact))
        .routes(routes!(
            organizations::add_webhook,
            organizations::list_webhooks
        ))
        .routes(routes!(organizations::remove_webhook))
        .routes(routes!(organizations::rotate_webhook_secret))
        .routes(routes!(organizations::notifications))
        .routes(routes!(organizations::mark_read))
        .routes(routes!(organizations::deliveries))
        .routes(routes!(organizations::revoke_keys))
        .routes(routes!(
            organizations::set_key_policy,
            organizations::key_policy
        ))
}
