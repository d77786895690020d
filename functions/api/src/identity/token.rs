//! Checking a customer's token. Only RS256 and ES256 signatures by a key of the
//! configured JWKS count: the algorithm comes from the key, never from the token, so
//! `alg: none`, HS256 signed with the public key and any unknown `kid` are all refused.
//! The claims are then checked against keyroll's clock (`exp`, `nbf` with
//! [`LEEWAY_SECONDS`]) and the settings (`iss`, `aud`). Every refusal looks the same to
//! the caller; only the log says which check failed.

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use keyroll_core::time::Timestamp;
use serde_json::{Map, Value};

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

/// One key of the JWKS keyroll accepts, with the one algorithm it verifies.
struct TrustedKey {
    kid: Option<String>,
    algorithm: Algorithm,
    key: DecodingKey,
}

/// Verifies customer tokens against the configured keys and settings.
pub struct TokenVerifier {
    issuer: String,
    audience: String,
    claims: ClaimNames,
    keys: Vec<TrustedKey>,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("keys", &self.keys.len())
            .finish()
    }
}

/// The one algorithm `jwk` may verify, if keyroll accepts it at all.
fn algorithm_of(jwk: &jsonwebtoken::jwk::Jwk) -> Option<Algorithm> {
    let by_type = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            Algorithm::ES256
        }
        _ => return None,
    };
    match jwk.common.key_algorithm {
        None => Some(by_type),
        Some(KeyAlgorithm::RS256) if by_type == Algorithm::RS256 => Some(by_type),
        Some(KeyAlgorithm::ES256) if by_type == Algorithm::ES256 => Some(by_type),
        Some(_) => None,
    }
}

impl TokenVerifier {
    /// A verifier trusting the RS256 and ES256 keys of `jwks` (a JWKS JSON document);
    /// other keys in it are ignored, and a document with none is an error.
    pub fn new(settings: &IdentitySettings, jwks: &str) -> Result<Self, String> {
        let set: JwkSet = serde_json::from_str(jwks)
            .map_err(|e| format!("KEYROLL_JWKS is not a JWKS document: {e}"))?;
        let keys: Vec<TrustedKey> = set
            .keys
            .iter()
            .filter_map(|jwk| {
                let algorithm = algorithm_of(jwk)?;
                let key = DecodingKey::from_jwk(jwk).ok()?;
                Some(TrustedKey {
                    kid: jwk.common.key_id.clone(),
                    algorithm,
                    key,
                })
            })
            .collect();
        if keys.is_empty() {
            return Err("KEYROLL_JWKS has no RS256 or ES256 (P-256) key".into());
        }
        Ok(Self {
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            claims: settings.claims.clone(),
            keys,
        })
    }

    /// The key a token names: by `kid`, or the only key when the token names none.
    fn key_for(&self, kid: Option<&str>) -> Option<&TrustedKey> {
        match kid {
            Some(kid) => self.keys.iter().find(|k| k.kid.as_deref() == Some(kid)),
            None if self.keys.len() == 1 => self.keys.first(),
            None => None,
        }
    }

    /// The user `token` names, if it is valid at `now`.
    pub fn verify(&self, token: &str, now: Timestamp) -> Result<CustomerUser, Refusal> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(Refusal::Malformed);
        }
        // The header is read only to find the key; the key decides the algorithm.
        let header = jsonwebtoken::decode_header(token).map_err(|_| Refusal::Malformed)?;
        let trusted = self
            .key_for(header.kid.as_deref())
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
