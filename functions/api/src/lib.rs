//! keyroll's management API: one axum router built from its dependencies, served by
//! `lambda_http` in Lambda (src/main.rs) and by `keyroll-local` on a developer's
//! machine, and driven in-process by the tests.

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

pub mod auth;
pub mod compliance;
pub mod customer;
pub mod dto;
pub mod extract;
pub mod identity;
pub mod import;
pub mod leaks;
pub mod organizations;
pub mod problem;
pub mod routes;

pub use auth::Auth;

use problem::ApiError;

#[derive(Clone)]
pub struct AppState {
    pub keyroll: Arc<Keyroll>,
    pub auth: Auth,
    /// Where `POST /v1/admin/process` delivers notifications; without one they stay
    /// in the outbox for the processor function.
    pub queue: Option<Arc<dyn NotificationQueue>>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "keyroll",
        description = "Automated, zero-downtime API-key rotation. Every route but /openapi.json needs credentials: API Gateway IAM (SigV4) in AWS, `Authorization: Bearer <KEYROLL_ADMIN_TOKEN>` locally. Errors are RFC 9457 problem documents."
    ),
    components(schemas(problem::Problem)),
    tags(
        (name = "keys", description = "API keys and their secret versions"),
        (name = "rotations", description = "Scheduled, emergency, cancelled, completed and extended rotations"),
        (name = "audit", description = "The hash-chained audit trail"),
        (name = "verify", description = "Secret verification for the company's gateway"),
        (name = "compliance", description = "The maximum-age rule: report, CSV and trend"),
        (name = "admin", description = "Operations"),
        (name = "notifications", description = "An organisation's email contacts, webhook endpoints, in-app feed and delivery log"),
        (name = "self-service", description = "Called by customers with their own API key"),
        (name = "leaks", description = "GitHub secret-scanning reports (signed by GitHub)")
    )
)]
struct ApiDoc;

/// The API's routes and their OpenAPI description, from one definition.
/// Returns the routes behind operator credentials, the routes that authenticate
/// callers themselves, and the one document describing both.
fn api() -> (Router<AppState>, Router<AppState>, utoipa::openapi::OpenApi) {
    let (public, public_doc) = OpenApiRouter::new()
        .routes(routes!(customer::successor))
        .routes(routes!(leaks::report))
        // A GitHub report may carry up to 1,000 tokens with their URLs.
        .layer(DefaultBodyLimit::max(leaks::MAX_REPORT_BYTES))
        .split_for_parts();
    let (protected, mut document) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(routes::create_key))
        .routes(routes!(import::import_keys))
        .routes(routes!(routes::get_key))
        .routes(routes!(routes::schedule_rotation, routes::list_rotations))
        .routes(routes!(routes::emergency_rotation))
        .routes(routes!(routes::get_rotation))
        .routes(routes!(routes::rotations_in_progress))
        .routes(routes!(routes::recent_emergencies))
        .routes(routes!(routes::cancel_rotation))
        .routes(routes!(routes::complete_rotation))
        .routes(routes!(routes::extend_rotation))
        .routes(routes!(routes::reveal_secret))
        .routes(routes!(routes::audit))
        .routes(routes!(routes::verify))
        .routes(routes!(routes::process))
        .routes(routes!(compliance::report))
        .routes(routes!(compliance::report_csv))
        .routes(routes!(compliance::run_scan))
        .routes(routes!(
            organizations::add_contact,
            organizations::list_contacts
        ))
        .routes(routes!(organizations::remove_contact))
        .routes(routes!(
            organizations::add_webhook,
            organizations::list_webhooks
        ))
        .routes(routes!(organizations::remove_webhook))
        .routes(routes!(organizations::rotate_webhook_secret))
        .routes(routes!(organizations::notifications))
        .routes(routes!(organizations::mark_read))
        .routes(routes!(organizations::deliveries))
        .split_for_parts();
    document.merge(public_doc);
    (protected, public, document)
}

/// The OpenAPI 3.1 document of the API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().2
}

const DASHBOARD: &str = include_str!("dashboard.html");

/// The compliance dashboard: one self-contained page (no CDN, no build step) that
/// reads the JSON API with the token given after `#token=`. It holds no data itself,
/// so it is served without credentials.
async fn dashboard() -> impl IntoResponse {
    (
        [
            (axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                axum::http::header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self'",
            ),
            (axum::http::header::X_FRAME_OPTIONS, "DENY"),
        ],
        DASHBOARD,
    )
}

/// The whole application: authenticated API routes, the public OpenAPI document, and
/// problem documents for unknown routes, wrong methods and oversize bodies.
pub fn app(state: AppState) -> Router {
    let (routes, public, document) = api();
    let document = Arc::new(document);
    let protected = routes.route_layer(middleware::from_fn_with_state(
        state.clone(),
        auth::authenticate,
    ));
    Router::new()
        .merge(protected)
        .merge(public)
        .route(
            "/openapi.json",
            get(move || async move { Json(document.as_ref().clone()) }),
        )
        .route("/dashboard", get(dashboard))
        .fallback(|| async { ApiError::RouteNotFound.into_response() })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed.into_response() })
        .layer(DefaultBodyLimit::max(extract::MAX_BODY_BYTES))
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
