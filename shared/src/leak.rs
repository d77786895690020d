//! GitHub secret-scanning partner reports: who may send them and what they say.
//!
//! GitHub POSTs a JSON array of `{token, type, url, source}` and signs the raw body
//! with ECDSA P-256 / SHA-256; the signature (base64 DER) and the id of the signing
//! key arrive in the `Github-Public-Key-Signature` and `Github-Public-Key-Identifier`
//! headers. The public keys come from configuration (`KEYROLL_GITHUB_PUBLIC_KEYS`, the
//! JSON GitHub publishes at `/meta/public_keys/secret_scanning`), never from the
//! network at run time, so a report can only be as trusted as the operator's copy.
//!
//! The signature is checked over the exact bytes received, before anything is parsed.

use base64::Engine;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{DerSignature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use serde::Deserialize;

use crate::error::{Error, Result};

/// At most this many tokens per report.
pub const MAX_TOKENS_PER_REPORT: usize = 1000;

/// The configured GitHub public keys, by identifier.
#[derive(Clone)]
pub struct GitHubKeys(Vec<(String, VerifyingKey)>);

impl std::fmt::Debug for GitHubKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(id, _)| id))
            .finish()
    }
}

#[derive(Deserialize)]
struct PublishedKey {
    key_identifier: String,
    key: String,
    /// GitHub marks the keys it has retired `false`; a key without the flag is taken
    /// as current (an operator's hand-made list).
    #[serde(default = "current")]
    is_current: bool,
}

fn current() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Published {
    Document { public_keys: Vec<PublishedKey> },
    List(Vec<PublishedKey>),
}

impl GitHubKeys {
    /// Parses GitHub's published document (`{"public_keys": [...]}`) or its array.
    /// Empty text means no keys: every report is refused.
    pub fn parse(json: &str) -> Result<Self> {
        if json.trim().is_empty() {
            return Ok(Self::none());
        }
        let published: Published = serde_json::from_str(json).map_err(|e| {
            Error::Config(format!(
                "KEYROLL_GITHUB_PUBLIC_KEYS is not GitHub's key JSON: {e}"
            ))
        })?;
        let keys = match published {
            Published::Document { public_keys } => public_keys,
            Published::List(keys) => keys,
        };
        let mut parsed = Vec::with_capacity(keys.len());
        // A retired key no longer signs GitHub's reports: whoever holds it now must
        // not be able to revoke keys with it.
        for key in keys.into_iter().filter(|k| k.is_current) {
            let verifying = VerifyingKey::from_public_key_pem(&key.key).map_err(|e| {
                Error::Config(format!(
                    "KEYROLL_GITHUB_PUBLIC_KEYS: key {} is not a P-256 public key in PEM: {e}",
                    key.key_identifier
                ))
            })?;
            parsed.push((key.key_identifier, verifying));
        }
        Ok(Self(parsed))
    }

    /// No keys: every report is refused.
    pub fn none() -> Self {
        Self(Vec::new())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `signature` (base64 of a DER ECDSA signature) over `body` was made by
    /// the key named `key_id`. Unknown ids, bad encodings and bad signatures are all
    /// simply `false`.
    pub fn verify(&self, key_id: &str, signature: &str, body: &[u8]) -> bool {
        let Some((_, key)) = self.0.iter().find(|(id, _)| id == key_id) else {
            return false;
        };
        let Ok(der) = base64::engine::general_purpose::STANDARD.decode(signature.trim()) else {
            return false;
        };
        let Ok(signature) = DerSignature::try_from(der.as_slice()) else {
            return false;
        };
        key.verify(body, &signature).is_ok()
    }
}

/// One reported token. `token` is a candidate secret: never logged, never echoed.
#[derive(Deserialize)]
pub struct ReportedToken {
    pub token: String,
    #[serde(rename = "type")]
    pub token_type: String,
    #[serde(default)]
    pub url: String,
    /// Where GitHub found it (`content`, `commit`, …), lower-cased; GitHub's documented
    /// reports may leave it out.
    #[serde(default, deserialize_with = "lower_case")]
    pub source: String,
}

fn lower_case<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<String, D::Error> {
    let text: Option<String> = Option::deserialize(deserializer)?;
    Ok(text.unwrap_or_default().to_ascii_lowercase())
}

impl std::fmt::Debug for ReportedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReportedToken")
            .field("token", &"[REDACTED]")
            .field("token_type", &self.token_type)
            .field("url", &self.url)
            .field("source", &self.source)
            .finish()
    }
}

/// Parses a (signature-checked) report body.
pub fn parse_report(body: &[u8]) -> Result<Vec<ReportedToken>> {
    let tokens: Vec<ReportedToken> = serde_json::from_slice(body).map_err(|_| {
        Error::invalid(
            "body",
            "must be a JSON array of {\"token\", \"type\", \"url\", \"source\"}",
        )
    })?;
    if tokens.len() > MAX_TOKENS_PER_REPORT {
        return Err(Error::invalid(
            "body",
            format!("at most {MAX_TOKENS_PER_REPORT} tokens per report"),
        ));
    }
    Ok(tokens)
}

/// Text from the report for a reason or a log line: printable ASCII only, bounded.
pub fn sanitized(text: &str, max: usize) -> String {
    text.chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(max)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Signer;
    use p256::ecdsa::SigningKey;
    use p256::pkcs8::{EncodePublicKey, LineEnding};

    fn pair(seed: u8) -> (SigningKey, String) {
        let signing = SigningKey::from_bytes(&[seed; 32].into()).unwrap();
        let pem = signing
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        (signing, pem)
    }

    fn sign(key: &SigningKey, body: &[u8]) -> String {
        let signature: DerSignature = key.sign(body);
        base64::engine::general_purpose::STANDARD.encode(signature.as_bytes())
    }

    /// GitHub's own published sample: the request its docs show (body, key identifier,
    /// signature) and the public key it publishes under that identifier. keyroll's
    /// verifier accepts it, and a byte more or less is refused.
    #[test]
    fn githubs_published_sample_report_verifies_and_parses() {
        const KEY_ID: &str = "bcb53661c06b4728e59d897fb6165d5c9cda0fd9cdf9d09ead458168deb7518c";
        const SIGNATURE: &str = "MEQCIQDaMKqrGnE27S0kgMrEK0eYBmyG0LeZismAEz/BgZyt7AIfXt9fErtRS4XaeSt/AO1RtBY66YcAdjxji410VQV4xg==";
        const BODY: &[u8] = br#"[{"source":"commit","token":"some_token","type":"some_type","url":"https://example.com/base-repo-url/"}]"#;
        let published = serde_json::json!({"public_keys": [{
            "key_identifier": KEY_ID,
            "key": "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEYAGMWO8XgCamYKMJS6jc/qgvSlAd\nAjPuDPRcXU22YxgBrz+zoN19MzuRyW87qEt9/AmtoNP5GrobzUvQSyJFVw==\n-----END PUBLIC KEY-----\n",
            "is_current": true
        }]});
        let keys = GitHubKeys::parse(&published.to_string()).unwrap();
        assert_eq!(BODY.len(), 104, "the Content-Length GitHub's sample shows");
        assert!(keys.verify(KEY_ID, SIGNATURE, BODY));
        assert!(!keys.verify(KEY_ID, SIGNATURE, &BODY[..103]));
        let tokens = parse_report(BODY).unwrap();
        assert_eq!(tokens.len(), 1);
        assert_eq!(
            (tokens[0].token_type.as_str(), tokens[0].source.as_str()),
            ("some_type", "commit")
        );
    }

    /// The shapes GitHub documents: `source` may be absent (or in any case), `url`
    /// may be empty.
    #[test]
    fn reports_without_a_source_or_url_are_accepted() {
        let tokens = parse_report(
            br#"[{"token":"a","type":"t"},{"token":"b","type":"t","url":"","source":"COMMIT"},{"token":"c","type":"t","source":null}]"#,
        )
        .unwrap();
        let sources: Vec<&str> = tokens.iter().map(|t| t.source.as_str()).collect();
        assert_eq!(sources, ["", "commit", ""]);
        assert_eq!(tokens[1].url, "");
    }

    #[test]
    fn only_the_named_configured_key_over_the_exact_body_verifies() {
        let (github, pem) = pair(7);
        let (other, _) = pair(9);
        let keys = GitHubKeys::parse(
            &serde_json::json!({"public_keys": [{"key_identifier": "kid-1", "key": pem, "is_current": true}]})
                .to_string(),
        )
        .unwrap();
        let body = br#"[{"token":"sk_live_x","type":"keyroll_api_key","url":"https://github.com/a/b","source":"content"}]"#;
        let good = sign(&github, body);
        assert!(keys.verify("kid-1", &good, body));
        assert!(!keys.verify("kid-2", &good, body), "unknown key id");
        assert!(
            !keys.verify("kid-1", &sign(&other, body), body),
            "another signer"
        );
        let mut tampered = body.to_vec();
        tampered[12] ^= 1;
        assert!(!keys.verify("kid-1", &good, &tampered), "tampered body");
        assert!(!keys.verify("kid-1", "not base64!", body));
        assert!(!keys.verify("kid-1", "AAAA", body), "not DER");
    }

    /// GitHub marks the keys it retired `is_current: false`: a report they signed is
    /// refused, while the current key's reports verify.
    #[test]
    fn keys_github_retired_no_longer_verify_reports() {
        let (retired, retired_pem) = pair(7);
        let (current, current_pem) = pair(9);
        let keys = GitHubKeys::parse(
            &serde_json::json!({"public_keys": [
                {"key_identifier": "old", "key": retired_pem, "is_current": false},
                {"key_identifier": "new", "key": current_pem, "is_current": true},
            ]})
            .to_string(),
        )
        .unwrap();
        let body =
            br#"[{"token":"sk_live_x","type":"keyroll_api_key","url":"","source":"content"}]"#;
        assert!(!keys.verify("old", &sign(&retired, body), body));
        assert!(keys.verify("new", &sign(&current, body), body));
        assert_eq!(format!("{keys:?}"), r#"["new"]"#);
    }

    #[test]
    fn configuration_is_checked_and_empty_means_no_keys() {
        assert!(GitHubKeys::parse("").unwrap().is_empty());
        assert!(GitHubKeys::parse("{").is_err());
        assert!(GitHubKeys::parse(r#"[{"key_identifier":"k","key":"nope"}]"#).is_err());
        let (_, pem) = pair(3);
        let list = serde_json::json!([{"key_identifier": "k", "key": pem}]).to_string();
        assert!(!GitHubKeys::parse(&list).unwrap().is_empty());
    }

    #[test]
    fn reports_parse_strictly_and_never_show_the_token() {
        let tokens =
            parse_report(br#"[{"token":"sk_live_secret","type":"t","url":"u","source":"s"}]"#)
                .unwrap();
        assert_eq!(tokens.len(), 1);
        assert!(!format!("{tokens:?}").contains("sk_live_secret"));
        assert!(parse_report(b"{}").is_err());
        assert!(
            parse_report(br#"[{"type":"t"}]"#).is_err(),
            "token is required"
        );
        let many = format!("[{}]", vec![r#"{"token":"a","type":"t"}"#; 1001].join(","));
        assert!(parse_report(many.as_bytes()).is_err());
        assert_eq!(sanitized("https://x/\n\u{202e}evil", 100), "https://x/evil");
    }
}
