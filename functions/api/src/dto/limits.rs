//! The documented limits of the routes' inputs: page sizes, how far back a log is
//! read, an import's rows and their prefixes. The handlers enforce them and the
//! document states them, both from here.

use keyroll_core::rules::Range;

/// Rotations per page of the due index and the emergency log.
pub const ROTATION_PAGE: Range = Range::new(1, keyroll_core::service::MAX_ROTATION_PAGE as u64);

/// How far back the emergency log is read, in days.
pub const EMERGENCY_DAYS: Range = Range::new(1, 366);

/// Keys per page of the compliance report.
pub const REPORT_PAGE: Range = Range::new(1, 1000);

/// Rows of one CSV page: about 1 MB, well inside Lambda's 6 MB response.
pub const MAX_CSV_PAGE: usize = 10_000;

/// Rows per page of the compliance CSV.
pub const CSV_PAGE: Range = Range::new(1, MAX_CSV_PAGE as u64);

/// Keys per page of an organisation's list.
/// The operator's key list: keys per page.
pub const KEY_LIST_PAGE: Range = Range::new(1, keyroll_core::service::MAX_LIST_PAGE as u64);

/// A shown prefix to find a key by: visible ASCII, as long as an imported one may be.
pub const SHOWN_PREFIX_PATTERN: &str = r"^[\u0021-\u007e]*$";

pub const KEY_PAGE: Range = Range::new(1, keyroll_core::service::MAX_KEY_PAGE as u64);

/// Rows of one import request.
pub const MAX_ROWS: usize = 1000;

/// The longest shown prefix of an imported key: the old system's prefix and 8 hex
/// characters.
pub const MAX_PREFIX_CHARS: usize = 72;

/// An imported key's shown prefix: visible ASCII ending in 8 lower-case hex characters.
pub const PREFIX_PATTERN: &str = r"^[\u0021-\u007e]*[0-9a-f]{8}$";
