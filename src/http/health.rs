//! Probes for load balancers and orchestrators, unauthenticated and cheap: `/healthz` (the
//! process answers) and `/readyz` (both stores take writes now), and `/`, which names the
//! server.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::Shared;
use crate::registry::StoreState;

/// `GET /healthz`: 200 while the process serves requests at all.
pub async fn alive() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

/// `GET /readyz`: 200 when the blob and metadata stores both take a write now; 503 naming the
/// store that does not (`out of space` when full), so that a load balancer sends pushes
/// elsewhere. The cause goes to the log, not to the unauthenticated client.
pub async fn ready(State(state): Shared) -> Response {
    let readiness = state.registry.readiness().await;
    let (status, word) = if readiness.is_ready() {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    };
    let body = json!({
        "status": word,
        "blobs": store_state("blob", &readiness.blobs),
        "metadata": store_state("metadata", &readiness.metadata),
    });
    (status, Json(body)).into_response()
}

/// `ok`, `out of space` or `failing` (logged with its cause).
fn store_state(store: &str, state: &StoreState) -> &'static str {
    match state {
        StoreState::Ready => "ok",
        StoreState::OutOfSpace(reason) | StoreState::Failing(reason) => {
            tracing::warn!("readiness: the {store} store takes no writes: {reason}");
            if matches!(state, StoreState::OutOfSpace(_)) {
                "out of space"
            } else {
                "failing"
            }
        }
    }
}

/// `GET /`: what this is and where its API lives.
pub async fn root() -> Response {
    Json(json!({
        "name": "berth",
        "version": env!("CARGO_PKG_VERSION"),
        "registry": "/v2/",
        "api": "/api/v1/",
    }))
    .into_response()
}
