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
use crate::secret::RawSecret;
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

impl DeliveryKey {
    /// `secret` as a compact JWE (RFC 7516) only the holder of this key's private half
    /// can open: `alg` `ECDH-ES+A256KW`, `enc` `A256GCM`, `kid` the thumbprint. Built
    /// from RustCrypto's parts by RFC 7518 §4.6: an ephemeral P-256 key agreed with this
    /// one, the Concat KDF (SHA-256; `AlgorithmID` the `alg`, empty `apu`/`apv`, 256
    /// bits) giving the key-wrapping key, a fresh content key wrapped with AES key wrap
    /// (RFC 3394), and AES-256-GCM over the plaintext with the encoded header as AAD.
    pub fn seal(&self, secret: &RawSecret) -> Result<String> {
        use aes_gcm::aead::{AeadInPlace, KeyInit};
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        let recipient = self.jwk.public_key()?;
        let ephemeral = p256::ecdh::EphemeralSecret::random(&mut aes_gcm::aead::OsRng);
        let epk = ephemeral.public_key().to_encoded_point(false);
        let shared = ephemeral.diffie_hellman(&recipient);
        let wrapping = zeroize::Zeroizing::new(concat_kdf_key(shared.raw_secret_bytes(), JWE_ALG)?);
        let content_key = zeroize::Zeroizing::new(crate::random::bytes::<32>());
        let mut wrapped = [0u8; 40];
        aes_kw::KekAes256::from(*wrapping)
            .wrap(content_key.as_slice(), &mut wrapped)
            .map_err(|_| Error::Internal("AES key wrap of the content key failed".into()))?;
        let (Some(epk_x), Some(epk_y)) = (epk.x(), epk.y()) else {
            return Err(Error::Internal(
                "an ephemeral key without coordinates".into(),
            ));
        };
        let header = serde_json::json!({
            "alg": JWE_ALG,
            "enc": JWE_ENC,
            "kid": self.thumbprint,
            "epk": {"kty": "EC", "crv": "P-256", "x": URL_SAFE_NO_PAD.encode(epk_x), "y": URL_SAFE_NO_PAD.encode(epk_y)},
        });
        let header = URL_SAFE_NO_PAD.encode(header.to_string());
        let iv: [u8; 12] = crate::random::bytes();
        let mut ciphertext = zeroize::Zeroizing::new(secret.expose().as_bytes().to_vec());
        let tag = aes_gcm::Aes256Gcm::new(content_key.as_slice().into())
            .encrypt_in_place_detached(&iv.into(), header.as_bytes(), &mut ciphertext)
            .map_err(|_| Error::Internal("AES-GCM encryption failed".into()))?;
        Ok([
            header,
            URL_SAFE_NO_PAD.encode(wrapped),
            URL_SAFE_NO_PAD.encode(iv),
            URL_SAFE_NO_PAD.encode(ciphertext.as_slice()),
            URL_SAFE_NO_PAD.encode(tag),
        ]
        .join("."))
    }
}

/// The JWE profile of a sealed successor.
pub const JWE_ALG: &str = "ECDH-ES+A256KW";
pub const JWE_ENC: &str = "A256GCM";

/// RFC 7518 §4.6.2's Concat KDF for a 256-bit key: `OtherInfo` is the length-prefixed
/// `AlgorithmID`, empty `PartyUInfo` and `PartyVInfo`, and the key length in bits.
pub(crate) fn concat_kdf_key(shared: &[u8], algorithm: &str) -> Result<[u8; 32]> {
    concat_kdf_bits(shared, algorithm, b"", b"")
}

fn concat_kdf_bits<const N: usize>(
    shared: &[u8],
    algorithm: &str,
    party_u: &[u8],
    party_v: &[u8],
) -> Result<[u8; N]> {
    let mut other = Vec::new();
    for part in [algorithm.as_bytes(), party_u, party_v] {
        other.extend_from_slice(&(part.len() as u32).to_be_bytes());
        other.extend_from_slice(part);
    }
    other.extend_from_slice(&((N * 8) as u32).to_be_bytes());
    let mut key = [0u8; N];
    concat_kdf::derive_key_into::<Sha256>(shared, &other, &mut key)
        .map_err(|_| Error::Internal("the Concat KDF refused its input".into()))?;
    Ok(key)
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

    /// RFC 7518 appendix C: Alice's ephemeral key agreed with Bob's, `A128GCM`,
    /// apu "Alice", apv "Bob", gives this 128-bit key.
    #[test]
    fn the_concat_kdf_gives_rfc_7518_appendix_cs_key() {
        let b64 = |s: &str| URL_SAFE_NO_PAD.decode(s).unwrap();
        let alice =
            p256::SecretKey::from_slice(&b64("0_NxaRPUMQoAJt50Gz8YiTr8gRTwyEaCumd-MToTmIo"))
                .unwrap();
        let mut bob_point = vec![4];
        bob_point.extend(b64("weNJy2HscCSM6AEDTDg04biOvhFhyyWvOHQfeF_PxMQ"));
        bob_point.extend(b64("e8lnCO-AlStT-NJVX-crhB7QRYhiix03illJOVAOyck"));
        let bob = p256::PublicKey::from_sec1_bytes(&bob_point).unwrap();
        let shared = p256::ecdh::diffie_hellman(alice.to_nonzero_scalar(), bob.as_affine());
        let key: [u8; 16] =
            concat_kdf_bits(shared.raw_secret_bytes(), "A128GCM", b"Alice", b"Bob").unwrap();
        assert_eq!(URL_SAFE_NO_PAD.encode(key), "VqqN6vgjbSBcIijNcacQGg");
    }

    #[test]
    fn a_sealed_secret_is_a_compact_jwe_for_the_delivery_key() {
        let jwk = PublicJwk::parse(&alice()).unwrap();
        let key = DeliveryKey::new(
            jwk,
            Timestamp::parse("2026-12-03T00:00:00Z").unwrap(),
            Actor::system("test"),
        );
        let secret = RawSecret::from_string("sk_live_sealed_for_the_test_only".into());
        let jwe = key.seal(&secret).unwrap();
        let parts: Vec<&str> = jwe.split('.').collect();
        assert_eq!(parts.len(), 5);
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "ECDH-ES+A256KW");
        assert_eq!(header["enc"], "A256GCM");
        assert_eq!(header["kid"], key.thumbprint.as_str());
        assert!(header["epk"]["d"].is_null());
        assert_eq!(
            URL_SAFE_NO_PAD.decode(parts[1]).unwrap().len(),
            40,
            "a wrapped 256-bit key"
        );
        assert!(!jwe.contains("sk_live"), "the secret is not in clear");
        assert_ne!(
            jwe,
            key.seal(&secret).unwrap(),
            "fresh keys and IV every time"
        );
    }
}
