//! keyroll's operations. Each one loads what it needs, asks a planner of
//! [`crate::plan`] for the whole change (the rules live there, as pure code), and
//! commits it as one guarded [`KeyChange`]; when another writer got there first it
//! re-reads and re-plans, so a retried or racing call can never apply twice.
//!
//! | capability | file |
//! |---|---|
//! | the one write path: stamp, authenticate, commit | `commit.rs` |
//! | issue a key, import the old system's | `issue.rs` |
//! | an organisation's key policy, and the keys its admins create inside it | `key_policy.rs` |
//! | schedule, cancel, complete, extend | `lifecycle.rs` |
//! | emergency rotations and leak reports | `emergency.rs` |
//! | the processor's step, giving up, expiry warnings | `advance.rs` |
//! | verification and last use | `verification.rs` |
//! | held secrets: the vault, reveal, the self-service successor | `held.rs` |
//! | reads: keys, rotations, emergencies, audit trail | `queries.rs` |
//! | the operator's key lists, finding a key by a secret's prefix | `listing.rs` |
//! | the compliance read model: stamps, settling, report pages and figures | `compliance.rs` |
//! | idempotent replay | `replay.rs` |
//! | revoking a key, offboarding an organisation | `revoke.rs` |
//! | changing a key's attributes (a merge patch) | `update.rs` |
//! | contacts, webhook endpoints, the feed, the delivery log | `contacts.rs` |
//! | an organisation's own keys and rotations, for its users | `scoped.rs` |

use std::sync::Arc;

use crate::change::KeyChange;
use crate::config::Config;
use crate::error::{Conflict, Error, Result};
use crate::idempotency::{IdempotencyIntent, RequestOutcome};
use crate::ids::{Actor, KeyId, RotationId};
use crate::key::Key;
use crate::mac::{KeyedMac, LocalMac};
use crate::plan::NewSecret;
use crate::rotation::Rotation;
use crate::secret::{MintedSecret, RawSecret};
use crate::store::{DeliveryStore, Store};
use crate::time::{Clock, Timestamp};
use crate::usage::UsageTracker;
use crate::vault::SecretVault;

mod advance;
mod callers;
mod commit;
mod compliance;
mod contacts;
mod delivery_key;
mod emergency;
mod held;
pub use held::SealedSuccessor;
mod import;
mod issue;
mod key_policy;
mod lifecycle;
mod listing;
mod queries;
mod replay;
mod revoke;
mod scoped;
mod self_key;
mod update;
mod verification;

pub use crate::plan::{
    Advance, Completion, EmergencyRequest, EmergencySource, ExpiryStep, KeyPatch, LegacyKey,
    MetadataPatch, NewKey, RotationRequest, ScheduleTrigger, Start, MAX_SCOPES,
};
pub use callers::KeyCallers;
pub use compliance::{ComplianceCursor, ComplianceFilter, CompliancePage, MAX_COMPLIANCE_PAGE};
pub use contacts::{MAX_DESTINATIONS, SECRET_OVERLAP_SECONDS};
pub use delivery_key::RegisteredDeliveryKey;
pub use emergency::LeakVerdict;
pub use issue::IssuedKey;
pub use key_policy::KeyPolicyRequest;
pub use listing::{KeyListPage, MAX_LIST_PAGE, MAX_PREFIX_MATCHES};
pub use queries::{
    AuditPage, AuditPageRequest, AuditTrail, SecretUsage, CHAIN_READ, MAX_ROTATION_PAGE,
    USAGE_VERSIONS,
};
pub use replay::Replay;
pub use revoke::{KeyScope, Offboarding, RevokedKey};
pub use scoped::{KeyPage, OwnedKey, MAX_KEY_PAGE};
pub use self_key::{fetchable_successor, SelfKey, POLL_BUSY_SECONDS, POLL_IDLE_SECONDS};
pub use verification::{Verification, USE_WRITE_TIMEOUT};

/// The first reads of an operation, made while its new secret is minted (scrypt on a
/// blocking thread): the first plan uses them, a re-plan after a lost race reads again.
struct FirstRead<T>(std::sync::Mutex<Option<T>>);

impl<T> FirstRead<T> {
    fn new(read: T) -> Self {
        Self(std::sync::Mutex::new(Some(read)))
    }

    /// The first read, once; `None` after it was used.
    fn take(&self) -> Option<T> {
        self.0.lock().ok().and_then(|mut read| read.take())
    }
}

/// How many times an operation re-reads and re-plans after losing a race.
const CONFLICT_ATTEMPTS: usize = 5;

/// Who is asking, and the idempotency key of their request if they sent one.
#[derive(Debug)]
pub struct Caller {
    pub actor: Actor,
    pub idempotency: Option<IdempotencyIntent>,
}

impl Caller {
    pub fn new(actor: Actor) -> Self {
        Self {
            actor,
            idempotency: None,
        }
    }

    pub fn with_idempotency(mut self, intent: IdempotencyIntent) -> Self {
        self.idempotency = Some(intent);
        self
    }

    /// Adds the record of this caller's idempotent request to `change`, so the request
    /// and its result commit together.
    fn record_request(
        &self,
        change: &mut KeyChange,
        resource_id: &str,
        outcome: RequestOutcome,
        secret: Option<&RawSecret>,
        now: Timestamp,
    ) -> Result<()> {
        if let Some(intent) = &self.idempotency {
            change.record_request(intent.record(resource_id, outcome, secret, now)?);
        }
        Ok(())
    }
}

impl From<&Actor> for Caller {
    fn from(actor: &Actor) -> Self {
        Caller::new(actor.clone())
    }
}

impl From<Actor> for Caller {
    fn from(actor: Actor) -> Self {
        Caller::new(actor)
    }
}

/// Who got a rotation's new secret. A held secret is not in the result at all, so it
/// cannot be returned by mistake.
#[derive(Debug)]
pub enum SecretHandout {
    /// Handed to the caller, in this result only.
    Returned(RawSecret),
    /// Kept in the vault under this name, for its one reveal.
    Held { vault_secret: String },
}

impl SecretHandout {
    /// The secret, when it is the caller's.
    pub fn returned(&self) -> Option<&RawSecret> {
        match self {
            SecretHandout::Returned(secret) => Some(secret),
            SecretHandout::Held { .. } => None,
        }
    }

    pub fn into_returned(self) -> Option<RawSecret> {
        match self {
            SecretHandout::Returned(secret) => Some(secret),
            SecretHandout::Held { .. } => None,
        }
    }
}

/// A new rotation and who got its new secret.
#[derive(Debug)]
pub struct RotationIssued {
    pub rotation: Rotation,
    pub handout: SecretHandout,
}

pub struct Keyroll {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    config: Arc<Config>,
    vault: Option<Arc<dyn SecretVault>>,
    deliveries: Option<Arc<dyn DeliveryStore>>,
    usage: UsageTracker,
    mac: Arc<dyn KeyedMac>,
    mailer: Option<Arc<dyn crate::notify::Mailer>>,
}

impl Keyroll {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: Arc<Config>) -> Self {
        Self {
            store,
            clock,
            config,
            vault: None,
            deliveries: None,
            usage: UsageTracker::new(),
            mac: Arc::new(LocalMac::random()),
            mailer: None,
        }
    }

    /// Authenticates audit heads and idempotency records with `mac` (KMS in AWS)
    /// instead of a random key of this process.
    pub fn with_mac(mut self, mac: Arc<dyn KeyedMac>) -> Self {
        self.mac = mac;
        self
    }

    /// Adds the store of contacts, webhook endpoints, the feed and deliveries.
    pub fn with_deliveries(mut self, deliveries: Arc<dyn DeliveryStore>) -> Self {
        self.deliveries = Some(deliveries);
        self
    }

    /// Adds the mail service that sends a customer's new contact its confirmation code.
    pub fn with_mailer(mut self, mailer: Arc<dyn crate::notify::Mailer>) -> Self {
        self.mailer = Some(mailer);
        self
    }

    /// Adds the vault that holds secrets minted for rotations nobody asked for.
    pub fn with_vault(mut self, vault: Arc<dyn SecretVault>) -> Self {
        self.vault = Some(vault);
        self
    }

    pub fn vault(&self) -> Option<&Arc<dyn SecretVault>> {
        self.vault.as_ref()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// For the jobs of this crate (processor, scan); everything outside goes through
    /// the operations and queries.
    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Mints a secret and its verifier; scrypt runs on a blocking thread.
    async fn mint(&self) -> Result<(MintedSecret, NewSecret)> {
        let format = self.config.secret_format.clone();
        let params = self.config.verifier;
        tokio::task::spawn_blocking(move || {
            let minted = format.generate();
            let verifier = crate::secret::Verifier::derive(&minted.secret, params)?;
            let public = NewSecret {
                display_prefix: minted.display_prefix.clone(),
                lookup_hash: minted.lookup_hash,
                verifier,
            };
            Ok((minted, public))
        })
        .await
        .map_err(|e| Error::Internal(format!("minting task: {e}")))?
    }

    async fn load_key(&self, id: &KeyId) -> Result<Key> {
        self.store
            .key(id)
            .await?
            .ok_or_else(|| Error::not_found("key", id))
    }

    /// Loads a rotation with its key, for the operations that change one.
    async fn load_rotation_and_key(&self, id: &RotationId) -> Result<(Rotation, Key)> {
        let rotation = self.rotation(id).await?;
        let key = self.load_key(&rotation.key_id).await?;
        Ok((rotation, key))
    }

    /// Refuses a customer's rotation past the key's hourly limit before anything is
    /// minted or held in the vault (the planner checks it again, atomically with the
    /// change): a caller at the limit costs one read, not a vault secret.
    async fn precheck_customer_rotation(&self, key_id: &KeyId, actor: &Actor) -> Result<()> {
        if !actor.kind().is_customer() {
            return Ok(());
        }
        let key = self.load_key(key_id).await?;
        let act = crate::plan::Act {
            actor,
            now: self.now(),
        };
        crate::plan::check_customer_rotation(&key, &self.config.policy, act)
    }

    /// Commits `plan`'s change, re-planning from fresh reads when another writer won.
    async fn commit_with_retry<T, F, Fut>(&self, mut plan: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<(Option<KeyChange>, T)>>,
    {
        for _ in 0..CONFLICT_ATTEMPTS {
            let (change, outcome) = plan().await?;
            let Some(change) = change else {
                return Ok(outcome);
            };
            match self.commit(change).await {
                Ok(_) => return Ok(outcome),
                Err(Error::Conflict(Conflict::ConcurrentModification)) => continue,
                Err(other) => return Err(other),
            }
        }
        Err(Conflict::ConcurrentModification.into())
    }
}
