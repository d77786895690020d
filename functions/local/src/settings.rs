//! keyroll-local's own settings, declared as keyroll's are (`keyroll_core::config::
//! settings`: name, default, what it accepts, meaning) and documented in
//! docs/configuration.md.

use std::time::Duration;

use anyhow::Result;
use keyroll_core::config::{Accepts, Setting};

const YEAR: u64 = 365 * 86_400;

pub const LISTEN: Setting = Setting {
    name: "KEYROLL_LISTEN",
    default: "127.0.0.1:3000",
    accepts: Accepts::Text,
    meaning: "where the API listens, host:port (port 0 picks a free one)",
};

pub const BACKEND: Setting = Setting {
    name: "KEYROLL_BACKEND",
    default: "memory",
    accepts: Accepts::Text,
    meaning: "memory (the embedded store, queue and vault) or aws (DynamoDB, SQS, Secrets Manager, SES and KMS at the standard AWS endpoints)",
};

pub const ADMIN_TOKEN: Setting = Setting {
    name: "KEYROLL_ADMIN_TOKEN",
    default: "",
    accepts: Accepts::Text,
    meaning:
        "the bearer token operators send, at least 16 characters; generated and printed when unset",
};

pub const PROCESS_INTERVAL_SECONDS: Setting = Setting {
    name: "KEYROLL_PROCESS_INTERVAL_SECONDS",
    default: "60",
    accepts: Accepts::Number { min: 1, max: YEAR },
    meaning: "how often the processor runs",
};

pub const SCAN_INTERVAL_SECONDS: Setting = Setting {
    name: "KEYROLL_SCAN_INTERVAL_SECONDS",
    default: "86400",
    accepts: Accepts::Number { min: 1, max: YEAR },
    meaning: "how often the compliance scan runs",
};

pub const NOTIFY_INTERVAL_SECONDS: Setting = Setting {
    name: "KEYROLL_NOTIFY_INTERVAL_SECONDS",
    default: "1",
    accepts: Accepts::Number { min: 1, max: YEAR },
    meaning: "how often the notifier reads the queue and runs due retries",
};

pub const EMAIL_DIR: Setting = Setting {
    name: "KEYROLL_EMAIL_DIR",
    default: "",
    accepts: Accepts::Text,
    meaning: "where emails are written as .eml files with the memory backend; a fresh folder under the system's temporary directory when unset",
};

pub const DEV_KEY_FILE: Setting = Setting {
    name: "KEYROLL_DEV_KEY_FILE",
    default: "",
    accepts: Accepts::Text,
    meaning: "the development signing key keyroll-local trusts when KEYROLL_JWT_ISSUER is empty (created with mode 0600); ~/.keyroll/dev-jwt-key when unset",
};

/// `setting` from the environment, or its default.
pub fn text(setting: &Setting) -> String {
    setting.text_from(|name| std::env::var(name).ok())
}

/// An interval setting, within its declared bounds.
pub fn interval(setting: &Setting) -> Result<Duration> {
    setting
        .number(&text(setting))
        .map(Duration::from_secs)
        .map_err(anyhow::Error::msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every setting only keyroll-local reads.
    pub const LOCAL_SETTINGS: &[Setting] = &[
        LISTEN,
        BACKEND,
        ADMIN_TOKEN,
        PROCESS_INTERVAL_SECONDS,
        SCAN_INTERVAL_SECONDS,
        NOTIFY_INTERVAL_SECONDS,
        EMAIL_DIR,
        DEV_KEY_FILE,
    ];

    /// Each of keyroll-local's settings has its row in docs/configuration.md, as
    /// declared.
    #[test]
    fn every_local_setting_is_documented_as_declared() {
        let doc = include_str!("../../../docs/configuration.md");
        let local = doc.split("## keyroll-local only").nth(1).unwrap();
        let table = local.split("\n\n").take(2).collect::<Vec<_>>().join("\n");
        assert_eq!(
            keyroll_core::config::settings::undocumented(&table, LOCAL_SETTINGS),
            Vec::<String>::new()
        );
    }

    #[test]
    fn an_interval_outside_its_bounds_is_refused_by_name() {
        let zero = PROCESS_INTERVAL_SECONDS.number("0").unwrap_err();
        assert!(zero.contains("KEYROLL_PROCESS_INTERVAL_SECONDS"), "{zero}");
        assert_eq!(PROCESS_INTERVAL_SECONDS.number("60"), Ok(60));
    }
}
