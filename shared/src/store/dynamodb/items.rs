//! Every item type's shape: domain value in, DynamoDB item out, and back. Each item is
//! the serde form of its value plus the table's key attributes (and, for keys and
//! rotations, the sparse index attributes that make them findable).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::schema::{
    age_pk, attr, audit_sk, compliance_org_pk, compliance_pk, due_pk, emergency_pk, expiry_pk,
    idempotency_pk, key_pk, list_pk, org_list_pk, org_pk, outbox_pk, pointer_pk, prefix_pk,
    rotation_sk, secret_pk, AGE_PK, AGE_SK, CMP_MOVED, CMP_ORG_PK, CMP_PK, CMP_PREFIX, CMP_SK,
    COMPLIANCE_PK, DUE_PK, DUE_SK, HELD_PK, IDEMPOTENCY_SK, KEY_SK, LIST_PK, LIST_SK, ORG_LIST_PK,
    ORG_PK, ORG_SK, PK, POINTER_SK, SECRET_SK, SK, SNAPSHOT_SK_PREFIX, TTL,
};
use crate::audit::AuditEvent;
use crate::change::EmergencyLogEntry;
use crate::compliance::{ComplianceSnapshot, KeyComplianceStatus};
use crate::error::StoreError;
use crate::held::HeldMarker;
use crate::idempotency::IdempotencyRecord;
use crate::ids::{KeyId, OrganizationId, RotationId};
use crate::index::{AgeRef, ComplianceEntry, DueRef, ExpiryRef, ListedKey};
use crate::key::{Key, KeyClass, SecretRecord};
use crate::notification::OutboxEntry;
use crate::rotation::Rotation;
use crate::time::Timestamp;

pub type Item = HashMap<String, AttributeValue>;

pub fn s(text: impl Into<String>) -> AttributeValue {
    AttributeValue::S(text.into())
}

/// `value`'s serde form as one attribute value.
pub fn attribute<T: Serialize>(value: &T) -> Result<AttributeValue, StoreError> {
    serde_dynamo::to_attribute_value(value).map_err(|e| StoreError::Corrupt(format!("encode: {e}")))
}

pub fn encode<T: Serialize>(value: &T) -> Result<Item, StoreError> {
    serde_dynamo::to_item(value).map_err(|e| StoreError::Corrupt(format!("encode: {e}")))
}

pub fn decode<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(format!("decode: {e}")))
}

pub fn text_attribute<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| StoreError::Corrupt(format!("item has no string attribute {name}")))
}

pub fn corrupt(error: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(error.to_string())
}

/// An index sort key `<time>#<id>`, split into its parts.
pub fn split_index_sort_key<'a>(
    item: &'a Item,
    attribute: &str,
) -> Result<(Timestamp, &'a str), StoreError> {
    let sort = text_attribute(item, attribute)?;
    let (time, id) = sort
        .split_once('#')
        .ok_or_else(|| StoreError::Corrupt(format!("{attribute} {sort:?}")))?;
    Ok((Timestamp::parse(time).map_err(corrupt)?, id))
}

/// `value`'s serde form under the item key `(pk, sk)`.
pub fn keyed<T: Serialize>(value: &T, pk: String, sk: String) -> Result<Item, StoreError> {
    let mut item = encode(value)?;
    item.insert(PK.into(), s(pk));
    item.insert(SK.into(), s(sk));
    Ok(item)
}

/// A held-secret marker, in the one `HELD` partition by when it was held.
pub fn held_marker_item(marker: &HeldMarker) -> Result<Item, StoreError> {
    keyed(marker, HELD_PK.into(), marker.sort_key())
}

pub fn key_item(key: &Key) -> Result<Item, StoreError> {
    let mut item = keyed(key, key_pk(&key.id), KEY_SK.into())?;
    if let Some(age) = AgeRef::of(key) {
        item.insert(AGE_PK.into(), s(age_pk(age.class, age.shard())));
        item.insert(AGE_SK.into(), s(age.sort_key()));
    }
    if let Some(expiry) = ExpiryRef::of(key) {
        item.insert(DUE_PK.into(), s(expiry_pk(expiry.shard())));
        item.insert(DUE_SK.into(), s(expiry.sort_key()));
    }
    let listed = ListedKey::of(key);
    item.insert(LIST_PK.into(), s(list_pk(key.status, listed.shard())));
    item.insert(
        ORG_LIST_PK.into(),
        s(org_list_pk(&key.organization_id, key.status)),
    );
    item.insert(LIST_SK.into(), s(listed.sort_key()));
    item.insert(ORG_PK.into(), s(org_pk(&key.organization_id)));
    item.insert(ORG_SK.into(), s(key.id.as_str()));
    if let Some(entry) = ComplianceEntry::of(key) {
        item.insert(CMP_PK.into(), s(compliance_pk(entry.status, entry.class)));
        item.insert(
            CMP_ORG_PK.into(),
            s(compliance_org_pk(
                &entry.organization_id,
                entry.status,
                entry.class,
            )),
        );
        item.insert(CMP_SK.into(), s(entry.sort_key()));
        item.insert(CMP_PREFIX.into(), s(entry.prefix));
        item.insert(CMP_MOVED.into(), s(entry.moved_at.to_rfc3339()));
    }
    Ok(item)
}

/// A compliance index entry from an item of either compliance index.
pub fn compliance_entry_from_item(
    item: &Item,
    status: KeyComplianceStatus,
    class: KeyClass,
) -> Result<ComplianceEntry, StoreError> {
    let (created_at, key) = split_index_sort_key(item, CMP_SK)?;
    let active_rotation = match item.get("activeRotation") {
        None => None,
        Some(value) => Some(
            RotationId::parse(value.as_s().map_err(|_| corrupt("activeRotation"))?)
                .map_err(corrupt)?,
        ),
    };
    Ok(ComplianceEntry {
        key_id: KeyId::parse(key).map_err(corrupt)?,
        organization_id: OrganizationId::parse(text_attribute(item, "organizationId")?)
            .map_err(corrupt)?,
        class,
        status,
        created_at,
        prefix: text_attribute(item, CMP_PREFIX)?.to_owned(),
        active_rotation,
        moved_at: Timestamp::parse(text_attribute(item, CMP_MOVED)?).map_err(corrupt)?,
    })
}

pub fn rotation_item(rotation: &Rotation) -> Result<Item, StoreError> {
    let mut item = keyed(
        rotation,
        key_pk(&rotation.key_id),
        rotation_sk(&rotation.id),
    )?;
    if let Some(due) = DueRef::of(rotation) {
        item.insert(DUE_PK.into(), s(due_pk(due.shard())));
        item.insert(DUE_SK.into(), s(due.sort_key()));
    }
    Ok(item)
}

/// Finds a rotation's key from the rotation id alone.
pub fn pointer_item(rotation: &Rotation) -> Item {
    HashMap::from([
        (PK.into(), s(pointer_pk(&rotation.id))),
        (SK.into(), s(POINTER_SK)),
        (attr::KEY_ID.into(), s(rotation.key_id.as_str())),
    ])
}

pub fn secret_item(record: &SecretRecord) -> Result<Item, StoreError> {
    let mut item = keyed(record, secret_pk(&record.lookup_hash), SECRET_SK.into())?;
    if let Some(prefix) = &record.prefix {
        item.insert(ORG_PK.into(), s(prefix_pk(prefix)));
        item.insert(ORG_SK.into(), s(record.key_id.as_str()));
    }
    Ok(item)
}

/// With its DynamoDB TTL attribute: the table deletes the record (and its sealed
/// secret) within a few days of the replay window's end.
pub fn idempotency_item(record: &IdempotencyRecord) -> Result<Item, StoreError> {
    let mut item = keyed(record, idempotency_pk(&record.id), IDEMPOTENCY_SK.into())?;
    item.insert(
        TTL.into(),
        AttributeValue::N(record.expires_at.unix().to_string()),
    );
    Ok(item)
}

pub fn snapshot_item(snapshot: &ComplianceSnapshot) -> Result<Item, StoreError> {
    keyed(
        snapshot,
        COMPLIANCE_PK.into(),
        format!("{SNAPSHOT_SK_PREFIX}{}", snapshot.date),
    )
}

/// Audit events are stored as their exact JSON so the hashed content round-trips
/// byte for byte; a few fields are repeated as attributes for people reading the table.
pub fn audit_item(event: &AuditEvent) -> Result<Item, StoreError> {
    let json = serde_json::to_string(event)
        .map_err(|e| StoreError::Corrupt(format!("encode audit: {e}")))?;
    let action = serde_json::to_value(event.action)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    Ok(HashMap::from([
        (PK.into(), s(key_pk(&event.key_id))),
        (SK.into(), s(audit_sk(event.seq))),
        ("seq".into(), AttributeValue::N(event.seq.to_string())),
        ("action".into(), s(action)),
        ("at".into(), s(event.at.to_rfc3339())),
        (attr::EVENT.into(), s(json)),
    ]))
}

pub fn audit_from_item(item: &Item) -> Result<AuditEvent, StoreError> {
    serde_json::from_str(text_attribute(item, attr::EVENT)?)
        .map_err(|e| StoreError::Corrupt(format!("audit event: {e}")))
}

pub fn outbox_item(entry: &OutboxEntry) -> Result<Item, StoreError> {
    let message = serde_json::to_string(&entry.message)
        .map_err(|e| StoreError::Corrupt(format!("encode outbox: {e}")))?;
    Ok(HashMap::from([
        (PK.into(), s(outbox_pk(entry.shard))),
        (SK.into(), s(entry.sort_key.clone())),
        (attr::MESSAGE.into(), s(message)),
    ]))
}

pub fn emergency_item(entry: &EmergencyLogEntry) -> Item {
    HashMap::from([
        (PK.into(), s(emergency_pk(&entry.month()))),
        (SK.into(), s(entry.sort_key())),
        (attr::KEY_ID.into(), s(entry.key_id.as_str())),
    ])
}

#[cfg(test)]
mod tests {
    //! The golden shapes: every item type's attribute names. Expressions elsewhere name
    //! attributes (`revision`, `status`, `stage`, `expiresAt`, `lastUsedAt`,
    //! `dailyUses`, …); a serde rename that moved one would silently stop those
    //! expressions from matching, so it fails here first.

    use std::collections::BTreeSet;

    use super::*;
    use crate::change::KeyChange;
    use crate::key::KeyClass;
    use crate::notification::OutboxMessage;
    use crate::plan::fixtures::{act, actor, key, now, policy, successor};
    use crate::plan::{plan_schedule, RotationRequest, ScheduleTrigger};

    fn names(item: &Item) -> BTreeSet<&str> {
        item.keys().map(String::as_str).collect()
    }

    fn pinned(item: &Item, expected: &[&str]) {
        let expected: BTreeSet<&str> = expected.iter().copied().collect();
        assert_eq!(names(item), expected, "attribute names of {item:?}");
    }

    /// A change with nearly one of everything: a held policy rotation of a key.
    fn change() -> (KeyChange, Rotation) {
        let actor = actor();
        let request = RotationRequest {
            trigger: ScheduleTrigger::Policy,
            ..Default::default()
        };
        plan_schedule(
            key(KeyClass::Server),
            &request,
            &policy(),
            &successor(2, true),
            act(&actor, now()),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn every_item_type_has_its_pinned_attribute_names() {
        let (change, rotation) = change();
        pinned(
            &key_item(change.key()).unwrap(),
            &[
                "pk",
                "sk",
                "age_pk",
                "age_sk",
                "org_pk",
                "org_sk",
                "list_pk",
                "list_sk",
                "org_list_pk",
                "id",
                "organizationId",
                "name",
                "scopes",
                "rateLimit",
                "class",
                attr::STATUS,
                "createdAt",
                "createdBy",
                "versions",
                "activeRotation",
                attr::REVISION,
                attr::WRITES,
                "auditHead",
                "deliveryKey",
            ],
        );
        pinned(
            &rotation_item(&rotation).unwrap(),
            &[
                "pk",
                "sk",
                "due_pk",
                "due_sk",
                "id",
                "keyId",
                "fromVersion",
                "toVersion",
                "oldPrefix",
                "newPrefix",
                attr::STATUS,
                "trigger",
                "reason",
                "actor",
                "createdAt",
                "scheduledAt",
                "graceEndsAt",
                "reminderAt",
                "vaultSecret",
            ],
        );
        pinned(&pointer_item(&rotation), &["pk", "sk", attr::KEY_ID]);
        let crate::change::SecretWrite::Create(record) = &change.secrets()[0] else {
            panic!("the new secret's record");
        };
        pinned(
            &secret_item(record).unwrap(),
            &[
                "pk",
                "sk",
                "lookupHash",
                "keyId",
                "version",
                "organizationId",
                "scopes",
                "rateLimit",
                "class",
                attr::STAGE,
                "origin",
                "verifier",
                "createdAt",
                attr::DAILY_USES,
                "prefix",
                "org_pk",
                "org_sk",
            ],
        );
        let mut used = record.clone();
        used.last_used_at = Some(now());
        used.expires_at = Some(now());
        let used = secret_item(&used).unwrap();
        assert!(used.contains_key(attr::LAST_USED_AT) && used.contains_key(attr::EXPIRES_AT));
        pinned(
            &audit_item(&change.events()[0]).unwrap(),
            &["pk", "sk", "seq", "action", "at", attr::EVENT],
        );
        let notify = change
            .outbox()
            .iter()
            .find(|e| matches!(e.message, OutboxMessage::Notify { .. }))
            .unwrap();
        pinned(&outbox_item(notify).unwrap(), &["pk", "sk", attr::MESSAGE]);
        let logged = EmergencyLogEntry {
            at: now(),
            rotation_id: rotation.id.clone(),
            key_id: change.key().id.clone(),
        };
        pinned(&emergency_item(&logged), &["pk", "sk", attr::KEY_ID]);
        let marker = HeldMarker {
            held_at: now(),
            rotation_id: rotation.id.clone(),
            vault_secret: "keyroll/rot_x".into(),
        };
        pinned(
            &held_marker_item(&marker).unwrap(),
            &["pk", "sk", "heldAt", "rotationId", "vaultSecret"],
        );
        let intent = crate::idempotency::IdempotencyIntent::new(
            &actor(),
            &crate::idempotency::IdempotentOperation::IssueKey,
            "0d3c6a9e-5b1f-4e0a-9f43-2b2f6c1d7e88",
            b"{}",
            &crate::mac::LocalMac::random(),
        )
        .await
        .unwrap();
        pinned(
            &idempotency_item(
                &intent
                    .record(
                        "key_x",
                        crate::idempotency::RequestOutcome::Created,
                        None,
                        now(),
                    )
                    .unwrap(),
            )
            .unwrap(),
            &[
                "pk",
                "sk",
                "id",
                "fingerprint",
                "resourceId",
                "outcome",
                "createdAt",
                attr::EXPIRES_AT,
                TTL,
            ],
        );
        pinned(
            &snapshot_item(&ComplianceSnapshot::new("2026-01-01".into(), 3, 1, 1)).unwrap(),
            &[
                "pk",
                "sk",
                "date",
                "activeKeys",
                "compliant",
                "inProgress",
                "nonCompliant",
                "coveragePercent",
            ],
        );
    }

    /// Guards and index keys write enums with `as_str`; items hold their serde names.
    #[test]
    fn enum_names_in_expressions_are_their_stored_names() {
        use crate::key::SecretStage;
        use crate::rotation::RotationStatus;
        let stored = |value: serde_json::Value| value.as_str().unwrap().to_owned();
        for stage in [
            SecretStage::Current,
            SecretStage::Pending,
            SecretStage::Previous,
            SecretStage::Revoked,
        ] {
            assert_eq!(stored(serde_json::to_value(stage).unwrap()), stage.as_str());
        }
        for status in RotationStatus::ALL {
            assert_eq!(
                stored(serde_json::to_value(status).unwrap()),
                status.as_str()
            );
        }
        for class in KeyClass::ALL {
            assert_eq!(stored(serde_json::to_value(class).unwrap()), class.as_str());
        }
    }

    #[test]
    fn items_round_trip_to_the_values_they_came_from() {
        let (change, rotation) = change();
        let key: Key = decode(key_item(change.key()).unwrap()).unwrap();
        assert_eq!(key, change.key().clone());
        let back: Rotation = decode(rotation_item(&rotation).unwrap()).unwrap();
        assert_eq!(back, rotation);
        assert_eq!(
            audit_from_item(&audit_item(&change.events()[0]).unwrap()).unwrap(),
            change.events()[0]
        );
    }
}
