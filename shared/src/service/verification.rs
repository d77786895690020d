//! Verifying a presented secret, and counting its use.

use super::Keyroll;
use crate::callers::CallerFingerprint;
use crate::error::{Error, Result};
use crate::key::{SecretOrigin, SecretRecord, Validity};
use crate::secret::{LookupHash, RawSecret, SecretShape, VerifierCheck};

/// The longest a verification waits for its (once a minute) use write.
pub const USE_WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);

/// The answer to a verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// Not a keyroll secret at all (prefix, length, alphabet or checksum); no lookup.
    Malformed,
    NotFound,
    Valid(SecretRecord),
    Expired(SecretRecord),
    Revoked(SecretRecord),
}

impl Verification {
    pub fn code(&self) -> &'static str {
        match self {
            Verification::Malformed => "MALFORMED",
            Verification::NotFound => "NOT_FOUND",
            Verification::Valid(_) => "VALID",
            Verification::Expired(_) => "EXPIRED",
            Verification::Revoked(_) => "REVOKED",
        }
    }

    pub fn is_valid(&self) -> bool {
        matches!(self, Verification::Valid(_))
    }
}

impl Keyroll {
    /// Verifies a presented secret: format and checksum first (no I/O), then one
    /// strongly consistent read by lookup hash, then the stored verifier.
    pub async fn verify(&self, presented: &str) -> Result<Verification> {
        self.verify_by(presented, None).await
    }

    /// [`Keyroll::verify`], attributing a valid secret's use to `caller` when the
    /// request told who it is.
    pub async fn verify_by(
        &self,
        presented: &str,
        caller: Option<CallerFingerprint>,
    ) -> Result<Verification> {
        let verification = self.check_secret(presented).await?;
        if let Verification::Valid(record) = &verification {
            let caller = caller.map(|c| c.without_secret(presented));
            self.record_use(&record.lookup_hash, caller).await;
        }
        Ok(verification)
    }

    /// [`Keyroll::verify`] without counting a use: for leak reports, which present a
    /// secret that nobody is using to call the API.
    pub async fn check_secret(&self, presented: &str) -> Result<Verification> {
        let shape = match self.config.secret_format.classify(presented) {
            Ok(shape) => shape,
            Err(_) => return Ok(Verification::Malformed),
        };
        let lookup_hash = LookupHash::of(presented);
        let Some(record) = self.store.secret(&lookup_hash).await? else {
            return Ok(Verification::NotFound);
        };
        if !self.record_is_keyrolls(&record).await? {
            tracing::error!(alert = "secret_record_not_authentic", key_id = %record.key_id, "a secret record's MACs are missing or wrong: keyroll did not write it, or not as it reads now; refused: was the table written outside keyroll?");
            return Ok(Verification::NotFound);
        }
        let authentic = match (shape, record.origin, &record.verifier) {
            (SecretShape::Generated, SecretOrigin::Generated, Some(verifier)) => {
                let verifier = verifier.clone();
                let candidate = RawSecret::from_string(presented.to_owned());
                let check = tokio::task::spawn_blocking(move || verifier.check(candidate.expose()))
                    .await
                    .map_err(|e| Error::Internal(format!("verification task: {e}")))?;
                if check == VerifierCheck::NotKeyrolls {
                    tracing::error!(alert = "secret_record_not_authentic", key_id = %record.key_id, "a secret record's verifier is not one keyroll writes (its parameters are past the caps, or it is unreadable); refused without running it: was the table written outside keyroll?");
                }
                check == VerifierCheck::Matches
            }
            (SecretShape::Legacy, SecretOrigin::Imported, None) => {
                record.lookup_hash.ct_eq(&lookup_hash)
            }
            _ => false,
        };
        if !authentic {
            return Ok(Verification::NotFound);
        }
        Ok(match record.validity(self.now()) {
            Validity::Valid => Verification::Valid(record),
            Validity::Expired => Verification::Expired(record),
            Validity::Revoked => Verification::Revoked(record),
        })
    }

    /// Whether `record` is as keyroll wrote it: its identity MAC and its state MAC are
    /// keyroll's (two local HMACs; no KMS call). While `KEYROLL_AUDIT_MAC_REQUIRED` is
    /// off (a stack upgrading from before records were authenticated, until the sweep
    /// has MACed them) MACs are not checked: an older release's code, still running
    /// during the deploy or after a rollback, changes records without them.
    ///
    /// What the MACs cannot tell: a record put back as it was at an earlier, authentic
    /// state (a revoked secret rolled back to current) by someone who copied it then.
    /// That needs a fresher read than the record alone (docs/security.md).
    async fn record_is_keyrolls(&self, record: &SecretRecord) -> Result<bool> {
        if !self.config.audit_mac_required {
            return Ok(true);
        }
        let (Some(identity), Some(state)) = (&record.identity_mac, &record.state_mac) else {
            return Ok(false);
        };
        let (Ok(identity), Ok(state)) = (hex::decode(identity), hex::decode(state)) else {
            return Ok(false);
        };
        Ok(self
            .mac
            .verify(&record.identity_message(), &identity)
            .await?
            && self.mac.verify(&record.state_message(), &state).await?)
    }

    /// Counts a successful verification, by `caller` if known; at most once a minute
    /// per secret (per container, and across containers by the write's condition) the
    /// counted uses are written, and with them the callers seen since their last write.
    /// A failed write is logged and retried with the next minute's: usage is never a
    /// reason to refuse a valid secret.
    pub async fn record_use(&self, lookup_hash: &LookupHash, caller: Option<CallerFingerprint>) {
        let now = self.now();
        let Some(record) = self.usage.count(*lookup_hash, now, caller) else {
            return;
        };
        let written = bounded_write(
            self.store.record_use(lookup_hash, &record),
            "a secret's last use",
        )
        .await;
        self.usage.settle(lookup_hash, &record, written);
        if written {
            self.record_callers(lookup_hash, now).await;
        }
    }

    /// Writes the callers seen since their last write, in the minute this container
    /// won the use write for: so callers are written at most as often as uses.
    async fn record_callers(&self, lookup_hash: &LookupHash, now: crate::time::Timestamp) {
        let sightings = self.usage.take_sightings(lookup_hash);
        if sightings.is_empty() {
            return;
        }
        let written = bounded_write(
            self.store.record_callers(lookup_hash, &sightings, now),
            "a secret's callers",
        )
        .await;
        if !written {
            self.usage.restore_sightings(lookup_hash, sightings);
        }
    }
}

/// A write verification causes, bounded: a slow table must not hold up the answer to
/// the caller. Whether it was written; a failure is logged and retried next minute.
async fn bounded_write(
    write: impl std::future::Future<Output = std::result::Result<bool, crate::error::StoreError>>,
    what: &str,
) -> bool {
    match tokio::time::timeout(USE_WRITE_TIMEOUT, write).await {
        Ok(Ok(written)) => written,
        Ok(Err(error)) => {
            // An alarm watches these: a use write refused for good (an IAM condition,
            // say) would silently stop usage-based completion and delivery checks.
            tracing::error!(alert = "use_write_failed", error = %crate::error::Chain(&error), "recording {what} failed; retried next minute");
            false
        }
        Err(_) => {
            tracing::warn!("recording {what} timed out; retried next minute");
            false
        }
    }
}
