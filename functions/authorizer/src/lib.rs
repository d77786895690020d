//! The key authorizer: an API Gateway Lambda authorizer that lets a request through
//! when it carries a valid keyroll secret, and tells the backend whose it is.
//!
//! It answers the three request shapes API Gateway sends:
//!
//! - **HTTP API, payload format 2.0** (`"version": "2.0"`, `"type": "REQUEST"`): a
//!   simple response, `{"isAuthorized": …, "context": {…}}`. This is what
//!   `template.yaml` wires (on `GET /v1/self/successor`), and what a company's own
//!   HTTP API attaches.
//! - **REST API, REQUEST type** (`"type": "REQUEST"` with `methodArn`) and **TOKEN
//!   type** (`authorizationToken`): an IAM policy allowing or denying
//!   `execute-api:Invoke` on the method, with the same context.
//!
//! The secret comes from `Authorization: Bearer …` or `x-api-key`. Verification is the
//! core's: format and checksum first (no I/O), then one strongly consistent read by
//! lookup hash, then the stored verifier. Allowed requests carry `keyId`,
//! `organizationId`, `scopes` (space-separated: authorizer context values must be
//! scalars), `rateLimit`, `stage` (`current`, `pending` or `previous`) and, for a
//! secret that is going away, `sunset` (RFC 3339: the earliest instant it may stop
//! working) with `sunsetHttpDate`, the same instant ready to map onto RFC 8594's
//! `Sunset` response header. Missing,
//! malformed, unknown, expired and revoked secrets all get the same denial (403 from
//! API Gateway) with no detail; the reason is logged for operators, the secret never.
//!
//! A positive verification is reused for at most `KEYROLL_VERIFY_CACHE_SECONDS`
//! (default 10) in this container. That is the longest a secret revoked meanwhile can
//! still pass; a secret's expiry is checked on every request, cached or not. If the
//! store cannot be read the invocation fails (API Gateway answers 500): the authorizer
//! fails closed and the outage shows in the function's error metric.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use keyroll_core::callers::{CallerFingerprint, CallerHints};
use keyroll_core::key::{SecretRecord, Validity};
use keyroll_core::secret::LookupHash;
use keyroll_core::service::{Keyroll, Verification};
use keyroll_core::time::Timestamp;
use lambda_runtime::LambdaEvent;
use serde_json::{json, Map, Value};

/// Everything an invocation needs, built once per container.
pub struct Deps {
    pub keyroll: Arc<Keyroll>,
    pub cache: VerifyCache,
}

impl Deps {
    pub fn new(keyroll: Arc<Keyroll>) -> Self {
        let cache = VerifyCache::new(keyroll.config().verify_cache_seconds);
        Self { keyroll, cache }
    }
}

/// Positive verifications of this container, by lookup hash, each reused for at most
/// `ttl_seconds` after it was read from the store.
pub struct VerifyCache {
    ttl_seconds: u64,
    entries: Mutex<HashMap<LookupHash, (SecretRecord, Timestamp)>>,
}

/// Beyond this many cached secrets the cache starts again empty (a flood of distinct
/// valid secrets costs reads, never memory).
const MAX_CACHED: usize = 10_000;

impl VerifyCache {
    pub fn new(ttl_seconds: u64) -> Self {
        Self {
            ttl_seconds,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, hash: &LookupHash, now: Timestamp) -> Option<SecretRecord> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let (record, cached_at) = entries.get(hash)?;
        // Whole seconds: read at `cached_at` or up to a second later, so the entry is
        // reused strictly less than `ttl_seconds` after the read.
        (now.seconds_since(*cached_at) < self.ttl_seconds as i64).then(|| record.clone())
    }

    fn put(&self, record: SecretRecord, now: Timestamp) {
        if self.ttl_seconds == 0 {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_CACHED {
            entries.clear();
        }
        entries.insert(record.lookup_hash, (record, now));
    }
}

/// What the backend learns about an allowed caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub key_id: String,
    pub organization_id: String,
    pub scopes: Vec<String>,
    pub rate_limit: u32,
    pub stage: &'static str,
    /// The earliest instant the presented secret may stop working (RFC 3339), when it
    /// is going away: an old secret in its grace, or a key that expires.
    pub sunset: Option<keyroll_core::time::Timestamp>,
}

impl Grant {
    fn of(record: &SecretRecord) -> Self {
        Self {
            key_id: record.key_id.to_string(),
            organization_id: record.organization_id.to_string(),
            scopes: record.scopes.iter().map(ToString::to_string).collect(),
            rate_limit: record.rate_limit,
            stage: record.stage.as_str(),
            sunset: record.expires_at,
        }
    }

    fn context(&self) -> Value {
        let mut context = json!({
            "keyId": self.key_id,
            "organizationId": self.organization_id,
            "scopes": self.scopes.join(" "),
            "rateLimit": self.rate_limit,
            "stage": self.stage,
        });
        if let Some(sunset) = self.sunset {
            // RFC 3339 for programs; HTTP's date, ready to map onto a `Sunset` header.
            context["sunset"] = json!(sunset.to_rfc3339());
            context["sunsetHttpDate"] = json!(sunset.to_http_date());
        }
        context
    }
}

/// The verdict, with the reason a denial is logged under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow { grant: Grant, cached: bool },
    Deny { reason: &'static str },
}

/// Decides on a presented secret (or its absence).
pub async fn decide(
    deps: &Deps,
    presented: Option<&str>,
    caller: Option<CallerFingerprint>,
) -> Result<Decision, lambda_runtime::Error> {
    let Some(presented) = presented.filter(|p| !p.is_empty()) else {
        return Ok(Decision::Deny { reason: "MISSING" });
    };
    let now = deps.keyroll.now();
    let hash = LookupHash::of(presented);
    if let Some(record) = deps.cache.get(&hash, now) {
        if record.validity(now) == Validity::Valid {
            deps.keyroll.record_use(&hash, caller).await;
            return Ok(Decision::Allow {
                grant: Grant::of(&record),
                cached: true,
            });
        }
    }
    Ok(match deps.keyroll.verify_by(presented, caller).await? {
        Verification::Valid(record) => {
            let grant = Grant::of(&record);
            deps.cache.put(record, now);
            Decision::Allow {
                grant,
                cached: false,
            }
        }
        other => Decision::Deny {
            reason: other.code(),
        },
    })
}

/// The request shapes API Gateway sends an authorizer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizerRequest {
    /// HTTP API, payload format 2.0: answered with a simple response.
    HttpApi { presented: Option<String> },
    /// REST API, REQUEST or TOKEN type: answered with an IAM policy for `method_arn`.
    RestApi {
        presented: Option<String>,
        method_arn: String,
    },
}

/// Why an event is not an authorizer request (a wiring mistake, not a caller's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAnAuthorizerRequest(pub &'static str);

impl std::fmt::Display for NotAnAuthorizerRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not an API Gateway authorizer request: {}", self.0)
    }
}

impl std::error::Error for NotAnAuthorizerRequest {}

/// The header's value, whatever its case (REST APIs pass headers as sent).
fn header<'a>(event: &'a Value, name: &str) -> Option<&'a str> {
    event
        .get("headers")?
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))?
        .1
        .as_str()
}

/// Who is calling, as the event tells: the source address and the User-Agent from the
/// request context (payload 2.0: `requestContext.http`; REST: `requestContext.identity`)
/// or the headers, `Keyroll-Client` and the app version header. `None` when the event
/// tells nothing (a TOKEN authorizer sees only the token).
pub fn caller_of(event: &Value, app_version_header: &str) -> Option<CallerFingerprint> {
    let context = event.get("requestContext");
    let from_context = |field: &str| {
        context
            .and_then(|c| c.get("http").or_else(|| c.get("identity")))
            .and_then(|c| c.get(field))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let hints = CallerHints {
        ip: from_context("sourceIp"),
        user_agent: from_context("userAgent")
            .or_else(|| header(event, "user-agent").map(str::to_owned)),
        client: header(event, "keyroll-client").map(str::to_owned),
        app_version: header(event, app_version_header).map(str::to_owned),
    };
    let caller = CallerFingerprint::of(&hints);
    (caller != CallerFingerprint::default()).then_some(caller)
}

fn presented_in_headers(event: &Value) -> Option<String> {
    keyroll_core::secret::presented_secret(
        header(event, "authorization"),
        header(event, "x-api-key"),
    )
    .map(str::to_owned)
}

impl AuthorizerRequest {
    pub fn parse(event: &Value) -> Result<Self, NotAnAuthorizerRequest> {
        let kind = event.get("type").and_then(Value::as_str);
        let method_arn = event.get("methodArn").and_then(Value::as_str);
        match (
            event.get("version").and_then(Value::as_str),
            kind,
            method_arn,
        ) {
            (Some("2.0"), Some("REQUEST"), _) => Ok(AuthorizerRequest::HttpApi {
                presented: presented_in_headers(event),
            }),
            (_, Some("REQUEST"), Some(arn)) => Ok(AuthorizerRequest::RestApi {
                presented: presented_in_headers(event),
                method_arn: arn.to_owned(),
            }),
            (_, Some("TOKEN"), Some(arn)) => Ok(AuthorizerRequest::RestApi {
                presented: keyroll_core::secret::presented_secret(
                    event.get("authorizationToken").and_then(Value::as_str),
                    None,
                )
                .map(str::to_owned),
                method_arn: arn.to_owned(),
            }),
            (Some(_), _, _) => Err(NotAnAuthorizerRequest(
                "only payload format 2.0 is supported for HTTP APIs",
            )),
            _ => Err(NotAnAuthorizerRequest(
                "no REQUEST/TOKEN type with a methodArn",
            )),
        }
    }

    fn presented(&self) -> Option<&str> {
        match self {
            AuthorizerRequest::HttpApi { presented }
            | AuthorizerRequest::RestApi { presented, .. } => presented.as_deref(),
        }
    }

    /// The response API Gateway expects for this request shape.
    pub fn respond(&self, decision: &Decision) -> Value {
        match (self, decision) {
            (AuthorizerRequest::HttpApi { .. }, Decision::Allow { grant, .. }) => {
                json!({"isAuthorized": true, "context": grant.context()})
            }
            (AuthorizerRequest::HttpApi { .. }, Decision::Deny { .. }) => {
                json!({"isAuthorized": false})
            }
            (AuthorizerRequest::RestApi { method_arn, .. }, decision) => {
                let (principal, effect, context) = match decision {
                    Decision::Allow { grant, .. } => {
                        (grant.key_id.as_str(), "Allow", grant.context())
                    }
                    Decision::Deny { .. } => ("anonymous", "Deny", Value::Object(Map::new())),
                };
                json!({
                    "principalId": principal,
                    "policyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [{
                            "Action": "execute-api:Invoke",
                            "Effect": effect,
                            "Resource": api_wide(method_arn),
                        }],
                    },
                    "context": context,
                })
            }
        }
    }
}

/// `arn:…:api-id/stage/METHOD/path` → `arn:…:api-id/stage/*/*`: a key's grants do not
/// depend on the method, and if the REST API caches authorizer results (turn that off,
/// or its TTL adds to KEYROLL_VERIFY_CACHE_SECONDS) a cached Allow must cover every
/// method, not only the first one called.
fn api_wide(method_arn: &str) -> String {
    let mut parts = method_arn.splitn(3, '/');
    match (parts.next(), parts.next()) {
        (Some(api), Some(stage)) => format!("{api}/{stage}/*/*"),
        _ => method_arn.to_owned(),
    }
}

pub async fn handle(
    deps: &Deps,
    event: LambdaEvent<Value>,
) -> Result<Value, lambda_runtime::Error> {
    let request = AuthorizerRequest::parse(&event.payload)?;
    let caller = caller_of(&event.payload, &deps.keyroll.config().app_version_header);
    let decision = decide(deps, request.presented(), caller).await?;
    match &decision {
        Decision::Allow { grant, cached } => tracing::info!(
            event = "authorization",
            allowed = true,
            key_id = %grant.key_id,
            stage = grant.stage,
            cached,
            "allowed"
        ),
        Decision::Deny { reason } => {
            tracing::info!(event = "authorization", allowed = false, reason, "denied")
        }
    }
    Ok(request.respond(&decision))
}
