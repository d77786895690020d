//! Secret material: generation, the wire format, and the two hashes keyroll keeps.
//!
//! A generated secret is `<prefix><body><checksum>`:
//! - `prefix` identifies the issuer and environment (default `sk_live_`), so secret
//!   scanners can recognise it;
//! - `body` is 256 bits from the OS CSPRNG in base62, always 43 characters;
//! - `checksum` is the CRC32 of prefix and body in base62, always 6 characters, as in
//!   GitHub's token format: a mistyped or truncated key is rejected without touching
//!   the database.
//!
//! keyroll stores two things derived from a secret, never the secret itself:
//! - the **lookup hash**, SHA-256 of the whole secret in hex (as the old system did),
//!   which finds the secret's record with one read;
//! - the **verifier**, scrypt in a PHC string that carries its own salt and parameters,
//!   checked after the lookup. See [`VerifierParams`] for why the parameters are low.
//!
//! Keys imported from the old system are `<prefix><64 hex chars>` with no checksum and
//! only a lookup hash; they still verify (by constant-time comparison of the hash).

use std::fmt;

use scrypt::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::random;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// 62^43 > 2^256, so 43 base62 digits hold any 256-bit body.
pub const BODY_LEN: usize = 43;
/// 62^6 > 2^32, so 6 base62 digits hold any CRC32.
pub const CHECKSUM_LEN: usize = 6;
/// How many characters of the body (or legacy hex) the display prefix shows.
pub const DISPLAY_CHARS: usize = 8;
const LEGACY_HEX_LEN: usize = 64;
/// Anything longer is rejected before any other work.
pub const MAX_PRESENTED_LEN: usize = 256;

/// Big-endian bytes to a fixed number of base62 digits (leading zeros kept).
fn base62_fixed(bytes: &[u8], width: usize) -> String {
    let mut number = bytes.to_vec();
    let mut digits = vec![b'0'; width];
    for digit in digits.iter_mut().rev() {
        let mut remainder = 0u32;
        for byte in number.iter_mut() {
            let accumulator = (remainder << 8) | u32::from(*byte);
            *byte = (accumulator / 62) as u8;
            remainder = accumulator % 62;
        }
        *digit = BASE62[remainder as usize];
    }
    number.iter_mut().for_each(|b| *b = 0);
    String::from_utf8(digits).unwrap_or_default()
}

fn checksum(prefix_and_body: &str) -> String {
    let crc = crc32fast::hash(prefix_and_body.as_bytes());
    base62_fixed(&crc.to_be_bytes(), CHECKSUM_LEN)
}

/// A raw secret. It can be handed to the caller who asked for it and nowhere else:
/// no `Display`, no `Serialize`, a redacting `Debug`, and zeroed on drop.
pub struct RawSecret(Zeroizing<String>);

impl RawSecret {
    /// The secret's text, for the one response that returns it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn from_string(text: String) -> Self {
        Self(Zeroizing::new(text))
    }
}

impl fmt::Debug for RawSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RawSecret([REDACTED])")
    }
}

/// SHA-256 of a whole secret: the key of its lookup record.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LookupHash([u8; 32]);

impl LookupHash {
    pub fn of(secret: &str) -> Self {
        Self(Sha256::digest(secret.as_bytes()).into())
    }

    pub fn parse_hex(text: &str) -> Result<Self> {
        let mut bytes = [0u8; 32];
        if !crate::rules::LOOKUP_HASH.accepts(text) {
            return Err(Error::invalid("lookupHash", "must be 64 hex characters"));
        }
        hex::decode_to_slice(text, &mut bytes)
            .map_err(|_| Error::invalid("lookupHash", "must be 64 hex characters"))?;
        Ok(Self(bytes))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Constant-time equality.
    pub fn ct_eq(&self, other: &LookupHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for LookupHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LookupHash({}…)", &self.to_hex()[..8])
    }
}

impl Serialize for LookupHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for LookupHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        LookupHash::parse_hex(&text).map_err(serde::de::Error::custom)
    }
}

/// scrypt parameters for verifiers.
///
/// A keyroll secret has 256 bits of entropy, so no work factor is what protects it: a
/// stolen verifier cannot be brute-forced at any cost. The verifier is a second,
/// salted check after the lookup by hash, and its PHC string records its parameters so
/// they can be raised later without invalidating existing secrets. The cost is paid on
/// every uncached verification, so it is kept low: log2 N = 10, r = 8, p = 1 is about
/// 2 ms on one core (see docs/performance.md). Passwords would need far more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifierParams {
    pub log_n: u8,
    pub r: u32,
    pub p: u32,
}

impl VerifierParams {
    pub const DEFAULT: VerifierParams = VerifierParams {
        log_n: 10,
        r: 8,
        p: 1,
    };
    const OUTPUT_LEN: usize = 32;

    /// The most a stored verifier may ask for. keyroll writes [`VerifierParams::DEFAULT`];
    /// a verifier asking more was not written by keyroll, and running it would let one
    /// forged record spend the verifying function's memory and time (scrypt needs
    /// 128·r·2^ln bytes: 16 MiB here, against 1 MiB for the default).
    pub const MAX: VerifierParams = VerifierParams {
        log_n: 14,
        r: 8,
        p: 1,
    };

    fn within(self, max: VerifierParams) -> bool {
        (1..=max.log_n).contains(&self.log_n)
            && (1..=max.r).contains(&self.r)
            && (1..=max.p).contains(&self.p)
    }
}

/// What checking a candidate against a stored verifier found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifierCheck {
    Matches,
    DoesNotMatch,
    /// Not a verifier keyroll writes: unreadable, another algorithm, a salt or output
    /// of another length, or parameters past [`VerifierParams::MAX`]. Not run.
    NotKeyrolls,
}

/// A scrypt verifier as a PHC string (`$scrypt$ln=10,r=8,p=1$<salt>$<hash>`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Verifier(String);

impl Verifier {
    /// Derives a verifier with a fresh 128-bit salt. CPU-bound (milliseconds): call it
    /// from a blocking thread in async code.
    pub fn derive(secret: &RawSecret, params: VerifierParams) -> Result<Self> {
        let salt_bytes: [u8; 16] = random::bytes();
        let salt = SaltString::encode_b64(&salt_bytes)
            .map_err(|e| Error::Internal(format!("salt encoding: {e}")))?;
        let params =
            scrypt::Params::new(params.log_n, params.r, params.p, VerifierParams::OUTPUT_LEN)
                .map_err(|e| Error::Internal(format!("scrypt parameters: {e}")))?;
        let hash = scrypt::Scrypt
            .hash_password_customized(secret.expose().as_bytes(), None, None, params, &salt)
            .map_err(|e| Error::Internal(format!("scrypt: {e}")))?;
        Ok(Self(hash.to_string()))
    }

    /// Checks a candidate secret in constant time (the PHC output comparison is
    /// constant-time). A stored verifier keyroll would not write never matches.
    pub fn matches(&self, candidate: &str) -> bool {
        self.check(candidate) == VerifierCheck::Matches
    }

    /// [`Verifier::matches`], telling a mismatch from a verifier keyroll would not
    /// write, whose parameters are checked before any scrypt work is done.
    pub fn check(&self, candidate: &str) -> VerifierCheck {
        let Ok(hash) = PasswordHash::new(&self.0) else {
            return VerifierCheck::NotKeyrolls;
        };
        if !self.is_keyrolls(&hash) {
            return VerifierCheck::NotKeyrolls;
        }
        match scrypt::Scrypt.verify_password(candidate.as_bytes(), &hash) {
            Ok(()) => VerifierCheck::Matches,
            Err(_) => VerifierCheck::DoesNotMatch,
        }
    }

    fn is_keyrolls(&self, hash: &PasswordHash<'_>) -> bool {
        if hash.algorithm.as_str() != "scrypt" {
            return false;
        }
        let number = |name: &str| hash.params.get_decimal(name);
        let (Some(log_n), Some(r), Some(p)) = (number("ln"), number("r"), number("p")) else {
            return false;
        };
        let Ok(log_n) = u8::try_from(log_n) else {
            return false;
        };
        let output_fits = hash
            .hash
            .is_some_and(|output| output.len() == VerifierParams::OUTPUT_LEN);
        let salt_fits = hash.salt.is_some_and(|salt| salt.len() <= 64);
        output_fits && salt_fits && VerifierParams { log_n, r, p }.within(VerifierParams::MAX)
    }

    pub fn as_phc(&self) -> &str {
        &self.0
    }

    pub fn from_phc(text: String) -> Result<Self> {
        PasswordHash::new(&text).map_err(|_| Error::invalid("verifier", "not a PHC string"))?;
        Ok(Self(text))
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Verifier([REDACTED])")
    }
}

/// How a presented secret looks, decided without any I/O.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretShape {
    /// keyroll's format with a valid checksum.
    Generated,
    /// The old system's `<prefix><64 hex>`; no checksum to check.
    Legacy,
}

/// Why a presented secret was rejected before any lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    TooLong,
    UnknownPrefix,
    BadLength,
    BadCharacter,
    BadChecksum,
}

/// A freshly generated secret with what keyroll keeps of it.
#[derive(Debug)]
pub struct MintedSecret {
    pub secret: RawSecret,
    pub display_prefix: String,
    pub lookup_hash: LookupHash,
}

/// The secret format in force: the issuing prefix and the old system's prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretFormat {
    prefix: String,
    legacy_prefix: String,
}

impl SecretFormat {
    pub const DEFAULT_PREFIX: &'static str = "sk_live_";

    /// `prefix` and `legacy_prefix`: 1-20 characters of a-z, 0-9 and '_'.
    pub fn new(prefix: &str, legacy_prefix: &str) -> Result<Self> {
        for (field, value) in [
            ("KEYROLL_KEY_PREFIX", prefix),
            ("KEYROLL_LEGACY_KEY_PREFIX", legacy_prefix),
        ] {
            let ok = (1..=20).contains(&value.len())
                && value
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !ok {
                return Err(Error::Config(format!(
                    "{field} must be 1-20 characters of a-z, 0-9 and '_' (got {value:?})"
                )));
            }
        }
        Ok(Self {
            prefix: prefix.to_owned(),
            legacy_prefix: legacy_prefix.to_owned(),
        })
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The old system's prefix (`KEYROLL_LEGACY_KEY_PREFIX`).
    pub fn legacy_prefix(&self) -> &str {
        &self.legacy_prefix
    }

    /// Mints a new secret from 256 bits of OS randomness.
    pub fn generate(&self) -> MintedSecret {
        let body_bytes = Zeroizing::new(random::bytes::<32>());
        let body = Zeroizing::new(base62_fixed(body_bytes.as_ref(), BODY_LEN));
        let mut text = String::with_capacity(self.prefix.len() + BODY_LEN + CHECKSUM_LEN);
        text.push_str(&self.prefix);
        text.push_str(&body);
        let check = checksum(&text);
        text.push_str(&check);
        let secret = RawSecret::from_string(text);
        MintedSecret {
            display_prefix: display_prefix(&self.prefix, secret.expose()),
            lookup_hash: LookupHash::of(secret.expose()),
            secret,
        }
    }

    /// Decides whether `presented` can be a secret at all: prefix, length, alphabet and
    /// checksum, with no I/O. Only what passes is worth a database lookup.
    pub fn classify(&self, presented: &str) -> std::result::Result<SecretShape, Malformed> {
        if presented.len() > MAX_PRESENTED_LEN {
            return Err(Malformed::TooLong);
        }
        if let Some(rest) = presented.strip_prefix(self.prefix.as_str()) {
            if rest.len() == BODY_LEN + CHECKSUM_LEN {
                if !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return Err(Malformed::BadCharacter);
                }
                let split = presented.len() - CHECKSUM_LEN;
                let expected = checksum(&presented[..split]);
                let given = &presented[split..];
                return if bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
                    Ok(SecretShape::Generated)
                } else {
                    Err(Malformed::BadChecksum)
                };
            }
        }
        if let Some(rest) = presented.strip_prefix(self.legacy_prefix.as_str()) {
            if rest.len() == LEGACY_HEX_LEN {
                return if rest.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                    Ok(SecretShape::Legacy)
                } else {
                    Err(Malformed::BadCharacter)
                };
            }
        }
        if presented.starts_with(self.prefix.as_str())
            || presented.starts_with(self.legacy_prefix.as_str())
        {
            Err(Malformed::BadLength)
        } else {
            Err(Malformed::UnknownPrefix)
        }
    }

    /// The display prefix of an imported legacy secret, from its visible part.
    pub fn legacy_display_prefix(&self, legacy_visible: &str) -> String {
        format!("{}{}", self.legacy_prefix, legacy_visible)
    }
}

/// The part of a secret that may be shown anywhere: its prefix and first characters.
/// 8 base62 characters reveal 48 of the body's 256 bits, leaving 208 unknown.
fn display_prefix(prefix: &str, secret: &str) -> String {
    let end = (prefix.len() + DISPLAY_CHARS).min(secret.len());
    secret[..end].to_owned()
}

/// The secret a client presented: the `Authorization` header's `Bearer <secret>` (or a
/// bare value, as some clients send it), else the `x-api-key` header. Another scheme
/// (`Basic …`) is not a keyroll secret and falls through to `x-api-key`.
pub fn presented_secret<'a>(
    authorization: Option<&'a str>,
    api_key: Option<&'a str>,
) -> Option<&'a str> {
    let from_authorization =
        authorization
            .map(str::trim)
            .and_then(|value| match value.split_once(' ') {
                Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
                    Some(token.trim())
                }
                Some(_) => None,
                None if value.eq_ignore_ascii_case("bearer") => None,
                None => Some(value),
            });
    from_authorization
        .filter(|s| !s.is_empty())
        .or_else(|| api_key.map(str::trim).filter(|s| !s.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presented_secret_reads_bearer_bare_or_x_api_key() {
        assert_eq!(
            presented_secret(Some("Bearer sk_a"), Some("sk_b")),
            Some("sk_a")
        );
        assert_eq!(presented_secret(Some("bearer  sk_a "), None), Some("sk_a"));
        assert_eq!(presented_secret(Some("sk_a"), Some("sk_b")), Some("sk_a"));
        assert_eq!(
            presented_secret(Some("Basic abc"), Some("sk_b")),
            Some("sk_b")
        );
        assert_eq!(presented_secret(Some(""), Some(" sk_b ")), Some("sk_b"));
        assert_eq!(presented_secret(Some("Bearer "), None), None);
        assert_eq!(presented_secret(None, None), None);
    }

    fn format() -> SecretFormat {
        SecretFormat::new("sk_live_", "sk_live_").unwrap()
    }

    #[test]
    fn generated_secret_has_the_documented_shape() {
        let minted = format().generate();
        let text = minted.secret.expose();
        assert_eq!(text.len(), 8 + BODY_LEN + CHECKSUM_LEN);
        assert!(text.starts_with("sk_live_"));
        assert_eq!(minted.display_prefix, &text[..16]);
        assert_eq!(minted.lookup_hash, LookupHash::of(text));
        assert_eq!(format().classify(text), Ok(SecretShape::Generated));
    }

    /// A stored verifier asking for more work than keyroll ever writes (a forged record
    /// with ln=30 would ask 128 GiB of the authorizer) is refused before scrypt runs.
    #[test]
    fn a_verifier_past_the_caps_is_never_run() {
        let minted = format().generate();
        let secret = minted.secret.expose();
        let stored = Verifier::derive(&minted.secret, VerifierParams::DEFAULT).unwrap();
        assert_eq!(stored.check(secret), VerifierCheck::Matches);
        let at_max = Verifier::derive(&minted.secret, VerifierParams::MAX).unwrap();
        assert_eq!(at_max.check(secret), VerifierCheck::Matches);
        for (from, to) in [("ln=10", "ln=30"), ("r=8", "r=4096"), ("p=1", "p=64")] {
            let forged = Verifier(stored.as_phc().replacen(from, to, 1));
            assert_ne!(forged.as_phc(), stored.as_phc());
            assert_eq!(forged.check(secret), VerifierCheck::NotKeyrolls, "{to}");
        }
        let other = Verifier(stored.as_phc().replacen("$scrypt$", "$pbkdf2-sha256$", 1));
        assert_eq!(other.check(secret), VerifierCheck::NotKeyrolls);
        assert_eq!(
            Verifier("garbage".into()).check(secret),
            VerifierCheck::NotKeyrolls
        );
    }

    #[test]
    fn secrets_are_distinct() {
        let a = format().generate();
        let b = format().generate();
        assert_ne!(a.secret.expose(), b.secret.expose());
    }

    #[test]
    fn checksum_rejects_every_one_character_change() {
        let minted = format().generate();
        let text = minted.secret.expose().to_owned();
        for position in 8..text.len() {
            for replacement in ['0', 'Z', 'z'] {
                let mut chars: Vec<char> = text.chars().collect();
                if chars[position] == replacement {
                    continue;
                }
                chars[position] = replacement;
                let mutated: String = chars.into_iter().collect();
                assert_eq!(
                    format().classify(&mutated),
                    Err(Malformed::BadChecksum),
                    "change at {position} to {replacement} passed"
                );
            }
        }
    }

    #[test]
    fn malformed_inputs_are_named() {
        let f = format();
        assert_eq!(f.classify(""), Err(Malformed::UnknownPrefix));
        assert_eq!(f.classify("pk_live_abc"), Err(Malformed::UnknownPrefix));
        assert_eq!(f.classify("sk_live_abc"), Err(Malformed::BadLength));
        assert_eq!(f.classify(&"x".repeat(300)), Err(Malformed::TooLong));
        let good = f.generate().secret.expose().to_owned();
        let with_symbol = format!("{}-{}", &good[..20], &good[21..]);
        assert_eq!(f.classify(&with_symbol), Err(Malformed::BadCharacter));
        let multibyte = format!("{}é{}", &good[..20], &good[22..]);
        assert!(f.classify(&multibyte).is_err());
    }

    #[test]
    fn legacy_keys_are_recognised_without_a_checksum() {
        let legacy = format!("sk_live_{}", "ab12".repeat(16));
        assert_eq!(format().classify(&legacy), Ok(SecretShape::Legacy));
        let upper = format!("sk_live_{}", "AB12".repeat(16));
        assert_eq!(format().classify(&upper), Err(Malformed::BadCharacter));
    }

    #[test]
    fn verifier_round_trips_through_its_phc_string() {
        let minted = format().generate();
        let verifier = Verifier::derive(&minted.secret, VerifierParams::DEFAULT).unwrap();
        assert!(verifier.as_phc().starts_with("$scrypt$ln=10,r=8,p=1$"));
        let stored = Verifier::from_phc(verifier.as_phc().to_owned()).unwrap();
        assert!(stored.matches(minted.secret.expose()));
        assert!(!stored.matches(format().generate().secret.expose()));
        let again = Verifier::derive(&minted.secret, VerifierParams::DEFAULT).unwrap();
        assert_ne!(
            again.as_phc(),
            verifier.as_phc(),
            "each verifier has its own salt"
        );
        assert!(!Verifier("garbage".into()).matches(minted.secret.expose()));
    }

    #[test]
    fn debug_output_never_shows_secret_material() {
        let minted = format().generate();
        let verifier = Verifier::derive(&minted.secret, VerifierParams::DEFAULT).unwrap();
        let body = &minted.secret.expose()[16..];
        for printed in [
            format!("{minted:?}"),
            format!("{:?}", minted.secret),
            format!("{verifier:?}"),
        ] {
            assert!(!printed.contains(body), "{printed}");
            assert!(!printed.contains(verifier.as_phc()), "{printed}");
        }
    }

    #[test]
    fn prefixes_are_validated() {
        assert!(SecretFormat::new("sk_test_", "sk_live_").is_ok());
        assert!(SecretFormat::new("", "sk_live_").is_err());
        assert!(SecretFormat::new("SK-LIVE", "sk_live_").is_err());
    }
}
