//! Prometheus metrics: request counts and latencies by route, method and status, bytes in and
//! out, and uploads in progress, served at `/metrics`.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use super::Shared;
use super::error::InternalError;

/// The endpoint a response came from, set by the dispatcher.
#[derive(Debug, Clone, Copy)]
pub struct RouteLabel(pub &'static str);

const DURATION: &str = "berth_http_request_duration_seconds";

/// Installs the process-wide recorder (once) and returns its handle.
pub fn install() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let buckets = [
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
                60.0,
            ];
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(DURATION.to_owned()), &buckets)
                .expect("the bucket list is not empty")
                .install_recorder()
                .expect("no other metrics recorder is installed")
        })
        .clone()
}

/// `GET /metrics` in the Prometheus text format.
pub async fn render(State(state): Shared) -> String {
    state.metrics.render()
}

/// Records every request: count and latency (to the response head) by route, method and
/// status; response bytes by route; internal errors are logged here, never sent.
pub async fn track(request: Request, next: Next) -> Response {
    let method = method_label(request.method());
    let start = Instant::now();
    let response = next.run(request).await;
    let route = response
        .extensions()
        .get::<RouteLabel>()
        .map_or("other", |label| label.0);
    let status = response.status().as_str().to_owned();
    metrics::counter!("berth_http_requests_total", "route" => route, "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!(DURATION, "route" => route, "method" => method)
        .record(start.elapsed().as_secs_f64());
    let length = response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse().ok());
    if let Some(length) = length
        && method != "HEAD"
    {
        metrics::counter!("berth_http_response_bytes_total", "route" => route).increment(length);
    }
    if let Some(InternalError(cause)) = response.extensions().get::<InternalError>() {
        tracing::error!(route, method, "internal error: {cause}");
    }
    response
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::POST => "POST",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        _ => "OTHER",
    }
}

/// Counts an upload request in `berth_uploads_in_progress` while it is alive.
pub struct UploadInProgress(());

impl UploadInProgress {
    pub fn start() -> UploadInProgress {
        metrics::gauge!("berth_uploads_in_progress").increment(1.0);
        UploadInProgress(())
    }
}

impl Drop for UploadInProgress {
    fn drop(&mut self) {
        metrics::gauge!("berth_uploads_in_progress").decrement(1.0);
    }
}
