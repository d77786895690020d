//! The sparse indexes' entries: rotations with work for the processor (`due`) and
//! active keys by their current secret's age (`age`), and how both are sharded. Pure
//! data: the store keeps them, the processor and the scan read them.

use crate::ids::{KeyId, OrganizationId, RotationId};
use crate::key::{Key, KeyClass, KeyComplianceStatus};
use crate::rotation::Rotation;
use crate::time::Timestamp;

/// The due and age indexes are spread over this many partitions so that a busy day
/// cannot make one index partition hot; readers query every shard.
pub const INDEX_SHARDS: u8 = 4;

/// The index shard an id belongs to (stable: CRC32 of the id).
pub fn shard_of(id: &str) -> u8 {
    crc_shard(id, INDEX_SHARDS)
}

/// One of `shards` partitions for `id`, stable: CRC32 of the id.
fn crc_shard(id: &str, shards: u8) -> u8 {
    (crc32fast::hash(id.as_bytes()) % u32::from(shards)) as u8
}

/// An entry of the due index: a rotation with work for the processor.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DueRef {
    pub due_at: Timestamp,
    pub rotation_id: RotationId,
    pub key_id: KeyId,
}

impl DueRef {
    pub fn of(rotation: &Rotation) -> Option<Self> {
        rotation.due_at().map(|due_at| DueRef {
            due_at,
            rotation_id: rotation.id.clone(),
            key_id: rotation.key_id.clone(),
        })
    }

    pub fn shard(&self) -> u8 {
        shard_of(self.rotation_id.as_str())
    }

    /// The index sort key: sorts by due time, then id.
    pub fn sort_key(&self) -> String {
        format!("{}#{}", self.due_at, self.rotation_id)
    }
}

/// An entry of the expiry index: an active key whose own expiry needs the processor
/// (the warning ahead of it, then marking it expired) from `due_at`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ExpiryRef {
    pub due_at: Timestamp,
    pub key_id: KeyId,
}

impl ExpiryRef {
    pub fn of(key: &Key) -> Option<Self> {
        let due_at = key
            .expiry_check_at
            .filter(|_| key.status == crate::key::KeyStatus::Active)?;
        Some(Self {
            due_at,
            key_id: key.id.clone(),
        })
    }

    pub fn shard(&self) -> u8 {
        shard_of(self.key_id.as_str())
    }

    /// The index sort key: sorts by due time, then key id.
    pub fn sort_key(&self) -> String {
        format!("{}#{}", self.due_at, self.key_id)
    }
}

/// An entry of the key lists (every key, or an organisation's; all statuses or one):
/// a key by its creation, listed newest first.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ListedKey {
    pub created_at: Timestamp,
    pub key_id: KeyId,
}

impl ListedKey {
    pub fn of(key: &Key) -> Self {
        Self {
            created_at: key.created_at,
            key_id: key.id.clone(),
        }
    }

    pub fn shard(&self) -> u8 {
        shard_of(self.key_id.as_str())
    }

    /// The lists' sort key (`<created>#<keyId>`): a page is the entries before a
    /// cursor's, in descending order.
    pub fn sort_key(&self) -> String {
        creation_sort_key(self.created_at, &self.key_id)
    }
}

/// Which keys a list holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyListFilter {
    pub organization: Option<OrganizationId>,
    pub status: Option<crate::key::KeyStatus>,
}

/// The partitions of the key lists a filter spans: a status each (every status when
/// the filter names none), and for the list of every organisation an index shard each
/// (`None`: an organisation's list, one partition per status).
pub fn list_partitions(filter: &KeyListFilter) -> Vec<(crate::key::KeyStatus, Option<u8>)> {
    let statuses: Vec<_> = match filter.status {
        Some(status) => vec![status],
        None => crate::key::KeyStatus::ALL.to_vec(),
    };
    let shards: Vec<Option<u8>> = match filter.organization {
        Some(_) => vec![None],
        None => (0..INDEX_SHARDS).map(Some).collect(),
    };
    statuses
        .into_iter()
        .flat_map(|status| shards.iter().map(move |shard| (status, *shard)))
        .collect()
}

impl KeyListFilter {
    pub fn holds(&self, key: &Key) -> bool {
        self.organization
            .as_ref()
            .is_none_or(|org| *org == key.organization_id)
            && self.status.is_none_or(|status| status == key.status)
    }
}

/// An entry of the age index: an active key and when its current secret was created.
/// The index is partitioned by key class (each class has its own maximum age) and
/// shard.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AgeRef {
    pub class: KeyClass,
    pub created_at: Timestamp,
    pub key_id: KeyId,
}

impl AgeRef {
    pub fn of(key: &Key) -> Option<Self> {
        key.current_secret_created_at().map(|created_at| AgeRef {
            class: key.class,
            created_at,
            key_id: key.id.clone(),
        })
    }

    pub fn shard(&self) -> u8 {
        shard_of(self.key_id.as_str())
    }

    pub fn sort_key(&self) -> String {
        creation_sort_key(self.created_at, &self.key_id)
    }
}

/// The compliance totals' counters are spread over this many items per scope, so that
/// concurrent changes seldom meet on one counter in their transactions.
pub const TOTAL_SHARDS: u8 = 8;

/// The counter shard a key's changes move.
pub fn total_shard_of(id: &KeyId) -> u8 {
    crc_shard(id.as_str(), TOTAL_SHARDS)
}

/// An entry of the compliance index: an active key with the status its last change
/// (or the daily scan) gave it, in partitions by status and class, sorted by its
/// current secret's creation time. It carries what a report row shows, so a page of
/// the report is read from the index alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComplianceEntry {
    pub key_id: KeyId,
    pub organization_id: OrganizationId,
    pub class: KeyClass,
    /// As stored; [`ComplianceEntry::status_at`] is the status now.
    pub status: KeyComplianceStatus,
    pub created_at: Timestamp,
    pub prefix: String,
    pub active_rotation: Option<RotationId>,
    /// When the entry took its place: the current secret's creation, or when it became
    /// current if later.
    pub moved_at: Timestamp,
}

impl ComplianceEntry {
    /// The key's entry: only active keys whose status has been stamped have one.
    pub fn of(key: &Key) -> Option<Self> {
        let status = key.compliance?;
        let created_at = key.current_secret_created_at()?;
        let current = key.current()?;
        let moved_at = key
            .current_since
            .filter(|since| since.version == current.version)
            .map_or(created_at, |since| since.at.max(created_at));
        Some(Self {
            key_id: key.id.clone(),
            organization_id: key.organization_id.clone(),
            class: key.class,
            status,
            created_at,
            prefix: current.prefix.clone(),
            active_rotation: key.active_rotation.clone(),
            moved_at,
        })
    }

    /// Sorts by the secret's creation time (oldest first), then key id.
    pub fn sort_key(&self) -> String {
        creation_sort_key(self.created_at, &self.key_id)
    }

    /// The status now: blocked stays blocked until a change says otherwise (it moves
    /// only when the rotation is written); the rest follows the age. A rotation covers
    /// the key unless the key is stamped overdue with it: one that starts too late is
    /// re-stamped so by the processor the moment it stops covering (its due time).
    pub fn status_at(&self, overdue_before: Timestamp) -> KeyComplianceStatus {
        KeyComplianceStatus::at(
            self.created_at,
            self.active_rotation.is_some() && self.status != KeyComplianceStatus::Overdue,
            self.status == KeyComplianceStatus::RotationBlocked,
            overdue_before,
        )
    }
}

/// One partition of the compliance index: a status and class, across every
/// organisation or within one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompliancePartition {
    pub status: KeyComplianceStatus,
    pub class: KeyClass,
    pub organization: Option<OrganizationId>,
}

impl CompliancePartition {
    pub fn holds(&self, entry: &ComplianceEntry) -> bool {
        entry.status == self.status
            && entry.class == self.class
            && self
                .organization
                .as_ref()
                .is_none_or(|org| *org == entry.organization_id)
    }
}

/// A range of sort keys, both ends exclusive: `""` and `"~"` leave it open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortRange {
    pub after: String,
    pub before: String,
}

impl SortRange {
    pub fn all() -> Self {
        Self {
            after: String::new(),
            before: "~".into(),
        }
    }

    /// Entries whose secret was created before `at`.
    pub fn created_before(at: Timestamp) -> Self {
        Self {
            after: String::new(),
            before: format!("{at}#"),
        }
    }

    /// Entries whose secret was created at or after `at`.
    pub fn created_from(at: Timestamp) -> Self {
        Self {
            after: format!("{at}#"),
            before: "~".into(),
        }
    }

    /// The part of the range after sort key `after`.
    pub fn after(&self, after: &str) -> Self {
        Self {
            after: self.after.clone().max(after.to_owned()),
            before: self.before.clone(),
        }
    }

    pub fn contains(&self, sort_key: &str) -> bool {
        sort_key > self.after.as_str() && sort_key < self.before.as_str()
    }
}

/// The sort key of the indexes that order keys by their current secret's creation
/// (age, compliance) and of the compliance report's cursor: `<created>#<keyId>`.
pub fn creation_sort_key(created_at: Timestamp, key_id: &KeyId) -> String {
    format!("{created_at}#{key_id}")
}
