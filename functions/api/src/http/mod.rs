//! What every route shares about HTTP: the body and query extractors, problem
//! documents, idempotent requests, cursors, path and query values, bearer tokens and
//! the request's deadline. No handler lives here.

pub mod conditional;
pub mod credentials;
pub mod cursor;
pub mod deadline;
pub mod extract;
pub mod idempotency;
pub mod params;
pub mod problem;
pub mod problems;
