//! Webhooks over HTTPS: every request goes to an address checked against the
//! [`DestinationPolicy`] at send time (the name is resolved here and the connection
//! pinned to the address that passed, so re-pointing a name inside the network cannot
//! work), with the timeout the notifier gives each attempt (at most 10 s), a 2-second
//! connect timeout and no redirects.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{WebhookRequest, WebhookResponse, WebhookSender};
use crate::contact::DestinationPolicy;

/// The longest a connection may take: a receiver that cannot take one in this is down,
/// and waiting longer only holds a sender's slot.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

pub struct HttpWebhookSender {
    policy: DestinationPolicy,
}

impl HttpWebhookSender {
    pub fn new(policy: DestinationPolicy) -> Self {
        Self { policy }
    }

    /// The first address `host:port` resolves to, if every one of them is allowed.
    async fn resolve(&self, host: &str, port: u16) -> Result<SocketAddr, String> {
        let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| format!("could not resolve the host: {e}"))?
            .collect();
        let first = *addresses.first().ok_or("the host has no address")?;
        for address in &addresses {
            self.policy
                .check_address(address.ip())
                .map_err(|e| e.to_string())?;
        }
        Ok(first)
    }
}

#[async_trait]
impl WebhookSender for HttpWebhookSender {
    async fn post(&self, request: &WebhookRequest, timeout: Duration) -> WebhookResponse {
        let started = Instant::now();
        let failed = |error: String| WebhookResponse {
            status: None,
            latency_ms: started.elapsed().as_millis() as u64,
            error: Some(error),
            timed_out: false,
        };
        let destination = match self.policy.parse_url(&request.url) {
            Ok(destination) => destination,
            Err(error) => return failed(error.to_string()),
        };
        let address = match self.resolve(&destination.host, destination.port).await {
            Ok(address) => address,
            Err(error) => return failed(error),
        };
        let client = match reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would resolve the name itself and defeat the address check.
            .no_proxy()
            .resolve(&destination.host, address)
            .user_agent("keyroll-webhooks/1")
            .build()
        {
            Ok(client) => client,
            Err(error) => return failed(format!("client: {error}")),
        };
        let mut builder = client
            .post(destination.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(request.body.clone());
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        match builder.send().await {
            Ok(response) => WebhookResponse {
                status: Some(response.status().as_u16()),
                latency_ms: started.elapsed().as_millis() as u64,
                error: None,
                timed_out: false,
            },
            Err(error) if error.is_connect() => failed("could not connect".into()),
            Err(error) if error.is_timeout() => WebhookResponse {
                timed_out: true,
                ..failed(format!("no answer within {:.1} s", timeout.as_secs_f64()))
            },
            Err(error) => failed(format!("request failed: {}", without_url(&error))),
        }
    }
}

/// reqwest's message without the URL (a receiver's URL may carry a token in its path).
fn without_url(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(url.as_str(), "<url>");
    }
    text.chars().take(200).collect()
}
