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
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

pub use router::Endpoint;
use router::{ManifestReference, Query};

use error::ApiError;
use router::ParseError;

use crate::auth::{Access, Caller};
use crate::lifecycle::Lifecycle;
use crate::oci::names::Reference;
use crate::registry::{self, Registry};

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
        .layer(axum::middleware::from_fn(error::log_internal))
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
    let query = Query::parse(parts.uri.query());
    let (label, res) = match Endpoint::parse(&parts.method, parts.uri.path(), &query) {
        Ok(endpoint) => {
            let label = endpoint.label();
            let need = endpoint.need();
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
        Err(ParseError::MethodNotAllowed) => ("invalid", Err(ApiError::MethodNotAllowed)),
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

/// Calls the endpoint's handler; each calls one service method.
async fn call(
    state: &AppState,
    endpoint: Endpoint,
    parts: &axum::http::request::Parts,
    caller: Caller,
    body: Body,
) -> ApiResult {
    let headers = &parts.headers;
    match endpoint {
        Endpoint::Base => Ok(base()),
        Endpoint::Catalog { n, last } => manifests::catalog(state, &caller, n, last).await,
        Endpoint::ListTags { name, n, last } => manifests::tags(state, &name, n, last).await,
        Endpoint::GetManifest {
            name,
            reference,
            head,
        } => manifests::get(state, &name, &known(&name, reference)?, headers, head).await,
        Endpoint::PutManifest { name, reference } => {
            let reference = match reference {
                ManifestReference::Valid(reference) => reference,
                // Nothing is stored under a reference that cannot exist; only a push learns why.
                ManifestReference::Invalid(text) => {
                    let invalid = text.parse::<Reference>().err().map(registry::Error::from);
                    return Err(ApiError::Registry(invalid.unwrap_or(
                        registry::Error::ManifestUnknown {
                            name,
                            reference: text,
                        },
                    )));
                }
            };
            manifests::put(state, &caller, &name, &reference, headers, body).await
        }
        Endpoint::DeleteManifest { name, reference } => {
            manifests::delete(state, &caller, &name, &known(&name, reference)?).await
        }
        Endpoint::Referrers {
            name,
            digest,
            artifact_type,
        } => manifests::referrers(state, &name, &digest, artifact_type.as_deref()).await,
        Endpoint::GetBlob { name, digest, head } => {
            blobs::get(state, &name, &digest, headers, head).await
        }
        Endpoint::DeleteBlob { name, digest } => {
            blobs::delete(state, &caller, &name, &digest).await
        }
        Endpoint::StartUpload {
            name,
            mount,
            from,
            digest,
        } => blobs::start(state, &caller, &name, mount, from, digest, body).await,
        Endpoint::UploadStatus { name, id } => blobs::status(state, &name, &id).await,
        Endpoint::PatchUpload { name, id } => blobs::patch(state, &name, &id, headers, body).await,
        Endpoint::FinishUpload { name, id, digest } => {
            blobs::finish(state, &name, &id, digest, headers, body).await
        }
        Endpoint::CancelUpload { name, id } => blobs::cancel(state, &name, &id).await,
    }
}

/// A manifest reference that can name something; otherwise there is no such manifest.
fn known(name: &str, reference: ManifestReference) -> Result<Reference, ApiError> {
    match reference {
        ManifestReference::Valid(reference) => Ok(reference),
        ManifestReference::Invalid(text) => {
            Err(ApiError::Registry(registry::Error::ManifestUnknown {
                name: name.to_owned(),
                reference: text,
            }))
        }
    }
}

/// `GET /v2/`: the API version check every client starts with.
fn base() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], "{}").into_response()
}

/// A header value as text, if present and visible ASCII.
fn header_str<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn header_value(text: &str) -> HeaderValue {
    HeaderValue::try_from(text).expect("names, digests and numbers are valid header values")
}
