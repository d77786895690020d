//! Contacts, webhook endpoints, the feed and the delivery log as the API shows them.

use keyroll_core::contact::{Contact, WebhookEndpoint};
use keyroll_core::delivery::{AttemptOutcome, DeliveryAttempt};
use keyroll_core::error::Error;
use keyroll_core::notification::NotificationType;
use keyroll_core::time::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

const DEFAULT_PAGE: usize = 50;

/// Items per page of a feed or delivery log.
pub const FEED_PAGE: keyroll_core::rules::Range = keyroll_core::rules::Range::new(1, 200);

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateContactRequest {
    /// Where emails go.
    pub email: String,
    /// The notification types wanted; all of them when left out.
    pub types: Option<Vec<NotificationType>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfirmContactRequest {
    /// The code emailed to the contact's address (`XXXX-XXXX-XXXX`; case, spaces and
    /// dashes do not matter).
    pub code: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactView {
    pub id: String,
    pub email: String,
    pub types: Vec<NotificationType>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// Whether the contact receives notifications. One your organisation adds gets only
    /// a confirmation code until the code is passed back (`POST …/confirm`);
    /// operators' contacts are confirmed at once.
    pub confirmed: bool,
    /// Until when the confirmation code works, while the contact is unconfirmed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub confirmation_expires_at: Option<Timestamp>,
}

impl From<&Contact> for ContactView {
    fn from(c: &Contact) -> Self {
        Self {
            id: c.id.to_string(),
            email: c.email.as_str().to_owned(),
            types: c.types.clone(),
            created_at: c.created_at,
            confirmed: c.is_confirmed(),
            confirmation_expires_at: c.pending.as_ref().map(|p| p.expires_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContactsResponse {
    pub contacts: Vec<ContactView>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateWebhookRequest {
    /// An https URL on a public address.
    pub url: String,
    /// The notification types wanted; all of them when left out.
    pub types: Option<Vec<NotificationType>>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SigningSecretView {
    pub version: u32,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// When it stops signing (after a rotation of the secret).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub retires_at: Option<Timestamp>,
}

/// Who reads a view of the notification settings. Operators see what is stored; the
/// organisation's users (viewers included) see webhook URLs without their query and
/// fragment (where endpoints put tokens), and keyroll's own failures only as a sentence
/// (an AWS error names the account, its roles and resources).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    Operator,
    Customer,
}

impl Reader {
    fn url(self, url: &str) -> String {
        match self {
            Reader::Operator => url.to_owned(),
            Reader::Customer => keyroll_core::contact::redacted_url(url),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookView {
    pub id: String,
    /// To the organisation's users, without its query and fragment (`?redacted`).
    pub url: String,
    pub types: Vec<NotificationType>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// Set once keyroll stopped calling it (410 Gone, or failing every retry).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub disabled_at: Option<Timestamp>,
    pub disabled_reason: Option<String>,
    /// The signing secrets (never their value).
    pub secrets: Vec<SigningSecretView>,
}

impl WebhookView {
    pub fn of(w: &WebhookEndpoint, reader: Reader) -> Self {
        Self {
            id: w.id.to_string(),
            url: reader.url(&w.url),
            types: w.types.clone(),
            created_at: w.created_at,
            disabled_at: w.disabled_at,
            disabled_reason: w.disabled_reason.clone(),
            secrets: w
                .secrets
                .iter()
                .map(|s| SigningSecretView {
                    version: s.version,
                    created_at: s.created_at,
                    retires_at: s.retires_at,
                })
                .collect(),
        }
    }
}

/// An endpoint with its new signing secret, shown in this response only.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookWithSecretResponse {
    #[serde(flatten)]
    pub webhook: WebhookView,
    /// `whsec_…`: verify the `webhook-signature` header with it (Standard Webhooks).
    pub secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhooksResponse {
    pub webhooks: Vec<WebhookView>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// `nextCursor` of the previous page.
    cursor: Option<String>,
    /// Items per page, 1-200 (default 50).
    limit: Option<usize>,
}

impl PageQuery {
    /// A cursor is the `nextCursor` of an earlier page: it starts with that page's last
    /// time (`2026-…`), visible ASCII, at most 256 characters.
    pub(crate) fn cursor(&self) -> Result<Option<&str>, Error> {
        match self.cursor.as_deref() {
            None => Ok(None),
            Some(cursor) if keyroll_core::rules::is_feed_cursor(cursor) => Ok(Some(cursor)),
            Some(_) => Err(Error::invalid(
                "cursor",
                "not a cursor of this list; start again without one",
            )),
        }
    }

    pub(crate) fn limit(&self) -> Result<usize, Error> {
        super::page_limit(self.limit, DEFAULT_PAGE, FEED_PAGE)
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationsResponse {
    /// Newest first: each notification's documented fields, and `read`.
    #[schema(value_type = Vec<Object>)]
    pub notifications: Vec<serde_json::Value>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttemptView {
    pub event_id: String,
    /// `email` or `webhook`.
    pub channel: String,
    /// The contact's or endpoint's id.
    pub target_id: String,
    /// The address or URL tried (a URL without its query and fragment, to the
    /// organisation's users).
    pub destination: String,
    pub attempt: u32,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// The HTTP status a webhook answered with.
    pub status: Option<u16>,
    pub latency_ms: u64,
    pub outcome: AttemptOutcome,
    /// What went wrong.
    pub error: Option<String>,
    /// keyroll's own failure in full (the mail service's or the vault's error), on the
    /// operator's routes only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl AttemptView {
    pub fn of(a: &DeliveryAttempt, reader: Reader) -> Self {
        let webhook = matches!(a.target, keyroll_core::delivery::Target::Webhook { .. });
        let (destination, error, detail) = match reader {
            Reader::Operator => (a.destination.clone(), a.error.clone(), a.detail.clone()),
            Reader::Customer => (
                if webhook {
                    reader.url(&a.destination)
                } else {
                    a.destination.clone()
                },
                customer_error(a, webhook),
                None,
            ),
        };
        Self {
            event_id: a.event_id.clone(),
            channel: a.target.channel().to_owned(),
            target_id: a.target.id().to_owned(),
            destination,
            attempt: a.attempt,
            at: a.at,
            status: a.status,
            latency_ms: a.latency_ms,
            outcome: a.outcome,
            error,
            detail,
        }
    }
}

/// An attempt's error as the organisation reads it. Since attempts keep keyroll's own
/// failures in `detail`, their `error` is the customer's to read. One recorded before
/// that may hold the mail service's or the vault's words (account, roles, ARNs) in
/// `error`: an email's is shown only if it is one of keyroll's own refusals, a
/// webhook's vault failure as the sentence keyroll now records.
fn customer_error(a: &DeliveryAttempt, webhook: bool) -> Option<String> {
    let error = a.error.as_ref()?;
    if a.detail.is_some() {
        return Some(error.clone());
    }
    if webhook {
        return Some(
            if error.starts_with("signing secret unavailable")
                || error.starts_with("no signing secret")
            {
                keyroll_core::notify::NOT_SIGNED.to_owned()
            } else {
                error.clone()
            },
        );
    }
    Some(
        if keyroll_core::notify::EMAIL_REFUSALS.contains(&error.as_str()) {
            error.clone()
        } else {
            keyroll_core::notify::EMAIL_NOT_ACCEPTED.to_owned()
        },
    )
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveriesResponse {
    /// Attempts, newest first.
    pub deliveries: Vec<AttemptView>,
    pub next_cursor: Option<String>,
}
