//! Revoking keys, on every store: one key during a rotation's grace, a second revoke
//! that writes nothing, and an organisation's offboarding in pages.

use super::*;
use keyroll_core::compliance::KeyComplianceStatus;
use keyroll_core::key::KeyStatus;
use keyroll_core::notification::NotificationType;
use keyroll_core::processor::{process_due, ProcessorOptions};
use keyroll_core::service::KeyScope;

async fn revoke(f: &Fixture, key: &keyroll_core::ids::KeyId) -> keyroll_core::service::RevokedKey {
    f.keyroll
        .revoke_key(
            key,
            Reason::parse("customer churned").unwrap(),
            KeyScope::Any,
            &f.actor(),
        )
        .await
        .unwrap()
}

fn active_total(counts: &keyroll_core::compliance::ComplianceCounts) -> u64 {
    KeyComplianceStatus::ALL
        .iter()
        .map(|status| counts.of_status(*status))
        .sum()
}

/// Revoked during the grace of a self-service rotation: both secrets `REVOKED` at
/// once, the rotation cancelled, its held secret deleted from the vault once the
/// outbox is carried out, one `key.revoked` on the queue, the chain valid and
/// authenticated, the key out of the compliance totals; a second revoke writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn revoking_during_a_grace_kills_both_secrets_once() {
    let f = fixture().await;
    let issued = issue(&f).await;
    let old_secret = issued.secret.expose().to_owned();
    let rotation = self_service_rotation(&f, &issued.key.id, 86_400).await;
    let held = rotation.vault_secret.clone().expect("a held successor");
    let vault = f.keyroll.vault().expect("a vault").clone();
    assert!(vault.get(&held).await.unwrap().is_some());
    let (queue, inbox) = f.queue().await;
    let successor = fetch_successor(&f, &old_secret).await;
    let totals_before = active_total(&f.store.compliance_counts(None).await.unwrap());

    let revoked = revoke(&f, &issued.key.id).await;
    assert!(revoked.changed);
    assert_eq!(revoked.key.status, KeyStatus::Revoked);
    let revoked_at = revoked.key.revoked_at.expect("when");
    assert_eq!(code(&f, &old_secret).await, "REVOKED");
    assert_eq!(code(&f, successor.as_str()).await, "REVOKED");
    let cancelled = f.keyroll.rotation(&rotation.id).await.unwrap();
    assert_eq!(cancelled.status, RotationStatus::Cancelled);
    assert_eq!(
        active_total(&f.store.compliance_counts(None).await.unwrap()),
        totals_before - 1,
        "out of the totals"
    );

    process_due(
        &f.keyroll,
        Some(queue.as_ref()),
        ProcessorOptions::default(),
    )
    .await
    .unwrap();
    assert!(
        vault.get(&held).await.unwrap().is_none(),
        "held secret deleted"
    );
    let told: Vec<_> = inbox.take().await.into_iter().map(|n| n.kind).collect();
    let revocations = told
        .iter()
        .filter(|kind| **kind == NotificationType::KeyRevoked)
        .count();
    assert_eq!(revocations, 1, "{told:?}");
    assert!(
        !told.contains(&NotificationType::RotationCancelled),
        "the revocation says it all: {told:?}"
    );

    let trail = f.keyroll.audit_trail(&issued.key.id).await.unwrap();
    assert!(trail.report.valid, "{:?}", trail.report);
    assert!(trail.report.authenticated, "{:?}", trail.report);
    assert_eq!(
        trail.events.last().map(|e| e.action),
        Some(AuditAction::KeyRevoked)
    );

    // Again: the same answer, nothing written, nothing sent.
    let writes = f.write_count();
    let again = revoke(&f, &issued.key.id).await;
    assert!(!again.changed);
    assert_eq!(again.key.revoked_at, Some(revoked_at));
    assert_eq!(f.write_count(), writes, "a second revoke writes nothing");
    let shard = keyroll_core::store::shard_of(issued.key.id.as_str());
    assert!(
        f.store.outbox(shard, None, 10).await.unwrap().is_empty(),
        "nothing more to tell"
    );
}

/// An organisation's key revoked through another organisation's scope answers as an
/// unknown key and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn another_organisation_cannot_revoke_a_key() {
    let f = fixture().await;
    let issued = issue(&f).await;
    let other = OrganizationId::parse("org_other").unwrap();
    let writes = f.write_count();
    let refused = f
        .keyroll
        .revoke_key(
            &issued.key.id,
            Reason::parse("not mine").unwrap(),
            KeyScope::OwnedBy(&other),
            &f.actor(),
        )
        .await
        .unwrap_err();
    let unknown = f
        .keyroll
        .revoke_key(
            &keyroll_core::ids::KeyId::generate(),
            Reason::parse("not mine").unwrap(),
            KeyScope::OwnedBy(&other),
            &f.actor(),
        )
        .await
        .unwrap_err();
    for error in [refused, unknown] {
        assert!(
            matches!(error, Error::NotFound { kind: "key", .. }),
            "{error:?}"
        );
    }
    assert_eq!(f.write_count(), writes);
    assert_eq!(code(&f, issued.secret.expose()).await, "VALID");
}

/// Offboarding revokes the organisation's active keys and no one else's; a call that
/// runs out of time says what remains, and the next one continues.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn offboarding_revokes_every_key_of_one_organisation() {
    let f = fixture().await;
    let leaving = OrganizationId::parse("org_leaving").unwrap();
    let mut secrets = Vec::new();
    for i in 0..12 {
        let mut request = new_key(KeyClass::ALL[i % 2]);
        request.organization_id = leaving.clone();
        let issued = f.keyroll.issue_key(request, &f.actor()).await.unwrap();
        secrets.push(issued.secret.expose().to_owned());
    }
    let staying = issue(&f).await;
    let others_before = active_total(
        &f.store
            .compliance_counts(Some(&new_key(KeyClass::Server).organization_id))
            .await
            .unwrap(),
    );
    let reason = Reason::parse("contract ended").unwrap();

    // No time at all: nothing is revoked, and all twelve remain.
    let none = f
        .keyroll
        .revoke_organization_keys(
            &leaving,
            reason.clone(),
            std::time::Instant::now(),
            &f.actor(),
        )
        .await
        .unwrap();
    assert_eq!((none.revoked, none.remaining), (0, 12));

    let later = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let done = f
        .keyroll
        .revoke_organization_keys(&leaving, reason.clone(), later, &f.actor())
        .await
        .unwrap();
    assert_eq!((done.revoked, done.remaining), (12, 0));
    for secret in &secrets {
        assert_eq!(code(&f, secret).await, "REVOKED");
    }
    let again = f
        .keyroll
        .revoke_organization_keys(&leaving, reason, later, &f.actor())
        .await
        .unwrap();
    assert_eq!((again.revoked, again.remaining), (0, 0));
    assert_eq!(code(&f, staying.secret.expose()).await, "VALID");
    assert_eq!(
        active_total(
            &f.store
                .compliance_counts(Some(&new_key(KeyClass::Server).organization_id))
                .await
                .unwrap()
        ),
        others_before,
        "another organisation untouched"
    );
}

/// A key whose rotation in progress has no record (lost) is still revoked: the
/// revocation is what must not fail. Its secret answers `REVOKED`, the chain stays
/// valid, the event names the lost rotation, and the secret that rotation may have
/// held is deleted from the vault.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_key_whose_rotation_cannot_be_read_is_still_revoked() {
    let f = fixture().await;
    let issued = issue(&f).await;
    let key = f.store.key(&issued.key.id).await.unwrap().unwrap();
    let lost = RotationId::generate();
    let mut dangling = ChangeBuilder::update(key);
    dangling.key_mut().active_rotation = Some(lost.clone());
    f.store.commit(dangling.finish()).await.unwrap();

    let revoked = revoke(&f, &issued.key.id).await;
    assert!(revoked.changed);
    assert_eq!(revoked.key.status, KeyStatus::Revoked);
    assert_eq!(revoked.key.active_rotation, None);
    assert_eq!(
        f.keyroll
            .verify(issued.secret.expose())
            .await
            .unwrap()
            .code(),
        "REVOKED"
    );
    let trail = f.keyroll.audit_trail(&issued.key.id).await.unwrap();
    assert!(
        trail.report.valid && trail.report.authenticated,
        "{:?}",
        trail.report
    );
    // The event names the lost rotation, and the secret it may have held is deleted.
    let event = trail.events.last().unwrap();
    assert_eq!(event.action, AuditAction::KeyRevoked);
    assert_eq!(event.rotation_id.as_ref(), Some(&lost));
    let shard = keyroll_core::store::shard_of(issued.key.id.as_str());
    let queued = f.store.outbox(shard, None, 10).await.unwrap();
    let vault_secret = format!("{}{lost}", f.keyroll.config().secret_name_prefix);
    assert!(
        queued.iter().any(|entry| matches!(
            &entry.message,
            keyroll_core::notification::OutboxMessage::DeleteVaultSecret { name } if *name == vault_secret
        )),
        "{queued:?}"
    );
}
