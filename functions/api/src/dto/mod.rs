//! The API's request and response bodies (camelCase, RFC 3339 UTC times). Responses
//! are built from the domain types and leave out lookup hashes and verifiers; a secret
//! appears only in the response of the request that minted it. Each body is shown as
//! its [`Viewer`] may see it.

pub mod audit;
pub mod callers;
pub mod destinations;
pub mod key_policy;
pub mod keys;
pub mod limits;
pub mod patch;
pub mod requests;
pub mod rotations;
pub mod values;
pub mod verify;

pub use audit::*;
pub use callers::*;
pub use key_policy::*;
pub use keys::*;
pub use patch::*;
pub use requests::*;
pub use rotations::*;
pub use values::*;
pub use verify::*;

use keyroll_core::ids::{Actor, ActorKind};

/// Who a response is for. A customer sees their own users and keyroll's jobs by name,
/// and the API provider's operators (IAM principals, the local admin) as `provider`:
/// the provider's account and role names are not the customer's to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer {
    Operator,
    Customer,
}

/// How the API provider's operators appear to customers.
pub const PROVIDER: &str = "provider";

impl Viewer {
    /// Whom a request by `actor` is answered for.
    pub fn of(actor: &Actor) -> Self {
        match actor.kind() {
            ActorKind::CustomerUser => Viewer::Customer,
            ActorKind::Operator | ActorKind::SelfServiceKey | ActorKind::Job => Viewer::Operator,
        }
    }

    /// `actor` as this viewer may see it.
    pub fn actor(self, actor: &str) -> String {
        let named = ActorKind::of_name(actor) != ActorKind::Operator;
        match self {
            Viewer::Customer if !named => PROVIDER.to_owned(),
            _ => actor.to_owned(),
        }
    }
}
