//! Authorization of registry requests: the bearer token, and
//! the `WWW-Authenticate` challenge of Docker's token authentication.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use base64::Engine;

use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;
use crate::auth::{self, Need};
use crate::oci::names::validate_name;

/// The peer address of the connection, set by the connection loop.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

/// The credentials of an `Authorization: <scheme> <credentials>` header, if it has that scheme.
fn authorization<'a>(headers: &'a HeaderMap, scheme: &str) -> Option<&'a str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (given, credentials) = value.split_once(' ')?;
    given
        .eq_ignore_ascii_case(scheme)
        .then(|| credentials.trim())
}

/// The bearer token of a request, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    authorization(headers, "bearer")
}

/// User name and password of a `Basic` authorization header, if any.
pub fn basic(headers: &HeaderMap) -> Option<(String, String)> {
    let encoded = authorization(headers, "basic")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// A refused login (token endpoint, management API): the error, and for missing or wrong
/// credentials a `Basic` challenge, which is what these endpoints take.
pub fn login_refused(error: auth::Error) -> Response {
    let challenge = matches!(error, auth::Error::Unauthenticated);
    let mut response = ApiError::Auth(error).into_response();
    if challenge {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"berth\""),
        );
    }
    response
}

/// The client's address: the TCP peer, or, when the peer is a trusted proxy, the nearest
/// address in `X-Forwarded-For` that is not a trusted proxy itself.
pub fn client_address(state: &AppState, parts: &Parts) -> Option<IpAddr> {
    let peer = parts.extensions.get::<ClientAddr>()?.0.ip();
    if !state.trusted_proxies.iter().any(|p| p.contains(&peer)) {
        return Some(peer);
    }
    let forwarded = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse::<IpAddr>().ok())
        .collect::<Vec<_>>();
    let nearest_untrusted = forwarded
        .iter()
        .rev()
        .find(|a| !state.trusted_proxies.iter().any(|p| p.contains(*a)));
    Some(nearest_untrusted.copied().unwrap_or(peer))
}

/// A trusted proxy's address or CIDR block (`10.0.0.0/8`, `fd00::/8`, or one address).
pub fn parse_block(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("invalid address or CIDR block {text:?}"))
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
        state.access.options().service
    );
    if let Some(scope) = need.scope() {
        value.push_str(&format!(",scope=\"{scope}"));
        if let Some(from) = mount_source(parts) {
            value.push_str(&format!(" repository:{from}:pull"));
        }
        value.push('"');
    }
    match error {
        auth::Error::InsufficientScope(_) | auth::Error::ScopeDenied(_) => {
            value.push_str(",error=\"insufficient_scope\"")
        }
        auth::Error::BadToken(_) => value.push_str(",error=\"invalid_token\""),
        _ => {}
    }
    HeaderValue::try_from(value).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
}

/// The repository a `POST …/blobs/uploads/?mount=&from=` mounts from: the challenge asks for
/// `pull` on it too (as Distribution's does), so that a client that requests what the
/// challenge names gets a token the mount can use.
fn mount_source(parts: &Parts) -> Option<String> {
    if parts.method != Method::POST {
        return None;
    }
    let query = form_urlencoded::parse(parts.uri.query()?.as_bytes());
    let (mut mount, mut from) = (false, None);
    for (key, value) in query {
        match key.as_ref() {
            "mount" => mount = true,
            "from" => from = Some(value.into_owned()),
            _ => {}
        }
    }
    let from = from.filter(|from| mount && validate_name(from).is_ok())?;
    Some(from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_blocks_contain_what_their_prefix_covers() {
        let cases = [
            ("10.0.0.0/8", "10.200.1.2", true),
            ("10.0.0.0/8", "11.0.0.1", false),
            ("192.0.2.7", "192.0.2.7", true),
            ("192.0.2.7", "192.0.2.8", false),
            ("0.0.0.0/0", "203.0.113.9", true),
            ("fd00::/8", "fd12::1", true),
            ("fd00::/8", "10.0.0.1", false),
        ];
        for (block, address, expected) in cases {
            let block = parse_block(block).unwrap();
            assert_eq!(
                block.contains(&address.parse::<IpAddr>().unwrap()),
                expected,
                "{block:?} {address}"
            );
        }
        assert!(parse_block("10.0.0.0/33").is_err());
        assert!(parse_block("example.com").is_err());
    }
}
