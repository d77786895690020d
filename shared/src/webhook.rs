//! Webhook signatures, per the Standard Webhooks specification: each request carries
//! `webhook-id` (the notification's `eventId`), `webhook-timestamp` (Unix seconds) and
//! `webhook-signature`, one `v1,<base64 HMAC-SHA256>` of `"{id}.{timestamp}.{body}"`
//! per live signing secret, space-separated (two during a secret's rotation). A signing
//! secret is `whsec_` + base64 of 32 random bytes; the HMAC key is those bytes.

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::secret::RawSecret;

pub const SECRET_PREFIX: &str = "whsec_";
/// Random bytes in a signing secret (the specification asks for 24 to 64).
pub const SECRET_BYTES: usize = 32;

/// A webhook signing key. Never printed.
#[derive(Clone)]
pub struct SigningSecret(Zeroizing<Vec<u8>>);

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret([REDACTED])")
    }
}

impl SigningSecret {
    /// A fresh secret from the OS CSPRNG, with its `whsec_…` text (shown once).
    pub fn generate() -> (Self, RawSecret) {
        let bytes: [u8; SECRET_BYTES] = crate::random::bytes();
        let text = format!("{SECRET_PREFIX}{}", BASE64.encode(bytes));
        (
            Self(Zeroizing::new(bytes.to_vec())),
            RawSecret::from_string(text),
        )
    }

    /// Reads a `whsec_…` secret (as stored in the vault).
    pub fn parse(text: &str) -> Result<Self> {
        let invalid = || Error::invalid("secret", "must be whsec_ and base64 of 24-64 bytes");
        let encoded = text.strip_prefix(SECRET_PREFIX).ok_or_else(invalid)?;
        let bytes = Zeroizing::new(BASE64.decode(encoded).map_err(|_| invalid())?);
        if !(24..=64).contains(&bytes.len()) {
            return Err(invalid());
        }
        Ok(Self(bytes))
    }

    /// `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
    }
}

/// The `webhook-signature` header: one signature per live secret, space-separated.
pub fn signature_header(
    secrets: &[SigningSecret],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    secrets
        .iter()
        .map(|secret| secret.sign(id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The specification's published test vector.
    #[test]
    fn the_standard_webhooks_test_vector_verifies() {
        let secret = SigningSecret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        let signature = secret.sign(
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            1649367553,
            br#"{"email":"test@example.com","username":"test_user"}"#,
        );
        assert_eq!(signature, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
    }

    #[test]
    fn generated_secrets_parse_and_two_live_secrets_both_sign() {
        let (a, text) = SigningSecret::generate();
        assert!(text.expose().starts_with("whsec_"));
        let again = SigningSecret::parse(text.expose()).unwrap();
        assert_eq!(a.sign("msg", 1, b"{}"), again.sign("msg", 1, b"{}"));
        let (b, _) = SigningSecret::generate();
        let header = signature_header(&[a.clone(), b.clone()], "msg", 1, b"{}");
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts, [a.sign("msg", 1, b"{}"), b.sign("msg", 1, b"{}")]);
        assert!(!format!("{a:?}").contains(&text.expose()[6..]));
        assert!(SigningSecret::parse("whsec_short").is_err());
        assert!(SigningSecret::parse("sk_live_x").is_err());
    }
}
