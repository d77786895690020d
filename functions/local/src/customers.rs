//! The customer side on a developer's machine: which tokens keyroll-local trusts, and
//! `keyroll-local token`, which signs one with the development key so the portal and
//! the `/v1/org/…` routes can be tried without an identity provider.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use keyroll_api::customer::CustomerAccess;
use keyroll_api::identity::dev::{DevClaims, DevSigningKey, DEV_AUDIENCE, DEV_ISSUER};
use keyroll_api::identity::{ClaimNames, IdentitySettings, Role, TokenVerifier};
use keyroll_core::contact::DestinationPolicy;
use keyroll_core::time::{Clock, SystemClock, Timestamp};

/// What `keyroll-local token` was asked for.
#[derive(Debug, PartialEq, Eq)]
pub struct TokenRequest {
    pub organization: String,
    pub role: Role,
    pub user: String,
}

impl TokenRequest {
    /// `--org ORG [--role admin|viewer] [--user NAME]`, in any order.
    pub fn parse(args: &[String]) -> Result<Self> {
        let mut organization = None;
        let mut role = Role::Viewer;
        let mut user = "developer".to_owned();
        let mut rest = args.iter();
        while let Some(flag) = rest.next() {
            let value = rest.next().ok_or_else(|| anyhow!("{flag} needs a value"))?;
            match flag.as_str() {
                "--org" => organization = Some(value.clone()),
                "--user" => user = value.clone(),
                "--role" => {
                    role = match value.as_str() {
                        "admin" => Role::Admin,
                        "viewer" => Role::Viewer,
                        other => bail!("--role is admin or viewer, not {other:?}"),
                    }
                }
                other => bail!("unknown option {other:?}"),
            }
        }
        let organization = organization.context("--org ORG is required")?;
        keyroll_core::ids::OrganizationId::parse(&organization)
            .map_err(|e| anyhow!("--org: {e}"))?;
        Ok(Self {
            organization,
            role,
            user,
        })
    }
}

/// Where the development key lives: never a shared folder such as /tmp, where another
/// user could plant their own.
fn dev_key_path() -> Result<PathBuf> {
    if let Ok(path) = std::env::var(crate::settings::DEV_KEY_FILE.name) {
        return Ok(PathBuf::from(path));
    }
    match std::env::var_os("HOME") {
        Some(home) => Ok(PathBuf::from(home).join(".keyroll").join("dev-jwt-key")),
        None => bail!("HOME is not set: set KEYROLL_DEV_KEY_FILE to where keyroll-local keeps its development key"),
    }
}

/// The development identity: its key and the issuer and audience its tokens carry.
pub struct DevIdentity {
    pub key: DevSigningKey,
    pub issuer: String,
    pub audience: String,
    pub claims: ClaimNames,
    pub path: PathBuf,
}

impl DevIdentity {
    pub fn sign(&self, request: &TokenRequest, now: Timestamp) -> Result<String> {
        let claims = DevClaims {
            names: &self.claims,
            issuer: &self.issuer,
            audience: &self.audience,
            organization: &request.organization,
            subject: &request.user,
            role: request.role,
            now,
        };
        self.key.sign(&claims.to_json()).map_err(|e| anyhow!(e))
    }
}

/// How keyroll-local recognises customer users: with `KEYROLL_JWT_ISSUER`, the
/// provider's keys (found by discovery, fetched under `policy`, or `KEYROLL_JWKS`);
/// without, its development key (returned too, to sign tokens with).
pub async fn access(policy: DestinationPolicy) -> Result<(CustomerAccess, Option<DevIdentity>)> {
    if let Some(settings) = IdentitySettings::from_env().map_err(|e| anyhow!(e))? {
        let verifier = settings
            .verifier(policy, SystemClock.now())
            .await
            .map_err(|e| anyhow!(e))?;
        return Ok((CustomerAccess::verified_here(verifier), None));
    }
    let dev = dev_identity()?;
    let jwks = dev.key.jwks();
    let settings = IdentitySettings {
        issuer: dev.issuer.clone(),
        audience: dev.audience.clone(),
        jwks: Some(jwks.clone()),
        claims: dev.claims.clone(),
    };
    let verifier = TokenVerifier::new(&settings, &jwks).map_err(|e| anyhow!(e))?;
    Ok((CustomerAccess::verified_here(verifier), Some(dev)))
}

/// The development identity: its key (created on first use) and what its tokens say.
fn dev_identity() -> Result<DevIdentity> {
    let path = dev_key_path()?;
    let key = DevSigningKey::load_or_create(&path).map_err(|e| anyhow!(e))?;
    Ok(DevIdentity {
        key,
        issuer: DEV_ISSUER.to_owned(),
        audience: DEV_AUDIENCE.to_owned(),
        claims: ClaimNames::default(),
        path,
    })
}

/// `keyroll-local token …`: prints a development token.
pub fn print_token(request: &TokenRequest) -> Result<()> {
    if IdentitySettings::from_env()
        .map_err(|e| anyhow!(e))?
        .is_some()
    {
        bail!("KEYROLL_JWT_ISSUER is set, so keyroll-local trusts your identity provider: get a token from it");
    }
    let dev = dev_identity()?;
    println!("{}", dev.sign(request, SystemClock.now())?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_options_are_parsed_strictly() {
        let args = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            TokenRequest::parse(&args(&[
                "--org", "org_acme", "--role", "admin", "--user", "alice"
            ]))
            .unwrap(),
            TokenRequest {
                organization: "org_acme".into(),
                role: Role::Admin,
                user: "alice".into()
            }
        );
        assert_eq!(
            TokenRequest::parse(&args(&["--org", "org_acme"]))
                .unwrap()
                .role,
            Role::Viewer
        );
        for bad in [
            &["--role", "admin"][..],
            &["--org"],
            &["--org", "org_acme", "--role", "owner"],
            &["--org", "has space"],
            &["--org", "org_acme", "--force", "x"],
        ] {
            assert!(TokenRequest::parse(&args(bad)).is_err(), "{bad:?}");
        }
    }
}
