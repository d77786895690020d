//! The processor and notification suite. processor.rs includes this directory once per
//! backend (in-memory adapters; DynamoDB Local + moto), each with its own `world()`,
//! so every test here runs on both and cannot be left out of one.

use keyroll_core::ids::{Actor, KeyId, KeyName, OrganizationId};
use keyroll_core::notification::{Notification, NotificationType};
use keyroll_core::processor::{process_due, ProcessReport, ProcessorOptions};
use keyroll_core::rotation::RotationStatus;
use keyroll_core::service::{NewKey, RotationRequest, ScheduleTrigger, Start};

use keyroll_tests::ReturnedSecret;

use keyroll_tests::fixture::epoch;

use keyroll_tests::processor::{assert_unique, by_key, World};

pub(crate) use super::{world, RACE_ROTATIONS};

mod advancing;
mod delivery;
mod leaks;
mod retirement;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_processors_advance_every_rotation_exactly_once() {
    keyroll_tests::processor::racing_processors_advance_every_rotation_exactly_once(
        world().await,
        RACE_ROTATIONS,
    )
    .await;
}

/// A key of `class`, and its first secret.
pub(crate) async fn issue(w: &World, class: keyroll_core::key::KeyClass) -> (KeyId, String) {
    let issued = w
        .keyroll
        .issue_key(
            NewKey {
                organization_id: OrganizationId::parse("org_acme").unwrap(),
                name: KeyName::parse("mobile app").unwrap(),
                scopes: vec![],
                rate_limit: 10,
                class,
                expires_at: None,
            },
            &w.actor(),
        )
        .await
        .expect("issue");
    (issued.key.id, issued.secret.expose().to_owned())
}

/// The first message of `kind`.
pub(crate) fn find(messages: &[Notification], kind: NotificationType) -> &Notification {
    messages
        .iter()
        .find(|m| m.kind == kind)
        .unwrap_or_else(|| panic!("no {kind:?} in {messages:?}"))
}
