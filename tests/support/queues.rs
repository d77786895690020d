//! The notification queue as tests reach it: a FIFO queue in moto, and an inbox that
//! reads back what any queue adapter delivered.

use std::sync::Arc;

use keyroll_core::notification::Notification;
use keyroll_core::queue::MemoryQueue;

/// A fresh FIFO queue in moto (SQS), and its URL. A test that needs moto fails when it
/// is not configured.
pub async fn moto_fifo_queue() -> (aws_sdk_sqs::Client, String) {
    assert!(
        std::env::var("AWS_ENDPOINT_URL_SQS").is_ok(),
        "AWS_ENDPOINT_URL_SQS is not set: run scripts/test"
    );
    let sdk = keyroll_core::aws::load_config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let suffix = hex::encode(keyroll_core::random::bytes::<6>());
    let url = sqs
        .create_queue()
        .queue_name(format!("keyroll-{suffix}.fifo"))
        .attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .expect("create queue in moto")
        .queue_url
        .expect("a queue url");
    (sqs, url)
}

/// Where delivered notifications can be read back.
pub enum Inbox {
    Memory(Arc<MemoryQueue>),
    Sqs {
        client: aws_sdk_sqs::Client,
        url: String,
    },
}

impl Inbox {
    /// How many messages are in the queue, without consuming them.
    pub async fn count(&self) -> usize {
        match self {
            Inbox::Memory(queue) => queue.delivered().len(),
            Inbox::Sqs { client, url } => {
                let attributes = client
                    .get_queue_attributes()
                    .queue_url(url)
                    .attribute_names(
                        aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages,
                    )
                    .send()
                    .await
                    .expect("queue attributes")
                    .attributes
                    .unwrap_or_default();
                attributes[&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages]
                    .parse()
                    .unwrap()
            }
        }
    }

    /// Every message delivered since the last call (SQS: received and deleted).
    pub async fn take(&self) -> Vec<Notification> {
        match self {
            Inbox::Memory(queue) => queue.delivered(),
            Inbox::Sqs { client, url } => {
                let mut out = Vec::new();
                let mut empty_polls = 0;
                while empty_polls < 2 {
                    let received = client
                        .receive_message()
                        .queue_url(url)
                        .max_number_of_messages(10)
                        .visibility_timeout(60)
                        .send()
                        .await
                        .expect("receive from moto")
                        .messages
                        .unwrap_or_default();
                    if received.is_empty() {
                        empty_polls += 1;
                        continue;
                    }
                    for message in received {
                        let body = message.body().expect("message body");
                        out.push(serde_json::from_str(body).expect("a notification"));
                        client
                            .delete_message()
                            .queue_url(url)
                            .receipt_handle(message.receipt_handle().unwrap())
                            .send()
                            .await
                            .expect("delete message");
                    }
                }
                out
            }
        }
    }
}
