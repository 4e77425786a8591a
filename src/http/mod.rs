//! The HTTP edge: routes, request parsing, and the mapping of results to OCI responses.
//!
//! Architecture invariant: this is the only module that knows about `axum` and HTTP. Handlers
//! are thin: parse the request, call one `Registry` method, map the result. Every error
//! response is produced by `error.rs`.

mod blobs;
mod body;
pub mod error;
mod manifests;
pub mod metrics;
mod router;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

pub use router::Endpoint;

use error::ApiError;
use router::ParseError;

use crate::registry::Registry;

const API_VERSION: HeaderName = HeaderName::from_static("docker-distribution-api-version");
const DOCKER_CONTENT_DIGEST: HeaderName = HeaderName::from_static("docker-content-digest");

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub registry: Registry,
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    /// How long an upload body may send nothing before the request fails.
    pub body_idle_timeout: Duration,
}

/// The whole HTTP API: `/v2/…` and `/metrics`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v2", any(dispatch))
        .route("/v2/", any(dispatch))
        .route("/v2/{*path}", any(dispatch))
        .route("/metrics", get(metrics::render))
        .with_state(Arc::new(state))
        .layer(axum::middleware::from_fn(metrics::track))
        .layer(TraceLayer::new_for_http())
        .layer(CatchPanicLayer::new())
}

type Shared = State<Arc<AppState>>;
type ApiResult = Result<Response, ApiError>;

/// Parses the path into an `Endpoint` and calls its handler.
async fn dispatch(state: Shared, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let (label, res) = match Endpoint::parse(parts.uri.path()) {
        Ok(endpoint) => (endpoint.label(), call(&state, endpoint, &parts, body).await),
        Err(ParseError::NotFound) => ("unknown", Err(ApiError::NotFound)),
        Err(ParseError::Invalid(e)) => ("invalid", Err(ApiError::Registry(e))),
    };
    let mut response = res.unwrap_or_else(IntoResponse::into_response);
    response
        .headers_mut()
        .insert(API_VERSION, HeaderValue::from_static("registry/2.0"));
    response.extensions_mut().insert(metrics::RouteLabel(label));
    response
}

async fn call(
    state: &AppState,
    endpoint: Endpoint,
    parts: &axum::http::request::Parts,
    body: Body,
) -> ApiResult {
    let query = Query::parse(parts.uri.query());
    let headers = &parts.headers;
    let head = parts.method == Method::HEAD;
    match (&parts.method, endpoint) {
        (&Method::GET | &Method::HEAD, Endpoint::Base) => Ok(base()),
        (&Method::GET, Endpoint::Catalog) => manifests::catalog(state, &query).await,
        (&Method::GET, Endpoint::Tags { name }) => manifests::tags(state, &name, &query).await,
        (&Method::GET | &Method::HEAD, Endpoint::Manifest { name, reference }) => {
            manifests::get(state, &name, &reference, headers, head).await
        }
        (&Method::PUT, Endpoint::Manifest { name, reference }) => {
            manifests::put(state, &name, &reference, headers, body).await
        }
        (&Method::DELETE, Endpoint::Manifest { name, reference }) => {
            manifests::delete(state, &name, &reference).await
        }
        (&Method::GET, Endpoint::Referrers { name, digest }) => {
            manifests::referrers(state, &name, &digest, &query).await
        }
        (&Method::GET | &Method::HEAD, Endpoint::Blob { name, digest }) => {
            blobs::get(state, &name, &digest, headers, head).await
        }
        (&Method::DELETE, Endpoint::Blob { name, digest }) => {
            blobs::delete(state, &name, &digest).await
        }
        (&Method::POST, Endpoint::Uploads { name }) => {
            blobs::start(state, &name, &query, body).await
        }
        (&Method::GET, Endpoint::Upload { name, id }) => blobs::status(state, &name, &id).await,
        (&Method::PATCH, Endpoint::Upload { name, id }) => {
            blobs::patch(state, &name, &id, headers, body).await
        }
        (&Method::PUT, Endpoint::Upload { name, id }) => {
            blobs::finish(state, &name, &id, &query, body).await
        }
        (&Method::DELETE, Endpoint::Upload { name, id }) => blobs::cancel(state, &name, &id).await,
        _ => Err(ApiError::MethodNotAllowed),
    }
}

/// `GET /v2/`: the API version check every client starts with.
fn base() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], "{}").into_response()
}

/// The decoded query string.
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(query: Option<&str>) -> Query {
        Query(
            form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .into_owned()
                .collect(),
        )
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A header value as text, if present and visible ASCII.
fn header_str<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn header_value(text: &str) -> HeaderValue {
    HeaderValue::try_from(text).expect("names, digests and numbers are valid header values")
}
