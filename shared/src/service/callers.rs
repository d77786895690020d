//! A key's callers: which integrations use which of its secrets, and whether each has
//! moved to the new one of its rotation in progress (or its last rotation).

use super::{KeyScope, Keyroll};
use crate::callers::{
    key_callers, old_secret_summary, CallerFingerprint, KeyCaller, Move, MoveStatus, MoveSummary,
};

/// How many callers not moved a notification names.
const NAMED_IN_NOTIFICATIONS: usize = 10;
use crate::error::{Error, Result};
use crate::ids::{KeyId, RotationId};
use crate::key::Key;
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
        let key = self.scoped_key(key_id, scope).await?;
        let rotation = match key.active_rotation {
            Some(_) => self.active_rotation_of(&key).await?,
            None => latest(self.store.rotations_of(key_id).await?),
        };
        let (callers, summary) = self.callers_of(&key, rotation.as_ref()).await?;
        Ok(KeyCallers {
            rotation_id: rotation.map(|r| r.id),
            callers,
            summary,
        })
    }

    /// How many of a rotation's key's callers have moved to its new secret.
    pub async fn rotation_callers(&self, rotation: &Rotation) -> Result<MoveSummary> {
        let key = self.load_key(&rotation.key_id).await?;
        Ok(self.callers_of(&key, Some(rotation)).await?.1)
    }

    /// The callers of `key` that have not moved to `rotation`'s new secret (at most 10,
    /// the most used first: what a reminder names), and where the old secret's callers
    /// stand (what a `when_moved` retirement waits for).
    pub(crate) async fn old_secret_callers(
        &self,
        key: &Key,
        rotation: &Rotation,
    ) -> Result<(Vec<CallerFingerprint>, MoveSummary)> {
        let (callers, _) = self.callers_of(key, Some(rotation)).await?;
        let summary = old_secret_summary(&callers, rotation.from_version);
        let not_moved = callers
            .into_iter()
            .filter(|c| c.status == MoveStatus::NotMoved)
            .take(NAMED_IN_NOTIFICATIONS)
            .map(|c| c.caller)
            .collect();
        Ok((not_moved, summary))
    }

    /// The callers of `key`'s secret versions, judged by `rotation`'s move.
    async fn callers_of(
        &self,
        key: &Key,
        rotation: Option<&Rotation>,
    ) -> Result<(Vec<KeyCaller>, MoveSummary)> {
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
        let change = rotation.map(|r| Move {
            from_version: r.from_version,
            to_version: r.to_version,
        });
        Ok(key_callers(&logs, change, self.now()))
    }
}

/// The key's most recent rotation.
fn latest(rotations: Vec<Rotation>) -> Option<Rotation> {
    rotations
        .into_iter()
        .max_by_key(|r| (r.created_at, r.id.clone()))
}
