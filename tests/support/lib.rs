//! Shared test support: fixtures over each store adapter and the contract suite that
//! every adapter must pass.

pub mod contract;
pub mod faults;
pub mod fixture;
pub mod processor;
