//! `TestKeyroll`: the service wired for tests and benchmarks, in one place. In-memory
//! store and vault, a manual clock at 2026-01-01T00:00:00Z and the default settings
//! with a one-second minimum grace, unless told otherwise. Only with the `testing`
//! feature (dev-dependencies enable it); nothing in production builds it.

pub mod logs;
pub mod sealed;

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::Config;
use crate::mac::{KeyedMac, LocalMac};
use crate::secret::VerifierParams;
use crate::service::Keyroll;
use crate::store::memory::MemoryStore;
use crate::store::{DeliveryStore, Store};
use crate::time::{ManualClock, Timestamp};
use crate::vault::{MemoryVault, SecretVault};

/// The instant every test clock starts at unless told otherwise.
pub fn epoch() -> Timestamp {
    Timestamp::from_unix(1_767_225_600).expect("2026-01-01T00:00:00Z")
}

/// How to wire a service for a test.
pub struct TestKeyroll {
    settings: HashMap<String, String>,
    start: Timestamp,
    store: Option<Arc<dyn Store>>,
    deliveries: Option<Arc<dyn DeliveryStore>>,
    vault: Option<Arc<dyn SecretVault>>,
    with_vault: bool,
    verifier: Option<VerifierParams>,
    mac: Option<Arc<dyn KeyedMac>>,
}

/// A wired service and the parts a test reaches into.
pub struct TestService {
    pub keyroll: Keyroll,
    pub clock: ManualClock,
    pub store: Arc<dyn Store>,
    /// The in-memory store, when the test did not bring its own.
    pub memory: Option<Arc<MemoryStore>>,
    pub vault: Option<Arc<dyn SecretVault>>,
    pub config: Config,
    /// The keyed MAC it authenticates with (share it with another "container").
    pub mac: Arc<dyn KeyedMac>,
    /// Where contacts' confirmation codes are mailed.
    pub mailer: Arc<crate::notify::mailer::MemoryMailer>,
}

impl Default for TestKeyroll {
    fn default() -> Self {
        Self::new()
    }
}

impl TestKeyroll {
    /// Default settings but `KEYROLL_MIN_GRACE_SECONDS=1`, so tests can use short graces.
    pub fn new() -> Self {
        Self::with_defaults().setting("KEYROLL_MIN_GRACE_SECONDS", "1")
    }

    /// The documented defaults, unchanged.
    pub fn with_defaults() -> Self {
        Self {
            settings: HashMap::new(),
            start: epoch(),
            store: None,
            deliveries: None,
            vault: None,
            with_vault: true,
            verifier: None,
            mac: None,
        }
    }

    /// One `KEYROLL_*` setting, as the environment would give it.
    pub fn setting(mut self, name: &str, value: &str) -> Self {
        self.settings.insert(name.to_owned(), value.to_owned());
        self
    }

    pub fn starting_at(mut self, start: Timestamp) -> Self {
        self.start = start;
        self
    }

    /// Over this store instead of a fresh in-memory one.
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// With this delivery store (contacts, webhooks, feed); the in-memory store's own
    /// when the test brings no store.
    pub fn deliveries(mut self, deliveries: Arc<dyn DeliveryStore>) -> Self {
        self.deliveries = Some(deliveries);
        self
    }

    /// With this vault instead of a fresh in-memory one.
    pub fn vault(mut self, vault: Arc<dyn SecretVault>) -> Self {
        self.vault = Some(vault);
        self
    }

    /// With no vault at all (as the key authorizer runs).
    pub fn without_vault(mut self) -> Self {
        self.with_vault = false;
        self
    }

    /// With this keyed MAC (KMS on moto, say) instead of a random local one.
    pub fn mac(mut self, mac: Arc<dyn KeyedMac>) -> Self {
        self.mac = Some(mac);
        self
    }

    /// Cheaper verifiers, for seeding many keys where their cost is not what is
    /// measured.
    pub fn verifier(mut self, params: VerifierParams) -> Self {
        self.verifier = Some(params);
        self
    }

    /// The configuration the settings make.
    pub fn config(&self) -> Config {
        let mut config = Config::from_lookup(|name| self.settings.get(name).cloned())
            .expect("the test settings are valid");
        if let Some(params) = self.verifier {
            config.verifier = params;
        }
        config
    }

    pub fn build(self) -> TestService {
        let config = self.config();
        let clock = ManualClock::new(self.start);
        let (store, memory, own_deliveries) = match self.store {
            Some(store) => (store, None, None),
            None => {
                let memory = Arc::new(MemoryStore::new());
                (
                    memory.clone() as Arc<dyn Store>,
                    Some(memory.clone()),
                    Some(memory as Arc<dyn DeliveryStore>),
                )
            }
        };
        let deliveries = self.deliveries.or(own_deliveries);
        let vault = self.with_vault.then(|| {
            self.vault
                .unwrap_or_else(|| Arc::new(MemoryVault::new()) as Arc<dyn SecretVault>)
        });
        let mac = self
            .mac
            .unwrap_or_else(|| Arc::new(LocalMac::random()) as Arc<dyn KeyedMac>);
        let mut keyroll = Keyroll::new(
            store.clone(),
            Arc::new(clock.clone()),
            Arc::new(config.clone()),
        )
        .with_mac(mac.clone());
        let mailer = Arc::new(crate::notify::mailer::MemoryMailer::new());
        keyroll = keyroll.with_mailer(mailer.clone());
        if let Some(vault) = &vault {
            keyroll = keyroll.with_vault(vault.clone());
        }
        if let Some(deliveries) = &deliveries {
            keyroll = keyroll.with_deliveries(deliveries.clone());
        }
        TestService {
            keyroll,
            clock,
            store,
            memory,
            vault,
            config,
            mac,
            mailer,
        }
    }
}
