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

/// The principal API Gateway verified: its ARN and the access key it signed with.
fn iam_principal(request: &Request) -> Option<Actor> {
    use lambda_http::request::RequestContext;
    let (arn, access_key) = match request.extensions().get::<RequestContext>()? {
        RequestContext::ApiGatewayV2(context) => {
            let iam = context.authorizer.as_ref()?.iam.as_ref()?;
            (iam.user_arn.clone()?, iam.access_key.clone())
        }
        RequestContext::ApiGatewayV1(context) => (
            context.identity.user_arn.clone()?,
            context.identity.access_key.clone(),
        ),
        #[allow(unreachable_patterns)]
        _ => return None,
    };
    operator_actor(&arn, access_key.as_deref())
}

/// How an operator is named in the audit trail. The session name of an assumed role is
/// whatever the caller passed to `AssumeRole` (`--role-session-name alice`), so it names
/// nobody: the trail records the role's ARN without it, and the temporary access key the
/// request was signed with, which CloudTrail's `AssumeRole` event ties to the person who
/// assumed the role (their user, SSO identity or `sourceIdentity`). An IAM user's ARN
/// names the user; its access key is recorded too.
pub fn operator_actor(arn: &str, access_key: Option<&str>) -> Option<Actor> {
    let principal = match arn.split_once(":assumed-role/") {
        Some((account, role_and_session)) => {
            let role = role_and_session.split('/').next()?;
            format!("{account}:assumed-role/{role}")
        }
        None => arn.to_owned(),
    };
    let key = access_key
        .filter(|k| (16..=128).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_alphanumeric()));
    let name = match key {
        Some(key) => format!("{principal} (access key {key})"),
        None => principal,
    };
    Actor::parse(&name).ok()
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
        Auth::ApiGatewayIam => iam_principal(&request),
    };
    match actor {
        Some(actor) => {
            request.extensions_mut().insert(Authenticated(actor));
            next.run(request).await
        }
        None => ApiError::Unauthorized.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::operator_actor;

    #[test]
    fn a_role_session_name_is_never_the_operators_identity() {
        let actor = operator_actor(
            "arn:aws:sts::123456789012:assumed-role/SecurityEngineer/alice",
            Some("ASIAIOSFODNN7EXAMPLE"),
        )
        .unwrap();
        assert_eq!(
            actor.as_str(),
            "arn:aws:sts::123456789012:assumed-role/SecurityEngineer (access key ASIAIOSFODNN7EXAMPLE)"
        );
        // Two sessions of the same role, one claiming to be someone else: only the
        // access key tells them apart.
        let mallory = operator_actor(
            "arn:aws:sts::123456789012:assumed-role/SecurityEngineer/alice",
            Some("ASIAMALLORY000000001"),
        )
        .unwrap();
        assert_ne!(actor, mallory);
        assert!(!mallory.as_str().contains("alice"));
        assert_eq!(
            operator_actor("arn:aws:iam::123456789012:user/bob", None)
                .unwrap()
                .as_str(),
            "arn:aws:iam::123456789012:user/bob"
        );
        assert_eq!(
            operator_actor(
                "arn:aws:sts::123456789012:assumed-role/Ops/x",
                Some("not a key!")
            )
            .unwrap()
            .as_str(),
            "arn:aws:sts::123456789012:assumed-role/Ops"
        );
    }
}
