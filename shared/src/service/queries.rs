//! Reads: keys with their use, rotations, rotations in progress, recent emergencies,
//! the audit trail, and the compliance rows and history.

use std::collections::BTreeMap;

use super::Keyroll;
use crate::audit::{verify_chain, AuditEvent, ChainHead, ChainReport};
use crate::compliance::{ComplianceSnapshot, KeyCompliance};
use crate::error::{Error, Result};
use crate::ids::{KeyId, RotationId};
use crate::index::{AgeRef, INDEX_SHARDS};
use crate::key::{Key, KeyClass};
use crate::rotation::Rotation;
use crate::time::Timestamp;

/// How many of a key's newest secret versions [`Keyroll::key_with_usage`] reads.
pub const USAGE_VERSIONS: usize = 4;

/// What is known of a secret version's use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretUsage {
    pub version: u32,
    pub last_used_at: Option<Timestamp>,
    pub daily_uses: BTreeMap<String, u64>,
}

/// A key's audit trail and the verdict on its chain.
#[derive(Debug, Clone)]
pub struct AuditTrail {
    pub events: Vec<AuditEvent>,
    pub report: ChainReport,
}

impl Keyroll {
    pub async fn key(&self, id: &KeyId) -> Result<Key> {
        self.load_key(id).await
    }

    /// A key with the recorded use of its most recent secret versions
    /// ([`USAGE_VERSIONS`] of them: the current, pending and previous ones and the last
    /// retired), read from their secret records concurrently.
    pub async fn key_with_usage(&self, id: &KeyId) -> Result<(Key, Vec<SecretUsage>)> {
        let key = self.load_key(id).await?;
        let recent = key.versions.iter().rev().take(USAGE_VERSIONS);
        let reads = recent.map(|v| async move {
            let record = self.store.secret(&v.lookup_hash).await?;
            Ok::<_, Error>(record.map(|r| SecretUsage {
                version: v.version,
                last_used_at: r.last_used_at,
                daily_uses: r.daily_uses,
            }))
        });
        let usage = futures::future::try_join_all(reads)
            .await?
            .into_iter()
            .flatten()
            .collect();
        Ok((key, usage))
    }

    pub async fn rotation(&self, id: &RotationId) -> Result<Rotation> {
        self.store
            .rotation(id)
            .await?
            .ok_or_else(|| Error::not_found("rotation", id))
    }

    pub async fn rotations_of(&self, key_id: &KeyId) -> Result<Vec<Rotation>> {
        self.load_key(key_id).await?;
        Ok(self.store.rotations_of(key_id).await?)
    }

    /// Every rotation in progress (scheduled or in grace), soonest due first, with
    /// its key. Read from the due index, which holds exactly these.
    pub async fn rotations_in_progress(&self) -> Result<Vec<(Rotation, Key)>> {
        let mut due = Vec::new();
        for shard in 0..INDEX_SHARDS {
            let mut after = None;
            loop {
                let page = self
                    .store
                    .due_rotations(shard, Timestamp::MAX, after.as_ref(), 500)
                    .await?;
                let full = page.len() == 500;
                after = page.last().cloned();
                due.extend(page);
                if !full {
                    break;
                }
            }
        }
        due.sort();
        let mut out = Vec::new();
        for entry in due {
            // The index may lag: re-read, and skip what has ended meanwhile.
            let (Some(rotation), Some(mut key)) = (
                self.store.rotation(&entry.rotation_id).await?,
                self.store.key(&entry.key_id).await?,
            ) else {
                continue;
            };
            if rotation.is_in_progress() {
                // The secrets' records hold their latest use; the key's copy is only
                // refreshed when the processor acts.
                self.usage_of(&key, &rotation)
                    .await?
                    .copy_into(&mut key, &rotation);
                out.push((rotation, key));
            }
        }
        Ok(out)
    }

    /// Emergency and leak rotations started in the last `days` days, newest first.
    pub async fn recent_emergencies(&self, days: u64) -> Result<Vec<Rotation>> {
        let now = self.now();
        let since = now.minus_seconds(days * 86_400);
        let mut months = Vec::new();
        let mut at = now;
        loop {
            let month = at.to_rfc3339()[..7].to_owned();
            if !months.contains(&month) {
                months.push(month);
            }
            if at <= since {
                break;
            }
            at = at.minus_seconds(86_400).max(since);
        }
        let mut out = Vec::new();
        for month in months {
            for entry in self.store.emergencies(&month).await? {
                if entry.at >= since {
                    if let Some(rotation) = self.store.rotation(&entry.rotation_id).await? {
                        out.push(rotation);
                    }
                }
            }
        }
        Ok(out)
    }

    /// A key's audit events and whether their chain is intact up to the key's head.
    pub async fn audit_trail(&self, key_id: &KeyId) -> Result<AuditTrail> {
        // The key first: events committed after this read are beyond its head and are
        // left out, so a concurrent change cannot look like tampering.
        let key = self.load_key(key_id).await?;
        let mut events = self.store.audit_events(key_id).await?;
        events.retain(|e| e.seq <= key.revision);
        let report = verify_chain(
            key_id,
            &events,
            Some(ChainHead {
                last_seq: key.revision,
                hash: key.audit_head,
            }),
        );
        Ok(AuditTrail { events, report })
    }

    /// Every active key with its compliance status now, oldest secret first. Reads every
    /// active key (it is the report of all of them); the scan itself does not.
    pub async fn key_statuses(&self) -> Result<Vec<KeyCompliance>> {
        let now = self.now();
        let policy = self.config.policy;
        let mut rows = Vec::new();
        for class in KeyClass::ALL {
            let overdue_before = now.minus_seconds(policy.for_class(class).max_age_seconds());
            for shard in 0..INDEX_SHARDS {
                let mut after: Option<AgeRef> = None;
                loop {
                    let page = self
                        .store
                        .aged_keys(class, shard, Timestamp::MAX, after.as_ref(), 500)
                        .await?;
                    let full = page.len() == 500;
                    after = page.last().cloned();
                    for entry in page {
                        let Some(key) = self.store.key(&entry.key_id).await? else {
                            continue;
                        };
                        let active = match &key.active_rotation {
                            Some(id) => self.store.rotation(id).await?,
                            None => None,
                        };
                        rows.extend(KeyCompliance::of(
                            &key,
                            active.as_ref(),
                            overdue_before,
                            now,
                        ));
                    }
                    if !full {
                        break;
                    }
                }
            }
        }
        rows.sort_by(|a, b| {
            b.age_days
                .cmp(&a.age_days)
                .then_with(|| a.key_id.cmp(&b.key_id))
        });
        Ok(rows)
    }

    /// The most recent `days` daily compliance snapshots, newest first.
    pub async fn compliance_history(&self, days: usize) -> Result<Vec<ComplianceSnapshot>> {
        Ok(self.store.snapshots(days).await?)
    }
}
