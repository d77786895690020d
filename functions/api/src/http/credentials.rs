//! Credentials in request headers: an `Authorization: Bearer` token (an operator's
//! admin token, a customer user's JWT).

use axum::extract::Request;
use axum::http::header;

/// The token of the request's `Authorization: Bearer …` header.
pub fn bearer(request: &Request) -> Option<&str> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}
