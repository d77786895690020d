//! Customer tokens verified against keys found from the issuer alone (OpenID Connect
//! Discovery), served by a provider on loopback over real HTTP that counts its
//! requests: the provider rotates its key and keyroll follows without a restart; a
//! flood of made-up key ids costs at most one fetch a minute; an unreachable provider
//! leaves the cached keys serving. Time is keyroll's (a manual clock).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use axum::extract::State;
use axum::routing::get;
use axum::Json;
use keyroll_api::identity::dev::DevSigningKey;
use keyroll_api::identity::discovery::{MIN_FETCH_INTERVAL_SECONDS, REFRESH_SECONDS};
use keyroll_api::identity::{ClaimNames, IdentitySettings, Refusal, TokenVerifier};
use keyroll_core::contact::DestinationPolicy;
use keyroll_core::time::Clock;

use crate::support::*;

const AUDIENCE: &str = "keyroll-discovery-test";

/// An identity provider on loopback: its discovery document, its JWKS (the keys it
/// publishes, replaceable), and how often each was fetched.
struct Provider {
    issuer: String,
    /// The issuer the discovery document names (the provider's own, unless a test
    /// makes it lie).
    named_issuer: Mutex<String>,
    published: Mutex<Vec<Value>>,
    up: AtomicBool,
    /// How long the discovery document takes to answer, in milliseconds.
    delay_ms: std::sync::atomic::AtomicU64,
    discovery_fetches: AtomicUsize,
    jwks_fetches: AtomicUsize,
}

impl Provider {
    async fn start() -> Arc<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let provider = Arc::new(Self {
            named_issuer: Mutex::new(issuer.clone()),
            issuer,
            published: Mutex::new(Vec::new()),
            up: AtomicBool::new(true),
            delay_ms: std::sync::atomic::AtomicU64::new(0),
            discovery_fetches: AtomicUsize::new(0),
            jwks_fetches: AtomicUsize::new(0),
        });
        let router = axum::Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .with_state(provider.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        provider
    }

    fn publish(&self, keys: &[&DevSigningKey]) {
        *self.published.lock().unwrap() = keys
            .iter()
            .map(|key| {
                let set: Value = serde_json::from_str(&key.jwks()).unwrap();
                set["keys"][0].clone()
            })
            .collect();
    }

    fn jwks_fetches(&self) -> usize {
        self.jwks_fetches.load(Ordering::SeqCst)
    }

    fn settings(&self) -> IdentitySettings {
        IdentitySettings {
            issuer: self.issuer.clone(),
            audience: AUDIENCE.into(),
            jwks: None,
            claims: ClaimNames::default(),
        }
    }

    async fn verifier(&self, now: Timestamp) -> TokenVerifier {
        self.settings()
            .verifier(loopback(), now)
            .await
            .expect("a verifier")
    }

    fn token(&self, key: &DevSigningKey, now: Timestamp) -> String {
        key.sign(&json!({
            "iss": self.issuer, "aud": AUDIENCE, "sub": "alice", "org_id": "org_acme",
            "keyroll_role": "admin", "iat": now.unix(), "exp": now.unix() + 3600,
        }))
        .unwrap()
    }
}

type Answer = Result<Json<Value>, StatusCode>;

async fn discovery(State(provider): State<Arc<Provider>>) -> Answer {
    provider.discovery_fetches.fetch_add(1, Ordering::SeqCst);
    let delay = provider.delay_ms.load(Ordering::SeqCst);
    tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
    if !provider.up.load(Ordering::SeqCst) {
        return Err(StatusCode::SERVICE_UNAVAILABLE);
    }
    Ok(Json(json!({
        "issuer": *provider.named_issuer.lock().unwrap(),
        "jwks_uri": format!("{}/jwks", provider.issuer),
    })))
}

async fn jwks(State(provider): State<Arc<Provider>>) -> Answer {
    provider.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    if !provider.up.load(Ordering::SeqCst) {
        return Err(StatusCode::SERVICE_UNAVAILABLE);
    }
    Ok(Json(json!({ "keys": *provider.published.lock().unwrap() })))
}

fn loopback() -> DestinationPolicy {
    DestinationPolicy {
        allow_loopback: true,
    }
}

/// A token naming a key id nobody published (its signature is never reached).
fn made_up_kid_token(n: usize) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let header =
        URL_SAFE_NO_PAD.encode(json!({"alg": "ES256", "kid": format!("made-up-{n}")}).to_string());
    format!("{header}.e30.c2ln")
}

#[tokio::test]
async fn the_issuer_alone_finds_the_keys_and_a_rotation_is_followed_without_a_restart() {
    let provider = Provider::start().await;
    let (old, new) = (
        DevSigningKey::generate().unwrap(),
        DevSigningKey::generate().unwrap(),
    );
    provider.publish(&[&old]);
    let start = epoch();
    let verifier = provider.verifier(start).await;
    assert_eq!(provider.jwks_fetches(), 1, "fetched once, at start");
    let user = verifier
        .verify(&provider.token(&old, start), start)
        .await
        .expect("a token signed by the published key");
    assert_eq!(user.actor.as_str(), "customer:org_acme/alice");

    // The provider rotates: the new key first, the old one kept.
    provider.publish(&[&new, &old]);
    let later = start.plus_seconds(MIN_FETCH_INTERVAL_SECONDS as u64);
    verifier
        .verify(&provider.token(&new, later), later)
        .await
        .expect("the new key is fetched when a token names it");
    assert_eq!(provider.jwks_fetches(), 2);
    verifier
        .verify(&provider.token(&old, later), later)
        .await
        .expect("the old key still verifies while published");

    // A flood of made-up key ids within the minute costs the provider nothing more,
    // and after it at most one fetch a minute.
    for n in 0..200 {
        assert_eq!(
            verifier
                .verify(&made_up_kid_token(n), later.plus_seconds(30))
                .await,
            Err(Refusal::UnknownKey)
        );
    }
    assert_eq!(provider.jwks_fetches(), 2, "no fetch within the minute");
    let next_minute = later.plus_seconds(MIN_FETCH_INTERVAL_SECONDS as u64);
    for n in 0..200 {
        assert_eq!(
            verifier.verify(&made_up_kid_token(n), next_minute).await,
            Err(Refusal::UnknownKey)
        );
    }
    assert_eq!(
        provider.jwks_fetches(),
        3,
        "one fetch for the next minute's flood"
    );

    // The old key is withdrawn: the first token after the hour brings the hourly
    // refresh, and from then on the old key verifies no more.
    provider.publish(&[&new]);
    let next_hour = next_minute.plus_seconds(REFRESH_SECONDS as u64);
    assert_eq!(
        verifier
            .verify(&provider.token(&old, next_hour), next_hour)
            .await,
        Err(Refusal::UnknownKey)
    );
    assert_eq!(provider.jwks_fetches(), 4, "the hourly refresh");
    verifier
        .verify(&provider.token(&new, next_hour), next_hour)
        .await
        .expect("the new key");
}

#[tokio::test]
async fn an_unreachable_provider_leaves_the_cached_keys_serving() {
    let provider = Provider::start().await;
    let key = DevSigningKey::generate().unwrap();
    provider.publish(&[&key]);
    let start = epoch();
    let verifier = provider.verifier(start).await;
    provider.up.store(false, Ordering::SeqCst);
    let next_day = start.plus_seconds(24 * 3600);
    for _ in 0..3 {
        verifier
            .verify(&provider.token(&key, next_day), next_day)
            .await
            .expect("the cached key answers while the provider is down");
    }
    assert_eq!(
        provider.discovery_fetches.load(Ordering::SeqCst),
        2,
        "one refresh tried, not one per token"
    );
    verifier
        .verify(&provider.token(&key, next_day), next_day)
        .await
        .expect("still served after the refresh failed");
}

#[tokio::test]
async fn keyroll_starts_while_the_provider_is_down_and_trusts_it_once_it_answers() {
    let provider = Provider::start().await;
    let key = DevSigningKey::generate().unwrap();
    provider.publish(&[&key]);
    provider.up.store(false, Ordering::SeqCst);
    let start = epoch();
    let verifier = provider.verifier(start).await;
    assert_eq!(
        verifier.verify(&provider.token(&key, start), start).await,
        Err(Refusal::UnknownKey)
    );
    provider.up.store(true, Ordering::SeqCst);
    let later = start.plus_seconds(MIN_FETCH_INTERVAL_SECONDS as u64);
    verifier
        .verify(&provider.token(&key, later), later)
        .await
        .expect("trusted once the provider answers");
}

#[tokio::test]
async fn a_slow_provider_at_start_is_waited_for_by_the_first_tokens_not_skipped() {
    let provider = Provider::start().await;
    let key = DevSigningKey::generate().unwrap();
    provider.publish(&[&key]);
    // Slower than keyroll waits at start (2 s), within a fetch's own timeout (4 s).
    provider.delay_ms.store(2_500, Ordering::SeqCst);
    let start = epoch();
    let verifier = provider.verifier(start).await;
    assert_eq!(
        provider.jwks_fetches(),
        0,
        "not fetched yet when start gives up"
    );
    verifier
        .verify(&provider.token(&key, start), start)
        .await
        .expect("the first token waits for the fetch that is still going on");
    assert_eq!(provider.jwks_fetches(), 1, "one fetch in all");
}

#[tokio::test]
async fn keys_are_refused_from_a_document_for_another_issuer_or_an_address_not_allowed() {
    let provider = Provider::start().await;
    let key = DevSigningKey::generate().unwrap();
    provider.publish(&[&key]);
    *provider.named_issuer.lock().unwrap() = "https://evil.example".into();
    let start = epoch();
    let verifier = provider.verifier(start).await;
    assert_eq!(
        provider.jwks_fetches(),
        0,
        "the keys of another issuer are not read"
    );
    assert_eq!(
        verifier.verify(&provider.token(&key, start), start).await,
        Err(Refusal::UnknownKey)
    );

    // Without the loopback setting, the webhooks' rules refuse http and loopback.
    let strict = Provider::start().await;
    strict.publish(&[&key]);
    let verifier = strict
        .settings()
        .verifier(
            DestinationPolicy {
                allow_loopback: false,
            },
            start,
        )
        .await
        .unwrap();
    assert_eq!(
        strict.discovery_fetches.load(Ordering::SeqCst),
        0,
        "nothing was sent"
    );
    assert_eq!(
        verifier.verify(&strict.token(&key, start), start).await,
        Err(Refusal::UnknownKey)
    );
}

#[tokio::test]
async fn customer_routes_trust_a_discovered_provider_and_refuse_other_issuers_and_audiences() {
    let provider = Provider::start().await;
    let key = DevSigningKey::generate().unwrap();
    provider.publish(&[&key]);
    let app = spawn_app_on(
        TestKeyroll::new(),
        Some(keyroll_api::customer::CustomerAccess::verified_here(
            provider.verifier(epoch()).await,
        )),
    );
    let now = app.clock.now();
    let token = provider.token(&key, now);
    assert_eq!(
        app.as_customer(&token, "GET", "/v1/org/keys", None)
            .await
            .status,
        StatusCode::OK
    );
    for (claim, value) in [("iss", "https://other.example"), ("aud", "another-app")] {
        let mut claims = json!({
            "iss": provider.issuer, "aud": AUDIENCE, "sub": "alice", "org_id": "org_acme",
            "keyroll_role": "admin", "iat": now.unix(), "exp": now.unix() + 3600,
        });
        claims[claim] = json!(value);
        let token = key.sign(&claims).unwrap();
        let reply = app.as_customer(&token, "GET", "/v1/org/keys", None).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{claim} = {value}");
    }
}
