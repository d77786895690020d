//! The store contract: every adapter must pass every test here, unchanged. Each
//! contract binary (contract_memory.rs, contract_dynamodb.rs) includes this directory
//! with its own `fixture()`, so a test written here runs on every adapter and cannot
//! be left out of one.

use std::sync::Arc;

use futures::future::join_all;
use keyroll_core::audit::{AuditAction, Happened};
use keyroll_core::error::{Conflict, Error};
use keyroll_core::ids::{KeyName, OrganizationId, Reason, RotationId, Scope};
use keyroll_core::index::DueRef;
use keyroll_core::key::{KeyClass, SecretStage};
use keyroll_core::rotation::{RotationStatus, RotationTrigger};
use keyroll_core::secret::LookupHash;
use keyroll_core::service::{
    EmergencyRequest, EmergencySource, IssuedKey, LegacyKey, NewKey, RotationRequest, Start,
    Verification,
};
use keyroll_core::store::{ChangeBuilder, StoreError, INDEX_SHARDS};
use keyroll_core::time::Timestamp;
use keyroll_tests::fixture::{epoch, Fixture};
use keyroll_tests::ReturnedSecret;

pub(crate) use super::fixture;

mod audit;
mod callers;
mod compliance;
mod delivery_store;
mod emergency;
mod expiry;
mod imports;
mod indexes;
mod key_lists;
mod key_policies;
mod key_updates;
mod lifecycle;
mod ports;
mod revocation;
mod storage;
mod successor_handout;
mod upgrades;
mod verification;

fn new_key(class: KeyClass) -> NewKey {
    NewKey {
        organization_id: OrganizationId::parse("org_acme").unwrap(),
        name: KeyName::parse("production backend").unwrap(),
        scopes: vec![
            Scope::parse("charges:write").unwrap(),
            Scope::parse("charges:read").unwrap(),
        ],
        rate_limit: 1000,
        class,
        expires_at: None,
    }
}

async fn issue(f: &Fixture) -> IssuedKey {
    f.keyroll
        .issue_key(new_key(KeyClass::Server), &f.actor())
        .await
        .expect("issue key")
}

/// The delivery key pair of the customer's client in these tests.
fn client_keys() -> keyroll_core::testing::sealed::DeliveryKeyPair {
    keyroll_core::testing::sealed::DeliveryKeyPair::from_seed(9)
}

/// A self-service rotation of `key` started now: its new secret is held for the
/// customer's client (whose delivery key is registered first) to fetch with the old one.
async fn self_service_rotation(
    f: &Fixture,
    key: &keyroll_core::ids::KeyId,
    grace_seconds: u64,
) -> keyroll_core::rotation::Rotation {
    f.keyroll
        .register_delivery_key(
            key,
            &client_keys().public(),
            keyroll_core::service::KeyScope::Any,
            &f.actor(),
        )
        .await
        .expect("register the client's delivery key");
    f.keyroll
        .schedule_rotation(
            key,
            RotationRequest {
                trigger: keyroll_core::service::ScheduleTrigger::SelfService,
                start: Start::Now,
                grace_seconds: Some(grace_seconds),
                ..Default::default()
            },
            &f.actor(),
        )
        .await
        .expect("self-service rotation")
        .rotation
}

/// The client fetches its successor with `old` and opens it with its delivery key.
async fn fetch_successor(f: &Fixture, old: &str) -> String {
    let sealed = f
        .keyroll
        .successor(old)
        .await
        .expect("the sealed successor");
    client_keys()
        .open(&sealed.jwe)
        .expect("the successor opens with the client's delivery key")
}

fn reason(text: &str) -> Option<Reason> {
    Some(Reason::parse(text).unwrap())
}

async fn code(f: &Fixture, secret: &str) -> &'static str {
    f.keyroll.verify(secret).await.expect("verify").code()
}

async fn assert_chain_valid(f: &Fixture, key: &keyroll_core::ids::KeyId) -> Vec<AuditAction> {
    let trail = f.keyroll.audit_trail(key).await.expect("audit trail");
    assert!(trail.report.valid, "audit chain broken: {:?}", trail.report);
    trail.events.iter().map(|e| e.action).collect()
}
