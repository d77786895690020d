//! The problem responses routes can answer, declared once each: a route's `responses(…)`
//! names the ones it can answer (`Unauthenticated, NotFound`) and the document takes
//! their status, media type (`application/problem+json`), schema ([`Problem`]) and
//! meaning from here, instead of restating them per route.

use utoipa::IntoResponses;

use crate::http::problem::Problem;

/// A problem response of `status`, described by its doc comment.
macro_rules! problem_response {
    ($(#[$doc:meta])* $name:ident = $status:literal) => {
        $(#[$doc])*
        #[derive(IntoResponses)]
        #[response(status = $status, content_type = "application/problem+json")]
        pub struct $name(#[allow(dead_code)] Problem);
    };
}

problem_response!(
    /// The body is not well-formed JSON, or could not be read.
    MalformedBody = 400
);

problem_response!(
    /// No valid credential: missing, malformed or wrong (the answer never says which).
    Unauthenticated = 401
);

problem_response!(
    /// The caller is known but may not do this (a viewer's change; an emergency
    /// rotation's old secret asking for its successor).
    Forbidden = 403
);

problem_response!(
    /// No such key, rotation or resource; another organisation's answers the same.
    NotFound = 404
);

problem_response!(
    /// Well formed, but the resource's state, its policy, the configuration or the clock
    /// refuses it (`rotationId` names a rotation in progress).
    StateConflict = 409
);

problem_response!(
    /// A per-organisation limit was reached (rotations of one key in an hour, signing
    /// secrets of one endpoint in a day): nothing changed; `Retry-After` says when.
    TooManyRequests = 429
);

problem_response!(
    /// The resource existed but is gone for good (a secret already handed out).
    Gone = 410
);

problem_response!(
    /// `If-Match` names a revision the key has left: read it again, then retry.
    PreconditionFailed = 412
);

problem_response!(
    /// The body is larger than the route accepts.
    TooLarge = 413
);

problem_response!(
    /// The body is not of a media type the route accepts.
    UnsupportedMediaType = 415
);

problem_response!(
    /// A value breaks the document's rules; `errors` names each field at fault.
    Invalid = 422
);

/// Well formed, but outside what the organisation may have (at most 25) or, for a
/// webhook, where keyroll may call (https, public addresses).
#[derive(IntoResponses)]
#[response(
    status = 409,
    content_type = "application/problem+json",
    description = "well formed, but outside what the organisation may have (at most 25) or, for a webhook, where keyroll may call (https, public addresses)"
)]
pub struct DestinationOutsidePolicy(#[allow(dead_code)] Problem);
