//! An organisation's key policy, on every store: its admins' own keys are issued
//! inside it and only inside it, and not at all without one.

use super::*;
use keyroll_core::service::KeyPolicyRequest;

fn own_key(org: &OrganizationId) -> keyroll_core::service::NewKey {
    let mut key = new_key(KeyClass::Server);
    key.organization_id = org.clone();
    key.scopes = vec![Scope::parse("charges:read").unwrap()];
    key.rate_limit = 10;
    key
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn own_keys_are_issued_inside_the_policy_only() {
    let f = fixture().await;
    let org = OrganizationId::parse("org_self").unwrap();
    let admin = keyroll_core::ids::Actor::parse("customer:org_self/ada").unwrap();
    let refused = f
        .keyroll
        .issue_own_key(own_key(&org), &admin)
        .await
        .unwrap_err();
    assert!(matches!(refused, Error::Forbidden(_)), "{refused:?}");
    assert!(f.store.key_policy(&org).await.unwrap().is_none());

    let policy = f
        .keyroll
        .set_key_policy(
            &org,
            KeyPolicyRequest {
                allowed_scopes: vec![
                    Scope::parse("charges:read").unwrap(),
                    Scope::parse("charges:read").unwrap(),
                ],
                max_rate_limit: 10,
                max_keys: 2,
                classes: vec![KeyClass::Server],
            },
            &f.actor(),
        )
        .await
        .unwrap();
    assert_eq!(policy.allowed_scopes.len(), 1, "deduplicated");
    assert_eq!(
        f.store.key_policy(&org).await.unwrap(),
        Some(policy.clone())
    );
    // Another organisation's policy is its own.
    assert!(f
        .store
        .key_policy(&OrganizationId::parse("org_acme").unwrap())
        .await
        .unwrap()
        .is_none());

    let issued = f
        .keyroll
        .issue_own_key(own_key(&org), &admin)
        .await
        .unwrap();
    assert_eq!(code(&f, issued.secret.expose()).await, "VALID");
    let mut fast = own_key(&org);
    fast.rate_limit = 11;
    let mut embedded = own_key(&org);
    embedded.class = KeyClass::Embedded;
    for (request, field) in [(fast, "rateLimit"), (embedded, "class")] {
        let refused = f.keyroll.issue_own_key(request, &admin).await.unwrap_err();
        assert!(
            matches!(&refused, Error::Conflict(Conflict::OutsidePolicy { field: at, .. }) if *at == field),
            "{refused:?}"
        );
    }
    f.keyroll
        .issue_own_key(own_key(&org), &admin)
        .await
        .unwrap();
    let full = f
        .keyroll
        .issue_own_key(own_key(&org), &admin)
        .await
        .unwrap_err();
    assert!(
        matches!(&full, Error::Conflict(Conflict::OutsidePolicy { field, .. }) if *field == "maxKeys"),
        "{full:?}"
    );

    // A policy of the wrong shape is refused and the stored one stays.
    let bad = f
        .keyroll
        .set_key_policy(
            &org,
            KeyPolicyRequest {
                allowed_scopes: vec![],
                max_rate_limit: 10,
                max_keys: 0,
                classes: vec![KeyClass::Server],
            },
            &f.actor(),
        )
        .await
        .unwrap_err();
    assert!(matches!(bad, Error::Invalid { .. }), "{bad:?}");
    assert_eq!(
        f.store.key_policy(&org).await.unwrap(),
        Some(policy.clone())
    );

    // A put replaces the policy whole.
    let mut wider = policy;
    wider.max_keys = 10;
    wider.classes.push(KeyClass::Embedded);
    f.store.put_key_policy(&wider).await.unwrap();
    assert_eq!(f.store.key_policy(&org).await.unwrap(), Some(wider));
}
