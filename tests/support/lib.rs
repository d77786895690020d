//! Shared test support: fixtures over each store adapter and the contract suite that
//! every adapter must pass.

pub mod contract;
pub mod fixture;
