//! The mail port: one rendered email to one address. SES in AWS (`ses.rs`), a folder of
//! `.eml` files for keyroll-local, memory for tests.

use std::path::PathBuf;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::contact::EmailAddress;
use crate::email::EmailMessage;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mail not sent: {message}")]
pub struct MailError {
    pub message: String,
    /// The mail service refused this address or message for good (SES's
    /// `InvalidParameterValue`, `BadRequestException`, `MessageRejected`): sending it
    /// again would not help, unlike an outage or throttling.
    pub refused: bool,
}

impl MailError {
    /// A failure that may pass (an outage, throttling, a local write).
    pub fn failed(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            refused: false,
        }
    }

    /// The mail service refused the address or message.
    pub fn refused(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            refused: true,
        }
    }
}

#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends `message` to `to`; `Ok` once the mail service accepted it.
    async fn send(&self, to: &EmailAddress, message: &EmailMessage) -> Result<(), MailError>;
}

/// Emails kept in memory, for tests.
#[derive(Debug, Default)]
pub struct MemoryMailer {
    sent: Mutex<Vec<(EmailAddress, EmailMessage)>>,
}

impl MemoryMailer {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn sent(&self) -> Vec<(EmailAddress, EmailMessage)> {
        self.sent.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[async_trait]
impl Mailer for MemoryMailer {
    async fn send(&self, to: &EmailAddress, message: &EmailMessage) -> Result<(), MailError> {
        self.sent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((to.clone(), message.clone()));
        Ok(())
    }
}

/// Emails written as `.eml` files (RFC 5322, multipart/alternative) into a folder, for
/// keyroll-local: open them in any mail client.
#[derive(Debug)]
pub struct FolderMailer {
    folder: PathBuf,
    from: String,
}

impl FolderMailer {
    pub fn new(folder: impl Into<PathBuf>, from: impl Into<String>) -> std::io::Result<Self> {
        let folder = folder.into();
        std::fs::create_dir_all(&folder)?;
        Ok(Self {
            folder,
            from: from.into(),
        })
    }

    pub fn folder(&self) -> &std::path::Path {
        &self.folder
    }
}

/// The message as an `.eml` document.
pub fn eml(from: &str, to: &EmailAddress, message: &EmailMessage, boundary: &str) -> String {
    let subject: String = message
        .subject
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"{boundary}\"\r\n\r\n--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{}\r\n--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{}\r\n--{boundary}--\r\n",
        message.text, message.html,
        to = to.as_str(),
    )
}

#[async_trait]
impl Mailer for FolderMailer {
    async fn send(&self, to: &EmailAddress, message: &EmailMessage) -> Result<(), MailError> {
        let name = hex::encode(crate::random::bytes::<8>());
        let path = self.folder.join(format!("{name}.eml"));
        let document = eml(&self.from, to, message, &format!("keyroll-{name}"));
        tokio::task::spawn_blocking(move || std::fs::write(&path, document))
            .await
            .map_err(|e| MailError::failed(format!("writing the email: {e}")))?
            .map_err(|e| MailError::failed(format!("writing the email: {e}")))
    }
}
