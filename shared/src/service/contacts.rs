//! An organisation's delivery settings and what was delivered: email contacts, webhook
//! endpoints (with their signing secrets, held in the vault), the in-app feed and the
//! delivery log.

use super::{Caller, Keyroll};
use crate::contact::{
    wanted_types, Contact, EmailAddress, PendingConfirmation, SigningSecretRef, WebhookEndpoint,
};
use crate::delivery::{DeliveryAttempt, FeedEntry};
use crate::error::{Dependency, DependencyError, Error, Result, StoreError};
use crate::ids::{ContactId, OrganizationId, WebhookId};
use crate::notification::NotificationType;
use crate::secret::RawSecret;
use crate::store::DeliveryStore;
use crate::time::Timestamp;
use crate::webhook::SigningSecret;

/// How long the old signing secret keeps signing after `rotate-secret` (a day).
pub const SECRET_OVERLAP_SECONDS: u64 = 86_400;

/// At most this many contacts and endpoints per organisation (each costs a send).
pub const MAX_DESTINATIONS: usize = 25;

impl Keyroll {
    fn deliveries(&self) -> Result<&dyn DeliveryStore> {
        self.deliveries
            .as_deref()
            .ok_or_else(|| Error::Config("no delivery store is configured".into()))
    }

    /// Adds an email contact. An operator's is confirmed at once; a customer's gets a
    /// confirmation code by email and nothing else until the code is passed back
    /// ([`Keyroll::confirm_contact`]). The code is sent before the contact is stored,
    /// so a failed send leaves nothing behind.
    pub async fn add_contact(
        &self,
        organization: OrganizationId,
        email: &str,
        types: Option<&[NotificationType]>,
        caller: impl Into<Caller>,
    ) -> Result<Contact> {
        let caller = caller.into();
        let now = self.now();
        let mut contact = Contact {
            id: ContactId::generate(),
            email: EmailAddress::parse(email)?,
            types: wanted_types(types)?,
            created_at: now,
            created_by: caller.actor,
            organization_id: organization,
            pending: None,
        };
        let store = self.deliveries()?;
        if store.contacts(&contact.organization_id).await?.len() >= MAX_DESTINATIONS {
            return Err(Error::outside_policy(
                "email",
                format!("cannot be added: an organisation has at most {MAX_DESTINATIONS} contacts"),
            ));
        }
        if contact.created_by.kind().is_customer() {
            let code = self.send_confirmation(&contact, now).await?;
            contact.pending = Some(code);
        }
        store.add_contact(&contact).await?;
        Ok(contact)
    }

    /// Mails `contact` a fresh confirmation code, counted against its organisation's
    /// hourly emails; what is stored of the code.
    async fn send_confirmation(
        &self,
        contact: &Contact,
        now: Timestamp,
    ) -> Result<PendingConfirmation> {
        let mailer = self.mailer.as_ref().ok_or_else(|| {
            Error::outside_policy(
                "email",
                "cannot be confirmed: this keyroll sends no email".to_owned(),
            )
        })?;
        self.take_email(&contact.organization_id, now).await?;
        let (pending, code) = PendingConfirmation::generate(now);
        let message = crate::email::contact_confirmation(
            contact.organization_id.as_str(),
            code.expose(),
            pending.expires_at,
            now,
        );
        match mailer.send(&contact.email, &message).await {
            Ok(()) => {}
            // The address itself: the caller's to fix, not an outage.
            Err(error) if error.refused => {
                tracing::info!(error = %crate::error::Chain(&error), "the mail service refused a new contact's address");
                return Err(Error::outside_policy(
                    "email",
                    "is not an address the mail service accepts".to_owned(),
                ));
            }
            Err(error) => {
                return Err(DependencyError::new(Dependency::Mail, "SendEmail", error).into())
            }
        }
        Ok(pending)
    }

    /// Counts one email of `organization` this hour, or refuses it (429) when the
    /// organisation has had its `KEYROLL_EMAILS_PER_ORGANIZATION_HOUR`.
    async fn take_email(&self, organization: &OrganizationId, now: Timestamp) -> Result<()> {
        let hour = crate::limits::clock_hour(now);
        let limit = self.config.policy.emails_per_organization_hour;
        if self
            .deliveries()?
            .take_email(organization, hour, limit)
            .await?
        {
            return Ok(());
        }
        Err(Error::TooManyRequests {
            what: format!("emails to this organisation: at most {limit} per hour"),
            retry_after_seconds: crate::limits::until_next_hour(now),
        })
    }

    /// Confirms a contact with the code its address was sent: from then on it gets the
    /// notifications it chose. Confirming a confirmed contact changes nothing.
    pub async fn confirm_contact(
        &self,
        organization: &OrganizationId,
        id: &ContactId,
        code: &str,
    ) -> Result<Contact> {
        if !crate::rules::CONFIRMATION_CODE.accepts(code) {
            return Err(Error::invalid(
                "code",
                "must be the code from the email: letters, digits and dashes",
            ));
        }
        let store = self.deliveries()?;
        let mut contact = store
            .contacts(organization)
            .await?
            .into_iter()
            .find(|c| c.id == *id)
            .ok_or_else(|| Error::not_found("contact", id))?;
        let Some(pending) = &contact.pending else {
            return Ok(contact);
        };
        let now = self.now();
        if !pending.accepts(code, now) {
            // Well formed, but not what this contact's state holds: a conflict.
            return Err(Error::outside_policy(
                "code",
                "is not the code sent to this address, or it has expired (remove the contact and add it again for a new one)".to_owned(),
            ));
        }
        contact.pending = None;
        if !store.replace_contact(&contact).await? {
            return Err(Error::not_found("contact", id));
        }
        Ok(contact)
    }

    pub async fn contacts(&self, organization: &OrganizationId) -> Result<Vec<Contact>> {
        Ok(self.deliveries()?.contacts(organization).await?)
    }

    pub async fn remove_contact(
        &self,
        organization: &OrganizationId,
        id: &ContactId,
    ) -> Result<()> {
        if self.deliveries()?.remove_contact(organization, id).await? {
            Ok(())
        } else {
            Err(Error::not_found("contact", id))
        }
    }

    /// Registers an endpoint and its first signing secret, returned here only.
    pub async fn add_webhook(
        &self,
        organization: OrganizationId,
        url: &str,
        types: Option<&[NotificationType]>,
        caller: impl Into<Caller>,
    ) -> Result<(WebhookEndpoint, RawSecret)> {
        let caller = caller.into();
        let destination = self.config.destinations.parse_url(url)?;
        // A name must not resolve inside the network either (checked again at send).
        if destination.host.parse::<std::net::IpAddr>().is_err() {
            let addresses = tokio::net::lookup_host((destination.host.as_str(), destination.port))
                .await
                .map_err(|_| Error::outside_policy("url", "names a host that does not resolve"))?;
            for address in addresses {
                self.config.destinations.check_address(address.ip())?;
            }
        }
        let types = wanted_types(types)?;
        let store = self.deliveries()?;
        if store.webhooks(&organization).await?.len() >= MAX_DESTINATIONS {
            return Err(Error::outside_policy(
                "url",
                format!(
                    "cannot be added: an organisation has at most {MAX_DESTINATIONS} webhook endpoints"
                ),
            ));
        }
        let id = WebhookId::generate();
        let now = self.now();
        let (secret_ref, secret) = self.new_signing_secret(&id, 1).await?;
        let endpoint = WebhookEndpoint {
            id,
            organization_id: organization,
            url: destination.url.to_string(),
            types,
            created_at: now,
            created_by: caller.actor,
            secrets: vec![secret_ref],
            disabled_at: None,
            disabled_reason: None,
            revision: 0,
        };
        if let Err(error) = store.put_webhook(&endpoint, None).await {
            self.release_vault(Some(&endpoint.secrets[0].vault_secret))
                .await;
            return Err(error.into());
        }
        Ok((endpoint, secret))
    }

    /// A new signing secret in the vault for version `version` of `id`'s secrets.
    async fn new_signing_secret(
        &self,
        id: &WebhookId,
        version: u32,
    ) -> Result<(SigningSecretRef, RawSecret)> {
        let vault = self
            .vault
            .as_ref()
            .ok_or_else(|| Error::Config("webhook signing secrets need a secret vault".into()))?;
        let (_, text) = SigningSecret::generate();
        // Unique per secret, so a retry never meets a name whose deletion is pending.
        let name = format!(
            "{}{version}-{}",
            self.signing_secrets_of(id),
            hex::encode(crate::random::bytes::<4>())
        );
        vault
            .put(&name, &text, &[("keyroll:webhook", id.as_str())])
            .await
            .map_err(Error::from)?;
        Ok((
            SigningSecretRef {
                version,
                vault_secret: name,
                created_at: self.now(),
                retires_at: None,
            },
            text,
        ))
    }

    pub async fn webhooks(&self, organization: &OrganizationId) -> Result<Vec<WebhookEndpoint>> {
        Ok(self.deliveries()?.webhooks(organization).await?)
    }

    pub async fn webhook(
        &self,
        organization: &OrganizationId,
        id: &WebhookId,
    ) -> Result<WebhookEndpoint> {
        self.deliveries()?
            .webhook(organization, id)
            .await?
            .ok_or_else(|| Error::not_found("webhook", id))
    }

    /// Removes an endpoint and deletes its signing secrets.
    pub async fn remove_webhook(
        &self,
        organization: &OrganizationId,
        id: &WebhookId,
    ) -> Result<()> {
        let endpoint = self.webhook(organization, id).await?;
        if !self.deliveries()?.remove_webhook(organization, id).await? {
            return Err(Error::not_found("webhook", id));
        }
        for secret in &endpoint.secrets {
            self.release_signing_secret(id, &secret.vault_secret).await;
        }
        Ok(())
    }

    /// Where endpoint `id`'s signing secrets live in the vault.
    fn signing_secrets_of(&self, id: &WebhookId) -> String {
        format!("{}webhook/{id}/", self.config.secret_name_prefix)
    }

    /// Deletes a signing secret of endpoint `id`, named as the endpoint's record says
    /// — but only under the endpoint's own vault path: a record rewritten behind
    /// keyroll's back could otherwise aim the deletion at a held rotation secret.
    async fn release_signing_secret(&self, id: &WebhookId, name: &str) {
        if name.starts_with(&self.signing_secrets_of(id)) {
            self.release_vault(Some(name)).await;
        } else {
            tracing::error!(alert = "foreign_vault_name", webhook = %id, vault_secret_name = %name, "a webhook endpoint's record names a vault secret outside its own path; not deleted (was the table written outside keyroll?)");
        }
    }

    /// Adds a signing secret (returned here only); the current ones keep signing for
    /// [`SECRET_OVERLAP_SECONDS`] more, so receivers can switch without missing one.
    pub async fn rotate_webhook_secret(
        &self,
        organization: &OrganizationId,
        id: &WebhookId,
    ) -> Result<(WebhookEndpoint, RawSecret)> {
        for _ in 0..3 {
            let mut endpoint = self.webhook(organization, id).await?;
            let now = self.now();
            // Each rotation is a vault secret kept a day (and the endpoint's item grows
            // by one): limited per endpoint per day, checked before one is made.
            let rotated: Vec<Timestamp> = endpoint
                .secrets
                .iter()
                .filter(|s| s.version > 1)
                .map(|s| s.created_at)
                .collect();
            crate::limits::admit(
                "signing-secret rotations of this endpoint",
                &rotated,
                self.config.policy.webhook_secret_rotations_per_day,
                crate::limits::DAY,
                now,
            )?;
            let version = endpoint
                .secrets
                .iter()
                .map(|s| s.version)
                .max()
                .unwrap_or(0)
                + 1;
            let (secret_ref, secret) = self.new_signing_secret(id, version).await?;
            let retire_at = now.plus_seconds(SECRET_OVERLAP_SECONDS);
            let mut retired = Vec::new();
            endpoint.secrets.retain(|s| {
                let live = s.retires_at.is_none_or(|at| now < at);
                if !live {
                    retired.push(s.vault_secret.clone());
                }
                live
            });
            for old in endpoint.secrets.iter_mut() {
                old.retires_at = Some(old.retires_at.map_or(retire_at, |at| at.min(retire_at)));
            }
            endpoint.secrets.push(secret_ref);
            let read = endpoint.revision;
            endpoint.revision += 1;
            match self.deliveries()?.put_webhook(&endpoint, Some(read)).await {
                Ok(()) => {
                    for name in retired {
                        self.release_signing_secret(id, &name).await;
                    }
                    return Ok((endpoint, secret));
                }
                Err(StoreError::Conflict) => {
                    let name = &endpoint.secrets.last().expect("just pushed").vault_secret;
                    self.release_vault(Some(name)).await;
                }
                Err(other) => return Err(other.into()),
            }
        }
        Err(crate::error::Conflict::ConcurrentModification.into())
    }

    /// The organisation's feed, newest first; `cursor` is the last entry's `cursor`.
    pub async fn feed(
        &self,
        organization: &OrganizationId,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Vec<FeedEntry>> {
        Ok(self.deliveries()?.feed(organization, cursor, limit).await?)
    }

    pub async fn mark_read(&self, organization: &OrganizationId, event_id: &str) -> Result<()> {
        if self
            .deliveries()?
            .mark_read(organization, event_id, self.now())
            .await?
        {
            Ok(())
        } else {
            Err(Error::not_found("notification", event_id))
        }
    }

    /// The organisation's delivery attempts, newest first.
    pub async fn delivery_attempts(
        &self,
        organization: &OrganizationId,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DeliveryAttempt>> {
        Ok(self
            .deliveries()?
            .attempts(organization, cursor, limit)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use crate::ids::{Actor, OrganizationId};

    /// A mail service that refuses every address, or is down.
    struct Refusing(bool);

    #[async_trait::async_trait]
    impl crate::notify::Mailer for Refusing {
        async fn send(
            &self,
            _: &crate::contact::EmailAddress,
            _: &crate::email::EmailMessage,
        ) -> Result<(), crate::notify::MailError> {
            Err(match self.0 {
                true => crate::notify::MailError::refused("InvalidParameterValue"),
                false => crate::notify::MailError::failed("throttled"),
            })
        }
    }

    /// An address the mail service refuses is the caller's to fix (409), an outage is
    /// 503-class; either way no contact is added.
    #[tokio::test]
    async fn a_confirmation_the_mail_service_refuses_adds_no_contact() {
        let organization = OrganizationId::parse("org_acme").unwrap();
        let admin = Actor::customer(&organization, "ada").unwrap();
        for (refused, kind) in [
            (true, crate::error::ErrorKind::Conflict),
            (false, crate::error::ErrorKind::Unavailable),
        ] {
            let wired = TestKeyroll::new().build();
            let keyroll = wired
                .keyroll
                .with_mailer(std::sync::Arc::new(Refusing(refused)));
            let error = keyroll
                .add_contact(organization.clone(), "ops@acme.example", None, &admin)
                .await
                .unwrap_err();
            assert_eq!(error.kind(), kind, "{error}");
            assert!(keyroll.contacts(&organization).await.unwrap().is_empty());
        }
    }
    use crate::secret::RawSecret;
    use crate::store::DeliveryStore;
    use crate::testing::TestKeyroll;

    /// A webhook record rewritten to name a held rotation secret: removing the endpoint
    /// deletes its own signing secrets only, and the held secret stays.
    #[tokio::test]
    async fn removing_an_endpoint_never_deletes_a_vault_secret_outside_its_path() {
        let wired = TestKeyroll::new()
            .setting("KEYROLL_ALLOW_LOOPBACK_WEBHOOKS", "true")
            .build();
        let vault = wired.vault.clone().unwrap();
        let store = wired.memory.clone().unwrap();
        let held = "keyroll/rot_01jd0000000000000000000000";
        vault
            .put(held, &RawSecret::from_string("sk_live_held".into()), &[])
            .await
            .unwrap();
        let organization = OrganizationId::parse("org_acme").unwrap();
        let (endpoint, _) = wired
            .keyroll
            .add_webhook(
                organization.clone(),
                "http://127.0.0.1:9/hook",
                None,
                &Actor::parse("alice").unwrap(),
            )
            .await
            .unwrap();
        let own = endpoint.secrets[0].vault_secret.clone();
        let mut tampered = endpoint.clone();
        tampered.secrets.push(crate::contact::SigningSecretRef {
            vault_secret: held.into(),
            ..endpoint.secrets[0].clone()
        });
        tampered.revision += 1;
        store
            .put_webhook(&tampered, Some(endpoint.revision))
            .await
            .unwrap();
        wired
            .keyroll
            .remove_webhook(&organization, &endpoint.id)
            .await
            .unwrap();
        assert!(
            vault.get(held).await.unwrap().is_some(),
            "the held secret stays"
        );
        assert!(
            vault.get(&own).await.unwrap().is_none(),
            "its own secret is gone"
        );
    }
}
