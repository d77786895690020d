//! How long work started by one request may run: `POST /v1/admin/process` and
//! `/v1/admin/scan` stop starting new work in time to answer, and say what is left.

use std::time::{Duration, Instant};

use keyroll_core::time::stop_before_deadline;

/// API Gateway gives up on an integration after 30 s (the function's timeout too).
pub const REQUEST_BUDGET: Duration = Duration::from_secs(30);

/// Kept back for finishing the work in hand and writing the answer.
pub const MARGIN: Duration = Duration::from_secs(5);

/// When a run started now must stop starting work: before the Lambda invocation's
/// deadline when there is one, and within the request budget in any case (locally
/// too, where the same router serves).
pub fn stop_at(lambda: Option<&lambda_http::Context>) -> Instant {
    let budget = Instant::now() + REQUEST_BUDGET.saturating_sub(MARGIN);
    match lambda {
        Some(context) => stop_before_deadline(context.deadline, MARGIN).min(budget),
        None => budget,
    }
}
