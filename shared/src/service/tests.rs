//! The service's own checks; its behaviour is tested through the contract suites.
use std::sync::Arc;

use super::*;
use crate::ids::{KeyName, OrganizationId, Reason, Scope};
use crate::key::{KeyClass, SecretRecord};
use crate::secret::LookupHash;
use crate::store::memory::MemoryStore;
use crate::store::Store;
use crate::time::ManualClock;

fn keyroll() -> (Keyroll, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::new());
    let clock = ManualClock::new(Timestamp::parse("2026-01-01T00:00:00Z").unwrap());
    let config = Config::from_lookup(|_| None).unwrap();
    (
        Keyroll::new(store.clone(), Arc::new(clock), Arc::new(config)),
        store,
    )
}

/// No `Debug` output of any domain value that travels near a secret shows the
/// secret, its body, or its verifier.
#[tokio::test]
async fn debug_output_of_domain_types_never_shows_a_secret() {
    let (keyroll, store) = keyroll();
    let actor = Actor::parse("alice").unwrap();
    let issued = keyroll
        .issue_key(
            NewKey {
                organization_id: OrganizationId::parse("org").unwrap(),
                name: KeyName::parse("k").unwrap(),
                scopes: vec![Scope::parse("read").unwrap()],
                rate_limit: 5,
                class: KeyClass::Server,
            },
            &actor,
        )
        .await
        .unwrap();
    let rotated = keyroll
        .schedule_rotation(
            &issued.key.id,
            RotationRequest {
                start: Start::Now,
                ..Default::default()
            },
            &actor,
        )
        .await
        .unwrap();
    let emergency = keyroll
        .emergency_rotation(
            &issued.key.id,
            EmergencyRequest {
                reason: Reason::parse("leak").unwrap(),
                grace_seconds: Some(0),
                source: EmergencySource::Operator,
            },
            &actor,
        )
        .await
        .unwrap();
    let secrets = [
        issued.secret.expose(),
        rotated.delivery.returned().unwrap().expose(),
        emergency.delivery.returned().unwrap().expose(),
    ];
    let records: Vec<SecretRecord> = {
        let mut out = Vec::new();
        for s in secrets {
            out.push(store.secret(&LookupHash::of(s)).await.unwrap().unwrap());
        }
        out
    };
    let key = store.key(&issued.key.id).await.unwrap().unwrap();
    let events = store.audit_events(&issued.key.id).await.unwrap();
    let verification = keyroll
        .verify(emergency.delivery.returned().unwrap().expose())
        .await
        .unwrap();
    let printed = [
        format!("{issued:?}"),
        format!("{rotated:?}"),
        format!("{emergency:?}"),
        format!("{key:?}"),
        format!("{records:?}"),
        format!("{events:?}"),
        format!("{:?}", serde_json::to_string(&events).unwrap()),
        format!("{verification:?}"),
    ];
    for text in &printed {
        for secret in secrets {
            // The body after the display prefix is what must never appear.
            let body = &secret[16..];
            assert!(!text.contains(body), "secret body in: {text}");
        }
        for record in &records {
            if let Some(verifier) = &record.verifier {
                assert!(!text.contains(verifier.as_phc()), "verifier in: {text}");
            }
        }
    }
}
