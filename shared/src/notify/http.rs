//! Outbound HTTPS (webhooks; an identity provider's discovery document and keys): every
//! request goes to an address checked against the [`DestinationPolicy`] at send time
//! (the name is resolved here, within the request's timeout, and the connection pinned
//! to the address that passed, so re-pointing a name inside the network cannot work),
//! with the caller's timeout (the notifier's: at most 10 s per attempt), a 2-second
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
}

/// The first address `host:port` resolves to, if every one of them is allowed.
async fn resolve(policy: &DestinationPolicy, host: &str, port: u16) -> Result<SocketAddr, String> {
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("could not resolve the host: {e}"))?
        .collect();
    let first = *addresses.first().ok_or("the host has no address")?;
    for address in &addresses {
        policy
            .check_address(address.ip())
            .map_err(|e| e.to_string())?;
    }
    Ok(first)
}

/// A client for `url` alone, and the URL: the URL checked against `policy`, its host
/// resolved here and the connection pinned to the allowed address, no proxy (a proxy
/// would resolve the name itself and defeat the check) and no redirects.
pub async fn pinned_client(
    policy: &DestinationPolicy,
    url: &str,
    timeout: Duration,
    user_agent: &str,
) -> Result<(reqwest::Client, url::Url), String> {
    let destination = policy.parse_url(url).map_err(|e| e.to_string())?;
    // The system resolver has its own, longer, timeouts and retries.
    let address = tokio::time::timeout(
        timeout,
        resolve(policy, &destination.host, destination.port),
    )
    .await
    .map_err(|_| {
        format!(
            "could not resolve the host within {:.1} s",
            timeout.as_secs_f64()
        )
    })??;
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(CONNECT_TIMEOUT.min(timeout))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .resolve(&destination.host, address)
        .user_agent(user_agent)
        .build()
        .map_err(|e| format!("client: {e}"))?;
    Ok((client, destination.url))
}

/// The body of a `GET` of `url` under the same rules as a webhook's `POST`; an answer
/// other than 200 or a body over `max_bytes` is an error.
pub async fn get_bounded(
    policy: &DestinationPolicy,
    url: &str,
    timeout: Duration,
    max_bytes: usize,
) -> Result<Vec<u8>, String> {
    let (client, url) = pinned_client(policy, url, timeout, "keyroll/1").await?;
    let mut response = client
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| describe(&e, timeout))?;
    if response.status() != reqwest::StatusCode::OK {
        return Err(format!("answered {}", response.status().as_u16()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e, timeout))? {
        if body.len() + chunk.len() > max_bytes {
            return Err(format!("answered more than {max_bytes} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// What went wrong with a request, without its URL.
fn describe(error: &reqwest::Error, timeout: Duration) -> String {
    if error.is_connect() {
        "could not connect".into()
    } else if error.is_timeout() {
        format!("no answer within {:.1} s", timeout.as_secs_f64())
    } else {
        format!("request failed: {}", without_url(error))
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
        let (client, url) =
            match pinned_client(&self.policy, &request.url, timeout, "keyroll-webhooks/1").await {
                Ok(pinned) => pinned,
                Err(error) => return failed(error),
            };
        let mut builder = client
            .post(url)
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
            // A connection that could not be made is not a receiver that did not answer.
            Err(error) => WebhookResponse {
                timed_out: !error.is_connect() && error.is_timeout(),
                ..failed(describe(&error, timeout))
            },
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
