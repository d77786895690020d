//! keyroll-local's development identity provider: an ES256 key it generates once,
//! keeps in a file only its user can read, trusts when no `KEYROLL_JWT_ISSUER` is set,
//! and signs tokens with (`keyroll-local token --org …`). Tests use it too. Never used in
//! Lambda, where tokens come from the company's identity provider.

use std::path::Path;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use keyroll_core::time::Timestamp;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::Role;

/// The issuer and audience of development tokens, when none are configured.
pub const DEV_ISSUER: &str = "keyroll-local";
pub const DEV_AUDIENCE: &str = "keyroll-local";

/// How long a development token lasts.
pub const DEV_TOKEN_SECONDS: u64 = 12 * 3600;

/// A P-256 signing key with its key id.
pub struct DevSigningKey {
    pair: EcdsaKeyPair,
    pkcs8: Zeroizing<Vec<u8>>,
    kid: String,
}

impl std::fmt::Debug for DevSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DevSigningKey({}, [REDACTED])", self.kid)
    }
}

impl DevSigningKey {
    /// A new key from the OS CSPRNG.
    pub fn generate() -> Result<Self, String> {
        let document =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .map_err(|_| "could not generate a P-256 key".to_owned())?;
        Self::from_pkcs8(document.as_ref())
    }

    fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, String> {
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
            .map_err(|_| "the development key is not a P-256 PKCS#8 key".to_owned())?;
        let digest = Sha256::digest(pair.public_key().as_ref());
        let kid = format!("keyroll-dev-{}", hex::encode(&digest[..8]));
        Ok(Self {
            pair,
            pkcs8: Zeroizing::new(pkcs8.to_vec()),
            kid,
        })
    }

    /// The key kept at `path` (base64 PKCS#8), created there (mode 0600) if absent, so
    /// `keyroll-local` and `keyroll-local token` share it.
    pub fn load_or_create(path: &Path) -> Result<Self, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                // Whoever can write or read the key can sign tokens for any
                // organisation: a key others can reach is refused.
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    let mode = std::fs::metadata(path)
                        .map_err(|e| format!("reading {}: {e}", path.display()))?
                        .permissions()
                        .mode();
                    if mode & 0o077 != 0 {
                        return Err(format!(
                            "{} is readable or writable by others (mode {:o}): chmod 600 it or remove it",
                            path.display(),
                            mode & 0o777
                        ));
                    }
                }
                let der =
                    Zeroizing::new(STANDARD.decode(text.trim()).map_err(|_| {
                        format!("{} is not a keyroll development key", path.display())
                    })?);
                Self::from_pkcs8(&der)
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate()?;
                key.save(path)?;
                Ok(key)
            }
            Err(error) => Err(format!("reading {}: {error}", path.display())),
        }
    }

    fn save(&self, path: &Path) -> Result<(), String> {
        use std::io::Write;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("creating {}: {e}", parent.display()))?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options
            .open(path)
            .map_err(|e| format!("creating {}: {e}", path.display()))?;
        let text = Zeroizing::new(STANDARD.encode(self.pkcs8.as_slice()));
        file.write_all(text.as_bytes())
            .map_err(|e| format!("writing {}: {e}", path.display()))
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The JWKS document trusting this key.
    pub fn jwks(&self) -> String {
        // An uncompressed point: 0x04, then x and y, 32 bytes each.
        let point = self.pair.public_key().as_ref();
        let (x, y) = point[1..].split_at(32);
        json!({"keys": [{
            "kty": "EC",
            "crv": "P-256",
            "alg": "ES256",
            "use": "sig",
            "kid": self.kid,
            "x": URL_SAFE_NO_PAD.encode(x),
            "y": URL_SAFE_NO_PAD.encode(y),
        }]})
        .to_string()
    }

    /// A compact JWS of `claims`, signed ES256 under this key's id.
    pub fn sign(&self, claims: &Value) -> Result<String, String> {
        let header = json!({"alg": "ES256", "typ": "JWT", "kid": self.kid});
        let message = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .pair
            .sign(&SystemRandom::new(), message.as_bytes())
            .map_err(|_| "signing failed".to_owned())?;
        Ok(format!(
            "{message}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        ))
    }
}

/// The claims of a development token for `subject` of `organization`, under the
/// claim names the verifier reads.
pub struct DevClaims<'a> {
    pub names: &'a super::ClaimNames,
    pub issuer: &'a str,
    pub audience: &'a str,
    pub organization: &'a str,
    pub subject: &'a str,
    pub role: Role,
    pub now: Timestamp,
}

impl DevClaims<'_> {
    pub fn to_json(&self) -> Value {
        let now = self.now.unix();
        let mut claims = json!({
            "iss": self.issuer,
            "aud": self.audience,
            "sub": self.subject,
            "iat": now,
            "nbf": now,
            "exp": now + DEV_TOKEN_SECONDS as i64,
        });
        claims[self.names.organization.as_str()] = json!(self.organization);
        claims[self.names.role.as_str()] = json!(self.role.as_str());
        claims
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{ClaimNames, IdentitySettings, Refusal, TokenVerifier};

    #[tokio::test]
    async fn a_development_token_verifies_against_its_own_jwks_and_the_key_survives_a_reload() {
        let dir = std::env::temp_dir().join(format!(
            "keyroll-dev-key-{}",
            hex::encode(keyroll_core::random::bytes::<6>())
        ));
        let path = dir.join("key");
        let key = DevSigningKey::load_or_create(&path).unwrap();
        let again = DevSigningKey::load_or_create(&path).unwrap();
        assert_eq!(key.kid(), again.kid());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "only its owner may read the key");
        }
        assert!(!format!("{key:?}").contains(&STANDARD.encode(key.pkcs8.as_slice())));
        let settings = IdentitySettings {
            issuer: DEV_ISSUER.into(),
            audience: DEV_AUDIENCE.into(),
            jwks: Some(key.jwks()),
            claims: ClaimNames::default(),
        };
        let now = Timestamp::from_unix(1_800_000_000).unwrap();
        let names = ClaimNames {
            organization: "custom:org".into(),
            role: "custom:role".into(),
        };
        let settings = IdentitySettings {
            claims: names.clone(),
            ..settings
        };
        let verifier = TokenVerifier::new(&settings, &key.jwks()).unwrap();
        let claims = DevClaims {
            names: &names,
            issuer: DEV_ISSUER,
            audience: DEV_AUDIENCE,
            organization: "org_acme",
            subject: "alice",
            role: Role::Admin,
            now,
        };
        let token = again.sign(&claims.to_json()).unwrap();
        assert_eq!(claims.to_json()["custom:org"], "org_acme");
        let user = verifier.verify(&token, now).await.unwrap();
        assert_eq!(user.actor.as_str(), "customer:org_acme/alice");
        assert_eq!(user.role, Role::Admin);
        assert_eq!(
            verifier
                .verify(&token, now.plus_seconds(DEV_TOKEN_SECONDS + 61))
                .await,
            Err(Refusal::Expired)
        );
        // A key others may read is refused.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(DevSigningKey::load_or_create(&path)
                .unwrap_err()
                .contains("readable or writable by others"));
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
