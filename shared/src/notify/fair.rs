//! Which delivery to attempt next, so that no organisation can starve another: the
//! organisations take turns (round robin), each holds at most a share of the sender's
//! slots, and a destination gets one attempt at a time, in the order its notifications
//! came. A destination whose attempt did not deliver gets no more this wave: its other
//! deliveries stay due for the retry schedule, so an endpoint that never answers costs
//! one attempt per wave, not one per notification. Pure: no clock, no I/O.

use std::collections::{BTreeMap, VecDeque};

use crate::delivery::Delivery;
use crate::ids::OrganizationId;

/// One organisation's destinations waiting for their turn, each with its deliveries
/// in arrival order.
#[derive(Default)]
struct Organization {
    /// Destinations with a delivery waiting and no attempt in flight.
    ready: VecDeque<String>,
    waiting: BTreeMap<String, VecDeque<Delivery>>,
    in_flight: usize,
}

/// The deliveries of one wave, handed out fairly.
pub struct FairQueue {
    organizations: BTreeMap<OrganizationId, Organization>,
    /// The organisation whose turn it is next (by position in `organizations`).
    turn: usize,
    per_organization: usize,
}

impl FairQueue {
    /// `per_organization`: how many attempts of one organisation may be in flight.
    pub fn new(deliveries: Vec<Delivery>, per_organization: usize) -> Self {
        let mut organizations: BTreeMap<OrganizationId, Organization> = BTreeMap::new();
        for delivery in deliveries {
            let organization = organizations
                .entry(delivery.organization_id().clone())
                .or_default();
            let target = delivery.target.id().to_owned();
            let queue = organization.waiting.entry(target.clone()).or_default();
            if queue.is_empty() {
                organization.ready.push_back(target);
            }
            queue.push_back(delivery);
        }
        Self {
            organizations,
            turn: 0,
            per_organization: per_organization.max(1),
        }
    }

    /// The next delivery to attempt, taking turns between organisations; `None` when
    /// every organisation is at its share or has nothing ready.
    pub fn take_next(&mut self) -> Option<Delivery> {
        let count = self.organizations.len();
        for step in 0..count {
            let index = (self.turn + step) % count;
            let organization = self.organizations.values_mut().nth(index)?;
            if organization.in_flight >= self.per_organization {
                continue;
            }
            let Some(target) = organization.ready.pop_front() else {
                continue;
            };
            let Some(delivery) = organization
                .waiting
                .get_mut(&target)
                .and_then(VecDeque::pop_front)
            else {
                continue;
            };
            organization.in_flight += 1;
            self.turn = (index + 1) % count;
            return Some(delivery);
        }
        None
    }

    /// `delivery`'s attempt is over. A delivered one frees its destination for its
    /// next delivery; otherwise the destination's remaining deliveries are left for the
    /// retry schedule and returned.
    pub fn finished(&mut self, delivery: &Delivery, delivered: bool) -> Vec<Delivery> {
        let Some(organization) = self.organizations.get_mut(delivery.organization_id()) else {
            return Vec::new();
        };
        organization.in_flight = organization.in_flight.saturating_sub(1);
        let target = delivery.target.id();
        if delivered {
            if organization
                .waiting
                .get(target)
                .is_some_and(|queue| !queue.is_empty())
            {
                organization.ready.push_back(target.to_owned());
            }
            Vec::new()
        } else {
            organization
                .waiting
                .remove(target)
                .map(Vec::from)
                .unwrap_or_default()
        }
    }

    /// Every delivery not handed out (the wave ran out of time): left for the retry
    /// schedule.
    pub fn remaining(self) -> Vec<Delivery> {
        self.organizations
            .into_values()
            .flat_map(|o| o.waiting.into_values().flatten())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::Target;
    use crate::ids::{KeyId, WebhookId};
    use crate::time::Timestamp;

    /// A delivery of organisation `organization`'s `n`th notification to endpoint
    /// number `endpoint` (its id made from the number, so equal numbers are one
    /// endpoint).
    fn delivery(organization: &str, endpoint: u32, n: u32) -> Delivery {
        let notification = serde_json::from_value(serde_json::json!({
            "type": "rotation.started",
            "schemaVersion": 1,
            "eventId": format!("evt_01jd4x8m2q7r5t9v3w6y0z1a2b_{n:010}"),
            "occurredAt": "2026-01-01T00:00:00Z",
            "keyId": KeyId::generate(),
            "organizationId": organization,
            "keyName": "k",
            "oldSecretUsedInLast24h": false,
        }))
        .unwrap();
        let webhook_id = WebhookId::parse(&format!("whk_{endpoint:0>26}")).unwrap();
        Delivery::new(
            notification,
            Target::Webhook { webhook_id },
            Timestamp::from_unix(1_767_225_600).unwrap(),
        )
    }

    fn who(delivery: &Delivery) -> (String, u32) {
        (
            delivery.organization_id().as_str().to_owned(),
            delivery.target.id()[4..].parse().unwrap(),
        )
    }

    /// Organisation A with 20 notifications for each of 10 endpoints, B with one: B's
    /// is the second handed out, and A never holds more than its share.
    #[test]
    fn a_busy_organisation_takes_turns_with_a_quiet_one() {
        let mut deliveries = Vec::new();
        for n in 0..20 {
            for endpoint in 1..=10 {
                deliveries.push(delivery("org_a", endpoint, n));
            }
        }
        deliveries.push(delivery("org_b", 99, 0));
        let mut queue = FairQueue::new(deliveries, 4);
        let first: Vec<(String, u32)> = std::iter::from_fn(|| queue.take_next())
            .map(|d| who(&d))
            .collect();
        assert_eq!(
            first,
            [
                ("org_a".into(), 1),
                ("org_b".into(), 99),
                ("org_a".into(), 2),
                ("org_a".into(), 3),
                ("org_a".into(), 4),
            ],
            "A holds 4 slots at most, B got its turn second"
        );
    }

    /// A destination gets one attempt at a time, in arrival order; one that failed gets
    /// no more this wave, and what it had waiting is handed back.
    #[test]
    fn a_failing_destination_is_tried_once_per_wave() {
        let deliveries: Vec<Delivery> = (0..3).map(|n| delivery("org_a", 1, n)).collect();
        let keys: Vec<KeyId> = deliveries
            .iter()
            .map(|d| d.notification.key_id.clone())
            .collect();
        let mut queue = FairQueue::new(deliveries, 4);
        let first = queue.take_next().unwrap();
        assert_eq!(first.notification.key_id, keys[0]);
        assert!(
            queue.take_next().is_none(),
            "one attempt at a time per destination"
        );
        assert!(queue.finished(&first, true).is_empty());
        let second = queue.take_next().unwrap();
        assert_eq!(second.notification.key_id, keys[1]);
        let left = queue.finished(&second, false);
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].notification.key_id, keys[2]);
        assert!(queue.take_next().is_none());
        assert!(queue.remaining().is_empty());
    }

    #[test]
    fn what_was_not_handed_out_remains() {
        let mut queue = FairQueue::new(vec![delivery("org_a", 1, 0), delivery("org_b", 2, 0)], 1);
        let taken = queue.take_next().unwrap();
        let remaining = queue.remaining();
        assert_eq!(remaining.len(), 1);
        assert_ne!(who(&remaining[0]), who(&taken));
    }
}
