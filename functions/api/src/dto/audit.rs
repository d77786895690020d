//! Audit events and a page of a key's trail with its chain's verdict.

use keyroll_core::audit::{AuditAction, AuditEvent, ChainReport};
use keyroll_core::time::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

use super::Viewer;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEventView {
    pub seq: u64,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub actor: String,
    pub action: AuditAction,
    pub reason: Option<String>,
    pub rotation_id: Option<String>,
    /// The state before the change (null for the first event of a key).
    #[schema(value_type = Option<Object>)]
    pub before: serde_json::Value,
    #[schema(value_type = Option<Object>)]
    pub after: serde_json::Value,
    /// Hex SHA-256 of the previous event (zeros for the first).
    pub prev_hash: String,
    /// Hex SHA-256 of this event's canonical JSON.
    pub hash: String,
}

impl From<&AuditEvent> for AuditEventView {
    fn from(e: &AuditEvent) -> Self {
        Self {
            seq: e.seq,
            at: e.at,
            actor: e.actor.to_string(),
            action: e.action,
            reason: e.reason.as_ref().map(ToString::to_string),
            rotation_id: e.rotation_id.as_ref().map(ToString::to_string),
            before: e.before.clone(),
            after: e.after.clone(),
            prev_hash: e.prev_hash.to_hex(),
            hash: e.hash.to_hex(),
        }
    }
}

impl AuditEventView {
    pub fn seen_by(mut self, viewer: Viewer) -> Self {
        self.actor = viewer.actor(&self.actor);
        self
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditResponse {
    pub key_id: String,
    pub events: Vec<AuditEventView>,
    /// Where the next page starts (`cursor`), while there is one.
    pub next_cursor: Option<String>,
    /// Whether the whole chain (every page) is intact up to the key's head.
    pub chain_valid: bool,
    pub chain: ChainReport,
}
