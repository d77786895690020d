//! The delivery port: contacts, webhook endpoints, the feed, deliveries and attempts.

use keyroll_core::contact::{Contact, EmailAddress, SigningSecretRef, WebhookEndpoint};
use keyroll_core::delivery::{
    AttemptOutcome, Delivery, DeliveryAttempt, DeliveryStatus, FeedEntry, Target,
};
use keyroll_core::ids::{Actor, ContactId, KeyId, WebhookId};
use keyroll_core::notification::{Notification, NotificationType, SCHEMA_VERSION};

use super::*;

fn org(name: &str) -> OrganizationId {
    OrganizationId::parse(name).unwrap()
}

fn notification(organization: &str, seq: u64, at: Timestamp) -> Notification {
    Notification {
        kind: NotificationType::RotationStarted,
        schema_version: SCHEMA_VERSION,
        event_id: format!("evt_01jd4x8m2q7r5t9v3w6y0z1a2b_{seq:010}"),
        occurred_at: at,
        key_id: KeyId::parse("key_01jd4x8m2q7r5t9v3w6y0z1a2b").unwrap(),
        organization_id: org(organization),
        key_name: KeyName::parse("backend").unwrap(),
        rotation_id: None,
        old_prefix: Some("sk_live_aaaaaaaa".into()),
        new_prefix: Some("sk_live_bbbbbbbb".into()),
        deadline: None,
        reason: None,
        trigger: None,
        old_secret_last_used_at: None,
        old_secret_used_in_last_24h: false,
        actor: None,
        callers_not_moved: vec![],
        delivery_key_thumbprint: None,
    }
}

fn contact(organization: &str, email: &str) -> Contact {
    Contact {
        id: ContactId::generate(),
        organization_id: org(organization),
        email: EmailAddress::parse(email).unwrap(),
        types: NotificationType::ALL.to_vec(),
        created_at: epoch(),
        created_by: Actor::parse("alice").unwrap(),
        pending: None,
    }
}

fn endpoint(organization: &str) -> WebhookEndpoint {
    let id = WebhookId::generate();
    WebhookEndpoint {
        secrets: vec![SigningSecretRef {
            version: 1,
            vault_secret: format!("keyroll/webhook/{id}/1"),
            created_at: epoch(),
            retires_at: None,
        }],
        id,
        organization_id: org(organization),
        url: "https://hooks.example.com/keyroll".into(),
        types: NotificationType::ALL.to_vec(),
        created_at: epoch(),
        created_by: Actor::parse("alice").unwrap(),
        disabled_at: None,
        disabled_reason: None,
        revision: 0,
    }
}

/// Contacts and endpoints belong to one organisation: another's id is not found.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn contacts_and_endpoints_stay_in_their_organisation() {
    let f = fixture().await;
    let deliveries = &f.deliveries;
    let ops = contact("org_acme", "ops@acme.example");
    deliveries.add_contact(&ops).await.unwrap();
    assert_eq!(
        deliveries.add_contact(&ops).await,
        Err(StoreError::Conflict)
    );
    deliveries
        .add_contact(&contact("org_other", "x@other.example"))
        .await
        .unwrap();
    assert_eq!(
        deliveries.contacts(&org("org_acme")).await.unwrap(),
        vec![ops.clone()]
    );
    assert!(!deliveries
        .remove_contact(&org("org_other"), &ops.id)
        .await
        .unwrap());
    assert!(deliveries
        .remove_contact(&org("org_acme"), &ops.id)
        .await
        .unwrap());
    assert!(deliveries
        .contacts(&org("org_acme"))
        .await
        .unwrap()
        .is_empty());

    assert!(
        !deliveries.replace_contact(&ops).await.unwrap(),
        "a removed contact is not written back"
    );
    let (pending, _) = keyroll_core::contact::PendingConfirmation::generate(epoch());
    let waiting = Contact {
        pending: Some(pending),
        ..contact("org_acme", "new@acme.example")
    };
    deliveries.add_contact(&waiting).await.unwrap();
    let confirmed = Contact {
        pending: None,
        ..waiting.clone()
    };
    assert!(deliveries.replace_contact(&confirmed).await.unwrap());
    assert_eq!(
        deliveries.contacts(&org("org_acme")).await.unwrap(),
        vec![confirmed.clone()]
    );
    deliveries
        .remove_contact(&org("org_acme"), &confirmed.id)
        .await
        .unwrap();

    let hook = endpoint("org_acme");
    deliveries.put_webhook(&hook, None).await.unwrap();
    assert_eq!(
        deliveries.put_webhook(&hook, None).await,
        Err(StoreError::Conflict),
        "exists"
    );
    assert_eq!(
        deliveries
            .webhook(&org("org_other"), &hook.id)
            .await
            .unwrap(),
        None
    );
    let mut disabled = hook.clone();
    disabled.disabled_at = Some(epoch());
    disabled.revision = 1;
    deliveries.put_webhook(&disabled, Some(0)).await.unwrap();
    assert_eq!(
        deliveries.put_webhook(&disabled, Some(0)).await,
        Err(StoreError::Conflict),
        "a stale revision is refused"
    );
    assert_eq!(
        deliveries.webhooks(&org("org_acme")).await.unwrap(),
        vec![disabled]
    );
    assert!(!deliveries
        .remove_webhook(&org("org_other"), &hook.id)
        .await
        .unwrap());
    assert!(deliveries
        .remove_webhook(&org("org_acme"), &hook.id)
        .await
        .unwrap());
}

/// An organisation's emails are counted per clock hour up to the limit, apart from
/// another organisation's and another hour's; concurrent takes never pass the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn emails_are_counted_per_organisation_and_hour_up_to_the_limit() {
    let f = fixture().await;
    let deliveries = f.deliveries.clone();
    let hour = epoch();
    let takes = (0..8).map(|_| {
        let deliveries = deliveries.clone();
        tokio::spawn(async move {
            deliveries
                .take_email(&org("org_acme"), hour, 5)
                .await
                .unwrap()
        })
    });
    let mut taken = 0;
    for take in takes {
        taken += usize::from(take.await.unwrap());
    }
    assert_eq!(taken, 5, "eight racing takes, a limit of five");
    assert!(!deliveries
        .take_email(&org("org_acme"), hour, 5)
        .await
        .unwrap());
    assert!(
        deliveries
            .take_email(&org("org_acme"), hour, 6)
            .await
            .unwrap(),
        "a raised limit counts on"
    );
    assert!(deliveries
        .take_email(&org("org_other"), hour, 5)
        .await
        .unwrap());
    assert!(deliveries
        .take_email(&org("org_acme"), hour.plus_seconds(3600), 5)
        .await
        .unwrap());
}

/// The feed holds each event once, pages newest first without skipping or repeating,
/// and marks entries read.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_feed_pages_newest_first_and_marks_read() {
    let f = fixture().await;
    let deliveries = &f.deliveries;
    for seq in 1..=7 {
        let entry = FeedEntry {
            notification: notification("org_acme", seq, epoch().plus_seconds(seq)),
            read_at: None,
        };
        assert!(deliveries.add_to_feed(&entry).await.unwrap());
        assert!(
            !deliveries.add_to_feed(&entry).await.unwrap(),
            "once per event"
        );
    }
    deliveries
        .add_to_feed(&FeedEntry {
            notification: notification("org_other", 99, epoch()),
            read_at: None,
        })
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = deliveries
            .feed(&org("org_acme"), cursor.as_deref(), 3)
            .await
            .unwrap();
        seen.extend(page.iter().map(|e| e.notification.event_id.clone()));
        if page.len() < 3 {
            break;
        }
        cursor = page.last().map(FeedEntry::sort_key);
    }
    let expected: Vec<String> = (1..=7)
        .rev()
        .map(|seq| format!("evt_01jd4x8m2q7r5t9v3w6y0z1a2b_{seq:010}"))
        .collect();
    assert_eq!(seen, expected);
    let third = &expected[2];
    assert!(deliveries
        .mark_read(&org("org_acme"), third, epoch())
        .await
        .unwrap());
    assert!(
        !deliveries
            .mark_read(&org("org_other"), third, epoch())
            .await
            .unwrap(),
        "not theirs"
    );
    let page = deliveries.feed(&org("org_acme"), None, 10).await.unwrap();
    let read: Vec<bool> = page.iter().map(|e| e.read_at.is_some()).collect();
    assert_eq!(read, [false, false, true, false, false, false, false]);
}

/// A delivery is created once per event and destination, updated only at the version
/// it was read at, and listed in the retry index while pending and due.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deliveries_are_created_once_guarded_and_indexed_while_pending() {
    let f = fixture().await;
    let deliveries = &f.deliveries;
    let target = Target::Webhook {
        webhook_id: WebhookId::generate(),
    };
    let mut delivery = Delivery::new(
        notification("org_acme", 1, epoch()),
        target.clone(),
        epoch(),
    );
    assert!(deliveries.create_delivery(&delivery).await.unwrap());
    assert!(
        !deliveries.create_delivery(&delivery).await.unwrap(),
        "once"
    );
    let shard = delivery.due().unwrap().shard();
    let due = deliveries.due_deliveries(shard, epoch(), 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].target_id, target.id());
    delivery.attempts = 1;
    delivery.next_attempt_at = Some(epoch().plus_seconds(300));
    delivery.version = 1;
    deliveries.update_delivery(&delivery, 0).await.unwrap();
    assert_eq!(
        deliveries.update_delivery(&delivery, 0).await,
        Err(StoreError::Conflict)
    );
    assert!(
        deliveries
            .due_deliveries(shard, epoch(), 10)
            .await
            .unwrap()
            .is_empty(),
        "not yet due"
    );
    assert_eq!(
        deliveries
            .due_deliveries(shard, epoch().plus_seconds(300), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    delivery.status = DeliveryStatus::Delivered;
    delivery.next_attempt_at = None;
    delivery.version = 2;
    deliveries.update_delivery(&delivery, 1).await.unwrap();
    assert!(deliveries
        .due_deliveries(shard, epoch().plus_seconds(86_400), 10)
        .await
        .unwrap()
        .is_empty());
    let stored = deliveries
        .delivery(delivery.event_id(), target.id())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, delivery);
}

/// Attempts are listed newest first, per organisation, in pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn attempts_are_listed_newest_first_per_organisation() {
    let f = fixture().await;
    let deliveries = &f.deliveries;
    let target = Target::Email {
        contact_id: ContactId::generate(),
    };
    for n in 1..=5u32 {
        deliveries
            .record_attempt(&DeliveryAttempt {
                organization_id: org("org_acme"),
                event_id: "evt_01jd4x8m2q7r5t9v3w6y0z1a2b_0000000001".into(),
                target: target.clone(),
                destination: "ops@acme.example".into(),
                attempt: n,
                at: epoch().plus_seconds(u64::from(n)),
                status: None,
                latency_ms: 3,
                outcome: AttemptOutcome::Retrying,
                error: Some("the email service did not accept the message".into()),
                detail: Some(format!("MessageRejected: attempt {n}")),
            })
            .await
            .unwrap();
    }
    let first = deliveries
        .attempts(&org("org_acme"), None, 2)
        .await
        .unwrap();
    assert_eq!(first.iter().map(|a| a.attempt).collect::<Vec<_>>(), [5, 4]);
    assert_eq!(
        first[0].detail.as_deref(),
        Some("MessageRejected: attempt 5"),
        "the operator's detail reads back"
    );
    let cursor = first.last().unwrap().sort_key();
    let next = deliveries
        .attempts(&org("org_acme"), Some(&cursor), 10)
        .await
        .unwrap();
    assert_eq!(
        next.iter().map(|a| a.attempt).collect::<Vec<_>>(),
        [3, 2, 1]
    );
    assert!(deliveries
        .attempts(&org("org_other"), None, 10)
        .await
        .unwrap()
        .is_empty());
}
