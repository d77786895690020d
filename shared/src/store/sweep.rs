//! What one page of the upgrade sweep found and fixed ([`super::Store::sweep_legacy`]).

/// One page of the sweep through items an older release wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepPage {
    /// The sweep has been through the whole table: nothing of an older release is left.
    pub done: bool,
    /// The page ended a pass through the table (done, or another pass follows, which a
    /// later run starts).
    pub pass_ended: bool,
    /// Items the page read.
    pub examined: u64,
    /// Keys given the index attributes a newer release added (the org, list and
    /// compliance indexes): they appear in those indexes from now on.
    pub keys_indexed: u64,
    /// Idempotency records from before records expired on their own (no `ttl`),
    /// deleted: their window passed long ago, and they still held sealed replies.
    pub records_deleted: u64,
    /// Secret records written before records were authenticated (no identity MAC):
    /// the service MACs each as it reads now ([`super::Store::authenticate_secret_record`]).
    pub unauthenticated: Vec<crate::key::SecretRecord>,
}
