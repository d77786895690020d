//! An identity provider's keys, found from its issuer alone (OpenID Connect Discovery):
//! `<issuer>/.well-known/openid-configuration` names the `jwks_uri`, whose keys are
//! cached. Providers rotate their signing keys on their own schedule, so the keys are
//! fetched again when a token names a key not in the cache and every
//! [`REFRESH_SECONDS`] — but never more than once per [`MIN_FETCH_INTERVAL_SECONDS`]
//! per process, so a flood of tokens naming made-up keys costs the provider one fetch
//! (the discovery document and the JWKS) a minute. While the provider cannot be
//! reached, the cached keys keep serving.
//!
//! Both URLs are fetched under the webhooks' destination rules (https; http only to
//! loopback when allowed; no private addresses, no redirects), since the discovery
//! document chooses the second one.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use keyroll_core::contact::DestinationPolicy;
use keyroll_core::notify::http::get_bounded;
use keyroll_core::time::Timestamp;

use super::jwks::{key_for, trusted_keys, TrustedKey};

/// How often the keys are fetched again while every token names a known key.
pub const REFRESH_SECONDS: i64 = 3600;

/// The least time between two fetches, whatever tokens arrive.
pub const MIN_FETCH_INTERVAL_SECONDS: i64 = 60;

const FETCH_TIMEOUT: Duration = Duration::from_secs(4);

/// The longest start waits for the first fetch: a provider that hangs must not hold a
/// Lambda container's start (10 s in all) and the operator routes with it.
const START_WAIT: Duration = Duration::from_secs(2);

/// A discovery document or JWKS is a few kilobytes; more is not one.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// The parts of the discovery document keyroll reads.
#[derive(serde::Deserialize)]
struct DiscoveryDocument {
    issuer: String,
    jwks_uri: String,
}

#[derive(Default)]
struct Cache {
    keys: Arc<Vec<TrustedKey>>,
    /// When the keys were last fetched (unix seconds).
    fetched_at: Option<i64>,
    /// When a fetch last started, whether it succeeded or not.
    attempted_at: Option<i64>,
}

/// Why the keys are fetched: a token naming a key not in the cache cannot be verified
/// until the fetch succeeds, so its failure is a customer refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause {
    Start,
    UnknownKey,
    Schedule,
}

/// The keys of one issuer, cached and refreshed as the module says.
pub struct ProviderKeys {
    issuer: String,
    policy: DestinationPolicy,
    cache: RwLock<Cache>,
    /// Held while fetching: one fetch at a time, and a token waiting for a fetch in
    /// progress sees its result.
    fetching: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for ProviderKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderKeys")
            .field("issuer", &self.issuer)
            .field("keys", &self.read().keys.len())
            .finish()
    }
}

impl ProviderKeys {
    /// The keys of `issuer`, fetched now (waiting at most [`START_WAIT`]; a slower
    /// fetch goes on, and the first tokens wait for it). A provider that cannot be
    /// reached does not stop keyroll from starting: tokens are refused until a later
    /// fetch succeeds.
    pub async fn discover(issuer: &str, policy: DestinationPolicy, now: Timestamp) -> Arc<Self> {
        let keys = Arc::new(Self {
            issuer: issuer.to_owned(),
            policy,
            cache: RwLock::new(Cache::default()),
            fetching: tokio::sync::Mutex::new(()),
        });
        let first = {
            let keys = Arc::clone(&keys);
            tokio::spawn(async move { keys.refresh(now, Cause::Start).await })
        };
        if tokio::time::timeout(START_WAIT, first).await.is_err() {
            tracing::warn!(event = "identity_keys_not_refreshed", issuer = %issuer, "identity provider keys not fetched yet at start; the fetch goes on");
        }
        keys
    }

    /// How many keys are cached.
    pub fn len(&self) -> usize {
        self.read().keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Cache> {
        self.cache
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Cache> {
        self.cache
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn may_fetch(&self, now: Timestamp) -> bool {
        // A clock stepped back must not stop every fetch until it catches up.
        self.read().attempted_at.is_none_or(|at| {
            let since = now.unix() - at;
            !(0..MIN_FETCH_INTERVAL_SECONDS).contains(&since)
        })
    }

    /// The key a token names (`kid`, or none when the provider has one key), fetching
    /// the keys again when it is unknown, or the keys are an hour old, and a fetch is
    /// allowed. The hourly refresh is awaited by the one token that finds it due, not
    /// left running in the background: a Lambda container is frozen between requests,
    /// and a fetch frozen halfway would hold up the next token naming a new key.
    pub async fn key_for(&self, kid: Option<&str>, now: Timestamp) -> Option<TrustedKey> {
        let (found, stale) = {
            let cache = self.read();
            let stale = cache
                .fetched_at
                .is_none_or(|at| now.unix() - at >= REFRESH_SECONDS);
            (key_for(&cache.keys, kid).is_some(), stale)
        };
        if found {
            if stale && self.may_fetch(now) {
                self.refresh(now, Cause::Schedule).await;
            }
        } else {
            let fetch_in_progress = self.fetching.try_lock().is_err();
            if fetch_in_progress || self.may_fetch(now) {
                self.refresh(now, Cause::UnknownKey).await;
            }
        }
        key_for(&self.read().keys, kid).cloned()
    }

    /// Fetches the keys unless a fetch started less than a minute before `now`.
    async fn refresh(&self, now: Timestamp, cause: Cause) {
        let _turn = self.fetching.lock().await;
        if !self.may_fetch(now) {
            return;
        }
        self.write().attempted_at = Some(now.unix());
        match self.fetch().await {
            Ok(keys) => {
                tracing::info!(
                    event = "identity_keys_fetched",
                    issuer = %self.issuer,
                    keys = keys.len(),
                    cause = ?cause,
                    "identity provider keys fetched"
                );
                let mut cache = self.write();
                cache.keys = Arc::new(keys);
                cache.fetched_at = Some(now.unix());
            }
            // Only a token the cache cannot answer is a customer refused; a start or a
            // scheduled refresh that fails harms nobody yet (customer access off, with
            // its placeholder issuer, fails every start).
            Err(error) if cause == Cause::UnknownKey => {
                tracing::error!(alert = "identity_keys_unavailable", issuer = %self.issuer, cause = ?cause, error = %error, "identity provider keys could not be fetched; tokens naming a key not cached are refused");
            }
            Err(error) => tracing::warn!(
                event = "identity_keys_not_refreshed",
                issuer = %self.issuer,
                error = %error,
                "identity provider keys not refreshed; the cached keys keep serving"
            ),
        }
    }

    /// The discovery document, then the keys at its `jwks_uri`.
    async fn fetch(&self) -> Result<Vec<TrustedKey>, String> {
        let discovery_url = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        );
        let body = get_bounded(
            &self.policy,
            &discovery_url,
            FETCH_TIMEOUT,
            MAX_DOCUMENT_BYTES,
        )
        .await
        .map_err(|e| format!("discovery document {discovery_url}: {e}"))?;
        let document: DiscoveryDocument = serde_json::from_slice(&body)
            .map_err(|e| format!("discovery document {discovery_url}: {e}"))?;
        // OpenID Connect Discovery 1.0 §4.3: the document is for exactly this issuer.
        if document.issuer != self.issuer {
            return Err(format!(
                "discovery document {discovery_url} names issuer {:?}, not {:?}",
                document.issuer, self.issuer
            ));
        }
        let body = get_bounded(
            &self.policy,
            &document.jwks_uri,
            FETCH_TIMEOUT,
            MAX_DOCUMENT_BYTES,
        )
        .await
        .map_err(|e| format!("jwks_uri {}: {e}", document.jwks_uri))?;
        trusted_keys(&body).map_err(|e| format!("jwks_uri {}: {e}", document.jwks_uri))
    }
}
