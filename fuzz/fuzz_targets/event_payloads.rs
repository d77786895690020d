//! Lambda event payloads: whatever JSON arrives, the authorizer's request parsing,
//! lambda_http's API Gateway parsing and the EventBridge event type never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Ok(request) = keyroll_authorizer::AuthorizerRequest::parse(&value) {
        let denial = keyroll_authorizer::Decision::Deny { reason: "FUZZ" };
        let answer = request.respond(&denial);
        assert!(answer.is_object());
    }
    let _ = lambda_http::request::from_str(&String::from_utf8_lossy(data));
    let _ = serde_json::from_value::<aws_lambda_events::event::eventbridge::EventBridgeEvent<serde_json::Value>>(value);
});
