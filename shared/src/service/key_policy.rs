//! What an organisation's admins may create: its key policy, set by the operator, and
//! a customer's own new key, issued only inside it.

use super::{Caller, IssuedKey, Keyroll};
use crate::compliance::KeyComplianceStatus;
use crate::error::{Error, Result};
use crate::ids::{Actor, OrganizationId, Scope};
use crate::key::KeyClass;
use crate::key_policy::KeyPolicy;
use crate::plan::NewKey;

/// A key policy as an operator sets it (who and when are keyroll's to add).
#[derive(Debug, Clone)]
pub struct KeyPolicyRequest {
    pub allowed_scopes: Vec<Scope>,
    pub max_rate_limit: u32,
    pub max_keys: u64,
    pub classes: Vec<KeyClass>,
}

impl Keyroll {
    /// Sets `organization`'s key policy (replacing the one it had).
    pub async fn set_key_policy(
        &self,
        organization: &OrganizationId,
        request: KeyPolicyRequest,
        actor: &Actor,
    ) -> Result<KeyPolicy> {
        let mut scopes = request.allowed_scopes;
        scopes.sort();
        scopes.dedup();
        let mut classes = request.classes;
        classes.sort();
        classes.dedup();
        let policy = KeyPolicy {
            organization_id: organization.clone(),
            allowed_scopes: scopes,
            max_rate_limit: request.max_rate_limit,
            max_keys: request.max_keys,
            classes,
            updated_at: self.now(),
            updated_by: actor.clone(),
        };
        policy.validate()?;
        self.store.put_key_policy(&policy).await?;
        tracing::info!(organization = %organization, actor = %actor, "key policy set");
        Ok(policy)
    }

    /// `organization`'s key policy, if its operator set one.
    pub async fn key_policy(&self, organization: &OrganizationId) -> Result<Option<KeyPolicy>> {
        Ok(self.store.key_policy(organization).await?)
    }

    /// Issues a key an organisation's admin asked for, inside the organisation's key
    /// policy: none set is 403, a key outside it 409 naming the field. The active-key
    /// count is the compliance totals' (a burst of concurrent creations can pass
    /// `maxKeys` by the creations in flight).
    pub async fn issue_own_key(
        &self,
        request: NewKey,
        caller: impl Into<Caller>,
    ) -> Result<IssuedKey> {
        let caller = caller.into();
        let organization = request.organization_id.clone();
        let policy = self.key_policy(&organization).await?.ok_or_else(|| {
            Error::Forbidden(
                "your API provider has not enabled creating keys for your organisation".into(),
            )
        })?;
        let counts = self.store.compliance_counts(Some(&organization)).await?;
        let active = KeyComplianceStatus::ALL
            .iter()
            .map(|status| counts.of_status(*status))
            .sum();
        policy.admits(&request, active)?;
        self.issue_key(request, caller).await
    }
}
