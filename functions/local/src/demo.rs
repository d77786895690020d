//! `keyroll-local demo`: a scripted rotation end to end — issue, schedule, verify both
//! secrets through the grace, expire to the second, complete, emergency-rotate, check
//! the audit chain — on the in-memory store and a simulated clock, printing what
//! happens. It fails if anything behaves otherwise than described.

use keyroll_core::service::EmergencySource;
use std::sync::Arc;

use anyhow::{ensure, Result};
use keyroll_core::config::Config;
use keyroll_core::ids::{Actor, KeyName, OrganizationId, Reason, Scope};
use keyroll_core::key::KeyClass;
use keyroll_core::service::{EmergencyRequest, Keyroll, NewKey, RotationRequest};
use keyroll_core::store::memory::MemoryStore;
use keyroll_core::time::{Clock, ManualClock, SystemClock};

pub async fn run(config: Config) -> Result<()> {
    let clock = ManualClock::new(SystemClock.now());
    let keyroll = Keyroll::new(
        Arc::new(MemoryStore::new()),
        Arc::new(clock.clone()),
        Arc::new(config),
    );
    run_demo(&keyroll, &clock).await
}

async fn check(keyroll: &Keyroll, label: &str, secret: &str, expected: &str) -> Result<()> {
    let code = keyroll.verify(secret).await?.code();
    println!("    verify {label:<12} -> {code}");
    ensure!(code == expected, "{label}: expected {expected}, got {code}");
    Ok(())
}

async fn run_demo(keyroll: &Keyroll, clock: &ManualClock) -> Result<()> {
    let security = Actor::parse("sam@security.example")?;
    println!("keyroll-local: scripted rotation on the in-memory store (simulated clock)\n");

    let issued = keyroll
        .issue_key(
            NewKey {
                organization_id: OrganizationId::parse("org_acme")?,
                name: KeyName::parse("Acme production backend")?,
                scopes: vec![
                    Scope::parse("charges:write")?,
                    Scope::parse("charges:read")?,
                ],
                rate_limit: 1000,
                class: KeyClass::Server,
                expires_at: None,
            },
            &security,
        )
        .await?;
    let old = issued.secret;
    println!(
        "{}  issued {} for org_acme, secret {}…",
        clock.now(),
        issued.key.id,
        issued.key.versions[0].prefix
    );

    let scheduled = keyroll
        .schedule_rotation(
            &issued.key.id,
            RotationRequest {
                reason: Some(Reason::parse("quarterly rotation")?),
                ..Default::default()
            },
            &security,
        )
        .await?;
    let rotation = scheduled.rotation;
    let new = scheduled.handout.returned().unwrap();
    println!(
        "{}  scheduled {}: new secret {}… valid now; starts {}, old secret expires {}",
        clock.now(),
        rotation.id,
        rotation.new_prefix,
        rotation.scheduled_at,
        rotation.grace_ends_at
    );
    check(keyroll, "old secret", old.expose(), "VALID").await?;
    check(keyroll, "new secret", new.expose(), "VALID").await?;

    clock.set(rotation.scheduled_at);
    let advance = keyroll.advance_rotation(&rotation.id).await?;
    println!(
        "{}  processor: started={} (new secret is now current)",
        clock.now(),
        advance.started
    );
    ensure!(advance.started, "the rotation should have started");

    clock.set(rotation.grace_ends_at.minus_seconds(1));
    println!("{}  one second before the grace ends", clock.now());
    check(keyroll, "old secret", old.expose(), "VALID").await?;
    clock.set(rotation.grace_ends_at);
    println!(
        "{}  the grace ends (the processor has not run yet)",
        clock.now()
    );
    check(keyroll, "old secret", old.expose(), "EXPIRED").await?;
    check(keyroll, "new secret", new.expose(), "VALID").await?;
    let advance = keyroll.advance_rotation(&rotation.id).await?;
    println!(
        "{}  processor: completed={} (old secret revoked)",
        clock.now(),
        advance.completed
    );
    check(keyroll, "old secret", old.expose(), "REVOKED").await?;

    clock.advance(3600);
    let emergency = keyroll
        .emergency_rotation(
            &issued.key.id,
            EmergencyRequest {
                reason: Reason::parse("secret pasted into a public issue")?,
                grace_seconds: Some(0),
                source: EmergencySource::Operator,
            },
            &security,
        )
        .await?;
    println!(
        "{}  emergency {} with no grace: {}… replaced by {}…",
        clock.now(),
        emergency.rotation.id,
        emergency.rotation.old_prefix,
        emergency.rotation.new_prefix
    );
    check(keyroll, "leaked", new.expose(), "REVOKED").await?;
    check(
        keyroll,
        "replacement",
        emergency.handout.returned().unwrap().expose(),
        "VALID",
    )
    .await?;
    let mut mistyped: Vec<char> = emergency
        .handout
        .returned()
        .unwrap()
        .expose()
        .chars()
        .collect();
    mistyped[20] = if mistyped[20] == '0' { '1' } else { '0' };
    check(
        keyroll,
        "mistyped",
        &mistyped.into_iter().collect::<String>(),
        "MALFORMED",
    )
    .await?;

    let trail = keyroll.audit_trail(&issued.key.id).await?;
    println!(
        "\naudit trail of {} ({} events):",
        issued.key.id,
        trail.events.len()
    );
    for event in &trail.events {
        println!(
            "  #{} {} {:<20} by {:<24} {}",
            event.seq,
            event.at,
            serde_json::to_value(event.action)?
                .as_str()
                .unwrap_or_default(),
            event.actor,
            event.reason.as_ref().map(|r| r.as_str()).unwrap_or("")
        );
    }
    println!("chain valid: {}", trail.report.valid);
    ensure!(trail.report.valid, "audit chain broken: {:?}", trail.report);
    println!("\nkeyroll-local: every step behaved as expected");
    Ok(())
}
