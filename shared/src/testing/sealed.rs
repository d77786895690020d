//! The client's side of a sealed successor, for tests in Rust: a delivery key pair and
//! opening a compact JWE (`ECDH-ES+A256KW` / `A256GCM`) with its private half, by RFC
//! 7518 §4.6 from RustCrypto's parts. (The client libraries open them with joserfc and
//! jose; a sealed secret was also opened by jwcrypto.)

use crate::delivery_key::PublicJwk;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use serde_json::{json, Value};

/// A delivery key pair: the private half stays with the test (the client).
pub struct DeliveryKeyPair {
    secret: p256::SecretKey,
}

impl DeliveryKeyPair {
    /// A fixed pair (`seed` picks it), so a failure can be reproduced.
    pub fn from_seed(seed: u8) -> Self {
        Self {
            secret: p256::SecretKey::from_slice(&[seed; 32]).expect("a valid scalar"),
        }
    }

    /// The public half as a JWK.
    pub fn public_jwk(&self) -> Value {
        let point = self.secret.public_key().to_encoded_point(false);
        json!({"kty": "EC", "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(point.x().expect("x")),
            "y": URL_SAFE_NO_PAD.encode(point.y().expect("y"))})
    }

    pub fn public(&self) -> PublicJwk {
        PublicJwk::parse(&self.public_jwk()).expect("a valid public key")
    }

    /// The plaintext of `jwe`, or `None` when it does not open with this key.
    pub fn open(&self, jwe: &str) -> Option<String> {
        let parts: Vec<&str> = jwe.split('.').collect();
        let [header_b64, wrapped, iv, ciphertext, tag] = parts.as_slice() else {
            return None;
        };
        let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).ok();
        let header: Value = serde_json::from_slice(&decode(header_b64)?).ok()?;
        if header["alg"] != "ECDH-ES+A256KW" || header["enc"] != "A256GCM" {
            return None;
        }
        let mut point = vec![4u8];
        point.extend(decode(header["epk"]["x"].as_str()?)?);
        point.extend(decode(header["epk"]["y"].as_str()?)?);
        let epk = p256::PublicKey::from_sec1_bytes(&point).ok()?;
        let shared = p256::ecdh::diffie_hellman(self.secret.to_nonzero_scalar(), epk.as_affine());
        // The KDF is the sealing side's own, checked against RFC 7518 appendix C.
        let kek =
            crate::delivery_key::concat_kdf_key(shared.raw_secret_bytes(), header["alg"].as_str()?)
                .ok()?;
        let mut cek = [0u8; 32];
        aes_kw::KekAes256::from(kek)
            .unwrap(&decode(wrapped)?, &mut cek)
            .ok()?;
        let mut sealed = decode(ciphertext)?;
        sealed.extend(decode(tag)?);
        let nonce = decode(iv)?;
        if nonce.len() != 12 {
            return None;
        }
        let plaintext = aes_gcm::Aes256Gcm::new(&cek.into())
            .decrypt(
                aes_gcm::Nonce::from_slice(&nonce),
                Payload {
                    msg: &sealed,
                    aad: header_b64.as_bytes(),
                },
            )
            .ok()?;
        String::from_utf8(plaintext).ok()
    }
}
