//! Who a customer route's caller is. The bearer token is verified here, against the
//! provider's discovered keys or `KEYROLL_JWKS`; in Lambda, API Gateway's JWT
//! authorizer has verified it first and its claims arrive in the request context,
//! which no caller can set: both must name the same user. Every refusal is the same
//! 401; a viewer's change is 403.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use keyroll_core::error::Error;
use keyroll_core::time::Timestamp;

use crate::http::credentials::bearer;
use crate::http::problem::ApiError;
use crate::identity::{ClaimNames, CustomerUser, Refusal, Role, TokenVerifier};
use crate::AppState;

/// How customer users are recognised.
#[derive(Clone, Debug)]
pub struct CustomerAccess {
    verifier: Option<Arc<TokenVerifier>>,
    gateway_claims: Option<ClaimNames>,
}

impl CustomerAccess {
    /// Tokens are verified here, against `verifier`'s keys.
    pub fn verified_here(verifier: TokenVerifier) -> Self {
        Self {
            verifier: Some(Arc::new(verifier)),
            gateway_claims: None,
        }
    }

    /// API Gateway's JWT authorizer has verified the token; its claims (named by
    /// `claims`) are in the request context. `verifier`, when given, checks the token
    /// again here.
    pub fn behind_gateway(claims: ClaimNames, verifier: Option<TokenVerifier>) -> Self {
        Self {
            verifier: verifier.map(Arc::new),
            gateway_claims: Some(claims),
        }
    }

    /// Who the gateway's claims name, if the gateway is trusted, and the bearer
    /// token: read before any await, since a request's body is not `Sync`.
    fn credentials(&self, request: &Request) -> Credentials {
        Credentials {
            from_gateway: self.gateway_claims.as_ref().map(|names| {
                gateway_claims(request)
                    .and_then(|claims| names.user_from_gateway(claims))
                    .ok_or(Refusal::NoUser)
            }),
            token: bearer(request).map(str::to_owned),
        }
    }

    async fn user(
        &self,
        credentials: Credentials,
        now: Timestamp,
    ) -> Result<CustomerUser, Refusal> {
        let Credentials {
            from_gateway,
            token,
        } = credentials;
        let from_token = match &self.verifier {
            Some(verifier) => Some(match token {
                Some(token) => verifier.verify(&token, now).await,
                None => Err(Refusal::Malformed),
            }),
            None => None,
        };
        match (from_gateway, from_token) {
            (Some(gateway), Some(token)) => {
                let (gateway, token) = (gateway?, token?);
                if gateway == token {
                    Ok(gateway)
                } else {
                    Err(Refusal::NoUser)
                }
            }
            (Some(one), None) | (None, Some(one)) => one,
            (None, None) => Err(Refusal::NoUser),
        }
    }
}

/// What a request says about its caller.
struct Credentials {
    from_gateway: Option<Result<CustomerUser, Refusal>>,
    token: Option<String>,
}

/// The claims API Gateway's JWT authorizer verified, from the request context.
fn gateway_claims(request: &Request) -> Option<&std::collections::HashMap<String, String>> {
    use lambda_http::request::RequestContext;
    match request.extensions().get::<RequestContext>()? {
        RequestContext::ApiGatewayV2(context) => context
            .authorizer
            .as_ref()?
            .jwt
            .as_ref()
            .map(|jwt| &jwt.claims),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// The authenticated customer user, for handlers.
#[derive(Debug, Clone)]
pub struct Customer(pub CustomerUser);

/// Reads are open to every role; anything else needs `admin`.
fn may(role: Role, method: &Method) -> bool {
    role == Role::Admin || matches!(*method, Method::GET | Method::HEAD)
}

pub async fn authenticate_customer(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(access) = &state.customers else {
        return ApiError::Unauthorized.into_response();
    };
    let credentials = access.credentials(&request);
    match access.user(credentials, state.keyroll.now()).await {
        Ok(user) if may(user.role, request.method()) => {
            request.extensions_mut().insert(Customer(user));
            next.run(request).await
        }
        Ok(_) => ApiError::Domain(Error::Forbidden(
            "your role may read but not change anything; this needs the admin role".into(),
        ))
        .into_response(),
        Err(refusal) => {
            // Which check failed is for the operator's log, never for the caller.
            tracing::info!(
                event = "customer_token_refused",
                reason = refusal.as_str(),
                "customer token refused"
            );
            ApiError::Unauthorized.into_response()
        }
    }
}
