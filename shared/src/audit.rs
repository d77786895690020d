//! The audit trail: one event per state change, append-only, chained by SHA-256.
//!
//! Each event of a key carries the next sequence number and the hash of the event
//! before it; its own hash covers every field. Editing an event breaks its hash,
//! deleting or reordering one breaks the sequence or the link, and deleting the tail
//! is caught by the key's `revision` and `audit_head`, which are updated in the same
//! transaction as each event.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::ids::{Actor, KeyId, Reason, RotationId};
use crate::time::Timestamp;

/// A SHA-256 digest in an audit chain.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AuditHash([u8; 32]);

impl AuditHash {
    /// The `prev_hash` of a key's first event.
    pub const GENESIS: AuditHash = AuditHash([0u8; 32]);

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn parse_hex(text: &str) -> Option<Self> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(Self(bytes))
    }
}

impl fmt::Debug for AuditHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuditHash({})", &self.to_hex()[..12])
    }
}

impl fmt::Display for AuditHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for AuditHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for AuditHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        AuditHash::parse_hex(&text)
            .ok_or_else(|| serde::de::Error::custom("not a 64-hex-digit hash"))
    }
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum AuditAction {
    #[serde(rename = "key.created")]
    KeyCreated,
    #[serde(rename = "key.imported")]
    KeyImported,
    #[serde(rename = "rotation.scheduled")]
    RotationScheduled,
    #[serde(rename = "rotation.started")]
    RotationStarted,
    #[serde(rename = "rotation.completed")]
    RotationCompleted,
    #[serde(rename = "rotation.cancelled")]
    RotationCancelled,
    #[serde(rename = "rotation.superseded")]
    RotationSuperseded,
    #[serde(rename = "rotation.extended")]
    RotationExtended,
    #[serde(rename = "rotation.failed")]
    RotationFailed,
    #[serde(rename = "rotation.emergency")]
    RotationEmergency,
    #[serde(rename = "rotation.reminded")]
    RotationReminded,
    #[serde(rename = "rotation.revealed")]
    RotationRevealed,
    #[serde(rename = "key.expiry_warned")]
    KeyExpiryWarned,
    /// The grace was held open (extended, or kept past its end) because the rotation's
    /// held new secret has not been delivered.
    #[serde(rename = "rotation.undelivered")]
    RotationUndelivered,
    /// Every secret of the key stopped working for good.
    #[serde(rename = "key.revoked")]
    KeyRevoked,
    /// The key's own expiry passed (its secrets stopped verifying at that second).
    #[serde(rename = "key.expired")]
    KeyExpired,
    /// The key's name, scopes, rate limit, metadata or expiry changed (`before` and
    /// `after` hold only what changed).
    #[serde(rename = "key.updated")]
    KeyUpdated,
    /// A delivery key was registered for the key, or replaced (`before` and `after`
    /// hold the thumbprints).
    #[serde(rename = "key.delivery_key_registered")]
    DeliveryKeyRegistered,
    /// One secret of the key stopped working for good (a leak report named a previous
    /// secret); the key's other secrets are untouched.
    #[serde(rename = "secret.revoked")]
    SecretRevoked,
}

/// One recorded state change. `before` and `after` describe the changed state (stages,
/// expiries, statuses); they never hold a secret, a verifier or a lookup hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    pub key_id: KeyId,
    pub seq: u64,
    pub at: Timestamp,
    pub actor: Actor,
    pub action: AuditAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation_id: Option<RotationId>,
    pub before: Value,
    pub after: Value,
    pub prev_hash: AuditHash,
    pub hash: AuditHash,
}

/// The fields an event's hash covers, in a fixed order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HashedFields<'a> {
    key_id: &'a KeyId,
    seq: u64,
    at: Timestamp,
    actor: &'a Actor,
    action: AuditAction,
    reason: Option<&'a Reason>,
    rotation_id: Option<&'a RotationId>,
    before: Value,
    after: Value,
    prev_hash: AuditHash,
}

/// JSON with object keys sorted at every level, so the hash does not depend on how a
/// storage backend or a serde feature orders maps.
fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let mut sorted = serde_json::Map::new();
            for (k, v) in entries {
                sorted.insert(k.clone(), canonical(v));
            }
            Value::Object(sorted)
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

fn canonical_string(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let body: Vec<String> = entries
                .into_iter()
                .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), canonical_string(v)))
                .collect();
            format!("{{{}}}", body.join(","))
        }
        Value::Array(items) => {
            let body: Vec<String> = items.iter().map(canonical_string).collect();
            format!("[{}]", body.join(","))
        }
        other => other.to_string(),
    }
}

/// What an audit event says happened: everything but its place in the chain.
#[derive(Debug, Clone, PartialEq)]
pub struct Happened {
    pub at: Timestamp,
    pub actor: Actor,
    pub action: AuditAction,
    pub reason: Option<Reason>,
    pub rotation_id: Option<RotationId>,
    pub before: Value,
    pub after: Value,
}

impl Happened {
    /// `action` by `actor` at `at`, with no reason, no rotation and no state shown.
    pub fn new(at: Timestamp, actor: &Actor, action: AuditAction) -> Self {
        Self {
            at,
            actor: actor.clone(),
            action,
            reason: None,
            rotation_id: None,
            before: Value::Null,
            after: Value::Null,
        }
    }
}

impl AuditEvent {
    /// Builds the event that follows `prev_hash` at `seq`, computing its hash.
    pub fn new(key_id: KeyId, seq: u64, happened: Happened, prev_hash: AuditHash) -> Self {
        let mut event = AuditEvent {
            key_id,
            seq,
            at: happened.at,
            actor: happened.actor,
            action: happened.action,
            reason: happened.reason,
            rotation_id: happened.rotation_id,
            before: canonical(&happened.before),
            after: canonical(&happened.after),
            prev_hash,
            hash: AuditHash::GENESIS,
        };
        event.hash = event.compute_hash();
        event
    }

    /// SHA-256 over the canonical JSON of every field but `hash`.
    pub fn compute_hash(&self) -> AuditHash {
        let fields = HashedFields {
            key_id: &self.key_id,
            seq: self.seq,
            at: self.at,
            actor: &self.actor,
            action: self.action,
            reason: self.reason.as_ref(),
            rotation_id: self.rotation_id.as_ref(),
            before: self.before.clone(),
            after: self.after.clone(),
            prev_hash: self.prev_hash,
        };
        let value = serde_json::to_value(&fields).unwrap_or(Value::Null);
        AuditHash(Sha256::digest(canonical_string(&value).as_bytes()).into())
    }
}

/// What is wrong at the first broken link of a chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ChainProblem {
    /// The event's content does not match its hash: it was edited.
    HashMismatch,
    /// The event does not point at the hash of the one before it.
    BrokenLink,
    /// A sequence number is missing or out of order: an event was deleted or moved.
    SequenceGap { expected: u64, found: u64 },
    /// The event belongs to another key.
    WrongKey,
    /// The chain ends before the key's recorded head: its last events were deleted.
    MissingTail { expected_last: u64, found_last: u64 },
    /// The last event is not the one the key records as its head.
    HeadMismatch,
    /// The head's keyed MAC is missing its match: the chain was rewritten (its hashes
    /// recomputed) by someone without the MAC key.
    HeadNotAuthentic,
    /// Events exist past the key's head: the key item was rolled back, or its head
    /// erased, after they were written.
    EventsBeyondHead { head: u64, found_last: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BrokenLink {
    /// The sequence number where the chain first fails.
    pub seq: u64,
    pub problem: ChainProblem,
}

/// The result of checking one key's audit chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChainReport {
    pub valid: bool,
    pub events: u64,
    /// The head is authenticated by the keyed MAC (KMS in AWS): the chain was written
    /// by keyroll, not recomputed by someone with write access to the table. False
    /// for a key last changed before chains were authenticated (its hashes still
    /// verify it against accidents and partial edits).
    #[serde(default)]
    pub authenticated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_broken: Option<BrokenLink>,
}

/// Where the key says its chain ends: its revision and audit head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainHead {
    pub last_seq: u64,
    pub hash: Option<AuditHash>,
}

/// The keyed MAC of a key's audit head, versioned so that the link format can change
/// and old heads stay verifiable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadMac {
    /// The link version. Both are HMAC-SHA-256 of (key id, last seq, head hash): 1 made
    /// by KMS itself (`GenerateMac`, one call per commit), 2 under the key derived from
    /// it once per container ([`crate::mac::DerivedMac`]).
    pub v: u8,
    /// Hex.
    pub mac: String,
}

impl HeadMac {
    /// The version every commit writes.
    pub const VERSION: u8 = 2;
    /// Heads MACed by KMS itself, before local derivation.
    pub const KMS_VERSION: u8 = 1;

    /// What is MACed for the head `hash` at `seq` of `key_id` (version 1).
    pub fn message(key_id: &KeyId, seq: u64, hash: &AuditHash) -> Vec<u8> {
        crate::mac::message(
            "keyroll-audit-head-v1",
            &[key_id.as_str(), &seq.to_string(), &hash.to_hex()],
        )
    }
}

/// Checks a key's chain one event at a time, in sequence order, holding only the last
/// hash and the first problem: the whole chain is verified in O(1) memory however long
/// it is, page by page as it is read.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    key_id: KeyId,
    seen: u64,
    prev: AuditHash,
    first_broken: Option<BrokenLink>,
}

impl ChainVerifier {
    pub fn new(key_id: &KeyId) -> Self {
        Self {
            key_id: key_id.clone(),
            seen: 0,
            prev: AuditHash::GENESIS,
            first_broken: None,
        }
    }

    /// Whether a problem has been found already (the rest need not be read).
    pub fn is_broken(&self) -> bool {
        self.first_broken.is_some()
    }

    /// The next event in stored order.
    pub fn push(&mut self, event: &AuditEvent) {
        self.seen += 1;
        if self.first_broken.is_some() {
            return;
        }
        let expected = self.seen;
        let problem = if event.key_id != self.key_id {
            Some((event.seq, ChainProblem::WrongKey))
        } else if event.seq != expected {
            Some((
                expected,
                ChainProblem::SequenceGap {
                    expected,
                    found: event.seq,
                },
            ))
        } else if event.compute_hash() != event.hash {
            Some((event.seq, ChainProblem::HashMismatch))
        } else if event.prev_hash != self.prev {
            Some((event.seq, ChainProblem::BrokenLink))
        } else {
            None
        };
        match problem {
            Some((seq, problem)) => self.first_broken = Some(BrokenLink { seq, problem }),
            None => self.prev = event.hash,
        }
    }

    /// The verdict, against where the key says the chain ends (when given).
    pub fn finish(self, head: Option<ChainHead>) -> ChainReport {
        let broken = |link: BrokenLink| ChainReport {
            valid: false,
            events: self.seen,
            authenticated: false,
            first_broken: Some(link),
        };
        if let Some(link) = self.first_broken.clone() {
            return broken(link);
        }
        let found_last = self.seen;
        if let Some(head) = head {
            if head.last_seq != found_last {
                return broken(BrokenLink {
                    seq: found_last + 1,
                    problem: ChainProblem::MissingTail {
                        expected_last: head.last_seq,
                        found_last,
                    },
                });
            }
            if found_last > 0 && head.hash != Some(self.prev) {
                return broken(BrokenLink {
                    seq: found_last,
                    problem: ChainProblem::HeadMismatch,
                });
            }
        }
        ChainReport {
            valid: true,
            events: found_last,
            authenticated: false,
            first_broken: None,
        }
    }
}

/// Verifies `events` (in stored order) as the complete chain of `key_id`, ending at
/// `head` when given. Reports the first broken link.
pub fn verify_chain(key_id: &KeyId, events: &[AuditEvent], head: Option<ChainHead>) -> ChainReport {
    let mut verifier = ChainVerifier::new(key_id);
    for event in events {
        verifier.push(event);
    }
    verifier.finish(head)
}

/// Which end of a key's audit trail a page starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuditOrder {
    #[default]
    OldestFirst,
    NewestFirst,
}

/// What changed between two recorded states: the fields that differ, on each side.
/// Objects keep only differing fields; lists of versions (objects with a `version`
/// number) keep only the versions that differ, each with its `version`. Equal states
/// give two empty objects. So an event's size follows its change, not the key's
/// history.
pub fn changed(before: &Value, after: &Value) -> (Value, Value) {
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            let mut before_out = serde_json::Map::new();
            let mut after_out = serde_json::Map::new();
            let mut names: Vec<&String> = b.keys().chain(a.keys()).collect();
            names.sort();
            names.dedup();
            for name in names {
                let (old, new) = (
                    b.get(name).unwrap_or(&Value::Null),
                    a.get(name).unwrap_or(&Value::Null),
                );
                if old == new {
                    continue;
                }
                let (old, new) = changed(old, new);
                before_out.insert(name.clone(), old);
                after_out.insert(name.clone(), new);
            }
            (Value::Object(before_out), Value::Object(after_out))
        }
        (Value::Array(b), Value::Array(a)) if is_version_list(b) && is_version_list(a) => {
            let number = |v: &Value| v.get("version").and_then(Value::as_u64);
            let mut numbers: Vec<u64> = b.iter().chain(a.iter()).filter_map(number).collect();
            numbers.sort_unstable();
            numbers.dedup();
            let (mut before_out, mut after_out) = (Vec::new(), Vec::new());
            for n in numbers {
                let old = b.iter().find(|v| number(v) == Some(n));
                let new = a.iter().find(|v| number(v) == Some(n));
                if old == new {
                    continue;
                }
                let (mut old_diff, mut new_diff) =
                    changed(old.unwrap_or(&Value::Null), new.unwrap_or(&Value::Null));
                for side in [&mut old_diff, &mut new_diff] {
                    if let Value::Object(map) = side {
                        map.insert("version".into(), Value::from(n));
                    }
                }
                if old.is_some() {
                    before_out.push(old_diff);
                }
                if new.is_some() {
                    after_out.push(new_diff);
                }
            }
            (Value::Array(before_out), Value::Array(after_out))
        }
        _ => (before.clone(), after.clone()),
    }
}

fn is_version_list(items: &[Value]) -> bool {
    items
        .iter()
        .all(|v| v.get("version").and_then(Value::as_u64).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chain(key: &KeyId, length: u64) -> Vec<AuditEvent> {
        let mut events = Vec::new();
        let mut prev = AuditHash::GENESIS;
        for seq in 1..=length {
            let happened = Happened {
                reason: Some(Reason::parse("quarterly").unwrap()),
                before: json!({"status": "before", "n": seq}),
                after: json!({"status": "after", "z": 1, "a": [1, 2]}),
                ..Happened::new(
                    Timestamp::from_unix(1_000 + seq as i64).unwrap(),
                    &Actor::parse("alice@example.com").unwrap(),
                    AuditAction::RotationScheduled,
                )
            };
            let event = AuditEvent::new(key.clone(), seq, happened, prev);
            prev = event.hash;
            events.push(event);
        }
        events
    }

    fn head(events: &[AuditEvent]) -> Option<ChainHead> {
        Some(ChainHead {
            last_seq: events.len() as u64,
            hash: events.last().map(|e| e.hash),
        })
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let key = KeyId::generate();
        let events = chain(&key, 5);
        let report = verify_chain(&key, &events, head(&events));
        assert!(report.valid, "{report:?}");
        assert_eq!(report.events, 5);
        assert!(
            verify_chain(
                &key,
                &[],
                Some(ChainHead {
                    last_seq: 0,
                    hash: None
                })
            )
            .valid
        );
    }

    #[test]
    fn an_edited_event_is_detected() {
        let key = KeyId::generate();
        let mut events = chain(&key, 5);
        let original = head(&events);
        events[2].reason = Some(Reason::parse("nothing to see").unwrap());
        let report = verify_chain(&key, &events, original);
        assert_eq!(
            report.first_broken,
            Some(BrokenLink {
                seq: 3,
                problem: ChainProblem::HashMismatch
            })
        );

        // Re-hashing the edited event does not help: the next link breaks.
        events[2].hash = events[2].compute_hash();
        let report = verify_chain(&key, &events, original);
        assert_eq!(
            report.first_broken,
            Some(BrokenLink {
                seq: 4,
                problem: ChainProblem::BrokenLink
            })
        );
    }

    #[test]
    fn a_deleted_event_is_detected() {
        let key = KeyId::generate();
        let mut events = chain(&key, 5);
        let original = head(&events);
        events.remove(1);
        let report = verify_chain(&key, &events, original);
        assert_eq!(
            report.first_broken,
            Some(BrokenLink {
                seq: 2,
                problem: ChainProblem::SequenceGap {
                    expected: 2,
                    found: 3
                }
            })
        );
    }

    #[test]
    fn a_deleted_tail_is_detected_against_the_key_head() {
        let key = KeyId::generate();
        let mut events = chain(&key, 5);
        let original = head(&events);
        events.pop();
        let report = verify_chain(&key, &events, original);
        assert_eq!(
            report.first_broken,
            Some(BrokenLink {
                seq: 5,
                problem: ChainProblem::MissingTail {
                    expected_last: 5,
                    found_last: 4
                }
            })
        );
    }

    #[test]
    fn a_reordered_chain_is_detected() {
        let key = KeyId::generate();
        let mut events = chain(&key, 5);
        let original = head(&events);
        events.swap(1, 2);
        let report = verify_chain(&key, &events, original);
        assert!(!report.valid);
        assert_eq!(report.first_broken.unwrap().seq, 2);

        // Renumbering the swapped events to hide the move breaks their hashes.
        let mut renumbered = chain(&key, 5);
        renumbered.swap(1, 2);
        renumbered[1].seq = 2;
        renumbered[2].seq = 3;
        let report = verify_chain(&key, &renumbered, original);
        assert_eq!(
            report.first_broken,
            Some(BrokenLink {
                seq: 2,
                problem: ChainProblem::HashMismatch
            })
        );
    }

    #[test]
    fn an_event_from_another_key_is_detected() {
        let key = KeyId::generate();
        let other = chain(&KeyId::generate(), 1);
        let report = verify_chain(&key, &other, None);
        assert_eq!(report.first_broken.unwrap().problem, ChainProblem::WrongKey);
    }

    #[test]
    fn an_event_records_only_what_changed() {
        let before = json!({"key": {"status": "active", "activeRotation": null, "versions": [
            {"version": 1, "prefix": "aaaa", "stage": "revoked", "expiresAt": null},
            {"version": 2, "prefix": "bbbb", "stage": "current", "expiresAt": null}]},
            "rotation": null});
        let after = json!({"key": {"status": "active", "activeRotation": "rot_1", "versions": [
            {"version": 1, "prefix": "aaaa", "stage": "revoked", "expiresAt": null},
            {"version": 2, "prefix": "bbbb", "stage": "current", "expiresAt": "2026-01-02T00:00:00Z"},
            {"version": 3, "prefix": "cccc", "stage": "pending", "expiresAt": null}]},
            "rotation": {"status": "scheduled"}});
        let (b, a) = changed(&before, &after);
        assert_eq!(
            b,
            json!({"key": {"activeRotation": null, "versions": [{"version": 2, "expiresAt": null}]},
                   "rotation": null})
        );
        assert_eq!(
            a,
            json!({"key": {"activeRotation": "rot_1", "versions": [
                {"version": 2, "expiresAt": "2026-01-02T00:00:00Z"},
                {"version": 3, "prefix": "cccc", "stage": "pending", "expiresAt": null}]},
                "rotation": {"status": "scheduled"}})
        );
        assert_eq!(changed(&after, &after), (json!({}), json!({})));
    }

    #[test]
    fn the_streamed_check_agrees_with_the_whole_one_at_every_break() {
        let key = KeyId::generate();
        let events = chain(&key, 6);
        let original = head(&events);
        for broken_at in 0..6 {
            let mut edited = events.clone();
            edited[broken_at].actor = Actor::parse("mallory@example.com").unwrap();
            let mut verifier = ChainVerifier::new(&key);
            for event in &edited {
                verifier.push(event);
            }
            let streamed = verifier.finish(original);
            assert_eq!(streamed, verify_chain(&key, &edited, original));
            assert_eq!(streamed.first_broken.unwrap().seq, broken_at as u64 + 1);
        }
    }

    #[test]
    fn the_hash_does_not_depend_on_map_order() {
        let key = KeyId::generate();
        let event = chain(&key, 1).remove(0);
        let text = serde_json::to_string(&event).unwrap();
        let parsed: AuditEvent = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed.compute_hash(), event.hash);
    }
}
