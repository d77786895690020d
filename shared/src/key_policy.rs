//! What the API company lets an organisation's admins do with keys of their own: which
//! scopes, up to which rate limit, how many active keys, of which classes. Without a
//! policy an organisation's users create no keys at all. The rules are pure functions;
//! the policy is stored per organisation (`Store::key_policy`).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::{Actor, OrganizationId, Scope};
use crate::key::KeyClass;
use crate::plan::{NewKey, MAX_SCOPES};
use crate::time::Timestamp;

/// The most active keys a policy may allow one organisation.
pub const MAX_KEYS_LIMIT: u64 = 100_000;

/// One organisation's key policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyPolicy {
    pub organization_id: OrganizationId,
    /// The scopes a customer's key may hold (a subset of these).
    pub allowed_scopes: Vec<Scope>,
    /// The highest rate limit a customer's key may have.
    pub max_rate_limit: u32,
    /// How many active keys the organisation may hold, whoever created them.
    pub max_keys: u64,
    /// The classes a customer's key may be of.
    pub classes: Vec<KeyClass>,
    pub updated_at: Timestamp,
    pub updated_by: Actor,
}

impl KeyPolicy {
    /// Checks a policy's own shape: at most 50 distinct scopes, a rate limit of at
    /// least 1, 1 to 100,000 keys, at least one class.
    pub fn validate(&self) -> Result<()> {
        if self.allowed_scopes.len() > MAX_SCOPES {
            return Err(Error::invalid(
                "allowedScopes",
                format!("at most {MAX_SCOPES} scopes"),
            ));
        }
        if !crate::rules::RATE_LIMIT.contains(u64::from(self.max_rate_limit)) {
            return Err(Error::invalid("maxRateLimit", "must be at least 1"));
        }
        if !(1..=MAX_KEYS_LIMIT).contains(&self.max_keys) {
            return Err(Error::invalid(
                "maxKeys",
                format!("must be from 1 to {MAX_KEYS_LIMIT}"),
            ));
        }
        if self.classes.is_empty() {
            return Err(Error::invalid("classes", "must name at least one class"));
        }
        Ok(())
    }

    /// Whether an organisation holding `active_keys` active keys may create `key`:
    /// a refusal names the field at fault (409 `outside-policy`).
    pub fn admits(&self, key: &NewKey, active_keys: u64) -> Result<()> {
        if key.organization_id != self.organization_id {
            return Err(Error::Internal(
                "a key policy applied to another organisation's key".into(),
            ));
        }
        if let Some(scope) = key
            .scopes
            .iter()
            .find(|scope| !self.allowed_scopes.contains(scope))
        {
            return Err(Error::outside_policy(
                "scopes",
                format!("{scope} is not among the scopes your provider allows"),
            ));
        }
        if key.rate_limit > self.max_rate_limit {
            return Err(Error::outside_policy(
                "rateLimit",
                format!("must be at most {}", self.max_rate_limit),
            ));
        }
        if !self.classes.contains(&key.class) {
            return Err(Error::outside_policy(
                "class",
                format!("{} keys are not allowed", key.class),
            ));
        }
        if active_keys >= self.max_keys {
            return Err(Error::outside_policy(
                "maxKeys",
                format!(
                    "the organisation already holds {active_keys} active keys, the most it may"
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Conflict;
    use crate::ids::KeyName;

    fn policy() -> KeyPolicy {
        KeyPolicy {
            organization_id: OrganizationId::parse("org_acme").unwrap(),
            allowed_scopes: vec![Scope::parse("charges:read").unwrap()],
            max_rate_limit: 100,
            max_keys: 3,
            classes: vec![KeyClass::Server],
            updated_at: Timestamp::parse("2026-01-01T00:00:00Z").unwrap(),
            updated_by: Actor::parse("alice").unwrap(),
        }
    }

    fn request() -> NewKey {
        NewKey {
            organization_id: OrganizationId::parse("org_acme").unwrap(),
            name: KeyName::parse("integration").unwrap(),
            scopes: vec![Scope::parse("charges:read").unwrap()],
            rate_limit: 100,
            class: KeyClass::Server,
            expires_at: None,
        }
    }

    fn refused_field(result: Result<()>) -> &'static str {
        match result {
            Err(Error::Conflict(Conflict::OutsidePolicy { field, .. })) => field,
            other => panic!("expected outside-policy, got {other:?}"),
        }
    }

    #[test]
    fn a_key_inside_the_policy_is_admitted_and_each_excess_is_named() {
        let policy = policy();
        policy.validate().unwrap();
        assert!(policy.admits(&request(), 2).is_ok());
        let mut wide = request();
        wide.scopes.push(Scope::parse("charges:write").unwrap());
        assert_eq!(refused_field(policy.admits(&wide, 0)), "scopes");
        let mut fast = request();
        fast.rate_limit = 101;
        assert_eq!(refused_field(policy.admits(&fast, 0)), "rateLimit");
        let mut embedded = request();
        embedded.class = KeyClass::Embedded;
        assert_eq!(refused_field(policy.admits(&embedded, 0)), "class");
        assert_eq!(refused_field(policy.admits(&request(), 3)), "maxKeys");
    }

    #[test]
    fn a_policy_of_the_wrong_shape_is_refused() {
        let mut none = policy();
        none.classes.clear();
        assert!(none.validate().is_err());
        let mut zero = policy();
        zero.max_keys = 0;
        assert!(zero.validate().is_err());
    }
}
