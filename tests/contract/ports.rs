//! Each port method called directly, with what its documentation promises: the methods
//! the service reaches only in passing (uses, the emergency log, the compliance index,
//! snapshots, counts, idempotency records, the outbox, leases) and the queue, vault and
//! keyed-MAC ports. `every_port_method_has_a_contract_test` keeps it complete.

use keyroll_core::compliance::{ComplianceSnapshot, KeyComplianceStatus};
use keyroll_core::index::{shard_of, CompliancePartition, SortRange};
use keyroll_core::notification::{Notification, OutboxMessage};
use keyroll_core::secret::RawSecret;
use keyroll_core::service::Caller;
use keyroll_core::usage::UseRecord;

use super::*;

#[tokio::test]
async fn a_use_is_recorded_once_a_minute_and_aged_days_are_forgotten() {
    let f = fixture().await;
    let issued = issue(&f).await;
    let hash = LookupHash::of(issued.secret.expose());
    let store = &f.store;

    assert!(store
        .record_use(&hash, &UseRecord::new(epoch(), 3))
        .await
        .unwrap());
    // The same minute again: nothing written.
    assert!(!store
        .record_use(&hash, &UseRecord::new(epoch().plus_seconds(30), 5))
        .await
        .unwrap());
    let record = store.secret(&hash).await.unwrap().unwrap();
    assert_eq!(record.last_used_at, Some(epoch()));
    assert_eq!(record.daily_uses.get("2026-01-01"), Some(&3));

    assert!(store
        .record_use(&hash, &UseRecord::new(epoch().plus_seconds(60), 2))
        .await
        .unwrap());
    let record = store.secret(&hash).await.unwrap().unwrap();
    assert_eq!(record.last_used_at, Some(epoch().plus_seconds(60)));
    assert_eq!(record.daily_uses.get("2026-01-01"), Some(&5), "added up");

    // A use ten days on forgets the first day in the same write.
    let later = epoch().plus_seconds(10 * 86_400);
    assert!(store
        .record_use(
            &hash,
            &UseRecord {
                at: later,
                uses: 1,
                forget_days: vec!["2026-01-01".into()],
            },
        )
        .await
        .unwrap());
    let record = store.secret(&hash).await.unwrap().unwrap();
    assert_eq!(record.daily_uses.get("2026-01-01"), None);
    assert_eq!(record.daily_uses.get(&later.day()), Some(&1));

    // A secret that is not there: nothing written, nothing created.
    let unknown = LookupHash::of("sk_live_no-such-secret");
    assert!(!store
        .record_use(&unknown, &UseRecord::new(epoch(), 1))
        .await
        .unwrap());
    assert_eq!(store.secret(&unknown).await.unwrap(), None);
}

/// The regression of issue 17: DynamoDB refused the month's query (an empty
/// `begins_with` prefix), so the emergency log could not be read at all there.
#[tokio::test]
async fn emergencies_are_listed_by_month_newest_first_and_paged() {
    let f = fixture().await;
    assert_eq!(f.store.emergencies("2026-01", None, 10).await.unwrap(), []);

    let mut rotations = Vec::new();
    for advance in [0, 60, 31 * 86_400] {
        f.clock.advance(advance);
        let issued = issue(&f).await;
        let rotated = f
            .keyroll
            .emergency_rotation(
                &issued.key.id,
                EmergencyRequest {
                    reason: Reason::parse("posted in a public gist").unwrap(),
                    grace_seconds: None,
                    source: EmergencySource::Operator,
                },
                &f.actor(),
            )
            .await
            .unwrap();
        rotations.push((rotated.rotation.id.clone(), issued.key.id.clone()));
    }

    let january = f.store.emergencies("2026-01", None, 10).await.unwrap();
    let listed: Vec<_> = january
        .iter()
        .map(|e| (e.rotation_id.clone(), e.key_id.clone()))
        .collect();
    assert_eq!(listed, [rotations[1].clone(), rotations[0].clone()]);
    assert_eq!(january[0].at, epoch().plus_seconds(60));
    assert_eq!(january[1].at, epoch());

    let first = f.store.emergencies("2026-01", None, 1).await.unwrap();
    assert_eq!(first, january[..1]);
    let rest = f
        .store
        .emergencies("2026-01", Some(&first[0]), 10)
        .await
        .unwrap();
    assert_eq!(rest, january[1..]);

    let february = f.store.emergencies("2026-02", None, 10).await.unwrap();
    assert_eq!(february.len(), 1);
    assert_eq!(february[0].rotation_id, rotations[2].0);
    assert_eq!(f.store.emergencies("2025-12", None, 10).await.unwrap(), []);
}

#[tokio::test]
async fn compliance_entries_of_a_partition_come_oldest_first_within_a_range() {
    let f = fixture().await;
    let mut keys = Vec::new();
    for _ in 0..3 {
        keys.push(issue(&f).await.key.id);
        f.clock.advance(10);
    }
    let everyone = CompliancePartition {
        status: KeyComplianceStatus::Compliant,
        class: KeyClass::Server,
        organization: None,
    };
    let ids = |entries: &[keyroll_core::index::ComplianceEntry]| {
        entries.iter().map(|e| e.key_id.clone()).collect::<Vec<_>>()
    };

    let (all, more) = f
        .store
        .compliance_entries(&everyone, &SortRange::all(), 10)
        .await
        .unwrap();
    assert_eq!(ids(&all), keys);
    assert!(!more);
    assert_eq!(all[0].created_at, epoch());
    assert_eq!(all[0].organization_id.as_str(), "org_acme");

    let (two, more) = f
        .store
        .compliance_entries(&everyone, &SortRange::all(), 2)
        .await
        .unwrap();
    assert_eq!(ids(&two), keys[..2]);
    assert!(more, "a third entry is in the range");

    let (older, _) = f
        .store
        .compliance_entries(
            &everyone,
            &SortRange::created_before(epoch().plus_seconds(20)),
            10,
        )
        .await
        .unwrap();
    assert_eq!(ids(&older), keys[..2]);

    let (acme, _) = f
        .store
        .compliance_entries(
            &CompliancePartition {
                organization: Some(OrganizationId::parse("org_acme").unwrap()),
                ..everyone.clone()
            },
            &SortRange::all(),
            10,
        )
        .await
        .unwrap();
    assert_eq!(ids(&acme), keys);
    for partition in [
        CompliancePartition {
            organization: Some(OrganizationId::parse("org_other").unwrap()),
            ..everyone.clone()
        },
        CompliancePartition {
            status: KeyComplianceStatus::Overdue,
            ..everyone.clone()
        },
        CompliancePartition {
            class: KeyClass::Embedded,
            ..everyone.clone()
        },
    ] {
        let (entries, more) = f
            .store
            .compliance_entries(&partition, &SortRange::all(), 10)
            .await
            .unwrap();
        assert_eq!(entries, [], "{partition:?}");
        assert!(!more);
    }
}

#[tokio::test]
async fn a_day_snapshot_replaces_that_days_and_snapshots_come_newest_first() {
    let f = fixture().await;
    assert_eq!(f.store.snapshots(10).await.unwrap(), []);
    for (day, active) in [("2026-01-01", 4), ("2026-01-02", 5), ("2026-01-03", 6)] {
        f.store
            .put_snapshot(&ComplianceSnapshot::new(day.into(), active, 1, 1))
            .await
            .unwrap();
    }
    let replaced = ComplianceSnapshot::new("2026-01-02".into(), 8, 0, 2);
    f.store.put_snapshot(&replaced).await.unwrap();

    let latest = f.store.snapshots(2).await.unwrap();
    assert_eq!(
        latest,
        [
            ComplianceSnapshot::new("2026-01-03".into(), 6, 1, 1),
            replaced
        ]
    );
    let all = f.store.snapshots(10).await.unwrap();
    let days: Vec<_> = all.iter().map(|s| s.date.as_str()).collect();
    assert_eq!(days, ["2026-01-03", "2026-01-02", "2026-01-01"]);
}

#[tokio::test]
async fn active_keys_are_counted_by_class_and_shard() {
    let f = fixture().await;
    let mut servers = Vec::new();
    for _ in 0..3 {
        servers.push(issue(&f).await.key.id);
    }
    f.keyroll
        .issue_key(new_key(KeyClass::Embedded), &f.actor())
        .await
        .unwrap();
    let mut totals = [0, 0];
    for shard in 0..INDEX_SHARDS {
        totals[0] += f.store.count_active(KeyClass::Server, shard).await.unwrap();
        totals[1] += f
            .store
            .count_active(KeyClass::Embedded, shard)
            .await
            .unwrap();
    }
    assert_eq!(totals, [3, 1]);
    let shard = shard_of(servers[0].as_str());
    let in_shard = servers
        .iter()
        .filter(|id| shard_of(id.as_str()) == shard)
        .count() as u64;
    assert_eq!(
        f.store.count_active(KeyClass::Server, shard).await.unwrap(),
        in_shard
    );
}

#[tokio::test]
async fn an_idempotent_request_is_recorded_with_its_change() {
    let f = fixture().await;
    let intent = f
        .keyroll
        .idempotency_intent(
            &f.actor(),
            &keyroll_core::idempotency::IdempotentOperation::IssueKey,
            "contract-request-0001",
            b"{}",
        )
        .await
        .unwrap();
    assert_eq!(f.store.idempotency(&intent.id).await.unwrap(), None);
    let issued = f
        .keyroll
        .issue_key(
            new_key(KeyClass::Server),
            Caller::new(f.actor()).with_idempotency(intent.clone()),
        )
        .await
        .unwrap();

    let record = f.store.idempotency(&intent.id).await.unwrap().unwrap();
    assert_eq!(record.id, intent.id);
    assert_eq!(record.fingerprint, intent.fingerprint);
    assert_eq!(record.resource_id, issued.key.id.as_str());
    assert_eq!(
        record.outcome,
        keyroll_core::idempotency::RequestOutcome::Created
    );
    assert_eq!(record.created_at, epoch());
    assert!(record.expires_at > epoch());
    let sealed = record.sealed_secret.as_deref().expect("the secret, sealed");
    assert!(!sealed.contains(&issued.secret.expose()[16..]));
    assert_eq!(
        intent.open(sealed).unwrap().expose(),
        issued.secret.expose(),
        "only the request's own key opens it"
    );
    assert_eq!(f.store.idempotency(&"0".repeat(64)).await.unwrap(), None);
}

#[tokio::test]
async fn the_outbox_pages_in_order_within_a_shard_and_removal_is_idempotent() {
    let f = fixture().await;
    let issued = issue(&f).await;
    let key = issued.key.id.clone();
    let shard = shard_of(key.as_str());
    f.schedule_and_cancel(&key, 2).await;

    let all = f.store.outbox(shard, None, 100).await.unwrap();
    assert!(all.len() >= 4, "scheduled and cancelled, twice: {all:?}");
    assert!(all.iter().all(|e| e.shard == shard));
    assert!(all.windows(2).all(|w| w[0].sort_key < w[1].sort_key));
    let notifications: Vec<&Notification> = all
        .iter()
        .filter_map(|e| match &e.message {
            OutboxMessage::Notify { notification } => Some(notification.as_ref()),
            OutboxMessage::DeleteVaultSecret { .. } => None,
        })
        .collect();
    assert!(notifications.iter().all(|n| n.key_id == key));

    let first = f.store.outbox(shard, None, 1).await.unwrap();
    assert_eq!(first, all[..1]);
    let rest = f
        .store
        .outbox(shard, Some(&first[0].sort_key), 100)
        .await
        .unwrap();
    assert_eq!(rest, all[1..]);
    let other = (shard + 1) % INDEX_SHARDS;
    assert_eq!(f.store.outbox(other, None, 100).await.unwrap(), []);

    let done = [(shard, all[0].sort_key.clone())];
    f.store.remove_outbox(&done).await.unwrap();
    f.store.remove_outbox(&done).await.unwrap();
    assert_eq!(f.store.outbox(shard, None, 100).await.unwrap(), all[1..]);
    let everything: Vec<_> = all.iter().map(|e| (e.shard, e.sort_key.clone())).collect();
    f.store.remove_outbox(&everything).await.unwrap();
    assert_eq!(f.store.outbox(shard, None, 100).await.unwrap(), []);
    f.store.remove_outbox(&[]).await.unwrap();
}

#[tokio::test]
async fn a_lease_is_held_by_one_owner_until_it_expires_or_is_released() {
    let f = fixture().await;
    let store = &f.store;
    let now = epoch();
    let until = now.plus_seconds(60);
    assert!(store.try_lease("outbox-0", "a", until, now).await.unwrap());
    assert!(!store.try_lease("outbox-0", "b", until, now).await.unwrap());
    assert!(
        store.try_lease("outbox-1", "b", until, now).await.unwrap(),
        "leases are by name"
    );
    assert!(
        store
            .try_lease("outbox-0", "a", now.plus_seconds(90), now)
            .await
            .unwrap(),
        "its owner renews it"
    );
    // Expired: another owner takes it.
    let later = now.plus_seconds(90);
    assert!(store
        .try_lease("outbox-0", "b", later.plus_seconds(60), later)
        .await
        .unwrap());
    // Only the holder's release counts.
    store.release_lease("outbox-0", "a").await.unwrap();
    assert!(!store
        .try_lease("outbox-0", "c", later.plus_seconds(60), later)
        .await
        .unwrap());
    store.release_lease("outbox-0", "b").await.unwrap();
    assert!(store
        .try_lease("outbox-0", "c", later.plus_seconds(60), later)
        .await
        .unwrap());
    store.release_lease("no-such-lease", "c").await.unwrap();
}

#[tokio::test]
async fn a_published_notification_is_accepted_again_but_delivered_once() {
    let f = fixture().await;
    let issued = issue(&f).await;
    f.schedule_and_cancel(&issued.key.id, 2).await;
    let shard = shard_of(issued.key.id.as_str());
    let notifications: Vec<Notification> = f
        .store
        .outbox(shard, None, 100)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.message {
            OutboxMessage::Notify { notification } => Some(*notification),
            OutboxMessage::DeleteVaultSecret { .. } => None,
        })
        .collect();
    assert!(notifications.len() >= 3);
    let ids = |batch: &[Notification]| -> Vec<String> {
        batch.iter().map(|n| n.event_id.clone()).collect()
    };

    let (queue, inbox) = f.queue().await;
    assert_eq!(queue.publish(&[]).await.unwrap(), Vec::<String>::new());
    let accepted = queue.publish(&notifications[..2]).await.unwrap();
    assert_eq!(accepted, ids(&notifications[..2]));
    // A retry of the batch with one more: every id accepted, the copies dropped.
    let mut accepted = queue.publish(&notifications).await.unwrap();
    accepted.sort();
    let mut expected = ids(&notifications);
    expected.sort();
    assert_eq!(accepted, expected);

    let delivered = inbox.take().await;
    assert_eq!(delivered, notifications, "each once, in order");
}

#[tokio::test]
async fn a_vault_secret_is_put_once_read_back_and_deleted() {
    let f = fixture().await;
    let vault = f.vault().await;
    let name = format!("keyroll/contract/{}", RotationId::generate());
    let secret = RawSecret::from_string("sk_live_contract_vault_secret_value".into());

    assert!(vault.get(&name).await.unwrap().is_none());
    vault
        .put(&name, &secret, &[("keyroll:purpose", "contract")])
        .await
        .unwrap();
    assert_eq!(
        vault.get(&name).await.unwrap().unwrap().expose(),
        secret.expose()
    );
    let again = RawSecret::from_string("sk_live_another_value".into());
    let refused = vault.put(&name, &again, &[]).await.unwrap_err();
    let told = keyroll_core::error::Chain(&refused).to_string();
    assert!(
        told.to_lowercase().contains("exists"),
        "a name holds one secret: {told}"
    );
    assert!(!told.contains(again.expose()), "no secret in the error");
    assert!(!format!("{refused:?}").contains(again.expose()));

    assert_eq!(
        vault.get(&name).await.unwrap().unwrap().expose(),
        secret.expose()
    );
    vault.delete(&name).await.unwrap();
    assert!(vault.get(&name).await.unwrap().is_none());
    vault.delete(&name).await.unwrap();
}

#[tokio::test]
async fn the_keyed_mac_is_stable_and_verifies_only_its_own_message() {
    let f = fixture().await;
    let message = keyroll_core::mac::message("contract", &["key", "head"]);
    let tag = f.mac.mac(&message).await.unwrap();
    assert_eq!(tag.len(), 32);
    assert_eq!(f.mac.mac(&message).await.unwrap(), tag, "deterministic");
    assert!(f.mac.verify(&message, &tag).await.unwrap());

    let other = keyroll_core::mac::message("contract", &["key", "tail"]);
    assert_ne!(f.mac.mac(&other).await.unwrap(), tag);
    assert!(!f.mac.verify(&other, &tag).await.unwrap());
    let mut flipped = tag.clone();
    flipped[0] ^= 1;
    assert!(!f.mac.verify(&message, &flipped).await.unwrap());
    // What the MAC derives from (KMS on DynamoDB fixtures) refuses a tag of the local
    // key, and a forged one; its own tags are tested in tests/contract_dynamodb.rs.
    assert!(!f.mac.verify_original(&message, &flipped).await.unwrap());
}

/// Each method of each port (every `pub trait` of keyroll-core but the few named
/// below) is called directly, on its port, somewhere in this contract suite: a method
/// added to a port without a contract test fails here, and so does a new port.
#[test]
fn every_port_method_has_a_contract_test() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    // The name the suite calls each port by.
    let receivers = [
        ("Store", "store"),
        ("DeliveryStore", "deliveries"),
        ("NotificationQueue", "queue"),
        ("SecretVault", "vault"),
        ("KeyedMac", "f.mac"),
    ];
    // Traits that are not storage ports, or whose one real adapter has its own suite.
    let elsewhere = [
        (
            "Clock",
            "the time source: ManualClock in every test, SystemClock in Lambda",
        ),
        (
            "Mailer",
            "SES on moto and the file mailer: tests/notifier.rs",
        ),
        (
            "TextInput",
            "not a port: binds a validated text type to its rule (rules.rs)",
        ),
        (
            "WebhookSender",
            "one adapter, HTTP to real receivers on loopback: tests/notifier.rs",
        ),
    ];
    let suite = code_without_comments(&format!("{root}/tests/contract"));
    let mut sources = Vec::new();
    collect_rust_files(
        std::path::Path::new(&format!("{root}/shared/src")),
        &mut sources,
    );
    let mut missing = Vec::new();
    let mut seen = Vec::new();
    for path in sources {
        let source = std::fs::read_to_string(&path).unwrap();
        for (port, methods) in traits(&source) {
            seen.push(port.clone());
            if elsewhere.iter().any(|(name, _)| *name == port) {
                continue;
            }
            let Some((_, receiver)) = receivers.iter().find(|(name, _)| *name == port) else {
                missing.push(format!(
                    "{port} (a new port in {}: add it here with its contract tests)",
                    path.display()
                ));
                continue;
            };
            assert!(!methods.is_empty(), "no methods found for {port}");
            for method in methods {
                if !calls(&suite, receiver, &method) {
                    missing.push(format!("{port}::{method}"));
                }
            }
        }
    }
    for (port, _) in receivers.iter().chain(elsewhere.iter()) {
        assert!(
            seen.iter().any(|p| p == port),
            "{port} is no longer a trait of keyroll-core"
        );
    }
    assert!(
        missing.is_empty(),
        "port methods without a contract test in tests/contract: {missing:?}"
    );
}

fn collect_rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect_rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The suite's code, `//` comments dropped and white space removed, so a call reads
/// `f.store.name(` however rustfmt broke its lines.
fn code_without_comments(dir: &str) -> String {
    let mut files = Vec::new();
    collect_rust_files(std::path::Path::new(dir), &mut files);
    let mut code = String::new();
    for file in files {
        for line in std::fs::read_to_string(file).unwrap().lines() {
            let line = line.split("//").next().unwrap_or_default();
            code.extend(line.chars().filter(|c| !c.is_whitespace()));
        }
    }
    code
}

/// Each `pub trait` in `source` with its methods' names: the `fn` lines up to the
/// trait's closing brace (the first line that is just `}`).
fn traits(source: &str) -> Vec<(String, Vec<String>)> {
    let mut found = Vec::new();
    let mut lines = source.lines();
    while let Some(line) = lines.next() {
        let Some(rest) = line.strip_prefix("pub trait ") else {
            continue;
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let mut methods = Vec::new();
        for line in lines.by_ref() {
            if line == "}" {
                break;
            }
            let line = line.trim_start();
            let Some(signature) = line
                .strip_prefix("async fn ")
                .or_else(|| line.strip_prefix("fn "))
            else {
                continue;
            };
            let method: String = signature
                .trim_start_matches("r#")
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            assert!(
                !method.is_empty(),
                "a method of {name} without a name: {line}"
            );
            methods.push(method);
        }
        found.push((name, methods));
    }
    found
}

/// Whether `code` (whitespace removed) calls `receiver.method(`, `receiver` being a
/// whole name (`f.store` or `store`, not `restore`).
fn calls(code: &str, receiver: &str, method: &str) -> bool {
    let call = format!("{receiver}.{method}(");
    code.match_indices(&call).any(|(at, _)| {
        !code[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

/// A rotation read through its key: one read; another key's id finds nothing.
#[tokio::test]
async fn a_rotation_is_read_through_its_key() {
    let f = fixture().await;
    let first = issue(&f).await;
    let other = issue(&f).await;
    let scheduled = f
        .keyroll
        .schedule_rotation(&first.key.id, RotationRequest::default(), &f.actor())
        .await
        .unwrap();
    let id = &scheduled.rotation.id;
    let read = f.store.rotation_of_key(&first.key.id, id).await.unwrap();
    assert_eq!(
        read.as_ref(),
        Some(&f.store.rotation(id).await.unwrap().unwrap())
    );
    assert_eq!(
        f.store.rotation_of_key(&other.key.id, id).await.unwrap(),
        None
    );
    assert_eq!(
        f.store
            .rotation_of_key(&first.key.id, &keyroll_core::ids::RotationId::generate())
            .await
            .unwrap(),
        None
    );
}
