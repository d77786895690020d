//! Customer users: the people of an API company's customer organisations, named by a
//! token the company's OpenID Connect provider signed. The token says who the user is
//! (`sub`), which organisation they belong to and their role there; keyroll trusts
//! nothing else about them.
//!
//! | piece | file |
//! |---|---|
//! | the settings: issuer, audience, keys, claim names | this file |
//! | checking a token: RS256/ES256 only, a known key, `iss`, `aud`, `exp`, `nbf` | `token.rs` |
//! | the keys a JWKS document gives | `jwks.rs` |
//! | finding the issuer's keys (OpenID Connect Discovery), cached and refreshed | `discovery.rs` |
//! | keyroll-local's development key and the tokens it signs | `dev.rs` |

use std::collections::HashMap;

use keyroll_core::config::settings;
use keyroll_core::contact::DestinationPolicy;
use keyroll_core::ids::{Actor, OrganizationId};
use keyroll_core::time::Timestamp;

pub mod dev;
pub mod discovery;
mod jwks;
mod token;

pub use discovery::ProviderKeys;
pub use token::{Refusal, TokenVerifier, LEEWAY_SECONDS, MAX_TOKEN_BYTES};

/// What a customer user may do in their organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Reads: keys, deadlines, the audit trail, the notification settings and feed.
    Viewer,
    /// Also acts: rotations, reveals, notification settings.
    Admin,
}

impl Role {
    /// `admin` is an admin; anything else, or no role at all, only reads.
    pub fn from_claim(value: Option<&str>) -> Self {
        match value {
            Some("admin") => Role::Admin,
            _ => Role::Viewer,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Admin => "admin",
        }
    }
}

/// An authenticated customer user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerUser {
    pub organization: OrganizationId,
    /// The identity provider's `sub`.
    pub subject: String,
    pub role: Role,
    /// How the audit trail names them: `customer:<organisation>/<sub>`.
    pub actor: Actor,
}

/// The claims that carry the organisation and the role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimNames {
    pub organization: String,
    pub role: String,
}

impl Default for ClaimNames {
    fn default() -> Self {
        Self {
            organization: settings::JWT_ORG_CLAIM.default.into(),
            role: settings::JWT_ROLE_CLAIM.default.into(),
        }
    }
}

impl ClaimNames {
    /// The user named by verified claims, read as text (`claim` gives a claim's
    /// value); `None` when the subject or organisation is missing or malformed.
    pub fn user<'a>(&self, claim: impl Fn(&str) -> Option<&'a str>) -> Option<CustomerUser> {
        let subject = claim("sub")?;
        let organization = OrganizationId::parse(claim(&self.organization)?).ok()?;
        let actor = Actor::customer(&organization, subject).ok()?;
        Some(CustomerUser {
            role: Role::from_claim(claim(&self.role)),
            subject: subject.to_owned(),
            organization,
            actor,
        })
    }

    /// The user named by the claims API Gateway's JWT authorizer verified (it passes
    /// every claim as text).
    pub fn user_from_gateway(&self, claims: &HashMap<String, String>) -> Option<CustomerUser> {
        self.user(|name| claims.get(name).map(String::as_str))
    }
}

/// The customer-identity settings: `KEYROLL_JWT_ISSUER` turns customer routes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentitySettings {
    pub issuer: String,
    pub audience: String,
    /// The JWKS document, inline (for air-gapped use); `None`: the issuer's keys are
    /// found by discovery.
    pub jwks: Option<String>,
    pub claims: ClaimNames,
}

impl IdentitySettings {
    /// The settings from `lookup` (the environment), `None` when customer routes are
    /// off (no issuer), or every problem with them.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, String> {
        let text = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let Some(issuer) = text(settings::JWT_ISSUER.name) else {
            return Ok(None);
        };
        // A token for another application of the same identity provider must not
        // open keyroll: the audience is not optional.
        let audience = text(settings::JWT_AUDIENCE.name).ok_or_else(|| {
            format!(
                "{} is required with {} (the client id or API identifier your identity provider puts in `aud`)",
                settings::JWT_AUDIENCE.name,
                settings::JWT_ISSUER.name
            )
        })?;
        let defaults = ClaimNames::default();
        Ok(Some(Self {
            issuer,
            audience,
            jwks: text(settings::JWKS.name),
            claims: ClaimNames {
                organization: text(settings::JWT_ORG_CLAIM.name).unwrap_or(defaults.organization),
                role: text(settings::JWT_ROLE_CLAIM.name).unwrap_or(defaults.role),
            },
        }))
    }

    pub fn from_env() -> Result<Option<Self>, String> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The verifier of these settings: the inline JWKS when there is one, otherwise the
    /// issuer's keys found by discovery, fetched under `policy` (the webhooks' rules).
    pub async fn verifier(
        &self,
        policy: DestinationPolicy,
        now: Timestamp,
    ) -> Result<TokenVerifier, String> {
        match &self.jwks {
            Some(jwks) => TokenVerifier::new(self, jwks),
            None => Ok(TokenVerifier::discovered(
                self,
                ProviderKeys::discover(&self.issuer, policy, now).await,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Option<IdentitySettings>, String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        IdentitySettings::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn customer_routes_are_off_without_an_issuer_and_need_an_audience_with_one() {
        assert_eq!(settings(&[]).unwrap(), None);
        assert!(settings(&[("KEYROLL_JWT_ISSUER", "https://idp.example")])
            .unwrap_err()
            .contains("KEYROLL_JWT_AUDIENCE"));
        let on = settings(&[
            ("KEYROLL_JWT_ISSUER", "https://idp.example"),
            ("KEYROLL_JWT_AUDIENCE", "keyroll"),
            ("KEYROLL_JWT_ORG_CLAIM", "custom:org"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(on.claims.organization, "custom:org");
        assert_eq!(on.claims.role, "keyroll_role");
        assert_eq!(on.jwks, None);
    }

    #[test]
    fn a_user_needs_a_subject_and_a_valid_organisation_and_is_a_viewer_unless_admin() {
        let names = ClaimNames::default();
        let claims = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let user = names
            .user_from_gateway(&claims(&[("sub", "alice"), ("org_id", "org_acme")]))
            .unwrap();
        assert_eq!(user.role, Role::Viewer);
        assert_eq!(user.actor.as_str(), "customer:org_acme/alice");
        assert_eq!(user.actor.customer_subject(), Some("alice"));
        let admin = names
            .user_from_gateway(&claims(&[
                ("sub", "bob"),
                ("org_id", "org_acme"),
                ("keyroll_role", "admin"),
            ]))
            .unwrap();
        assert_eq!(admin.role, Role::Admin);
        for bad in [
            claims(&[("org_id", "org_acme")]),
            claims(&[("sub", "alice")]),
            claims(&[("sub", "alice"), ("org_id", "no spaces allowed")]),
            claims(&[("sub", ""), ("org_id", "org_acme")]),
        ] {
            assert_eq!(names.user_from_gateway(&bad), None);
        }
        let owner = names
            .user_from_gateway(&claims(&[
                ("sub", "carol"),
                ("org_id", "org_acme"),
                ("keyroll_role", "owner"),
            ]))
            .unwrap();
        assert_eq!(owner.role, Role::Viewer, "an unknown role only reads");
    }
}
