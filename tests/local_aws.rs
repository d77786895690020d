//! The moto stand-in answers through the same AWS SDK clients keyroll uses in Lambda:
//! SQS FIFO queues and Secrets Manager. Needs the endpoints from scripts/local-aws;
//! fails without them.

use aws_sdk_secretsmanager::types::Tag;
use aws_sdk_sqs::types::QueueAttributeName;

fn require(variable: &str) -> String {
    std::env::var(variable).unwrap_or_else(|_| {
        panic!("{variable} is not set: this test needs moto. Run scripts/test (it starts the stand-ins).")
    })
}

#[tokio::test]
async fn sqs_fifo_queue_round_trips_a_message_and_suppresses_duplicates() {
    require("AWS_ENDPOINT_URL_SQS");
    let config = keyroll_core::aws::load_config().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let name = format!(
        "keyroll-test-{}.fifo",
        hex::encode(keyroll_core::random::bytes::<6>())
    );
    let queue = sqs
        .create_queue()
        .queue_name(&name)
        .attributes(QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .expect("create FIFO queue in moto")
        .queue_url
        .expect("queue url");
    for _ in 0..2 {
        sqs.send_message()
            .queue_url(&queue)
            .message_body(r#"{"type":"rotation.started"}"#)
            .message_group_id("key_1")
            .message_deduplication_id("evt_1")
            .send()
            .await
            .expect("send");
    }
    let received = sqs
        .receive_message()
        .queue_url(&queue)
        .max_number_of_messages(10)
        .send()
        .await
        .expect("receive")
        .messages
        .unwrap_or_default();
    assert_eq!(received.len(), 1, "the duplicate is suppressed");
    assert_eq!(received[0].body(), Some(r#"{"type":"rotation.started"}"#));
}

#[tokio::test]
async fn secrets_manager_stores_and_deletes_a_secret() {
    require("AWS_ENDPOINT_URL_SECRETS_MANAGER");
    let config = keyroll_core::aws::load_config().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&config);
    let name = format!(
        "keyroll/test/{}",
        hex::encode(keyroll_core::random::bytes::<6>())
    );
    secrets
        .create_secret()
        .name(&name)
        .secret_string("sk_live_example")
        .tags(Tag::builder().key("keyroll:key").value("key_1").build())
        .send()
        .await
        .expect("create secret in moto");
    let value = secrets
        .get_secret_value()
        .secret_id(&name)
        .version_stage("AWSCURRENT")
        .send()
        .await
        .expect("get secret");
    assert_eq!(value.secret_string(), Some("sk_live_example"));
    secrets
        .delete_secret()
        .secret_id(&name)
        .force_delete_without_recovery(true)
        .send()
        .await
        .expect("delete secret");
    assert!(secrets
        .get_secret_value()
        .secret_id(&name)
        .send()
        .await
        .is_err());
}
