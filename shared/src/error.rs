//! keyroll's one error type. Every failure a caller can see is one of these variants;
//! [`Error::http_status`] and [`Error::problem_type`] are the single place that maps
//! them to HTTP, so the API, the authorizer and the jobs agree.
//!
//! No variant ever carries secret material: messages are built from validated ids,
//! field names and fixed texts only.

use crate::ids::RotationId;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A value from outside failed validation (HTTP 422).
    #[error("invalid {field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },

    /// A key or rotation that does not exist (HTTP 404).
    #[error("{kind} {id} not found")]
    NotFound { kind: &'static str, id: String },

    /// The request is valid but the resource's state forbids it (HTTP 409).
    #[error("{0}")]
    Conflict(String),

    /// The resource existed but is gone for good, e.g. a secret already revealed
    /// (HTTP 410).
    #[error("{0}")]
    Gone(String),

    /// The caller proved who they are but may not do this (HTTP 403).
    #[error("{0}")]
    Forbidden(String),

    /// The presented credential is missing or not valid (HTTP 401). Never says which
    /// of those it was.
    #[error("a valid credential is required")]
    Unauthenticated,

    /// Scheduling while another rotation of the key is in progress (HTTP 409).
    #[error("rotation {0} is already in progress for this key")]
    RotationInProgress(RotationId),

    /// Another writer changed the same key first and retries ran out (HTTP 409).
    #[error("the key was changed concurrently; retry the request")]
    ConcurrentModification,

    /// The service configuration is unusable; reported at start-up.
    #[error("configuration: {0}")]
    Config(String),

    /// The storage backend failed (HTTP 503); detail is logged, never shown.
    #[error("storage unavailable")]
    Store(#[from] StoreError),

    /// A broken invariant inside keyroll (HTTP 500); detail is logged, never shown.
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            message: message.into(),
        }
    }

    pub fn not_found(kind: &'static str, id: impl std::fmt::Display) -> Self {
        Self::NotFound {
            kind,
            id: id.to_string(),
        }
    }

    /// The HTTP status this error answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            Error::Invalid { .. } => 422,
            Error::NotFound { .. } => 404,
            Error::Gone(_) => 410,
            Error::Forbidden(_) => 403,
            Error::Unauthenticated => 401,
            Error::Conflict(_) | Error::RotationInProgress(_) | Error::ConcurrentModification => {
                409
            }
            Error::Store(StoreError::Conflict) => 409,
            Error::Store(_) => 503,
            Error::Config(_) | Error::Internal(_) => 500,
        }
    }

    /// A stable RFC 9457 `type` URI for the problem body.
    pub fn problem_type(&self) -> &'static str {
        match self {
            Error::Invalid { .. } => "https://keyroll.dev/problems/invalid-request",
            Error::NotFound { .. } => "https://keyroll.dev/problems/not-found",
            Error::Gone(_) => "https://keyroll.dev/problems/gone",
            Error::Forbidden(_) => "https://keyroll.dev/problems/forbidden",
            Error::Unauthenticated => "https://keyroll.dev/problems/unauthorized",
            Error::Conflict(_) => "https://keyroll.dev/problems/wrong-state",
            Error::RotationInProgress(_) => "https://keyroll.dev/problems/rotation-in-progress",
            Error::ConcurrentModification | Error::Store(StoreError::Conflict) => {
                "https://keyroll.dev/problems/concurrent-modification"
            }
            Error::Store(_) => "https://keyroll.dev/problems/unavailable",
            Error::Config(_) | Error::Internal(_) => "https://keyroll.dev/problems/internal",
        }
    }

    /// Whether the message may be shown to a caller. Storage and internal errors keep
    /// their detail in the logs.
    pub fn is_public(&self) -> bool {
        !matches!(
            self,
            Error::Store(_) | Error::Config(_) | Error::Internal(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_client_error_is_4xx_and_hides_nothing_it_should_not() {
        let cases = [
            (Error::invalid("reason", "too long"), 422),
            (Error::not_found("key", "key_x"), 404),
            (Error::Conflict("key is revoked".into()), 409),
            (Error::RotationInProgress(RotationId::generate()), 409),
            (Error::ConcurrentModification, 409),
            (Error::Forbidden("emergency".into()), 403),
            (Error::Unauthenticated, 401),
        ];
        for (error, status) in cases {
            assert_eq!(error.http_status(), status, "{error}");
            assert!(error.is_public());
        }
        let store = Error::Store(StoreError::Unavailable(
            "connect refused to 10.0.0.1".into(),
        ));
        assert_eq!(store.http_status(), 503);
        assert!(!store.is_public());
        assert!(!store.to_string().contains("10.0.0.1"));
    }
}
