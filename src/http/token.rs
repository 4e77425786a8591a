//! The token endpoint of Docker's token authentication, at `/auth/token`.
//!
//! - `GET` with optional Basic credentials, `service`, repeated `scope`, `offline_token`: what
//!   `docker login`, Docker pulls and pushes, skopeo and podman send
//!   (<https://distribution.github.io/distribution/spec/auth/token/>).
//! - `POST` with an OAuth2 form, `grant_type=password` or `refresh_token`: what containerd
//!   sends (<https://distribution.github.io/distribution/spec/auth/oauth/>).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{AppState, Query, Shared, auth};
use crate::auth::{Credentials, Error, Issued, Scope};

/// A token request's form bodies are small; refuse anything bigger.
const FORM_LIMIT: usize = 64 * 1024;

/// `GET /auth/token?service=…&scope=…&offline_token=true` → `{"token","access_token",
/// "expires_in","issued_at"[,"refresh_token"]}`.
pub async fn get(State(state): Shared, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    let query = Query::parse(parts.uri.query());
    let credentials = match auth::basic(&parts.headers) {
        Some((username, secret)) => Credentials::Password { username, secret },
        None => Credentials::None,
    };
    let offline = query.get("offline_token") == Some("true");
    let res = issue(&state, &parts, &query, credentials, offline).await;
    respond(res, true)
}

/// `POST /auth/token` with `grant_type=password&username=…&password=…` or
/// `grant_type=refresh_token&refresh_token=…`, plus `service`, `scope` (space-separated) and
/// `access_type=offline` → `{"access_token","expires_in","issued_at","scope"[,"refresh_token"]}`.
pub async fn post(State(state): Shared, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let res = async {
        let form = axum::body::to_bytes(body, FORM_LIMIT)
            .await
            .map_err(|_| Error::Invalid("the form body is too large or unreadable".into()))?;
        let form = form_query(&form);
        let credentials = match form.get("grant_type") {
            Some("password") => Credentials::Password {
                username: form.get("username").unwrap_or("").to_owned(),
                secret: form.get("password").unwrap_or("").to_owned(),
            },
            Some("refresh_token") => {
                Credentials::RefreshToken(form.get("refresh_token").unwrap_or("").to_owned())
            }
            other => {
                return Err(Error::Invalid(format!(
                    "unsupported grant_type {:?}",
                    other.unwrap_or("")
                )));
            }
        };
        let offline = form.get("access_type") == Some("offline");
        issue(&state, &parts, &form, credentials, offline).await
    }
    .await;
    respond(res, false)
}

/// What both forms share: the `service` must be ours; `scope` may repeat and hold several
/// space-separated scopes.
async fn issue(
    state: &AppState,
    parts: &Parts,
    params: &Query,
    credentials: Credentials,
    offline: bool,
) -> Result<Issued, Error> {
    check_service(&state.access, params.get("service"))?;
    let scopes = parse_scopes(params.all("scope").flat_map(|s| s.split(' ')))?;
    let address = auth::client_address(state, parts);
    state
        .access
        .issue(credentials, &scopes, offline, address)
        .await
}

fn form_query(body: &Bytes) -> Query {
    Query::parse(Some(&String::from_utf8_lossy(body)))
}

fn check_service(access: &crate::auth::Access, service: Option<&str>) -> Result<(), Error> {
    match service {
        Some(service) if service != access.options().service => {
            Err(Error::Invalid(format!("unknown service {service:?}")))
        }
        _ => Ok(()),
    }
}

fn parse_scopes<'a>(texts: impl Iterator<Item = &'a str>) -> Result<Vec<Scope>, Error> {
    let mut scopes = Vec::new();
    for text in texts.filter(|t| !t.is_empty()) {
        if let Some(scope) = Scope::parse(text)? {
            scopes.push(scope);
        }
    }
    Ok(scopes)
}

fn respond(res: Result<Issued, Error>, get: bool) -> Response {
    let issued = match res {
        Ok(issued) => issued,
        Err(e) => return auth::login_refused(e),
    };
    let mut body = json!({
        "access_token": issued.token,
        "expires_in": issued.expires_in,
        "issued_at": crate::time::rfc3339(issued.issued_at),
    });
    if get {
        body["token"] = Value::String(issued.token.clone());
    } else {
        let granted: Vec<String> = issued.granted.iter().map(Scope::to_string).collect();
        body["scope"] = Value::String(granted.join(" "));
    }
    if let Some(refresh) = issued.refresh_token {
        body["refresh_token"] = Value::String(refresh);
    }
    let mut response = Json(body).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
