//! Every environment variable keyroll reads, with its default and meaning: the table
//! `docs/configuration.md` documents (a test keeps the two in step).

/// One environment variable keyroll reads.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    pub name: &'static str,
    /// The default as text; empty means "unset".
    pub default: &'static str,
    pub meaning: &'static str,
}

pub const SETTINGS: &[Setting] = &[
    Setting {
        name: "KEYROLL_MAX_AGE_DAYS",
        default: "90",
        meaning: "server keys: a secret older than this is out of compliance",
    },
    Setting {
        name: "KEYROLL_DEFAULT_GRACE_SECONDS",
        default: "259200",
        meaning: "server keys: grace when a rotation names none (72 h)",
    },
    Setting {
        name: "KEYROLL_MIN_GRACE_SECONDS",
        default: "60",
        meaning: "server keys: shortest grace a non-emergency rotation may ask for",
    },
    Setting {
        name: "KEYROLL_MAX_GRACE_SECONDS",
        default: "2592000",
        meaning: "server keys: longest grace, extensions included (30 days)",
    },
    Setting {
        name: "KEYROLL_EMBEDDED_MAX_AGE_DAYS",
        default: "180",
        meaning: "embedded keys (in mobile apps): maximum secret age",
    },
    Setting {
        name: "KEYROLL_EMBEDDED_DEFAULT_GRACE_SECONDS",
        default: "2592000",
        meaning: "embedded keys: default grace (30 days, one app release cycle)",
    },
    Setting {
        name: "KEYROLL_EMBEDDED_MIN_GRACE_SECONDS",
        default: "86400",
        meaning: "embedded keys: shortest non-emergency grace (1 day)",
    },
    Setting {
        name: "KEYROLL_EMBEDDED_MAX_GRACE_SECONDS",
        default: "7776000",
        meaning: "embedded keys: hard maximum grace, extensions included (90 days)",
    },
    Setting {
        name: "KEYROLL_EMERGENCY_GRACE_SECONDS",
        default: "14400",
        meaning: "emergency rotations: default grace (4 h); 0 kills the old secret at once",
    },
    Setting {
        name: "KEYROLL_EMERGENCY_MAX_GRACE_SECONDS",
        default: "86400",
        meaning: "emergency rotations: longest grace a caller may ask for (24 h)",
    },
    Setting {
        name: "KEYROLL_SCHEDULE_LEAD_SECONDS",
        default: "86400",
        meaning: "a rotation without scheduledAt starts this long after it is scheduled (24 h)",
    },
    Setting {
        name: "KEYROLL_REMINDER_LEAD_SECONDS",
        default: "86400",
        meaning: "a rotation.reminder goes out this long before the grace ends (24 h), when the grace is longer",
    },
    Setting {
        name: "KEYROLL_SECRET_NAME_PREFIX",
        default: "keyroll/",
        meaning: "Secrets Manager name prefix of secrets awaiting their one reveal",
    },
    Setting {
        name: "KEYROLL_WARN_AHEAD_DAYS",
        default: "14",
        meaning: "the scanner sends key.expiring this many days before a secret reaches its maximum age",
    },
    Setting {
        name: "KEYROLL_LEAK_GRACE_SECONDS",
        default: "0",
        meaning: "grace of the emergency rotation a leak report starts; 0 revokes the leaked secret at once",
    },
    Setting {
        name: "KEYROLL_EMBEDDED_EXTENSION_STEP_SECONDS",
        default: "604800",
        meaning: "embedded keys with auto-extension: how far the grace moves each time the old secret is still in use at its end (7 days)",
    },
    Setting {
        name: "KEYROLL_UNDELIVERED_EXTENSION_SECONDS",
        default: "86400",
        meaning: "a policy or self-service rotation whose held new secret nobody has received an hour before its grace ends gets this much more grace, step by step up to the class's maximum grace, and the contacts are reminded (1 day)",
    },
    Setting {
        name: "KEYROLL_EMAIL_FROM",
        default: "",
        meaning: "the sender of customer emails (an SES-verified identity in AWS); email is off when empty",
    },
    Setting {
        name: "KEYROLL_WEBHOOK_RETRY_SECONDS",
        default: "5,300,1800,7200,18000,36000,36000",
        meaning: "delays between webhook attempts (comma-separated seconds; the default tries for 27.6 hours); an endpoint failing all of them is disabled",
    },
    Setting {
        name: "KEYROLL_AUDIT_MAC_REQUIRED",
        default: "true",
        meaning: "an audit chain is valid only with an authentic head MAC (a missing one counts as stripped); false only on a stack upgraded from before authenticated chains, until every key has changed since",
    },
    Setting {
        name: "KEYROLL_ALLOW_LOOPBACK_WEBHOOKS",
        default: "false",
        meaning: "true allows webhook endpoints on http://127.0.0.0/8, [::1] and localhost (for keyroll-local and tests); never in AWS",
    },
    Setting {
        name: "KEYROLL_JWT_ISSUER",
        default: "",
        meaning: "the `iss` of customer users' tokens (your OpenID Connect provider); the customer routes are off when empty",
    },
    Setting {
        name: "KEYROLL_JWT_AUDIENCE",
        default: "",
        meaning: "the `aud` customer tokens must carry (required with KEYROLL_JWT_ISSUER)",
    },
    Setting {
        name: "KEYROLL_JWKS",
        default: "",
        meaning: "the identity provider's JWKS document, inline; only its RS256 and ES256 keys are trusted. In Lambda API Gateway's JWT authorizer checks tokens, and this checks them again; keyroll-local trusts its development key when empty",
    },
    Setting {
        name: "KEYROLL_JWT_ORG_CLAIM",
        default: "org_id",
        meaning: "the claim naming the user's organisation",
    },
    Setting {
        name: "KEYROLL_JWT_ROLE_CLAIM",
        default: "keyroll_role",
        meaning: "the claim naming the user's role: `admin` acts, anything else (or nothing) only reads",
    },
    Setting {
        name: "KEYROLL_VERIFY_CACHE_SECONDS",
        default: "10",
        meaning: "the authorizer caches a positive verification this long; it bounds how long a revoked secret can still pass (0-300)",
    },
    Setting {
        name: "KEYROLL_GITHUB_PUBLIC_KEYS",
        default: "",
        meaning: "GitHub secret-scanning public keys, as the JSON of GET /meta/public_keys/secret_scanning; empty refuses every leak report",
    },
    Setting {
        name: "KEYROLL_KEY_PREFIX",
        default: "sk_live_",
        meaning: "prefix of every secret keyroll issues",
    },
    Setting {
        name: "KEYROLL_LEGACY_KEY_PREFIX",
        default: "sk_live_",
        meaning: "prefix of secrets imported from the old system (prefix + 64 hex)",
    },
    Setting {
        name: "KEYROLL_TABLE_NAME",
        default: "keyroll",
        meaning: "the DynamoDB table holding keys, secrets, rotations and audit events",
    },
    Setting {
        name: "KEYROLL_MAC_KEY_ID",
        default: "",
        meaning: "the KMS HMAC_256 key (id, ARN or alias) that authenticates audit-chain heads and derives idempotency records; unset, a random key of the process (local runs only: every Lambda function that writes needs the same key)",
    },
    Setting {
        name: "KEYROLL_QUEUE_URL",
        default: "",
        meaning: "the SQS FIFO queue for customer notifications",
    },
];
