//! What can go wrong, and the exit code each gives scripts.

use std::process::ExitCode;

/// The exit codes, stable for scripts (README, "The operator CLI").
pub mod exit {
    pub const OK: u8 = 0;
    /// Something unexpected: an answer keyroll should not give, a file unreadable.
    pub const FAILED: u8 = 1;
    /// The command line itself is wrong (clap's own code).
    pub const USAGE: u8 = 2;
    /// The key, rotation or organisation does not exist (404).
    pub const NOT_FOUND: u8 = 3;
    /// keyroll refused the change: invalid input, state or policy (400, 409, 410, 422…).
    pub const REFUSED: u8 = 4;
    /// No valid credential, or not allowed (401, 403).
    pub const DENIED: u8 = 5;
    /// keyroll could not be reached, was unavailable or throttled: worth a retry.
    pub const UNAVAILABLE: u8 = 6;
    /// The command ran, and found a problem: an audit chain that does not verify, rows
    /// an import refused.
    pub const PROBLEMS: u8 = 7;
}

/// A field a problem names (`errors` of keyroll's problem document).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    pub field: String,
    pub message: String,
}

/// How many fields at fault are shown: a whole batch's can run to thousands.
const FIELDS_SHOWN: usize = 5;

/// `: ` and the fields at fault when there are any, else the detail.
fn explained(detail: &Option<String>, fields: &[FieldProblem]) -> String {
    if fields.is_empty() {
        return detail
            .as_deref()
            .map(|d| format!(": {d}"))
            .unwrap_or_default();
    }
    let mut shown: Vec<String> = fields
        .iter()
        .take(FIELDS_SHOWN)
        .map(|f| format!("{}: {}", f.field, f.message))
        .collect();
    if fields.len() > FIELDS_SHOWN {
        shown.push(format!("and {} more", fields.len() - FIELDS_SHOWN));
    }
    format!(": {}", shown.join("; "))
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// keyroll answered with a problem (RFC 9457).
    #[error("{status} {title}{}", explained(detail, fields))]
    Api {
        status: u16,
        title: String,
        detail: Option<String>,
        fields: Vec<FieldProblem>,
    },
    /// No AWS credentials, or none that could be read.
    #[error("{0}")]
    Credentials(String),
    #[error("could not reach keyroll at {url}: {message}")]
    Unreachable { url: String, message: String },
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Problems(String),
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            CliError::Api { status, .. } => match status {
                404 => exit::NOT_FOUND,
                401 | 403 => exit::DENIED,
                429 | 500..=599 => exit::UNAVAILABLE,
                400..=499 => exit::REFUSED,
                _ => exit::FAILED,
            },
            CliError::Credentials(_) => exit::DENIED,
            CliError::Unreachable { .. } => exit::UNAVAILABLE,
            CliError::Usage(_) => exit::USAGE,
            CliError::Problems(_) => exit::PROBLEMS,
            CliError::Failed(_) => exit::FAILED,
        })
    }
}

pub type Result<T> = std::result::Result<T, CliError>;
