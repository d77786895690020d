//! An organisation's key policy, as the operator sets and reads it, and a customer's
//! own new key.

use keyroll_core::error::Error;
use keyroll_core::ids::{KeyName, OrganizationId, Scope};
use keyroll_core::key::KeyClass;
use keyroll_core::key_policy::KeyPolicy;
use keyroll_core::service::{KeyPolicyRequest, NewKey};
use keyroll_core::time::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeyPolicyBody {
    /// The scopes a customer's key may hold: up to 50 of 1-64 of `A-Za-z0-9_-.:*/`.
    #[schema(value_type = Vec<Scope>, inline)]
    pub allowed_scopes: Vec<String>,
    /// The highest rate limit a customer's key may have, at least 1.
    #[schema(minimum = 1, maximum = 4294967295u64)]
    pub max_rate_limit: u32,
    /// How many active keys the organisation may hold, whoever created them (1-100,000).
    #[schema(minimum = 1, maximum = 100000)]
    pub max_keys: u64,
    /// The classes a customer's key may be of (at least one).
    pub classes: Vec<KeyClass>,
}

impl KeyPolicyBody {
    pub fn into_request(self) -> Result<KeyPolicyRequest, Error> {
        let mut classes = self.classes.clone();
        classes.sort();
        classes.dedup();
        if classes.len() != self.classes.len() {
            return Err(Error::invalid(
                "classes",
                "must name each class at most once",
            ));
        }
        Ok(KeyPolicyRequest {
            allowed_scopes: self
                .allowed_scopes
                .iter()
                .map(|scope| Scope::parse(scope).map_err(|_| scope_error()))
                .collect::<Result<_, _>>()?,
            max_rate_limit: self.max_rate_limit,
            max_keys: self.max_keys,
            classes: self.classes,
        })
    }
}

fn scope_error() -> Error {
    Error::invalid(
        "allowedScopes",
        "each scope must be 1-64 characters of A-Z, a-z, 0-9, '_', '-', '.', ':', '*', '/'",
    )
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyPolicyView {
    pub organization_id: String,
    pub allowed_scopes: Vec<String>,
    pub max_rate_limit: u32,
    pub max_keys: u64,
    pub classes: Vec<KeyClass>,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    pub updated_by: String,
}

impl From<&KeyPolicy> for KeyPolicyView {
    fn from(policy: &KeyPolicy) -> Self {
        Self {
            organization_id: policy.organization_id.to_string(),
            allowed_scopes: policy
                .allowed_scopes
                .iter()
                .map(ToString::to_string)
                .collect(),
            max_rate_limit: policy.max_rate_limit,
            max_keys: policy.max_keys,
            classes: policy.classes.clone(),
            updated_at: policy.updated_at,
            updated_by: policy.updated_by.to_string(),
        }
    }
}

/// A key an organisation's admin creates for a new integration, inside the key policy
/// their provider set.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateOwnKeyRequest {
    /// 1-100 printable characters.
    #[schema(value_type = KeyName, inline)]
    pub name: String,
    /// Up to 50 scopes, each among the policy's `allowedScopes`.
    #[serde(default)]
    #[schema(value_type = Vec<Scope>, inline)]
    pub scopes: Vec<String>,
    /// Requests per second allowed to the key, at least 1 and at most the policy's
    /// `maxRateLimit`.
    #[schema(minimum = 1, maximum = 4294967295u64)]
    pub rate_limit: u32,
    #[serde(default)]
    pub class: KeyClass,
    /// When the whole key stops verifying (RFC 3339, in the future). Default: never.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<String>,
}

impl CreateOwnKeyRequest {
    pub fn into_new_key(self, organization: &OrganizationId) -> Result<NewKey, Error> {
        NewKey::parse(
            organization.as_str(),
            &self.name,
            &self.scopes,
            self.rate_limit,
            self.class,
            self.expires_at
                .as_deref()
                .map(|text| super::requested_time("expiresAt", text))
                .transpose()?,
        )
    }
}
