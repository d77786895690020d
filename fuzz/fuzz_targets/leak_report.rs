//! The leak-report payload and its signature check: any key id, signature and body
//! are refused or accepted without panicking, and a bad signature never verifies.
#![no_main]

use std::sync::OnceLock;

use keyroll_core::leak::{parse_report, GitHubKeys};
use libfuzzer_sys::fuzz_target;

/// GitHub's keys as configured: the public half of a fixed test key pair, so
/// verification runs the whole ECDSA path on fuzzed signatures.
fn keys() -> &'static GitHubKeys {
    static KEYS: OnceLock<GitHubKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        use p256::pkcs8::{EncodePublicKey, LineEnding};
        let signing = p256::ecdsa::SigningKey::from_bytes(&[42u8; 32].into()).expect("key");
        let pem = signing
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("pem");
        let published =
            serde_json::json!({"public_keys": [{"key_identifier": "fuzz-key", "key": pem}]});
        GitHubKeys::parse(&published.to_string()).expect("the fuzz key parses")
    })
}

fuzz_target!(|data: &[u8]| {
    // Split: key id | signature | body, at the first two NUL bytes.
    let mut parts = data.splitn(3, |b| *b == 0);
    let key_id = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let signature = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let body = parts.next().unwrap_or_default();
    assert!(
        !keys().verify(&key_id, &signature, body),
        "a fuzzed signature verified"
    );
    let _ = parse_report(data);
    let _ = GitHubKeys::parse(&String::from_utf8_lossy(data));
});
