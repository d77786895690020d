//! Importing the old system's keys: one by one, and an import's rows many to a
//! transaction.

use futures::StreamExt;

use super::commit::Ready;
use super::{Caller, Keyroll};
use crate::error::{Conflict, Error, Result, StoreError};
use crate::idempotency::RequestOutcome;
use crate::ids::Actor;
use crate::key::Key;
use crate::plan::{plan_import, Act, LegacyKey};
use crate::store::MAX_KEY_CREATIONS;

/// How many rows are made ready (planned, stamped, their audit heads MACed) at once.
const READYING_CONCURRENCY: usize = 16;

/// How many batches of rows are written at once: each is one transaction, and
/// batches side by side meet only on a counter shard now and then.
const BATCH_CONCURRENCY: usize = 4;

/// A row made ready to commit, with what its fallback needs.
struct ReadyRow {
    legacy: LegacyKey,
    ready: Ready,
    key: Key,
}

impl Keyroll {
    /// Imports a key from the old system by its lookup hash. Its secret keeps working
    /// (verified by hash alone) until it is rotated away.
    pub async fn import_legacy_key(
        &self,
        legacy: LegacyKey,
        caller: impl Into<Caller>,
    ) -> Result<Key> {
        let caller = caller.into();
        for _ in 0..super::CONFLICT_ATTEMPTS {
            let now = self.now();
            let act = Act {
                actor: &caller.actor,
                now,
            };
            let mut change = plan_import(legacy.clone(), &self.config.secret_format, act)?;
            let key_id = change.key().id.clone();
            caller.record_request(
                &mut change,
                key_id.as_str(),
                RequestOutcome::Created,
                None,
                now,
            )?;
            match self.commit(change).await {
                Ok(key) => return Ok(key),
                // The key id or the secret record exists already — or, on DynamoDB, a
                // concurrent import of the same secret made both transactions give
                // up: only an existing record makes this row a duplicate.
                Err(Error::Conflict(Conflict::ConcurrentModification)) => {
                    if self.already_imported(&legacy).await? {
                        return Err(Conflict::AlreadyImported.into());
                    }
                }
                Err(other) => return Err(other),
            }
        }
        Err(Conflict::ConcurrentModification.into())
    }

    /// Imports many keys of the old system, each row's outcome in order: the key, or
    /// why it was not imported ([`Conflict::AlreadyImported`] for a duplicate).
    ///
    /// Rows are written [`MAX_KEY_CREATIONS`] to a transaction with the compliance
    /// totals moved once per batch. A batch refused because a row exists already (a
    /// re-run) is imported row by row, which tells the duplicates from the rest. A row
    /// repeating an earlier row's id or secret is imported after every batch, so it
    /// finds that row and is a duplicate.
    pub async fn import_legacy_keys(
        &self,
        rows: Vec<LegacyKey>,
        actor: &Actor,
    ) -> Vec<Result<Key>> {
        let readied: Vec<Result<ReadyRow>> = futures::stream::iter(rows)
            .map(|legacy| self.ready_import(legacy, actor))
            .buffered(READYING_CONCURRENCY)
            .collect()
            .await;
        let mut outcomes: Vec<Option<Result<Key>>> = Vec::with_capacity(readied.len());
        let mut batches: Vec<Vec<(usize, ReadyRow)>> = Vec::new();
        let mut repeats = Vec::new();
        let mut ids = std::collections::HashSet::new();
        let mut secrets = std::collections::HashSet::new();
        for (index, row) in readied.into_iter().enumerate() {
            outcomes.push(None);
            let row = match row {
                Ok(row) => row,
                Err(error) => {
                    outcomes[index] = Some(Err(error));
                    continue;
                }
            };
            let fresh_id = ids.insert(row.key.id.clone());
            let fresh_secret = secrets.insert(row.legacy.lookup_hash);
            if !(fresh_id && fresh_secret) {
                repeats.push((index, row.legacy));
                continue;
            }
            match batches.last_mut() {
                Some(batch) if batch.len() < MAX_KEY_CREATIONS => batch.push((index, row)),
                _ => batches.push(vec![(index, row)]),
            }
        }
        let written: Vec<Vec<(usize, Result<Key>)>> = futures::stream::iter(batches)
            .map(|batch| self.import_batch(batch, actor))
            .buffer_unordered(BATCH_CONCURRENCY)
            .collect()
            .await;
        for (index, outcome) in written.into_iter().flatten() {
            outcomes[index] = Some(outcome);
        }
        for (index, legacy) in repeats {
            outcomes[index] = Some(self.import_legacy_key(legacy, actor.clone()).await);
        }
        outcomes
            .into_iter()
            .map(|outcome| outcome.unwrap_or_else(|| Err(Conflict::ConcurrentModification.into())))
            .collect()
    }

    /// A row planned, stamped and authenticated: ready to join a batch.
    async fn ready_import(&self, legacy: LegacyKey, actor: &Actor) -> Result<ReadyRow> {
        let act = Act {
            actor,
            now: self.now(),
        };
        let change = plan_import(legacy.clone(), &self.config.secret_format, act)?;
        let ready = self.authenticate(self.stamp(change).await?).await?;
        let key = ready.change().key().clone();
        Ok(ReadyRow { legacy, ready, key })
    }

    /// One batch's rows in one transaction. If it is refused because rows exist
    /// already (a re-run), those are read to be duplicates and the rest sent again as
    /// one batch; refused again (a race with another import), each row on its own.
    async fn import_batch(
        &self,
        batch: Vec<(usize, ReadyRow)>,
        actor: &Actor,
    ) -> Vec<(usize, Result<Key>)> {
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut pending = batch;
        for attempt in 0..2 {
            let changes: Vec<_> = pending
                .iter()
                .map(|(_, row)| row.ready.change().clone())
                .collect();
            match self.store.create_keys(&changes).await {
                Ok(()) => {
                    outcomes.extend(pending.into_iter().map(|(index, row)| (index, Ok(row.key))));
                    return outcomes;
                }
                Err(StoreError::Conflict) if attempt == 0 => {
                    let found = futures::future::join_all(
                        pending
                            .iter()
                            .map(|(_, row)| self.already_imported(&row.legacy)),
                    )
                    .await;
                    let mut rest = Vec::with_capacity(pending.len());
                    for ((index, row), found) in pending.into_iter().zip(found) {
                        match found {
                            Ok(true) => {
                                outcomes.push((index, Err(Conflict::AlreadyImported.into())))
                            }
                            Ok(false) => rest.push((index, row)),
                            Err(error) => outcomes.push((index, Err(error.into()))),
                        }
                    }
                    if rest.is_empty() {
                        return outcomes;
                    }
                    pending = rest;
                }
                Err(StoreError::Conflict) => break,
                Err(error) => {
                    outcomes.extend(
                        pending
                            .into_iter()
                            .map(|(index, _)| (index, Err(Error::from(error.clone())))),
                    );
                    return outcomes;
                }
            }
        }
        let one_by_one: Vec<_> = futures::stream::iter(pending)
            .map(|(index, row)| async move {
                (
                    index,
                    self.import_legacy_key(row.legacy, actor.clone()).await,
                )
            })
            .buffered(READYING_CONCURRENCY)
            .collect()
            .await;
        outcomes.extend(one_by_one);
        outcomes
    }

    /// Whether a row's secret or its old id is in keyroll already.
    async fn already_imported(&self, legacy: &LegacyKey) -> std::result::Result<bool, StoreError> {
        if self.store.secret(&legacy.lookup_hash).await?.is_some() {
            return Ok(true);
        }
        Ok(match &legacy.id {
            Some(id) => self.store.key(id).await?.is_some(),
            None => false,
        })
    }
}
