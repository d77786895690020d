//! The API's tests, one binary: in-process through the real router (`support`), one
//! module per area, the Lambda event fixtures, and the property test of the rotation
//! state machine.

mod compliance;
mod customers;
mod delivery_keys;
mod discovery;
mod idempotency;
mod keys;
mod lambda_events;
mod openapi;
mod operator_policies;
mod organizations;
mod properties;
mod refusals;
mod rotations;
mod self_service;
mod support;
mod verify;
