//! The tree browser (`/browse`).

use std::sync::Arc;

use axum::Router;

use super::AdminState;

/// The browser's routes, nested under `/browse`.
pub fn router() -> Router<Arc<AdminState>> {
    Router::new()
}
