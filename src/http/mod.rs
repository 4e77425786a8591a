//! The HTTP edge: routes, request parsing, and the mapping of results to OCI responses.
//!
//! Architecture invariant: this is the only module that knows about `axum` and HTTP. Every
//! registry request is authorized in `dispatch` before its handler runs. Handlers are thin:
//! parse the request, call one `Registry` (or, in `api.rs` and `token.rs`, `Access`) method, map
//! the result, and record what the audit log must hold. Every error response is produced by
//! `error.rs`.

pub mod access_log;
mod api;
pub mod auth;
mod blobs;
pub(crate) mod body;
pub mod error;
mod health;
mod manifests;
pub mod metrics;
mod router;
mod token;

use std::sync::Arc;

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

use crate::auth::{Access, Caller};
use crate::lifecycle::Lifecycle;
use crate::registry::Registry;

const API_VERSION: HeaderName = HeaderName::from_static("docker-distribution-api-version");
const DOCKER_CONTENT_DIGEST: HeaderName = HeaderName::from_static("docker-content-digest");

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub registry: Registry,
    pub lifecycle: Lifecycle,
    pub access: Access,
    /// The token endpoint's public URL; empty to derive it from each request's `Host`.
    pub realm: String,
    /// Whether clients reach berth over HTTPS (for the derived realm).
    pub tls: bool,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    /// How long an upload body may send nothing before the request fails.
    pub body_limits: body::BodyLimits,
    /// Whether each request gets an access log line.
    pub access_log: bool,
}

/// The whole HTTP API: `/v2/…`, the token endpoint `/auth/token`, the management API
/// `/api/v1/…`, `/metrics` and the probes `/healthz` and `/readyz`.
pub fn router(state: AppState) -> Router {
    let state = Arc::new(state);
    Router::new()
        .route("/auth/token", get(token::get).post(token::post))
        .nest("/api/v1", api::router())
        .route("/metrics", get(metrics::render))
        .route("/healthz", get(health::alive))
        .route("/readyz", get(health::ready))
        .route("/", get(health::root))
        // Only the routes above: `dispatch` labels the `/v2` endpoints itself.
        .route_layer(axum::middleware::from_fn(metrics::label_route))
        .route("/v2", any(dispatch))
        .route("/v2/", any(dispatch))
        .route("/v2/{*path}", any(dispatch))
        .fallback(no_route)
        .with_state(state.clone())
        .layer(axum::middleware::from_fn_with_state(state, metrics::track))
        .layer(TraceLayer::new_for_http())
        .layer(CatchPanicLayer::new())
}

/// Any path outside the routes above: a JSON 404.
async fn no_route() -> Response {
    let mut response = ApiError::NotFound.into_response();
    let label = metrics::RouteLabel(std::borrow::Cow::Borrowed("unknown"));
    response.extensions_mut().insert(label);
    response
}

type Shared = State<Arc<AppState>>;
type ApiResult = Result<Response, ApiError>;

/// Parses the path into an `Endpoint`, authorizes the request and calls its handler.
async fn dispatch(state: Shared, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let mut caller_name = None;
    let (label, res) = match Endpoint::parse(parts.uri.path()) {
        Ok(endpoint) => {
            let label = endpoint.label();
            let need = auth::need(&parts.method, &endpoint);
            let token = auth::bearer(&parts.headers);
            let address = auth::client_address(&state, &parts);
            match state.access.authorize(token, &need, address).await {
                Ok(caller) => {
                    if state.access_log && !caller.name().is_empty() {
                        caller_name = Some(access_log::CallerName(caller.name().to_owned()));
                    }
                    (label, call(&state, endpoint, &parts, caller, body).await)
                }
                Err(e) => {
                    let challenge = auth::challenge(&state, &parts, &need, &e);
                    let scope_denied = matches!(e, crate::auth::Error::ScopeDenied(_));
                    let mut response = ApiError::Auth(e).into_response();
                    if response.status() == axum::http::StatusCode::UNAUTHORIZED || scope_denied {
                        response
                            .headers_mut()
                            .insert(header::WWW_AUTHENTICATE, challenge);
                    }
                    (label, Ok(response))
                }
            }
        }
        Err(ParseError::NotFound) => ("unknown", Err(ApiError::NotFound)),
        Err(ParseError::Invalid(e)) => ("invalid", Err(ApiError::Registry(e))),
    };
    let mut response = res.unwrap_or_else(IntoResponse::into_response);
    response
        .headers_mut()
        .insert(API_VERSION, HeaderValue::from_static("registry/2.0"));
    let extensions = response.extensions_mut();
    extensions.insert(metrics::RouteLabel(std::borrow::Cow::Borrowed(label)));
    if let Some(name) = caller_name {
        extensions.insert(name);
    }
    response
}

async fn call(
    state: &AppState,
    endpoint: Endpoint,
    parts: &axum::http::request::Parts,
    caller: Caller,
    body: Body,
) -> ApiResult {
    let query = Query::parse(parts.uri.query());
    let headers = &parts.headers;
    let head = parts.method == Method::HEAD;
    match (&parts.method, endpoint) {
        (&Method::GET | &Method::HEAD, Endpoint::Base) => Ok(base()),
        (&Method::GET, Endpoint::Catalog) => manifests::catalog(state, &caller, &query).await,
        (&Method::GET, Endpoint::Tags { name }) => manifests::tags(state, &name, &query).await,
        (&Method::GET | &Method::HEAD, Endpoint::Manifest { name, reference }) => {
            manifests::get(state, &name, &reference, headers, head).await
        }
        (&Method::PUT, Endpoint::Manifest { name, reference }) => {
            manifests::put(state, &caller, &name, &reference, headers, body).await
        }
        (&Method::DELETE, Endpoint::Manifest { name, reference }) => {
            manifests::delete(state, &caller, &name, &reference).await
        }
        // Nothing is stored under a reference that cannot exist; only a push learns why.
        (&Method::PUT, Endpoint::ManifestInvalid { name, reference }) => {
            let invalid = reference
                .parse::<crate::oci::names::Reference>()
                .err()
                .map(crate::registry::Error::from);
            Err(ApiError::Registry(invalid.unwrap_or(
                crate::registry::Error::ManifestUnknown { name, reference },
            )))
        }
        (
            &Method::GET | &Method::HEAD | &Method::DELETE,
            Endpoint::ManifestInvalid { name, reference },
        ) => Err(ApiError::Registry(
            crate::registry::Error::ManifestUnknown { name, reference },
        )),
        (&Method::GET, Endpoint::Referrers { name, digest }) => {
            manifests::referrers(state, &name, &digest, &query).await
        }
        (&Method::GET | &Method::HEAD, Endpoint::Blob { name, digest }) => {
            blobs::get(state, &name, &digest, headers, head).await
        }
        (&Method::DELETE, Endpoint::Blob { name, digest }) => {
            blobs::delete(state, &caller, &name, &digest).await
        }
        (&Method::POST, Endpoint::Uploads { name }) => {
            blobs::start(state, &caller, &name, &query, body).await
        }
        (&Method::GET, Endpoint::Upload { name, id }) => blobs::status(state, &name, &id).await,
        (&Method::PATCH, Endpoint::Upload { name, id }) => {
            blobs::patch(state, &name, &id, headers, body).await
        }
        (&Method::PUT, Endpoint::Upload { name, id }) => {
            blobs::finish(state, &name, &id, &query, headers, body).await
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

    /// Every value of a repeated parameter, in order.
    fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
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
