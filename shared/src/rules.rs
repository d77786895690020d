//! The shape of keyroll's text and number inputs, as data. The validators (`KeyName::parse`,
//! `OrganizationId::parse`, the API's query and header checks, …) check values against these
//! rules, and the API's OpenAPI document states the same rules as JSON Schema
//! (`minLength`, `maxLength`, `pattern`, `minimum`, `maximum`), so a generated client and the
//! server cannot disagree about what is well formed.
//!
//! Patterns are written for both readers of the document: ECMA-262 (JSON Schema) and Python's
//! `re` (schemathesis, hypothesis). Character classes only, `\uXXXX` escapes inside the Basic
//! Multilingual Plane, no `\s` or `\d` (whose meaning differs between the two).

/// Which characters a text may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alphabet {
    /// ASCII letters and digits, and these punctuation characters.
    Ascii(&'static str),
    /// Visible ASCII, `!` to `~` (no space).
    Visible,
    /// Any character but a control character (Unicode category Cc), with at least one
    /// that is not white space; leading and trailing white space is trimmed away.
    Printable,
    /// Hexadecimal digits, either case.
    Hex,
}

/// Control characters (Unicode Cc), which `char::is_control` refuses.
const CONTROL: &str = r"\u0000-\u001f\u007f-\u009f";
/// The white space `str::trim` removes that is not also a control character.
const SPACE: &str = r"\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";

/// A text input's rule: its length in characters (Unicode scalar values, which is what
/// JSON Schema's `minLength`/`maxLength` count) and its alphabet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextRule {
    pub min_chars: usize,
    pub max_chars: usize,
    pub alphabet: Alphabet,
}

impl TextRule {
    pub const fn new(min_chars: usize, max_chars: usize, alphabet: Alphabet) -> Self {
        Self {
            min_chars,
            max_chars,
            alphabet,
        }
    }

    /// Whether `text` is well formed (before any trimming).
    pub fn accepts(&self, text: &str) -> bool {
        let chars = text.chars().count();
        (self.min_chars..=self.max_chars).contains(&chars)
            && match self.alphabet {
                Alphabet::Ascii(punctuation) => text
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || punctuation.contains(c)),
                Alphabet::Visible => text.bytes().all(|b| b.is_ascii_graphic()),
                Alphabet::Printable => {
                    !text.chars().any(char::is_control) && !text.trim().is_empty()
                }
                Alphabet::Hex => text.bytes().all(|b| b.is_ascii_hexdigit()),
            }
    }

    /// The rule as a JSON Schema `pattern` (the lengths are `minLength`/`maxLength`).
    pub fn pattern(&self) -> String {
        match self.alphabet {
            Alphabet::Ascii(punctuation) => {
                // '-' last, so it is literal; the others need no escape in a class.
                let mut class = String::from("A-Za-z0-9");
                class.extend(punctuation.chars().filter(|&c| c != '-'));
                if punctuation.contains('-') {
                    class.push('-');
                }
                format!("^[{class}]*$")
            }
            Alphabet::Visible => r"^[\u0021-\u007e]*$".to_owned(),
            Alphabet::Printable => {
                format!("^[^{CONTROL}]*[^{CONTROL}{SPACE}][^{CONTROL}]*$")
            }
            Alphabet::Hex => "^[0-9A-Fa-f]*$".to_owned(),
        }
    }
}

/// A validated text type and the rule its `parse` checks. The API's document states a
/// field's schema from the field's type (`ToSchema`, feature `openapi`), so a generated
/// client and the parser cannot drift apart.
pub trait TextInput {
    const RULE: TextRule;
}

/// An inclusive range of whole numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub min: u64,
    pub max: u64,
}

impl Range {
    pub const fn new(min: u64, max: u64) -> Self {
        Self { min, max }
    }

    pub fn contains(&self, n: u64) -> bool {
        (self.min..=self.max).contains(&n)
    }

    /// What an error says about a number outside the range.
    pub fn expectation(&self) -> String {
        format!("must be from {} to {}", self.min, self.max)
    }
}

/// An organisation's id: 1-64 of `A-Za-z0-9_-.:`.
pub const ORGANIZATION_ID: TextRule = TextRule::new(1, 64, Alphabet::Ascii("_-.:"));
/// A key's id, minted (`key_<ulid>`) or imported: 1-64 of `A-Za-z0-9_-`.
pub const KEY_ID: TextRule = TextRule::new(1, 64, Alphabet::Ascii("_-"));
/// A key's name: 1-100 printable characters.
pub const KEY_NAME: TextRule = TextRule::new(1, 100, Alphabet::Printable);
/// One scope: 1-64 of `A-Za-z0-9_-.:*/`.
pub const SCOPE: TextRule = TextRule::new(1, 64, Alphabet::Ascii("_-.:*/"));
/// At most this many scopes per key.
pub const MAX_SCOPES: usize = 50;
/// Why a change was made: 1-500 printable characters.
pub const REASON: TextRule = TextRule::new(1, 500, Alphabet::Printable);
/// An `Idempotency-Key`: 16-255 visible ASCII characters, e.g. a random UUID.
pub const IDEMPOTENCY_KEY: TextRule = TextRule::new(16, 255, Alphabet::Visible);
/// SHA-256 in hex, as an old system stores a secret's hash.
pub const LOOKUP_HASH: TextRule = TextRule::new(64, 64, Alphabet::Hex);
/// A notification's event id (`evt_…`, or `evt.<id>_seq` for imported ids).
pub const EVENT_ID: TextRule = TextRule::new(1, 100, Alphabet::Ascii("_-."));
/// A contact's confirmation code as typed back: 1-32 of `A-Za-z0-9-` and spaces.
pub const CONFIRMATION_CODE: TextRule = TextRule::new(1, 32, Alphabet::Ascii("- "));
/// A key's requests per second.
pub const RATE_LIMIT: Range = Range::new(1, u32::MAX as u64);
/// `completeWhenUnusedSeconds`: a minute to a year.
pub const COMPLETE_WHEN_UNUSED_SECONDS: Range = Range::new(60, 365 * 86_400);
/// `quietSeconds` of `retire: when_moved`: a minute to a week.
pub const QUIET_SECONDS: Range = Range::new(60, 7 * 86_400);
/// `quietSeconds` when a rotation does not say.
pub const DEFAULT_QUIET_SECONDS: u64 = 3600;
/// `fadeBelowPercent` of `retire: when_faded`, in hundredths of a percent (0.01 % to
/// 100 %).
pub const FADE_BELOW_BASIS_POINTS: Range = Range::new(1, 10_000);
/// `fadeBelowPercent` when a rotation does not say: 1 %.
pub const DEFAULT_FADE_BELOW_BASIS_POINTS: u32 = 100;
/// `fadeBelowDailyUses` of `retire: when_faded`.
pub const FADE_BELOW_DAILY_USES: Range = Range::new(0, u32::MAX as u64);
/// `fadeBelowDailyUses` when a rotation does not say.
pub const DEFAULT_FADE_BELOW_DAILY_USES: u64 = 100;
/// Any grace a policy may allow (`KEYROLL_*_GRACE_SECONDS` are configured within it);
/// the key's class narrows it.
pub const GRACE_SECONDS: Range = Range::new(0, 365 * 86_400);
/// Any emergency grace a policy may allow (`KEYROLL_EMERGENCY_MAX_GRACE_SECONDS` is
/// configured within it).
pub const EMERGENCY_GRACE_SECONDS: Range = Range::new(0, 7 * 86_400);
/// Seconds an extension adds.
pub const EXTENSION_SECONDS: Range = Range::new(1, 365 * 86_400);

/// An email contact: ASCII without spaces, at most 254 characters, a local part of 1-64
/// characters without `@`, and a dotted domain of letters, digits, `.` and `-` that
/// neither starts nor ends with `.` or `-`.
pub const EMAIL_MAX_CHARS: usize = 254;
pub const EMAIL_PATTERN: &str =
    r"^[\u0021-\u003f\u0041-\u007e]{1,64}@[A-Za-z0-9][A-Za-z0-9.-]*\.[A-Za-z0-9.-]*[A-Za-z0-9]$";

/// Whether `text` is an email address as [`EMAIL_PATTERN`] describes it.
pub fn is_email(text: &str) -> bool {
    if !(3..=EMAIL_MAX_CHARS).contains(&text.len()) || !text.bytes().all(|b| b.is_ascii_graphic()) {
        return false;
    }
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    let domain_ok = domain.contains('.')
        && !domain.starts_with(['.', '-'])
        && !domain.ends_with(['.', '-'])
        && domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    (1..=64).contains(&local.len()) && domain_ok
}

/// A webhook URL's form: `http://` or `https://` (any case), a host name or IPv4
/// address of letters, digits, `.` and `-` (or an IPv6 literal in brackets), an optional
/// port, then visible ASCII; at
/// most 2,048 characters. Whether keyroll may call it is the destination policy's
/// decision (https, public addresses: the contact module's `DestinationPolicy`).
pub const WEBHOOK_URL_MAX_CHARS: usize = 2048;
pub const WEBHOOK_URL_PATTERN: &str = r"^[Hh][Tt][Tt][Pp][Ss]?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?([/?#][\u0021-\u007e]*)?$";

/// Whether `text` has the form [`WEBHOOK_URL_PATTERN`] describes.
pub fn is_webhook_url(text: &str) -> bool {
    if text.len() > WEBHOOK_URL_MAX_CHARS {
        return false;
    }
    let lower = text.get(..8).unwrap_or(text).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &text[8..]
    } else if lower.starts_with("http://") {
        &text[7..]
    } else {
        return false;
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (host_ok, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        // An IPv6 literal: `[` hex digits, `:` and `.` `]`.
        let Some((address, after)) = bracketed.split_once(']') else {
            return false;
        };
        let port = match after {
            "" => None,
            after => match after.strip_prefix(':') {
                Some(port) => Some(port),
                None => return false,
            },
        };
        let ok = !address.is_empty()
            && address
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        (ok, port)
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        let ok = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        (ok, port)
    };
    host_ok
        && port.is_none_or(|p| (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
        && tail.bytes().all(|b| b.is_ascii_graphic())
}

/// Page cursors are opaque to callers, but each has one documented shape and any text of
/// that shape names a position in its list, so no cursor the document allows is refused.
/// Times in cursors are Unix seconds.
/// `<created>.<keyId>`: the operator's key list.
pub const KEY_LIST_CURSOR_PATTERN: &str = r"^[0-9]{1,11}\.[A-Za-z0-9_-]{1,64}$";
pub const SEQUENCE_CURSOR_PATTERN: &str = r"^[0-9]{1,19}$";
/// `<time>.<rotationId>.<keyId>`: the due index and the emergency log.
pub fn due_cursor_pattern() -> String {
    format!(
        r"^[0-9]{{1,11}}\.{}\.[A-Za-z0-9_-]{{1,64}}$",
        prefixed_ulid_pattern("rot_")
            .trim_start_matches('^')
            .trim_end_matches('$')
    )
}
/// `<as of>.<created at>.<keyId>`: the compliance report.
pub const COMPLIANCE_CURSOR_PATTERN: &str = r"^[0-9]{1,11}\.[0-9]{1,11}\.[A-Za-z0-9_-]{1,64}$";
/// A feed's or delivery log's cursor: its page's last time first, visible ASCII.
pub const FEED_CURSOR_PATTERN: &str = r"^[0-9][\u0021-\u007e]{0,255}$";

/// The number of a sequence cursor.
pub fn sequence_cursor(text: &str) -> Option<u64> {
    ((1..=19).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

/// The time of a cursor part: 1-11 digits of Unix seconds.
pub fn cursor_time(text: &str) -> Option<crate::time::Timestamp> {
    let seconds = ((1..=11).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse::<i64>().ok())
        .flatten()?;
    crate::time::Timestamp::from_unix(seconds).ok()
}

/// Whether `text` has a feed cursor's shape.
pub fn is_feed_cursor(text: &str) -> bool {
    (1..=256).contains(&text.len())
        && text.starts_with(|c: char| c.is_ascii_digit())
        && text.bytes().all(|b| b.is_ascii_graphic())
}

/// The pattern of an id minted as `<prefix><ulid>` (the ids module's `RotationId`, …).
pub fn prefixed_ulid_pattern(prefix: &str) -> String {
    format!("^{prefix}[0-7][0-9a-hjkmnp-tv-z]{{25}}$")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn matches(rule: &TextRule, text: &str) -> bool {
        let chars = text.chars().count();
        (rule.min_chars..=rule.max_chars).contains(&chars)
            && regex::Regex::new(&rule.pattern()).unwrap().is_match(text)
    }

    const RULES: [TextRule; 8] = [
        ORGANIZATION_ID,
        KEY_ID,
        KEY_NAME,
        SCOPE,
        REASON,
        IDEMPOTENCY_KEY,
        LOOKUP_HASH,
        EVENT_ID,
    ];

    /// Texts near every rule's edges: control characters, white space of every kind,
    /// punctuation, non-ASCII, and lengths around the bounds.
    fn texts() -> impl Strategy<Value = String> {
        let pieces = prop::sample::select(vec![
            "a", "Z", "0", "_", "-", ".", ":", "*", "/", "@", " ", "\t", "\n", "\u{85}", "\u{a0}",
            "\u{2003}", "\u{3000}", "\u{feff}", "\u{7f}", "\u{9f}", "é", "日", "😀", "\"", "\\",
            "f", "F", "9",
        ]);
        prop::collection::vec(pieces, 0..70).prop_map(|p| p.concat())
    }

    proptest! {
        #[test]
        fn every_rule_accepts_exactly_what_its_pattern_matches(text in texts()) {
            for rule in RULES {
                prop_assert_eq!(rule.accepts(&text), matches(&rule, &text), "{:?} on {:?}", rule, text);
            }
        }

        #[test]
        fn the_email_check_accepts_exactly_what_its_pattern_matches(
            local in "[a-z.@\"!~ ]{0,5}",
            domain in "[a-z0-9.@-]{0,6}",
        ) {
            let text = format!("{local}@{domain}");
            let pattern = regex::Regex::new(EMAIL_PATTERN).unwrap();
            prop_assert_eq!(
                is_email(&text),
                text.len() <= EMAIL_MAX_CHARS && pattern.is_match(&text),
                "{:?}", text
            );
        }
    }

    proptest! {
        #[test]
        fn the_webhook_url_check_accepts_exactly_what_its_pattern_matches(
            scheme in prop::sample::select(vec!["https://", "HTTP://", "http://", "ftp://", "https:/", ""]),
            host in "[a-z0-9.:@_\\[\\]-]{0,8}",
            tail in "[/?#a-z% ]{0,6}",
        ) {
            let text = format!("{scheme}{host}{tail}");
            let pattern = regex::Regex::new(WEBHOOK_URL_PATTERN).unwrap();
            prop_assert_eq!(is_webhook_url(&text), pattern.is_match(&text), "{:?}", text);
        }
    }

    #[test]
    fn long_texts_are_refused_at_the_bound() {
        assert!(KEY_NAME.accepts(&"n".repeat(100)));
        assert!(!KEY_NAME.accepts(&"n".repeat(101)));
        assert!(!KEY_NAME.accepts("   "));
        assert!(KEY_NAME.accepts(" named "));
        assert!(!REASON.accepts(&format!("{} ", "r".repeat(500))));
        assert!(regex::Regex::new(&prefixed_ulid_pattern("rot_"))
            .unwrap()
            .is_match("rot_01m8trfsvz143mhbsgy1fkkw0k"));
    }
}
