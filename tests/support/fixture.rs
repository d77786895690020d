//! Fixtures: a keyroll service over a fresh store, with a manual clock.

use std::sync::Arc;

use keyroll_core::config::Config;
use keyroll_core::ids::Actor;
use keyroll_core::queue::{MemoryQueue, NotificationQueue, SqsQueue};
use keyroll_core::service::Keyroll;
use keyroll_core::store::dynamodb::create_table;
use keyroll_core::store::dynamodb::DynamoStore;
use keyroll_core::store::memory::MemoryStore;
use keyroll_core::store::{DeliveryStore, Store};
use keyroll_core::testing::TestKeyroll;
use keyroll_core::time::{ManualClock, Timestamp};
use keyroll_core::vault::{MemoryVault, SecretVault, SecretsManagerVault};

use crate::queues::{moto_fifo_queue, Inbox};

/// A service over one store, with the clock the service reads.
pub struct Fixture {
    pub store: Arc<dyn Store>,
    /// The same store, as the delivery port.
    pub deliveries: Arc<dyn DeliveryStore>,
    pub keyroll: Keyroll,
    pub clock: ManualClock,
    /// Set for DynamoDB fixtures, to count requests and reach the table directly.
    pub dynamo: Option<Arc<DynamoStore>>,
    /// Set for in-memory fixtures, to count use writes.
    pub memory: Option<Arc<MemoryStore>>,
    /// The keyed MAC: KMS on moto for DynamoDB fixtures, a local key for in-memory ones.
    pub mac: Arc<dyn keyroll_core::mac::KeyedMac>,
}

impl Fixture {
    pub fn actor(&self) -> Actor {
        Actor::parse("alice@example.com").expect("valid actor")
    }

    /// Writes the store has been asked for: every DynamoDB write request, or every
    /// in-memory use write (the in-memory store counts only those).
    pub fn write_count(&self) -> u64 {
        match (&self.dynamo, &self.memory) {
            (Some(dynamo), _) => dynamo.write_count(),
            (None, Some(memory)) => memory.use_writes(),
            (None, None) => unreachable!("every fixture has a store"),
        }
    }

    /// Reads the store has been asked for: every DynamoDB GetItem and Query page, or
    /// every in-memory read of a key or key list (the in-memory store counts only those).
    pub fn read_count(&self) -> u64 {
        match (&self.dynamo, &self.memory) {
            (Some(dynamo), _) => dynamo.read_count(),
            (None, Some(memory)) => memory.reads().0,
            (None, None) => unreachable!("every fixture has a store"),
        }
    }

    /// Transactions the store has been asked for: every DynamoDB write request (an
    /// import writes nothing else), or every in-memory commit and batch of creations.
    pub fn transaction_count(&self) -> u64 {
        match (&self.dynamo, &self.memory) {
            (Some(dynamo), _) => dynamo.write_count(),
            (None, Some(memory)) => memory.transactions(),
            (None, None) => unreachable!("every fixture has a store"),
        }
    }

    /// Schedules and cancels `cycles` rotations of `key`: two audit events each.
    pub async fn schedule_and_cancel(&self, key: &keyroll_core::ids::KeyId, cycles: usize) {
        for _ in 0..cycles {
            let scheduled = self
                .keyroll
                .schedule_rotation(key, Default::default(), &self.actor())
                .await
                .expect("schedule");
            self.keyroll
                .cancel_rotation(&scheduled.rotation.id, None, &self.actor())
                .await
                .expect("cancel");
        }
    }

    /// The fixture's clock reading.
    pub fn clock_now(&self) -> Timestamp {
        use keyroll_core::time::Clock;
        self.clock.now()
    }

    /// The notification queue of this fixture's kind, and an inbox reading back what it
    /// delivered: a fresh FIFO queue in moto (SQS) for DynamoDB fixtures, memory for
    /// in-memory ones.
    pub async fn queue(&self) -> (Arc<dyn NotificationQueue>, Inbox) {
        if self.dynamo.is_some() {
            let (client, url) = moto_fifo_queue().await;
            let queue = Arc::new(SqsQueue::new(client.clone(), url.clone()));
            (queue, Inbox::Sqs { client, url })
        } else {
            let queue = Arc::new(MemoryQueue::new());
            (queue.clone(), Inbox::Memory(queue))
        }
    }

    /// The secret vault of this fixture's kind: Secrets Manager in moto for DynamoDB
    /// fixtures, memory for in-memory ones.
    pub async fn vault(&self) -> Arc<dyn SecretVault> {
        if self.dynamo.is_some() {
            moto_vault().await
        } else {
            Arc::new(MemoryVault::new())
        }
    }

    /// A second service over the same store and clock: another Lambda container.
    pub fn another_container(&self) -> Keyroll {
        self.container_over(self.store.clone())
    }

    /// A container like this fixture's over `store` (one wrapping this fixture's, say).
    pub fn container_over(&self, store: Arc<dyn Store>) -> Keyroll {
        Keyroll::new(store, Arc::new(self.clock.clone()), Arc::new(test_config()))
            .with_mac(self.mac.clone())
    }

    /// A container like this fixture's, on its store and clock, configured otherwise
    /// (as a redeploy with a changed setting would be).
    pub fn container_configured(&self, config: Config) -> Keyroll {
        Keyroll::new(
            self.store.clone(),
            Arc::new(self.clock.clone()),
            Arc::new(config),
        )
        .with_mac(self.mac.clone())
    }
}

/// The start of every fixture's clock: 2026-01-01T00:00:00Z.
pub fn epoch() -> Timestamp {
    keyroll_core::testing::epoch()
}

/// Default settings, except a one-second minimum grace so tests can use short ones.
pub fn test_config() -> Config {
    TestKeyroll::new().config()
}

fn fixture(
    store: Arc<dyn Store>,
    deliveries: Arc<dyn DeliveryStore>,
    dynamo: Option<Arc<DynamoStore>>,
    memory: Option<Arc<MemoryStore>>,
    mac: Arc<dyn keyroll_core::mac::KeyedMac>,
) -> Fixture {
    let wired = TestKeyroll::new()
        .store(store)
        .deliveries(deliveries.clone())
        .mac(mac)
        .build();
    Fixture {
        store: wired.store,
        deliveries,
        keyroll: wired.keyroll,
        clock: wired.clock,
        dynamo,
        memory,
        mac: wired.mac,
    }
}

pub async fn memory() -> Fixture {
    let store = Arc::new(MemoryStore::new());
    let mac = Arc::new(keyroll_core::mac::LocalMac::random());
    fixture(store.clone(), store.clone(), None, Some(store), mac)
}

/// The KMS HMAC key of this test process (moto), made once. A test that needs moto
/// fails when it is not configured.
pub async fn kms_original() -> Arc<dyn keyroll_core::mac::KeyedMac> {
    static KEY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    assert!(
        std::env::var("AWS_ENDPOINT_URL_KMS").is_ok_and(|e| e.starts_with("http://127.0.0.1:")),
        "AWS_ENDPOINT_URL_KMS is not a loopback moto: run scripts/local-aws start and eval its env"
    );
    let config = keyroll_core::aws::load_config().await;
    let kms = aws_sdk_kms::Client::new(&config);
    let key = KEY
        .get_or_init(|| async {
            kms.create_key()
                .key_spec(aws_sdk_kms::types::KeySpec::Hmac256)
                .key_usage(aws_sdk_kms::types::KeyUsageType::GenerateVerifyMac)
                .send()
                .await
                .expect("create an HMAC key in moto")
                .key_metadata
                .expect("key metadata")
                .key_id
        })
        .await
        .clone();
    Arc::new(keyroll_core::mac::KmsMac::new(kms, key))
}

/// The keyed MAC as Lambda runs it: a key derived once from the KMS HMAC key.
pub async fn kms_mac() -> Arc<dyn keyroll_core::mac::KeyedMac> {
    derived_from(kms_original().await).await
}

async fn derived_from(
    original: Arc<dyn keyroll_core::mac::KeyedMac>,
) -> Arc<dyn keyroll_core::mac::KeyedMac> {
    Arc::new(
        keyroll_core::mac::DerivedMac::derive(original)
            .await
            .expect("derive the local MAC key from moto's KMS"),
    )
}

/// A keyed MAC that counts the calls reaching it: put in front of KMS, the tests' log
/// of KMS requests.
pub struct CountingMac {
    inner: Arc<dyn keyroll_core::mac::KeyedMac>,
    calls: std::sync::atomic::AtomicUsize,
}

impl CountingMac {
    pub fn new(inner: Arc<dyn keyroll_core::mac::KeyedMac>) -> Self {
        Self {
            inner,
            calls: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    pub fn calls(&self) -> usize {
        self.calls.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn count(&self) {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl keyroll_core::mac::KeyedMac for CountingMac {
    async fn mac(&self, message: &[u8]) -> Result<Vec<u8>, keyroll_core::mac::MacError> {
        self.count();
        self.inner.mac(message).await
    }

    async fn verify(
        &self,
        message: &[u8],
        mac: &[u8],
    ) -> Result<bool, keyroll_core::mac::MacError> {
        self.count();
        self.inner.verify(message, mac).await
    }
}

/// [`dynamodb`], with every KMS call counted.
pub async fn dynamodb_counting_kms() -> (Fixture, Arc<CountingMac>) {
    let kms = Arc::new(CountingMac::new(kms_original().await));
    (dynamodb_with(derived_from(kms.clone()).await).await, kms)
}

/// The secret vault as Lambda runs it: Secrets Manager (moto). A test that needs moto
/// fails when it is not configured.
pub async fn moto_vault() -> Arc<dyn SecretVault> {
    assert!(
        std::env::var("AWS_ENDPOINT_URL_SECRETS_MANAGER").is_ok(),
        "AWS_ENDPOINT_URL_SECRETS_MANAGER is not set: run scripts/test"
    );
    let config = keyroll_core::aws::load_config().await;
    Arc::new(SecretsManagerVault::new(
        aws_sdk_secretsmanager::Client::new(&config),
    ))
}

/// The DynamoDB Local endpoint. A test that needs it fails when it is not configured:
/// it never skips.
pub fn dynamodb_endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap_or_else(|_| {
        panic!(
            "AWS_ENDPOINT_URL_DYNAMODB is not set: this test needs DynamoDB Local. \
             Run the whole suite with scripts/test, or `scripts/local-aws start` and \
             `eval \"$(scripts/local-aws env)\"` first."
        )
    })
}

pub async fn dynamodb_client() -> aws_sdk_dynamodb::Client {
    let endpoint = dynamodb_endpoint();
    assert!(
        endpoint.starts_with("http://127.0.0.1:") || endpoint.starts_with("http://localhost:"),
        "tests only talk to a loopback DynamoDB Local, not {endpoint}"
    );
    let config = keyroll_core::aws::load_config().await;
    keyroll_core::aws::dynamodb_client(&config)
}

/// A fresh table in DynamoDB Local, named uniquely so tests run in parallel.
pub async fn dynamodb() -> Fixture {
    dynamodb_with(kms_mac().await).await
}

/// [`dynamodb`] with this keyed MAC.
async fn dynamodb_with(mac: Arc<dyn keyroll_core::mac::KeyedMac>) -> Fixture {
    let client = dynamodb_client().await;
    let table = format!("keyroll-test-{}", hex_suffix());
    create_table(&client, &table)
        .await
        .expect("create table in DynamoDB Local");
    let store = Arc::new(DynamoStore::new(client, table));
    fixture(store.clone(), store.clone(), Some(store), None, mac)
}

fn hex_suffix() -> String {
    let bytes: [u8; 8] = keyroll_core::random::bytes();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An active server key with one imported secret created at `created_at`, and its
/// secret record: for bulk-loading large tables quickly.
/// Loads `keys` into DynamoDB in BatchWriteItem calls of 500 keys, 4 at a time (the
/// benchmarks' and scale tests' seeding; nothing audited).
pub async fn bulk_load(
    dynamo: &Arc<DynamoStore>,
    keys: &[(keyroll_core::key::Key, keyroll_core::key::SecretRecord)],
) {
    use futures::stream::{self, StreamExt};
    stream::iter(keys.chunks(500))
        .for_each_concurrent(4, |chunk| async move {
            dynamo
                .bulk_load_for_benchmarks(chunk)
                .await
                .expect("bulk load")
        })
        .await;
}

pub fn bulk_key(
    i: usize,
    created_at: keyroll_core::time::Timestamp,
) -> (keyroll_core::key::Key, keyroll_core::key::SecretRecord) {
    use keyroll_core::ids::{Actor, KeyId, KeyName, OrganizationId};
    use keyroll_core::key::{
        Key, KeyClass, KeyStatus, SecretOrigin, SecretRecord, SecretStage, SecretVersion,
    };
    use keyroll_core::secret::LookupHash;
    let version = SecretVersion::new(
        1,
        format!("sk_live_{i:08x}"),
        LookupHash::of(&format!("bulk-secret-{i}-{}", hex_suffix())),
        SecretStage::Current,
        SecretOrigin::Imported,
        created_at,
    );
    let key = Key {
        id: KeyId::generate(),
        organization_id: OrganizationId::parse("org_bulk").expect("valid"),
        name: KeyName::parse(&format!("bulk key {i}")).expect("valid"),
        scopes: vec![],
        rate_limit: 10,
        class: KeyClass::Server,
        status: KeyStatus::Active,
        created_at,
        created_by: Actor::parse("loader").expect("valid"),
        versions: vec![version.clone()],
        active_rotation: None,
        revision: 0,
        revoked_at: None,
        expires_at: None,
        expiry_warned_for: None,
        expiry_check_at: None,
        metadata: Default::default(),
        audit_head: None,
        audit_head_mac: None,
        expiry_warned_version: None,
        writes: 0,
        customer_rotations_at: Vec::new(),
        // As issuing it then would have stamped it: compliant (the age it has since
        // reached is the read model's to notice, as for any key).
        compliance: Some(keyroll_core::compliance::KeyComplianceStatus::Compliant),
        current_since: None,
        delivery_key: None,
    };
    let record = SecretRecord::new(&key, &version, None);
    (key, record)
}
