//! The sparse indexes' entries: rotations with work for the processor (`due`) and
//! active keys by their current secret's age (`age`), and how both are sharded. Pure
//! data: the store keeps them, the processor and the scan read them.

use crate::ids::{KeyId, RotationId};
use crate::key::{Key, KeyClass};
use crate::rotation::Rotation;
use crate::time::Timestamp;

/// The due and age indexes are spread over this many partitions so that a busy day
/// cannot make one index partition hot; readers query every shard.
pub const INDEX_SHARDS: u8 = 4;

/// The index shard an id belongs to (stable: CRC32 of the id).
pub fn shard_of(id: &str) -> u8 {
    (crc32fast::hash(id.as_bytes()) % u32::from(INDEX_SHARDS)) as u8
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
        format!("{}#{}", self.created_at, self.key_id)
    }
}
