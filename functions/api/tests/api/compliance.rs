//! The compliance report, CSV and scan.

use crate::support::*;

#[tokio::test]
async fn compliance_report_scan_and_csv() {
    let app = spawn_app();
    // Keys aged 100, 95, 50 and 10 days (server; maximum 90), two organisations.
    for (age, org) in [
        (100u64, "org_a"),
        (95, "org_b"),
        (50, "org_a"),
        (10, "org_a"),
    ] {
        app.clock.set(epoch());
        app.clock.advance(200 * 86_400 - age * 86_400);
        let reply = app
            .call(
                "POST",
                "/v1/keys",
                Some(json!({"organizationId": org, "name": format!("{age} days"), "rateLimit": 1})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED);
    }
    app.clock.set(epoch());
    app.clock.advance(200 * 86_400);

    let before = app.call("GET", "/v1/compliance", None).await;
    assert_eq!(before.status, StatusCode::OK, "{}", before.text);
    assert_eq!(
        (
            before.body["activeKeys"].as_u64(),
            before.body["compliant"].as_u64(),
            before.body["nonCompliant"].as_u64()
        ),
        (Some(4), Some(2), Some(2))
    );
    assert_eq!(before.body["coveragePercent"], 50.0);
    assert_eq!(before.body["keys"][0]["ageDays"], 100, "oldest first");
    assert_eq!(before.body["keys"][0]["status"], "overdue");

    let scanned = app.call("POST", "/v1/admin/scan", None).await;
    assert_eq!(scanned.status, StatusCode::OK, "{}", scanned.text);
    assert_eq!(scanned.body["scheduled"], 2);
    assert_eq!(scanned.body["snapshot"]["coveragePercent"], 100.0);

    let after = app.call("GET", "/v1/compliance", None).await;
    assert_eq!(
        (
            after.body["inProgress"].as_u64(),
            after.body["nonCompliant"].as_u64()
        ),
        (Some(2), Some(0))
    );
    assert_eq!(after.body["history"].as_array().unwrap().len(), 1);
    assert!(after.body["keys"][0]["rotationId"]
        .as_str()
        .unwrap()
        .starts_with("rot_"));

    // Filters and pages.
    let org_a = app
        .call(
            "GET",
            "/v1/compliance?organizationId=org_a&status=compliant",
            None,
        )
        .await;
    assert_eq!(org_a.body["activeKeys"], 3);
    assert_eq!(org_a.body["keys"].as_array().unwrap().len(), 2);
    let first = app.call("GET", "/v1/compliance?limit=3", None).await;
    assert_eq!(first.body["keys"].as_array().unwrap().len(), 3);
    let cursor = first.body["nextCursor"].as_str().unwrap().to_owned();
    let second = app
        .call(
            "GET",
            &format!("/v1/compliance?limit=3&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(second.body["keys"].as_array().unwrap().len(), 1);
    assert!(second.body["nextCursor"].is_null());
    for bad in [
        "?status=late",
        "?limit=0",
        "?limit=1001",
        "?limit=x",
        "?cursor=key_nope",
        "?color=blue",
        "?organizationId=bad%20org",
    ] {
        assert_problem(
            &app.call("GET", &format!("/v1/compliance{bad}"), None).await,
            422,
        );
    }
    // The CSV takes up to 10,000 rows a page, by the same checks.
    for bad in [
        "?limit=0",
        "?limit=10001",
        "?limit=x",
        "?status=late",
        "?cursor=key_nope",
    ] {
        assert_problem(
            &app.call("GET", &format!("/v1/compliance.csv{bad}"), None)
                .await,
            422,
        );
    }
    let most = app
        .raw("GET", "/v1/compliance.csv?limit=10000", None, &[])
        .await;
    assert_eq!(most.status, StatusCode::OK, "{}", most.text);

    let csv = app
        .raw(
            "GET",
            "/v1/compliance.csv?status=rotation_in_progress",
            None,
            &[],
        )
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.content_type.starts_with("text/csv"));
    let lines: Vec<&str> = csv.text.lines().collect();
    assert_eq!(
        lines[0],
        "keyId,organizationId,class,prefix,ageDays,status,rotationId"
    );
    assert_eq!(lines.len(), 3);
    assert!(
        lines[1].contains(",100,rotation_in_progress,rot_"),
        "{}",
        lines[1]
    );
}
