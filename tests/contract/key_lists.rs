//! The operator's key lists and the prefix lookup, on every store: newest first, by
//! organisation and by status, paged without loss or repeat; and each page costs the
//! same requests and items at 1,000 and at 10,000 keys.

use super::*;
use keyroll_core::index::{KeyListFilter, ListedKey};
use keyroll_core::key::KeyStatus;
use keyroll_core::service::KeyScope;

/// Every key of the list, page after page of `limit`.
async fn whole_list(f: &Fixture, filter: &KeyListFilter, limit: usize) -> Vec<String> {
    let mut ids = Vec::new();
    let mut before: Option<ListedKey> = None;
    loop {
        let page = f
            .keyroll
            .list_keys(filter, before.as_ref(), limit)
            .await
            .unwrap();
        ids.extend(page.keys.iter().map(|k| k.id.to_string()));
        match page.next {
            Some(next) => before = Some(next),
            None => return ids,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lists_are_newest_first_by_organisation_and_status() {
    let f = fixture().await;
    let other = OrganizationId::parse("org_other").unwrap();
    let mut acme = Vec::new();
    let mut all = Vec::new();
    for i in 0..7 {
        f.clock.advance(60);
        let mut request = new_key(KeyClass::ALL[i % 2]);
        if i % 3 == 2 {
            request.organization_id = other.clone();
        }
        let issued = f.keyroll.issue_key(request, &f.actor()).await.unwrap();
        if i % 3 != 2 {
            acme.push(issued.key.id.to_string());
        }
        all.push(issued.key.id.to_string());
    }
    all.reverse();
    acme.reverse();
    let revoked = acme[1].clone();
    f.keyroll
        .revoke_key(
            &keyroll_core::ids::KeyId::parse(&revoked).unwrap(),
            Reason::parse("gone").unwrap(),
            KeyScope::Any,
            &f.actor(),
        )
        .await
        .unwrap();

    // Filters on the whole table would include other tests' keys on a shared store:
    // every fixture has its own table, so the lists are exactly these.
    assert_eq!(whole_list(&f, &KeyListFilter::default(), 3).await, all);
    let entries = f
        .store
        .list_keys(&KeyListFilter::default(), None, 2)
        .await
        .unwrap();
    let listed: Vec<_> = entries.iter().map(|e| e.key_id.to_string()).collect();
    assert_eq!(listed, all[..2]);
    let rest = f
        .store
        .list_keys(&KeyListFilter::default(), entries.last(), 100)
        .await
        .unwrap();
    assert_eq!(rest.len(), all.len() - 2);
    let acme_id = new_key(KeyClass::Server).organization_id;
    let by_org = KeyListFilter {
        organization: Some(acme_id.clone()),
        status: None,
    };
    assert_eq!(whole_list(&f, &by_org, 2).await, acme);
    let revoked_only = KeyListFilter {
        organization: Some(acme_id.clone()),
        status: Some(KeyStatus::Revoked),
    };
    assert_eq!(
        whole_list(&f, &revoked_only, 10).await,
        std::slice::from_ref(&revoked)
    );
    let active = KeyListFilter {
        organization: None,
        status: Some(KeyStatus::Active),
    };
    let mut expected: Vec<_> = all.iter().filter(|id| **id != revoked).cloned().collect();
    assert_eq!(whole_list(&f, &active, 4).await, expected);
    expected.retain(|id| acme.contains(id));
    let acme_active = KeyListFilter {
        organization: Some(acme_id),
        status: Some(KeyStatus::Active),
    };
    assert_eq!(whole_list(&f, &acme_active, 100).await, expected);
}

/// A key is found by the prefix of any of its secrets, the old one after a rotation
/// included; an unknown prefix finds nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_key_is_found_by_any_of_its_secrets_prefixes() {
    let f = fixture().await;
    let issued = issue(&f).await;
    let _noise = issue(&f).await;
    let old_prefix = issued.key.versions[0].prefix.clone();
    let rotated = f
        .keyroll
        .schedule_rotation(
            &issued.key.id,
            RotationRequest {
                start: Start::Now,
                ..Default::default()
            },
            &f.actor(),
        )
        .await
        .unwrap();
    let new_prefix = rotated.rotation.new_prefix.clone();
    for prefix in [&old_prefix, &new_prefix] {
        let found = f
            .keyroll
            .keys_by_prefix(prefix, &KeyListFilter::default())
            .await
            .unwrap();
        let ids: Vec<_> = found.iter().map(|k| k.id.clone()).collect();
        assert_eq!(ids, std::slice::from_ref(&issued.key.id), "{prefix}");
    }
    let raw = f.store.keys_with_prefix(&old_prefix, 10).await.unwrap();
    assert_eq!(raw, std::slice::from_ref(&issued.key.id));
    assert!(f
        .keyroll
        .keys_by_prefix("sk_live_00000000", &KeyListFilter::default())
        .await
        .unwrap()
        .is_empty());
    let elsewhere = KeyListFilter {
        organization: Some(OrganizationId::parse("org_other").unwrap()),
        status: None,
    };
    assert!(f
        .keyroll
        .keys_by_prefix(&old_prefix, &elsewhere)
        .await
        .unwrap()
        .is_empty());
}

/// What a first page costs under every filter: requests and items read, as the store
/// counts them.
async fn page_costs(f: &Fixture, prefix: &str) -> Vec<(u64, u64)> {
    let bulk = OrganizationId::parse("org_bulk").unwrap();
    let filters = [
        KeyListFilter::default(),
        KeyListFilter {
            organization: Some(bulk.clone()),
            status: None,
        },
        KeyListFilter {
            organization: None,
            status: Some(KeyStatus::Active),
        },
        KeyListFilter {
            organization: Some(bulk),
            status: Some(KeyStatus::Active),
        },
    ];
    let counted = || match (&f.dynamo, &f.memory) {
        (Some(dynamo), _) => (dynamo.request_count(), dynamo.items_read()),
        (None, Some(memory)) => memory.reads(),
        (None, None) => unreachable!("every fixture has a store"),
    };
    let mut costs = Vec::new();
    for filter in &filters {
        let before = counted();
        let page = f.keyroll.list_keys(filter, None, 50).await.unwrap();
        assert_eq!(page.keys.len(), 50);
        let after = counted();
        costs.push((after.0 - before.0, after.1 - before.1));
    }
    let before = counted();
    let found = f
        .keyroll
        .keys_by_prefix(prefix, &KeyListFilter::default())
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    let after = counted();
    costs.push((after.0 - before.0, after.1 - before.1));
    costs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_page_costs_the_same_at_1000_and_10000_keys() {
    let f = fixture().await;
    let load = |range: std::ops::Range<usize>| {
        range
            .map(|i| keyroll_tests::fixture::bulk_key(i, epoch().minus_seconds(i as u64)))
            .collect::<Vec<_>>()
    };
    let first = load(0..1_000);
    let prefix = first[500].0.versions[0].prefix.clone();
    load_into(&f, first).await;
    let small = page_costs(&f, &prefix).await;
    load_into(&f, load(1_000..10_000)).await;
    let large = page_costs(&f, &prefix).await;
    assert_eq!(small, large, "(requests, items) per page and filter");
}

async fn load_into(
    f: &Fixture,
    keys: Vec<(keyroll_core::key::Key, keyroll_core::key::SecretRecord)>,
) {
    match (&f.dynamo, &f.memory) {
        (Some(dynamo), _) => keyroll_tests::fixture::bulk_load(dynamo, &keys).await,
        (None, Some(memory)) => memory.bulk_load_for_benchmarks(&keys),
        (None, None) => unreachable!("every fixture has a store"),
    }
}
