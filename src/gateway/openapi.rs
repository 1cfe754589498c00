//! The OpenAPI 3.0 description of the gateway, hand-written in `docs/openapi.json` (kept in the
//! repository for client generators and reviewers) and served as is at `/openapi.json`.

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

/// `docs/openapi.json`, compiled in so that the served document is always the file.
pub const DOCUMENT: &str = include_str!("../../docs/openapi.json");

pub(super) async fn serve() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], DOCUMENT)
}
