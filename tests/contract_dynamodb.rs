//! The store contract against Amazon DynamoDB Local, over real HTTP through the AWS
//! SDK. Needs AWS_ENDPOINT_URL_DYNAMODB (scripts/test sets it); fails without it.

use keyroll_tests::fixture::dynamodb as fixture;

#[path = "contract/mod.rs"]
mod contract;

mod dynamodb_only {
    use aws_sdk_dynamodb::types::AttributeValue;
    use keyroll_core::audit::ChainProblem;
    use keyroll_core::ids::{KeyName, OrganizationId};
    use keyroll_core::service::Start;
    use keyroll_core::service::{NewKey, RotationRequest};
    use keyroll_tests::fixture::dynamodb;

    fn new_key() -> NewKey {
        NewKey {
            organization_id: OrganizationId::parse("org_acme").unwrap(),
            name: KeyName::parse("k").unwrap(),
            scopes: vec![],
            rate_limit: 10,
            class: Default::default(),
            expires_at: None,
        }
    }

    /// An auditor's check reads the real table: an audit item deleted or edited behind
    /// keyroll's back is reported with the first broken link.
    #[tokio::test]
    async fn tampering_with_the_table_is_detected() {
        let f = dynamodb().await;
        let dynamo = f.dynamo.clone().unwrap();
        let issued = f.keyroll.issue_key(new_key(), &f.actor()).await.unwrap();
        f.keyroll
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
        assert!(
            f.keyroll
                .audit_trail(&issued.key.id)
                .await
                .unwrap()
                .report
                .valid
        );

        let pk = AttributeValue::S(format!("KEY#{}", issued.key.id));
        let sk = |seq: u64| AttributeValue::S(format!("AUDIT#{seq:020}"));

        // Edit event 2's reason in place.
        let item = dynamo
            .client()
            .get_item()
            .table_name(dynamo.table())
            .key("pk", pk.clone())
            .key("sk", sk(2))
            .send()
            .await
            .unwrap()
            .item
            .unwrap();
        let original = item["event"].as_s().unwrap().clone();
        let edited = original.replace("scheduled rotation", "nothing happened");
        assert_ne!(edited, original);
        dynamo
            .client()
            .update_item()
            .table_name(dynamo.table())
            .key("pk", pk.clone())
            .key("sk", sk(2))
            .update_expression("SET #e = :e")
            .expression_attribute_names("#e", "event")
            .expression_attribute_values(":e", AttributeValue::S(edited))
            .send()
            .await
            .unwrap();
        let report = f.keyroll.audit_trail(&issued.key.id).await.unwrap().report;
        assert_eq!(
            report.first_broken.unwrap().problem,
            ChainProblem::HashMismatch
        );

        // Delete the last event: the key's head says it existed.
        dynamo
            .client()
            .delete_item()
            .table_name(dynamo.table())
            .key("pk", pk)
            .key("sk", sk(3))
            .send()
            .await
            .unwrap();
        let report = f.keyroll.audit_trail(&issued.key.id).await.unwrap().report;
        assert!(!report.valid);
    }

    /// Someone with write access to the table (not to the KMS key) edits an event and
    /// recomputes every later hash and the key's head, so the plain SHA-256 chain holds:
    /// the head's KMS MAC no longer matches, and the check says so.
    #[tokio::test]
    async fn a_chain_recomputed_without_the_kms_key_is_detected() {
        use keyroll_core::audit::{verify_chain, AuditOrder, ChainHead};
        let f = dynamodb().await;
        let dynamo = f.dynamo.clone().unwrap();
        let issued = f.keyroll.issue_key(new_key(), &f.actor()).await.unwrap();
        let key_id = issued.key.id.clone();
        f.schedule_and_cancel(&key_id, 2).await;
        let before = f.keyroll.audit_trail(&key_id).await.unwrap().report;
        assert!(before.valid && before.authenticated, "{before:?}");

        let mut events = f
            .store
            .audit_events(&key_id, None, AuditOrder::OldestFirst, 100)
            .await
            .unwrap();
        events[1].reason = Some(keyroll_core::ids::Reason::parse("nothing happened").unwrap());
        let mut prev = events[0].hash;
        for event in events.iter_mut().skip(1) {
            event.prev_hash = prev;
            event.hash = event.compute_hash();
            prev = event.hash;
        }
        let head = ChainHead {
            last_seq: events.len() as u64,
            hash: Some(prev),
        };
        assert!(
            verify_chain(&key_id, &events, Some(head)).valid,
            "a consistent forgery"
        );
        let pk = AttributeValue::S(format!("KEY#{key_id}"));
        for event in &events[1..] {
            dynamo
                .client()
                .update_item()
                .table_name(dynamo.table())
                .key("pk", pk.clone())
                .key("sk", AttributeValue::S(format!("AUDIT#{:020}", event.seq)))
                .update_expression("SET #e = :e")
                .expression_attribute_names("#e", "event")
                .expression_attribute_values(
                    ":e",
                    AttributeValue::S(serde_json::to_string(event).unwrap()),
                )
                .send()
                .await
                .unwrap();
        }
        dynamo
            .client()
            .update_item()
            .table_name(dynamo.table())
            .key("pk", pk)
            .key("sk", AttributeValue::S("KEY".into()))
            .update_expression("SET auditHead = :h")
            .expression_attribute_values(":h", AttributeValue::S(prev.to_hex()))
            .send()
            .await
            .unwrap();
        let stored = f
            .store
            .audit_events(&key_id, None, AuditOrder::OldestFirst, 100)
            .await
            .unwrap();
        assert_eq!(stored, events, "the forgery is what the table holds");
        let after = f.keyroll.audit_trail(&key_id).await.unwrap().report;
        assert!(!after.valid && !after.authenticated, "{after:?}");
        assert_eq!(
            after.first_broken.unwrap().problem,
            ChainProblem::HeadNotAuthentic
        );
        // The next change would MAC a head committing to the forgery: refused.
        let refused = f
            .keyroll
            .schedule_rotation(&key_id, Default::default(), &f.actor())
            .await
            .unwrap_err();
        assert!(
            matches!(
                refused,
                keyroll_core::error::Error::Conflict(
                    keyroll_core::error::Conflict::AuditHeadNotAuthentic
                )
            ),
            "{refused:?}"
        );
        let still = f.keyroll.audit_trail(&key_id).await.unwrap().report;
        assert!(!still.valid && !still.authenticated, "not laundered");
    }

    /// A head MACed by KMS itself (version 1, before the key was derived locally) still
    /// verifies — one VerifyMac — and the next change extends it with a version-2 head.
    #[tokio::test]
    async fn a_head_kms_maced_before_the_upgrade_still_verifies_and_is_extended() {
        use keyroll_core::audit::HeadMac;
        let f = dynamodb().await;
        let dynamo = f.dynamo.clone().unwrap();
        let issued = f.keyroll.issue_key(new_key(), &f.actor()).await.unwrap();
        let key_id = issued.key.id.clone();
        let key = f.store.key(&key_id).await.unwrap().unwrap();
        let kms = keyroll_tests::fixture::kms_original().await;
        let tag = kms
            .mac(&HeadMac::message(
                &key_id,
                key.revision,
                &key.audit_head.unwrap(),
            ))
            .await
            .unwrap();
        dynamo
            .client()
            .update_item()
            .table_name(dynamo.table())
            .key("pk", AttributeValue::S(format!("KEY#{key_id}")))
            .key("sk", AttributeValue::S("KEY".into()))
            .update_expression("SET auditHeadMac = :m")
            .expression_attribute_values(
                ":m",
                AttributeValue::M(
                    [
                        ("v".to_owned(), AttributeValue::N("1".into())),
                        ("mac".to_owned(), AttributeValue::S(hex::encode(&tag))),
                    ]
                    .into(),
                ),
            )
            .send()
            .await
            .unwrap();
        let v1 = f.store.key(&key_id).await.unwrap().unwrap();
        assert_eq!(v1.audit_head_mac.as_ref().unwrap().v, HeadMac::KMS_VERSION);
        let report = f.keyroll.audit_trail(&key_id).await.unwrap().report;
        assert!(report.valid && report.authenticated, "{report:?}");
        f.schedule_and_cancel(&key_id, 1).await;
        let v2 = f.store.key(&key_id).await.unwrap().unwrap();
        assert_eq!(v2.audit_head_mac.as_ref().unwrap().v, HeadMac::VERSION);
        let report = f.keyroll.audit_trail(&key_id).await.unwrap().report;
        assert!(report.valid && report.authenticated, "{report:?}");
    }

    /// Verification is one DynamoDB request: a consistent GetItem by lookup hash. The
    /// first use of a secret in a minute adds the one conditional UpdateItem recording
    /// it. A malformed secret costs none.
    #[tokio::test]
    async fn verification_costs_one_request_and_malformed_costs_none() {
        let f = dynamodb().await;
        let dynamo = f.dynamo.clone().unwrap();
        let issued = f.keyroll.issue_key(new_key(), &f.actor()).await.unwrap();

        let before = dynamo.request_count();
        assert!(f
            .keyroll
            .verify(issued.secret.expose())
            .await
            .unwrap()
            .is_valid());
        assert_eq!(
            dynamo.request_count() - before,
            2,
            "GetItem, and the minute's use write"
        );
        let before = dynamo.request_count();
        assert!(f
            .keyroll
            .verify(issued.secret.expose())
            .await
            .unwrap()
            .is_valid());
        assert_eq!(
            dynamo.request_count() - before,
            1,
            "the common case: one read"
        );

        let before = dynamo.request_count();
        assert_eq!(
            f.keyroll.verify("sk_live_not-a-key").await.unwrap().code(),
            "MALFORMED"
        );
        assert_eq!(dynamo.request_count(), before);

        // A state change is one TransactWriteItems after its reads.
        let before = dynamo.request_count();
        f.keyroll
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
        assert_eq!(
            dynamo.request_count() - before,
            2,
            "one GetItem of the key, one transaction"
        );
    }

    /// A table writer without the MAC key erases a key's whole trail: sets its
    /// revision to 0 and removes its head and MAC (leaving the events, then deleting
    /// them too). Neither reads as a valid chain; the next legitimate change is refused
    /// instead of starting a fresh, authenticated chain over the erased one (and the
    /// events a rollback leaves beyond the head are reported).
    #[tokio::test]
    async fn an_erased_chain_is_detected_and_never_laundered() {
        use keyroll_core::error::{Conflict, Error};
        let f = dynamodb().await;
        let dynamo = f.dynamo.clone().unwrap();
        let issued = f.keyroll.issue_key(new_key(), &f.actor()).await.unwrap();
        let key_id = issued.key.id.clone();
        f.schedule_and_cancel(&key_id, 2).await;
        let pk = AttributeValue::S(format!("KEY#{key_id}"));
        let erase = || async {
            dynamo
                .client()
                .update_item()
                .table_name(dynamo.table())
                .key("pk", pk.clone())
                .key("sk", AttributeValue::S("KEY".into()))
                .update_expression("SET revision = :zero REMOVE auditHead, auditHeadMac")
                .expression_attribute_values(":zero", AttributeValue::N("0".into()))
                .send()
                .await
                .unwrap();
        };
        erase().await;
        let report = f.keyroll.audit_trail(&key_id).await.unwrap().report;
        assert!(!report.valid && !report.authenticated, "{report:?}");
        assert_eq!(
            report.first_broken.unwrap().problem,
            ChainProblem::EventsBeyondHead {
                head: 0,
                found_last: 5
            },
            "the events left behind are reported"
        );
        for seq in 1..=5u64 {
            dynamo
                .client()
                .delete_item()
                .table_name(dynamo.table())
                .key("pk", pk.clone())
                .key("sk", AttributeValue::S(format!("AUDIT#{seq:020}")))
                .send()
                .await
                .unwrap();
        }
        let trail = f.keyroll.audit_trail(&key_id).await.unwrap();
        assert!(trail.events.is_empty());
        assert!(!trail.report.valid, "no head is not an empty chain");
        assert_eq!(
            trail.report.first_broken.unwrap().problem,
            ChainProblem::HeadNotAuthentic
        );
        let refused = f
            .keyroll
            .schedule_rotation(&key_id, Default::default(), &f.actor())
            .await
            .unwrap_err();
        assert!(
            matches!(refused, Error::Conflict(Conflict::AuditHeadNotAuthentic)),
            "{refused:?}"
        );
        let after = f.keyroll.audit_trail(&key_id).await.unwrap();
        assert!(after.events.is_empty(), "nothing was written");
        assert!(!after.report.valid && !after.report.authenticated);
    }

    /// The key item put back as it was two changes ago (its head and MAC authentic for
    /// then): the later events are still in the table, beyond the head, and reported.
    #[tokio::test]
    async fn a_rolled_back_key_reports_the_events_beyond_its_head() {
        let f = dynamodb().await;
        let dynamo = f.dynamo.clone().unwrap();
        let issued = f.keyroll.issue_key(new_key(), &f.actor()).await.unwrap();
        let key_id = issued.key.id.clone();
        let key_item = || async {
            dynamo
                .client()
                .get_item()
                .table_name(dynamo.table())
                .key("pk", AttributeValue::S(format!("KEY#{key_id}")))
                .key("sk", AttributeValue::S("KEY".into()))
                .send()
                .await
                .unwrap()
                .item
                .unwrap()
        };
        let then = key_item().await;
        f.schedule_and_cancel(&key_id, 1).await;
        assert!(f.keyroll.audit_trail(&key_id).await.unwrap().report.valid);
        dynamo
            .client()
            .put_item()
            .table_name(dynamo.table())
            .set_item(Some(then))
            .send()
            .await
            .unwrap();
        let report = f.keyroll.audit_trail(&key_id).await.unwrap().report;
        assert!(!report.valid, "{report:?}");
        assert_eq!(
            report.first_broken.unwrap().problem,
            ChainProblem::EventsBeyondHead {
                head: 1,
                found_last: 3
            }
        );
    }

    /// No request path calls KMS: the MAC key is derived once (one GenerateMac), and
    /// issuing, rotating (idempotently, with a replay), an emergency, cancelling and
    /// reading the audit trail then cost no KMS request at all.
    #[tokio::test]
    async fn no_request_path_calls_kms() {
        use keyroll_core::service::{EmergencyRequest, EmergencySource};
        let (f, kms) = keyroll_tests::fixture::dynamodb_counting_kms().await;
        assert_eq!(kms.calls(), 1, "the derivation, once per container");
        let issued = f.keyroll.issue_key(new_key(), &f.actor()).await.unwrap();
        let key_id = issued.key.id.clone();
        f.schedule_and_cancel(&key_id, 2).await;
        // An idempotent request and its retry: the record's name and sealing key
        // come from the derived key, not a KMS call.
        for _ in 0..2 {
            let intent = f
                .keyroll
                .idempotency_intent(
                    &f.actor(),
                    &keyroll_core::idempotency::IdempotentOperation::IssueKey,
                    "a-client-chosen-idempotency-key-0001",
                    b"{}",
                )
                .await
                .unwrap();
            if f.keyroll.replay(&intent).await.unwrap().is_none() {
                f.keyroll
                    .issue_key(
                        new_key(),
                        keyroll_core::service::Caller::new(f.actor()).with_idempotency(intent),
                    )
                    .await
                    .unwrap();
            }
        }
        f.keyroll
            .schedule_rotation(
                &key_id,
                RotationRequest {
                    start: Start::Now,
                    ..Default::default()
                },
                &f.actor(),
            )
            .await
            .unwrap();
        f.keyroll
            .emergency_rotation(
                &key_id,
                EmergencyRequest {
                    reason: keyroll_core::ids::Reason::parse("leaked").unwrap(),
                    grace_seconds: Some(0),
                    source: EmergencySource::Operator,
                },
                &f.actor(),
            )
            .await
            .unwrap();
        let trail = f.keyroll.audit_trail(&key_id).await.unwrap();
        assert!(trail.report.valid && trail.report.authenticated);
        // Verification checks the secret record's two MACs with the derived key.
        let fresh = f.keyroll.issue_key(new_key(), &f.actor()).await.unwrap();
        assert!(f
            .keyroll
            .verify(fresh.secret.expose())
            .await
            .unwrap()
            .is_valid());
        assert_eq!(kms.calls(), 1, "no KMS request after the derivation");
    }

    /// Someone who can write the table but not use the MAC key: puts a record for a
    /// legacy-format secret of their own claiming another organisation and every scope
    /// (the verifier needs none for an imported secret), copies a real record's MACs
    /// onto it or leaves them off, re-stages a revoked record to current, moves a
    /// record to another organisation. None of it verifies, and each raises the alert;
    /// keyroll's own records verify as before.
    #[tokio::test]
    async fn a_secret_record_keyroll_did_not_write_does_not_verify() {
        use keyroll_core::secret::LookupHash;
        use keyroll_core::store::dynamodb::schema::{secret_pk, SECRET_SK};
        let logs = keyroll_core::testing::logs::CapturedLogs::default();
        let _logging = tracing::subscriber::set_default(keyroll_core::logging::subscriber(
            "info",
            keyroll_core::logging::LogFormat::Json,
            logs.clone(),
        ));
        let f = dynamodb().await;
        let dynamo = f.dynamo.clone().unwrap();
        let issued = f.keyroll.issue_key(new_key(), &f.actor()).await.unwrap();
        let secret = issued.secret.expose().to_owned();
        assert!(f.keyroll.verify(&secret).await.unwrap().is_valid());
        let record_of = |hash: &LookupHash| {
            let dynamo = dynamo.clone();
            let pk = secret_pk(hash);
            async move {
                dynamo
                    .client()
                    .get_item()
                    .table_name(dynamo.table())
                    .key("pk", AttributeValue::S(pk))
                    .key("sk", AttributeValue::S(SECRET_SK.into()))
                    .consistent_read(true)
                    .send()
                    .await
                    .unwrap()
                    .item
                    .unwrap()
            }
        };
        let put = |item: std::collections::HashMap<String, AttributeValue>| {
            let dynamo = dynamo.clone();
            async move {
                dynamo
                    .client()
                    .put_item()
                    .table_name(dynamo.table())
                    .set_item(Some(item))
                    .send()
                    .await
                    .unwrap();
            }
        };
        let real = record_of(&LookupHash::of(&secret)).await;
        assert!(real.contains_key("identityMac") && real.contains_key("stateMac"));

        // A secret of the writer's own, forged into another organisation.
        let own = format!("sk_live_{}", "0f1e2d3c4b5a6978".repeat(4));
        let hash = LookupHash::of(&own);
        let mut forged = real.clone();
        forged.insert("pk".into(), AttributeValue::S(secret_pk(&hash)));
        forged.insert("lookupHash".into(), AttributeValue::S(hash.to_hex()));
        forged.insert("origin".into(), AttributeValue::S("imported".into()));
        forged.remove("verifier");
        forged.insert(
            "organizationId".into(),
            AttributeValue::S("org_victim".into()),
        );
        forged.insert(
            "scopes".into(),
            AttributeValue::L(vec![AttributeValue::S("*".into())]),
        );
        put(forged.clone()).await;
        assert_eq!(f.keyroll.verify(&own).await.unwrap().code(), "NOT_FOUND");
        forged.remove("identityMac");
        forged.remove("stateMac");
        put(forged).await;
        assert_eq!(
            f.keyroll.verify(&own).await.unwrap().code(),
            "NOT_FOUND",
            "a record without MACs is refused while they are required"
        );

        // A real record moved to another organisation.
        let mut moved = real.clone();
        moved.insert(
            "organizationId".into(),
            AttributeValue::S("org_victim".into()),
        );
        put(moved).await;
        assert_eq!(f.keyroll.verify(&secret).await.unwrap().code(), "NOT_FOUND");
        put(real).await;
        assert!(f.keyroll.verify(&secret).await.unwrap().is_valid());

        // A revoked secret re-staged to current.
        f.keyroll
            .revoke_key(
                &issued.key.id,
                keyroll_core::ids::Reason::parse("churned").unwrap(),
                keyroll_core::service::KeyScope::Any,
                &f.actor(),
            )
            .await
            .unwrap();
        assert_eq!(f.keyroll.verify(&secret).await.unwrap().code(), "REVOKED");
        dynamo
            .client()
            .update_item()
            .table_name(dynamo.table())
            .key("pk", AttributeValue::S(secret_pk(&LookupHash::of(&secret))))
            .key("sk", AttributeValue::S(SECRET_SK.into()))
            .update_expression("SET stage = :current")
            .expression_attribute_values(":current", AttributeValue::S("current".into()))
            .send()
            .await
            .unwrap();
        assert_eq!(f.keyroll.verify(&secret).await.unwrap().code(), "NOT_FOUND");

        let alerts = logs
            .text()
            .lines()
            .filter(|line| line.contains("\"alert\":\"secret_record_not_authentic\""))
            .count();
        assert_eq!(alerts, 4, "{}", logs.text());
    }
}

/// Secret records an older release wrote carry no MACs: refused while MACs are
/// required, accepted while `KEYROLL_AUDIT_MAC_REQUIRED` is off (an upgrading stack),
/// and MACed by the upgrade sweep as they read — only while it is off, only records
/// their key names, one whose state a change has MACed since keeping that state MAC —
/// after which they verify with MACs required. The sweep is done only after a pass
/// that met no record without MACs.
#[tokio::test]
async fn the_sweep_macs_an_older_releases_secret_records() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use keyroll_core::secret::LookupHash;
    use keyroll_core::store::dynamodb::schema::{secret_pk, SECRET_SK};
    let f = keyroll_tests::fixture::dynamodb().await;
    let dynamo = f.dynamo.clone().unwrap();
    let new_key = || keyroll_core::service::NewKey {
        organization_id: keyroll_core::ids::OrganizationId::parse("org").unwrap(),
        name: keyroll_core::ids::KeyName::parse("old record").unwrap(),
        scopes: vec![],
        rate_limit: 1,
        class: Default::default(),
        expires_at: None,
    };
    let older = f.keyroll.issue_key(new_key(), &f.actor()).await.unwrap();
    let changed = f.keyroll.issue_key(new_key(), &f.actor()).await.unwrap();
    let strip = |secret: String, what: &'static str| {
        let dynamo = dynamo.clone();
        async move {
            dynamo
                .client()
                .update_item()
                .table_name(dynamo.table())
                .key("pk", AttributeValue::S(secret_pk(&LookupHash::of(&secret))))
                .key("sk", AttributeValue::S(SECRET_SK.into()))
                .update_expression(format!("REMOVE {what}"))
                .send()
                .await
                .unwrap();
        }
    };
    let older_secret = older.secret.expose().to_owned();
    let changed_secret = changed.secret.expose().to_owned();
    strip(older_secret.clone(), "identityMac, stateMac").await;
    // Written by the older release, its state MACed by a change since the upgrade.
    strip(changed_secret.clone(), "identityMac").await;
    for secret in [&older_secret, &changed_secret] {
        assert_eq!(f.keyroll.verify(secret).await.unwrap().code(), "NOT_FOUND");
    }
    let upgrading = keyroll_core::testing::TestKeyroll::new()
        .setting("KEYROLL_AUDIT_MAC_REQUIRED", "false")
        .store(f.store.clone())
        .mac(f.mac.clone())
        .build();
    for secret in [&older_secret, &changed_secret] {
        assert!(upgrading.keyroll.verify(secret).await.unwrap().is_valid());
    }

    // With MACs required the sweep MACs nothing: a record without them stays refused.
    let required = keyroll_core::upgrade::sweep_legacy(&f.keyroll, None)
        .await
        .unwrap();
    assert_eq!(required.secret_records_authenticated, 0, "{required:?}");
    assert!(!required.done, "the pass met records: another pass follows");

    // A record without MACs its key does not name (planted during the upgrade): never
    // MACed, and met again on every pass until it is removed.
    let planted = format!("sk_live_{}", "0f1e2d3c4b5a6978".repeat(4));
    let mut item = dynamo
        .client()
        .get_item()
        .table_name(dynamo.table())
        .key(
            "pk",
            AttributeValue::S(secret_pk(&LookupHash::of(&older_secret))),
        )
        .key("sk", AttributeValue::S(SECRET_SK.into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let planted_hash = LookupHash::of(&planted);
    item.insert("pk".into(), AttributeValue::S(secret_pk(&planted_hash)));
    item.insert(
        "lookupHash".into(),
        AttributeValue::S(planted_hash.to_hex()),
    );
    item.insert("origin".into(), AttributeValue::S("imported".into()));
    item.remove("verifier");
    dynamo
        .client()
        .put_item()
        .table_name(dynamo.table())
        .set_item(Some(item))
        .send()
        .await
        .unwrap();

    let report = keyroll_core::upgrade::sweep_legacy(&upgrading.keyroll, None)
        .await
        .unwrap();
    assert_eq!(report.secret_records_authenticated, 2, "{report:?}");
    for _ in 0..2 {
        let again = keyroll_core::upgrade::sweep_legacy(&upgrading.keyroll, None)
            .await
            .unwrap();
        assert_eq!(again.secret_records_authenticated, 0, "{again:?}");
        assert!(!again.done, "the planted record is met on every pass");
    }
    dynamo
        .client()
        .delete_item()
        .table_name(dynamo.table())
        .key("pk", AttributeValue::S(secret_pk(&planted_hash)))
        .key("sk", AttributeValue::S(SECRET_SK.into()))
        .send()
        .await
        .unwrap();
    let mut done = false;
    for _ in 0..3 {
        done = keyroll_core::upgrade::sweep_legacy(&upgrading.keyroll, None)
            .await
            .unwrap()
            .done;
    }
    assert!(
        done,
        "a pass that meets no record without MACs ends the sweep"
    );
    for secret in [&older_secret, &changed_secret] {
        assert!(
            f.keyroll.verify(secret).await.unwrap().is_valid(),
            "MACed as it read"
        );
    }
    let record = f
        .store
        .secret(&LookupHash::of(&older_secret))
        .await
        .unwrap()
        .unwrap();
    assert!(
        !f.store.authenticate_secret_record(&record).await.unwrap(),
        "a record with its identity MAC is left alone"
    );
}

/// A secret record written before use tracking (no `dailyUses` map) still records its
/// first use, and then counts as usual.
#[tokio::test]
async fn records_from_before_use_tracking_record_their_use() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let f = keyroll_tests::fixture::dynamodb().await;
    let dynamo = f.dynamo.clone().unwrap();
    let issued = f
        .keyroll
        .issue_key(
            keyroll_core::service::NewKey {
                organization_id: keyroll_core::ids::OrganizationId::parse("org").unwrap(),
                name: keyroll_core::ids::KeyName::parse("old record").unwrap(),
                scopes: vec![],
                rate_limit: 1,
                class: Default::default(),
                expires_at: None,
            },
            &f.actor(),
        )
        .await
        .unwrap();
    let hash = keyroll_core::secret::LookupHash::of(issued.secret.expose());
    keyroll_tests::fixture::dynamodb_client()
        .await
        .update_item()
        .table_name(dynamo.table())
        .key("pk", AttributeValue::S(format!("SECRET#{}", hash.to_hex())))
        .key("sk", AttributeValue::S("SECRET".into()))
        .update_expression("REMOVE dailyUses")
        .send()
        .await
        .unwrap();
    assert!(f
        .keyroll
        .verify(issued.secret.expose())
        .await
        .unwrap()
        .is_valid());
    let record = f.store.secret(&hash).await.unwrap().unwrap();
    assert_eq!(record.last_used_at, Some(keyroll_tests::fixture::epoch()));
    assert_eq!(record.daily_uses.get("2026-01-01"), Some(&1));
    f.clock.advance(60);
    assert!(f
        .keyroll
        .verify(issued.secret.expose())
        .await
        .unwrap()
        .is_valid());
    let record = f.store.secret(&hash).await.unwrap().unwrap();
    assert_eq!(record.daily_uses.get("2026-01-01"), Some(&2));
}

/// A table an older release wrote: a key from before the organisation and list indexes
/// (without their attributes) and an idempotency record from before expiry (no `ttl`).
/// The sweep gives the key its index attributes without changing it, deletes that
/// record and leaves the current one, and is done.
#[tokio::test]
async fn the_sweep_indexes_an_older_releases_keys_and_deletes_its_idempotency_records() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let f = keyroll_tests::fixture::dynamodb().await;
    let dynamo = f.dynamo.clone().unwrap();
    let client = keyroll_tests::fixture::dynamodb_client().await;
    let organization = keyroll_core::ids::OrganizationId::parse("org_old").unwrap();
    let new_key = || keyroll_core::service::NewKey {
        organization_id: organization.clone(),
        name: keyroll_core::ids::KeyName::parse("from an older release").unwrap(),
        scopes: vec![],
        rate_limit: 1,
        class: Default::default(),
        expires_at: None,
    };
    let old = f.keyroll.issue_key(new_key(), &f.actor()).await.unwrap();
    let current = f.keyroll.issue_key(new_key(), &f.actor()).await.unwrap();
    client
        .update_item()
        .table_name(dynamo.table())
        .key("pk", AttributeValue::S(format!("KEY#{}", old.key.id)))
        .key("sk", AttributeValue::S("KEY".into()))
        .update_expression("REMOVE org_pk, org_sk, list_pk, list_sk, org_list_pk")
        .send()
        .await
        .unwrap();
    let idempotency = |id: &str, ttl: Option<&str>| {
        let mut put = client
            .put_item()
            .table_name(dynamo.table())
            .item("pk", AttributeValue::S(format!("IDEM#{id}")))
            .item("sk", AttributeValue::S("IDEM".into()))
            .item("status", AttributeValue::N("201".into()));
        if let Some(ttl) = ttl {
            put = put.item("ttl", AttributeValue::N(ttl.into()));
        }
        put.send()
    };
    idempotency("legacy", None).await.unwrap();
    idempotency("current", Some("1767312000")).await.unwrap();
    let listed = f.store.keys_of(&organization, None, 10).await.unwrap();
    assert_eq!(
        listed,
        vec![current.key.id.clone()],
        "the older key is not in the index"
    );
    let revision = f.store.key(&old.key.id).await.unwrap().unwrap().revision;

    let report = keyroll_core::upgrade::sweep_legacy(&f.keyroll, None)
        .await
        .unwrap();
    assert!(report.done, "{report:?}");
    assert_eq!(
        (report.keys_indexed, report.records_deleted),
        (1, 1),
        "{report:?}"
    );

    let mut listed = f.store.keys_of(&organization, None, 10).await.unwrap();
    listed.sort();
    let mut both = vec![old.key.id.clone(), current.key.id.clone()];
    both.sort();
    assert_eq!(listed, both);
    let key = f.store.key(&old.key.id).await.unwrap().unwrap();
    assert_eq!(key.revision, revision, "the key itself is unchanged");
    assert!(
        f.keyroll
            .audit_trail(&old.key.id)
            .await
            .unwrap()
            .report
            .valid
    );
    let left = |id: &'static str| {
        client
            .get_item()
            .table_name(dynamo.table())
            .key("pk", AttributeValue::S(format!("IDEM#{id}")))
            .key("sk", AttributeValue::S("IDEM".into()))
            .send()
    };
    assert!(left("legacy").await.unwrap().item.is_none());
    assert!(left("current").await.unwrap().item.is_some());
    let again = keyroll_core::upgrade::sweep_legacy(&f.keyroll, None)
        .await
        .unwrap();
    assert_eq!((again.pages, again.examined), (1, 0));
}
