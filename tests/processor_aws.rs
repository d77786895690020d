//! The processor and notification suite over DynamoDB Local + moto (SQS FIFO, Secrets
//! Manager), and what only the real services can show.

// The full race on moto's SQS is kept to 100 rotations (300 messages): moto's FIFO
// queue slows down with every queued message. The 1,000-rotation race below runs
// on DynamoDB Local with the in-memory queue.
pub use keyroll_tests::processor::aws_world as world;
pub const RACE_ROTATIONS: usize = 100;

#[path = "processor/mod.rs"]
mod suite;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_processors_advance_1000_rotations_on_dynamodb_local_exactly_once() {
    keyroll_tests::processor::racing_processors_advance_every_rotation_exactly_once(
        keyroll_tests::processor::dynamodb_world_with_memory_queue().await,
        1000,
    )
    .await;
}

/// A run with nothing due costs the same few requests whatever the table holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_with_nothing_due_costs_a_constant_number_of_requests() {
    let w = keyroll_tests::processor::aws_world().await;
    let dynamo = w.dynamo.clone().unwrap();
    let later = keyroll_tests::fixture::epoch().plus_seconds(86_400);
    let mut costs = Vec::new();
    for count in [5, 60] {
        w.seed(count, later, 600).await;
        w.run().await; // delivers the scheduling notices
        let before = dynamo.request_count();
        let report = w.run().await;
        assert_eq!(report, Default::default());
        costs.push(dynamo.request_count() - before);
    }
    assert_eq!(costs[0], costs[1], "cost does not grow with the table");
    assert!(
        costs[0] <= 13,
        "4 due-index queries + 4 expiry-index queries + 4 outbox queries + 1 held-secret marker query, got {}",
        costs[0]
    );
}
