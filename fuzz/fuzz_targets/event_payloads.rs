//! Lambda event payloads: whatever JSON arrives, the authorizer's request parsing, the
//! deserialisation of API Gateway events (lambda_http's `LambdaRequest`) and of the
//! EventBridge events never panic.
//!
//! Finding (2026-11-25, the first smoke runs): lambda_http 1.3's *conversion* of a
//! deserialised event into an `http::Request` unwraps the URL it builds from the `host`
//! header and the path (`request.rs:553`, an IDNA error, a port over 65535) and expects
//! the URI and headers to be valid (`request.rs:229`), so a hand-made event with such a
//! host or path panics inside lambda_http before keyroll's router runs. API Gateway
//! only forwards requests it parsed, for the host that selected the API, so these
//! events cannot arrive through it; in Lambda the runtime's panic catcher would turn
//! one into a failed invocation, not a crashed container. That conversion is upstream
//! code and is left out of this target; see docs/security.md, "Known limits".
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    if let Ok(request) = keyroll_authorizer::AuthorizerRequest::parse(&value) {
        let denial = keyroll_authorizer::Decision::Deny { reason: "FUZZ" };
        let answer = request.respond(&denial);
        assert!(answer.is_object());
    }
    let _ = serde_json::from_value::<lambda_http::request::LambdaRequest>(value.clone());
    let _ = serde_json::from_value::<aws_lambda_events::event::eventbridge::EventBridgeEvent<Value>>(
        value,
    );
});
