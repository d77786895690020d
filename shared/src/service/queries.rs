//! Reads: keys with their use, rotations, rotations in progress, recent emergencies,
//! the audit trail, and the compliance history.

use std::collections::BTreeMap;

use super::Keyroll;
use crate::audit::{
    AuditEvent, AuditOrder, BrokenLink, ChainHead, ChainProblem, ChainReport, ChainVerifier,
};
use crate::change::EmergencyLogEntry;
use crate::compliance::ComplianceSnapshot;
use crate::error::{Error, Result};
use crate::ids::{KeyId, RotationId};
use crate::index::{DueRef, INDEX_SHARDS};
use crate::key::Key;
use crate::rotation::Rotation;
use crate::time::Timestamp;

/// How many times an audit check starts over when changes keep committing under it.
const CHAIN_READ_ATTEMPTS: usize = 3;

/// The most rotations one page of [`Keyroll::rotations_in_progress`] holds.
pub const MAX_ROTATION_PAGE: usize = 500;

/// How many of a key's newest secret versions [`Keyroll::key_with_usage`] reads.
pub const USAGE_VERSIONS: usize = 4;

/// What is known of a secret version's use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretUsage {
    pub version: u32,
    pub last_used_at: Option<Timestamp>,
    pub daily_uses: BTreeMap<String, u64>,
}

/// How many events one read of the chain check takes.
pub const CHAIN_READ: usize = 200;

/// Which page of a key's audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditPageRequest {
    pub order: AuditOrder,
    /// The last sequence number of the previous page.
    pub after: Option<u64>,
    pub limit: usize,
}

impl Default for AuditPageRequest {
    fn default() -> Self {
        Self {
            order: AuditOrder::OldestFirst,
            after: None,
            limit: 100,
        }
    }
}

/// One page of a key's audit trail, where the next starts, and the whole chain's
/// verdict.
#[derive(Debug, Clone)]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    pub next: Option<u64>,
    pub report: ChainReport,
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
        let usage = self.secret_usage(&key).await?;
        Ok((key, usage))
    }

    /// The recorded use of `key`'s most recent secret versions (see
    /// [`Keyroll::key_with_usage`]), for a key already loaded.
    pub async fn secret_usage(&self, key: &Key) -> Result<Vec<SecretUsage>> {
        let recent = key.versions.iter().rev().take(USAGE_VERSIONS);
        let reads = recent.map(|v| async move {
            let record = self.store.secret(&v.lookup_hash).await?;
            Ok::<_, Error>(record.map(|r| SecretUsage {
                version: v.version,
                last_used_at: r.last_used_at,
                daily_uses: r.daily_uses,
            }))
        });
        Ok(futures::future::try_join_all(reads)
            .await?
            .into_iter()
            .flatten()
            .collect())
    }

    pub async fn rotation(&self, id: &RotationId) -> Result<Rotation> {
        self.store
            .rotation(id)
            .await?
            .ok_or_else(|| Error::not_found("rotation", id))
    }

    /// The rotation `key` points at as in progress, if any: one read.
    pub(crate) async fn active_rotation_of(&self, key: &Key) -> Result<Option<Rotation>> {
        let Some(id) = &key.active_rotation else {
            return Ok(None);
        };
        self.store
            .rotation_of_key(&key.id, id)
            .await?
            .map(Some)
            .ok_or_else(|| {
                Error::Internal(format!("key {} points at missing rotation {id}", key.id))
            })
    }

    pub async fn rotations_of(&self, key_id: &KeyId) -> Result<Vec<Rotation>> {
        self.load_key(key_id).await?;
        Ok(self.store.rotations_of(key_id).await?)
    }

    /// One page of the rotations in progress (scheduled or in grace), soonest due
    /// first, each with its key (its secrets' latest use filled in), after `after`, and
    /// where the next page starts. Read from the due index, which holds exactly these:
    /// one query of `limit` entries per shard, then the page's items concurrently, so
    /// the cost follows the page, not the number of rotations.
    pub async fn rotations_in_progress(
        &self,
        after: Option<&DueRef>,
        limit: usize,
    ) -> Result<(Vec<(Rotation, Key)>, Option<DueRef>)> {
        let limit = limit.clamp(1, MAX_ROTATION_PAGE);
        let shards = (0..INDEX_SHARDS).map(|shard| {
            self.store
                .due_rotations(shard, Timestamp::MAX, after, limit)
        });
        let mut due: Vec<DueRef> = futures::future::try_join_all(shards)
            .await?
            .into_iter()
            .flatten()
            .collect();
        due.sort_by_key(DueRef::sort_key);
        let more = due.len() > limit;
        due.truncate(limit);
        // A shard that filled its page may hold more; so may the entries cut above.
        let next = (more || due.len() == limit)
            .then(|| due.last().cloned())
            .flatten();
        let reads = due.iter().map(|entry| async move {
            // The index may lag: re-read, and skip what has ended meanwhile.
            let (rotation, key) = futures::try_join!(
                self.store.rotation(&entry.rotation_id),
                self.store.key(&entry.key_id)
            )?;
            let (Some(rotation), Some(mut key)) = (rotation, key) else {
                return Ok::<_, Error>(None);
            };
            if !rotation.is_in_progress() {
                return Ok(None);
            }
            // The secrets' records hold their latest use; the key's copy is only
            // refreshed when the processor acts.
            self.usage_of(&key, &rotation, self.now())
                .await?
                .copy_into(&mut key, &rotation);
            Ok(Some((rotation, key)))
        });
        let page = futures::future::try_join_all(reads)
            .await?
            .into_iter()
            .flatten()
            .collect();
        Ok((page, next))
    }

    /// One page of the emergency and leak rotations started in the last `days` days,
    /// newest first, after `after`, and where the next page starts: the emergency log's
    /// month partitions read newest first, `limit` entries at most, then the page's
    /// rotations concurrently.
    pub async fn recent_emergencies(
        &self,
        days: u64,
        after: Option<&EmergencyLogEntry>,
        limit: usize,
    ) -> Result<(Vec<Rotation>, Option<EmergencyLogEntry>)> {
        let limit = limit.clamp(1, MAX_ROTATION_PAGE);
        let now = self.now();
        let since = now.minus_seconds(days * 86_400);
        let mut months = Vec::new();
        let mut at = after.map_or(now, |a| a.at.min(now));
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
        let mut entries: Vec<EmergencyLogEntry> = Vec::new();
        for month in months {
            let wanted = limit - entries.len();
            let before = after.filter(|a| a.month() == month);
            let page = self.store.emergencies(&month, before, wanted).await?;
            // Newest first: once one is too old, so is everything after it.
            let reached_the_start = page.iter().any(|e| e.at < since);
            entries.extend(page.into_iter().filter(|e| e.at >= since));
            if reached_the_start || entries.len() == limit {
                break;
            }
        }
        // A full page may have more after it (the next page may then be empty).
        let next = (entries.len() == limit)
            .then(|| entries.last().cloned())
            .flatten();
        let reads = entries
            .iter()
            .map(|entry| self.store.rotation(&entry.rotation_id));
        let rotations = futures::future::try_join_all(reads)
            .await?
            .into_iter()
            .flatten()
            .collect();
        Ok((rotations, next))
    }

    /// A key's audit events and whether their chain is intact up to the key's head:
    /// every event (for callers that want them all; the API pages with
    /// [`Keyroll::audit_page`]).
    pub async fn audit_trail(&self, key_id: &KeyId) -> Result<AuditTrail> {
        let page = self
            .audit_page(
                key_id,
                AuditPageRequest {
                    limit: usize::MAX,
                    ..Default::default()
                },
            )
            .await?;
        Ok(AuditTrail {
            events: page.events,
            report: page.report,
        })
    }

    /// One page of a key's audit trail, and the verdict on its whole chain. The chain
    /// is read oldest first, [`CHAIN_READ`] events at a time, and checked as it streams
    /// by (only the last hash is held), so its cost is one query per [`CHAIN_READ`]
    /// events and its memory constant; an oldest-first page is collected on the way,
    /// a newest-first one is one query more.
    ///
    /// Events beyond the key's head are reported, not ignored: they are what is left
    /// when someone rolls the key item back (or erases its head) without deleting the
    /// events. One committed after the key was read is told apart by reading the key
    /// again: if its head has moved past them, the check starts over.
    pub async fn audit_page(&self, key_id: &KeyId, request: AuditPageRequest) -> Result<AuditPage> {
        let mut key = self.load_key(key_id).await?;
        for _ in 0..CHAIN_READ_ATTEMPTS {
            let (page, beyond_head) = self.audit_page_of(&key, &request).await?;
            let Some(found_last) = beyond_head else {
                return Ok(page);
            };
            let now = self.load_key(key_id).await?;
            if now.revision >= found_last && now.revision != key.revision {
                key = now;
                continue;
            }
            let mut page = page;
            let earlier_break = page
                .report
                .first_broken
                .as_ref()
                .is_some_and(|b| b.problem != ChainProblem::HeadNotAuthentic);
            if earlier_break {
                // A break inside the chain comes first.
                return Ok(page);
            }
            page.report.valid = false;
            page.report.authenticated = false;
            page.report.first_broken = Some(BrokenLink {
                seq: key.revision + 1,
                problem: ChainProblem::EventsBeyondHead {
                    head: key.revision,
                    found_last,
                },
            });
            return Ok(page);
        }
        Err(Error::from(crate::error::StoreError::Conflict))
    }

    /// [`Keyroll::audit_page`] against the head of `key` as read, and the last sequence
    /// number found beyond that head, if any.
    async fn audit_page_of(
        &self,
        key: &Key,
        request: &AuditPageRequest,
    ) -> Result<(AuditPage, Option<u64>)> {
        let key_id = &key.id;
        let head = key.revision;
        let limit = request.limit.max(1);
        let oldest_first = request.order == AuditOrder::OldestFirst;
        let mut verifier = ChainVerifier::new(key_id);
        let mut events = Vec::new();
        let mut read_after: Option<u64> = None;
        let mut beyond_head: Option<u64> = None;
        loop {
            let chunk = self
                .store
                .audit_events(key_id, read_after, AuditOrder::OldestFirst, CHAIN_READ)
                .await?;
            let more = chunk.len() == CHAIN_READ;
            for event in chunk {
                read_after = Some(read_after.map_or(event.seq, |a| a.max(event.seq)));
                if event.seq > head {
                    beyond_head = beyond_head.max(Some(event.seq));
                    continue;
                }
                verifier.push(&event);
                let wanted = request.after.is_none_or(|after| event.seq > after);
                if oldest_first && wanted && events.len() < limit {
                    events.push(event);
                }
            }
            if !more {
                break;
            }
        }
        if !oldest_first {
            let before = request.after.map_or(head + 1, |after| after.min(head + 1));
            events = self
                .store
                .audit_events(key_id, Some(before), AuditOrder::NewestFirst, limit)
                .await?;
        }
        let next = match events.last() {
            Some(last) if events.len() == limit => {
                let more = if oldest_first {
                    last.seq < head
                } else {
                    last.seq > 1
                };
                more.then_some(last.seq)
            }
            _ => None,
        };
        let mut report = verifier.finish(Some(ChainHead {
            last_seq: head,
            hash: key.audit_head,
        }));
        self.authenticate_chain(key, &mut report).await?;
        Ok((
            AuditPage {
                events,
                next,
                report,
            },
            beyond_head,
        ))
    }

    /// Checks the head's keyed MAC once the hashes hold: a chain recomputed by someone
    /// who can write the table but not use the MAC key fails here. Every key's creation
    /// records an event, so a key without a head was erased: with
    /// `KEYROLL_AUDIT_MAC_REQUIRED` (the default) that, and a head without a MAC (a
    /// stripped one), is not valid; without it, a head from before chains were
    /// authenticated stays valid by its hashes, marked unauthenticated.
    async fn authenticate_chain(&self, key: &Key, report: &mut ChainReport) -> Result<()> {
        if !report.valid {
            return Ok(());
        }
        let not_authentic = |report: &mut ChainReport| {
            report.valid = false;
            report.first_broken = Some(BrokenLink {
                seq: key.revision,
                problem: ChainProblem::HeadNotAuthentic,
            });
        };
        let Some(hash) = key.audit_head.filter(|_| key.revision > 0) else {
            if self.config.audit_mac_required {
                not_authentic(report);
            }
            return Ok(());
        };
        let Some(head_mac) = &key.audit_head_mac else {
            if self.config.audit_mac_required {
                not_authentic(report);
            }
            return Ok(());
        };
        if self
            .head_mac_is_authentic(&key.id, key.revision, &hash, head_mac)
            .await?
        {
            report.authenticated = true;
        } else {
            not_authentic(report);
        }
        Ok(())
    }

    /// The most recent `days` daily compliance snapshots, newest first.
    pub async fn compliance_history(&self, days: usize) -> Result<Vec<ComplianceSnapshot>> {
        Ok(self.store.snapshots(days).await?)
    }
}
