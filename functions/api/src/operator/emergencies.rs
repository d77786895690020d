//! `/v1/emergencies`: emergency and leak rotations of the last days, newest first.

use axum::extract::State;
use axum::Json;

use crate::dto::limits::{EMERGENCY_DAYS, ROTATION_PAGE};
use crate::dto::*;
use crate::http::cursor::*;
use crate::http::extract::QueryParams;
use crate::http::problem::ApiError;
use crate::http::problems::*;
use crate::AppState;

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EmergenciesQuery {
    /// How far back, 1-366 days (default 30).
    days: Option<u64>,
    /// `nextCursor` of the previous page.
    cursor: Option<String>,
    /// Rotations per page, 1-500 (default 100).
    limit: Option<usize>,
}

/// Emergency and leak rotations started in the last `days` days, newest first,
/// whether still in grace or already completed.
#[utoipa::path(get, path = "/v1/emergencies", tag = "rotations",
    params(EmergenciesQuery),
    responses(
        (status = 200, body = RotationPageResponse),
        Unauthenticated, Invalid,
    ))]
pub async fn recent_emergencies(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<EmergenciesQuery>,
) -> Result<Json<RotationPageResponse>, ApiError> {
    let days = crate::dto::within("days", query.days, EMERGENCY_DAYS)?.unwrap_or(30);
    let limit = crate::dto::page_limit(query.limit, 100, ROTATION_PAGE)?;
    let after = query
        .cursor
        .as_deref()
        .map(parse_emergency_cursor)
        .transpose()?;
    let (rotations, next) = state
        .keyroll
        .recent_emergencies(days, after.as_ref(), limit)
        .await?;
    Ok(Json(RotationPageResponse {
        rotations: rotations.iter().map(RotationView::from).collect(),
        next_cursor: next.as_ref().map(emergency_cursor),
    }))
}
