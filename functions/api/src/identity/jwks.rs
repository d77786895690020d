//! The keys a JWKS document gives keyroll to trust: RS256 and ES256 (P-256) signing
//! keys, each with the one algorithm it may verify; every other key is ignored.

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};

/// One key keyroll accepts, with the one algorithm it verifies.
#[derive(Clone)]
pub struct TrustedKey {
    pub kid: Option<String>,
    pub algorithm: Algorithm,
    pub key: DecodingKey,
}

/// The one algorithm `jwk` may verify, if keyroll accepts it at all.
fn algorithm_of(jwk: &Jwk) -> Option<Algorithm> {
    if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
        return None;
    }
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

/// A JWKS document, its keys read one by one: a key of a type this library does not
/// know is skipped rather than failing the others.
#[derive(serde::Deserialize)]
struct Document {
    keys: Vec<serde_json::Value>,
}

/// The trusted keys of `document` (a JWKS JSON document); one with none is an error.
pub fn trusted_keys(document: &[u8]) -> Result<Vec<TrustedKey>, String> {
    let set: Document =
        serde_json::from_slice(document).map_err(|e| format!("not a JWKS document: {e}"))?;
    let keys: Vec<TrustedKey> = set
        .keys
        .into_iter()
        .filter_map(|value| {
            let jwk: Jwk = serde_json::from_value(value).ok()?;
            let algorithm = algorithm_of(&jwk)?;
            let key = DecodingKey::from_jwk(&jwk).ok()?;
            Some(TrustedKey {
                kid: jwk.common.key_id.clone(),
                algorithm,
                key,
            })
        })
        .collect();
    if keys.is_empty() {
        return Err("no RS256 or ES256 (P-256) signing key".into());
    }
    Ok(keys)
}

/// The key a token names among `keys`: by `kid`, or the only key when it names none.
pub fn key_for<'a>(keys: &'a [TrustedKey], kid: Option<&str>) -> Option<&'a TrustedKey> {
    match kid {
        Some(kid) => keys.iter().find(|k| k.kid.as_deref() == Some(kid)),
        None if keys.len() == 1 => keys.first(),
        None => None,
    }
}
