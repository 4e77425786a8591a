//! A minimal HTTP/1.1 registry client on hyper: requests on kept-alive connections, pulls into a buffer, blob pushes monolithic or chunked.

use super::*;

/// A connection, and the `Authorization` its requests carry (none for anonymous ones).
pub(crate) struct Conn {
    pub(crate) sender: SendRequest<Full<Bytes>>,
    pub(crate) authorization: Option<String>,
}

pub(crate) async fn connect(addr: SocketAddr) -> std::io::Result<Conn> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    // Reads of up to 4 MiB keep the client from being the bottleneck of the pull rows.
    let (sender, conn) = hyper::client::conn::http1::Builder::new()
        .max_buf_size(4 * MIB)
        .handshake(TokioIo::new(stream))
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(conn);
    Ok(Conn {
        sender,
        authorization: authorization_for(addr),
    })
}

/// A response with its body hashed as it streams in (never held whole).
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: hyper::HeaderMap,
    pub(crate) body_digest: String,
    pub(crate) body_len: usize,
    /// The first 64 KiB of the body (small JSON answers, whole).
    pub(crate) body: Vec<u8>,
}

pub(crate) async fn send(
    conn: &mut Conn,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> Reply {
    conn.sender.ready().await.unwrap();
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "127.0.0.1");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let explicit = headers.iter().any(|(name, _)| *name == "authorization");
    if let Some(authorization) = conn.authorization.as_deref().filter(|_| !explicit) {
        builder = builder.header("authorization", authorization);
    }
    let response = conn
        .sender
        .send_request(builder.body(Full::new(body)).unwrap())
        .await
        .unwrap();
    let (parts, mut body) = response.into_parts();
    let mut hasher = Sha256::new();
    let mut body_len = 0;
    let mut head = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            hasher.update(&data);
            body_len += data.len();
            let room = (64 * 1024usize).saturating_sub(head.len());
            head.extend_from_slice(&data[..room.min(data.len())]);
        }
    }
    Reply {
        status: parts.status,
        headers: parts.headers,
        body_digest: format!("sha256:{}", hex::encode(hasher.finalize())),
        body_len,
        body: head,
    }
}

/// GETs a blob over a fresh connection straight into `sink` (allocated and touched beforehand),
/// so that the client makes one copy per byte, like curl, and the timing covers the transfer;
/// returns the status and the length received. The caller hashes `sink` before the figure
/// counts. The reads block this thread (the runtime's other tasks are idle meanwhile). Why: an
/// async read that finds the socket empty goes through the runtime's poller, and another thread
/// wakes this one; that cost both servers' pulls about a tenth (see the README).
pub(crate) fn fetch(addr: SocketAddr, path: &str, sink: &mut [u8]) -> (StatusCode, usize) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let authorization = authorization_for(addr)
        .map(|value| format!("Authorization: {value}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{authorization}Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).unwrap();
    // The head arrives first; whatever body bytes came with it are moved to the sink.
    let mut head = vec![0u8; 64 * 1024];
    let mut filled = 0;
    let end = loop {
        let n = stream.read(&mut head[filled..]).unwrap();
        assert!(n > 0, "connection closed before the response head");
        filled += n;
        if let Some(at) = head[..filled].windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let text = String::from_utf8_lossy(&head[..end]).to_ascii_lowercase();
    let status: u16 = text[9..12].parse().unwrap();
    let length: usize = text
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .map(|value| value.trim().parse().unwrap())
        .unwrap_or(0);
    let mut len = filled - end;
    sink[..len].copy_from_slice(&head[end..filled]);
    while len < length {
        let n = stream.read(&mut sink[len..length]).unwrap();
        assert!(n > 0, "connection closed after {len} of {length} bytes");
        len += n;
    }
    (StatusCode::from_u16(status).unwrap(), len)
}

pub(crate) async fn request(
    conn: &mut Conn,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> (StatusCode, hyper::HeaderMap) {
    let reply = send(conn, method, path, headers, body).await;
    (reply.status, reply.headers)
}

pub(crate) fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The path (and query) of an upload `Location`, absolute (Distribution) or relative (berth).
pub(crate) fn location(headers: &hyper::HeaderMap) -> String {
    let value = headers["location"].to_str().unwrap();
    match value.strip_prefix("http://") {
        Some(rest) => rest[rest.find('/').unwrap()..].to_owned(),
        None => value.to_owned(),
    }
}

pub(crate) fn with_digest(location: &str, digest: &str) -> String {
    let separator = if location.contains('?') { '&' } else { '?' };
    format!("{location}{separator}digest={digest}")
}

/// Uploads `blob` in one PUT (`chunk == None`) or in PATCHes of `chunk` bytes; checks the digest.
pub(crate) async fn push_blob(
    conn: &mut Conn,
    repo: &str,
    blob: &Bytes,
    digest: &str,
    chunk: Option<usize>,
) {
    let (status, headers) = request(
        conn,
        Method::POST,
        &format!("/v2/{repo}/blobs/uploads/"),
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let mut at = location(&headers);
    let mut last = blob.clone();
    if let Some(chunk) = chunk {
        for start in (0..blob.len()).step_by(chunk) {
            let end = (start + chunk).min(blob.len());
            let range = format!("{start}-{}", end - 1);
            let headers = [
                ("content-range", range.as_str()),
                ("content-type", "application/octet-stream"),
            ];
            let (status, headers) =
                request(conn, Method::PATCH, &at, &headers, blob.slice(start..end)).await;
            assert_eq!(status, StatusCode::ACCEPTED, "PATCH {range}");
            at = location(&headers);
        }
        last = Bytes::new();
    }
    let headers = [("content-type", "application/octet-stream")];
    let (status, headers) =
        request(conn, Method::PUT, &with_digest(&at, digest), &headers, last).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(headers["docker-content-digest"], digest);
}

/// Deterministic pseudo-random bytes (xorshift): incompressible, no RNG dependency.
pub(crate) fn pseudo_random(len: usize, seed: u64) -> Bytes {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out.into()
}
