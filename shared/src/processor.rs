//! The processor: advances every rotation that is due, reading only the due index.
//!
//! Safe to run several at once and to re-run: each rotation is advanced by a guarded
//! change that re-reads the rotation, so a rotation already advanced by another run is
//! left alone. One failing rotation is counted and logged; the others proceed.

use std::time::Instant;

use futures::stream::{self, StreamExt};
use serde::Serialize;

use crate::error::Result;
use crate::service::Keyroll;
use crate::store::{DueRef, INDEX_SHARDS};

/// How a run reads and how long it may take.
#[derive(Debug, Clone, Copy)]
pub struct ProcessorOptions {
    /// Due entries read per index query.
    pub page_size: usize,
    /// Rotations advanced at once.
    pub concurrency: usize,
    /// Stop starting new work after this instant (the Lambda deadline minus a margin).
    pub stop_at: Option<Instant>,
}

impl Default for ProcessorOptions {
    fn default() -> Self {
        Self {
            page_size: 100,
            concurrency: 8,
            stop_at: None,
        }
    }
}

/// What one run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessReport {
    pub started: u64,
    pub completed: u64,
    pub failed: u64,
    /// Due rotations seen but left for the next run because time ran out.
    pub remaining: u64,
}

/// Advances every rotation due now.
pub async fn process_due(keyroll: &Keyroll, options: ProcessorOptions) -> Result<ProcessReport> {
    let now = keyroll.now();
    let mut report = ProcessReport::default();
    let out_of_time = || {
        options
            .stop_at
            .is_some_and(|deadline| Instant::now() >= deadline)
    };
    for shard in 0..INDEX_SHARDS {
        let mut after: Option<DueRef> = None;
        loop {
            let page = keyroll
                .store()
                .due_rotations(shard, now, after.as_ref(), options.page_size)
                .await?;
            if out_of_time() {
                report.remaining += page.len() as u64;
                break;
            }
            let full = page.len() == options.page_size;
            after = page.last().cloned();
            let outcomes: Vec<_> = stream::iter(page)
                .map(|due| async move {
                    let outcome = keyroll.advance_rotation(&due.rotation_id).await;
                    (due, outcome)
                })
                .buffer_unordered(options.concurrency.max(1))
                .collect()
                .await;
            for (due, outcome) in outcomes {
                match outcome {
                    Ok(advance) => {
                        report.started += u64::from(advance.started);
                        report.completed += u64::from(advance.completed);
                    }
                    Err(error) => {
                        report.failed += 1;
                        tracing::warn!(rotation = %due.rotation_id, key = %due.key_id, %error, "rotation could not be advanced");
                    }
                }
            }
            if !full {
                break;
            }
        }
    }
    Ok(report)
}
