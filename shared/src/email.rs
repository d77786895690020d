//! The email a customer receives for each notification: a subject and a body, as text
//! and as HTML, that say which key, what changes, by when, and what to do. Built only
//! from the notification's fields, which never hold a secret.

use crate::notification::{Notification, NotificationType};
use crate::rotation::RotationTrigger;
use crate::time::Timestamp;

/// One rendered email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailMessage {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// "in 3 days", "in 5 hours", "in 12 minutes", "now", or "2 days ago".
pub fn relative(deadline: Timestamp, now: Timestamp) -> String {
    let seconds = deadline.seconds_since(now);
    let (amount, past) = (seconds.unsigned_abs(), seconds < 0);
    let (n, unit) = match amount {
        0..=59 => return "now".to_owned(),
        60..=3599 => (amount / 60, "minute"),
        3600..=86_399 => (amount / 3600, "hour"),
        _ => (amount / 86_400, "day"),
    };
    let plural = if n == 1 { "" } else { "s" };
    if past {
        format!("{n} {unit}{plural} ago")
    } else {
        format!("in {n} {unit}{plural}")
    }
}

/// `2026-11-28 18:00:00`, read as UTC.
fn utc(at: Timestamp) -> String {
    at.to_rfc3339()
        .replace('T', " ")
        .trim_end_matches('Z')
        .to_owned()
}

fn deadline_phrase(notification: &Notification, now: Timestamp) -> Option<String> {
    notification
        .deadline
        .map(|at| format!("{} UTC ({})", utc(at), relative(at, now)))
}

/// Escapes text for an HTML body.
fn escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&#39;".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

/// What happened and what to do, as paragraphs.
fn paragraphs(n: &Notification, now: Timestamp) -> (String, Vec<String>) {
    // Names and reasons are written by people outside the company (a customer admin's
    // key name, an emergency's reason): shown inert, so the company's mail never
    // carries their links.
    let name = inert(n.key_name.as_str());
    let key = format!("\"{}\" ({})", name, n.key_id);
    let old = n.old_prefix.as_deref().unwrap_or("the old secret");
    let new = n.new_prefix.as_deref().unwrap_or("the new secret");
    let deadline = deadline_phrase(n, now).unwrap_or_else(|| "its deadline".to_owned());
    let fetch = "Fetch the new secret where your API provider hands it out (their dashboard, or your client's self-service call), then deploy it.";
    let usage = if n.old_secret_used_in_last_24h {
        format!("The old secret ({old}…) was still used in the last 24 hours: some of your integrations have not switched yet.")
    } else if n.old_secret_last_used_at.is_some() {
        format!("The old secret ({old}…) has not been used in the last 24 hours: your integrations seem to have switched.")
    } else {
        String::new()
    };
    let emergency = matches!(
        n.trigger,
        Some(RotationTrigger::Emergency | RotationTrigger::Leak)
    );
    let (subject, mut body) = match n.kind {
        NotificationType::RotationScheduled => (
            format!("Your API key {} will be rotated", name),
            vec![
                format!("The secret of your API key {key} is being replaced. The new secret starts with {new}…; the old one ({old}…) keeps working until {deadline}."),
                format!("What to do: switch every integration to the new secret before then. {fetch}"),
            ],
        ),
        NotificationType::RotationStarted => (
            format!("Your API key {} has a new secret", name),
            vec![
                format!("The new secret of {key} ({new}…) is now the key's main secret. The old one ({old}…) stops working at {deadline}."),
                format!("What to do: make sure every integration uses the new secret before then. {fetch}"),
            ],
        ),
        NotificationType::RotationReminder => (
            format!("Reminder: the old secret of {} stops working {}", name, n.deadline.map(|d| relative(d, now)).unwrap_or_default()),
            vec![
                format!("The old secret of {key} ({old}…) stops working at {deadline}. The new secret starts with {new}…."),
                "What to do: switch any integration still using the old secret now.".to_owned(),
            ],
        ),
        NotificationType::RotationCompleted => (
            format!("The old secret of {} no longer works", name),
            vec![
                format!("The rotation of {key} is complete: the old secret ({old}…) no longer works; the new one ({new}…) does."),
                "What to do: nothing, if your integrations use the new secret. Requests with the old one are now refused.".to_owned(),
            ],
        ),
        NotificationType::RotationCancelled => (
            format!("The rotation of {} was called off", name),
            vec![
                format!("The rotation of {key} was cancelled. The old secret ({old}…) keeps working; the new one ({new}…) will not be used."),
                "What to do: nothing; keep using the secret you have.".to_owned(),
            ],
        ),
        NotificationType::RotationExtended => (
            format!("More time to switch the secret of {}", name),
            vec![
                format!("The old secret of {key} ({old}…) now keeps working until {deadline}."),
                format!("What to do: switch to the new secret ({new}…) before then. {fetch}"),
            ],
        ),
        NotificationType::RotationEmergency => (
            format!("Urgent: the secret of {} was rotated for your security", name),
            vec![
                format!("The secret of {key} may have been exposed, so it was replaced at once. The old secret ({old}…) stops working at {deadline}; the new one starts with {new}…."),
                format!("What to do: deploy the new secret immediately. {fetch}"),
            ],
        ),
        NotificationType::KeyRevoked => (
            format!("Your API key {} was revoked", name),
            vec![
                format!("Your API key {key} was revoked: its secret ({old}…), and any other secret of it, no longer works. Requests made with it are refused."),
                "What to do: if an integration still needs access, ask your API provider for a new key; a revoked key cannot be restored.".to_owned(),
            ],
        ),
        NotificationType::KeyDeliveryKeyRegistered => (
            format!("A delivery key was registered for {}", name),
            vec![
                format!(
                    "A delivery key (thumbprint {}) was registered for your API key {key}: its next secrets will be encrypted to it, and only the holder of its private half can read them.",
                    n.delivery_key_thumbprint.as_deref().unwrap_or("unknown")
                ),
                "What to do: nothing if you or your client library enrolled it. If nobody did, ask your API provider to replace it and rotate the key at once.".to_owned(),
            ],
        ),
        NotificationType::KeySecretRevoked => (
            format!("Urgent: an old secret of {} was revoked", name),
            vec![
                format!("An old secret of your API key {key} ({old}…) was reported exposed, so it was revoked at once: requests made with it are refused. The key's current secret ({new}…) is not affected and keeps working."),
                format!("What to do: make sure every integration uses the current secret now. If you have not collected it yet, collect it first. {fetch}"),
            ],
        ),
        NotificationType::KeyExpiring => (
            format!("The secret of {} reaches its maximum age soon", name),
            vec![
                format!("The secret of {key} ({old}…) reaches the maximum age your API provider allows at {deadline}. A rotation will start then."),
                "What to do: nothing yet; you will be told when the new secret is ready.".to_owned(),
            ],
        ),
        NotificationType::RotationUndelivered if n.deadline.is_some_and(|d| d <= now) => (
            format!("Action needed: the new secret of {} has not been collected", name),
            vec![
                format!("The new secret of {key} ({new}…) is waiting, and nobody has collected it. The old secret ({old}…) stopped working at {deadline}, as the longest allowed grace ended."),
                "What to do: ask your API provider to hand you the new secret now (it is kept for you), then deploy it.".to_owned(),
            ],
        ),
        NotificationType::RotationUndelivered => (
            format!("Action needed: the new secret of {} has not been collected", name),
            vec![
                format!("The new secret of {key} ({new}…) is waiting, and nobody has collected it yet. So that nothing breaks, the old secret ({old}…) keeps working until {deadline}."),
                format!("What to do: collect the new secret and deploy it. {fetch}"),
            ],
        ),
        NotificationType::RotationRevealed => {
            let who = match n.actor.as_ref() {
                Some(actor) => match actor.customer_subject() {
                    Some(user) => format!("by {}, a user of your organisation", inert(user)),
                    None => "by your client's self-service call, made with the key's current secret".to_owned(),
                },
                None => "by your API provider".to_owned(),
            };
            let deploy = match n.deadline {
                Some(d) if d > now => format!("deploy the new secret before the old one ({old}…) stops working at {deadline}"),
                _ => format!("deploy the new secret now: the old one ({old}…) no longer works"),
            };
            (
                format!("The new secret of {} was collected", name),
                vec![
                    format!("The new secret of {key} ({new}…) was revealed {who}. It is shown only once, so whoever collected it now holds it."),
                    format!("What to do: if this was you, a colleague or your client, {deploy}. If nobody on your side collected it, roll the key now as an emergency."),
                ],
            )
        }
    };
    // Switching is moot once the key is revoked: no secret of it works.
    if !usage.is_empty() && !emergency && n.kind != NotificationType::KeyRevoked {
        body.push(usage);
    }
    if !n.callers_not_moved.is_empty() {
        let named: Vec<String> = n
            .callers_not_moved
            .iter()
            .map(|caller| inert(&caller.describe()))
            .collect();
        body.push(format!(
            "Still calling with the old secret: {}.",
            named.join("; ")
        ));
    }
    if let Some(reason) = &n.reason {
        body.push(format!("Reason given: {}.", inert(reason.as_str())));
    }
    body.push(format!("Reference: {} ({}).", n.event_id, n.kind_name()));
    (subject, body)
}

/// The email for `notification`, sent at `now`.
pub fn render(notification: &Notification, now: Timestamp) -> EmailMessage {
    let (subject, body) = paragraphs(notification, now);
    message(subject, &body)
}

/// The email telling an organisation that keyroll stopped calling its webhook
/// endpoint `url` (`id`) at `now`.
pub fn endpoint_disabled(url: &str, id: &str, reason: &str, now: Timestamp) -> EmailMessage {
    message(
        "Your key-rotation webhook endpoint was disabled".to_owned(),
        &[
            format!(
                "Notifications about your API keys are no longer sent to the webhook endpoint {} ({id}) since {} UTC: {reason}.",
                inert(url),
                utc(now)
            ),
            "What to do: fix the endpoint, then register it again. Notifications keep arriving by email and in your dashboard's feed.".to_owned(),
        ],
    )
}

/// The email asking whoever reads a contact's address to confirm it: the code, until
/// when it works, and that nothing else comes unless it is passed back. The one email
/// that carries a secret of sorts (the code): it is sent only to the address it
/// confirms, and never logged.
pub fn contact_confirmation(
    organization: &str,
    code: &str,
    expires_at: Timestamp,
    now: Timestamp,
) -> EmailMessage {
    message(
        "Confirm this address for API key notifications".to_owned(),
        &[
            format!(
                "An administrator of the organisation {} asked for this address to receive notifications about its API keys: rotations, expiries and leaks.",
                inert(organization)
            ),
            format!(
                "If you expect them, give the administrator this confirmation code: {code}. It works until {} UTC ({}).",
                utc(expires_at),
                relative(expires_at, now)
            ),
            "If you do not, ignore this email: nothing more is sent to this address unless the code is entered.".to_owned(),
        ],
    )
}

/// `text` with nothing a mail client would turn into a link: `://` becomes `[:]//`, and
/// a `.` or `@` between two letters or digits is bracketed (`evil[.]example`,
/// `ops[@]evil[.]example`), as security notices show indicators. Everything else reads
/// as written.
pub fn inert(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + 8);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == ':' && chars.get(i + 1) == Some(&'/') && chars.get(i + 2) == Some(&'/') {
            out.push_str("[:]//");
            i += 3;
            continue;
        }
        let between = i > 0
            && chars[i - 1].is_alphanumeric()
            && chars.get(i + 1).is_some_and(|next| next.is_alphanumeric());
        // A dot links only inside a name (`evil.example`), not in a version or an
        // address (`1.4`, `203.0.2.0`): the run of name characters around it has a letter.
        let in_name = || {
            let name_char = |c: &char| c.is_alphanumeric() || *c == '-' || *c == '.';
            let before = chars[..i].iter().rev().take_while(|c| name_char(c));
            let after = chars[i + 1..].iter().take_while(|c| name_char(c));
            before.chain(after).any(|c| c.is_alphabetic())
        };
        if between && (c == '@' || (c == '.' && in_name())) {
            out.push('[');
            out.push(c);
            out.push(']');
        } else {
            out.push(c);
        }
        i += 1;
    }
    out
}

/// An email of `subject` and `body`'s paragraphs, as text and as escaped HTML.
fn message(subject: String, body: &[String]) -> EmailMessage {
    let text = body.join("\n\n") + "\n";
    let html = format!(
        "<!doctype html><html><body style=\"font-family:sans-serif;line-height:1.5\"><h2>{}</h2>{}</body></html>",
        escape(&subject),
        body.iter()
            .map(|p| format!("<p>{}</p>", escape(p)))
            .collect::<String>()
    );
    EmailMessage {
        subject,
        text,
        html,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{KeyId, KeyName, OrganizationId, Reason, RotationId};

    fn notification(kind: NotificationType) -> Notification {
        Notification {
            kind,
            schema_version: crate::notification::SCHEMA_VERSION,
            event_id: "evt_01jd4x8m2q7r5t9v3w6y0z1a2b_0000000002".into(),
            occurred_at: Timestamp::parse("2026-11-25T18:00:00Z").unwrap(),
            key_id: KeyId::parse("key_01jd4x8m2q7r5t9v3w6y0z1a2b").unwrap(),
            organization_id: OrganizationId::parse("org_acme").unwrap(),
            key_name: KeyName::parse("Acme <backend>").unwrap(),
            rotation_id: Some(RotationId::generate()),
            old_prefix: Some("sk_live_3fA9kQ2z".into()),
            new_prefix: Some("sk_live_Ns3Xz4Wh".into()),
            deadline: Some(Timestamp::parse("2026-11-28T18:00:00Z").unwrap()),
            reason: None,
            trigger: Some(RotationTrigger::Manual),
            old_secret_last_used_at: Some(Timestamp::parse("2026-11-25T17:59:00Z").unwrap()),
            old_secret_used_in_last_24h: true,
            actor: None,
            callers_not_moved: vec![],
            delivery_key_thumbprint: None,
        }
    }

    #[test]
    fn relative_times_read_like_a_person_would_say_them() {
        let now = Timestamp::parse("2026-11-25T18:00:00Z").unwrap();
        assert_eq!(relative(now.plus_seconds(3 * 86_400), now), "in 3 days");
        assert_eq!(relative(now.plus_seconds(86_400), now), "in 1 day");
        assert_eq!(relative(now.plus_seconds(5 * 3600 + 10), now), "in 5 hours");
        assert_eq!(relative(now.plus_seconds(12 * 60), now), "in 12 minutes");
        assert_eq!(relative(now, now), "now");
        assert_eq!(relative(now.minus_seconds(2 * 86_400), now), "2 days ago");
    }

    #[test]
    fn a_reason_or_name_never_carries_a_link() {
        assert_eq!(
            inert("verify at https://evil.example/login or www.evil.example, mail ops@evil.example. Thanks."),
            "verify at https[:]//evil[.]example/login or www[.]evil[.]example, mail ops[@]evil[.]example. Thanks."
        );
        assert_eq!(
            inert("billing-cron/1.4 from 203.0.2.0/24"),
            "billing-cron/1.4 from 203.0.2.0/24"
        );
        assert_eq!(inert("leaked in CI logs"), "leaked in CI logs");
        let mut n = notification(NotificationType::RotationEmergency);
        n.reason = Some(Reason::parse("rotate now: https://evil.example/x").unwrap());
        n.key_name = KeyName::parse("Acme (see evil.example)").unwrap();
        let email = render(&n, Timestamp::parse("2026-11-25T18:00:00Z").unwrap());
        for part in [&email.subject, &email.text, &email.html] {
            assert!(!part.contains("https://"), "{part}");
            assert!(!part.contains("evil.example"), "{part}");
        }
        assert!(email.text.contains("https[:]//evil[.]example/x"));
    }

    #[test]
    fn every_type_says_which_key_what_by_when_and_what_to_do() {
        let now = Timestamp::parse("2026-11-25T18:00:00Z").unwrap();
        for kind in NotificationType::ALL {
            let email = render(&notification(kind), now);
            assert!(
                email.subject.contains("Acme <backend>"),
                "{kind:?}: {}",
                email.subject
            );
            assert!(
                email.text.contains("key_01jd4x8m2q7r5t9v3w6y0z1a2b"),
                "{kind:?}"
            );
            // A delivery key's registration is about the key, not one of its secrets.
            let about_a_secret = kind != NotificationType::KeyDeliveryKeyRegistered;
            assert!(
                !about_a_secret || email.text.contains("sk_live_3fA9kQ2z"),
                "{kind:?}"
            );
            // A completed or cancelled rotation, a revoked key or secret, has no deadline
            // left to tell.
            let ended = !about_a_secret
                || matches!(
                    kind,
                    NotificationType::RotationCompleted
                        | NotificationType::RotationCancelled
                        | NotificationType::KeyRevoked
                        | NotificationType::KeySecretRevoked
                );
            assert!(
                ended || email.text.contains("2026-11-28 18:00:00 UTC (in 3 days)"),
                "{kind:?}: {}",
                email.text
            );
            assert!(email.text.contains("What to do"), "{kind:?}");
            assert!(
                email.html.contains("Acme &lt;backend&gt;"),
                "escaped: {kind:?}"
            );
            assert!(!email.html.contains("<backend>"), "{kind:?}");
        }
        let reminder = render(&notification(NotificationType::RotationReminder), now);
        assert!(reminder.text.contains("still used in the last 24 hours"));
    }
}
