//! Who uses a secret: each verification is attributed to a caller, the fingerprint of
//! an integration — its network (never a full address), its User-Agent's product, the
//! client library it names and its app version — so a customer can be told which
//! integration still uses an old secret, not only that one does.
//!
//! Rules only: what a request's hints become ([`CallerFingerprint::of`]), and how a
//! secret's log of callers takes a minute's sightings ([`CallerLog::record`]): at most
//! [`MAX_CALLERS`], the most used of the last week, the rest summed as one `other` row.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::time::Timestamp;

/// Days of use counts kept, per secret and per caller (today and the six before).
pub const DAYS_KEPT: u64 = 7;

/// Callers kept per secret version; the rest are summed as one `other` row.
pub const MAX_CALLERS: usize = 50;

/// Each fingerprint field is cut to this many characters.
pub const FIELD_CHARS: usize = 64;

/// The id of the row that sums the callers beyond [`MAX_CALLERS`].
pub const OTHER_CALLERS: &str = "other";

/// What a request says about its caller, as received: untrusted text, never stored
/// as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallerHints {
    /// The source address (its network is kept, never the address).
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The `Keyroll-Client` header keyroll's client libraries send.
    pub client: Option<String>,
    /// The header named by `KEYROLL_APP_VERSION_HEADER`.
    pub app_version: Option<String>,
}

/// An integration as keyroll tells it apart.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallerFingerprint {
    /// The source's /24 (IPv4) or /48 (IPv6), e.g. `203.0.113.0/24`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// The User-Agent's first product token, e.g. `acme-billing/2.3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_version: Option<String>,
}

impl CallerFingerprint {
    pub fn of(hints: &CallerHints) -> Self {
        Self {
            network: hints.ip.as_deref().and_then(network_of),
            agent: hints
                .user_agent
                .as_deref()
                .and_then(|ua| ua.split_whitespace().next())
                .and_then(clean),
            client: hints.client.as_deref().and_then(clean),
            app_version: hints.app_version.as_deref().and_then(clean),
        }
    }

    /// The fingerprint with every field that repeats (part of) `secret` dropped: a
    /// client that put its secret in a header must not have it stored as its name.
    pub fn without_secret(mut self, secret: &str) -> Self {
        // A field is cut to 64 characters, so a secret in it may be cut too: its first
        // 16 characters are enough to tell.
        let telltale: String = secret.chars().take(16).collect();
        if telltale.chars().count() < 16 {
            return self;
        }
        for field in [
            &mut self.network,
            &mut self.agent,
            &mut self.client,
            &mut self.app_version,
        ] {
            if field.as_deref().is_some_and(|f| f.contains(&telltale)) {
                *field = None;
            }
        }
        self
    }

    /// In words, for people: `billing-cron/1.4, keyroll-python/0.1.0, app 3.1 from
    /// 203.0.113.0/24`.
    pub fn describe(&self) -> String {
        let what: Vec<String> = [
            self.agent.clone(),
            self.client.clone(),
            self.app_version.as_ref().map(|v| format!("app {v}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        let what = if what.is_empty() {
            "an unnamed caller".to_owned()
        } else {
            what.join(", ")
        };
        match &self.network {
            Some(network) => format!("{what} from {network}"),
            None => what,
        }
    }

    /// A stable id: the first 16 hex characters of the SHA-256 of the fields.
    pub fn id(&self) -> String {
        let mut hash = Sha256::new();
        for field in [&self.network, &self.agent, &self.client, &self.app_version] {
            hash.update(field.as_deref().unwrap_or("").as_bytes());
            hash.update([0]);
        }
        format!("c_{}", &hex::encode(hash.finalize())[..16])
    }
}

/// The network of an address: /24 for IPv4 (and IPv4-mapped IPv6), /48 for IPv6.
fn network_of(ip: &str) -> Option<String> {
    let address: IpAddr = ip.trim().parse().ok()?;
    let address = match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    };
    Some(match address {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let network = std::net::Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0);
            format!("{network}/48")
        }
    })
}

/// Control characters dropped, trimmed, at most [`FIELD_CHARS`]; nothing left is none.
fn clean(text: &str) -> Option<String> {
    let kept: String = text
        .chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim()
        .chars()
        .take(FIELD_CHARS)
        .collect();
    (!kept.is_empty()).then_some(kept)
}

/// A caller's uses seen by one container since its last write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sighting {
    pub caller: CallerFingerprint,
    pub uses: u64,
    pub first_at: Timestamp,
    pub last_at: Timestamp,
}

/// Of uses counted per UTC day, those of the [`DAYS_KEPT`] days ending at `now`'s day.
pub fn uses_in_week(daily: &BTreeMap<String, u64>, now: Timestamp) -> u64 {
    let oldest = now.minus_seconds((DAYS_KEPT - 1) * 86_400).day();
    daily
        .iter()
        .filter(|(day, _)| **day >= oldest)
        .map(|(_, n)| n)
        .sum()
}

/// Where the callers of a rotation's old secret (`from_version`) stand: only callers
/// that used it count.
pub fn old_secret_summary(callers: &[KeyCaller], from_version: u32) -> MoveSummary {
    let mut summary = MoveSummary::default();
    for caller in callers
        .iter()
        .filter(|c| c.versions.iter().any(|v| v.version == from_version))
    {
        match caller.status {
            MoveStatus::Moved => summary.moved += 1,
            MoveStatus::NotMoved => summary.not_moved += 1,
            MoveStatus::Gone => summary.gone += 1,
        }
    }
    summary
}

/// One caller of a secret version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallerEntry {
    pub id: String,
    pub caller: CallerFingerprint,
    pub first_seen: Timestamp,
    /// To the minute.
    pub last_seen: Timestamp,
    /// Uses per UTC day, the last [`DAYS_KEPT`] days.
    pub daily: BTreeMap<String, u64>,
}

impl CallerEntry {
    /// Uses in the [`DAYS_KEPT`] days ending at `now`'s day.
    pub fn uses_7d(&self, now: Timestamp) -> u64 {
        uses_in_week(&self.daily, now)
    }

    /// Uses on `now`'s day and the day before: the last 24 hours, to the day.
    pub fn uses_24h(&self, now: Timestamp) -> u64 {
        let yesterday = now.minus_seconds(86_400).day();
        self.daily
            .iter()
            .filter(|(day, _)| **day >= yesterday)
            .map(|(_, n)| n)
            .sum()
    }
}

/// The callers of one secret version: at most [`MAX_CALLERS`] rows, the rest in
/// `other` (whose id is [`OTHER_CALLERS`]). `revision` guards its read-and-replace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallerLog {
    pub revision: u64,
    pub callers: Vec<CallerEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other: Option<CallerEntry>,
}

impl CallerLog {
    /// Takes a container's sightings at `now`: each caller's first and last seen and
    /// the day's uses; days older than [`DAYS_KEPT`] forgotten; beyond
    /// [`MAX_CALLERS`], the least used of the week summed into `other`.
    pub fn record(&mut self, sightings: &[Sighting], now: Timestamp) {
        for sighting in sightings {
            let id = sighting.caller.id();
            let day = sighting.last_at.day();
            match self.callers.iter_mut().find(|entry| entry.id == id) {
                Some(entry) => {
                    entry.first_seen = entry.first_seen.min(sighting.first_at);
                    entry.last_seen = entry.last_seen.max(sighting.last_at.start_of_minute());
                    *entry.daily.entry(day).or_default() += sighting.uses;
                }
                None => self.callers.push(CallerEntry {
                    id,
                    caller: sighting.caller.clone(),
                    first_seen: sighting.first_at,
                    last_seen: sighting.last_at.start_of_minute(),
                    daily: BTreeMap::from([(day, sighting.uses)]),
                }),
            }
        }
        let oldest = now.minus_seconds((DAYS_KEPT - 1) * 86_400).day();
        for entry in self.callers.iter_mut().chain(self.other.iter_mut()) {
            entry.daily.retain(|day, _| *day >= oldest);
        }
        if self.callers.len() > MAX_CALLERS {
            // Most used of the week first; among equals, the most recently seen.
            self.callers.sort_by(|a, b| {
                b.uses_7d(now)
                    .cmp(&a.uses_7d(now))
                    .then(b.last_seen.cmp(&a.last_seen))
                    .then(a.id.cmp(&b.id))
            });
            for evicted in self.callers.split_off(MAX_CALLERS) {
                let other = self.other.get_or_insert_with(|| CallerEntry {
                    id: OTHER_CALLERS.to_owned(),
                    caller: CallerFingerprint::default(),
                    first_seen: evicted.first_seen,
                    last_seen: evicted.last_seen,
                    daily: BTreeMap::new(),
                });
                other.first_seen = other.first_seen.min(evicted.first_seen);
                other.last_seen = other.last_seen.max(evicted.last_seen);
                for (day, uses) in evicted.daily {
                    *other.daily.entry(day).or_default() += uses;
                }
            }
        }
        self.callers.sort_by(|a, b| a.id.cmp(&b.id));
        self.revision += 1;
    }
}

/// Where a caller stands in a key's move from an old secret to a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MoveStatus {
    /// Seen on the new secret, and not on the old one since.
    Moved,
    /// Still seen on the old secret, or not yet on the new one.
    NotMoved,
    /// Not seen on any secret of the key for [`DAYS_KEPT`] days.
    Gone,
}

/// One caller's use of one secret version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionUse {
    pub version: u32,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub uses_24h: u64,
    pub uses_7d: u64,
}

/// A caller of a key, over its secret versions, with where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCaller {
    pub id: String,
    pub caller: CallerFingerprint,
    pub status: MoveStatus,
    pub versions: Vec<VersionUse>,
}

/// How many callers stand where.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MoveSummary {
    pub moved: u64,
    pub not_moved: u64,
    pub gone: u64,
}

/// The move a key's callers are judged by: from the old version to the new one (a
/// rotation's), or none (no rotation yet: every caller seen lately has nowhere to go).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Move {
    pub from_version: u32,
    pub to_version: u32,
}

/// Every caller of a key from its versions' logs, each with its status in `change`
/// at `now`, most used first; and the summary.
pub fn key_callers(
    logs: &[(u32, CallerLog)],
    change: Option<Move>,
    now: Timestamp,
) -> (Vec<KeyCaller>, MoveSummary) {
    let mut by_id: BTreeMap<String, KeyCaller> = BTreeMap::new();
    for (version, log) in logs {
        for entry in log.callers.iter().chain(log.other.iter()) {
            let caller = by_id.entry(entry.id.clone()).or_insert_with(|| KeyCaller {
                id: entry.id.clone(),
                caller: entry.caller.clone(),
                status: MoveStatus::Gone,
                versions: Vec::new(),
            });
            caller.versions.push(VersionUse {
                version: *version,
                first_seen: entry.first_seen,
                last_seen: entry.last_seen,
                uses_24h: entry.uses_24h(now),
                uses_7d: entry.uses_7d(now),
            });
        }
    }
    let mut summary = MoveSummary::default();
    let mut callers: Vec<KeyCaller> = by_id
        .into_values()
        .map(|mut caller| {
            caller.versions.sort_by_key(|v| v.version);
            caller.status = move_status(&caller.versions, change, now);
            match caller.status {
                MoveStatus::Moved => summary.moved += 1,
                MoveStatus::NotMoved => summary.not_moved += 1,
                MoveStatus::Gone => summary.gone += 1,
            }
            caller
        })
        .collect();
    callers.sort_by(|a, b| {
        let uses = |c: &KeyCaller| c.versions.iter().map(|v| v.uses_7d).sum::<u64>();
        uses(b).cmp(&uses(a)).then(a.id.cmp(&b.id))
    });
    (callers, summary)
}

/// One app version's part of a key's traffic over the last [`DAYS_KEPT`] days.
#[derive(Debug, Clone, PartialEq)]
pub struct AppVersionShare {
    /// `None`: callers that named no app version.
    pub app_version: Option<String>,
    pub uses_7d: u64,
    /// Of every use of the key's secrets in the week.
    pub share_percent: f64,
    /// Per secret version: its uses by this app version, and their share of the key's.
    pub versions: Vec<(u32, u64, f64)>,
}

/// The key's week of traffic by app version (most used first), each split over the
/// secret versions: how fast an embedded secret fades as app releases replace it.
pub fn by_app_version(callers: &[KeyCaller]) -> Vec<AppVersionShare> {
    let total: u64 = callers
        .iter()
        .flat_map(|c| c.versions.iter())
        .map(|v| v.uses_7d)
        .sum();
    let percent = |uses: u64| {
        if total == 0 {
            0.0
        } else {
            uses as f64 * 100.0 / total as f64
        }
    };
    let mut grouped: BTreeMap<Option<String>, BTreeMap<u32, u64>> = BTreeMap::new();
    for caller in callers {
        let versions = grouped
            .entry(caller.caller.app_version.clone())
            .or_default();
        for used in &caller.versions {
            *versions.entry(used.version).or_default() += used.uses_7d;
        }
    }
    let mut shares: Vec<AppVersionShare> = grouped
        .into_iter()
        .map(|(app_version, versions)| {
            let uses_7d = versions.values().sum();
            AppVersionShare {
                app_version,
                uses_7d,
                share_percent: percent(uses_7d),
                versions: versions
                    .into_iter()
                    .map(|(version, uses)| (version, uses, percent(uses)))
                    .collect(),
            }
        })
        .collect();
    shares.sort_by(|a, b| {
        b.uses_7d
            .cmp(&a.uses_7d)
            .then(a.app_version.cmp(&b.app_version))
    });
    shares
}

/// `moved`: seen on the new version and not on the old one since the minute it was
/// first seen on the new; `gone`: not seen on any version for [`DAYS_KEPT`] days; else `not_moved`.
fn move_status(versions: &[VersionUse], change: Option<Move>, now: Timestamp) -> MoveStatus {
    let week_ago = now.minus_seconds(DAYS_KEPT * 86_400);
    if versions.iter().all(|v| v.last_seen < week_ago) {
        return MoveStatus::Gone;
    }
    let Some(change) = change else {
        return MoveStatus::Moved;
    };
    let on = |version: u32| versions.iter().find(|v| v.version == version);
    match (on(change.from_version), on(change.to_version)) {
        (None, Some(_)) => MoveStatus::Moved,
        // Last seen is to the minute: a caller that switched within a minute has moved.
        (Some(old), Some(new)) if old.last_seen <= new.first_seen.start_of_minute() => {
            MoveStatus::Moved
        }
        _ => MoveStatus::NotMoved,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse(text).unwrap()
    }

    fn hints(ip: &str, ua: &str) -> CallerHints {
        CallerHints {
            ip: Some(ip.into()),
            user_agent: Some(ua.into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_fingerprint_keeps_the_network_never_the_address() {
        let v4 = CallerFingerprint::of(&hints(
            "203.0.113.77",
            "acme-billing/2.3 (linux) reqwest/0.12",
        ));
        assert_eq!(v4.network.as_deref(), Some("203.0.113.0/24"));
        assert_eq!(v4.agent.as_deref(), Some("acme-billing/2.3"));
        let v6 = CallerFingerprint::of(&hints("2001:db8:1234:5678::9", "x"));
        assert_eq!(v6.network.as_deref(), Some("2001:db8:1234::/48"));
        let mapped = CallerFingerprint::of(&hints("::ffff:198.51.100.9", "x"));
        assert_eq!(mapped.network.as_deref(), Some("198.51.100.0/24"));
        assert_eq!(
            CallerFingerprint::of(&hints("not an address", "x")).network,
            None
        );
        // Same /24, same agent: one caller.
        assert_eq!(
            v4.id(),
            CallerFingerprint::of(&hints("203.0.113.5", "acme-billing/2.3")).id()
        );
    }

    #[test]
    fn fields_are_cut_and_control_characters_dropped() {
        let fingerprint = CallerFingerprint::of(&CallerHints {
            client: Some(format!("keyroll-python/1.0\u{0}\n{}", "x".repeat(100))),
            app_version: Some("\u{7}\t ".into()),
            ..Default::default()
        });
        let client = fingerprint.client.unwrap();
        assert_eq!(client.chars().count(), FIELD_CHARS);
        assert!(client.starts_with("keyroll-python/1.0x"));
        assert_eq!(fingerprint.app_version, None, "nothing left");
    }

    fn sighting(n: usize, uses: u64, when: &str) -> Sighting {
        Sighting {
            caller: CallerFingerprint {
                agent: Some(format!("job-{n}/1")),
                ..Default::default()
            },
            uses,
            first_at: at(when),
            last_at: at(when),
        }
    }

    #[test]
    fn a_log_keeps_the_fifty_most_used_and_sums_the_rest() {
        let mut log = CallerLog::default();
        let now = at("2026-12-03T10:00:30Z");
        let sightings: Vec<_> = (0..60)
            .map(|n| sighting(n, 100 + n as u64, "2026-12-03T10:00:30Z"))
            .collect();
        log.record(&sightings, now);
        assert_eq!(log.callers.len(), MAX_CALLERS);
        let other = log.other.as_ref().unwrap();
        assert_eq!(other.id, OTHER_CALLERS);
        // The ten least used (100..=109) are summed.
        assert_eq!(other.uses_7d(now), (100..110).sum::<u64>());
        assert!(log
            .callers
            .iter()
            .all(|c| c.caller.agent.as_deref() != Some("job-0/1")));
        let total: u64 =
            log.callers.iter().map(|c| c.uses_7d(now)).sum::<u64>() + other.uses_7d(now);
        assert_eq!(total, (100..160).sum::<u64>(), "no use lost");
        assert_eq!(log.revision, 1);
    }

    #[test]
    fn a_log_adds_to_a_known_caller_and_forgets_days_past_the_week() {
        let mut log = CallerLog::default();
        log.record(
            &[sighting(1, 5, "2026-11-20T09:00:00Z")],
            at("2026-11-20T09:00:00Z"),
        );
        log.record(
            &[sighting(1, 3, "2026-12-03T10:00:42Z")],
            at("2026-12-03T10:00:42Z"),
        );
        let entry = &log.callers[0];
        assert_eq!(log.callers.len(), 1);
        assert_eq!(entry.first_seen, at("2026-11-20T09:00:00Z"));
        assert_eq!(entry.last_seen, at("2026-12-03T10:00:00Z"), "to the minute");
        assert_eq!(entry.daily.len(), 1, "the day 13 days back is forgotten");
        assert_eq!(entry.uses_7d(at("2026-12-03T10:00:42Z")), 3);
        assert_eq!(entry.uses_24h(at("2026-12-04T08:00:00Z")), 3);
        assert_eq!(entry.uses_24h(at("2026-12-05T08:00:00Z")), 0);
    }

    fn log_of(entries: &[(usize, &str, &str, u64)]) -> CallerLog {
        // (caller, first seen, last seen, uses that day)
        let mut log = CallerLog::default();
        for (n, first, last, uses) in entries {
            let mut first_sighting = sighting(*n, 1, first);
            first_sighting.uses = 0;
            log.record(&[first_sighting], at(first));
            log.record(&[sighting(*n, *uses, last)], at(last));
        }
        log
    }

    #[test]
    fn callers_are_moved_not_moved_or_gone() {
        let now = at("2026-12-10T12:00:00Z");
        let change = Some(Move {
            from_version: 1,
            to_version: 2,
        });
        let old = log_of(&[
            // 1: moved (last on old before first on new); 2: on both lately;
            // 3: only on old; 4: not seen for 8 days.
            (1, "2026-12-01T00:00:00Z", "2026-12-09T08:00:00Z", 10),
            (2, "2026-12-01T00:00:00Z", "2026-12-10T11:00:00Z", 10),
            (3, "2026-12-01T00:00:00Z", "2026-12-10T11:30:00Z", 10),
            (4, "2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z", 10),
        ]);
        let new = log_of(&[
            (1, "2026-12-09T09:00:00Z", "2026-12-10T11:00:00Z", 5),
            (2, "2026-12-09T09:00:00Z", "2026-12-10T11:00:00Z", 5),
            // 5: a new caller only ever on the new secret.
            (5, "2026-12-10T10:00:00Z", "2026-12-10T10:00:00Z", 1),
        ]);
        let (callers, summary) = key_callers(&[(1, old), (2, new)], change, now);
        let status = |n: usize| {
            let id = sighting(n, 1, "2026-12-10T00:00:00Z").caller.id();
            callers.iter().find(|c| c.id == id).unwrap().status
        };
        assert_eq!(status(1), MoveStatus::Moved);
        assert_eq!(status(2), MoveStatus::NotMoved);
        assert_eq!(status(3), MoveStatus::NotMoved);
        assert_eq!(status(4), MoveStatus::Gone);
        assert_eq!(status(5), MoveStatus::Moved);
        assert_eq!(
            summary,
            MoveSummary {
                moved: 2,
                not_moved: 2,
                gone: 1
            }
        );
        let one = callers
            .iter()
            .find(|c| c.status == MoveStatus::Gone)
            .unwrap();
        assert_eq!(one.versions.len(), 1);
        assert_eq!(
            one.versions[0].uses_7d, 0,
            "its uses are older than the week"
        );
    }

    #[test]
    fn traffic_splits_by_app_version_over_the_secret_versions() {
        let now = at("2026-12-10T12:00:00Z");
        let app = |version: &str, n: usize| CallerFingerprint {
            app_version: Some(version.into()),
            agent: Some(format!("device-{n}")),
            ..Default::default()
        };
        let mut old = CallerLog::default();
        let mut new = CallerLog::default();
        let seen = |caller: CallerFingerprint, uses: u64| Sighting {
            caller,
            uses,
            first_at: now,
            last_at: now,
        };
        old.record(&[seen(app("3.1", 1), 60), seen(app("3.1", 2), 30)], now);
        new.record(&[seen(app("3.2", 3), 900), seen(app("3.1", 1), 10)], now);
        let (callers, _) = key_callers(&[(1, old), (2, new)], None, now);
        let shares = by_app_version(&callers);
        assert_eq!(shares.len(), 2);
        assert_eq!(shares[0].app_version.as_deref(), Some("3.2"));
        assert_eq!(shares[0].uses_7d, 900);
        assert!((shares[0].share_percent - 90.0).abs() < 1e-9);
        let old_app = &shares[1];
        assert_eq!(old_app.app_version.as_deref(), Some("3.1"));
        assert_eq!(old_app.versions, vec![(1, 90, 9.0), (2, 10, 1.0)]);
    }

    #[test]
    fn a_field_repeating_the_presented_secret_is_dropped() {
        let secret = "sk_live_Zx81PqLm4TnV7sKd2WcY9bHf3JgR6uEoA1iM5yXw0Q";
        let careless = CallerFingerprint::of(&CallerHints {
            ip: Some("203.0.113.9".into()),
            // Cut to 64 characters, the secret is still recognised by its start.
            user_agent: Some(format!("{secret}{secret}")),
            client: Some("keyroll-python/0.1.0".into()),
            app_version: Some(format!("token={}", &secret[..20])),
        })
        .without_secret(secret);
        assert_eq!(careless.agent, None);
        assert_eq!(careless.app_version, None);
        assert_eq!(careless.client.as_deref(), Some("keyroll-python/0.1.0"));
        assert_eq!(careless.network.as_deref(), Some("203.0.113.0/24"));
        assert!(!format!("{careless:?}").contains(&secret[..16]));
    }
}
