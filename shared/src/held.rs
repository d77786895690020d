//! Markers of secrets held in the vault before the change that creates their rotation
//! commits. A held secret whose commit failed, or whose outcome was uncertain (a
//! timeout after which the transaction may have committed), is never deleted on the
//! spot: its marker lets the processor's sweep delete it once the rotation has
//! certainly not been created, and only then.

use serde::{Deserialize, Serialize};

use crate::ids::RotationId;
use crate::time::Timestamp;

/// How long after being held a secret with no rotation counts as orphaned: far longer
/// than any commit, with its retries, can take.
pub const ORPHAN_AFTER_SECONDS: u64 = 3600;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeldMarker {
    pub held_at: Timestamp,
    pub rotation_id: RotationId,
    /// The vault name of the held secret.
    pub vault_secret: String,
}

impl HeldMarker {
    /// Where it sorts: by when it was held, then rotation.
    pub fn sort_key(&self) -> String {
        format!("{}#{}", self.held_at, self.rotation_id)
    }
}
