//! The access log: one line per request, written when its response has been sent (or the
//! client went away), with method, path, route, status, bytes each way, duration, client
//! address and caller, like nginx's. Bodies are counted as they stream, never held.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::http::{Method, StatusCode};
use http_body::Body as _;
use http_body_util::BodyExt;

/// Who made a request, when the handler learned it from a bearer token (Basic credentials the
/// log reads itself).
#[derive(Debug, Clone)]
pub struct CallerName(pub String);

/// What the line says besides the byte counts and duration.
pub struct Line {
    pub method: Method,
    pub path: String,
    pub route: String,
    pub status: StatusCode,
    pub address: Option<std::net::IpAddr>,
    pub caller: Option<String>,
    pub start: Instant,
}

/// Counts the bytes of a request body into `counter` as the handler reads them.
pub fn count_request(body: Body, counter: Arc<AtomicU64>) -> Body {
    Body::new(body.map_frame(move |frame| {
        if let Some(data) = frame.data_ref() {
            counter.fetch_add(data.len() as u64, Ordering::Relaxed);
        }
        frame
    }))
}

/// The response body, counted, writing `line` once it is done or dropped.
pub fn log_response(body: Body, line: Line, received: Arc<AtomicU64>) -> Body {
    Body::new(Logged {
        inner: body,
        sent: 0,
        received,
        line: Some(line),
    })
}

struct Logged {
    inner: Body,
    sent: u64,
    received: Arc<AtomicU64>,
    line: Option<Line>,
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
        let Some(line) = self.line.take() else {
            return;
        };
        let complete = self.inner.is_end_stream();
        tracing::info!(
            target: "berth::access",
            method = %line.method,
            path = %line.path,
            route = %line.route,
            status = line.status.as_u16(),
            bytes_in = self.received.load(Ordering::Relaxed),
            bytes_out = self.sent,
            ms = format_args!("{:.1}", line.start.elapsed().as_secs_f64() * 1000.0),
            client = %line.address.map_or_else(|| "-".to_owned(), |a| a.to_string()),
            caller = %line.caller.as_deref().unwrap_or("-"),
            complete,
        );
    }
}
