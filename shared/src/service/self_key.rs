//! What a key's client asks with a live secret to learn, cheaply, whether it should
//! fetch a successor: the secret's stage and expiry, the successor waiting for it (if
//! any) and when to ask again. Nothing secret in it.

use super::{Keyroll, Verification};
use crate::error::{Error, Result};
use crate::ids::{KeyId, RotationId};
use crate::key::{Key, SecretRecord, SecretStage};
use crate::rotation::Rotation;
use crate::time::Timestamp;

/// How long a client with nothing to do waits before it asks again.
pub const POLL_IDLE_SECONDS: u64 = 3600;
/// How long a client waits while its key has a rotation in progress that has no
/// successor for its secret (it may be about to).
pub const POLL_BUSY_SECONDS: u64 = 300;

/// The answer of `GET /v1/self/key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelfKey {
    pub key_id: KeyId,
    /// The presented secret's stage.
    pub stage: SecretStage,
    /// When the presented secret stops verifying, if it does.
    pub expires_at: Option<Timestamp>,
    /// The successor waiting for the presented secret: fetch it now.
    pub successor: Option<(RotationId, Timestamp)>,
    pub poll_after_seconds: u64,
}

impl Keyroll {
    /// What the holder of `presented` (any live secret of a key) should do next.
    pub async fn self_key(&self, presented: &str) -> Result<SelfKey> {
        let record = match self.verify(presented).await? {
            Verification::Valid(record) => record,
            _ => return Err(Error::Unauthenticated),
        };
        let key = self.load_key(&record.key_id).await?;
        let rotation = self.active_rotation_of(&key).await?;
        Ok(self_key_of(&key, &record, rotation.as_ref()))
    }
}

/// The successor rotation of the secret `record` verified, if the key's client may
/// fetch it: a self-service rotation in progress from that very secret, whose new
/// secret is held for it, and not an emergency (whose old secret may be an attacker's).
pub fn fetchable_successor<'r>(
    record: &SecretRecord,
    rotation: Option<&'r Rotation>,
) -> Option<&'r Rotation> {
    rotation.filter(|r| {
        r.is_in_progress()
            && r.from_version == record.version
            && r.self_service
            && r.vault_secret.is_some()
            && !r.trigger.is_emergency()
    })
}

fn self_key_of(key: &Key, record: &SecretRecord, rotation: Option<&Rotation>) -> SelfKey {
    let successor = fetchable_successor(record, rotation).map(|r| (r.id.clone(), r.grace_ends_at));
    let poll_after_seconds = match (&successor, rotation) {
        (Some(_), _) => 0,
        (None, Some(_)) => POLL_BUSY_SECONDS,
        (None, None) => POLL_IDLE_SECONDS,
    };
    // While its successor waits, the old secret is kept to the class's longest grace
    // (the delivery rule); the client is told the end its fetch will set.
    let expires_at = match rotation {
        Some(r) if r.is_in_progress() && r.from_version == record.version => {
            record.expires_at.map(|kept| kept.min(r.ends_at()))
        }
        _ => record.expires_at,
    };
    SelfKey {
        key_id: key.id.clone(),
        stage: record.stage,
        expires_at,
        successor,
        poll_after_seconds,
    }
}
