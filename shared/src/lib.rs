//! keyroll-core: the domain, the rules and the ports shared by every keyroll function,
//! with the adapters behind features. Nothing here depends on Lambda, and without its
//! default features nothing here depends on AWS.
//!
//! Imports flow one way:
//!
//! - **domain**: [`ids`], [`time`], [`secret`], [`key`], [`rotation`], [`audit`],
//!   [`notification`], [`idempotency`], [`change`] (the one way state changes),
//!   [`index`], [`rollover`], [`usage`], [`compliance`], [`config`], [`leak`],
//!   [`contact`], [`delivery`], [`email`], [`webhook`] (reaching the customer), [`csv`]
//!   (the import's CSV), and
//!   [`plan`]: every rule as a pure function from loaded state to a change;
//! - **ports**: [`store`], [`queue`], [`vault`], each with an in-memory adapter and an
//!   AWS one (features `dynamodb`, `sqs`, `secrets-manager`), and the notifier's
//!   mail and webhook ports (`notify::mailer`; features `ses`, `webhooks`);
//! - **service**: [`service::Keyroll`], the operations: load, plan, commit, retry;
//! - **jobs**: [`processor`], [`scan`] and [`notify`] (the notifier);
//! - and, for tests only (feature `testing`), `testing::TestKeyroll`.

pub mod audit;
#[cfg(any(
    feature = "dynamodb",
    feature = "sqs",
    feature = "secrets-manager",
    feature = "ses"
))]
pub mod aws;
pub mod callers;
pub mod change;
pub mod compliance;
pub mod config;
pub mod contact;
pub mod csv;
pub mod delivery;
pub mod delivery_key;
pub mod email;
pub mod error;
pub mod held;
pub mod idempotency;
pub mod ids;
pub mod index;
pub mod key;
pub mod key_policy;
pub mod leak;
pub mod limits;
pub mod logging;
pub mod mac;
pub mod metrics;
pub mod notification;
pub mod notify;
pub mod plan;
pub mod processor;
pub mod queue;
pub mod random;
pub mod rollover;
pub mod rotation;
pub mod rules;
pub mod scan;
pub mod secret;
pub mod service;
pub mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod time;
pub mod upgrade;
pub mod usage;
pub mod vault;
pub mod webhook;

pub use error::{Error, ErrorKind, Result};
