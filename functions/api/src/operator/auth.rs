//! Who is calling. In Lambda the API sits behind API Gateway IAM auth and the caller is
//! the IAM principal API Gateway verified; locally it is whoever holds the admin token.
//! A request without valid credentials gets 401 before any route runs.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use keyroll_core::ids::Actor;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::http::credentials::bearer;
use crate::http::problem::ApiError;
use crate::AppState;

/// How callers authenticate.
#[derive(Clone)]
pub enum Auth {
    /// `Authorization: Bearer <token>`; only the token's SHA-256 is kept, and compared
    /// in constant time.
    AdminToken(Arc<[u8; 32]>),
    /// API Gateway has verified a SigV4 signature; the principal is in the request
    /// context that lambda_http attaches.
    ApiGatewayIam,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::AdminToken(_) => f.write_str("AdminToken([REDACTED])"),
            Auth::ApiGatewayIam => f.write_str("ApiGatewayIam"),
        }
    }
}

impl Auth {
    pub fn admin_token(token: &str) -> Self {
        Auth::AdminToken(Arc::new(Sha256::digest(token.as_bytes()).into()))
    }
}

/// The authenticated caller, for handlers.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Actor);

/// The local admin acts under this name in the audit trail.
pub const LOCAL_ADMIN: &str = "local-admin";

fn iam_principal(request: &Request) -> Option<String> {
    use lambda_http::request::RequestContext;
    match request.extensions().get::<RequestContext>()? {
        RequestContext::ApiGatewayV2(context) => context
            .authorizer
            .as_ref()?
            .iam
            .as_ref()
            .and_then(|iam| iam.user_arn.clone().or_else(|| iam.caller_id.clone())),
        RequestContext::ApiGatewayV1(context) => context
            .identity
            .user_arn
            .clone()
            .or_else(|| context.identity.caller.clone()),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let actor = match &state.auth {
        Auth::AdminToken(expected) => bearer(&request).and_then(|token| {
            let presented: [u8; 32] = Sha256::digest(token.as_bytes()).into();
            bool::from(presented.ct_eq(expected.as_ref())).then(|| Actor::system_named(LOCAL_ADMIN))
        }),
        Auth::ApiGatewayIam => iam_principal(&request).and_then(|arn| Actor::parse(&arn).ok()),
    };
    match actor {
        Some(actor) => {
            request.extensions_mut().insert(Authenticated(actor));
            next.run(request).await
        }
        None => ApiError::Unauthorized.into_response(),
    }
}
