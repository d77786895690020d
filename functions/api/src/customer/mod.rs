//! The customer routes, `/v1/org/…`: an organisation's own users, with a token from
//! the API company's identity provider, see and act on their organisation's keys and
//! nothing else. Another organisation's key or rotation answers exactly as an unknown
//! one (404); a viewer's change answers 403; every action is audited as
//! `customer:<organisation>/<sub>` and notified to the organisation's contacts.
//!
//! | capability | file |
//! |---|---|
//! | who is calling: the token, the role; `GET /v1/org/me` | `access.rs`, `me.rs` |
//! | keys: list, create (inside the key policy), one key, rename or label, roll, emergency roll, revoke, audit trail | `keys.rs` |
//! | rotations: complete, extend, reveal | `rotations.rs` |
//! | contacts, webhooks, the feed, the delivery log | `settings.rs` |

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

pub mod access;
pub mod keys;
pub mod me;
pub mod rotations;
pub mod settings;

pub use access::{authenticate_customer, Customer, CustomerAccess};

/// Every customer route with its OpenAPI description.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me::me))
        .routes(routes!(keys::list_keys, keys::create_key))
        .routes(routes!(keys::get_key, keys::update_key))
        .routes(routes!(keys::schedule_rotation))
        .routes(routes!(keys::emergency_rotation))
        .routes(routes!(keys::revoke_key))
        .routes(routes!(keys::callers))
        .routes(routes!(keys::set_delivery_key))
        .routes(routes!(keys::audit))
        .routes(routes!(rotations::complete_rotation))
        .routes(routes!(rotations::extend_rotation))
        .routes(routes!(rotations::reveal_secret))
        .routes(routes!(settings::add_contact, settings::list_contacts))
        .routes(routes!(settings::remove_contact))
        .routes(routes!(settings::confirm_contact))
        .routes(routes!(settings::add_webhook, settings::list_webhooks))
        .routes(routes!(settings::remove_webhook))
        .routes(routes!(settings::rotate_webhook_secret))
        .routes(routes!(settings::notifications))
        .routes(routes!(settings::mark_read))
        .routes(routes!(settings::deliveries))
}
