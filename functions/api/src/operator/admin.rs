//! `/v1/admin/…`: running the processor or the compliance scan now, within the
//! request's deadline.

use axum::extract::State;
use axum::Extension;
use axum::Json;
use keyroll_core::processor::{process_due, ProcessReport, ProcessorOptions};
use keyroll_core::scan::{scan, ScanOptions, ScanReport};

use crate::http::problem::ApiError;
use crate::http::problems::*;
use crate::AppState;

/// Run the processor once: start and complete every due rotation. It stops starting
/// work in time to answer within the request's deadline; `remaining` counts what it
/// left for the next run.
#[utoipa::path(post, path = "/v1/admin/process", tag = "admin",
    responses(
        (status = 200, body = ProcessReport),
        Unauthenticated,
    ))]
pub async fn process(
    State(state): State<AppState>,
    lambda: Option<Extension<lambda_http::Context>>,
) -> Result<Json<ProcessReport>, ApiError> {
    let options = ProcessorOptions {
        stop_at: Some(crate::http::deadline::stop_at(lambda.as_deref())),
        ..ProcessorOptions::default()
    };
    let report = process_due(&state.keyroll, state.queue.as_deref(), options).await?;
    Ok(Json(report))
}

/// Run the compliance scan once: schedule rotations of overdue keys, warn ahead,
/// write today's snapshot. It stops in time to answer within the request's deadline
/// (`incomplete`); the next run carries on.
#[utoipa::path(post, path = "/v1/admin/scan", tag = "admin",
    responses(
        (status = 200, body = ScanReport),
        Unauthenticated,
    ))]
pub async fn run_scan(
    State(state): State<AppState>,
    lambda: Option<axum::Extension<lambda_http::Context>>,
) -> Result<Json<ScanReport>, ApiError> {
    let options = ScanOptions {
        stop_at: Some(crate::http::deadline::stop_at(lambda.as_deref())),
        ..ScanOptions::default()
    };
    Ok(Json(scan(&state.keyroll, options).await?))
}
