//! A key's delivery key: the public half of a key pair its client holds, to which
//! keyroll encrypts the key's successor, so that whoever holds only the old secret (a
//! log line, a former contractor) gets ciphertext it cannot open.
//!
//! Only public EC P-256 keys are taken (`{"kty": "EC", "crv": "P-256", "x", "y"}`);
//! anything else — another curve, an RSA key, a point off the curve, a private key (any
//! `d` member) — is refused without being stored or repeated in the answer.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::ids::Actor;
use crate::time::Timestamp;

/// The one field every refusal names.
const FIELD: &str = "jwk";

/// A validated public P-256 JWK, as stored: only the members that define the key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicJwk {
    pub kty: String,
    pub crv: String,
    pub x: String,
    pub y: String,
}

impl std::fmt::Debug for PublicJwk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Public, but long and of no use in a log line: the thumbprint names it.
        write!(f, "PublicJwk({})", self.thumbprint())
    }
}

impl PublicJwk {
    /// Checks a JWK as received. The refusal says what is wrong, never what was sent.
    pub fn parse(value: &Value) -> Result<Self> {
        let Some(members) = value.as_object() else {
            return Err(refused("must be a JSON object (a public JWK)"));
        };
        if members.contains_key("d") {
            return Err(refused(
                "is a private key (it has a `d` member): send only the public half; keep the private key on the client",
            ));
        }
        let text = |name: &str| members.get(name).and_then(Value::as_str);
        match text("kty") {
            Some("EC") => {}
            Some(_) => return Err(refused("must be an EC key (`kty`: `EC`) on P-256")),
            None => return Err(refused("needs `kty`: `EC`")),
        }
        if text("crv") != Some("P-256") {
            return Err(refused("must be on the P-256 curve (`crv`: `P-256`)"));
        }
        let coordinate = |name: &str| -> Result<Vec<u8>> {
            let encoded = text(name).ok_or_else(|| refused("needs `x` and `y`"))?;
            let bytes = URL_SAFE_NO_PAD
                .decode(encoded)
                .map_err(|_| refused("`x` and `y` must be base64url without padding"))?;
            if bytes.len() != 32 {
                return Err(refused("`x` and `y` must each be 32 bytes for P-256"));
            }
            Ok(bytes)
        };
        let (x, y) = (coordinate("x")?, coordinate("y")?);
        let mut point = Vec::with_capacity(65);
        point.push(0x04);
        point.extend_from_slice(&x);
        point.extend_from_slice(&y);
        if p256::PublicKey::from_sec1_bytes(&point).is_err() {
            return Err(refused("is not a point on the P-256 curve"));
        }
        Ok(Self {
            kty: "EC".into(),
            crv: "P-256".into(),
            x: URL_SAFE_NO_PAD.encode(x),
            y: URL_SAFE_NO_PAD.encode(y),
        })
    }

    /// The JWK thumbprint (RFC 7638): SHA-256 of the required members in
    /// lexicographic order with no whitespace, base64url.
    pub fn thumbprint(&self) -> String {
        let canonical = format!(
            r#"{{"crv":"{}","kty":"{}","x":"{}","y":"{}"}}"#,
            self.crv, self.kty, self.x, self.y
        );
        URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
    }

    /// The key itself (checked when parsed; a stored one is checked again).
    pub fn public_key(&self) -> Result<p256::PublicKey> {
        let decode = |text: &str| URL_SAFE_NO_PAD.decode(text).ok();
        let (Some(x), Some(y)) = (decode(&self.x), decode(&self.y)) else {
            return Err(Error::Internal(
                "a stored delivery key is not base64url".into(),
            ));
        };
        let mut point = vec![0x04];
        point.extend_from_slice(&x);
        point.extend_from_slice(&y);
        p256::PublicKey::from_sec1_bytes(&point)
            .map_err(|_| Error::Internal("a stored delivery key is not on P-256".into()))
    }

    /// As JSON, for the answer that shows it.
    pub fn to_json(&self) -> Value {
        serde_json::json!({"kty": self.kty, "crv": self.crv, "x": self.x, "y": self.y})
    }
}

fn refused(why: &str) -> Error {
    Error::invalid(FIELD, why.to_owned())
}

/// A key's registered delivery key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryKey {
    pub jwk: PublicJwk,
    pub thumbprint: String,
    pub registered_at: Timestamp,
    pub registered_by: Actor,
}

impl DeliveryKey {
    pub fn new(jwk: PublicJwk, at: Timestamp, by: Actor) -> Self {
        Self {
            thumbprint: jwk.thumbprint(),
            jwk,
            registered_at: at,
            registered_by: by,
        }
    }
}

/// Who registers a delivery key, and so what they may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    /// The key's own client, with a live secret of it: only while the key has none
    /// (trust on first use); the same key again is a no-op, another one a conflict.
    FirstUse,
    /// An operator or a customer admin: registers or replaces it.
    Replace,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The ephemeral public key of RFC 7518 appendix C (ECDH-ES), a known P-256 point.
    fn alice() -> Value {
        json!({"kty": "EC", "crv": "P-256",
            "x": "gI0GAILBdu7T53akrFmMyGcsF3n5dO7MmwNBHKW5SV0",
            "y": "SLW_xSffzlPWrHEVI30DHM_4egVwt3NQqeUD7nMFpps"})
    }

    #[test]
    fn a_public_p256_key_is_taken_with_its_thumbprint() {
        let jwk = PublicJwk::parse(&alice()).unwrap();
        // RFC 7638's canonical form, hashed independently (Python's hashlib).
        assert_eq!(
            jwk.thumbprint(),
            "_GK0r6GCoJt9zcssg9lay4obIxgCq05ntiRymRHADSU"
        );
        assert!(jwk.public_key().is_ok());
        // Extra members (`use`, `kid`, `alg`) are not part of the key: dropped.
        let mut extra = alice();
        extra["kid"] = json!("mine");
        extra["use"] = json!("enc");
        assert_eq!(PublicJwk::parse(&extra).unwrap(), jwk);
    }

    #[test]
    fn anything_but_a_public_p256_point_is_refused_without_repeating_it() {
        let mut private = alice();
        private["d"] = json!("0_NxaRPUMQoAJt50Gz8YiTr8gRTwyEaCumd-MToTmIo");
        let mut off_curve = alice();
        off_curve["y"] = json!("TLW_xSffzlPWrHEVI30DHM_4egVwt3NQqeUD7nMFpps");
        let mut short = alice();
        short["x"] = json!("gI0GAILBdu7T53akrFmMyGcsF3n5dO7MmwNBHKW5");
        let rsa = json!({"kty": "RSA", "n": "0vx7", "e": "AQAB"});
        let other_curve = json!({"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"});
        for (jwk, says) in [
            (private, "private key"),
            (off_curve, "not a point"),
            (short, "32 bytes"),
            (rsa, "EC key"),
            (other_curve, "P-256"),
            (json!("a string"), "JSON object"),
            (
                json!({"kty": "EC", "crv": "P-256", "x": "!!", "y": "!!"}),
                "base64url",
            ),
        ] {
            let refusal = PublicJwk::parse(&jwk).unwrap_err();
            let text = format!("{refusal} {refusal:?}");
            assert!(text.contains(says), "{jwk}: {text}");
            assert!(
                !text.contains("0_NxaRPU") && !text.contains("gI0GAILB"),
                "{text}"
            );
            assert!(matches!(refusal, Error::Invalid { .. }));
        }
    }
}
