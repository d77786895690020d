//! Registering a key's delivery key. The key's own client may register one only while
//! the key has none (trust on first use); replacing it takes an operator or a customer
//! admin. Either way the organisation is told (`key.delivery_key_registered`), so an
//! enrolment nobody expected is seen, and the audit event names the key by thumbprint.

use serde_json::json;

use super::Act;
use crate::audit::{AuditAction, Happened};
use crate::change::{ChangeBuilder, KeyChange};
use crate::delivery_key::{DeliveryKey, PublicJwk, Registration};
use crate::error::{Conflict, Result};
use crate::key::Key;
use crate::notification::{Notification, OutboxMessage};

/// What a registration came to.
#[derive(Debug)]
pub enum DeliveryKeyChange {
    /// The key had none: this one is registered.
    Registered(Box<KeyChange>),
    /// It replaced another one.
    Replaced(Box<KeyChange>),
    /// The key already has this very one: nothing to write.
    Unchanged,
}

/// Registers `jwk` as `key`'s delivery key, as `registration` allows.
pub fn plan_delivery_key(
    key: Key,
    jwk: PublicJwk,
    registration: Registration,
    act: Act<'_>,
) -> Result<DeliveryKeyChange> {
    super::check_key_live(&key, act.now)?;
    let thumbprint = jwk.thumbprint();
    let before = key.delivery_key.as_ref().map(|d| d.thumbprint.clone());
    match (&before, registration) {
        (Some(existing), _) if *existing == thumbprint => return Ok(DeliveryKeyChange::Unchanged),
        (Some(_), Registration::FirstUse) => return Err(Conflict::DeliveryKeyRegistered.into()),
        _ => {}
    }
    let mut change = ChangeBuilder::update(key);
    change.key_mut().delivery_key = Some(DeliveryKey::new(jwk, act.now, act.actor.clone()));
    change.record(Happened {
        before: json!({ "deliveryKey": before }),
        after: json!({ "deliveryKey": thumbprint }),
        ..Happened::new(act.now, act.actor, AuditAction::DeliveryKeyRegistered)
    });
    let mut notification =
        Notification::delivery_key_registered(change.key(), &thumbprint, act.now);
    notification.actor = act.actor.kind().is_customer().then(|| act.actor.clone());
    change.enqueue(
        act.now,
        OutboxMessage::Notify {
            notification: Box::new(notification),
        },
    );
    let change = Box::new(change.finish());
    Ok(match before {
        None => DeliveryKeyChange::Registered(change),
        Some(_) => DeliveryKeyChange::Replaced(change),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::ids::{Actor, KeyId};
    use crate::key::{KeyClass, KeyStatus};
    use crate::notification::NotificationType;
    use crate::plan::fixtures::{act, actor, key, now};
    use serde_json::Value;

    /// A fresh P-256 public key as a JWK.
    fn jwk(seed: u8) -> PublicJwk {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine;
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        let secret = p256::SecretKey::from_slice(&[seed; 32]).unwrap();
        let point = secret.public_key().to_encoded_point(false);
        let value: Value = json!({"kty": "EC", "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(point.x().unwrap()),
            "y": URL_SAFE_NO_PAD.encode(point.y().unwrap())});
        PublicJwk::parse(&value).unwrap()
    }

    fn applied(outcome: DeliveryKeyChange) -> KeyChange {
        match outcome {
            DeliveryKeyChange::Registered(change) | DeliveryKeyChange::Replaced(change) => *change,
            DeliveryKeyChange::Unchanged => panic!("nothing changed"),
        }
    }

    #[test]
    fn the_client_registers_one_on_first_use_and_cannot_replace_it() {
        let client = Actor::self_service(&KeyId::parse("key_client").unwrap());
        let mut bare = key(KeyClass::Server);
        bare.delivery_key = None;
        let first =
            plan_delivery_key(bare, jwk(1), Registration::FirstUse, act(&client, now())).unwrap();
        assert!(matches!(first, DeliveryKeyChange::Registered(_)));
        let change = applied(first);
        let registered = change.key().delivery_key.clone().unwrap();
        assert_eq!(registered.thumbprint, jwk(1).thumbprint());
        assert_eq!(
            change.events()[0].action,
            AuditAction::DeliveryKeyRegistered
        );
        let notices: Vec<_> = change
            .outbox()
            .iter()
            .filter_map(|e| match &e.message {
                OutboxMessage::Notify { notification } => Some(notification.kind),
                _ => None,
            })
            .collect();
        assert_eq!(notices, [NotificationType::KeyDeliveryKeyRegistered]);

        let with_one = change.key().clone();
        // The same key again: nothing to do.
        assert!(matches!(
            plan_delivery_key(
                with_one.clone(),
                jwk(1),
                Registration::FirstUse,
                act(&client, now())
            )
            .unwrap(),
            DeliveryKeyChange::Unchanged
        ));
        // Another one from the client: refused.
        assert!(matches!(
            plan_delivery_key(
                with_one.clone(),
                jwk(2),
                Registration::FirstUse,
                act(&client, now())
            ),
            Err(Error::Conflict(Conflict::DeliveryKeyRegistered))
        ));
        // An operator or admin may replace it.
        let operator = actor();
        let replaced = plan_delivery_key(
            with_one,
            jwk(2),
            Registration::Replace,
            act(&operator, now()),
        )
        .unwrap();
        assert!(matches!(replaced, DeliveryKeyChange::Replaced(_)));
        let change = applied(replaced);
        assert_eq!(
            change.key().delivery_key.as_ref().unwrap().thumbprint,
            jwk(2).thumbprint()
        );
        let event = &change.events()[0];
        assert_eq!(event.before["deliveryKey"], jwk(1).thumbprint());
        assert_eq!(event.after["deliveryKey"], jwk(2).thumbprint());
    }

    #[test]
    fn a_revoked_key_takes_none() {
        let mut revoked = key(KeyClass::Server);
        revoked.status = KeyStatus::Revoked;
        let operator = actor();
        assert!(matches!(
            plan_delivery_key(
                revoked,
                jwk(1),
                Registration::Replace,
                act(&operator, now())
            ),
            Err(Error::Conflict(Conflict::KeyRevoked))
        ));
    }
}
