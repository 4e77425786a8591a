//! The access log: one line per request, written when its response has been sent (or the
//! client went away), with method, path, route, status, bytes each way, duration, client
//! address and caller, like nginx's. Bodies are counted as they stream, never held.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use http_body::Body as _;
use http_body_util::BodyExt;

/// Who made a request, when the handler learned it from a bearer token (Basic credentials the
/// log reads itself).
#[derive(Debug, Clone)]
pub struct CallerName(pub String);

/// What the line says of the request, gathered as it arrives.
pub struct Request {
    method: Method,
    path: String,
    address: Option<std::net::IpAddr>,
    caller: Option<String>,
    start: Instant,
    /// Request body bytes, counted as the handler reads them.
    received: Arc<AtomicU64>,
}

impl Request {
    /// Starts the line of a request; its body comes back counted.
    pub fn start(
        parts: &Parts,
        body: Body,
        address: Option<std::net::IpAddr>,
        caller: Option<String>,
    ) -> (Request, Body) {
        let received = Arc::new(AtomicU64::new(0));
        let counter = received.clone();
        let body = Body::new(body.map_frame(move |frame| {
            if let Some(data) = frame.data_ref() {
                counter.fetch_add(data.len() as u64, Ordering::Relaxed);
            }
            frame
        }));
        let request = Request {
            method: parts.method.clone(),
            path: parts.uri.path().to_owned(),
            address,
            caller,
            start: Instant::now(),
            received,
        };
        (request, body)
    }

    /// The response body, counted, writing the line once it is done or dropped. A caller the
    /// handler named (from a bearer token) replaces the one read from Basic credentials.
    pub fn finish(mut self, response: Response, route: String) -> Response {
        if let Some(CallerName(name)) = response.extensions().get::<CallerName>() {
            self.caller = Some(name.clone());
        }
        let status = response.status();
        response.map(|inner| {
            Body::new(Logged {
                inner,
                sent: 0,
                line: Some((self, route, status)),
            })
        })
    }
}

struct Logged {
    inner: Body,
    sent: u64,
    line: Option<(Request, String, StatusCode)>,
}

impl http_body::Body for Logged {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            self.sent += data.len() as u64;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        let Some((request, route, status)) = self.line.take() else {
            return;
        };
        let complete = self.inner.is_end_stream();
        tracing::info!(
            target: "berth::access",
            method = %request.method,
            path = %request.path,
            route = %route,
            status = status.as_u16(),
            bytes_in = request.received.load(Ordering::Relaxed),
            bytes_out = self.sent,
            ms = format_args!("{:.1}", request.start.elapsed().as_secs_f64() * 1000.0),
            client = %request.address.map_or_else(|| "-".to_owned(), |a| a.to_string()),
            caller = %request.caller.as_deref().unwrap_or("-"),
            complete,
        );
    }
}
