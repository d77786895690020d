//! Secrets nobody was handed at creation (policy, self-service and leak rotations):
//! held in the vault before their rotation commits, handed out once.

use super::{Caller, Keyroll, RotationIssued, SecretHandout, Verification};
use crate::error::{Error, Result};
use crate::held::{HeldMarker, ORPHAN_AFTER_SECONDS};
use crate::idempotency::RequestOutcome;
use crate::ids::{Actor, KeyId, RotationId};
use crate::plan::{plan_deliver_sealed, plan_reveal, reveal::check_revealable, Act, Successor};
use crate::rotation::Rotation;
use crate::secret::{MintedSecret, RawSecret};

/// A self-service successor as its client fetches it: sealed to the key's delivery key.
#[derive(Debug, Clone)]
pub struct SealedSuccessor {
    pub rotation: Rotation,
    /// The compact JWE whose plaintext is the new secret.
    pub jwe: String,
}

/// The held secret's vault name, for a rotation delivered sealed before (its other
/// instances fetch it again) or not delivered at all.
fn check_revealable_or_sealed(rotation: &Rotation) -> Result<&str> {
    match (
        &rotation.vault_secret,
        rotation.sealed_delivery && rotation.holds_secret(),
    ) {
        (Some(name), true) => Ok(name),
        _ => check_revealable(rotation),
    }
}

impl Keyroll {
    /// Mints the new secret of a rotation about to be planned, and holds it in the vault
    /// when nobody is to be handed it — before the change commits, so a committed
    /// rotation always has its secret (`issued` removes it again if the change does not).
    pub(super) async fn mint_successor(
        &self,
        key_id: &KeyId,
        held: bool,
    ) -> Result<(MintedSecret, Successor)> {
        let (minted, secret) = self.mint().await?;
        let rotation_id = RotationId::generate();
        let held = if held {
            Some(
                self.hold_in_vault(key_id, &rotation_id, &minted.secret)
                    .await?,
            )
        } else {
            None
        };
        Ok((
            minted,
            Successor {
                rotation_id,
                secret,
                held_since: held.as_ref().map(|marker| marker.held_at),
                held_as: held.map(|marker| marker.vault_secret),
            },
        ))
    }

    /// The result of a rotation planned with `successor`: its secret returned, or held;
    /// if the change did not commit, the held copy is removed.
    pub(super) async fn issued(
        &self,
        outcome: Result<Rotation>,
        successor: Successor,
        secret: RawSecret,
    ) -> Result<RotationIssued> {
        let rotation = match outcome {
            Ok(rotation) => rotation,
            Err(error) if successor.held_as.is_some() && error.may_have_committed() => {
                // The change may have committed all the same: then its rotation is
                // live and needs the held secret. Deleting it now would break the key
                // (a reveal finds it gone), so it is only ever deleted by the sweep, once
                // no rotation can appear for it.
                match self.store.rotation(&successor.rotation_id).await {
                    Ok(Some(rotation)) => rotation,
                    _ => {
                        tracing::warn!(rotation = %successor.rotation_id, error = %crate::error::Chain(&error), "the rotation's commit may or may not have happened; its held secret is kept for the processor's sweep");
                        return Err(error);
                    }
                }
            }
            Err(error) => {
                // Refused: the change certainly did not commit.
                self.release_vault(successor.held_as.as_deref()).await;
                if let (Some(vault_secret), Some(held_at)) =
                    (successor.held_as.clone(), successor.held_since)
                {
                    let marker = HeldMarker {
                        held_at,
                        rotation_id: successor.rotation_id.clone(),
                        vault_secret,
                    };
                    if let Err(cleanup) = self.store.remove_held_marker(&marker).await {
                        tracing::warn!(error = %crate::error::Chain(&cleanup), "held-secret marker not removed; the sweep removes it");
                    }
                }
                return Err(error);
            }
        };
        let handout = match successor.held_as {
            Some(vault_secret) => SecretHandout::Held { vault_secret },
            None => SecretHandout::Returned(secret),
        };
        Ok(RotationIssued { rotation, handout })
    }

    /// Stores a new secret that nobody is handed for its one reveal, before the change
    /// that creates its rotation commits (so a committed rotation always has it).
    pub(super) async fn hold_in_vault(
        &self,
        key_id: &KeyId,
        rotation_id: &RotationId,
        secret: &RawSecret,
    ) -> Result<HeldMarker> {
        let vault = self
            .vault
            .as_ref()
            .ok_or_else(|| Error::Config("holding a secret needs a secret vault".into()))?;
        let name = format!("{}{}", self.config.secret_name_prefix, rotation_id);
        // The marker first: a secret in the vault always has one, so the sweep finds
        // it if its rotation never commits.
        let marker = HeldMarker {
            held_at: self.now(),
            rotation_id: rotation_id.clone(),
            vault_secret: name.clone(),
        };
        self.store.put_held_marker(&marker).await?;
        vault
            .put(
                &name,
                secret,
                &[
                    ("keyroll:key", key_id.as_str()),
                    ("keyroll:rotation", rotation_id.as_str()),
                ],
            )
            .await
            .map_err(Error::from)?;
        Ok(marker)
    }

    /// Deletes the held secrets whose rotation never committed, once that is certain
    /// (held longer ago than [`ORPHAN_AFTER_SECONDS`] and still no rotation), and
    /// forgets the markers of those whose rotation did. Returns how many secrets it
    /// deleted. Reads the markers only: its cost follows the secrets held lately.
    pub async fn sweep_held_secrets(&self, limit: usize) -> Result<u64> {
        let before = self.now().minus_seconds(ORPHAN_AFTER_SECONDS);
        let mut deleted = 0;
        for marker in self.store.held_markers(before, limit).await? {
            if self.store.rotation(&marker.rotation_id).await?.is_none() {
                if let Some(vault) = &self.vault {
                    vault
                        .delete(&marker.vault_secret)
                        .await
                        .map_err(Error::from)?;
                }
                deleted += 1;
                tracing::info!(rotation = %marker.rotation_id, vault_secret_name = %marker.vault_secret, "deleted a held secret whose rotation never committed");
            }
            self.store.remove_held_marker(&marker).await?;
        }
        Ok(deleted)
    }

    /// Deletes a held secret whose rotation was not created after all.
    pub(super) async fn release_vault(&self, name: Option<&str>) {
        if let (Some(vault), Some(name)) = (&self.vault, name) {
            if let Err(cleanup) = vault.delete(name).await {
                tracing::warn!(error = %crate::error::Chain(&cleanup), vault_secret_name = %name, "could not delete the vault secret of a rotation that was not created");
            }
        }
    }

    /// Customer self-service: the new secret of the rotation replacing `presented`,
    /// sealed to the key's delivery key (a compact JWE only its private half opens), for
    /// whoever proves they hold the old secret during a non-emergency self-service
    /// rotation — any instance, any number of times; the first fetch counts as the
    /// delivery. A holder of the old secret alone gets ciphertext it cannot open.
    /// Refused for emergency and leak rotations (their old secret may be an attacker's),
    /// and for a key with no delivery key (409: register one first).
    pub async fn successor(&self, presented: &str) -> Result<SealedSuccessor> {
        let record = match self.verify(presented).await? {
            Verification::Valid(record) => record,
            _ => return Err(Error::Unauthenticated),
        };
        let key = self.load_key(&record.key_id).await?;
        let no_successor = || Error::not_found("successor for secret of key", &record.key_id);
        let Some(rotation) = self.active_rotation_of(&key).await? else {
            return Err(no_successor());
        };
        let rotation_id = rotation.id.clone();
        if rotation.from_version != record.version {
            return Err(no_successor());
        }
        if rotation.trigger.is_emergency() {
            return Err(Error::Forbidden(
                "the old secret of an emergency or leak rotation is presumed compromised and cannot fetch its successor; the key's owner gets the new secret".into(),
            ));
        }
        if super::fetchable_successor(&record, Some(&rotation)).is_none() {
            return Err(no_successor());
        }
        let Some(delivery_key) = key.delivery_key.clone() else {
            return Err(Error::outside_policy(
                "deliveryKey",
                "this key has no delivery key, so its successor cannot be sealed: register one (PUT /v1/self/delivery-key, or keyroll-client enroll), then fetch again",
            ));
        };
        let vault = self
            .vault
            .as_ref()
            .ok_or_else(|| Error::Config("no secret vault is configured".into()))?;
        let name = check_revealable_or_sealed(&rotation)?.to_owned();
        let secret = vault
            .get(&name)
            .await
            .map_err(Error::from)?
            .ok_or_else(|| Error::Gone("this rotation's secret is no longer held".into()))?;
        let rotation = if rotation.sealed_delivery {
            rotation
        } else {
            let actor = Actor::self_service(&record.key_id);
            let (actor, thumbprint, id) = (&actor, delivery_key.thumbprint.as_str(), &rotation_id);
            self.commit_with_retry(|| async move {
                let (rotation, key) = self.load_rotation_and_key(id).await?;
                let act = Act {
                    actor,
                    now: self.now(),
                };
                Ok(
                    match plan_deliver_sealed(
                        key,
                        rotation.clone(),
                        thumbprint,
                        &self.config.policy,
                        act,
                    )? {
                        Some((change, delivered)) => (Some(change), delivered),
                        None => (None, rotation),
                    },
                )
            })
            .await?
        };
        let jwe = delivery_key.seal(&secret)?;
        Ok(SealedSuccessor { rotation, jwe })
    }

    /// Hands out, once, the secret a rotation minted and kept in the vault. A second
    /// reveal, or one after the rotation ended, is refused as gone.
    pub async fn reveal_secret(
        &self,
        id: &RotationId,
        caller: impl Into<Caller>,
    ) -> Result<(Rotation, RawSecret)> {
        let caller = &caller.into();
        let vault = self
            .vault
            .as_ref()
            .ok_or_else(|| Error::Config("no secret vault is configured".into()))?;
        let rotation = self.rotation(id).await?;
        let name = check_revealable(&rotation)?.to_owned();
        let secret = vault
            .get(&name)
            .await
            .map_err(Error::from)?
            .ok_or_else(|| Error::Gone("this rotation's secret is no longer held".into()))?;
        let secret_ref = &secret;
        let revealed = self
            .commit_with_retry(|| async move {
                let now = self.now();
                let (rotation, key) = self.load_rotation_and_key(id).await?;
                let act = Act {
                    actor: &caller.actor,
                    now,
                };
                let (mut change, rotation) = plan_reveal(key, rotation, &self.config.policy, act)?;
                caller.record_request(
                    &mut change,
                    rotation.id.as_str(),
                    RequestOutcome::Changed,
                    Some(secret_ref),
                    now,
                )?;
                Ok((Some(change), rotation))
            })
            .await?;
        // The outbox deletes it too; deleting now keeps the copy's life short.
        if let Err(error) = vault.delete(&name).await {
            tracing::warn!(error = %crate::error::Chain(&error), vault_secret_name = %name, "vault secret not deleted at reveal; the processor will retry");
        }
        Ok((revealed, secret))
    }
}
