//! The compliance read model: every change stamps where its key stands (so the
//! compliance index and the totals move in the change's own transaction), the daily
//! scan settles what time alone has moved, and the report reads one page of the index
//! and the totals' counters — never every key.

use std::collections::VecDeque;

use super::Keyroll;
use crate::change::{ChangeBuilder, KeyChange};
use crate::compliance::{
    overdue_before, ComplianceCounts, ComplianceFigures, KeyCompliance, KeyComplianceStatus,
};
use crate::error::{Conflict, Error, Result, StoreError};
use crate::ids::{KeyId, OrganizationId};
use crate::index::{creation_sort_key, ComplianceEntry, CompliancePartition, SortRange};
use crate::key::KeyClass;
use crate::time::Timestamp;

/// The most rows one page of [`Keyroll::compliance_page`] holds.
pub const MAX_COMPLIANCE_PAGE: usize = 10_000;

/// Which keys a report lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComplianceFilter {
    pub organization: Option<OrganizationId>,
    pub status: Option<KeyComplianceStatus>,
}

/// Where a report's next page starts: after the key whose secret was created at
/// `created_at`, in a report begun at `as_of`. Keys whose secret is newer than `as_of`
/// (issued or renewed after the first page) are left to the next report, so a key
/// rotated while an auditor pages is never listed twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComplianceCursor {
    pub as_of: Timestamp,
    pub created_at: Timestamp,
    pub key_id: KeyId,
}

impl ComplianceCursor {
    /// `<as_of>.<created_at>.<keyId>` (Unix seconds), as written by
    /// [`std::fmt::Display`]: `rules::COMPLIANCE_CURSOR_PATTERN`.
    pub fn parse(text: &str) -> Result<Self> {
        let invalid = || {
            Error::invalid(
                "cursor",
                "not a cursor of this report; start again without one",
            )
        };
        let mut parts = text.splitn(3, '.');
        let (Some(as_of), Some(created_at), Some(key_id)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid());
        };
        Ok(Self {
            as_of: crate::rules::cursor_time(as_of).ok_or_else(invalid)?,
            created_at: crate::rules::cursor_time(created_at).ok_or_else(invalid)?,
            key_id: KeyId::parse(key_id).map_err(|_| invalid())?,
        })
    }

    fn sort_key(&self) -> String {
        creation_sort_key(self.created_at, &self.key_id)
    }
}

impl std::fmt::Display for ComplianceCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}.{}.{}",
            self.as_of.unix(),
            self.created_at.unix(),
            self.key_id
        )
    }
}

/// One page of the report.
#[derive(Debug, Clone)]
pub struct CompliancePage {
    pub rows: Vec<KeyCompliance>,
    pub next: Option<ComplianceCursor>,
}

/// The index ranges that can hold keys of `wanted` status now, for one class: where
/// they are stamped, and the entries time has moved there since (a secret past its
/// maximum age still stamped compliant; one under a raised maximum still stamped
/// overdue). The scan settles the latter daily, so those ranges stay small.
fn ranges_for(
    wanted: Option<KeyComplianceStatus>,
    overdue_before: Timestamp,
) -> Vec<(KeyComplianceStatus, SortRange)> {
    use KeyComplianceStatus::{Compliant, Overdue, RotationBlocked, RotationInProgress};
    match wanted {
        None => KeyComplianceStatus::ALL
            .into_iter()
            .map(|s| (s, SortRange::all()))
            .collect(),
        Some(Overdue) => vec![
            (Overdue, SortRange::all()),
            (Compliant, SortRange::created_before(overdue_before)),
        ],
        Some(RotationInProgress) => vec![
            (RotationInProgress, SortRange::all()),
            (Compliant, SortRange::created_before(overdue_before)),
        ],
        Some(Compliant) => vec![
            (Compliant, SortRange::created_from(overdue_before)),
            (Overdue, SortRange::created_from(overdue_before)),
            (RotationInProgress, SortRange::created_from(overdue_before)),
        ],
        Some(RotationBlocked) => vec![(RotationBlocked, SortRange::all())],
    }
}

/// The entries whose stamp time has overtaken, for one class: the ranges a change of
/// status by age alone leaves them in.
fn unsettled_ranges(overdue_before: Timestamp) -> Vec<(KeyComplianceStatus, SortRange)> {
    vec![
        (
            KeyComplianceStatus::Compliant,
            SortRange::created_before(overdue_before),
        ),
        (
            KeyComplianceStatus::Overdue,
            SortRange::created_from(overdue_before),
        ),
        (
            KeyComplianceStatus::RotationInProgress,
            SortRange::created_from(overdue_before),
        ),
    ]
}

/// One index range being read for a merge: what was read and not yet used, and
/// whether the range holds more.
struct Source {
    partition: CompliancePartition,
    range: SortRange,
    buffer: VecDeque<ComplianceEntry>,
    more: bool,
}

impl Keyroll {
    /// Where the key of `change` stands once it is applied.
    pub(super) async fn compliance_of(
        &self,
        change: &KeyChange,
    ) -> Result<Option<KeyComplianceStatus>, StoreError> {
        let key = change.key();
        let blocked = match &key.active_rotation {
            None => false,
            Some(id) => match change.rotation(id) {
                Some(rotation) => rotation.is_blocked(),
                // Not written: its blocked state is what the key was stamped with —
                // unless the key was never stamped (written before the stamp existed).
                None => match key.compliance {
                    Some(stamped) => stamped == KeyComplianceStatus::RotationBlocked,
                    None => self
                        .store
                        .rotation(id)
                        .await?
                        .is_some_and(|r| r.is_blocked()),
                },
            },
        };
        let policy = &self.config.policy;
        let now = self.now();
        let overdue_before = overdue_before(policy, key.class, now);
        // Coverage matters only for a secret past its age; the rotation is read for it
        // only when the change does not write it.
        let crossed = key
            .current_secret_created_at()
            .is_some_and(|created| created < overdue_before);
        let covered = match &key.active_rotation {
            None => false,
            Some(_) if !crossed || blocked => true,
            Some(id) => match change.rotation(id) {
                Some(rotation) => rotation.covers(now),
                None => self
                    .store
                    .rotation(id)
                    .await?
                    .is_some_and(|r| r.covers(now)),
            },
        };
        Ok(KeyComplianceStatus::of(
            key,
            blocked,
            covered,
            overdue_before,
        ))
    }

    /// Re-stamps a key whose status only time has moved (no event: nothing happened to
    /// the key). `true` when it was written; `false` when it already stood right or
    /// another change got there first (and stamped it).
    pub async fn settle_compliance(&self, id: &KeyId) -> Result<bool> {
        let Some(key) = self.store.key(id).await? else {
            return Ok(false);
        };
        let stamped_before = key.compliance;
        let stamped = self.restamp(ChangeBuilder::update(key).finish()).await?;
        if stamped.status() == stamped_before {
            return Ok(false);
        }
        match self.commit_stamped(stamped).await {
            Ok(_) => Ok(true),
            Err(Error::Conflict(Conflict::ConcurrentModification)) => Ok(false),
            Err(other) => Err(other),
        }
    }

    /// [`Keyroll::settle_compliance`] of each of `ids`, `concurrency` at once; how many
    /// were written.
    pub(crate) async fn settle_all(
        &self,
        ids: impl Iterator<Item = KeyId>,
        concurrency: usize,
    ) -> Result<u64> {
        use futures::stream::{self, StreamExt};
        let written: Vec<Result<bool>> = stream::iter(ids)
            .map(|id| async move { self.settle_compliance(&id).await })
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
        let mut settled = 0;
        for outcome in written {
            if outcome? {
                settled += 1;
            }
        }
        Ok(settled)
    }

    /// Re-stamps every key of `class` whose stamp time has overtaken, reading each
    /// such index range page by page (so entries the index still shows unsettled a
    /// moment after their re-stamp cannot hide the rest), `concurrency` at once.
    /// What the daily scan does; returns how many it wrote.
    pub(crate) async fn settle_class(
        &self,
        class: KeyClass,
        page_size: usize,
        concurrency: usize,
    ) -> Result<u64> {
        let threshold = overdue_before(&self.config.policy, class, self.now());
        let mut settled = 0;
        for (status, mut range) in unsettled_ranges(threshold) {
            let partition = CompliancePartition {
                status,
                class,
                organization: None,
            };
            loop {
                let (entries, more) = self
                    .store
                    .compliance_entries(&partition, &range, page_size.max(1))
                    .await?;
                if let Some(last) = entries.last() {
                    range = range.after(&last.sort_key());
                }
                settled += self
                    .settle_all(entries.into_iter().map(|e| e.key_id), concurrency)
                    .await?;
                if !more {
                    break;
                }
            }
        }
        Ok(settled)
    }

    /// The report's figures over every active key (of `organization`): the stamped
    /// counts, corrected by the entries time has moved since they were stamped.
    pub async fn compliance_figures(
        &self,
        organization: Option<&OrganizationId>,
    ) -> Result<ComplianceFigures> {
        let mut counts = self.store.compliance_counts(organization).await?;
        let now = self.now();
        let mut corrections = ComplianceCounts::default();
        for class in KeyClass::ALL {
            let threshold = overdue_before(&self.config.policy, class, now);
            for (status, range) in unsettled_ranges(threshold) {
                let partition = CompliancePartition {
                    status,
                    class,
                    organization: organization.cloned(),
                };
                let mut range = range;
                loop {
                    let (entries, more) = self
                        .store
                        .compliance_entries(&partition, &range, 1000)
                        .await?;
                    for entry in &entries {
                        corrections.add(entry.status, class, -1);
                        corrections.add(entry.status_at(threshold), class, 1);
                    }
                    match entries.last() {
                        Some(last) if more => range = range.after(&last.sort_key()),
                        _ => break,
                    }
                }
            }
        }
        counts.merge(&corrections);
        Ok(ComplianceFigures::of(&counts))
    }

    /// One page of the compliance report, oldest secret first: the index ranges that
    /// can hold matching keys are merged, each read a little at a time, so a page costs
    /// about its size in items read (plus a few per range), whatever the table holds.
    pub async fn compliance_page(
        &self,
        filter: &ComplianceFilter,
        after: Option<&ComplianceCursor>,
        limit: usize,
    ) -> Result<CompliancePage> {
        let limit = limit.clamp(1, MAX_COMPLIANCE_PAGE);
        let now = self.now();
        let as_of = after.map_or(now, |c| c.as_of);
        let policy = &self.config.policy;
        let mut merge = Merge {
            sources: report_sources(policy, filter, after, now),
        };
        let mut refill = limit.div_ceil(merge.sources.len()) + 1;
        let mut rows = Vec::new();
        let mut last: Option<ComplianceEntry> = None;
        while rows.len() < limit {
            let Some(entry) = merge.next(self.store.as_ref(), refill).await? else {
                break;
            };
            refill = limit - rows.len() + 1;
            // Newer than the report: issued or renewed since its first page, and so is
            // everything after it (the merge is in creation order).
            if entry.created_at > as_of {
                merge.close();
                break;
            }
            // A secret made current since (a scheduled one, created earlier): the key
            // moved, and may have been listed at its old place.
            if entry.moved_at > as_of {
                continue;
            }
            let threshold = overdue_before(policy, entry.class, now);
            let row = KeyCompliance::of_entry(&entry, threshold, now);
            if filter.status.is_none_or(|wanted| row.status == wanted) {
                rows.push(row);
                last = Some(entry);
            }
        }
        let next = last
            .filter(|_| merge.has_more() && rows.len() == limit)
            .map(|entry| ComplianceCursor {
                as_of,
                created_at: entry.created_at,
                key_id: entry.key_id,
            });
        Ok(CompliancePage { rows, next })
    }
}

/// The index ranges that can hold the keys `filter` lists, each from `after`.
fn report_sources(
    policy: &crate::config::Policy,
    filter: &ComplianceFilter,
    after: Option<&ComplianceCursor>,
    now: Timestamp,
) -> Vec<Source> {
    let mut sources = Vec::new();
    for class in KeyClass::ALL {
        let threshold = overdue_before(policy, class, now);
        for (status, range) in ranges_for(filter.status, threshold) {
            let range = match after {
                Some(cursor) => range.after(&cursor.sort_key()),
                None => range,
            };
            sources.push(Source {
                partition: CompliancePartition {
                    status,
                    class,
                    organization: filter.organization.clone(),
                },
                range,
                buffer: VecDeque::new(),
                more: true,
            });
        }
    }
    sources
}

/// The report's index ranges merged in creation order.
struct Merge {
    sources: Vec<Source>,
}

impl Merge {
    /// The smallest entry left in any range. Every range that ran dry but holds more is
    /// read on first (`refill` entries), so the smallest is always among those buffered.
    async fn next(
        &mut self,
        store: &dyn crate::store::Store,
        refill: usize,
    ) -> Result<Option<ComplianceEntry>, StoreError> {
        let dry = self
            .sources
            .iter_mut()
            .filter(|s| s.buffer.is_empty() && s.more);
        let reads = dry.map(|source| async move {
            let (entries, more) = store
                .compliance_entries(&source.partition, &source.range, refill)
                .await?;
            if let Some(end) = entries.last() {
                source.range = source.range.after(&end.sort_key());
            }
            source.more = more && !entries.is_empty();
            source.buffer.extend(entries);
            Ok::<_, StoreError>(())
        });
        futures::future::try_join_all(reads).await?;
        Ok(self
            .sources
            .iter_mut()
            .filter(|s| !s.buffer.is_empty())
            .min_by_key(|s| s.buffer.front().map(ComplianceEntry::sort_key))
            .and_then(|source| source.buffer.pop_front()))
    }

    /// Ends the merge: nothing after this point belongs to the report.
    fn close(&mut self) {
        for source in &mut self.sources {
            source.buffer.clear();
            source.more = false;
        }
    }

    fn has_more(&self) -> bool {
        self.sources.iter().any(|s| !s.buffer.is_empty() || s.more)
    }
}
