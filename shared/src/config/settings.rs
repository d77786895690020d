//! Every environment variable keyroll reads, declared once: its name, default, what it
//! accepts and what it means. The reader (`Config::from_lookup`), the start-up line
//! (`Config::describe`) and `docs/configuration.md`'s tables (a test holds each row to
//! its declaration) all come from here.

pub(super) const DAY: u64 = 86_400;

/// What values a setting accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepts {
    /// A whole number from `min` to `max`.
    Number { min: u64, max: u64 },
    /// `true` or `false`.
    Flag,
    /// Text, whose rule (a prefix's form, an address, a JSON document) its reader
    /// checks and its meaning states.
    Text,
}

/// One environment variable keyroll reads.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    pub name: &'static str,
    /// The default as text; empty means "unset".
    pub default: &'static str,
    pub accepts: Accepts,
    pub meaning: &'static str,
}

impl Setting {
    /// This setting's text through `lookup` (the environment), or its default.
    pub fn text_from(&self, lookup: impl Fn(&str) -> Option<String>) -> String {
        lookup(self.name).unwrap_or_else(|| self.default.to_owned())
    }

    /// `text` as this setting's whole number within its bounds, or the problem, naming
    /// the setting (a setting not declared as a number has none).
    pub fn number(&self, text: &str) -> Result<u64, String> {
        let Accepts::Number { min, max } = self.accepts else {
            return Err(format!("{} is not declared as a number", self.name));
        };
        match text.trim().parse::<u64>() {
            Ok(value) if (min..=max).contains(&value) => Ok(value),
            _ => Err(format!(
                "{} must be a whole number from {min} to {max} (got {text:?})",
                self.name
            )),
        }
    }
}

/// Where the rows of a documentation table (`| \`NAME\` | default | meaning |`)
/// differ from `settings`: a setting without a row, a row without a setting, a default
/// other than declared (`empty` or `(unset)` for none), a number's bounds not stated
/// as `(min–max)`. Empty when they agree.
pub fn undocumented(table: &str, settings: &[Setting]) -> Vec<String> {
    let rows: Vec<(&str, Vec<&str>)> = table
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split(" | ").collect();
            let name = cells.first()?.strip_prefix("| `")?.strip_suffix('`')?;
            name.starts_with("KEYROLL_").then_some((name, cells))
        })
        .collect();
    let mut problems = Vec::new();
    for setting in settings {
        let Some((_, cells)) = rows.iter().find(|(name, _)| *name == setting.name) else {
            problems.push(format!("{} has no row", setting.name));
            continue;
        };
        let default = cells.get(1).copied().unwrap_or_default();
        let stated = if setting.default.is_empty() {
            default == "empty" || default == "(unset)"
        } else {
            default.starts_with(&format!("`{}`", setting.default))
        };
        if !stated {
            problems.push(format!(
                "{}: the row's default is {default:?}, the declared one {:?}",
                setting.name, setting.default
            ));
        }
        if let Accepts::Number { min, max } = setting.accepts {
            let bounds = format!("({min}–{max})");
            if !cells
                .get(2)
                .is_some_and(|meaning| meaning.contains(&bounds))
            {
                problems.push(format!("{}: the row does not state {bounds}", setting.name));
            }
        }
    }
    for (name, _) in &rows {
        if !settings.iter().any(|s| s.name == *name) {
            problems.push(format!("{name} has a row but no declaration"));
        }
    }
    problems
}

pub const MAX_AGE_DAYS: Setting = Setting {
    name: "KEYROLL_MAX_AGE_DAYS",
    default: "90",
    accepts: Accepts::Number { min: 1, max: 3650 },
    meaning: "server keys: a secret older than this is out of compliance",
};

pub const DEFAULT_GRACE_SECONDS: Setting = Setting {
    name: "KEYROLL_DEFAULT_GRACE_SECONDS",
    default: "259200",
    accepts: Accepts::Number {
        min: 0,
        max: 365 * DAY,
    },
    meaning: "server keys: grace when a rotation names none (72 h)",
};

pub const MIN_GRACE_SECONDS: Setting = Setting {
    name: "KEYROLL_MIN_GRACE_SECONDS",
    default: "60",
    accepts: Accepts::Number {
        min: 0,
        max: 365 * DAY,
    },
    meaning: "server keys: shortest grace a non-emergency rotation may ask for",
};

pub const MAX_GRACE_SECONDS: Setting = Setting {
    name: "KEYROLL_MAX_GRACE_SECONDS",
    default: "2592000",
    accepts: Accepts::Number {
        min: 0,
        max: 365 * DAY,
    },
    meaning: "server keys: longest grace, extensions included (30 days)",
};

pub const EMBEDDED_MAX_AGE_DAYS: Setting = Setting {
    name: "KEYROLL_EMBEDDED_MAX_AGE_DAYS",
    default: "180",
    accepts: Accepts::Number { min: 1, max: 3650 },
    meaning: "embedded keys (in mobile apps): maximum secret age",
};

pub const EMBEDDED_DEFAULT_GRACE_SECONDS: Setting = Setting {
    name: "KEYROLL_EMBEDDED_DEFAULT_GRACE_SECONDS",
    default: "2592000",
    accepts: Accepts::Number {
        min: 0,
        max: 365 * DAY,
    },
    meaning: "embedded keys: default grace (30 days, one app release cycle)",
};

pub const EMBEDDED_MIN_GRACE_SECONDS: Setting = Setting {
    name: "KEYROLL_EMBEDDED_MIN_GRACE_SECONDS",
    default: "86400",
    accepts: Accepts::Number {
        min: 0,
        max: 365 * DAY,
    },
    meaning: "embedded keys: shortest non-emergency grace (1 day)",
};

pub const EMBEDDED_MAX_GRACE_SECONDS: Setting = Setting {
    name: "KEYROLL_EMBEDDED_MAX_GRACE_SECONDS",
    default: "7776000",
    accepts: Accepts::Number {
        min: 0,
        max: 365 * DAY,
    },
    meaning: "embedded keys: hard maximum grace, extensions included (90 days)",
};

pub const EMERGENCY_GRACE_SECONDS: Setting = Setting {
    name: "KEYROLL_EMERGENCY_GRACE_SECONDS",
    default: "14400",
    accepts: Accepts::Number {
        min: 0,
        max: 7 * DAY,
    },
    meaning: "emergency rotations: default grace (4 h); 0 kills the old secret at once",
};

pub const EMERGENCY_MAX_GRACE_SECONDS: Setting = Setting {
    name: "KEYROLL_EMERGENCY_MAX_GRACE_SECONDS",
    default: "86400",
    accepts: Accepts::Number {
        min: 0,
        max: 7 * DAY,
    },
    meaning: "emergency rotations: longest grace a caller may ask for (24 h)",
};

pub const SCHEDULE_LEAD_SECONDS: Setting = Setting {
    name: "KEYROLL_SCHEDULE_LEAD_SECONDS",
    default: "86400",
    accepts: Accepts::Number {
        min: 0,
        max: 365 * DAY,
    },
    meaning: "a rotation without scheduledAt starts this long after it is scheduled (24 h)",
};

pub const REMINDER_LEAD_SECONDS: Setting = Setting {
    name: "KEYROLL_REMINDER_LEAD_SECONDS",
    default: "86400",
    accepts: Accepts::Number {
        min: 0,
        max: 365 * DAY,
    },
    meaning: "a rotation.reminder goes out this long before the grace ends (24 h), when the grace is longer",
};

pub const SECRET_NAME_PREFIX: Setting = Setting {
    name: "KEYROLL_SECRET_NAME_PREFIX",
    default: "keyroll/",
    accepts: Accepts::Text,
    meaning: "Secrets Manager name prefix of secrets awaiting their one reveal",
};

pub const WARN_AHEAD_DAYS: Setting = Setting {
    name: "KEYROLL_WARN_AHEAD_DAYS",
    default: "14",
    accepts: Accepts::Number { min: 0, max: 3650 },
    meaning:
        "key.expiring is sent this many days before a secret reaches its maximum age (the scanner) and before a key's own expiresAt (the processor)",
};

pub const LEAK_GRACE_SECONDS: Setting = Setting {
    name: "KEYROLL_LEAK_GRACE_SECONDS",
    default: "0",
    accepts: Accepts::Number {
        min: 0,
        max: 7 * DAY,
    },
    meaning:
        "grace of the emergency rotation a leak report starts; 0 revokes the leaked secret at once",
};

pub const EMBEDDED_EXTENSION_STEP_SECONDS: Setting = Setting {
    name: "KEYROLL_EMBEDDED_EXTENSION_STEP_SECONDS",
    default: "604800",
    accepts: Accepts::Number {
        min: 60,
        max: 365 * DAY,
    },
    meaning: "embedded keys with auto-extension: how far the grace moves each time the old secret is still in use at its end (7 days)",
};

pub const UNDELIVERED_EXTENSION_SECONDS: Setting = Setting {
    name: "KEYROLL_UNDELIVERED_EXTENSION_SECONDS",
    default: "86400",
    accepts: Accepts::Number {
        min: 3600,
        max: 30 * DAY,
    },
    meaning: "a policy or self-service rotation whose held new secret nobody has received an hour before its grace ends gets this much more grace, step by step up to the class's maximum grace, and the contacts are reminded (1 day)",
};

pub const CUSTOMER_ROTATIONS_PER_KEY_HOUR: Setting = Setting {
    name: "KEYROLL_CUSTOMER_ROTATIONS_PER_KEY_HOUR",
    default: "6",
    accepts: Accepts::Number { min: 1, max: 1000 },
    meaning: "the most rotations (scheduled or emergency) the organisation's users and clients may start on one key in an hour; more are answered 429 with Retry-After and change nothing (operators, the scanner and leak reports are not limited)",
};

pub const WEBHOOK_SECRET_ROTATIONS_PER_DAY: Setting = Setting {
    name: "KEYROLL_WEBHOOK_SECRET_ROTATIONS_PER_DAY",
    default: "3",
    accepts: Accepts::Number { min: 1, max: 100 },
    meaning: "the most signing-secret rotations of one webhook endpoint in a day (each is a Secrets Manager secret kept a day); more are answered 429 with Retry-After and change nothing",
};

pub const EMAILS_PER_ORGANIZATION_HOUR: Setting = Setting {
    name: "KEYROLL_EMAILS_PER_ORGANIZATION_HOUR",
    default: "200",
    accepts: Accepts::Number { min: 1, max: 100_000 },
    meaning: "the most emails keyroll sends for one organisation in a clock hour, confirmations included (they share the account's SES reputation); beyond it a contact's confirmation is answered 429 with Retry-After and notifications' emails wait for the next hour (the feed and webhooks are not limited)",
};

pub const EMAIL_FROM: Setting = Setting {
    name: "KEYROLL_EMAIL_FROM",
    default: "",
    accepts: Accepts::Text,
    meaning:
        "the sender of customer emails (an SES-verified identity in AWS); email is off when empty",
};

pub const WEBHOOK_RETRY_SECONDS: Setting = Setting {
    name: "KEYROLL_WEBHOOK_RETRY_SECONDS",
    default: "5,300,1800,7200,18000,36000,36000",
    accepts: Accepts::Text,
    meaning: "delays between webhook attempts (comma-separated seconds; the default tries for 27.6 hours); an endpoint failing all of them is disabled",
};

pub const AUDIT_MAC_REQUIRED: Setting = Setting {
    name: "KEYROLL_AUDIT_MAC_REQUIRED",
    default: "true",
    accepts: Accepts::Flag,
    meaning: "an audit chain is valid only with an authentic head MAC (a missing one counts as stripped), and a secret verifies only if its record carries keyroll's identity and state MACs; false only on a stack upgraded from before authenticated records (until the scanner's upgrade sweep is done) or chains (until every key has changed since)",
};

pub const ALLOW_LOOPBACK_WEBHOOKS: Setting = Setting {
    name: "KEYROLL_ALLOW_LOOPBACK_WEBHOOKS",
    default: "false",
    accepts: Accepts::Flag,
    meaning: "true allows webhook endpoints on http://127.0.0.0/8, [::1] and localhost (for keyroll-local and tests); never in AWS",
};

pub const JWT_ISSUER: Setting = Setting {
    name: "KEYROLL_JWT_ISSUER",
    default: "",
    accepts: Accepts::Text,
    meaning: "the `iss` of customer users' tokens (your OpenID Connect provider), whose keys are found by discovery at `<issuer>/.well-known/openid-configuration`; the customer routes are off when empty",
};

pub const JWT_AUDIENCE: Setting = Setting {
    name: "KEYROLL_JWT_AUDIENCE",
    default: "",
    accepts: Accepts::Text,
    meaning: "the `aud` customer tokens must carry (required with KEYROLL_JWT_ISSUER)",
};

pub const JWKS: Setting = Setting {
    name: "KEYROLL_JWKS",
    default: "",
    accepts: Accepts::Text,
    meaning: "the identity provider's JWKS document, inline, for a provider keyroll cannot reach (air-gapped); when empty the keys are found from KEYROLL_JWT_ISSUER by OpenID Connect discovery. Only RS256 and ES256 keys are trusted",
};

pub const JWT_ORG_CLAIM: Setting = Setting {
    name: "KEYROLL_JWT_ORG_CLAIM",
    default: "org_id",
    accepts: Accepts::Text,
    meaning: "the claim naming the user's organisation",
};

pub const JWT_ROLE_CLAIM: Setting = Setting {
    name: "KEYROLL_JWT_ROLE_CLAIM",
    default: "keyroll_role",
    accepts: Accepts::Text,
    meaning:
        "the claim naming the user's role: `admin` acts, anything else (or nothing) only reads",
};

pub const VERIFY_CACHE_SECONDS: Setting = Setting {
    name: "KEYROLL_VERIFY_CACHE_SECONDS",
    default: "10",
    accepts: Accepts::Number {
        min: 0,
        max: 300,
    },
    meaning: "the authorizer caches a positive verification this long; it bounds how long a revoked secret can still pass (0-300)",
};

pub const APP_VERSION_HEADER: Setting = Setting {
    name: "KEYROLL_APP_VERSION_HEADER",
    default: "X-App-Version",
    accepts: Accepts::Text,
    meaning: "the request header whose value is a caller's app version, attributed with each verification (1-64 of A-Z, a-z, 0-9, '-', '_')",
};

pub const GITHUB_PUBLIC_KEYS: Setting = Setting {
    name: "KEYROLL_GITHUB_PUBLIC_KEYS",
    default: "",
    accepts: Accepts::Text,
    meaning: "GitHub secret-scanning public keys, as the JSON of GET /meta/public_keys/secret_scanning; empty refuses every leak report",
};

pub const KEY_PREFIX: Setting = Setting {
    name: "KEYROLL_KEY_PREFIX",
    default: "sk_live_",
    accepts: Accepts::Text,
    meaning: "prefix of every secret keyroll issues",
};

pub const LEGACY_KEY_PREFIX: Setting = Setting {
    name: "KEYROLL_LEGACY_KEY_PREFIX",
    default: "sk_live_",
    accepts: Accepts::Text,
    meaning: "prefix of secrets imported from the old system (prefix + 64 hex)",
};

pub const TABLE_NAME: Setting = Setting {
    name: "KEYROLL_TABLE_NAME",
    default: "keyroll",
    accepts: Accepts::Text,
    meaning: "the DynamoDB table holding keys, secrets, rotations and audit events",
};

pub const MAC_KEY_ID: Setting = Setting {
    name: "KEYROLL_MAC_KEY_ID",
    default: "",
    accepts: Accepts::Text,
    meaning: "the KMS HMAC_256 key (id, ARN or alias) that authenticates audit-chain heads and derives idempotency records; unset, a random key of the process (local runs only: every Lambda function that writes needs the same key)",
};

pub const QUEUE_URL: Setting = Setting {
    name: "KEYROLL_QUEUE_URL",
    default: "",
    accepts: Accepts::Text,
    meaning: "the SQS FIFO queue for customer notifications",
};

pub const SETTINGS: &[Setting] = &[
    MAX_AGE_DAYS,
    DEFAULT_GRACE_SECONDS,
    MIN_GRACE_SECONDS,
    MAX_GRACE_SECONDS,
    EMBEDDED_MAX_AGE_DAYS,
    EMBEDDED_DEFAULT_GRACE_SECONDS,
    EMBEDDED_MIN_GRACE_SECONDS,
    EMBEDDED_MAX_GRACE_SECONDS,
    EMERGENCY_GRACE_SECONDS,
    EMERGENCY_MAX_GRACE_SECONDS,
    SCHEDULE_LEAD_SECONDS,
    REMINDER_LEAD_SECONDS,
    SECRET_NAME_PREFIX,
    WARN_AHEAD_DAYS,
    LEAK_GRACE_SECONDS,
    EMBEDDED_EXTENSION_STEP_SECONDS,
    UNDELIVERED_EXTENSION_SECONDS,
    CUSTOMER_ROTATIONS_PER_KEY_HOUR,
    WEBHOOK_SECRET_ROTATIONS_PER_DAY,
    EMAILS_PER_ORGANIZATION_HOUR,
    EMAIL_FROM,
    WEBHOOK_RETRY_SECONDS,
    AUDIT_MAC_REQUIRED,
    ALLOW_LOOPBACK_WEBHOOKS,
    JWT_ISSUER,
    JWT_AUDIENCE,
    JWKS,
    JWT_ORG_CLAIM,
    JWT_ROLE_CLAIM,
    VERIFY_CACHE_SECONDS,
    APP_VERSION_HEADER,
    GITHUB_PUBLIC_KEYS,
    KEY_PREFIX,
    LEGACY_KEY_PREFIX,
    TABLE_NAME,
    MAC_KEY_ID,
    QUEUE_URL,
];
