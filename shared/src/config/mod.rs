//! Configuration from environment variables, validated once at start-up.
//!
//! Every variable keyroll reads is declared once in [`settings`] (name, default, what
//! it accepts, meaning); the reader here takes each one's default and bounds from its
//! declaration and remembers the value it settled on, which is what
//! [`Config::describe`] shows. `docs/configuration.md` documents the same list (a test
//! holds each row to its declaration).

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::key::KeyClass;
use crate::secret::{SecretFormat, VerifierParams};

pub mod settings;

use settings::*;
pub use settings::{Accepts, Setting, SETTINGS};

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
    /// `KEYROLL_CUSTOMER_ROTATIONS_PER_KEY_HOUR`.
    pub customer_rotations_per_key_hour: u32,
    /// `KEYROLL_WEBHOOK_SECRET_ROTATIONS_PER_DAY`.
    pub webhook_secret_rotations_per_day: u32,
    /// `KEYROLL_EMAILS_PER_ORGANIZATION_HOUR`.
    pub emails_per_organization_hour: u32,
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
    /// The request header naming a caller's app version.
    pub app_version_header: String,
    /// GitHub's secret-scanning public keys, for leak reports.
    pub github_keys: crate::leak::GitHubKeys,
    /// Which webhook destinations may be called.
    pub destinations: crate::contact::DestinationPolicy,
    /// The sender of customer emails; email is off without one.
    pub email_from: Option<String>,
    /// Delays between webhook attempts.
    pub webhook_retry_seconds: Vec<u64>,
    /// Each setting read, as its value was settled on (for [`Config::describe`]).
    settled: BTreeMap<&'static str, String>,
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
            settled: BTreeMap::new(),
        };
        let policy = reader.policy();
        let allow_loopback = reader.flag(&ALLOW_LOOPBACK_WEBHOOKS);
        let audit_mac_required = reader.flag(&AUDIT_MAC_REQUIRED);
        let email_from = reader.email_from();
        let webhook_retry_seconds = reader.webhook_retry_seconds();
        let verify_cache_seconds = reader.number(&VERIFY_CACHE_SECONDS);
        let app_version_header = reader.checked_text(
            &APP_VERSION_HEADER,
            "must be 1-64 characters of A-Z, a-z, 0-9, '-', '_'",
            |name| named_with(name, 1..=64, b"-_"),
        );
        let github_keys = reader.github_keys();
        let secret_name_prefix = reader.checked_text(
            &SECRET_NAME_PREFIX,
            "must be 1-256 characters of A-Z, a-z, 0-9 and /_+=.@-",
            |name| named_with(name, 1..=256, b"/_+=.@-"),
        );
        let table_name = reader.checked_text(
            &TABLE_NAME,
            "must be 3-255 characters of A-Z, a-z, 0-9, '_', '-', '.'",
            |name| named_with(name, 3..=255, b"_-."),
        );
        let queue_url = Some(reader.text(&QUEUE_URL)).filter(|url| !url.is_empty());
        let mac_key_id = Some(reader.text(&MAC_KEY_ID)).filter(|id| !id.is_empty());
        let secret_format = reader.secret_format();
        match (reader.problems.is_empty(), secret_format) {
            (true, Some(secret_format)) => Ok(Config {
                policy,
                secret_format,
                verifier: VerifierParams::DEFAULT,
                table_name,
                queue_url,
                mac_key_id,
                audit_mac_required,
                secret_name_prefix,
                verify_cache_seconds,
                app_version_header,
                github_keys,
                destinations: crate::contact::DestinationPolicy { allow_loopback },
                email_from,
                webhook_retry_seconds,
                settled: reader.settled,
            }),
            _ => Err(Error::Config(reader.problems.join("; "))),
        }
    }

    /// The effective settings, for a start-up log line (no secrets live in settings):
    /// each setting `Config` reads, as the reader settled on it.
    pub fn describe(&self) -> BTreeMap<&'static str, String> {
        self.settled.clone()
    }
}

struct Reader<'a, F: Fn(&str) -> Option<String>> {
    lookup: &'a F,
    problems: Vec<String>,
    /// Each setting read, as its value was settled on.
    settled: BTreeMap<&'static str, String>,
}

impl<F: Fn(&str) -> Option<String>> Reader<'_, F> {
    /// A setting's text, or its default when unset.
    fn text(&mut self, setting: &Setting) -> String {
        let text = setting.text_from(self.lookup);
        self.settled.insert(setting.name, text.clone());
        text
    }

    /// A [`Accepts::Flag`] setting.
    fn flag(&mut self, setting: &Setting) -> bool {
        let text = self.text(setting);
        match text.as_str() {
            "true" => true,
            "false" => false,
            _ => {
                self.refuse(setting, "must be true or false", &text);
                false
            }
        }
    }

    /// A [`Accepts::Number`] setting, within its declared bounds.
    fn number(&mut self, setting: &Setting) -> u64 {
        let text = self.text(setting);
        match setting.number(&text) {
            Ok(value) => {
                self.settled.insert(setting.name, value.to_string());
                value
            }
            Err(problem) => {
                self.problems.push(problem);
                match setting.accepts {
                    Accepts::Number { min, .. } => min,
                    Accepts::Flag | Accepts::Text => 0,
                }
            }
        }
    }

    /// Shows `setting` as `shown` in [`Config::describe`] (a summary of a long value).
    fn show(&mut self, setting: &Setting, shown: String) {
        self.settled.insert(setting.name, shown);
    }

    /// A text setting that `holds` must accept (its rule stated as `rule`).
    fn checked_text(
        &mut self,
        setting: &Setting,
        rule: &str,
        holds: impl Fn(&str) -> bool,
    ) -> String {
        let text = self.text(setting);
        if !holds(&text) {
            self.refuse(setting, rule, &text);
        }
        text
    }

    /// The rotation policy: each class's age and grace bounds, the emergency rule and
    /// the leads, with the rules that span settings.
    fn policy(&mut self) -> Policy {
        let server = self.class_policy([
            &MAX_AGE_DAYS,
            &DEFAULT_GRACE_SECONDS,
            &MIN_GRACE_SECONDS,
            &MAX_GRACE_SECONDS,
        ]);
        let embedded = self.class_policy([
            &EMBEDDED_MAX_AGE_DAYS,
            &EMBEDDED_DEFAULT_GRACE_SECONDS,
            &EMBEDDED_MIN_GRACE_SECONDS,
            &EMBEDDED_MAX_GRACE_SECONDS,
        ]);
        let emergency = EmergencyPolicy {
            default_grace_seconds: self.number(&EMERGENCY_GRACE_SECONDS),
            max_grace_seconds: self.number(&EMERGENCY_MAX_GRACE_SECONDS),
            leak_grace_seconds: self.number(&LEAK_GRACE_SECONDS),
        };
        let class_bounds = [
            (
                [
                    &MIN_GRACE_SECONDS,
                    &DEFAULT_GRACE_SECONDS,
                    &MAX_GRACE_SECONDS,
                ],
                &server,
            ),
            (
                [
                    &EMBEDDED_MIN_GRACE_SECONDS,
                    &EMBEDDED_DEFAULT_GRACE_SECONDS,
                    &EMBEDDED_MAX_GRACE_SECONDS,
                ],
                &embedded,
            ),
        ];
        for ([min, default, max], rules) in class_bounds {
            if !(rules.min_grace_seconds <= rules.default_grace_seconds
                && rules.default_grace_seconds <= rules.max_grace_seconds)
            {
                self.problems.push(format!(
                    "{} <= {} <= {} must hold (got {} <= {} <= {})",
                    min.name,
                    default.name,
                    max.name,
                    rules.min_grace_seconds,
                    rules.default_grace_seconds,
                    rules.max_grace_seconds
                ));
            }
        }
        for (setting, grace) in [
            (&LEAK_GRACE_SECONDS, emergency.leak_grace_seconds),
            (&EMERGENCY_GRACE_SECONDS, emergency.default_grace_seconds),
        ] {
            if grace > emergency.max_grace_seconds {
                self.problems.push(format!(
                    "{} ({grace}) must not exceed {} ({})",
                    setting.name, EMERGENCY_MAX_GRACE_SECONDS.name, emergency.max_grace_seconds
                ));
            }
        }
        Policy {
            server,
            embedded,
            emergency,
            schedule_lead_seconds: self.number(&SCHEDULE_LEAD_SECONDS),
            reminder_lead_seconds: self.number(&REMINDER_LEAD_SECONDS),
            warn_ahead_days: self.number(&WARN_AHEAD_DAYS) as u32,
            embedded_extension_step_seconds: self.number(&EMBEDDED_EXTENSION_STEP_SECONDS),
            undelivered_extension_seconds: self.number(&UNDELIVERED_EXTENSION_SECONDS),
            customer_rotations_per_key_hour: self.number(&CUSTOMER_ROTATIONS_PER_KEY_HOUR) as u32,
            webhook_secret_rotations_per_day: self.number(&WEBHOOK_SECRET_ROTATIONS_PER_DAY) as u32,
            emails_per_organization_hour: self.number(&EMAILS_PER_ORGANIZATION_HOUR) as u32,
        }
    }

    /// One key class's rules from its maximum age and its default, shortest and longest
    /// grace.
    fn class_policy(&mut self, [age, default, min, max]: [&Setting; 4]) -> ClassPolicy {
        ClassPolicy {
            max_age_days: self.number(age) as u32,
            default_grace_seconds: self.number(default),
            min_grace_seconds: self.number(min),
            max_grace_seconds: self.number(max),
        }
    }

    /// The sender of customer emails; `None` (email off) when empty.
    fn email_from(&mut self) -> Option<String> {
        let from = self.text(&EMAIL_FROM).trim().to_owned();
        if from.is_empty() {
            return None;
        }
        if crate::contact::EmailAddress::parse(&from).is_err() {
            self.refuse(&EMAIL_FROM, "must be an email address", &from);
        }
        Some(from)
    }

    /// The delays between webhook attempts.
    fn webhook_retry_seconds(&mut self) -> Vec<u64> {
        let text = self.text(&WEBHOOK_RETRY_SECONDS);
        let delays = text
            .split(',')
            .map(|part| part.trim().parse::<u64>())
            .collect::<std::result::Result<Vec<u64>, _>>()
            .ok()
            .filter(|delays| {
                !delays.is_empty()
                    && delays.len() <= 20
                    && delays.iter().all(|d| (1..=86_400).contains(d))
            });
        delays.unwrap_or_else(|| {
            self.refuse(
                &WEBHOOK_RETRY_SECONDS,
                "must be 1-20 comma-separated delays of 1-86400 seconds",
                &text,
            );
            Vec::new()
        })
    }

    /// GitHub's secret-scanning keys, shown by their summary.
    fn github_keys(&mut self) -> crate::leak::GitHubKeys {
        let keys = match crate::leak::GitHubKeys::parse(&self.text(&GITHUB_PUBLIC_KEYS)) {
            Ok(keys) => keys,
            Err(error) => {
                self.problems.push(configuration_problem(&error));
                crate::leak::GitHubKeys::none()
            }
        };
        self.show(&GITHUB_PUBLIC_KEYS, format!("{keys:?}"));
        keys
    }

    /// The secret format from the two prefixes.
    fn secret_format(&mut self) -> Option<SecretFormat> {
        let issued = self.text(&KEY_PREFIX);
        let legacy = self.text(&LEGACY_KEY_PREFIX);
        match SecretFormat::new(&issued, &legacy) {
            Ok(format) => Some(format),
            Err(error) => {
                self.problems.push(configuration_problem(&error));
                None
            }
        }
    }

    /// Reports `setting`, set to `got`, as breaking `rule`.
    fn refuse(&mut self, setting: &Setting, rule: &str, got: &str) {
        self.problems
            .push(format!("{} {rule} (got {got:?})", setting.name));
    }
}

/// Whether `name` is `lengths` characters of A-Z, a-z, 0-9 and `punctuation`.
fn named_with(name: &str, lengths: std::ops::RangeInclusive<usize>, punctuation: &[u8]) -> bool {
    lengths.contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || punctuation.contains(&b))
}

/// A configuration error of a parser, as one of the reader's problems.
fn configuration_problem(error: &Error) -> String {
    error
        .to_string()
        .trim_start_matches("configuration: ")
        .to_owned()
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

    /// Each declared setting has its row in docs/configuration.md stating its default
    /// and, for a number, its bounds; every row there (above keyroll-local's own) is a
    /// declared setting; and what `describe` shows is declared.
    #[test]
    fn every_setting_is_documented_as_declared() {
        let doc = include_str!("../../../docs/configuration.md");
        let keyroll = doc.split("## keyroll-local only").next().unwrap();
        assert_eq!(
            settings::undocumented(keyroll, SETTINGS),
            Vec::<String>::new()
        );
        let described = with(&[]).unwrap().describe();
        for name in described.keys() {
            assert!(
                SETTINGS.iter().any(|s| s.name == *name),
                "{name} is not in SETTINGS"
            );
        }
        assert_eq!(described["KEYROLL_MAX_AGE_DAYS"], "90");
    }

    /// The check bites: a wrong default, missing bounds and an undeclared row are
    /// each named.
    #[test]
    fn a_row_that_differs_from_its_declaration_is_named() {
        let table = "| `KEYROLL_MAX_AGE_DAYS` | `30` | too young |\n| `KEYROLL_NOPE` | `1` | x |";
        let problems = settings::undocumented(table, &[MAX_AGE_DAYS, TABLE_NAME]);
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].contains("KEYROLL_MAX_AGE_DAYS: the row's default"));
        assert!(problems[1].contains("(1–3650)"));
        assert!(problems[2].contains("KEYROLL_TABLE_NAME has no row"));
        assert!(problems[3].contains("KEYROLL_NOPE has a row but no declaration"));
    }

    /// Every default is a value its declaration accepts.
    #[test]
    fn every_default_is_accepted() {
        for setting in SETTINGS {
            match setting.accepts {
                Accepts::Number { min, max } => {
                    let value: u64 = setting.default.parse().unwrap();
                    assert!((min..=max).contains(&value), "{}", setting.name);
                }
                Accepts::Flag => assert!(
                    ["true", "false"].contains(&setting.default),
                    "{}",
                    setting.name
                ),
                Accepts::Text => {}
            }
        }
    }
}
