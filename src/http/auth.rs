//! Authorization of registry requests: which scope each endpoint needs, the bearer token, and
//! the `WWW-Authenticate` challenge of Docker's token authentication.

use std::net::{IpAddr, SocketAddr};

use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use base64::Engine;

use super::{AppState, Endpoint};
use crate::auth::{self, Action, Need};

/// The peer address of the connection, set by the connection loop.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

/// The scope a registry request needs. Anything that writes needs `push`, deletes need
/// `delete`, reads need `pull`.
pub fn need(method: &Method, endpoint: &Endpoint) -> Need {
    let repository = |name: &str, action| Need::Repository {
        name: name.to_owned(),
        action,
    };
    let write = |name: &str| {
        if method == Method::DELETE {
            repository(name, Action::Delete)
        } else if method == Method::GET || method == Method::HEAD {
            repository(name, Action::Pull)
        } else {
            repository(name, Action::Push)
        }
    };
    match endpoint {
        Endpoint::Base => Need::Base,
        Endpoint::Catalog => Need::Catalog,
        Endpoint::Tags { name } | Endpoint::Referrers { name, .. } => {
            repository(name, Action::Pull)
        }
        Endpoint::Manifest { name, .. } | Endpoint::Blob { name, .. } => write(name),
        // Every request on an upload session is part of a push, even a status GET.
        Endpoint::Uploads { name } | Endpoint::Upload { name, .. } => {
            repository(name, Action::Push)
        }
    }
}

/// The bearer token of a request, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// User name and password of a `Basic` authorization header, if any.
pub fn basic(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

pub fn client_address(parts: &Parts) -> Option<IpAddr> {
    parts.extensions.get::<ClientAddr>().map(|a| a.0.ip())
}

/// The token endpoint as clients reach it: the configured realm, or this request's host.
pub fn realm(state: &AppState, parts: &Parts) -> String {
    if !state.realm.is_empty() {
        return state.realm.clone();
    }
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()))
        .unwrap_or("localhost");
    let scheme = if state.tls { "https" } else { "http" };
    format!("{scheme}://{host}/auth/token")
}

/// `Bearer realm="…",service="…"[,scope="…"][,error="…"]` for a refused request.
pub fn challenge(state: &AppState, parts: &Parts, need: &Need, error: &auth::Error) -> HeaderValue {
    let mut value = format!(
        "Bearer realm=\"{}\",service=\"{}\"",
        realm(state, parts),
        state.access.settings().service
    );
    if let Some(scope) = need.scope() {
        value.push_str(&format!(",scope=\"{scope}\""));
    }
    match error {
        auth::Error::InsufficientScope(_) => value.push_str(",error=\"insufficient_scope\""),
        auth::Error::BadToken(_) => value.push_str(",error=\"invalid_token\""),
        _ => {}
    }
    HeaderValue::try_from(value).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
}
