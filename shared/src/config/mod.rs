//! Configuration from environment variables, validated once at start-up.
//!
//! Every variable keyroll reads is listed in [`SETTINGS`] with its default; the same
//! list is documented in `docs/configuration.md` (a test keeps the two in step).

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::key::KeyClass;
use crate::secret::{SecretFormat, VerifierParams};

mod settings;

pub use settings::{Setting, SETTINGS};

const DAY: u64 = 86_400;

/// Grace and age rules for one key class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassPolicy {
    pub max_age_days: u32,
    pub default_grace_seconds: u64,
    pub min_grace_seconds: u64,
    pub max_grace_seconds: u64,
}

impl ClassPolicy {
    pub fn max_age_seconds(&self) -> u64 {
        u64::from(self.max_age_days) * DAY
    }
}

/// Emergency rotations share one rule across classes: a leaked secret is leaked
/// wherever it was embedded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmergencyPolicy {
    pub default_grace_seconds: u64,
    pub max_grace_seconds: u64,
    /// Grace of a leak report's emergency rotation.
    pub leak_grace_seconds: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub server: ClassPolicy,
    pub embedded: ClassPolicy,
    pub emergency: EmergencyPolicy,
    pub schedule_lead_seconds: u64,
    pub reminder_lead_seconds: u64,
    pub warn_ahead_days: u32,
    /// How far an embedded key's grace moves per auto-extension.
    pub embedded_extension_step_seconds: u64,
    /// How far a grace moves while the rotation's held new secret is undelivered.
    pub undelivered_extension_seconds: u64,
}

impl Policy {
    pub fn for_class(&self, class: KeyClass) -> &ClassPolicy {
        match class {
            KeyClass::Server => &self.server,
            KeyClass::Embedded => &self.embedded,
        }
    }
}

impl Default for Policy {
    /// The documented defaults of [`SETTINGS`].
    fn default() -> Self {
        Config::from_lookup(|_| None)
            .map(|config| config.policy)
            .expect("the built-in defaults are valid (tested)")
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub policy: Policy,
    pub secret_format: SecretFormat,
    pub verifier: VerifierParams,
    pub table_name: String,
    pub queue_url: Option<String>,
    /// The KMS key of the keyed MAC; `None` locally (a random key of the process).
    pub mac_key_id: Option<String>,
    /// A key's audit chain must carry an authentic head MAC to be valid: a missing one
    /// is a stripped one. Off only while a stack upgraded from before authenticated
    /// chains still has keys unchanged since.
    pub audit_mac_required: bool,
    pub secret_name_prefix: String,
    /// How long the authorizer may reuse a positive verification.
    pub verify_cache_seconds: u64,
    /// GitHub's secret-scanning public keys, for leak reports.
    pub github_keys: crate::leak::GitHubKeys,
    /// Which webhook destinations may be called.
    pub destinations: crate::contact::DestinationPolicy,
    /// The sender of customer emails; email is off without one.
    pub email_from: Option<String>,
    /// Delays between webhook attempts.
    pub webhook_retry_seconds: Vec<u64>,
}

impl Config {
    /// Reads and validates the process environment.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (the environment, or a map in tests) and reports
    /// every invalid one at once.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let mut reader = Reader {
            lookup: &lookup,
            problems: Vec::new(),
        };
        let server = ClassPolicy {
            max_age_days: reader.number("KEYROLL_MAX_AGE_DAYS", 1, 3650) as u32,
            default_grace_seconds: reader.number("KEYROLL_DEFAULT_GRACE_SECONDS", 0, 365 * DAY),
            min_grace_seconds: reader.number("KEYROLL_MIN_GRACE_SECONDS", 0, 365 * DAY),
            max_grace_seconds: reader.number("KEYROLL_MAX_GRACE_SECONDS", 0, 365 * DAY),
        };
        let embedded = ClassPolicy {
            max_age_days: reader.number("KEYROLL_EMBEDDED_MAX_AGE_DAYS", 1, 3650) as u32,
            default_grace_seconds: reader.number(
                "KEYROLL_EMBEDDED_DEFAULT_GRACE_SECONDS",
                0,
                365 * DAY,
            ),
            min_grace_seconds: reader.number("KEYROLL_EMBEDDED_MIN_GRACE_SECONDS", 0, 365 * DAY),
            max_grace_seconds: reader.number("KEYROLL_EMBEDDED_MAX_GRACE_SECONDS", 0, 365 * DAY),
        };
        let emergency = EmergencyPolicy {
            default_grace_seconds: reader.number("KEYROLL_EMERGENCY_GRACE_SECONDS", 0, 7 * DAY),
            max_grace_seconds: reader.number("KEYROLL_EMERGENCY_MAX_GRACE_SECONDS", 0, 7 * DAY),
            leak_grace_seconds: reader.number("KEYROLL_LEAK_GRACE_SECONDS", 0, 7 * DAY),
        };
        let embedded_extension_step_seconds =
            reader.number("KEYROLL_EMBEDDED_EXTENSION_STEP_SECONDS", 60, 365 * DAY);
        let allow_loopback = reader.flag("KEYROLL_ALLOW_LOOPBACK_WEBHOOKS");
        let audit_mac_required = reader.flag("KEYROLL_AUDIT_MAC_REQUIRED");
        let email_from = Some(reader.text("KEYROLL_EMAIL_FROM"))
            .map(|from| from.trim().to_owned())
            .filter(|from| !from.is_empty());
        if let Some(from) = &email_from {
            if crate::contact::EmailAddress::parse(from).is_err() {
                reader.problems.push(format!(
                    "KEYROLL_EMAIL_FROM must be an email address (got {from:?})"
                ));
            }
        }
        let retry_text = reader.text("KEYROLL_WEBHOOK_RETRY_SECONDS");
        let webhook_retry_seconds: Vec<u64> = retry_text
            .split(',')
            .map(|part| part.trim().parse::<u64>())
            .collect::<std::result::Result<_, _>>()
            .ok()
            .filter(|delays: &Vec<u64>| {
                !delays.is_empty() && delays.len() <= 20 && delays.iter().all(|d| (1..=86_400).contains(d))
            })
            .unwrap_or_else(|| {
                reader.problems.push(format!(
                    "KEYROLL_WEBHOOK_RETRY_SECONDS must be 1-20 comma-separated delays of 1-86400 seconds (got {retry_text:?})"
                ));
                Vec::new()
            });
        let undelivered_extension_seconds =
            reader.number("KEYROLL_UNDELIVERED_EXTENSION_SECONDS", 3600, 30 * DAY);
        let verify_cache_seconds = reader.number("KEYROLL_VERIFY_CACHE_SECONDS", 0, 300);
        let github_keys =
            match crate::leak::GitHubKeys::parse(&reader.text("KEYROLL_GITHUB_PUBLIC_KEYS")) {
                Ok(keys) => keys,
                Err(error) => {
                    reader.problems.push(
                        error
                            .to_string()
                            .trim_start_matches("configuration: ")
                            .to_owned(),
                    );
                    crate::leak::GitHubKeys::none()
                }
            };
        let schedule_lead_seconds = reader.number("KEYROLL_SCHEDULE_LEAD_SECONDS", 0, 365 * DAY);
        let reminder_lead_seconds = reader.number("KEYROLL_REMINDER_LEAD_SECONDS", 0, 365 * DAY);
        let warn_ahead_days = reader.number("KEYROLL_WARN_AHEAD_DAYS", 0, 3650) as u32;
        let secret_name_prefix = reader.text("KEYROLL_SECRET_NAME_PREFIX");
        if !(1..=256).contains(&secret_name_prefix.len())
            || !secret_name_prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/_+=.@-".contains(&b))
        {
            reader.problems.push(format!(
                "KEYROLL_SECRET_NAME_PREFIX must be 1-256 characters of A-Z, a-z, 0-9 and /_+=.@- (got {secret_name_prefix:?})"
            ));
        }

        for (class, rules) in [("", &server), ("EMBEDDED_", &embedded)] {
            if !(rules.min_grace_seconds <= rules.default_grace_seconds
                && rules.default_grace_seconds <= rules.max_grace_seconds)
            {
                reader.problems.push(format!(
                    "KEYROLL_{class}MIN_GRACE_SECONDS <= KEYROLL_{class}DEFAULT_GRACE_SECONDS <= KEYROLL_{class}MAX_GRACE_SECONDS must hold (got {} <= {} <= {})",
                    rules.min_grace_seconds, rules.default_grace_seconds, rules.max_grace_seconds
                ));
            }
        }
        if emergency.leak_grace_seconds > emergency.max_grace_seconds {
            reader.problems.push(format!(
                "KEYROLL_LEAK_GRACE_SECONDS ({}) must not exceed KEYROLL_EMERGENCY_MAX_GRACE_SECONDS ({})",
                emergency.leak_grace_seconds, emergency.max_grace_seconds
            ));
        }
        if emergency.default_grace_seconds > emergency.max_grace_seconds {
            reader.problems.push(format!(
                "KEYROLL_EMERGENCY_GRACE_SECONDS ({}) must not exceed KEYROLL_EMERGENCY_MAX_GRACE_SECONDS ({})",
                emergency.default_grace_seconds, emergency.max_grace_seconds
            ));
        }

        let table_name = reader.text("KEYROLL_TABLE_NAME");
        if !(3..=255).contains(&table_name.len())
            || !table_name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        {
            reader.problems.push(format!(
                "KEYROLL_TABLE_NAME must be 3-255 characters of A-Z, a-z, 0-9, '_', '-', '.' (got {table_name:?})"
            ));
        }
        let queue_url = Some(reader.text("KEYROLL_QUEUE_URL")).filter(|url| !url.is_empty());
        let mac_key_id = Some(reader.text("KEYROLL_MAC_KEY_ID")).filter(|id| !id.is_empty());
        let secret_format = SecretFormat::new(
            &reader.text("KEYROLL_KEY_PREFIX"),
            &reader.text("KEYROLL_LEGACY_KEY_PREFIX"),
        );

        let secret_format = match secret_format {
            Ok(format) => Some(format),
            Err(error) => {
                reader.problems.push(
                    error
                        .to_string()
                        .trim_start_matches("configuration: ")
                        .to_owned(),
                );
                None
            }
        };
        match (reader.problems.is_empty(), secret_format) {
            (true, Some(secret_format)) => Ok(Config {
                policy: Policy {
                    server,
                    embedded,
                    emergency,
                    schedule_lead_seconds,
                    reminder_lead_seconds,
                    warn_ahead_days,
                    embedded_extension_step_seconds,
                    undelivered_extension_seconds,
                },
                secret_format,
                verifier: VerifierParams::DEFAULT,
                table_name,
                queue_url,
                mac_key_id,
                audit_mac_required,
                secret_name_prefix,
                verify_cache_seconds,
                github_keys,
                destinations: crate::contact::DestinationPolicy { allow_loopback },
                email_from,
                webhook_retry_seconds,
            }),
            _ => Err(Error::Config(reader.problems.join("; "))),
        }
    }

    /// The effective settings, for a start-up log line (no secrets live in settings).
    pub fn describe(&self) -> BTreeMap<&'static str, String> {
        let p = &self.policy;
        BTreeMap::from([
            ("KEYROLL_MAX_AGE_DAYS", p.server.max_age_days.to_string()),
            (
                "KEYROLL_DEFAULT_GRACE_SECONDS",
                p.server.default_grace_seconds.to_string(),
            ),
            (
                "KEYROLL_MIN_GRACE_SECONDS",
                p.server.min_grace_seconds.to_string(),
            ),
            (
                "KEYROLL_MAX_GRACE_SECONDS",
                p.server.max_grace_seconds.to_string(),
            ),
            (
                "KEYROLL_EMBEDDED_MAX_AGE_DAYS",
                p.embedded.max_age_days.to_string(),
            ),
            (
                "KEYROLL_EMBEDDED_DEFAULT_GRACE_SECONDS",
                p.embedded.default_grace_seconds.to_string(),
            ),
            (
                "KEYROLL_EMBEDDED_MIN_GRACE_SECONDS",
                p.embedded.min_grace_seconds.to_string(),
            ),
            (
                "KEYROLL_EMBEDDED_MAX_GRACE_SECONDS",
                p.embedded.max_grace_seconds.to_string(),
            ),
            (
                "KEYROLL_EMERGENCY_GRACE_SECONDS",
                p.emergency.default_grace_seconds.to_string(),
            ),
            (
                "KEYROLL_EMERGENCY_MAX_GRACE_SECONDS",
                p.emergency.max_grace_seconds.to_string(),
            ),
            (
                "KEYROLL_SCHEDULE_LEAD_SECONDS",
                p.schedule_lead_seconds.to_string(),
            ),
            (
                "KEYROLL_REMINDER_LEAD_SECONDS",
                p.reminder_lead_seconds.to_string(),
            ),
            (
                "KEYROLL_SECRET_NAME_PREFIX",
                self.secret_name_prefix.clone(),
            ),
            ("KEYROLL_WARN_AHEAD_DAYS", p.warn_ahead_days.to_string()),
            (
                "KEYROLL_LEAK_GRACE_SECONDS",
                p.emergency.leak_grace_seconds.to_string(),
            ),
            (
                "KEYROLL_EMBEDDED_EXTENSION_STEP_SECONDS",
                p.embedded_extension_step_seconds.to_string(),
            ),
            (
                "KEYROLL_UNDELIVERED_EXTENSION_SECONDS",
                p.undelivered_extension_seconds.to_string(),
            ),
            (
                "KEYROLL_EMAIL_FROM",
                self.email_from.clone().unwrap_or_default(),
            ),
            (
                "KEYROLL_WEBHOOK_RETRY_SECONDS",
                self.webhook_retry_seconds
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            (
                "KEYROLL_ALLOW_LOOPBACK_WEBHOOKS",
                self.destinations.allow_loopback.to_string(),
            ),
            (
                "KEYROLL_AUDIT_MAC_REQUIRED",
                self.audit_mac_required.to_string(),
            ),
            (
                "KEYROLL_VERIFY_CACHE_SECONDS",
                self.verify_cache_seconds.to_string(),
            ),
            (
                "KEYROLL_GITHUB_PUBLIC_KEYS",
                format!("{:?}", self.github_keys),
            ),
            ("KEYROLL_KEY_PREFIX", self.secret_format.prefix().to_owned()),
            ("KEYROLL_TABLE_NAME", self.table_name.clone()),
            (
                "KEYROLL_QUEUE_URL",
                self.queue_url.clone().unwrap_or_default(),
            ),
            (
                "KEYROLL_MAC_KEY_ID",
                self.mac_key_id.clone().unwrap_or_default(),
            ),
        ])
    }
}

struct Reader<'a, F: Fn(&str) -> Option<String>> {
    lookup: &'a F,
    problems: Vec<String>,
}

impl<F: Fn(&str) -> Option<String>> Reader<'_, F> {
    /// A `true`/`false` setting (its default when unset).
    fn flag(&mut self, name: &str) -> bool {
        match self.text(name).as_str() {
            "true" => true,
            "false" => false,
            other => {
                self.problems
                    .push(format!("{name} must be true or false (got {other:?})"));
                false
            }
        }
    }

    fn default_of(name: &str) -> &'static str {
        SETTINGS
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.default)
            .unwrap_or("")
    }

    fn text(&mut self, name: &str) -> String {
        (self.lookup)(name).unwrap_or_else(|| Self::default_of(name).to_owned())
    }

    fn number(&mut self, name: &str, min: u64, max: u64) -> u64 {
        let text = self.text(name);
        match text.trim().parse::<u64>() {
            Ok(value) if (min..=max).contains(&value) => value,
            _ => {
                self.problems.push(format!(
                    "{name} must be a whole number from {min} to {max} (got {text:?})"
                ));
                min
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn with(pairs: &[(&str, &str)]) -> Result<Config> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_match_the_brief() {
        let config = with(&[]).unwrap();
        let p = config.policy;
        assert_eq!(p.server.max_age_days, 90);
        assert_eq!(p.server.default_grace_seconds, 72 * 3600);
        assert_eq!(p.emergency.default_grace_seconds, 4 * 3600);
        assert!(p.embedded.max_grace_seconds > p.server.max_grace_seconds);
        assert!(p.embedded.max_age_days > p.server.max_age_days);
        assert_eq!(config.secret_format.prefix(), "sk_live_");
        assert_eq!(config.table_name, "keyroll");
        assert_eq!(config.queue_url, None);
        assert_eq!(Policy::default(), p);
    }

    #[test]
    fn overrides_are_read() {
        let config = with(&[
            ("KEYROLL_MAX_AGE_DAYS", "30"),
            ("KEYROLL_EMERGENCY_GRACE_SECONDS", "0"),
            ("KEYROLL_KEY_PREFIX", "sk_test_"),
        ])
        .unwrap();
        assert_eq!(config.policy.server.max_age_days, 30);
        assert_eq!(config.policy.emergency.default_grace_seconds, 0);
        assert_eq!(config.secret_format.prefix(), "sk_test_");
    }

    #[test]
    fn every_problem_is_reported_by_name() {
        let error = with(&[
            ("KEYROLL_MAX_AGE_DAYS", "ninety"),
            ("KEYROLL_MIN_GRACE_SECONDS", "999999"),
            ("KEYROLL_EMERGENCY_GRACE_SECONDS", "90000"),
            ("KEYROLL_TABLE_NAME", "x"),
            ("KEYROLL_KEY_PREFIX", "SK"),
        ])
        .unwrap_err()
        .to_string();
        for name in [
            "KEYROLL_MAX_AGE_DAYS",
            "KEYROLL_MIN_GRACE_SECONDS",
            "KEYROLL_EMERGENCY_GRACE_SECONDS",
            "KEYROLL_TABLE_NAME",
            "KEYROLL_KEY_PREFIX",
        ] {
            assert!(error.contains(name), "{name} missing from: {error}");
        }
    }

    #[test]
    fn every_setting_is_documented() {
        let doc = include_str!("../../../docs/configuration.md");
        for setting in SETTINGS {
            assert!(
                doc.contains(setting.name),
                "{} is not in docs/configuration.md",
                setting.name
            );
        }
        let described = with(&[]).unwrap().describe();
        for name in described.keys() {
            assert!(
                SETTINGS.iter().any(|s| s.name == *name),
                "{name} is not in SETTINGS"
            );
        }
    }
}
