//! Prometheus metrics: request counts and latencies by route, method and status, bytes in and
//! out, uploads in progress, connections and the process's own (CPU, memory, file
//! descriptors), served at `/metrics`, each with its `# HELP` and `# TYPE`.

use std::borrow::Cow;
use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::Response;
use metrics::Unit;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use super::access_log;
use super::{Shared, auth};

/// The endpoint a response came from: set by the `/v2` dispatcher, or by `label_route` from
/// the route that matched (`/api/v1/projects/{project}`).
#[derive(Debug, Clone)]
pub struct RouteLabel(pub Cow<'static, str>);

const DURATION: &str = "berth_http_request_duration_seconds";

/// Every metric berth records, with its type's describer, unit and help text: the one list
/// `# HELP` lines come from (a test checks that none is left out).
const DESCRIBED: &[(&str, Kind, Option<Unit>, &str)] = &[
    (
        "berth_http_requests_total",
        Kind::Counter,
        None,
        "HTTP requests by route, method and status.",
    ),
    (
        DURATION,
        Kind::Histogram,
        Some(Unit::Seconds),
        "Time to the response head, by route and method.",
    ),
    (
        "berth_http_request_bytes_total",
        Kind::Counter,
        Some(Unit::Bytes),
        "Upload body bytes received.",
    ),
    (
        "berth_http_response_bytes_total",
        Kind::Counter,
        Some(Unit::Bytes),
        "Response body bytes by route (as Content-Length states).",
    ),
    (
        "berth_uploads_in_progress",
        Kind::Gauge,
        None,
        "Upload requests whose bodies are being received.",
    ),
    (
        "berth_connections_open",
        Kind::Gauge,
        None,
        "Client connections open.",
    ),
    (
        "berth_connections_refused_total",
        Kind::Counter,
        None,
        "Connections closed on arrival because max_connections were open.",
    ),
    (
        "berth_storage_full_total",
        Kind::Counter,
        None,
        "Writes refused because a store was out of space.",
    ),
];

#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// The process metrics (`process_cpu_seconds_total`, `process_resident_memory_bytes`,
/// `process_open_fds`, …), as Prometheus's own clients name them.
fn process() -> &'static metrics_process::Collector {
    static COLLECTOR: OnceLock<metrics_process::Collector> = OnceLock::new();
    COLLECTOR.get_or_init(metrics_process::Collector::default)
}

/// Installs the process-wide recorder (once) and returns its handle.
pub fn install() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let buckets = [
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
                60.0,
            ];
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(DURATION.to_owned()), &buckets)
                .expect("the bucket list is not empty")
                .install_recorder()
                .expect("no other metrics recorder is installed");
            for &(name, kind, unit, help) in DESCRIBED {
                match (kind, unit) {
                    (Kind::Counter, Some(unit)) => metrics::describe_counter!(name, unit, help),
                    (Kind::Counter, None) => metrics::describe_counter!(name, help),
                    (Kind::Gauge, Some(unit)) => metrics::describe_gauge!(name, unit, help),
                    (Kind::Gauge, None) => metrics::describe_gauge!(name, help),
                    (Kind::Histogram, Some(unit)) => {
                        metrics::describe_histogram!(name, unit, help);
                    }
                    (Kind::Histogram, None) => metrics::describe_histogram!(name, help),
                }
            }
            process().describe();
            spawn_upkeep(handle.clone());
            handle
        })
        .clone()
}

/// Drains the histograms' raw samples into their buckets every few seconds. The recorder
/// keeps every sample until then, and `install_recorder` starts nothing that would drain
/// them: without this, a registry that nobody scrapes grew by about 20 bytes a request
/// (10 MiB per 560,000 requests). A thread, not a task, so that no runtime's end stops it.
fn spawn_upkeep(handle: PrometheusHandle) {
    const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);
    std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                handle.run_upkeep();
            }
        })
        .expect("a thread starts");
}

/// `GET /metrics` in the Prometheus text format, with the process metrics read now.
pub async fn render(State(state): Shared) -> String {
    process().collect();
    state.metrics.render()
}

/// Labels a response with the pattern of the route that matched (every route but `/v2`,
/// whose dispatcher labels its own endpoints and which this layer does not wrap).
pub async fn label_route(matched: MatchedPath, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let label = RouteLabel(Cow::Owned(matched.as_str().to_owned()));
    response.extensions_mut().insert(label);
    response
}

/// Records every request: count and latency (to the response head) by route, method and
/// status; response bytes by route; and, unless turned off, its access log line.
pub async fn track(State(state): Shared, request: Request, next: Next) -> Response {
    let method = method_label(request.method());
    let start = Instant::now();
    let (parts, body) = request.into_parts();
    let (line, body) = if state.access_log {
        let address = auth::client_address(&state, &parts);
        let caller = auth::basic(&parts.headers).map(|(user, _)| user);
        let (line, body) = access_log::Request::start(&parts, body, address, caller);
        (Some(line), body)
    } else {
        (None, body)
    };
    let response = next.run(Request::from_parts(parts, body)).await;
    let route = response
        .extensions()
        .get::<RouteLabel>()
        .map_or(Cow::Borrowed("other"), |label| label.0.clone());
    let status = response.status().as_str().to_owned();
    metrics::counter!("berth_http_requests_total", "route" => route.clone(), "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!(DURATION, "route" => route.clone(), "method" => method)
        .record(start.elapsed().as_secs_f64());
    let length = response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse().ok());
    if let Some(length) = length
        && method != "HEAD"
    {
        metrics::counter!("berth_http_response_bytes_total", "route" => route.clone())
            .increment(length);
    }
    match line {
        Some(line) => line.finish(response, route.into_owned()),
        None => response,
    }
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
