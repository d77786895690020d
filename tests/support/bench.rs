//! What the DynamoDB benchmarks share: the size asked on the command line, and a fresh
//! table on the DynamoDB Local that `scripts/bench` started.

use std::sync::Arc;

use keyroll_core::store::dynamodb::{create_table, DynamoStore};

/// The first number among the benchmark's arguments, or `default`.
pub fn size_argument(default: usize) -> usize {
    std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(default)
}

/// A new table named `keyroll-<name>-<pid>` on DynamoDB Local, through the SDK client
/// the Lambda functions use.
pub async fn fresh_table(name: &str) -> Arc<DynamoStore> {
    std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
        .expect("AWS_ENDPOINT_URL_DYNAMODB: run scripts/bench");
    let sdk = keyroll_core::aws::load_config().await;
    let client = keyroll_core::aws::dynamodb_client(&sdk);
    let table = format!("keyroll-{name}-{}", std::process::id());
    create_table(&client, &table).await.expect("create table");
    Arc::new(DynamoStore::new(client, table))
}
