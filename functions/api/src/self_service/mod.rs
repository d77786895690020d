//! `/v1/self/…`: routes a customer's client calls with its own API key rather than an
//! operator's credentials or a user's token. In AWS the key authorizer has already
//! checked the key; each handler verifies it again itself, so the route is safe
//! wherever it is served.

pub mod delivery_key;
pub mod key;
pub mod successor;
