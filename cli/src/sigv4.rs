//! Signing a request for the deployed API (IAM auth on API Gateway) with Signature
//! Version 4, by the AWS SDK's own signer (`aws-sigv4`) and the SDK's credential chain
//! (environment, profiles, SSO, instance and container roles).

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;

use crate::error::{CliError, Result};

/// API Gateway's signing name.
pub const SERVICE: &str = "execute-api";

/// What signs requests: credentials and the API's region.
#[derive(Clone)]
pub struct Signer {
    pub credentials: Credentials,
    pub region: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("access_key_id", &self.credentials.access_key_id())
            .field("region", &self.region)
            .finish()
    }
}

impl Signer {
    /// Credentials from the SDK's default chain; the region from `region`, else the
    /// API's host name (`<id>.execute-api.<region>.amazonaws.com`), else the chain.
    pub async fn from_environment(region: Option<String>, api: &url::Url) -> Result<Self> {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let provider = config.credentials_provider().ok_or_else(|| {
            CliError::Credentials(
                "no AWS credentials: set a profile (AWS_PROFILE), run `aws sso login`, or pass --token for keyroll-local".into(),
            )
        })?;
        use aws_credential_types::provider::ProvideCredentials;
        let credentials = provider
            .provide_credentials()
            .await
            .map_err(|e| CliError::Credentials(format!("AWS credentials: {e}")))?;
        let region = region
            .or_else(|| region_of_host(api.host_str().unwrap_or_default()))
            .or_else(|| config.region().map(|r| r.to_string()))
            .ok_or_else(|| {
                CliError::Usage("no AWS region: pass --region or set AWS_REGION".into())
            })?;
        Ok(Self {
            credentials,
            region,
        })
    }

    /// The headers that sign `method url` with `headers` and `body` at `time`.
    pub fn headers(
        &self,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        body: &[u8],
        time: SystemTime,
    ) -> Result<Vec<(String, String)>> {
        let identity = self.credentials.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(SERVICE)
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| CliError::Failed(format!("signing: {e}")))?
            .into();
        let signable = SignableRequest::new(
            method,
            url,
            headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
            SignableBody::Bytes(body),
        )
        .map_err(|e| CliError::Failed(format!("signing: {e}")))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| CliError::Failed(format!("signing: {e}")))?
            .into_parts();
        Ok(instructions
            .headers()
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect())
    }
}

/// The region in an API Gateway host name.
fn region_of_host(host: &str) -> Option<String> {
    let rest = host.split(".execute-api.").nth(1)?;
    let region = rest.strip_suffix(".amazonaws.com")?;
    (!region.is_empty() && !region.contains('.')).then(|| region.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_region_is_read_from_an_api_gateway_host() {
        assert_eq!(
            region_of_host("a1b2c3.execute-api.eu-west-1.amazonaws.com").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(region_of_host("keyroll.example.com"), None);
        assert_eq!(region_of_host("127.0.0.1"), None);
    }

    #[test]
    fn debug_never_shows_the_secret_key() {
        let signer = Signer {
            credentials: Credentials::new(
                "AKIDEXAMPLE",
                "very-secret-key",
                Some("session-token".into()),
                None,
                "test",
            ),
            region: "us-east-1".into(),
        };
        let shown = format!("{signer:?}");
        assert!(
            !shown.contains("very-secret-key") && !shown.contains("session-token"),
            "{shown}"
        );
    }
}
