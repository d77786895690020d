//! Routes that need no operator credentials and no customer token: GitHub's signed
//! leak reports (`/v1/leaks`) and the two self-contained pages, the compliance
//! dashboard (`/dashboard`) and the customer portal (`/portal`).

use axum::response::IntoResponse;

pub mod leaks;

const DASHBOARD: &str = include_str!("dashboard.html");
const PORTAL: &str = include_str!("portal.html");

/// `GET /dashboard`: the compliance dashboard.
pub async fn dashboard() -> impl IntoResponse {
    page(DASHBOARD)
}

/// `GET /portal`: the customer portal.
pub async fn portal() -> impl IntoResponse {
    page(PORTAL)
}

/// Each page is self-contained (no CDN, no build step) and reads the JSON API with the
/// token given after `#token=`. They hold no data themselves, so they are served
/// without credentials.
fn page(html: &'static str) -> impl IntoResponse {
    (
        [
            (axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                axum::http::header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self'",
            ),
            (axum::http::header::X_FRAME_OPTIONS, "DENY"),
            (axum::http::header::REFERRER_POLICY, "no-referrer"),
        ],
        html,
    )
}
