//! The processor's pass over keys whose own expiry needs it (the expiry index): the
//! warning ahead of an expiry, then marking the key expired. Verification never waits
//! for this pass: a key's secrets stop at its expiry to the second.

use std::time::Instant;

use futures::stream::{self, StreamExt};

use super::{ProcessReport, ProcessorOptions};
use crate::error::Result;
use crate::index::{ExpiryRef, INDEX_SHARDS};
use crate::service::Keyroll;

/// Settles every key whose expiry step is due at the keyroll's now, shard by shard and
/// page by page, until `options.stop_at`; what is left is counted in `remaining`.
pub(super) async fn settle_expiries(
    keyroll: &Keyroll,
    options: &ProcessorOptions,
    report: &mut ProcessReport,
) -> Result<()> {
    let now = keyroll.now();
    let out_of_time = || options.stop_at.is_some_and(|at| Instant::now() >= at);
    for shard in 0..INDEX_SHARDS {
        let mut after: Option<ExpiryRef> = None;
        loop {
            let page = keyroll
                .store()
                .expiring_keys(shard, now, after.as_ref(), options.page_size)
                .await?;
            if out_of_time() {
                report.remaining += page.len() as u64;
                break;
            }
            let full = page.len() == options.page_size;
            after = page.last().cloned();
            let outcomes: Vec<_> = stream::iter(page)
                .map(|due| async move { (keyroll.settle_key_expiry(&due.key_id).await, due) })
                .buffer_unordered(options.concurrency.max(1))
                .collect()
                .await;
            for (outcome, due) in outcomes {
                match outcome {
                    Ok(step) => {
                        report.expiry_warned += u64::from(step.warned);
                        report.expired += u64::from(step.expired);
                    }
                    Err(error) => {
                        report.failed += 1;
                        tracing::warn!(key = %due.key_id, error = %crate::error::Chain(&error), "key expiry not settled; the next run retries (its secrets stopped verifying at the expiry regardless)");
                    }
                }
            }
            if !full {
                break;
            }
        }
    }
    Ok(())
}
