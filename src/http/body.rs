//! Request bodies as streams for the registry service: never collected, counted for metrics,
//! gathered into chunks of a useful size, and cut off when the client stalls or trickles.

use std::io;
use std::time::Duration;

use axum::body::{Body, BodyDataStream};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use tokio::time::Instant;

use crate::registry::ByteStream;

/// Frames are gathered up to this size before they go to the hashing and writing pipeline:
/// the connection reads at most a request head's worth at a time (`server`), and each chunk
/// costs a hand-off between threads.
const CHUNK: usize = 1 << 20;

/// What an upload body must keep up with.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    /// The longest wait for the next bytes.
    pub idle: Duration,
    /// The least average rate, judged once a window has passed.
    pub min_bytes_per_sec: u64,
    pub window: Duration,
}

struct State {
    frames: BodyDataStream,
    started: Instant,
    received: u64,
}

/// Streams `body` in chunks of up to `CHUNK` bytes, failing with `TimedOut` when no bytes arrive
/// for `limits.idle` or the body averages less than its minimum rate over a window, so that a
/// stalled or trickling client cannot hold an upload (and its lease) for long.
pub fn stream(body: Body, limits: BodyLimits) -> ByteStream<'static> {
    let state = State {
        frames: body.into_data_stream(),
        started: Instant::now(),
        received: 0,
    };
    Box::pin(futures_util::stream::unfold(
        Some(state),
        move |state| async move {
            let mut state = state?;
            let mut chunk: Option<Bytes> = None;
            let mut gathered = BytesMut::new();
            loop {
                let frame = match tokio::time::timeout(limits.idle, state.frames.next()).await {
                    Ok(frame) => frame,
                    Err(_) => {
                        let idle = limits.idle;
                        let e = timed_out(format!("no body data for {idle:?}"));
                        return Some((Err(e), None));
                    }
                };
                let bytes = match frame {
                    Some(Ok(bytes)) => bytes,
                    Some(Err(e)) => return Some((Err(io::Error::other(e)), None)),
                    None => break,
                };
                metrics::counter!("berth_http_request_bytes_total").increment(bytes.len() as u64);
                state.received += bytes.len() as u64;
                if let Err(e) = check_rate(&state, limits) {
                    return Some((Err(e), None));
                }
                match chunk.take() {
                    None if gathered.is_empty() => chunk = Some(bytes),
                    None => gathered.extend_from_slice(&bytes),
                    Some(first) => {
                        gathered.reserve(CHUNK);
                        gathered.extend_from_slice(&first);
                        gathered.extend_from_slice(&bytes);
                    }
                }
                let len = chunk.as_ref().map_or(gathered.len(), Bytes::len);
                if len >= CHUNK {
                    break;
                }
            }
            let out = chunk.unwrap_or_else(|| gathered.freeze());
            if out.is_empty() {
                return None;
            }
            Some((Ok(out), Some(state)))
        },
    ))
}

/// Fails once a window has passed and the body averaged less than the minimum rate.
fn check_rate(state: &State, limits: BodyLimits) -> io::Result<()> {
    let elapsed = state.started.elapsed();
    if elapsed < limits.window {
        return Ok(());
    }
    let expected = limits.min_bytes_per_sec as f64 * elapsed.as_secs_f64();
    if (state.received as f64) < expected {
        return Err(timed_out(format!(
            "body averaged {} bytes in {elapsed:.0?}, below the minimum of {} bytes per second",
            state.received, limits.min_bytes_per_sec
        )));
    }
    Ok(())
}

fn timed_out(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, message)
}
