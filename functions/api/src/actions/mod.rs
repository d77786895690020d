//! What the operator's and the customer's routes both do once they know who is asking
//! and which key, rotation or organisation: rotating, changing or revoking a key, acting on a rotation, an
//! audit page, an organisation's notification settings. Handlers call down into these;
//! no handler calls another room's handler.

pub mod audit;
pub mod delivery_key;
pub mod destinations;
pub mod revoke;
pub mod rotate;
pub mod rotation;
pub mod update;
