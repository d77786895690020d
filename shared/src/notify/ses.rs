//! Amazon SES v2 as the mailer: `SendEmail` with simple content, a text and an HTML
//! part, from the configured identity.

use async_trait::async_trait;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};

use super::mailer::{MailError, Mailer};
use crate::contact::EmailAddress;
use crate::email::EmailMessage;

pub struct SesMailer {
    client: aws_sdk_sesv2::Client,
    from: String,
}

impl SesMailer {
    pub fn new(client: aws_sdk_sesv2::Client, from: impl Into<String>) -> Self {
        Self {
            client,
            from: from.into(),
        }
    }
}

fn content(text: &str) -> Result<Content, MailError> {
    Content::builder()
        .data(text)
        .charset("UTF-8")
        .build()
        .map_err(|e| MailError::failed(format!("content: {e}")))
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, to: &EmailAddress, message: &EmailMessage) -> Result<(), MailError> {
        let email = Message::builder()
            .subject(content(&message.subject)?)
            .body(
                Body::builder()
                    .text(content(&message.text)?)
                    .html(content(&message.html)?)
                    .build(),
            )
            .build();
        self.client
            .send_email()
            .from_email_address(&self.from)
            .destination(Destination::builder().to_addresses(to.as_str()).build())
            .content(EmailContent::builder().simple(email).build())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                use aws_sdk_sesv2::error::ProvideErrorMetadata;
                let message = format!(
                    "SendEmail: {}",
                    aws_sdk_sesv2::error::DisplayErrorContext(&e)
                );
                match e.as_service_error().and_then(|s| s.code()) {
                    Some("InvalidParameterValue" | "BadRequestException" | "MessageRejected") => {
                        MailError::refused(message)
                    }
                    _ => MailError::failed(message),
                }
            })
    }
}
