//! Checking a customer's token. Only RS256 and ES256 signatures by a key of the
//! configured or discovered JWKS count: the algorithm comes from the key, never from
//! the token, so `alg: none`, HS256 signed with the public key and any unknown `kid`
//! are all refused.
//! The claims are then checked against keyroll's clock (`exp`, `nbf` with
//! [`LEEWAY_SECONDS`]) and the settings (`iss`, `aud`). Every refusal looks the same to
//! the caller; only the log says which check failed.

use std::sync::Arc;

use jsonwebtoken::Validation;
use keyroll_core::time::Timestamp;
use serde_json::{Map, Value};

use super::discovery::ProviderKeys;
use super::jwks::{key_for, trusted_keys, TrustedKey};
use super::{ClaimNames, CustomerUser, IdentitySettings};

/// How far `exp` and `nbf` may be off keyroll's clock.
pub const LEEWAY_SECONDS: u64 = 60;

/// The longest token read; a real ID or access token is far shorter.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Why a token was refused: for the log, never for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Malformed,
    UnknownKey,
    WrongAlgorithm,
    BadSignature,
    Expired,
    NotYetValid,
    WrongIssuer,
    WrongAudience,
    NoUser,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Malformed => "malformed",
            Refusal::UnknownKey => "unknown_key",
            Refusal::WrongAlgorithm => "wrong_algorithm",
            Refusal::BadSignature => "bad_signature",
            Refusal::Expired => "expired",
            Refusal::NotYetValid => "not_yet_valid",
            Refusal::WrongIssuer => "wrong_issuer",
            Refusal::WrongAudience => "wrong_audience",
            Refusal::NoUser => "no_user",
        }
    }
}

/// Where a verifier's keys come from.
enum Keys {
    /// A JWKS document given inline (`KEYROLL_JWKS`, or the development key).
    Fixed(Vec<TrustedKey>),
    /// The issuer's keys, found by discovery and kept fresh.
    Discovered(Arc<ProviderKeys>),
}

/// Verifies customer tokens against the configured keys and settings.
pub struct TokenVerifier {
    issuer: String,
    audience: String,
    claims: ClaimNames,
    keys: Keys,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys = match &self.keys {
            Keys::Fixed(keys) => format!("{} inline", keys.len()),
            Keys::Discovered(keys) => format!("{} discovered", keys.len()),
        };
        f.debug_struct("TokenVerifier")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("keys", &keys)
            .finish()
    }
}

impl TokenVerifier {
    /// A verifier trusting the RS256 and ES256 keys of `jwks` (a JWKS JSON document);
    /// other keys in it are ignored, and a document with none is an error.
    pub fn new(settings: &IdentitySettings, jwks: &str) -> Result<Self, String> {
        let keys = trusted_keys(jwks.as_bytes()).map_err(|e| format!("KEYROLL_JWKS: {e}"))?;
        Ok(Self::with_keys(settings, Keys::Fixed(keys)))
    }

    /// A verifier trusting the keys discovery finds for the settings' issuer.
    pub fn discovered(settings: &IdentitySettings, keys: Arc<ProviderKeys>) -> Self {
        Self::with_keys(settings, Keys::Discovered(keys))
    }

    fn with_keys(settings: &IdentitySettings, keys: Keys) -> Self {
        Self {
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            claims: settings.claims.clone(),
            keys,
        }
    }

    /// The key a token names: by `kid`, or the only key when the token names none.
    async fn key_for(&self, kid: Option<&str>, now: Timestamp) -> Option<TrustedKey> {
        match &self.keys {
            Keys::Fixed(keys) => key_for(keys, kid).cloned(),
            Keys::Discovered(keys) => keys.key_for(kid, now).await,
        }
    }

    /// The user `token` names, if it is valid at `now`.
    pub async fn verify(&self, token: &str, now: Timestamp) -> Result<CustomerUser, Refusal> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(Refusal::Malformed);
        }
        // The header is read only to find the key; the key decides the algorithm.
        let header = jsonwebtoken::decode_header(token).map_err(|_| Refusal::Malformed)?;
        let trusted = self
            .key_for(header.kid.as_deref(), now)
            .await
            .ok_or(Refusal::UnknownKey)?;
        if header.alg != trusted.algorithm {
            return Err(Refusal::WrongAlgorithm);
        }
        // The library checks the signature; the claims are checked below, against
        // keyroll's clock rather than the system's.
        let mut validation = Validation::new(trusted.algorithm);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &trusted.key, &validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => Refusal::BadSignature,
                jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => Refusal::WrongAlgorithm,
                _ => Refusal::Malformed,
            })?;
        self.check_claims(&data.claims, now)
    }

    fn check_claims(
        &self,
        claims: &Map<String, Value>,
        now: Timestamp,
    ) -> Result<CustomerUser, Refusal> {
        let now = now.unix();
        let seconds = |name: &str| claims.get(name).and_then(Value::as_f64);
        // `exp` is required: a token that never expires is not accepted.
        let expires = seconds("exp").ok_or(Refusal::Expired)?;
        if expires + LEEWAY_SECONDS as f64 <= now as f64 {
            return Err(Refusal::Expired);
        }
        if let Some(not_before) = seconds("nbf") {
            if not_before > (now + LEEWAY_SECONDS as i64) as f64 {
                return Err(Refusal::NotYetValid);
            }
        }
        if claims.get("iss").and_then(Value::as_str) != Some(self.issuer.as_str()) {
            return Err(Refusal::WrongIssuer);
        }
        // As API Gateway's JWT authorizer does: `aud`, or an access token's
        // `client_id` when it has no `aud` (Cognito).
        let audience_matches = match claims.get("aud") {
            Some(Value::String(aud)) => aud == &self.audience,
            Some(Value::Array(list)) => list
                .iter()
                .any(|a| a.as_str() == Some(self.audience.as_str())),
            None => claims.get("client_id").and_then(Value::as_str) == Some(self.audience.as_str()),
            _ => false,
        };
        if !audience_matches {
            return Err(Refusal::WrongAudience);
        }
        self.claims
            .user(|name| claims.get(name).and_then(Value::as_str))
            .ok_or(Refusal::NoUser)
    }
}
