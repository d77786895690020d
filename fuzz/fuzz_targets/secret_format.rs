//! Secret format and checksum, the lookup hash and the credential headers: any string
//! a client presents is classified without panicking, and whatever classifies as a
//! keyroll secret has the documented shape.
#![no_main]

use keyroll_core::secret::{presented_secret, LookupHash, SecretFormat};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let format = SecretFormat::new("sk_live_", "sk_live_").expect("the default prefixes are valid");
    if format.classify(text).is_ok() {
        assert!(
            text.starts_with("sk_live_"),
            "only prefixed secrets classify"
        );
        assert!(text.is_ascii(), "secrets are ASCII");
    }
    let _ = LookupHash::of(text);
    // Split into the two headers at a character boundary near the middle.
    let middle = text
        .char_indices()
        .map(|(i, _)| i)
        .find(|i| *i >= text.len() / 2)
        .unwrap_or(text.len());
    let (authorization, api_key) = text.split_at(middle);
    if let Some(presented) = presented_secret(Some(authorization), Some(api_key)) {
        assert!(!presented.is_empty());
        assert!(authorization.contains(presented) || api_key.contains(presented));
    }
});
