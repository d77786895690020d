//! The DynamoDB table, defined once in code. `template.yaml` declares the same table
//! for deployment; a test in `tests/` fails if the two drift apart.
//!
//! Items (all in one table; see docs/data-model.md):
//!
//! | item            | pk                  | sk                    | index attributes            |
//! |-----------------|---------------------|-----------------------|-----------------------------|
//! | key             | `KEY#<keyId>`       | `KEY`                 | `age_pk`, `age_sk` (active) |
//! | rotation        | `KEY#<keyId>`       | `ROT#<rotationId>`    | `due_pk`, `due_sk` (not final) |
//! | audit event     | `KEY#<keyId>`       | `AUDIT#<seq, 20 digits>` |                          |
//! | rotation lookup | `ROT#<rotationId>`  | `ROT`                 |                             |
//! | secret record   | `SECRET#<sha256>`   | `SECRET`              |                             |

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, SseSpecification,
};
use aws_sdk_dynamodb::Client;

use super::StoreError;

pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const DUE_INDEX: &str = "due";
pub const DUE_PK: &str = "due_pk";
pub const DUE_SK: &str = "due_sk";
pub const AGE_INDEX: &str = "age";
pub const AGE_PK: &str = "age_pk";
pub const AGE_SK: &str = "age_sk";

/// A global secondary index: partition key, sort key and projection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexSpec {
    pub name: &'static str,
    pub partition_key: &'static str,
    pub sort_key: &'static str,
    /// `KEYS_ONLY`: readers re-read the item they act on with a consistent read anyway.
    pub projection: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableSpec {
    pub partition_key: &'static str,
    pub sort_key: &'static str,
    pub indexes: &'static [IndexSpec],
}

impl TableSpec {
    /// Every key attribute of the table and its indexes (all strings).
    pub fn attributes(&self) -> Vec<&'static str> {
        let mut names = vec![self.partition_key, self.sort_key];
        for index in self.indexes {
            names.push(index.partition_key);
            names.push(index.sort_key);
        }
        names
    }
}

pub const TABLE: TableSpec = TableSpec {
    partition_key: PK,
    sort_key: SK,
    indexes: &[
        // Rotations with work to do, sharded, sorted by due time: the processor reads
        // only what is due.
        IndexSpec {
            name: DUE_INDEX,
            partition_key: DUE_PK,
            sort_key: DUE_SK,
            projection: "KEYS_ONLY",
        },
        // Active keys, sharded, sorted by their current secret's creation time: the
        // compliance scanner reads only what is old.
        IndexSpec {
            name: AGE_INDEX,
            partition_key: AGE_PK,
            sort_key: AGE_SK,
            projection: "KEYS_ONLY",
        },
    ],
};

fn key_schema(partition: &str, sort: &str) -> Result<Vec<KeySchemaElement>, StoreError> {
    let element = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(|e| StoreError::Unavailable(format!("key schema: {e}")))
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
                .map_err(|e| StoreError::Unavailable(format!("attribute definition: {e}")))?,
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
                        .build(),
                )
                .build()
                .map_err(|e| StoreError::Unavailable(format!("index definition: {e}")))?,
        );
    }
    match request.send().await {
        Ok(_) => Ok(()),
        Err(error) => {
            let service = error.into_service_error();
            if service.is_resource_in_use_exception() {
                Ok(())
            } else {
                Err(StoreError::Unavailable(format!(
                    "create table {name}: {}",
                    aws_sdk_dynamodb::error::DisplayErrorContext(&service)
                )))
            }
        }
    }
}
