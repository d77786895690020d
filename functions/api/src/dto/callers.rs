//! A key's callers, as `GET …/keys/{keyId}/callers` answers.

use keyroll_core::callers::{KeyCaller, MoveStatus, MoveSummary};
use keyroll_core::service::KeyCallers;
use keyroll_core::time::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallersResponse {
    /// The rotation the statuses are judged by (in progress, else the last); absent
    /// before the key's first rotation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation_id: Option<String>,
    pub callers: Vec<CallerView>,
    pub summary: MoveSummaryView,
}

/// One integration calling with the key. `other` sums the callers beyond the 50 kept
/// per secret.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallerView {
    pub id: String,
    /// The source's /24 (IPv4) or /48 (IPv6); never a full address.
    pub network: Option<String>,
    /// The User-Agent's first product token.
    pub agent: Option<String>,
    /// The `Keyroll-Client` header.
    pub client: Option<String>,
    pub app_version: Option<String>,
    /// `moved`: seen on the new secret and not on the old one since; `not_moved`: still
    /// on the old one, or not yet on the new; `gone`: not seen for 7 days.
    #[schema(value_type = String, example = "not_moved")]
    pub status: MoveStatusView,
    pub versions: Vec<CallerVersionView>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MoveStatusView {
    Moved,
    NotMoved,
    Gone,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallerVersionView {
    pub version: u32,
    #[schema(value_type = String, format = DateTime)]
    pub first_seen: Timestamp,
    /// To the minute.
    #[schema(value_type = String, format = DateTime)]
    pub last_seen: Timestamp,
    /// Uses today and yesterday (UTC days).
    pub uses24h: u64,
    /// Uses in the last 7 UTC days.
    pub uses7d: u64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MoveSummaryView {
    pub moved: u64,
    pub not_moved: u64,
    pub gone: u64,
}

impl From<MoveSummary> for MoveSummaryView {
    fn from(summary: MoveSummary) -> Self {
        Self {
            moved: summary.moved,
            not_moved: summary.not_moved,
            gone: summary.gone,
        }
    }
}

impl From<&KeyCaller> for CallerView {
    fn from(caller: &KeyCaller) -> Self {
        Self {
            id: caller.id.clone(),
            network: caller.caller.network.clone(),
            agent: caller.caller.agent.clone(),
            client: caller.caller.client.clone(),
            app_version: caller.caller.app_version.clone(),
            status: match caller.status {
                MoveStatus::Moved => MoveStatusView::Moved,
                MoveStatus::NotMoved => MoveStatusView::NotMoved,
                MoveStatus::Gone => MoveStatusView::Gone,
            },
            versions: caller
                .versions
                .iter()
                .map(|v| CallerVersionView {
                    version: v.version,
                    first_seen: v.first_seen,
                    last_seen: v.last_seen,
                    uses24h: v.uses_24h,
                    uses7d: v.uses_7d,
                })
                .collect(),
        }
    }
}

impl From<KeyCallers> for CallersResponse {
    fn from(found: KeyCallers) -> Self {
        Self {
            rotation_id: found.rotation_id.map(|id| id.to_string()),
            callers: found.callers.iter().map(CallerView::from).collect(),
            summary: found.summary.into(),
        }
    }
}
