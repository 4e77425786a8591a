//! Request bodies as streams for the registry service: never collected, counted for metrics,
//! and cut off when the client stalls.

use std::io;
use std::time::Duration;

use axum::body::Body;
use futures_util::StreamExt;

use crate::storage::ByteStream;

/// Streams `body`, failing with `TimedOut` when no bytes arrive for `idle`, so that a stalled
/// or trickling client cannot hold an upload (and its lease) forever.
pub fn stream(body: Body, idle: Duration) -> ByteStream<'static> {
    let frames = body.into_data_stream();
    Box::pin(futures_util::stream::unfold(
        Some(frames),
        move |frames| async move {
            let mut frames = frames?;
            match tokio::time::timeout(idle, frames.next()).await {
                Ok(Some(Ok(bytes))) => {
                    metrics::counter!("berth_http_request_bytes_total")
                        .increment(bytes.len() as u64);
                    Some((Ok(bytes), Some(frames)))
                }
                Ok(Some(Err(e))) => Some((Err(io::Error::other(e)), None)),
                Ok(None) => None,
                Err(_) => {
                    let e = io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("no body data for {idle:?}"),
                    );
                    Some((Err(e), None))
                }
            }
        },
    ))
}
