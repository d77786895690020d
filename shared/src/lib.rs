//! keyroll-core: the domain, the rules and the adapters shared by every keyroll
//! function. Nothing here depends on Lambda.
//!
//! - [`key`], [`rotation`], [`audit`]: the model and its rules;
//! - [`secret`]: generation, format, checksum, lookup hash and verifier;
//! - [`config`]: the policy and settings, from environment variables;
//! - [`store`]: the storage port with DynamoDB and in-memory adapters;
//! - [`service`]: the operations, each one guarded, audited, atomic change.

pub mod audit;
pub mod aws;
pub mod compliance;
pub mod config;
pub mod error;
pub mod idempotency;
pub mod ids;
pub mod key;
pub mod leak;
pub mod logging;
pub mod metrics;
pub mod notification;
pub mod processor;
pub mod queue;
pub mod random;
pub mod rollover;
pub mod rotation;
pub mod secret;
pub mod service;
pub mod store;
pub mod time;
pub mod usage;
pub mod vault;

pub use error::{Error, Result};
