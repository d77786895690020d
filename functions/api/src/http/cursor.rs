//! Cursors of the paged lists keyroll's routes answer: a position in the due index or
//! the emergency log, as text of the documented shape (`rules::due_cursor_pattern`).

use keyroll_core::error::Error;
use keyroll_core::ids::{KeyId, RotationId};

/// A position in the due index: `<due time>.<rotationId>.<keyId>` (none of the three
/// contains a dot; the time in Unix seconds), of the shape `rules::due_cursor_pattern`.
pub(crate) fn due_cursor(entry: &keyroll_core::index::DueRef) -> String {
    format!(
        "{}.{}.{}",
        entry.due_at.unix(),
        entry.rotation_id,
        entry.key_id
    )
}

pub(crate) fn parse_due_cursor(text: &str) -> Result<keyroll_core::index::DueRef, Error> {
    let invalid = || {
        Error::invalid(
            "cursor",
            "not a cursor of this list; start again without one",
        )
    };
    let mut parts = text.splitn(3, '.');
    let (Some(due), Some(rotation), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(invalid());
    };
    Ok(keyroll_core::index::DueRef {
        due_at: keyroll_core::rules::cursor_time(due).ok_or_else(invalid)?,
        rotation_id: RotationId::parse(rotation).map_err(|_| invalid())?,
        key_id: KeyId::parse(key).map_err(|_| invalid())?,
    })
}

/// A position in a key list: `<created>.<keyId>` (the time in Unix seconds), of the
/// shape `rules::KEY_LIST_CURSOR_PATTERN`.
pub(crate) fn key_list_cursor(entry: &keyroll_core::index::ListedKey) -> String {
    format!("{}.{}", entry.created_at.unix(), entry.key_id)
}

pub(crate) fn parse_key_list_cursor(text: &str) -> Result<keyroll_core::index::ListedKey, Error> {
    let invalid = || {
        Error::invalid(
            "cursor",
            "not a cursor of this list; start again without one",
        )
    };
    let (created, key) = text.split_once('.').ok_or_else(invalid)?;
    Ok(keyroll_core::index::ListedKey {
        created_at: keyroll_core::rules::cursor_time(created).ok_or_else(invalid)?,
        key_id: KeyId::parse(key).map_err(|_| invalid())?,
    })
}

/// A position in the emergency log: `<time>.<rotationId>.<keyId>`.
pub(crate) fn emergency_cursor(entry: &keyroll_core::change::EmergencyLogEntry) -> String {
    format!("{}.{}.{}", entry.at.unix(), entry.rotation_id, entry.key_id)
}

pub(crate) fn parse_emergency_cursor(
    text: &str,
) -> Result<keyroll_core::change::EmergencyLogEntry, Error> {
    let due = parse_due_cursor(text)?;
    Ok(keyroll_core::change::EmergencyLogEntry {
        at: due.due_at,
        rotation_id: due.rotation_id,
        key_id: due.key_id,
    })
}
