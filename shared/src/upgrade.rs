//! Upgrading a deployed stack's data: the sweep through what an older release wrote
//! ([`crate::store::Store::sweep_legacy`]), run by the compliance scanner after its scan
//! until it is done. Keys written before an index existed appear in it (the customer
//! routes' organisation lists, `GET /v1/keys`), idempotency records from before
//! expiry are deleted, and secret records from before records were authenticated are
//! MACed as they read (so `KEYROLL_AUDIT_MAC_REQUIRED` can be turned on once it is
//! done), with no operator running a script.

use std::time::Instant;

use crate::error::StoreError;
use crate::service::Keyroll;

/// Items read per page.
pub const SWEEP_PAGE: usize = 500;

/// What one run of the sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepReport {
    /// Nothing of an older release is left: later runs cost one read.
    pub done: bool,
    pub pages: u64,
    pub examined: u64,
    pub keys_indexed: u64,
    pub records_deleted: u64,
    /// Secret records of an older release given keyroll's MACs.
    pub secret_records_authenticated: u64,
}

/// Sweeps page after page until the sweep is done, a pass through the table has ended,
/// or `stop_at` has passed; the next run carries on where this one stopped.
pub async fn sweep_legacy(
    keyroll: &Keyroll,
    stop_at: Option<Instant>,
) -> Result<SweepReport, StoreError> {
    let mut report = SweepReport::default();
    while stop_at.is_none_or(|at| Instant::now() < at) {
        let page = keyroll.store().sweep_legacy(SWEEP_PAGE).await?;
        report.pages += 1;
        report.examined += page.examined;
        report.keys_indexed += page.keys_indexed;
        report.records_deleted += page.records_deleted;
        for record in page.unauthenticated {
            report.secret_records_authenticated +=
                u64::from(keyroll.authenticate_legacy_record(record).await?);
        }
        if page.done {
            report.done = true;
            break;
        }
        // Another pass follows (it met records without MACs): the next run makes it,
        // so a record that is never MACed costs one pass per run, not a loop.
        if page.pass_ended {
            break;
        }
    }
    Ok(report)
}
