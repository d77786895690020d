//! A key's callers, as `GET …/keys/{keyId}/callers` answers.

use keyroll_core::callers::{KeyCaller, MoveStatus, MoveSummary};
use keyroll_core::service::KeyCallers;
use keyroll_core::time::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallersResponse {
    /// The rotation the statuses are judged by (in progress, else the last); absent
    /// before the key's first rotation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation_id: Option<String>,
    pub callers: Vec<CallerView>,
    pub summary: MoveSummaryView,
    /// With `groupBy=appVersion`: the key's last 7 days of traffic by app version, most
    /// used first, each split over the secret versions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_versions: Option<Vec<AppVersionView>>,
}

/// One app version's part of the key's traffic over the last 7 days.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppVersionView {
    /// Null: callers that named no app version.
    pub app_version: Option<String>,
    pub uses7d: u64,
    /// Of every use of the key's secrets in the 7 days.
    pub share_percent: f64,
    pub versions: Vec<AppVersionUseView>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppVersionUseView {
    pub version: u32,
    pub uses7d: u64,
    pub share_percent: f64,
}

/// `GET …/callers` options.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CallersQuery {
    /// `appVersion`: also answer the traffic by app version (`appVersions`).
    pub group_by: Option<String>,
}

impl CallersQuery {
    /// Whether the traffic by app version is asked for; anything else is a 422.
    pub fn by_app_version(&self) -> Result<bool, keyroll_core::error::Error> {
        match self.group_by.as_deref() {
            None => Ok(false),
            Some("appVersion") => Ok(true),
            Some(_) => Err(keyroll_core::error::Error::invalid(
                "groupBy",
                "must be appVersion",
            )),
        }
    }
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

impl CallersResponse {
    /// The answer for `found`, with the traffic by app version when asked.
    pub fn of(found: KeyCallers, by_app_version: bool) -> Self {
        let app_versions = by_app_version.then(|| {
            keyroll_core::callers::by_app_version(&found.callers)
                .into_iter()
                .map(|share| AppVersionView {
                    app_version: share.app_version,
                    uses7d: share.uses_7d,
                    share_percent: share.share_percent,
                    versions: share
                        .versions
                        .into_iter()
                        .map(|(version, uses7d, share_percent)| AppVersionUseView {
                            version,
                            uses7d,
                            share_percent,
                        })
                        .collect(),
                })
                .collect()
        });
        Self {
            rotation_id: found.rotation_id.map(|id| id.to_string()),
            callers: found.callers.iter().map(CallerView::from).collect(),
            summary: found.summary.into(),
            app_versions,
        }
    }
}
