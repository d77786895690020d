//! A key as the API shows it: its secret versions by prefix, stage, expiry and last
//! use, never a hash or a verifier.

use keyroll_core::key::{Key, KeyClass, KeyStatus, SecretStage, SecretVersion};
use keyroll_core::time::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

use super::Viewer;

// ---------- responses ----------

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretVersionView {
    pub version: u32,
    /// The shareable start of the secret, e.g. `sk_live_3fA9kQ2z`.
    pub prefix: String,
    pub stage: SecretStage,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<Timestamp>,
    /// When the secret last verified, to the minute (recorded at most once a minute).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<Timestamp>,
    /// Verifications per UTC day over the last 7 days (`{"2026-11-25": 1234}`); shown
    /// for the newest versions only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub daily_uses: Option<std::collections::BTreeMap<String, u64>>,
}

impl From<&SecretVersion> for SecretVersionView {
    fn from(v: &SecretVersion) -> Self {
        Self {
            version: v.version,
            prefix: v.prefix.clone(),
            stage: v.stage,
            created_at: v.created_at,
            expires_at: v.expires_at,
            revoked_at: v.revoked_at,
            last_used_at: v.last_used_at,
            daily_uses: None,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyView {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub rate_limit: u32,
    pub class: KeyClass,
    pub status: KeyStatus,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// When the whole key stops verifying, if it expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
    /// When the key was revoked (absent for a key imported already revoked).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<Timestamp>,
    pub created_by: String,
    pub active_rotation_id: Option<String>,
    pub versions: Vec<SecretVersionView>,
    /// The API company's own labels for the key (`PATCH` sets them).
    pub metadata: std::collections::BTreeMap<String, String>,
    /// The public key the key's successors are encrypted to (`PUT …/delivery-key`);
    /// null when none is registered.
    pub delivery_key: Option<DeliveryKeyView>,
}

/// A key's registered delivery key, named by its thumbprint.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryKeyView {
    /// The JWK thumbprint (RFC 7638, SHA-256, base64url): the `kid` of every JWE
    /// encrypted to it.
    pub thumbprint: String,
    /// The public key itself (`kty`, `crv`, `x`, `y`).
    #[schema(value_type = Object)]
    pub jwk: serde_json::Value,
    #[schema(value_type = String, format = DateTime)]
    pub registered_at: Timestamp,
    /// Who registered it: an operator, an organisation's user, or the key's own client
    /// (`customer:<keyId>`, trust on first use).
    pub registered_by: String,
}

impl From<&keyroll_core::delivery_key::DeliveryKey> for DeliveryKeyView {
    fn from(d: &keyroll_core::delivery_key::DeliveryKey) -> Self {
        Self {
            thumbprint: d.thumbprint.clone(),
            jwk: d.jwk.to_json(),
            registered_at: d.registered_at,
            registered_by: d.registered_by.to_string(),
        }
    }
}

impl KeyView {
    /// The key with what is known of its secrets' use.
    pub fn with_usage(key: &Key, usage: &[keyroll_core::service::SecretUsage]) -> Self {
        let mut view = Self::from(key);
        for version in &mut view.versions {
            if let Some(used) = usage.iter().find(|u| u.version == version.version) {
                version.last_used_at = used.last_used_at;
                version.daily_uses = Some(used.daily_uses.clone());
            }
        }
        view
    }
}

impl From<&Key> for KeyView {
    fn from(key: &Key) -> Self {
        Self {
            id: key.id.to_string(),
            organization_id: key.organization_id.to_string(),
            name: key.name.to_string(),
            scopes: key.scopes.iter().map(ToString::to_string).collect(),
            rate_limit: key.rate_limit,
            class: key.class,
            status: key.status,
            created_at: key.created_at,
            revoked_at: key.revoked_at,
            expires_at: key.expires_at,
            created_by: key.created_by.to_string(),
            active_rotation_id: key.active_rotation.as_ref().map(ToString::to_string),
            versions: key.versions.iter().map(SecretVersionView::from).collect(),
            metadata: key.metadata.clone(),
            delivery_key: key.delivery_key.as_ref().map(DeliveryKeyView::from),
        }
    }
}

impl KeyView {
    pub fn seen_by(mut self, viewer: Viewer) -> Self {
        self.created_by = viewer.actor(&self.created_by);
        if let Some(delivery_key) = &mut self.delivery_key {
            delivery_key.registered_by = viewer.actor(&delivery_key.registered_by);
        }
        self
    }
}

/// A page of keys, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyListResponse {
    pub keys: Vec<KeyView>,
    /// The `cursor` of the next page; null on the last one.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyResponse {
    pub key: KeyView,
}

/// A new key and its first secret. The secret is shown here only: store it now.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyWithSecretResponse {
    pub key: KeyView,
    pub secret: String,
}
