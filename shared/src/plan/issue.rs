//! Issuing a key with its first secret, and importing a key from the old system.

use super::{snapshot, Act, LegacyKey, NewKey, NewSecret};
use crate::audit::{AuditAction, Happened};
use crate::change::{ChangeBuilder, KeyChange};
use crate::error::{Error, Result};
use crate::ids::KeyId;
use crate::key::{Key, KeyStatus, SecretOrigin, SecretRecord, SecretStage, SecretVersion};
use crate::secret::{SecretFormat, DISPLAY_CHARS};

fn new_key(request: NewKey, act: Act<'_>, first: SecretVersion) -> Key {
    let mut scopes = request.scopes;
    scopes.sort();
    scopes.dedup();
    Key {
        id: KeyId::generate(),
        organization_id: request.organization_id,
        name: request.name,
        scopes,
        rate_limit: request.rate_limit,
        class: request.class,
        expires_at: request.expires_at,
        status: KeyStatus::Active,
        created_at: act.now,
        created_by: act.actor.clone(),
        versions: vec![first],
        active_rotation: None,
        revision: 0,
        revoked_at: None,
        expiry_warned_for: None,
        expiry_check_at: None,
        metadata: Default::default(),
        audit_head: None,
        audit_head_mac: None,
        expiry_warned_version: None,
        writes: 0,
        customer_rotations_at: Vec::new(),
        compliance: None,
        current_since: None,
        delivery_key: None,
    }
}

fn created(key: Key, record: SecretRecord, action: AuditAction, act: Act<'_>) -> KeyChange {
    let mut change = ChangeBuilder::create(key);
    change.add_secret(record);
    let after = snapshot(change.key(), None);
    change.record(Happened {
        after,
        ..Happened::new(act.now, act.actor, action)
    });
    change.finish()
}

/// A new key whose first secret is `secret`.
pub fn plan_issue(request: NewKey, secret: &NewSecret, act: Act<'_>) -> Result<KeyChange> {
    request.validate_at(act.now)?;
    let first = SecretVersion::new(
        1,
        secret.display_prefix.clone(),
        secret.lookup_hash,
        SecretStage::Current,
        SecretOrigin::Generated,
        act.now,
    );
    let key = new_key(request, act, first.clone());
    let record = SecretRecord::new(&key, &first, Some(secret.verifier.clone()));
    Ok(created(key, record, AuditAction::KeyCreated, act))
}

/// A key of the old system, verified by its lookup hash alone until it is rotated
/// away, with its real creation date (which decides its compliance).
pub fn plan_import(legacy: LegacyKey, format: &SecretFormat, act: Act<'_>) -> Result<KeyChange> {
    legacy.key.validate_at(act.now)?;
    let visible = &legacy.visible_prefix;
    if visible.len() != DISPLAY_CHARS
        || !visible
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(Error::invalid(
            "prefix",
            "must be the 8 lower-case hex characters after the legacy prefix",
        ));
    }
    if legacy.created_at > act.now {
        return Err(Error::invalid("createdAt", "must not be in the future"));
    }
    let mut first = SecretVersion::new(
        1,
        format.legacy_display_prefix(visible),
        legacy.lookup_hash,
        SecretStage::Current,
        SecretOrigin::Imported,
        legacy.created_at,
    );
    if legacy.revoked {
        first.revoke(act.now);
    }
    let mut key = new_key(legacy.key, act, first.clone());
    key.created_at = legacy.created_at;
    if let Some(id) = legacy.id {
        key.id = id;
    }
    if legacy.revoked {
        key.status = KeyStatus::Revoked;
    }
    let record = SecretRecord::new(&key, &first, None);
    Ok(created(key, record, AuditAction::KeyImported, act))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::SecretWrite;
    use crate::ids::{KeyName, OrganizationId};
    use crate::key::KeyClass;
    use crate::plan::fixtures::{act, actor, at, now};
    use crate::secret::LookupHash;

    fn request(rate_limit: u32) -> NewKey {
        NewKey {
            organization_id: OrganizationId::parse("org_acme").unwrap(),
            name: KeyName::parse("k").unwrap(),
            scopes: vec![],
            rate_limit,
            class: KeyClass::Server,
            expires_at: None,
        }
    }

    #[test]
    fn an_issued_key_is_created_with_its_secret_record_and_one_event() {
        let actor = actor();
        let secret = crate::plan::fixtures::successor(2, false).secret;
        let change = plan_issue(request(5), &secret, act(&actor, now())).unwrap();
        assert_eq!(
            change.expected_revision(),
            None,
            "the key must not exist yet"
        );
        assert_eq!(change.key().revision, 1);
        assert_eq!(change.events().len(), 1);
        assert_eq!(change.events()[0].action, AuditAction::KeyCreated);
        assert!(matches!(change.secrets(), [SecretWrite::Create(r)] if r.verifier.is_some()));
        assert!(plan_issue(request(0), &secret, act(&actor, now())).is_err());
    }

    #[test]
    fn an_import_keeps_its_creation_date_and_refuses_the_future() {
        let actor = actor();
        let format = SecretFormat::new("sk_live_", "sk_live_").unwrap();
        let legacy = |created_at, prefix: &str| LegacyKey {
            id: None,
            revoked: false,
            key: request(5),
            lookup_hash: LookupHash::of("old"),
            visible_prefix: prefix.into(),
            created_at,
        };
        let old = at("2023-01-01T00:00:00Z");
        let change = plan_import(legacy(old, "0123abcd"), &format, act(&actor, now())).unwrap();
        assert_eq!(change.key().versions[0].created_at, old);
        assert_eq!(change.key().created_at, old);
        assert!(matches!(change.secrets(), [SecretWrite::Create(r)] if r.verifier.is_none()));
        let future = now().plus_seconds(1);
        assert!(plan_import(legacy(future, "0123abcd"), &format, act(&actor, now())).is_err());
        assert!(plan_import(legacy(old, "XYZ"), &format, act(&actor, now())).is_err());
    }
}
