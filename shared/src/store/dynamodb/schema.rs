//! The DynamoDB table and the keys of its items, defined once in code. `template.yaml` declares the same table
//! for deployment; a test in `tests/` fails if the two drift apart.
//!
//! Items (all in one table; see docs/data-model.md):
//!
//! | item            | pk                  | sk                    | index attributes            |
//! |-----------------|---------------------|-----------------------|-----------------------------|
//! | key             | `KEY#<keyId>`       | `KEY`                 | `age_pk`, `age_sk` (active); `org_pk`, `org_sk`; `cmp_pk`, `cmp_org_pk`, `cmp_sk` (stamped, active) |
//! | rotation        | `KEY#<keyId>`       | `ROT#<rotationId>`    | `due_pk`, `due_sk` (not final) |
//! | audit event     | `KEY#<keyId>`       | `AUDIT#<seq, 20 digits>` |                          |
//! | rotation lookup | `ROT#<rotationId>`  | `ROT`                 |                             |
//! | secret record   | `SECRET#<sha256>`   | `SECRET`              |                             |
//! | totals counters | `TOTALS#ALL`, `TOTALS#ORG#<org>` | `SHARD#<n>` | (`<status>:<class>` numbers) |

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, SseSpecification,
};
use aws_sdk_dynamodb::Client;

use crate::compliance::KeyComplianceStatus;
use crate::error::StoreError;
use crate::ids::{KeyId, OrganizationId, RotationId};
use crate::key::{KeyClass, KeyStatus};
use crate::secret::LookupHash;

pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const DUE_INDEX: &str = "due";
pub const DUE_PK: &str = "due_pk";
pub const DUE_SK: &str = "due_sk";
pub const AGE_INDEX: &str = "age";
pub const AGE_PK: &str = "age_pk";
pub const AGE_SK: &str = "age_sk";
pub const ORG_INDEX: &str = "org";
pub const ORG_PK: &str = "org_pk";
pub const ORG_SK: &str = "org_sk";
/// The key lists, newest first: every key by status (sharded), and an organisation's
/// by status; both sorted by `<created>#<keyId>` (`list_sk`).
pub const LIST_INDEX: &str = "list";
pub const LIST_PK: &str = "list_pk";
pub const LIST_SK: &str = "list_sk";
pub const ORG_LIST_INDEX: &str = "org_list";
pub const ORG_LIST_PK: &str = "org_list_pk";
pub const COMPLIANCE_INDEX: &str = "compliance";
pub const COMPLIANCE_ORG_INDEX: &str = "compliance_org";
pub const CMP_PK: &str = "cmp_pk";
pub const CMP_ORG_PK: &str = "cmp_org_pk";
/// Shared by both compliance indexes: `<secret created>#<keyId>`.
pub const CMP_SK: &str = "cmp_sk";
/// The current secret's display prefix, flat on the key item for the compliance
/// indexes' projection (the key's versions are a list).
pub const CMP_PREFIX: &str = "cmp_prefix";
/// When the entry took its place (`ComplianceEntry::moved_at`), flat for the projection.
pub const CMP_MOVED: &str = "cmp_moved";
/// What the compliance indexes project besides their keys: a report row's fields.
pub const COMPLIANCE_PROJECTION: &[&str] =
    &["organizationId", "activeRotation", CMP_PREFIX, CMP_MOVED];

// Sort keys of the fixed-name items, and prefixes of the others.
pub const KEY_SK: &str = "KEY";
pub const ROTATION_SK_PREFIX: &str = "ROT#";
pub const AUDIT_SK_PREFIX: &str = "AUDIT#";
pub const POINTER_SK: &str = "ROT";
pub const SECRET_SK: &str = "SECRET";
/// Beside a secret record, in its partition: the secret's callers.
pub const CALLERS_SK: &str = "CALLERS";
/// Partition-key prefix of secret records: the only items the key authorizer may read
/// or write (its IAM role's `dynamodb:LeadingKeys`; tests/template.rs).
pub const SECRET_PK_PREFIX: &str = "SECRET#";
/// Every top-level attribute the use write names (key, condition and update): all the
/// key authorizer's role may touch (`dynamodb:Attributes`), so it cannot re-stage,
/// un-revoke or forge a record.
pub const USE_WRITE_ATTRIBUTES: [&str; 5] = [
    PK,
    SK,
    attr::LAST_USED_AT,
    attr::DAILY_USES,
    attr::CALLER_LOG,
];
pub const IDEMPOTENCY_SK: &str = "IDEM";
/// An organisation's key policy, in its `ORG#<org>` partition.
pub const KEY_POLICY_SK: &str = "KEYPOLICY";
pub const LEASE_SK: &str = "LEASE";
/// The partition of held-secret markers (few: one per held secret until the sweep).
pub const HELD_PK: &str = "HELD";
/// The table's DynamoDB TTL attribute (epoch seconds): set on idempotency records and
/// hourly email counters.
pub const TTL: &str = "ttl";
pub const COMPLIANCE_PK: &str = "COMPLIANCE";
pub const SNAPSHOT_SK_PREFIX: &str = "SNAPSHOT#";
pub const TOTALS_SK_PREFIX: &str = "SHARD#";

/// Attribute names that expressions name directly. Each is the serde name of a field
/// (or one the adapter writes itself); `items::tests` pins every item's attribute
/// names, so a rename on one side fails there rather than in a live table.
pub mod attr {
    pub const REVISION: &str = "revision";
    pub const WRITES: &str = "writes";
    pub const COMPLIANCE: &str = "compliance";
    pub const STATUS: &str = "status";
    pub const STAGE: &str = "stage";
    pub const EXPIRES_AT: &str = "expiresAt";
    pub const SCOPES: &str = "scopes";
    pub const RATE_LIMIT: &str = "rateLimit";
    /// A secret record's MAC of its state (`SecretRecord::state_mac`).
    pub const STATE_MAC: &str = "stateMac";
    /// A secret record's MAC of what it is (`SecretRecord::identity_mac`).
    pub const IDENTITY_MAC: &str = "identityMac";
    pub const LAST_USED_AT: &str = "lastUsedAt";
    pub const DAILY_USES: &str = "dailyUses";
    /// A secret's caller log, on its `CALLERS` item.
    pub const CALLER_LOG: &str = "callerLog";
    pub const KEY_ID: &str = "keyId";
    pub const MESSAGE: &str = "message";
    pub const EVENT: &str = "event";
    pub const OWNER: &str = "owner";
    pub const UNTIL: &str = "until";
}

pub fn key_pk(id: &KeyId) -> String {
    format!("KEY#{id}")
}
pub fn rotation_sk(id: &RotationId) -> String {
    format!("{ROTATION_SK_PREFIX}{id}")
}
pub fn pointer_pk(id: &RotationId) -> String {
    format!("ROT#{id}")
}
pub fn secret_pk(hash: &LookupHash) -> String {
    format!("{SECRET_PK_PREFIX}{}", hash.to_hex())
}
pub fn idempotency_pk(id: &str) -> String {
    format!("IDEM#{id}")
}
pub fn outbox_pk(shard: u8) -> String {
    format!("OUTBOX#{shard}")
}
pub fn audit_sk(seq: u64) -> String {
    format!("{AUDIT_SK_PREFIX}{seq:020}")
}
pub fn due_pk(shard: u8) -> String {
    format!("DUE#{shard}")
}
/// The due index's partitions of keys whose own expiry needs the processor.
pub fn expiry_pk(shard: u8) -> String {
    format!("EXPIRY#{shard}")
}
pub fn age_pk(class: KeyClass, shard: u8) -> String {
    format!("AGE#{class}#{shard}")
}
pub fn org_pk(organization: &OrganizationId) -> String {
    format!("ORG#{organization}")
}
/// The `org` index's partition of the secrets that show a prefix: finding a key by
/// the prefix a customer quotes (secret records carry no other `org_pk`).
pub fn prefix_pk(prefix: &str) -> String {
    format!("PREFIX#{prefix}")
}
pub fn list_pk(status: KeyStatus, shard: u8) -> String {
    format!("LIST#{}#{shard}", status.as_str())
}
pub fn org_list_pk(organization: &OrganizationId, status: KeyStatus) -> String {
    format!("ORGLIST#{}#{organization}", status.as_str())
}
pub fn compliance_pk(status: KeyComplianceStatus, class: KeyClass) -> String {
    format!("CMP#{}#{class}", status.as_str())
}
pub fn compliance_org_pk(
    organization: &OrganizationId,
    status: KeyComplianceStatus,
    class: KeyClass,
) -> String {
    format!("CMPORG#{organization}#{}#{class}", status.as_str())
}
/// The compliance totals' counters of every organisation, or of one.
pub fn totals_pk(organization: Option<&OrganizationId>) -> String {
    match organization {
        None => "TOTALS#ALL".into(),
        Some(org) => format!("TOTALS#ORG#{org}"),
    }
}
pub fn totals_sk(shard: u8) -> String {
    format!("{TOTALS_SK_PREFIX}{shard}")
}
/// A counter's attribute on a totals item: `<status>:<class>`.
pub fn counter_attribute(status: KeyComplianceStatus, class: KeyClass) -> String {
    format!("{}:{class}", status.as_str())
}
pub fn emergency_pk(month: &str) -> String {
    format!("EMERGENCY#{month}")
}
pub fn lease_pk(name: &str) -> String {
    format!("LEASE#{name}")
}

/// A global secondary index: partition key, sort key and projection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexSpec {
    pub name: &'static str,
    pub partition_key: &'static str,
    pub sort_key: &'static str,
    /// `KEYS_ONLY`: readers re-read the item they act on with a consistent read anyway.
    /// `INCLUDE`: readers answer from the index alone.
    pub projection: &'static str,
    /// The attributes an `INCLUDE` projection carries.
    pub included: &'static [&'static str],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableSpec {
    pub partition_key: &'static str,
    pub sort_key: &'static str,
    pub indexes: &'static [IndexSpec],
    /// The attribute DynamoDB's TTL expires items by.
    pub ttl_attribute: &'static str,
}

impl TableSpec {
    /// Every key attribute of the table and its indexes (all strings).
    pub fn attributes(&self) -> Vec<&'static str> {
        let mut names = vec![self.partition_key, self.sort_key];
        for index in self.indexes {
            for name in [index.partition_key, index.sort_key] {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        names
    }
}

pub const TABLE: TableSpec = TableSpec {
    partition_key: PK,
    sort_key: SK,
    ttl_attribute: TTL,
    indexes: &[
        // Rotations with work to do, sharded, sorted by due time: the processor reads
        // only what is due.
        IndexSpec {
            name: DUE_INDEX,
            partition_key: DUE_PK,
            sort_key: DUE_SK,
            projection: "KEYS_ONLY",
            included: &[],
        },
        // Active keys, sharded, sorted by their current secret's creation time: the
        // compliance scanner reads only what is old.
        IndexSpec {
            name: AGE_INDEX,
            partition_key: AGE_PK,
            sort_key: AGE_SK,
            projection: "KEYS_ONLY",
            included: &[],
        },
        // Every key of an organisation, by id (so by creation): the customer's key
        // list reads one page of its own keys, whatever the table holds.
        IndexSpec {
            name: ORG_INDEX,
            partition_key: ORG_PK,
            sort_key: ORG_SK,
            projection: "KEYS_ONLY",
            included: &[],
        },
        // Every key by status, sharded, newest first: the operator's key list reads
        // one page from each partition it spans, whatever the table holds.
        IndexSpec {
            name: LIST_INDEX,
            partition_key: LIST_PK,
            sort_key: LIST_SK,
            projection: "KEYS_ONLY",
            included: &[],
        },
        // An organisation's keys by status, newest first.
        IndexSpec {
            name: ORG_LIST_INDEX,
            partition_key: ORG_LIST_PK,
            sort_key: LIST_SK,
            projection: "KEYS_ONLY",
            included: &[],
        },
        // Active keys by the compliance status their last change stamped, per class,
        // oldest secret first, with a report row's fields: a page of the compliance
        // report is one short query per status and class.
        IndexSpec {
            name: COMPLIANCE_INDEX,
            partition_key: CMP_PK,
            sort_key: CMP_SK,
            projection: "INCLUDE",
            included: COMPLIANCE_PROJECTION,
        },
        // The same, within one organisation.
        IndexSpec {
            name: COMPLIANCE_ORG_INDEX,
            partition_key: CMP_ORG_PK,
            sort_key: CMP_SK,
            projection: "INCLUDE",
            included: COMPLIANCE_PROJECTION,
        },
    ],
};

fn key_schema(partition: &str, sort: &str) -> Result<Vec<KeySchemaElement>, StoreError> {
    let element = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(|e| StoreError::unavailable("key schema", e))
    };
    Ok(vec![
        element(partition, KeyType::Hash)?,
        element(sort, KeyType::Range)?,
    ])
}

/// Creates the table (on-demand billing, encrypted) if it does not exist. Used by
/// tests and `keyroll-local --create-tables`; production tables come from template.yaml.
pub async fn create_table(client: &Client, name: &str) -> Result<(), StoreError> {
    let spec = TABLE;
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .sse_specification(SseSpecification::builder().enabled(true).build())
        .set_key_schema(Some(key_schema(spec.partition_key, spec.sort_key)?));
    for attribute in spec.attributes() {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(attribute)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| StoreError::unavailable("attribute definition", e))?,
        );
    }
    for index in spec.indexes {
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(index.name)
                .set_key_schema(Some(key_schema(index.partition_key, index.sort_key)?))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(index.projection))
                        .set_non_key_attributes(
                            (!index.included.is_empty())
                                .then(|| index.included.iter().map(|a| (*a).to_owned()).collect()),
                        )
                        .build(),
                )
                .build()
                .map_err(|e| StoreError::unavailable("index definition", e))?,
        );
    }
    match request.send().await {
        Ok(_) => client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                aws_sdk_dynamodb::types::TimeToLiveSpecification::builder()
                    .attribute_name(spec.ttl_attribute)
                    .enabled(true)
                    .build()
                    .map_err(|e| StoreError::unavailable("TTL definition", e))?,
            )
            .send()
            .await
            .map(|_| ())
            .map_err(|e| StoreError::unavailable(format!("enable TTL on {name}"), e)),
        Err(error) => {
            let service = error.into_service_error();
            if service.is_resource_in_use_exception() {
                Ok(())
            } else {
                Err(StoreError::unavailable(
                    format!("create table {name}"),
                    service,
                ))
            }
        }
    }
}
