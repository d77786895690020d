//! template.yaml and the code must describe the same table: the deployed table is
//! the one the code queries.

use std::collections::BTreeSet;

use keyroll_core::store::table::TABLE;
use serde_yaml::Value;

fn template() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
    let text = std::fs::read_to_string(path).expect("read template.yaml");
    serde_yaml::from_str(&text).expect("template.yaml is YAML")
}

fn tables(template: &Value) -> Vec<&Value> {
    template["Resources"]
        .as_mapping()
        .expect("Resources")
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::DynamoDB::Table"))
        .collect()
}

fn key_schema(schema: &Value) -> (String, String) {
    let mut hash = String::new();
    let mut range = String::new();
    for element in schema.as_sequence().expect("KeySchema is a list") {
        let name = element["AttributeName"]
            .as_str()
            .expect("AttributeName")
            .to_owned();
        match element["KeyType"].as_str() {
            Some("HASH") => hash = name,
            Some("RANGE") => range = name,
            other => panic!("unexpected KeyType {other:?}"),
        }
    }
    (hash, range)
}

#[test]
fn the_table_in_template_yaml_matches_the_code() {
    let template = template();
    let tables = tables(&template);
    assert_eq!(tables.len(), 1, "keyroll uses exactly one table");
    let properties = &tables[0]["Properties"];

    assert_eq!(
        key_schema(&properties["KeySchema"]),
        (TABLE.partition_key.to_owned(), TABLE.sort_key.to_owned())
    );

    let declared: BTreeSet<(String, String)> = properties["AttributeDefinitions"]
        .as_sequence()
        .expect("AttributeDefinitions")
        .iter()
        .map(|a| {
            (
                a["AttributeName"].as_str().unwrap().to_owned(),
                a["AttributeType"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: BTreeSet<(String, String)> = TABLE
        .attributes()
        .into_iter()
        .map(|a| (a.to_owned(), "S".to_owned()))
        .collect();
    assert_eq!(declared, expected, "AttributeDefinitions");

    let indexes = properties["GlobalSecondaryIndexes"]
        .as_sequence()
        .expect("GlobalSecondaryIndexes");
    assert_eq!(indexes.len(), TABLE.indexes.len(), "number of indexes");
    for spec in TABLE.indexes {
        let index = indexes
            .iter()
            .find(|i| i["IndexName"].as_str() == Some(spec.name))
            .unwrap_or_else(|| panic!("index {} missing from template.yaml", spec.name));
        assert_eq!(
            key_schema(&index["KeySchema"]),
            (spec.partition_key.to_owned(), spec.sort_key.to_owned()),
            "key schema of index {}",
            spec.name
        );
        assert_eq!(
            index["Projection"]["ProjectionType"].as_str(),
            Some(spec.projection),
            "projection of {}",
            spec.name
        );
    }
}

#[test]
fn the_table_is_recoverable_and_encrypted() {
    let template = template();
    let table = tables(&template)[0];
    let properties = &table["Properties"];
    assert_eq!(properties["BillingMode"].as_str(), Some("PAY_PER_REQUEST"));
    assert_eq!(
        properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"].as_bool(),
        Some(true)
    );
    assert_eq!(
        properties["SSESpecification"]["SSEEnabled"].as_bool(),
        Some(true)
    );
    assert_eq!(table["DeletionPolicy"].as_str(), Some("Retain"));
}
