//! The processor and notification suite over the in-memory adapters.

pub use keyroll_tests::processor::memory_world as world;
pub const RACE_ROTATIONS: usize = 200;

#[path = "processor/mod.rs"]
mod suite;
