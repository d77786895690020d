//! A circuit breaker per webhook endpoint, in the container's memory: an endpoint that
//! timed out `trips_after` times in a row is not called for `open_for`, then once (a
//! probe) before it is trusted again. Its deliveries meanwhile wait, due again when the
//! breaker allows a probe, without an attempt counted against them. Every endpoint that
//! accepts connections and never answers would otherwise hold a sender's slot for the
//! whole timeout on every delivery.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct BreakerSettings {
    pub trips_after: u32,
    pub open_for: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            trips_after: 3,
            open_for: Duration::from_secs(300),
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct State {
    timeouts_in_a_row: u32,
    open_until: Option<Instant>,
}

#[derive(Default)]
pub struct Breaker {
    settings: BreakerSettings,
    endpoints: Mutex<HashMap<String, State>>,
}

impl Breaker {
    pub fn new(settings: BreakerSettings) -> Self {
        Self {
            settings,
            endpoints: Mutex::new(HashMap::new()),
        }
    }

    /// `None` if `endpoint` may be called at `now`; else until when it may not.
    pub fn open_until(&self, endpoint: &str, now: Instant) -> Option<Instant> {
        let endpoints = self.endpoints.lock().unwrap_or_else(|e| e.into_inner());
        endpoints
            .get(endpoint)
            .and_then(|state| state.open_until)
            .filter(|until| *until > now)
    }

    /// An attempt to `endpoint` ended at `now`; `timed_out`: it never answered.
    pub fn record(&self, endpoint: &str, timed_out: bool, now: Instant) {
        let mut endpoints = self.endpoints.lock().unwrap_or_else(|e| e.into_inner());
        if !timed_out {
            endpoints.remove(endpoint);
            return;
        }
        let state = endpoints.entry(endpoint.to_owned()).or_default();
        state.timeouts_in_a_row += 1;
        // A probe after the breaker opened that times out again reopens it at once.
        if state.timeouts_in_a_row >= self.settings.trips_after {
            state.open_until = Some(now + self.settings.open_for);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_that_keeps_timing_out_is_left_alone_then_probed() {
        let breaker = Breaker::new(BreakerSettings {
            trips_after: 3,
            open_for: Duration::from_secs(300),
        });
        let start = Instant::now();
        for n in 0..2 {
            breaker.record("whk_a", true, start);
            assert_eq!(breaker.open_until("whk_a", start), None, "{n}");
        }
        breaker.record("whk_a", true, start);
        let until = breaker.open_until("whk_a", start).expect("open");
        assert_eq!(until, start + Duration::from_secs(300));
        assert_eq!(breaker.open_until("whk_b", start), None, "per endpoint");
        // The probe: allowed once the breaker's time is up.
        let later = start + Duration::from_secs(300);
        assert_eq!(breaker.open_until("whk_a", later), None);
        breaker.record("whk_a", true, later);
        assert!(breaker.open_until("whk_a", later).is_some(), "reopened");
        // An answer, even an error status, closes it.
        breaker.record("whk_a", false, later + Duration::from_secs(600));
        assert_eq!(breaker.open_until("whk_a", later), None);
    }
}
