//! A page of a key's audit trail, as an operator or a customer may see it.

use axum::Json;
use keyroll_core::audit::AuditOrder;
use keyroll_core::error::Error;
use keyroll_core::ids::KeyId;
use keyroll_core::rules::Range;
use keyroll_core::service::AuditPageRequest;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::dto::*;
use crate::http::problem::ApiError;
use crate::AppState;

/// Which page of an audit trail: the paging fields of both audit routes.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditPaging {
    /// `oldest` (default) or `newest` first.
    pub order: Option<String>,
    /// Events per page, 1-1000 (default 100).
    pub limit: Option<usize>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

/// Events per audit page.
pub const AUDIT_PAGE: Range = Range::new(1, 1000);

impl AuditPaging {
    fn request(&self) -> Result<AuditPageRequest, Error> {
        let order = match self.order.as_deref() {
            None | Some("oldest") => AuditOrder::OldestFirst,
            Some("newest") => AuditOrder::NewestFirst,
            Some(_) => return Err(Error::invalid("order", "must be oldest or newest")),
        };
        let limit = crate::dto::page_limit(self.limit, 100, AUDIT_PAGE)?;
        let after = self
            .cursor
            .as_deref()
            .map(|c| {
                keyroll_core::rules::sequence_cursor(c).ok_or_else(|| {
                    Error::invalid(
                        "cursor",
                        "not a cursor of this trail; start again without one",
                    )
                })
            })
            .transpose()?;
        Ok(AuditPageRequest {
            order,
            after,
            limit,
        })
    }
}

/// Key `id`'s audit trail as `viewer` may see it (operator's and customer's route).
pub(crate) async fn audit_of(
    state: &AppState,
    id: KeyId,
    paging: &AuditPaging,
    viewer: Viewer,
) -> Result<Json<AuditResponse>, ApiError> {
    let request = paging.request()?;
    let page = state.keyroll.audit_page(&id, request).await?;
    Ok(Json(AuditResponse {
        key_id: id.to_string(),
        events: page
            .events
            .iter()
            .map(|e| AuditEventView::from(e).seen_by(viewer))
            .collect(),
        next_cursor: page.next.map(|seq| seq.to_string()),
        chain_valid: page.report.valid,
        chain: page.report,
    }))
}
