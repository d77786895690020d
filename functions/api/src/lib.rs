//! keyroll's management API: one axum router built from its dependencies, served by
//! `lambda_http` in Lambda (src/main.rs) and by `keyroll-local` on a developer's
//! machine, and driven in-process by the tests.
//!
//! A route's handler is in the room its path names, by who may call it:
//!
//! | path | room |
//! |---|---|
//! | `/v1/keys…`, `/v1/rotations…`, `/v1/emergencies`, `/v1/verify`, `/v1/compliance…`, `/v1/admin/…`, `/v1/organizations/…` | `operator/` (its table names the file) |
//! | `/v1/org/…` | `customer/` (a user's token) |
//! | `/v1/self/…` | `self_service/` (the customer's own API key) |
//! | `/v1/leaks`, `/dashboard`, `/portal` | `public/` |
//! | `/openapi.json` | served by `app`, as `document/` completes it |
//!
//! Below the rooms: `actions/` (what operator and customer routes both do), `dto/`
//! (bodies), `http/` (extractors, problems, idempotency, cursors), `identity/`
//! (customer tokens). Rooms import downwards, never from each other.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use keyroll_core::queue::NotificationQueue;
use keyroll_core::service::Keyroll;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub mod actions;
pub mod customer;
pub mod document;
pub mod dto;
pub mod http;
pub mod identity;
pub mod operator;
pub mod public;
pub mod self_service;

pub use operator::Auth;

use http::problem::ApiError;

#[derive(Clone)]
pub struct AppState {
    pub keyroll: Arc<Keyroll>,
    pub auth: Auth,
    /// Where `POST /v1/admin/process` delivers notifications; without one they stay
    /// in the outbox for the processor function.
    pub queue: Option<Arc<dyn NotificationQueue>>,
    /// How customer users are recognised on `/v1/org/…`; without it those routes
    /// refuse everyone (401).
    pub customers: Option<customer::CustomerAccess>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "keyroll",
        description = "Automated, zero-downtime API-key rotation. Operator routes need API Gateway IAM (SigV4) in AWS, `Authorization: Bearer <KEYROLL_ADMIN_TOKEN>` locally. Customer routes (/v1/org/…) need `Authorization: Bearer <JWT>` from the API company's identity provider and act on the token's organisation only. Errors are RFC 9457 problem documents."
    ),
    modifiers(&SecuritySchemes),
    security(("operatorToken" = [])),
    components(schemas(http::problem::Problem)),
    tags(
        (name = "keys", description = "API keys and their secret versions"),
        (name = "rotations", description = "Scheduled, emergency, cancelled, completed and extended rotations"),
        (name = "audit", description = "The hash-chained audit trail"),
        (name = "verify", description = "Secret verification for the company's gateway"),
        (name = "compliance", description = "The maximum-age rule: report, CSV and trend"),
        (name = "admin", description = "Operations"),
        (name = "notifications", description = "An organisation's email contacts, webhook endpoints, in-app feed and delivery log"),
        (name = "self-service", description = "Called by customers with their own API key"),
        (name = "customer", description = "Called by the users of a customer organisation with a token from the API company's identity provider"),
        (name = "leaks", description = "GitHub secret-scanning reports (signed by GitHub)")
    )
)]
struct ApiDoc;

/// The two kinds of credentials, as OpenAPI security schemes.
struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "operatorToken",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "keyroll-local's admin token; in AWS, IAM (SigV4) at API Gateway instead",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "currentSecret",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("the customer's current API key, as `Authorization: Bearer sk_live_…` (the self-service successor fetch)"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "currentSecretHeader",
            SecurityScheme::ApiKey(utoipa::openapi::security::ApiKey::Header(
                utoipa::openapi::security::ApiKeyValue::with_description(
                    "x-api-key",
                    "the customer's current API key, as `x-api-key: sk_live_…`",
                ),
            )),
        );
        components.add_security_scheme(
            "customerToken",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("a token from the API company's OpenID Connect provider (RS256 or ES256) naming the user (`sub`), their organisation (`org_id` by default) and role (`keyroll_role`: viewer or admin)"))
                    .build(),
            ),
        );
    }
}

/// The routes of the API, by who may call them.
struct Routes {
    /// Behind operator credentials.
    operator: Router<AppState>,
    /// Behind a customer user's token.
    customer: Router<AppState>,
    /// Routes that authenticate callers themselves.
    public: Router<AppState>,
    document: utoipa::openapi::OpenApi,
}

/// The API's routes and their OpenAPI description, from one definition.
fn api() -> Routes {
    let (public, public_doc) = OpenApiRouter::new()
        .routes(routes!(self_service::successor::successor))
        .routes(routes!(self_service::delivery_key::register_delivery_key))
        .routes(routes!(self_service::key::self_key))
        .routes(routes!(public::leaks::report))
        // A GitHub report may carry up to 1,000 tokens with their URLs.
        .layer(DefaultBodyLimit::max(public::leaks::MAX_REPORT_BYTES))
        .split_for_parts();
    let (protected, mut document) = operator::routes(ApiDoc::openapi()).split_for_parts();
    let (customer, customer_doc) = customer::routes().split_for_parts();
    document.merge(public_doc);
    document.merge(customer_doc);
    Routes {
        operator: protected,
        customer,
        public,
        document,
    }
}

/// The OpenAPI 3.1 document of the API, with every input's rule (see [`document`]).
pub fn openapi() -> serde_json::Value {
    document_of(api().document)
}

fn document_of(generated: utoipa::openapi::OpenApi) -> serde_json::Value {
    let mut document = serde_json::to_value(generated).unwrap_or_default();
    let misses = document::complete(&mut document);
    debug_assert!(misses.0.is_empty(), "document rules not placed: {misses:?}");
    document
}

/// The whole application: authenticated API routes, the public OpenAPI document, and
/// problem documents for unknown routes, wrong methods and oversize bodies.
pub fn app(state: AppState) -> Router {
    let Routes {
        operator,
        customer,
        public,
        document,
    } = api();
    let document = Arc::new(document_of(document));
    let operator = operator.route_layer(middleware::from_fn_with_state(
        state.clone(),
        operator::authenticate,
    ));
    let customer = customer.route_layer(middleware::from_fn_with_state(
        state.clone(),
        customer::authenticate_customer,
    ));
    Router::new()
        .merge(operator)
        .merge(customer)
        .merge(public)
        .route(
            "/openapi.json",
            get(move || async move { Json(document.as_ref().clone()) }),
        )
        .route("/dashboard", get(public::dashboard))
        .route("/portal", get(public::portal))
        .fallback(|| async { ApiError::RouteNotFound.into_response() })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed.into_response() })
        .layer(DefaultBodyLimit::max(http::extract::MAX_BODY_BYTES))
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

/// One structured line per request: method, route template (never the query string or
/// body, which may carry a secret), status and duration. In Lambda the line also
/// carries the invocation's request id (see keyroll_core::logging).
async fn log_request(request: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let duration_ms = started.elapsed().as_millis() as u64;
    if response.status().is_server_error() {
        tracing::error!(event = "http_request", %method, route, status, duration_ms, "request");
    } else {
        tracing::info!(event = "http_request", %method, route, status, duration_ms, "request");
    }
    response
}
