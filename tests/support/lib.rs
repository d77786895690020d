//! Shared test support: fixtures over each store adapter, fault injection and the
//! processor's worlds. The suites themselves live in tests/contract and tests/processor.

pub mod bench;
pub mod faults;
pub mod fixture;
pub mod processor;
pub mod queues;
pub mod receiver;

/// The secret a rotation returned to its caller (tests only ask it of rotations whose
/// secret is returned; a held one panics here, as it should).
pub trait ReturnedSecret {
    fn returned_secret(&self) -> &keyroll_core::secret::RawSecret;
}

impl ReturnedSecret for keyroll_core::service::RotationIssued {
    fn returned_secret(&self) -> &keyroll_core::secret::RawSecret {
        self.handout
            .returned()
            .expect("this rotation's secret was returned to its caller")
    }
}
