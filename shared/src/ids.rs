//! Validated identifiers and the short texts that travel with every change.
//!
//! Each type can only be built through `parse` (input from outside) or `generate`
//! (ids minted here), so the rest of the code never re-checks them.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;
use crate::random;
use crate::rules;

const CROCKFORD: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
const ULID_LEN: usize = 26;

/// A ULID in lower-case Crockford base32: 48 bits of milliseconds since the epoch then
/// 80 random bits, so ids sort by creation time ("newest first" is a reverse sort).
fn ulid() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
        & 0xFFFF_FFFF_FFFF;
    let random: [u8; 10] = random::bytes();
    let mut value: u128 = u128::from(millis) << 80;
    for (i, byte) in random.iter().enumerate() {
        value |= u128::from(*byte) << (8 * (9 - i));
    }
    let mut out = [0u8; ULID_LEN];
    for slot in out.iter_mut().rev() {
        *slot = CROCKFORD[(value & 0x1F) as usize];
        value >>= 5;
    }
    out.iter().map(|&b| b as char).collect()
}

pub(crate) fn is_ulid(text: &str) -> bool {
    text.len() == ULID_LEN
        // The first character carries only 3 bits (128 = 26*5 - 2).
        && text.as_bytes()[0] <= b'7'
        && text.bytes().all(|b| CROCKFORD.contains(&b))
}

macro_rules! string_newtype {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                $name::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// Binds a validated text type to its rule ([`rules::TextInput`]) and, for the API's
/// document, states its schema from that rule.
macro_rules! text_input {
    ($name:ident, $rule:expr) => {
        impl rules::TextInput for $name {
            const RULE: rules::TextRule = $rule;
        }

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                use rules::TextInput;
                let rule = Self::RULE;
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .min_length(Some(rule.min_chars))
                    .max_length(Some(rule.max_chars))
                    .pattern(Some(rule.pattern()))
                    .into()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}
    };
}

macro_rules! prefixed_ulid {
    ($(#[$meta:meta])* $name:ident, $prefix:literal, $field:literal) => {
        string_newtype!($(#[$meta])* $name);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn generate() -> Self {
                Self(format!("{}{}", $prefix, ulid()))
            }

            pub fn parse(text: &str) -> Result<Self, Error> {
                match text.strip_prefix($prefix) {
                    Some(rest) if is_ulid(rest) => Ok(Self(text.to_owned())),
                    _ => Err(Error::invalid(
                        $field,
                        concat!("must be '", $prefix, "' followed by 26 lower-case base32 characters"),
                    )),
                }
            }
        }
    };
}

string_newtype!(
    /// A key's stable identity: survives every rotation of its secret. keyroll mints
    /// `key_<ulid>`; keys imported from the old system keep their own id (1-64 of
    /// letters, digits, '_' and '-').
    KeyId
);

text_input!(KeyId, rules::KEY_ID);

impl KeyId {
    pub const PREFIX: &'static str = "key_";

    pub fn generate() -> Self {
        Self(format!("{}{}", Self::PREFIX, ulid()))
    }

    pub fn parse(text: &str) -> Result<Self, Error> {
        if <Self as rules::TextInput>::RULE.accepts(text) {
            Ok(Self(text.to_owned()))
        } else {
            Err(Error::invalid(
                "keyId",
                "must be 1-64 letters, digits, '_' or '-'",
            ))
        }
    }
}
prefixed_ulid!(
    /// One rotation of one key.
    RotationId, "rot_", "rotationId"
);

prefixed_ulid!(
    /// An organisation's email contact for notifications.
    ContactId, "ctc_", "contactId"
);

prefixed_ulid!(
    /// An organisation's webhook endpoint for notifications.
    WebhookId, "whk_", "webhookId"
);

/// Rejects control characters, which have no business in ids or audit text and can
/// forge log lines.
fn printable(text: &str) -> bool {
    !text.chars().any(char::is_control)
}

string_newtype!(
    /// The customer organisation that owns a key.
    OrganizationId
);

text_input!(OrganizationId, rules::ORGANIZATION_ID);

impl OrganizationId {
    pub fn parse(text: &str) -> Result<Self, Error> {
        if <Self as rules::TextInput>::RULE.accepts(text) {
            Ok(Self(text.to_owned()))
        } else {
            Err(Error::invalid(
                "organizationId",
                "must be 1-64 characters of A-Z, a-z, 0-9, '_', '-', '.', ':'",
            ))
        }
    }
}

string_newtype!(
    /// Who made a change: an operator (an IAM principal or the local admin), a user of a
    /// customer organisation, a customer's client with its own API key, or a keyroll
    /// job. Its [`ActorKind`] is read from its name, here and nowhere else.
    Actor
);

/// What kind of party an [`Actor`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorKind {
    /// The API company's operators: an IAM principal (`arn:…`) or the local admin.
    Operator,
    /// A user of a customer organisation: `customer:<organisation>/<subject>`.
    CustomerUser,
    /// A customer's client, authenticated by its own API key: `customer:<keyId>`.
    SelfServiceKey,
    /// keyroll's own jobs: `keyroll:<job>`.
    Job,
}

impl ActorKind {
    /// The kind of the actor named `name` (an actor's stored or shown name).
    pub fn of_name(name: &str) -> Self {
        match name.strip_prefix(CUSTOMER_PREFIX) {
            Some(rest) if rest.contains('/') => ActorKind::CustomerUser,
            Some(_) => ActorKind::SelfServiceKey,
            None if name.starts_with(JOB_PREFIX) => ActorKind::Job,
            None => ActorKind::Operator,
        }
    }

    /// The customer's own side: one of its users or its client.
    pub fn is_customer(self) -> bool {
        matches!(self, ActorKind::CustomerUser | ActorKind::SelfServiceKey)
    }
}

impl Actor {
    pub fn parse(text: &str) -> Result<Self, Error> {
        if (1..=256).contains(&text.len()) && printable(text) {
            Ok(Self(text.to_owned()))
        } else {
            Err(Error::invalid(
                "actor",
                "must be 1-256 printable characters",
            ))
        }
    }

    /// A fixed, known-good actor name chosen by keyroll (never caller input).
    pub fn system_named(name: &str) -> Self {
        Self(name.to_owned())
    }

    /// The processor and scanner act as themselves.
    pub fn system(job: &str) -> Self {
        Self(format!("{JOB_PREFIX}{job}"))
    }

    /// A customer's client acting with the current secret of its key `key`.
    pub fn self_service(key: &KeyId) -> Self {
        Self(format!("{CUSTOMER_PREFIX}{key}"))
    }

    pub fn kind(&self) -> ActorKind {
        ActorKind::of_name(&self.0)
    }

    /// A user of a customer organisation, named by the organisation's identity
    /// provider (its token's `sub`): `customer:<organisation>/<subject>`.
    pub fn customer(organization: &OrganizationId, subject: &str) -> Result<Self, Error> {
        if (1..=128).contains(&subject.len()) && printable(subject) {
            Ok(Self(format!("{CUSTOMER_PREFIX}{organization}/{subject}")))
        } else {
            Err(Error::invalid("sub", "must be 1-128 printable characters"))
        }
    }

    /// The organisation's user this actor is, when a customer acted (not an operator
    /// or keyroll itself): the subject after `customer:<organisation>/`.
    pub fn customer_subject(&self) -> Option<&str> {
        if self.kind() != ActorKind::CustomerUser {
            return None;
        }
        let rest = self.0.strip_prefix(CUSTOMER_PREFIX)?;
        rest.split_once('/').map(|(_, subject)| subject)
    }
}

/// How a customer's actor name starts (a user's or its client's). Operators are IAM
/// principals (`arn:…`) or the local admin, and keyroll's jobs are `keyroll:…`, so
/// none of them can take it.
const CUSTOMER_PREFIX: &str = "customer:";

/// How a keyroll job's actor name starts.
const JOB_PREFIX: &str = "keyroll:";

string_newtype!(
    /// A key's human-readable name.
    KeyName
);

text_input!(KeyName, rules::KEY_NAME);

impl KeyName {
    /// Leading and trailing white space is dropped.
    pub fn parse(text: &str) -> Result<Self, Error> {
        if <Self as rules::TextInput>::RULE.accepts(text) {
            Ok(Self(text.trim().to_owned()))
        } else {
            Err(Error::invalid("name", "must be 1-100 printable characters"))
        }
    }
}

string_newtype!(
    /// One permission granted to a key, e.g. `charges:write`.
    Scope
);

text_input!(Scope, rules::SCOPE);

impl Scope {
    pub fn parse(text: &str) -> Result<Self, Error> {
        if <Self as rules::TextInput>::RULE.accepts(text) {
            Ok(Self(text.to_owned()))
        } else {
            Err(Error::invalid(
                "scopes",
                "each scope must be 1-64 characters of A-Z, a-z, 0-9, '_', '-', '.', ':', '*', '/'",
            ))
        }
    }
}

string_newtype!(
    /// Why a change was made; recorded in the audit trail and sent to the customer.
    Reason
);

text_input!(Reason, rules::REASON);

impl Reason {
    pub const MAX_CHARS: usize = <Self as rules::TextInput>::RULE.max_chars;

    /// Leading and trailing white space is dropped.
    pub fn parse(text: &str) -> Result<Self, Error> {
        if text.trim().is_empty() {
            return Err(Error::invalid("reason", "must not be empty"));
        }
        if text.chars().count() > Self::MAX_CHARS {
            return Err(Error::invalid("reason", "must be at most 500 characters"));
        }
        if !<Self as rules::TextInput>::RULE.accepts(text) {
            return Err(Error::invalid(
                "reason",
                "must not contain control characters",
            ));
        }
        Ok(Self(text.trim().to_owned()))
    }

    /// A reason keyroll composes itself, often around a caller's reason or an error's
    /// text: held to the same rule as a parsed one (control characters become spaces,
    /// at most [`Reason::MAX_CHARS`], ending in `…` when cut), so every stored reason
    /// reads back. A table item whose reason does not parse could not be read at all.
    pub fn system(text: impl Into<String>) -> Self {
        let text: String = text
            .into()
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let text = text.trim();
        if text.is_empty() {
            return Self("(no reason given)".to_owned());
        }
        if text.chars().count() <= Self::MAX_CHARS {
            return Self(text.to_owned());
        }
        let mut cut: String = text.chars().take(Self::MAX_CHARS - 1).collect();
        cut.truncate(cut.trim_end().len());
        cut.push('…');
        Self(cut)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_actors_kind_is_read_from_its_name() {
        let org = OrganizationId::parse("org_acme").unwrap();
        let key = KeyId::generate();
        let cases = [
            (
                Actor::customer(&org, "alice").unwrap(),
                ActorKind::CustomerUser,
            ),
            (Actor::self_service(&key), ActorKind::SelfServiceKey),
            (Actor::system("processor"), ActorKind::Job),
            (Actor::system_named("local-admin"), ActorKind::Operator),
            (
                Actor::parse("arn:aws:iam::123456789012:role/ops").unwrap(),
                ActorKind::Operator,
            ),
        ];
        for (actor, kind) in cases {
            assert_eq!(actor.kind(), kind, "{actor}");
            assert_eq!(ActorKind::of_name(actor.as_str()), kind);
        }
        assert_eq!(
            Actor::customer(&org, "alice").unwrap().customer_subject(),
            Some("alice")
        );
        assert_eq!(Actor::self_service(&key).customer_subject(), None);
        assert!(ActorKind::SelfServiceKey.is_customer() && !ActorKind::Job.is_customer());
    }

    #[test]
    fn generated_ids_parse_and_sort_by_creation() {
        let a = RotationId::generate();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = RotationId::generate();
        assert_eq!(RotationId::parse(a.as_str()).unwrap(), a);
        assert!(a < b, "{a} then {b}");
        assert!(KeyId::parse(KeyId::generate().as_str()).is_ok());
    }

    #[test]
    fn ids_reject_wrong_prefix_length_and_alphabet() {
        let good = RotationId::generate();
        assert!(RotationId::parse(&good.as_str().replace("rot_", "key_")).is_err());
        assert!(RotationId::parse(&good.as_str()[..good.as_str().len() - 1]).is_err());
        assert!(RotationId::parse(&format!("rot_{}", "u".repeat(26))).is_err()); // 'u' is not Crockford
        assert!(RotationId::parse(&format!("rot_8{}", "0".repeat(25))).is_err()); // overflows 128 bits
        assert!(RotationId::parse("").is_err());
        // Key ids: keyroll's own, or an imported system's.
        assert!(KeyId::parse("key-abc123def456").is_ok());
        assert!(KeyId::parse("").is_err());
        assert!(KeyId::parse(&"k".repeat(65)).is_err());
        assert!(KeyId::parse("KEY#1").is_err(), "no table-key separators");
        assert!(KeyId::parse("key 1").is_err());
    }

    #[test]
    fn a_composed_reason_reads_back() {
        let caller = "é".repeat(Reason::MAX_CHARS);
        let long = Reason::system(format!(
            "forced although the new secret was delivered: {caller}"
        ));
        assert_eq!(long.as_str().chars().count(), Reason::MAX_CHARS);
        assert!(long.as_str().ends_with('…'));
        assert_eq!(Reason::parse(long.as_str()).unwrap(), long);
        let multiline = Reason::system("failed: DynamoDB said\n  no\tway ");
        assert_eq!(multiline.as_str(), "failed: DynamoDB said   no way");
        assert_eq!(Reason::parse(multiline.as_str()).unwrap(), multiline);
        assert_eq!(
            Reason::parse(Reason::system(" \n ").as_str())
                .unwrap()
                .as_str(),
            "(no reason given)"
        );
    }

    proptest::proptest! {
        #[test]
        fn every_composed_reason_parses_back(
            text in "[ \t\n\u{a0}\u{3000}\u{2028}aé…]{0,20}|.{0,700}|[aé ]{495,505}"
        ) {
            let reason = Reason::system(text);
            proptest::prop_assert_eq!(Reason::parse(reason.as_str()).unwrap(), reason);
        }
    }

    #[test]
    fn texts_are_bounded_and_printable() {
        assert!(OrganizationId::parse("org_acme-1").is_ok());
        assert!(OrganizationId::parse("org acme").is_err());
        assert!(OrganizationId::parse(&"a".repeat(65)).is_err());
        assert!(Reason::parse("  ").is_err());
        assert!(Reason::parse(&"é".repeat(500)).is_ok());
        assert!(Reason::parse(&"é".repeat(501)).is_err());
        assert!(Reason::parse("line\nforged").is_err());
        assert!(Scope::parse("charges:write").is_ok());
        assert!(Scope::parse("charges write").is_err());
        assert_eq!(KeyName::parse("  prod  ").unwrap().as_str(), "prod");
    }
}
