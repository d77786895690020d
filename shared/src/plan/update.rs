//! Changing a key's attributes (a JSON merge patch, RFC 7396): its name, scopes, rate
//! limit, metadata and expiry. Every secret record follows in the same change (see
//! `ChangeBuilder::finish`), so verification answers with the new scopes and rate
//! limit at once; the audit event holds only what changed.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::Act;
use crate::audit::{AuditAction, Happened};
use crate::change::{ChangeBuilder, KeyChange};
use crate::error::{Error, Result};
use crate::ids::{KeyName, Scope};
use crate::key::Key;
use crate::plan::MAX_SCOPES;
use crate::time::Timestamp;

/// At most this many metadata entries per key.
pub const MAX_METADATA_ENTRIES: usize = 16;
/// A metadata name's most characters.
pub const MAX_METADATA_NAME_CHARS: usize = 40;
/// A metadata value's most characters.
pub const MAX_METADATA_VALUE_CHARS: usize = 500;

/// What a patch does to the metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataPatch {
    /// `"metadata": null`: every entry removed.
    Clear,
    /// `"metadata": {…}`: each name set to its value, or removed where it is `null`.
    Merge(BTreeMap<String, Option<String>>),
}

/// A key's attributes to change; `None` leaves one as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPatch {
    pub name: Option<KeyName>,
    pub scopes: Option<Vec<Scope>>,
    pub rate_limit: Option<u32>,
    pub metadata: Option<MetadataPatch>,
    /// `Some(None)`: the key no longer expires.
    pub expires_at: Option<Option<Timestamp>>,
}

/// Applies `patch` to `key`, made on condition that the key is still at revision
/// `if_revision` when given. `None` when the patch changes nothing (nothing written).
pub fn plan_update(
    key: Key,
    patch: &KeyPatch,
    if_revision: Option<u64>,
    act: Act<'_>,
) -> Result<Option<KeyChange>> {
    super::check_key_live(&key, act.now)?;
    let mut updated = key.clone();
    if let Some(name) = &patch.name {
        updated.name = name.clone();
    }
    if let Some(scopes) = &patch.scopes {
        if scopes.len() > MAX_SCOPES {
            return Err(Error::invalid(
                "scopes",
                format!("at most {MAX_SCOPES} scopes"),
            ));
        }
        let mut scopes = scopes.clone();
        scopes.sort();
        scopes.dedup();
        updated.scopes = scopes;
    }
    if let Some(rate_limit) = patch.rate_limit {
        if !crate::rules::RATE_LIMIT.contains(u64::from(rate_limit)) {
            return Err(Error::invalid("rateLimit", "must be at least 1"));
        }
        updated.rate_limit = rate_limit;
    }
    match &patch.metadata {
        None => {}
        Some(MetadataPatch::Clear) => updated.metadata.clear(),
        Some(MetadataPatch::Merge(entries)) => {
            for (name, value) in entries {
                match value {
                    Some(value) => {
                        updated.metadata.insert(name.clone(), value.clone());
                    }
                    None => {
                        updated.metadata.remove(name);
                    }
                }
            }
            check_metadata(&updated.metadata)?;
        }
    }
    if let Some(expires_at) = patch.expires_at {
        if expires_at.is_some_and(|at| at <= act.now) {
            return Err(Error::outside_policy("expiresAt", "must be in the future"));
        }
        updated.expires_at = expires_at;
    }
    // Checked once the patch itself is known to be good: a bad value is answered as
    // such whatever revision it was sent for.
    if let Some(expected) = if_revision {
        if expected != key.revision {
            return Err(Error::PreconditionFailed {
                current: key.revision,
            });
        }
    }
    let (before, after) = changed_attributes(&key, &updated);
    if before.is_empty() {
        return Ok(None);
    }
    let mut change = ChangeBuilder::update(key);
    *change.key_mut() = updated;
    change.record(Happened {
        before: Value::Object(before),
        after: Value::Object(after),
        ..Happened::new(act.now, act.actor, AuditAction::KeyUpdated)
    });
    Ok(Some(change.finish()))
}

/// The metadata rules: a flat map of at most 16 entries, names of 1-40 and values of at
/// most 500 characters, no control characters.
pub fn check_metadata(metadata: &BTreeMap<String, String>) -> Result<()> {
    if metadata.len() > MAX_METADATA_ENTRIES {
        return Err(Error::invalid(
            "metadata",
            format!("at most {MAX_METADATA_ENTRIES} entries"),
        ));
    }
    for (name, value) in metadata {
        let name_chars = name.chars().count();
        if name_chars == 0 || name_chars > MAX_METADATA_NAME_CHARS {
            return Err(Error::invalid(
                "metadata",
                format!("each name must be 1-{MAX_METADATA_NAME_CHARS} characters"),
            ));
        }
        if value.chars().count() > MAX_METADATA_VALUE_CHARS {
            return Err(Error::invalid(
                "metadata",
                format!("each value must be at most {MAX_METADATA_VALUE_CHARS} characters"),
            ));
        }
        if name.chars().chain(value.chars()).any(char::is_control) {
            return Err(Error::invalid(
                "metadata",
                "must not contain control characters",
            ));
        }
    }
    Ok(())
}

/// The attributes that differ, as they were and as they are (the audit event's
/// `before` and `after`).
fn changed_attributes(was: &Key, is: &Key) -> (Map<String, Value>, Map<String, Value>) {
    let mut before = Map::new();
    let mut after = Map::new();
    let mut compare = |name: &str, old: Value, new: Value| {
        if old != new {
            before.insert(name.to_owned(), old);
            after.insert(name.to_owned(), new);
        }
    };
    compare("name", json!(was.name), json!(is.name));
    compare("scopes", json!(was.scopes), json!(is.scopes));
    compare("rateLimit", json!(was.rate_limit), json!(is.rate_limit));
    compare("metadata", json!(was.metadata), json!(is.metadata));
    compare("expiresAt", json!(was.expires_at), json!(is.expires_at));
    (before, after)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::SecretWrite;
    use crate::error::Conflict;
    use crate::key::KeyClass;
    use crate::key::KeyStatus;
    use crate::plan::fixtures::{act, actor, key, now};

    fn scopes(names: &[&str]) -> Vec<Scope> {
        names.iter().map(|n| Scope::parse(n).unwrap()).collect()
    }

    #[test]
    fn a_patch_changes_only_what_it_names_and_records_only_that() {
        let actor = actor();
        let key = key(KeyClass::Server);
        let patch = KeyPatch {
            scopes: Some(scopes(&["refunds:write", "charges:read", "charges:read"])),
            metadata: Some(MetadataPatch::Merge(BTreeMap::from([(
                "customer".to_owned(),
                Some("cus_42".to_owned()),
            )]))),
            ..Default::default()
        };
        let change = plan_update(key.clone(), &patch, Some(key.revision), act(&actor, now()))
            .unwrap()
            .unwrap();
        let updated = change.key();
        assert_eq!(updated.scopes, scopes(&["charges:read", "refunds:write"]));
        assert_eq!(updated.name, key.name);
        assert_eq!(updated.metadata["customer"], "cus_42");
        let event = &change.events()[0];
        assert_eq!(event.action, AuditAction::KeyUpdated);
        let before = event.before.as_object().unwrap();
        let mut names: Vec<_> = before.keys().collect();
        names.sort();
        assert_eq!(names, ["metadata", "scopes"]);
        // Every secret record carries the new scopes.
        assert_eq!(change.secrets().len(), key.versions.len());
        assert!(change.secrets().iter().all(|write| matches!(
            write,
            SecretWrite::SetState { state, .. } if state.scopes == updated.scopes
        )));
        // The same patch again changes nothing.
        assert!(
            plan_update(updated.clone(), &patch, None, act(&actor, now()))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_patch_rewrites_only_the_records_that_can_still_verify() {
        let actor = actor();
        let mut key = key(KeyClass::Server);
        let mut old = key.versions[0].clone();
        old.version = 0;
        old.lookup_hash = crate::secret::LookupHash::of("revoked long ago");
        old.revoke(now());
        key.versions.insert(0, old);
        let patch = KeyPatch {
            scopes: Some(scopes(&["refunds:write"])),
            ..Default::default()
        };
        let change = plan_update(key, &patch, None, act(&actor, now()))
            .unwrap()
            .unwrap();
        assert_eq!(
            change.secrets().len(),
            1,
            "the revoked record is left as it is"
        );
    }

    #[test]
    fn a_stale_revision_a_bad_value_or_a_dead_key_is_refused() {
        let actor = actor();
        let key = key(KeyClass::Server);
        let rename = KeyPatch {
            name: Some(KeyName::parse("renamed").unwrap()),
            ..Default::default()
        };
        assert!(matches!(
            plan_update(key.clone(), &rename, Some(key.revision + 1), act(&actor, now())),
            Err(Error::PreconditionFailed { current }) if current == key.revision
        ));
        let too_many = KeyPatch {
            metadata: Some(MetadataPatch::Merge(
                (0..17)
                    .map(|i| (format!("k{i}"), Some("v".to_owned())))
                    .collect(),
            )),
            ..Default::default()
        };
        assert!(plan_update(key.clone(), &too_many, None, act(&actor, now())).is_err());
        let past = KeyPatch {
            expires_at: Some(Some(now())),
            ..Default::default()
        };
        assert!(plan_update(key.clone(), &past, None, act(&actor, now())).is_err());
        let mut revoked = key;
        revoked.status = KeyStatus::Revoked;
        assert!(matches!(
            plan_update(revoked, &rename, None, act(&actor, now())),
            Err(Error::Conflict(Conflict::KeyRevoked))
        ));
    }
}
