//! A key's callers: which integrations use which of its secrets, and whether each has
//! moved to the new one of its rotation in progress (or its last rotation).

use super::{KeyScope, Keyroll};
use crate::callers::{key_callers, KeyCaller, Move, MoveSummary};
use crate::error::{Error, Result};
use crate::ids::{KeyId, RotationId};
use crate::rotation::Rotation;

/// A key's callers and where they stand.
#[derive(Debug, Clone)]
pub struct KeyCallers {
    /// The rotation the statuses are judged by; `None` before the key's first.
    pub rotation_id: Option<RotationId>,
    pub callers: Vec<KeyCaller>,
    pub summary: MoveSummary,
}

impl Keyroll {
    /// The callers of `key_id` (one caller-log read per secret version the key has).
    pub async fn key_callers(&self, key_id: &KeyId, scope: KeyScope<'_>) -> Result<KeyCallers> {
        let key = match self.store.key(key_id).await? {
            Some(key) if scope.allows(&key) => key,
            _ => return Err(Error::not_found("key", key_id)),
        };
        let rotation = match &key.active_rotation {
            Some(id) => Some(self.rotation(id).await?),
            None => latest(self.store.rotations_of(key_id).await?),
        };
        let reads = key.versions.iter().map(|version| async move {
            Ok::<_, Error>(
                self.store
                    .callers(&version.lookup_hash)
                    .await?
                    .map(|log| (version.version, log)),
            )
        });
        let logs: Vec<_> = futures::future::try_join_all(reads)
            .await?
            .into_iter()
            .flatten()
            .collect();
        let change = rotation.as_ref().map(|r| Move {
            from_version: r.from_version,
            to_version: r.to_version,
        });
        let (callers, summary) = key_callers(&logs, change, self.now());
        Ok(KeyCallers {
            rotation_id: rotation.map(|r| r.id),
            callers,
            summary,
        })
    }
}

/// The key's most recent rotation.
fn latest(rotations: Vec<Rotation>) -> Option<Rotation> {
    rotations
        .into_iter()
        .max_by_key(|r| (r.created_at, r.id.clone()))
}
