//! Changing a key's attributes, on every store: every secret record follows in the
//! same transaction, and two patches made on the same revision never both apply.

use super::*;
use keyroll_core::service::{KeyPatch, KeyScope};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_patch_reaches_every_secret_record_at_once() {
    let f = fixture().await;
    let issued = issue(&f).await;
    let old_secret = issued.secret.expose().to_owned();
    // Two live secrets: the patch must reach both records.
    let rotation = self_service_rotation(&f, &issued.key.id, 3600).await;
    let successor = fetch_successor(&f, &old_secret).await;
    let patch = KeyPatch {
        scopes: Some(vec![Scope::parse("refunds:write").unwrap()]),
        rate_limit: Some(7),
        ..Default::default()
    };
    let updated = f
        .keyroll
        .update_key(&issued.key.id, &patch, None, KeyScope::Any, &f.actor())
        .await
        .unwrap();
    assert_eq!(updated.scopes, [Scope::parse("refunds:write").unwrap()]);
    for secret in [old_secret.as_str(), successor.as_str()] {
        match f.keyroll.verify(secret).await.unwrap() {
            Verification::Valid(record) => {
                assert_eq!(record.scopes, updated.scopes);
                assert_eq!(record.rate_limit, 7);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        f.keyroll.rotation(&rotation.id).await.unwrap().status,
        RotationStatus::GracePeriod,
        "the rotation is untouched"
    );
    let actions = assert_chain_valid(&f, &issued.key.id).await;
    assert_eq!(actions.last(), Some(&AuditAction::KeyUpdated));
}

/// Racing patches made on the same revision: one applies, the others are told the key
/// moved on (412) and change nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn patches_on_the_same_revision_apply_once() {
    let f = fixture().await;
    let issued = issue(&f).await;
    let revision = f.keyroll.key(&issued.key.id).await.unwrap().revision;
    let names = ["alpha", "bravo", "charlie", "delta"];
    let attempts = names.iter().map(|name| {
        let patch = KeyPatch {
            name: Some(KeyName::parse(name).unwrap()),
            ..Default::default()
        };
        let f = &f;
        let id = issued.key.id.clone();
        async move {
            f.keyroll
                .update_key(&id, &patch, Some(revision), KeyScope::Any, &f.actor())
                .await
        }
    });
    let outcomes = join_all(attempts).await;
    let applied: Vec<_> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
    assert_eq!(applied.len(), 1, "{outcomes:?}");
    assert!(outcomes.iter().all(|o| match o {
        Ok(_) => true,
        Err(Error::PreconditionFailed { current }) => *current == revision + 1,
        Err(_) => false,
    }));
    let stored = f.keyroll.key(&issued.key.id).await.unwrap();
    assert_eq!(stored.name, applied[0].name);
    assert_eq!(stored.revision, revision + 1);
}
