//! The bodies of `PATCH /v1/keys/{keyId}` and `PATCH /v1/org/keys/{keyId}`: JSON merge
//! patches (RFC 7396). A field left out stays as it is; `null` removes what may be
//! removed (an expiry, metadata entries, every scope) and is refused elsewhere.

use std::collections::BTreeMap;

use keyroll_core::error::Error;
use keyroll_core::ids::{KeyName, Scope};
use keyroll_core::service::{KeyPatch, MetadataPatch};
use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;

/// A field that was sent, possibly as `null` (`Some(None)`), or left out (`None`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

type Metadata = BTreeMap<String, Option<String>>;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateKeyRequest {
    /// A new name: 1-100 printable characters.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = KeyName, inline)]
    pub name: Option<Option<String>>,
    /// The key's scopes from now on (replacing them; `null` or `[]`: none).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<Scope>>, inline)]
    pub scopes: Option<Option<Vec<String>>>,
    /// Requests per second allowed to the key, at least 1.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = u32, minimum = 1, maximum = 4294967295u64)]
    pub rate_limit: Option<Option<u32>>,
    /// Entries to set, or to remove with `null` (`"metadata": null` removes them all).
    /// At most 16 entries, names of 1-40 and values of at most 500 characters.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<BTreeMap<String, Option<String>>>)]
    pub metadata: Option<Option<Metadata>>,
    /// When the whole key stops verifying (RFC 3339, in the future); `null`: never.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Option<String>>,
}

/// What an organisation's admin may change of its own key.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateOwnKeyRequest {
    /// A new name: 1-100 printable characters.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = KeyName, inline)]
    pub name: Option<Option<String>>,
    /// Entries to set, or to remove with `null` (`"metadata": null` removes them all).
    /// At most 16 entries, names of 1-40 and values of at most 500 characters.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<BTreeMap<String, Option<String>>>)]
    pub metadata: Option<Option<Metadata>>,
}

impl UpdateKeyRequest {
    /// The patch, validated: a `null` where nothing may be removed is a 422.
    pub fn into_patch(self) -> Result<KeyPatch, Error> {
        let scopes = match self.scopes {
            None => None,
            Some(scopes) => Some(
                scopes
                    .unwrap_or_default()
                    .iter()
                    .map(|scope| Scope::parse(scope))
                    .collect::<Result<_, _>>()?,
            ),
        };
        let rate_limit = match self.rate_limit {
            None => None,
            Some(None) => return Err(Error::invalid("rateLimit", "cannot be removed")),
            Some(Some(limit)) => Some(limit),
        };
        let expires_at = match self.expires_at {
            None => None,
            Some(None) => Some(None),
            Some(Some(text)) => Some(Some(super::requested_time("expiresAt", &text)?)),
        };
        Ok(KeyPatch {
            name: name(self.name)?,
            scopes,
            rate_limit,
            metadata: self.metadata.map(metadata),
            expires_at,
        })
    }
}

impl UpdateOwnKeyRequest {
    pub fn into_patch(self) -> Result<KeyPatch, Error> {
        Ok(KeyPatch {
            name: name(self.name)?,
            metadata: self.metadata.map(metadata),
            ..KeyPatch::default()
        })
    }
}

fn name(sent: Option<Option<String>>) -> Result<Option<KeyName>, Error> {
    match sent {
        None => Ok(None),
        Some(None) => Err(Error::invalid("name", "cannot be removed")),
        Some(Some(text)) => KeyName::parse(&text).map(Some),
    }
}

fn metadata(sent: Option<Metadata>) -> MetadataPatch {
    match sent {
        None => MetadataPatch::Clear,
        Some(entries) => MetadataPatch::Merge(entries),
    }
}
