//! Customer notifications: versioned, flat JSON messages, one per state change the
//! customer should hear about, never carrying a secret.
//!
//! Each is written to the **outbox** in the same DynamoDB transaction as the change it
//! announces, and the processor moves outbox entries to the SQS FIFO queue (message
//! group = key id, deduplication id = event id). So a committed change always leads to
//! its message, even if SQS is down at that moment, and a change that did not commit
//! never does. The schema is documented in docs/notifications.md.

use serde::{Deserialize, Serialize};

use crate::ids::{Actor, KeyId, KeyName, OrganizationId, Reason, RotationId};
use crate::key::{Key, SecretVersion};
use crate::rotation::{Rotation, RotationTrigger};
use crate::time::Timestamp;

/// The version of the message schema; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum NotificationType {
    #[serde(rename = "rotation.scheduled")]
    RotationScheduled,
    #[serde(rename = "rotation.started")]
    RotationStarted,
    #[serde(rename = "rotation.reminder")]
    RotationReminder,
    #[serde(rename = "rotation.completed")]
    RotationCompleted,
    #[serde(rename = "rotation.cancelled")]
    RotationCancelled,
    #[serde(rename = "rotation.extended")]
    RotationExtended,
    #[serde(rename = "rotation.emergency")]
    RotationEmergency,
    #[serde(rename = "key.expiring")]
    KeyExpiring,
    /// Nobody has received the rotation's new secret: the grace was extended (or, at
    /// its maximum, the rotation waits) until someone reveals it.
    #[serde(rename = "rotation.undelivered")]
    RotationUndelivered,
    /// Someone fetched the rotation's held new secret (its one reveal), so the
    /// organisation sees a retrieval it did not make.
    #[serde(rename = "rotation.revealed")]
    RotationRevealed,
    /// The key was revoked: every secret of it stopped working for good.
    #[serde(rename = "key.revoked")]
    KeyRevoked,
    /// A delivery key was registered for the key (by its client on first use, or by an
    /// operator or admin), so an enrolment nobody expected is seen.
    #[serde(rename = "key.delivery_key_registered")]
    KeyDeliveryKeyRegistered,
    /// One secret of the key (`oldPrefix`) was revoked because it was reported leaked;
    /// the key's current secret keeps working.
    #[serde(rename = "key.secret_revoked")]
    KeySecretRevoked,
}

impl NotificationType {
    /// The type's wire name (`rotation.started`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationType::RotationScheduled => "rotation.scheduled",
            NotificationType::RotationStarted => "rotation.started",
            NotificationType::RotationReminder => "rotation.reminder",
            NotificationType::RotationCompleted => "rotation.completed",
            NotificationType::RotationCancelled => "rotation.cancelled",
            NotificationType::RotationExtended => "rotation.extended",
            NotificationType::RotationEmergency => "rotation.emergency",
            NotificationType::KeyExpiring => "key.expiring",
            NotificationType::RotationUndelivered => "rotation.undelivered",
            NotificationType::RotationRevealed => "rotation.revealed",
            NotificationType::KeyRevoked => "key.revoked",
            NotificationType::KeyDeliveryKeyRegistered => "key.delivery_key_registered",
            NotificationType::KeySecretRevoked => "key.secret_revoked",
        }
    }

    pub const ALL: [NotificationType; 13] = [
        NotificationType::RotationScheduled,
        NotificationType::RotationStarted,
        NotificationType::RotationReminder,
        NotificationType::RotationCompleted,
        NotificationType::RotationCancelled,
        NotificationType::RotationExtended,
        NotificationType::RotationEmergency,
        NotificationType::KeyExpiring,
        NotificationType::RotationUndelivered,
        NotificationType::RotationRevealed,
        NotificationType::KeyRevoked,
        NotificationType::KeyDeliveryKeyRegistered,
        NotificationType::KeySecretRevoked,
    ];
}

/// One message to the customer. Every field is always present (null when it does not
/// apply), so consumers can rely on the shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    #[serde(rename = "type")]
    pub kind: NotificationType,
    pub schema_version: u32,
    /// Unique and stable: `evt_<key ulid>_<audit seq>`; consumers deduplicate on it.
    pub event_id: String,
    pub occurred_at: Timestamp,
    pub key_id: KeyId,
    pub organization_id: OrganizationId,
    pub key_name: KeyName,
    pub rotation_id: Option<RotationId>,
    pub old_prefix: Option<String>,
    pub new_prefix: Option<String>,
    /// When the old secret stops working.
    pub deadline: Option<Timestamp>,
    pub reason: Option<Reason>,
    pub trigger: Option<RotationTrigger>,
    /// When the old secret was last used, if known.
    pub old_secret_last_used_at: Option<Timestamp>,
    /// Whether the old secret was used in the 24 hours before `occurred_at`.
    #[serde(rename = "oldSecretUsedInLast24h")]
    pub old_secret_used_in_last_24h: bool,
    /// Who on the customer's side made the change: one of the organisation's users
    /// (`customer:<org>/<sub>`) or a client fetching its successor with the key's
    /// current secret (`customer:<keyId>`); null when the API provider or keyroll did.
    #[serde(default)]
    pub actor: Option<Actor>,
    /// The callers still on the old secret (network, User-Agent product,
    /// `Keyroll-Client`, app version), in `rotation.reminder` and
    /// `rotation.undelivered`: where to look. Absent when none is known.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub callers_not_moved: Vec<crate::callers::CallerFingerprint>,
    /// In `key.delivery_key_registered`: the registered key's thumbprint (RFC 7638).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_key_thumbprint: Option<String>,
}

/// Whether a secret last used at `last_used` was used in the 24 hours before `at`.
pub fn used_in_last_24h(last_used: Option<Timestamp>, at: Timestamp) -> bool {
    last_used.is_some_and(|used| at.seconds_since(used) < 86_400)
}

impl Notification {
    /// A notification about `key` at `at`, caused by its latest audit event; the
    /// rotation fields are empty.
    fn about(kind: NotificationType, key: &Key, at: Timestamp, reason: Option<&Reason>) -> Self {
        Self {
            kind,
            schema_version: SCHEMA_VERSION,
            event_id: Notification::event_id(&key.id, key.revision),
            occurred_at: at,
            key_id: key.id.clone(),
            organization_id: key.organization_id.clone(),
            key_name: key.name.clone(),
            rotation_id: None,
            old_prefix: None,
            new_prefix: None,
            deadline: None,
            reason: reason.cloned(),
            trigger: None,
            old_secret_last_used_at: None,
            old_secret_used_in_last_24h: false,
            actor: None,
            callers_not_moved: Vec::new(),
            delivery_key_thumbprint: None,
        }
    }

    /// A delivery key (`thumbprint`) was registered for `key`.
    pub fn delivery_key_registered(key: &Key, thumbprint: &str, at: Timestamp) -> Self {
        Self {
            delivery_key_thumbprint: Some(thumbprint.to_owned()),
            ..Self::about(NotificationType::KeyDeliveryKeyRegistered, key, at, None)
        }
    }

    /// One secret of `key` (`revoked`) was revoked alone, for `reason`.
    pub fn secret_revoked(
        key: &Key,
        revoked: Option<&SecretVersion>,
        at: Timestamp,
        reason: &Reason,
    ) -> Self {
        Self {
            old_prefix: revoked.map(|v| v.prefix.clone()),
            new_prefix: key.current().map(|v| v.prefix.clone()),
            old_secret_last_used_at: revoked.and_then(|v| v.last_used_at),
            old_secret_used_in_last_24h: used_in_last_24h(revoked.and_then(|v| v.last_used_at), at),
            ..Self::about(NotificationType::KeySecretRevoked, key, at, Some(reason))
        }
    }

    /// What the customer hears about a change of `rotation`. `deadline_applies`: the
    /// old secret's deadline is still news (the rotation is in progress, or has just
    /// completed at it).
    pub fn of_rotation(
        kind: NotificationType,
        key: &Key,
        rotation: &Rotation,
        at: Timestamp,
        reason: Option<&Reason>,
        deadline_applies: bool,
    ) -> Self {
        let old_last_used = key
            .version(rotation.from_version)
            .and_then(|v| v.last_used_at);
        Self {
            rotation_id: Some(rotation.id.clone()),
            old_prefix: Some(rotation.old_prefix.clone()),
            new_prefix: Some(rotation.new_prefix.clone()),
            // Once a `retire` rotation outlives its grace, the old secret's end is its bound.
            deadline: deadline_applies.then_some(if rotation.grace_end_noted {
                rotation.ends_at()
            } else {
                rotation.grace_ends_at
            }),
            trigger: Some(rotation.trigger),
            old_secret_last_used_at: old_last_used,
            old_secret_used_in_last_24h: used_in_last_24h(old_last_used, at),
            ..Self::about(kind, key, at, reason)
        }
    }

    /// The warning that `current`, the key's secret, reaches its maximum age at
    /// `deadline`.
    pub fn key_expiring(
        key: &Key,
        current: &SecretVersion,
        deadline: Timestamp,
        at: Timestamp,
        reason: &Reason,
    ) -> Self {
        Self {
            old_prefix: Some(current.prefix.clone()),
            deadline: Some(deadline),
            old_secret_last_used_at: current.last_used_at,
            old_secret_used_in_last_24h: used_in_last_24h(current.last_used_at, at),
            ..Self::about(NotificationType::KeyExpiring, key, at, Some(reason))
        }
    }

    /// That `key` was revoked (its latest audit event): `old_prefix` names the secret
    /// that was current, the one the customer's integrations know.
    pub fn key_revoked(
        key: &Key,
        current: Option<&SecretVersion>,
        at: Timestamp,
        reason: &Reason,
    ) -> Self {
        Self {
            old_prefix: current.map(|v| v.prefix.clone()),
            old_secret_last_used_at: current.and_then(|v| v.last_used_at),
            old_secret_used_in_last_24h: used_in_last_24h(current.and_then(|v| v.last_used_at), at),
            ..Self::about(NotificationType::KeyRevoked, key, at, Some(reason))
        }
    }

    /// The type's wire name.
    pub fn kind_name(&self) -> &'static str {
        self.kind.as_str()
    }

    /// The event id of the notification caused by audit event `seq` of `key_id`: one
    /// per (key, event), never shared. A minted `key_<ulid>` keeps the short
    /// `evt_<ulid>_<seq>`; any other (imported) id is used whole after `evt.`, which no
    /// key id contains, so `abc`, `key_abc` and a bare ULID all stay apart.
    pub fn event_id(key_id: &KeyId, seq: u64) -> String {
        let id = key_id.as_str();
        match id.strip_prefix(KeyId::PREFIX) {
            Some(ulid) if crate::ids::is_ulid(ulid) => format!("evt_{ulid}_{seq:010}"),
            _ => format!("evt.{id}_{seq:010}"),
        }
    }
}

/// Work that must happen after a change commits, written in the same transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum OutboxMessage {
    /// Send a notification to the queue.
    Notify { notification: Box<Notification> },
    /// Delete a secret held in the vault for a rotation that no longer needs it.
    DeleteVaultSecret { name: String },
}

/// An outbox entry: where it sorts (by time, key and sequence) and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub shard: u8,
    pub sort_key: String,
    pub message: OutboxMessage,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imported_ids_never_share_an_event_id() {
        let minted = KeyId::generate();
        let ulid = &minted.as_str()[KeyId::PREFIX.len()..];
        let ids = [
            minted.as_str().to_owned(),
            ulid.to_owned(),
            "abc".to_owned(),
            "key_abc".to_owned(),
            "key_key_abc".to_owned(),
            format!("key_{}", minted.as_str()),
        ];
        let mut events: Vec<String> = ids
            .iter()
            .map(|id| Notification::event_id(&KeyId::parse(id).unwrap(), 7))
            .collect();
        assert_eq!(events[0], format!("evt_{ulid}_0000000007"));
        assert_eq!(events[2], "evt.abc_0000000007");
        events.sort();
        events.dedup();
        assert_eq!(events.len(), ids.len(), "{events:?}");
    }

    /// docs/notifications.md has a valid example of every type, in the current schema.
    #[test]
    fn every_type_has_a_documented_example_that_parses() {
        let doc = include_str!("../../docs/notifications.md");
        let mut documented = Vec::new();
        for block in doc.split("```json").skip(1) {
            let json = block.split("```").next().unwrap_or_default();
            let notification: Notification =
                serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
            assert_eq!(notification.schema_version, SCHEMA_VERSION);
            let value: serde_json::Value = serde_json::from_str(json).unwrap();
            assert_eq!(
                value,
                serde_json::to_value(&notification).unwrap(),
                "every field present, nothing extra"
            );
            documented.push(notification.kind);
        }
        for kind in NotificationType::ALL {
            assert!(documented.contains(&kind), "{kind:?} has no example");
        }
    }
}
