//! The AWS KMS adapter of the keyed MAC: an HMAC_256 key used with `GenerateMac` and
//! `VerifyMac`, so the key material never leaves KMS and no role without
//! `kms:GenerateMac` on it can produce a tag.

use async_trait::async_trait;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::MacAlgorithmSpec;

use super::{KeyedMac, MacError};
use crate::error::Dependency;

pub struct KmsMac {
    client: aws_sdk_kms::Client,
    key_id: String,
}

impl KmsMac {
    pub fn new(client: aws_sdk_kms::Client, key_id: impl Into<String>) -> Self {
        Self {
            client,
            key_id: key_id.into(),
        }
    }
}

#[async_trait]
impl KeyedMac for KmsMac {
    async fn mac(&self, message: &[u8]) -> Result<Vec<u8>, MacError> {
        let output = self
            .client
            .generate_mac()
            .key_id(&self.key_id)
            .mac_algorithm(MacAlgorithmSpec::HmacSha256)
            .message(Blob::new(message))
            .send()
            .await
            .map_err(|e| MacError::new(Dependency::Mac, "GenerateMac", e))?;
        output.mac.map(Blob::into_inner).ok_or_else(|| {
            MacError::because(Dependency::Mac, "GenerateMac", "the answer carried no MAC")
        })
    }

    async fn verify(&self, message: &[u8], mac: &[u8]) -> Result<bool, MacError> {
        let result = self
            .client
            .verify_mac()
            .key_id(&self.key_id)
            .mac_algorithm(MacAlgorithmSpec::HmacSha256)
            .message(Blob::new(message))
            .mac(Blob::new(mac))
            .send()
            .await;
        match result {
            Ok(output) => Ok(output.mac_valid),
            // KMS answers a wrong MAC with KMSInvalidMacException, not `false`.
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_kms_invalid_mac_exception()) =>
            {
                Ok(false)
            }
            Err(error) => Err(MacError::new(Dependency::Mac, "VerifyMac", error)),
        }
    }
}
