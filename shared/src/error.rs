//! keyroll's one error type. The core says *what* went wrong ([`ErrorKind`], and for
//! conflicts a typed [`Conflict`] reason); the API alone decides which HTTP status and
//! problem URI that is (functions/api/src/http/problem.rs), so no rule here knows HTTP.
//!
//! No variant ever carries secret material: messages are built from validated ids,
//! field names and fixed texts only.
//!
//! A dependency's failure keeps its cause whole, as the error's `source()` chain
//! ([`Cause`]); [`Chain`] prints the chain on one line for the operator's log, and no
//! caller ever sees it.

use std::fmt;
use std::sync::Arc;

/// What a caller's request ran into, in the terms the transport maps from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A value from outside failed validation.
    Invalid,
    /// A key or rotation that does not exist (or is not the caller's).
    NotFound,
    /// The request is valid but the resource's state forbids it.
    Conflict,
    /// The resource existed but is gone for good (a secret already revealed).
    Gone,
    /// The request was conditional on a version of the resource it no longer is at
    /// (`If-Match`).
    PreconditionFailed,
    /// The caller proved who they are but may not do this.
    Forbidden,
    /// The presented credential is missing or not valid.
    Unauthenticated,
    /// The caller has done this too often; it may again after a while.
    TooManyRequests,
    /// A backend could not be reached; retrying later may work.
    Unavailable,
    /// A broken invariant or unusable configuration inside keyroll.
    Internal,
}

/// Why a valid request conflicts with the current state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    /// Scheduling while another rotation of the key is in progress.
    #[error("rotation {rotation_id} is already in progress for this key")]
    RotationInProgress { rotation_id: String },
    /// The rotation's status does not allow the command.
    #[error("{0}")]
    WrongState(String),
    /// A well-formed value outside what this key's policy, the configuration or the
    /// clock allows (the request's shape is the document's; this is the state's).
    #[error("{field} {message}")]
    OutsidePolicy {
        field: &'static str,
        message: String,
    },
    #[error("the key is revoked")]
    KeyRevoked,
    /// The key's own expiry has passed: none of its secrets verifies.
    #[error("the key has expired")]
    KeyExpired,
    /// The imported key's id or secret is already stored.
    #[error("this secret has already been imported")]
    AlreadyImported,
    /// The grace has ended, so the old secret is dead and must stay dead.
    #[error("the grace has ended and the old secret no longer works; {remedy}")]
    GraceEnded { remedy: &'static str },
    #[error("an emergency rotation's grace cannot be extended")]
    EmergencyGraceIsFixed,
    /// A leak report named a secret that no longer verifies.
    #[error("the reported secret no longer works")]
    LeakedSecretIsDead,
    #[error("a leak rotation of this secret is already under way")]
    LeakAlreadyRotating,
    /// A leak report planned to kill a previous secret alone found the key's current
    /// secret exposed too by the time it committed: it rotates instead.
    #[error("the reported secret's key must be rotated")]
    LeakNeedsRotation,
    /// The key's stored audit head is not one keyroll wrote (rewritten, stripped of its
    /// MAC, or erased): no change extends it until an operator has looked.
    #[error("the key's audit trail failed verification, so it cannot be changed; the operator has been alerted")]
    AuditHeadNotAuthentic,
    /// Cancelling a rotation whose held new secret was already handed out.
    #[error("its new secret was handed out at {at}, so a client may already use it and cancelling would revoke it; cancel with force (and a reason) to do so anyway")]
    SuccessorDelivered { at: crate::time::Timestamp },
    /// Reveal of a rotation whose secret was handed to its caller at creation.
    #[error("this rotation's secret was returned when it was created; keyroll keeps no copy")]
    SecretWasReturned,
    /// Completing would revoke the old secret while its successor, held in the vault,
    /// has reached nobody.
    #[error("the new secret has not been delivered to anyone yet: reveal it first, or complete with force and a reason")]
    SecretNotDelivered,
    /// The key's client registering a delivery key when the key already has another.
    #[error(
        "this key already has a delivery key; only an operator or a customer admin can replace it"
    )]
    DeliveryKeyRegistered,
    /// Another writer changed the same key first and retries ran out.
    #[error("the key was changed concurrently; retry the request")]
    ConcurrentModification,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `field` names the input as the caller sent it (`rateLimit`, `keys[3].name`,
    /// `Idempotency-Key`).
    #[error("invalid {field}: {message}")]
    Invalid {
        field: std::borrow::Cow<'static, str>,
        message: String,
    },

    #[error("{kind} {id} not found")]
    NotFound { kind: &'static str, id: String },

    #[error("{0}")]
    Conflict(Conflict),

    #[error("{0}")]
    Gone(String),

    /// A change made on condition that the key is still at a revision it has left.
    #[error("the key is at revision {current}, not the one the request was made on")]
    PreconditionFailed { current: u64 },

    #[error("{0}")]
    Forbidden(String),

    /// A per-organisation limit: `what` has been done as often as allowed in its
    /// window; it may be done again in `retry_after_seconds`.
    #[error("{what}; try again in {retry_after_seconds} s")]
    TooManyRequests {
        what: String,
        retry_after_seconds: u64,
    },

    /// Never says whether the credential was missing, malformed or wrong.
    #[error("a valid credential is required")]
    Unauthenticated,

    /// The service configuration is unusable; reported at start-up.
    #[error("configuration: {0}")]
    Config(String),

    /// A service keyroll depends on failed or could not be reached (throttling, an
    /// outage, a timeout); retrying later may work. The source (the SDK's error code
    /// and message) is for logs, never for callers.
    #[error("{dependency} unavailable")]
    Unavailable {
        dependency: Dependency,
        #[source]
        source: Cause,
    },

    /// A stored item could not be decoded: retrying cannot fix it. Answered like an
    /// outage, since a repair of the item makes the request work again.
    #[error("storage holds an unreadable item")]
    Corrupt(#[source] StoreError),

    /// A broken invariant inside keyroll; the detail is for logs, never for callers.
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a storage adapter reports. Defined here, below every module, because the
/// domain's one error type carries it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A guard failed: the state changed since it was read. Re-read and re-plan.
    #[error("conditional write failed: the state changed since it was read")]
    Conflict,
    /// The backend could not be reached or refused the request (throttling included).
    #[error("storage backend unavailable: {operation}")]
    Unavailable {
        operation: String,
        #[source]
        cause: Cause,
    },
    /// A stored item could not be decoded.
    #[error("stored item is corrupt: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// The store failed doing `operation`, because of `cause`.
    pub fn unavailable(
        operation: impl Into<String>,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StoreError::Unavailable {
            operation: operation.into(),
            cause: Cause::new(cause),
        }
    }

    /// The store failed doing `operation`, for a reason known only by its text.
    pub fn unavailable_because(operation: impl Into<String>, reason: impl Into<String>) -> Self {
        StoreError::Unavailable {
            operation: operation.into(),
            cause: Cause::described(reason),
        }
    }
}

impl From<StoreError> for Error {
    fn from(error: StoreError) -> Self {
        match error {
            // A guard that failed outside the retry loop: someone else won.
            StoreError::Conflict => Error::Conflict(Conflict::ConcurrentModification),
            StoreError::Corrupt(_) => Error::Corrupt(error),
            StoreError::Unavailable { .. } => Error::Unavailable {
                dependency: Dependency::Store,
                source: Cause::new(error),
            },
        }
    }
}

/// A dependency's failure doing `operation`, its cause kept as the source: what the
/// vault and keyed-MAC ports report (the store has its own error, for its conflicts).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{dependency} unavailable: {operation}")]
pub struct DependencyError {
    dependency: Dependency,
    operation: String,
    #[source]
    cause: Cause,
}

impl DependencyError {
    pub fn new(
        dependency: Dependency,
        operation: impl Into<String>,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            dependency,
            operation: operation.into(),
            cause: Cause::new(cause),
        }
    }

    /// A failure known only by its text.
    pub fn because(
        dependency: Dependency,
        operation: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            dependency,
            operation: operation.into(),
            cause: Cause::described(reason),
        }
    }
}

/// A failing vault or MAC is a dependency being unavailable: transient, retried.
impl From<DependencyError> for Error {
    fn from(error: DependencyError) -> Self {
        Error::Unavailable {
            dependency: error.dependency,
            source: Cause::new(error),
        }
    }
}

/// A service keyroll calls, named in the errors of its failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dependency {
    /// DynamoDB in AWS.
    Store,
    /// Secrets Manager in AWS.
    Vault,
    /// The KMS HMAC key in AWS.
    Mac,
    /// SES in AWS: a contact's confirmation is sent while the request waits.
    Mail,
}

impl fmt::Display for Dependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dependency::Store => "storage",
            Dependency::Vault => "secret vault",
            Dependency::Mac => "keyed MAC",
            Dependency::Mail => "mail service",
        })
    }
}

/// A dependency's own error, kept whole as the source of keyroll's. Shown (and
/// compared, so the errors that carry one stay comparable) by its text and the text
/// of its sources only: never by `Debug`, which for an SDK error can hold a raw
/// response.
#[derive(Clone)]
pub struct Cause(Arc<dyn std::error::Error + Send + Sync + 'static>);

/// A cause known only by its text.
#[derive(Debug)]
struct Described(String);

impl fmt::Display for Described {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Described {}

impl Cause {
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(Arc::new(error))
    }

    /// A cause known only by its text (an answer missing a field, an injected fault).
    pub fn described(text: impl Into<String>) -> Self {
        Self(Arc::new(Described(text.into())))
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cause({})", Chain(self.0.as_ref()))
    }
}

impl std::error::Error for Cause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl PartialEq for Cause {
    fn eq(&self, other: &Self) -> bool {
        Chain(self.0.as_ref()).to_string() == Chain(other.0.as_ref()).to_string()
    }
}

impl Eq for Cause {}

/// An error and each of its sources, on one line (`a: b: c`): how the operator's log
/// shows a failure whose cause a dependency reported.
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut next = self.0.source();
        while let Some(cause) = next {
            write!(f, ": {cause}")?;
            next = cause.source();
        }
        Ok(())
    }
}

impl From<Conflict> for Error {
    fn from(conflict: Conflict) -> Self {
        Error::Conflict(conflict)
    }
}

impl Error {
    pub fn invalid(
        field: impl Into<std::borrow::Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// A well-formed value that the key's policy, the configuration or the clock does
    /// not allow now (the key's class bounds its grace, a time already past, …).
    pub fn outside_policy(field: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict(Conflict::OutsidePolicy {
            field,
            message: message.into(),
        })
    }

    /// The input this error is about, when it is about one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::Invalid { field, .. } => Some(field),
            Error::Conflict(Conflict::OutsidePolicy { field, .. }) => Some(field),
            _ => None,
        }
    }

    /// What is wrong with [`Error::field`], without the field's name.
    pub fn field_message(&self) -> Option<&str> {
        match self {
            Error::Invalid { message, .. } => Some(message),
            Error::Conflict(Conflict::OutsidePolicy { message, .. }) => Some(message),
            _ => None,
        }
    }

    pub fn not_found(kind: &'static str, id: impl std::fmt::Display) -> Self {
        Self::NotFound {
            kind,
            id: id.to_string(),
        }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Invalid { .. } => ErrorKind::Invalid,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::Conflict(_) => ErrorKind::Conflict,
            Error::Gone(_) => ErrorKind::Gone,
            Error::PreconditionFailed { .. } => ErrorKind::PreconditionFailed,
            Error::Forbidden(_) => ErrorKind::Forbidden,
            Error::TooManyRequests { .. } => ErrorKind::TooManyRequests,
            Error::Unauthenticated => ErrorKind::Unauthenticated,
            Error::Unavailable { .. } | Error::Corrupt(_) => ErrorKind::Unavailable,
            Error::Config(_) | Error::Internal(_) => ErrorKind::Internal,
        }
    }

    /// How long a caller refused by a limit should wait.
    pub fn retry_after_seconds(&self) -> Option<u64> {
        match self {
            Error::TooManyRequests {
                retry_after_seconds,
                ..
            } => Some(*retry_after_seconds),
            _ => None,
        }
    }

    /// The conflict's reason, for conflicts.
    pub fn conflict(&self) -> Option<&Conflict> {
        match self {
            Error::Conflict(conflict) => Some(conflict),
            _ => None,
        }
    }

    /// Whether the message may be shown to a caller. Storage and internal errors keep
    /// their detail in the logs.
    pub fn is_public(&self) -> bool {
        !matches!(self.kind(), ErrorKind::Unavailable | ErrorKind::Internal)
    }

    /// The same kind of failure may pass if tried again: throttling, an outage, a lost
    /// race.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::Unavailable { .. } | Error::Conflict(Conflict::ConcurrentModification)
        )
    }

    /// A write that failed so may still have been applied (a timeout, a 5xx, a lost
    /// answer): only a re-read can tell.
    pub fn may_have_committed(&self) -> bool {
        matches!(self, Error::Unavailable { .. } | Error::Internal(_))
    }

    /// Retrying can never fix it: the stored state is inconsistent.
    pub fn is_permanent(&self) -> bool {
        matches!(self, Error::Corrupt(_) | Error::Internal(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_client_error_has_its_kind_and_hides_nothing_it_should_not() {
        let cases = [
            (Error::invalid("reason", "too long"), ErrorKind::Invalid),
            (Error::not_found("key", "key_x"), ErrorKind::NotFound),
            (Conflict::KeyRevoked.into(), ErrorKind::Conflict),
            (Conflict::KeyExpired.into(), ErrorKind::Conflict),
            (
                Conflict::RotationInProgress {
                    rotation_id: "rot_x".into(),
                }
                .into(),
                ErrorKind::Conflict,
            ),
            (StoreError::Conflict.into(), ErrorKind::Conflict),
            (Error::Forbidden("emergency".into()), ErrorKind::Forbidden),
            (Error::Unauthenticated, ErrorKind::Unauthenticated),
        ];
        for (error, kind) in cases {
            assert_eq!(error.kind(), kind, "{error}");
            assert!(error.is_public());
        }
        let store = Error::from(StoreError::unavailable_because(
            "GetItem",
            "connect refused to 10.0.0.1",
        ));
        assert_eq!(store.kind(), ErrorKind::Unavailable);
        assert!(!store.is_public());
        // The cause is kept, as the error's source, for the operator's log; callers
        // never see a non-public error.
        assert!(!store.to_string().contains("10.0.0.1"));
        assert_eq!(
            Chain(&store).to_string(),
            "storage unavailable: storage backend unavailable: GetItem: connect refused to 10.0.0.1"
        );
    }

    #[test]
    fn transient_and_permanent_failures_are_told_apart() {
        assert!(Error::from(StoreError::Conflict).is_transient());
        assert!(Error::from(StoreError::unavailable_because("Query", "throttled")).is_transient());
        assert!(Error::from(StoreError::Corrupt("bad item".into())).is_permanent());
        let vault = Error::from(DependencyError::because(
            Dependency::Vault,
            "GetSecretValue",
            "timed out",
        ));
        let mac = Error::from(DependencyError::because(
            Dependency::Mac,
            "GenerateMac",
            "throttled",
        ));
        for (error, dependency) in [(vault, Dependency::Vault), (mac, Dependency::Mac)] {
            assert!(matches!(&error, Error::Unavailable { dependency: d, .. } if *d == dependency));
            assert_eq!(error.kind(), ErrorKind::Unavailable, "{error}");
            assert!(error.is_transient() && !error.is_permanent(), "{error}");
            assert!(!error.is_public());
        }
        assert!(!Error::from(Conflict::KeyRevoked).is_transient());
        assert!(!Error::from(Conflict::KeyRevoked).is_permanent());
    }
}
