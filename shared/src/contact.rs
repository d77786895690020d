//! Where an organisation's notifications go: email contacts and webhook endpoints,
//! each with the notification types it wants, and the rule for which webhook
//! destinations keyroll will ever call (https, public addresses only).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::{Actor, ContactId, OrganizationId, WebhookId};
use crate::notification::NotificationType;
use crate::secret::{LookupHash, RawSecret};
use crate::time::Timestamp;

/// An email address as accepted for a contact: one `@`, a dotted domain, printable
/// ASCII without spaces, at most 254 characters; the domain lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(text: &str) -> Result<Self> {
        let invalid = || Error::invalid("email", "must be an email address like ops@example.com");
        if !crate::rules::is_email(text) {
            return Err(invalid());
        }
        let (local, domain) = text.split_once('@').ok_or_else(invalid)?;
        Ok(Self(format!("{local}@{}", domain.to_ascii_lowercase())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = Error;
    fn try_from(text: String) -> Result<Self> {
        Self::parse(&text)
    }
}

impl From<EmailAddress> for String {
    fn from(address: EmailAddress) -> Self {
        address.0
    }
}

/// The notification types a contact or endpoint wants; all of them unless narrowed.
pub fn wanted_types(types: Option<&[NotificationType]>) -> Result<Vec<NotificationType>> {
    match types {
        None => Ok(NotificationType::ALL.to_vec()),
        Some([]) => Err(Error::invalid(
            "types",
            "must name at least one type, or be left out for all",
        )),
        Some(types)
            if types.len() > NotificationType::ALL.len()
                || types
                    .iter()
                    .enumerate()
                    .any(|(i, t)| types[..i].contains(t)) =>
        {
            Err(Error::invalid("types", "must name each type at most once"))
        }
        Some(types) => Ok(NotificationType::ALL
            .into_iter()
            .filter(|t| types.contains(t))
            .collect()),
    }
}

/// An email contact of an organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    pub id: ContactId,
    pub organization_id: OrganizationId,
    pub email: EmailAddress,
    pub types: Vec<NotificationType>,
    pub created_at: Timestamp,
    pub created_by: Actor,
    /// Set while a contact a customer added waits for its address to confirm it; absent
    /// for operators' contacts (and those added before confirmation existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<PendingConfirmation>,
}

/// How long a confirmation code works (a day); after it, the contact is removed and
/// added again for a new one.
pub const CONFIRMATION_SECONDS: u64 = 86_400;

/// The code sent to a contact's address, stored as its hash: keyroll mails an address
/// a customer typed in only once someone reading that mailbox has passed the code
/// back (an admin's word alone would make keyroll a relay for whatever text a reason
/// carries).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingConfirmation {
    /// SHA-256 of the code as [`confirmation_code_form`] normalises it, in hex.
    pub code_hash: String,
    pub expires_at: Timestamp,
}

/// The letters a code is written in: Crockford's base32 (no I, L, O, U to misread).
const CODE_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

impl PendingConfirmation {
    /// A fresh code (60 bits, `XXXX-XXXX-XXXX`) and what is stored of it.
    pub fn generate(now: Timestamp) -> (Self, RawSecret) {
        let letters: String = crate::random::bytes::<12>()
            .iter()
            .map(|b| char::from(CODE_ALPHABET[usize::from(b % 32)]))
            .collect();
        let code = format!("{}-{}-{}", &letters[..4], &letters[4..8], &letters[8..]);
        let pending = Self {
            code_hash: LookupHash::of(&confirmation_code_form(&code)).to_hex(),
            expires_at: now.plus_seconds(CONFIRMATION_SECONDS),
        };
        (pending, RawSecret::from_string(code))
    }

    /// Whether `code` is the one sent, and still works at `now` (compared in constant
    /// time).
    pub fn accepts(&self, code: &str, now: Timestamp) -> bool {
        let Ok(stored) = LookupHash::parse_hex(&self.code_hash) else {
            return false;
        };
        let presented = LookupHash::of(&confirmation_code_form(code));
        now < self.expires_at && presented.ct_eq(&stored)
    }
}

/// A code as typed back: case, spaces and dashes do not matter.
fn confirmation_code_form(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// One signing secret of an endpoint; the secret itself is in the vault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SigningSecretRef {
    pub version: u32,
    pub vault_secret: String,
    pub created_at: Timestamp,
    /// When it stops signing (the older secret, after a rotation of the secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retires_at: Option<Timestamp>,
}

/// A webhook endpoint of an organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEndpoint {
    pub id: WebhookId,
    pub organization_id: OrganizationId,
    pub url: String,
    pub types: Vec<NotificationType>,
    pub created_at: Timestamp,
    pub created_by: Actor,
    pub secrets: Vec<SigningSecretRef>,
    /// Set when the endpoint answered 410 Gone or failed for the whole retry window:
    /// nothing is sent to it any more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    /// Guards every update (a secret rotation, disabling).
    pub revision: u64,
}

impl WebhookEndpoint {
    /// The secrets that sign at `now`, oldest first.
    pub fn live_secrets(&self, now: Timestamp) -> impl Iterator<Item = &SigningSecretRef> {
        self.secrets
            .iter()
            .filter(move |s| s.retires_at.is_none_or(|at| now < at))
    }

    pub fn wants(&self, kind: NotificationType) -> bool {
        self.disabled_at.is_none() && self.types.contains(&kind)
    }
}

impl Contact {
    /// Whether it is sent notifications of `kind`: a confirmed contact that chose them.
    pub fn wants(&self, kind: NotificationType) -> bool {
        self.is_confirmed() && self.types.contains(&kind)
    }

    pub fn is_confirmed(&self) -> bool {
        self.pending.is_none()
    }
}

/// A webhook URL as the organisation's users see it: its scheme, host and port only,
/// anything after them shown as `/redacted`. Endpoints authenticate with a token in the
/// path (Slack's `/services/T…/B…/<token>`, Discord's `/api/webhooks/<id>/<token>`) or
/// the query (`?token=…`), which anyone who can read the organisation's settings (a
/// viewer) must not learn; the host still tells which endpoint it is, and its id the
/// rest. Text that is not a URL shows as `redacted` whole.
pub fn redacted_url(text: &str) -> String {
    const REDACTED: &str = "redacted";
    let Ok(url) = url::Url::parse(text) else {
        return REDACTED.to_owned();
    };
    let Some(host) = url.host_str() else {
        return REDACTED.to_owned();
    };
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let rest = url.path() != "/" || url.query().is_some() || url.fragment().is_some();
    format!(
        "{}://{host}{port}/{}",
        url.scheme(),
        if rest { REDACTED } else { "" }
    )
}

/// Which webhook destinations may be called. keyroll calls customers' URLs from
/// inside the company's AWS account, so a URL must never reach the account's own
/// network or the instance metadata service (SSRF): https to public addresses only,
/// plus plain http to loopback when a local setting allows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DestinationPolicy {
    pub allow_loopback: bool,
}

/// A webhook URL taken apart: what is connected to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub url: url::Url,
    pub host: String,
    pub port: u16,
}

impl DestinationPolicy {
    /// Checks a URL's form: https (or http to a loopback host when allowed), a host, no
    /// credentials, at most 2,048 characters; an address literal must be allowed too.
    pub fn parse_url(&self, text: &str) -> Result<Destination> {
        if !crate::rules::is_webhook_url(text) {
            return Err(Error::invalid(
                "url",
                "must be an http(s) URL with a host name and an optional port, in visible ASCII, at most 2048 characters",
            ));
        }
        // The form is the document's; what follows is the destination policy.
        let invalid = |why: &str| Error::outside_policy("url", why.to_owned());
        let url = url::Url::parse(text).map_err(|_| invalid("is not a usable URL"))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("must not carry credentials"));
        }
        let host = url
            .host_str()
            .ok_or_else(|| invalid("must name a host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let loopback_host =
            host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
        match url.scheme() {
            "https" => {}
            "http" if self.allow_loopback && loopback_host => {}
            "http" => return Err(invalid("must be https")),
            _ => return Err(invalid("must be https")),
        }
        if host == "localhost" && !self.allow_loopback {
            return Err(invalid("must not point at this machine"));
        }
        if METADATA_HOSTS.contains(&host.as_str()) {
            return Err(invalid("must not point at a metadata service"));
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            self.check_address(ip)?;
        }
        let port = url
            .port_or_known_default()
            .ok_or_else(|| invalid("must have a port"))?;
        Ok(Destination { url, host, port })
    }

    /// Whether keyroll may connect to `ip`: a public unicast address, or loopback when
    /// allowed. Checked at registration for address literals and at every send for
    /// what the name resolves to (so a name cannot be re-pointed inside).
    pub fn check_address(&self, ip: IpAddr) -> Result<()> {
        let refused = |why: &str| {
            Err(Error::outside_policy(
                "url",
                format!("must not point at {why}"),
            ))
        };
        let ip = match ip {
            IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map(IpAddr::V4)
                .unwrap_or(IpAddr::V6(v6)),
            v4 => v4,
        };
        if ip.is_loopback() {
            return if self.allow_loopback {
                Ok(())
            } else {
                refused("this machine")
            };
        }
        match ip {
            IpAddr::V4(v4) => {
                let [a, b, ..] = v4.octets();
                if v4.octets() == [169, 254, 169, 254] || v4.octets() == [100, 100, 100, 200] {
                    return refused("a metadata service");
                }
                if v4.is_private() || (a == 100 && (64..128).contains(&b)) {
                    return refused("a private network");
                }
                if v4.is_link_local() {
                    return refused("a link-local address");
                }
                // 192.0.0.0/24 (protocol assignments) and 198.18.0.0/15 (benchmarking)
                // are never a customer's endpoint either.
                if v4.is_unspecified()
                    || v4.is_broadcast()
                    || v4.is_multicast()
                    || v4.is_documentation()
                    || a == 0
                    || a >= 240
                    || (a == 192 && b == 0 && v4.octets()[2] == 0)
                    || (a == 198 && (18..20).contains(&b))
                {
                    return refused("a reserved address");
                }
            }
            IpAddr::V6(v6) => {
                let first = v6.segments()[0];
                if v6
                    == "fd00:ec2::254"
                        .parse::<std::net::Ipv6Addr>()
                        .expect("literal")
                {
                    return refused("a metadata service");
                }
                if (first & 0xfe00) == 0xfc00 {
                    return refused("a private network");
                }
                if (first & 0xffc0) == 0xfe80 {
                    return refused("a link-local address");
                }
                if v6.is_unspecified()
                    || v6.is_multicast()
                    || first == 0x2001 && v6.segments()[1] == 0x0db8
                    || (first & 0xffc0) == 0xfec0
                {
                    return refused("a reserved address");
                }
                // Addresses that carry an IPv4 address inside, to be translated or
                // tunnelled to it: NAT64, 6to4, Teredo, IPv4-compatible and -translated.
                // Whatever they wrap, keyroll does not follow them.
                let segments = v6.segments();
                if (first == 0x0064 && segments[1] == 0xff9b)
                    || first == 0x2002
                    || (first == 0x2001 && segments[1] == 0)
                    || segments[..5] == [0, 0, 0, 0, 0]
                    || segments[..4] == [0, 0, 0, 0] && segments[4] == 0xffff
                {
                    return refused("an address that wraps an IPv4 address");
                }
            }
        }
        Ok(())
    }
}

/// Names that resolve to cloud metadata services.
const METADATA_HOSTS: [&str; 3] = ["metadata.google.internal", "metadata", "instance-data"];

#[cfg(test)]
mod tests {
    #[test]
    fn a_redacted_url_keeps_where_and_hides_what_authenticates() {
        use super::redacted_url;
        assert_eq!(
            redacted_url("https://hooks.acme.test:8443/keyroll/in?token=s3cr3t&v=2#sig"),
            "https://hooks.acme.test:8443/redacted"
        );
        assert_eq!(
            redacted_url("https://hooks.slack.com/services/T000/B000/s3cr3tT0ken"),
            "https://hooks.slack.com/redacted"
        );
        assert_eq!(
            redacted_url("https://hooks.acme.test/in?s3cr3t"),
            "https://hooks.acme.test/redacted"
        );
        assert_eq!(
            redacted_url("https://u:p@hooks.acme.test/in"),
            "https://hooks.acme.test/redacted"
        );
        assert_eq!(
            redacted_url("https://hooks.acme.test/"),
            "https://hooks.acme.test/"
        );
        assert_eq!(redacted_url(""), "redacted");
        assert_eq!(redacted_url("not a url"), "redacted");
    }

    use super::*;

    #[test]
    fn a_confirmation_code_works_once_typed_back_in_any_case_until_it_expires() {
        let now = Timestamp::parse("2026-12-04T10:00:00Z").unwrap();
        let (pending, code) = PendingConfirmation::generate(now);
        let code = code.expose().to_owned();
        assert_eq!(code.len(), 14, "{}", code.len());
        assert!(!pending.code_hash.contains(&code[..4]));
        assert!(pending.accepts(&code, now));
        assert!(pending.accepts(&code.to_lowercase().replace('-', " "), now));
        assert!(!pending.accepts("0000-0000-0000", now));
        assert!(!pending.accepts("", now));
        assert!(!pending.accepts(&code, now.plus_seconds(CONFIRMATION_SECONDS)));
        let (other, _) = PendingConfirmation::generate(now);
        assert_ne!(other.code_hash, pending.code_hash, "codes are random");
    }

    #[test]
    fn email_addresses_are_checked_and_their_domain_lower_cased() {
        assert_eq!(
            EmailAddress::parse("Ops@Example.COM").unwrap().as_str(),
            "Ops@example.com"
        );
        for bad in [
            "",
            "no-at",
            "a@b",
            "a b@example.com",
            "@example.com",
            "a@.example.com",
            "a@@example.com",
            "a@example.com\n",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn types_default_to_all_and_keep_a_fixed_order() {
        assert_eq!(wanted_types(None).unwrap(), NotificationType::ALL);
        let some = wanted_types(Some(&[
            NotificationType::KeyExpiring,
            NotificationType::RotationStarted,
        ]))
        .unwrap();
        assert_eq!(
            some,
            [
                NotificationType::RotationStarted,
                NotificationType::KeyExpiring
            ]
        );
        assert!(wanted_types(Some(&[])).is_err());
    }

    #[test]
    fn only_https_to_public_addresses_and_loopback_when_allowed() {
        let strict = DestinationPolicy {
            allow_loopback: false,
        };
        let local = DestinationPolicy {
            allow_loopback: true,
        };
        assert!(strict
            .parse_url("https://hooks.example.com/keyroll")
            .is_ok());
        assert!(strict.parse_url("https://93.184.216.34/hook").is_ok());
        for refused in [
            "http://hooks.example.com/",
            "ftp://hooks.example.com/",
            "https://user:pw@hooks.example.com/",
            "https://10.0.0.5/",
            "https://192.168.1.1/",
            "https://172.16.0.1/",
            "https://169.254.169.254/latest/meta-data/",
            "https://[fd00:ec2::254]/",
            "https://[fe80::1]/",
            "https://[::ffff:10.0.0.1]/",
            "https://[64:ff9b::a00:1]/",
            "https://[2002:a00:1::1]/",
            "https://[2001:0:4136:e378::1]/",
            "https://[::10.0.0.1]/",
            "https://[fec0::1]/",
            "https://198.18.0.1/",
            "https://192.0.0.8/",
            "https://100.64.0.1/",
            "https://0.0.0.0/",
            "https://metadata.google.internal/",
            "https://127.0.0.1/",
            "http://127.0.0.1:8080/",
            "https://localhost/",
            "not a url",
        ] {
            assert!(strict.parse_url(refused).is_err(), "{refused}");
        }
        assert!(local.parse_url("http://127.0.0.1:8080/hook").is_ok());
        assert!(local.parse_url("http://[::1]:8080/hook").is_ok());
        assert!(local.parse_url("http://localhost:8080/hook").is_ok());
        assert!(
            local.parse_url("http://10.0.0.5/").is_err(),
            "loopback only"
        );
        assert!(local.parse_url("https://169.254.169.254/").is_err());
    }
}
