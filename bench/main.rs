//! The registry benchmark: berth (release build) and CNCF Distribution (`docker-registry`) on
//! loopback, measured in one run with rounds interleaved, each figure checked (status, digest)
//! before it counts. Run it with `bench/run`, which installs and starts what it needs; see
//! `bench/README.md` for the rows and how to read them.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use sha2::{Digest as _, Sha256};

const MIB: usize = 1 << 20;
const BIG_BLOB: usize = 256 * MIB;
const CHUNK: usize = 8 * MIB;
const ROUNDS: usize = 3;
/// The large-blob rows vary more (disk writeback), so they get more rounds.
const BLOB_ROUNDS: usize = 5;
/// Timed pulls of each server per round, back to back, each into a buffer of its own (hashed
/// after the batch). Why back to back: a pull from the page cache is a few copies of memory, and
/// on these virtual machines copying memory runs about 15% slower after a fifth of a second of
/// idling than in steady work (a bare 64 MiB `memcpy`: 18,700 against 21,600–22,200 MiB/s). A
/// pull that follows a pause, or the hash of the last pull, measures that, not the server; a
/// registry under load works steadily.
const PULLS_PER_ROUND: usize = 4;
const LOAD_CONNECTIONS: usize = 64;
const LOAD_DURATION: Duration = Duration::from_secs(4);
const SMALL_PUSHES: usize = 2000;
const SMALL_PUSHERS: usize = 16;
const SMALL_BLOB: usize = 4096;
const TAGS: usize = 100;
/// Layers of each manifest the heavy clients put (all the same small blob, each PUT a new
/// manifest), beside which one-layer manifest PUTs are timed: with the config, 10,000
/// references, the most berth takes by default.
const HEAVY_LAYERS: usize = 9_999;
const HEAVY_CLIENTS: usize = 2;
const LIGHT_PUTS: usize = 200;
/// Sizes of the garbage the GC rows collect.
const GC_BLOBS: [usize; 2] = [10_000, 100_000];
/// The password of berth's `admin` in the benchmark.
const ADMIN_PASSWORD: &str = "benchmark-admin-password";

/// The `Authorization` header each registry's requests carry: an admin token for berth (whose
/// `bench` project is public, so anonymous pulls work too), nothing for Distribution.
fn authorization() -> &'static Mutex<HashMap<SocketAddr, String>> {
    static TOKENS: OnceLock<Mutex<HashMap<SocketAddr, String>>> = OnceLock::new();
    TOKENS.get_or_init(Mutex::default)
}

fn authorization_for(addr: SocketAddr) -> Option<String> {
    authorization().lock().unwrap().get(&addr).cloned()
}

/// One registry under test, running as a child process.
struct Target {
    name: &'static str,
    addr: SocketAddr,
    child: Child,
    _data: tempfile::TempDir,
}

impl Target {
    /// Starts `VmHWM` over from the current RSS (`clear_refs`), so that the next peak read
    /// belongs to what runs after this call.
    fn reset_peak(&self) {
        std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5").unwrap();
    }

    fn rss_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with(field)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts berth with tokens that outlive the run, `extra` configuration, and everything else
/// as configured by default.
fn start_berth(name: &'static str, extra: &str) -> Target {
    let data = tempfile::tempdir().unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let config = data.path().join("berth.toml");
    // No access log, as for Distribution below: neither pays for logging per request.
    let settings = format!("access_log = false\n[auth]\ntoken_ttl_secs = 86400\n{extra}");
    std::fs::write(&config, settings).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["serve", "--listen", &addr.to_string(), "--data-dir"])
        .arg(data.path().join("data"))
        .arg("--config")
        .arg(&config)
        .env("BERTH_LOG", "warn")
        .env("BERTH_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .stdout(Stdio::null())
        .spawn()
        .expect("berth starts");
    Target {
        name,
        addr,
        child,
        _data: data,
    }
}

fn start_distribution() -> Target {
    let data = tempfile::tempdir().unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let config = data.path().join("config.yml");
    let root = data.path().join("storage");
    // Access logs and info logs off, as for berth: neither pays for logging per request.
    let yaml = format!(
        "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
        root.display()
    );
    std::fs::write(&config, yaml).unwrap();
    let child = Command::new("docker-registry")
        .arg("serve")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("docker-registry (Debian package) is installed: run bench/run");
    Target {
        name: "distribution",
        addr,
        child,
        _data: data,
    }
}

async fn wait_ready(addr: SocketAddr) {
    for _ in 0..100 {
        if let Ok(mut conn) = connect(addr).await {
            let status = request(&mut conn, Method::GET, "/v2/", &[], Bytes::new())
                .await
                .0;
            // berth challenges clients without a token; Distribution has no auth here.
            if status == StatusCode::OK || status == StatusCode::UNAUTHORIZED {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("registry at {addr} did not come up");
}

/// Logs in to berth: creates the public project `bench` and keeps an admin token for every
/// repository, which every connection to berth then sends.
async fn berth_login(addr: SocketAddr) {
    let basic = format!(
        "Basic {}",
        base64_encode(&format!("admin:{ADMIN_PASSWORD}"))
    );
    let mut conn = connect(addr).await.unwrap();
    let project = Bytes::from_static(br#"{"name":"bench","public":true}"#);
    let headers = [
        ("authorization", basic.as_str()),
        ("content-type", "application/json"),
    ];
    let (status, _) = request(
        &mut conn,
        Method::POST,
        "/api/v1/projects",
        &headers,
        project,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let path = "/auth/token?service=berth&scope=repository:*:pull,push,delete";
    let reply = send(
        &mut conn,
        Method::GET,
        path,
        &[("authorization", basic.as_str())],
        Bytes::new(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    let token = body["token"].as_str().unwrap();
    authorization()
        .lock()
        .unwrap()
        .insert(addr, format!("Bearer {token}"));
}

fn base64_encode(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// A connection, and the `Authorization` its requests carry (none for anonymous ones).
struct Conn {
    sender: SendRequest<Full<Bytes>>,
    authorization: Option<String>,
}

async fn connect(addr: SocketAddr) -> std::io::Result<Conn> {
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
struct Reply {
    status: StatusCode,
    headers: hyper::HeaderMap,
    body_digest: String,
    body_len: usize,
    /// The first KiB of the body (for small JSON answers).
    body: Vec<u8>,
}

async fn send(
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
            let room = 1024usize.saturating_sub(head.len());
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
fn fetch(addr: SocketAddr, path: &str, sink: &mut [u8]) -> (StatusCode, usize) {
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

async fn request(
    conn: &mut Conn,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> (StatusCode, hyper::HeaderMap) {
    let reply = send(conn, method, path, headers, body).await;
    (reply.status, reply.headers)
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The path (and query) of an upload `Location`, absolute (Distribution) or relative (berth).
fn location(headers: &hyper::HeaderMap) -> String {
    let value = headers["location"].to_str().unwrap();
    match value.strip_prefix("http://") {
        Some(rest) => rest[rest.find('/').unwrap()..].to_owned(),
        None => value.to_owned(),
    }
}

fn with_digest(location: &str, digest: &str) -> String {
    let separator = if location.contains('?') { '&' } else { '?' };
    format!("{location}{separator}digest={digest}")
}

/// Uploads `blob` in one PUT (`chunk == None`) or in PATCHes of `chunk` bytes; checks the digest.
async fn push_blob(conn: &mut Conn, repo: &str, blob: &Bytes, digest: &str, chunk: Option<usize>) {
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
fn pseudo_random(len: usize, seed: u64) -> Bytes {
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

/// Pushes the image used by the manifest and tag rows; returns the manifest and its digest.
async fn seed_image(addr: SocketAddr) -> (Bytes, String) {
    let mut conn = connect(addr).await.unwrap();
    let config = Bytes::from_static(
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#,
    );
    let layer = pseudo_random(4096, 42);
    for blob in [&config, &layer] {
        push_blob(&mut conn, "bench/app", blob, &sha256(blob), None).await;
    }
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": sha256(&config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": sha256(&layer), "size": layer.len()}],
    })
    .to_string();
    let manifest = Bytes::from(manifest);
    let content_type = [(
        "content-type",
        "application/vnd.docker.distribution.manifest.v2+json",
    )];
    for i in 0..TAGS {
        let path = format!("/v2/bench/app/manifests/v1.{i}.0");
        let (status, _) = request(
            &mut conn,
            Method::PUT,
            &path,
            &content_type,
            manifest.clone(),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let digest = sha256(&manifest);
    (manifest, digest)
}

/// Throughput and tail latency of a request hammered from many connections.
struct Load {
    per_second: f64,
    p99: Duration,
}

/// Sends `method path` from `LOAD_CONNECTIONS` connections for `LOAD_DURATION`; `check` must hold
/// for every reply or the run panics. With `anonymous`, no `Authorization` is sent.
async fn load(
    addr: SocketAddr,
    method: Method,
    path: &str,
    anonymous: bool,
    check: Arc<dyn Fn(&Reply) -> bool + Send + Sync>,
) -> Load {
    let accept = "application/vnd.docker.distribution.manifest.v2+json";
    let deadline = Instant::now() + LOAD_DURATION;
    let mut tasks = vec![];
    for _ in 0..LOAD_CONNECTIONS {
        let (method, path, check) = (method.clone(), path.to_owned(), check.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = connect(addr).await.unwrap();
            if anonymous {
                conn.authorization = None;
            }
            let mut latencies = vec![];
            while Instant::now() < deadline {
                let start = Instant::now();
                let reply = send(
                    &mut conn,
                    method.clone(),
                    &path,
                    &[("accept", accept)],
                    Bytes::new(),
                )
                .await;
                latencies.push(start.elapsed());
                assert!(
                    check(&reply),
                    "{method} {path}: unexpected reply {}",
                    reply.status
                );
            }
            latencies
        }));
    }
    let started = Instant::now();
    let mut latencies = vec![];
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    let elapsed = started.elapsed().max(LOAD_DURATION);
    latencies.sort();
    let p99 = latencies[latencies.len() * 99 / 100];
    Load {
        per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
        p99,
    }
}

/// `SMALL_PUSHES` pushes of distinct 4 KiB blobs (POST, PATCH, PUT as Docker does) from
/// `SMALL_PUSHERS` connections; returns pushes per second.
async fn small_pushes(addr: SocketAddr, round: usize) -> f64 {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = vec![];
    for _ in 0..SMALL_PUSHERS {
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = connect(addr).await.unwrap();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= SMALL_PUSHES {
                    break;
                }
                let blob = pseudo_random(SMALL_BLOB, (round * SMALL_PUSHES + i) as u64 + 7);
                let (status, headers) = request(
                    &mut conn,
                    Method::POST,
                    "/v2/bench/small/blobs/uploads/",
                    &[],
                    Bytes::new(),
                )
                .await;
                assert_eq!(status, StatusCode::ACCEPTED);
                let (status, headers) = request(
                    &mut conn,
                    Method::PATCH,
                    &location(&headers),
                    &[],
                    blob.clone(),
                )
                .await;
                assert_eq!(status, StatusCode::ACCEPTED);
                let digest = sha256(&blob);
                let (status, headers) = request(
                    &mut conn,
                    Method::PUT,
                    &with_digest(&location(&headers), &digest),
                    &[],
                    Bytes::new(),
                )
                .await;
                assert_eq!(status, StatusCode::CREATED);
                assert_eq!(headers["docker-content-digest"], digest.as_str());
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    SMALL_PUSHES as f64 / started.elapsed().as_secs_f64()
}

/// A manifest of `layers` descriptors of `layer`, made distinct by `salt`.
fn manifest_of(config: &Bytes, layer: &Bytes, layers: usize, salt: &str) -> Bytes {
    let descriptor = serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar",
        "digest": sha256(layer), "size": layer.len()});
    Bytes::from(
        serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha256(config), "size": config.len()},
            "layers": vec![descriptor; layers],
            "annotations": {"salt": salt},
        })
        .to_string(),
    )
}

/// The latencies (ms, sorted) of `LIGHT_PUTS` one-layer manifest PUTs from one connection
/// while `HEAVY_CLIENTS` connections loop PUTs of `HEAVY_LAYERS`-layer manifests (`heavy`
/// false: alone); and how many heavy PUTs were stored meanwhile.
async fn light_beside_heavy(addr: SocketAddr, round: usize, heavy: bool) -> (Vec<f64>, usize) {
    let mut conn = connect(addr).await.unwrap();
    let repo = format!("bench/heavy{round}{}", if heavy { "h" } else { "l" });
    let config = Bytes::from_static(br#"{"architecture":"amd64","os":"linux"}"#);
    let layer = pseudo_random(1024, 99);
    for blob in [&config, &layer] {
        push_blob(&mut conn, &repo, blob, &sha256(blob), None).await;
    }
    let content_type = [("content-type", "application/vnd.oci.image.manifest.v1+json")];
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stored = Arc::new(AtomicUsize::new(0));
    let mut heavies = vec![];
    for client in 0..if heavy { HEAVY_CLIENTS } else { 0 } {
        let (stop, stored, repo) = (stop.clone(), stored.clone(), repo.clone());
        let (config, layer) = (config.clone(), layer.clone());
        heavies.push(tokio::spawn(async move {
            let mut conn = connect(addr).await.unwrap();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let manifest = manifest_of(&config, &layer, HEAVY_LAYERS, &format!("{client}-{i}"));
                let path = format!("/v2/{repo}/manifests/heavy-{client}-{i}");
                let (status, _) =
                    request(&mut conn, Method::PUT, &path, &content_type, manifest).await;
                assert_eq!(status, StatusCode::CREATED);
                stored.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
        }));
    }
    // Let the heavy clients get going before the timed PUTs.
    tokio::time::sleep(Duration::from_millis(if heavy { 500 } else { 0 })).await;
    let mut latencies = vec![];
    for i in 0..LIGHT_PUTS {
        let manifest = manifest_of(&config, &layer, 1, &format!("light-{i}"));
        let path = format!("/v2/{repo}/manifests/light-{i}");
        let start = Instant::now();
        let (status, _) = request(&mut conn, Method::PUT, &path, &content_type, manifest).await;
        latencies.push(start.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(status, StatusCode::CREATED);
    }
    stop.store(true, Ordering::Relaxed);
    for task in heavies {
        task.await.unwrap();
    }
    latencies.sort_by(f64::total_cmp);
    (latencies, stored.load(Ordering::Relaxed))
}

/// The bytes of the `i`th garbage blob, and its digest's hex.
fn garbage(i: usize) -> (Vec<u8>, String) {
    let bytes = format!("garbage blob {i}").into_bytes();
    let hex = sha256(&bytes).trim_start_matches("sha256:").to_owned();
    (bytes, hex)
}

/// Times berth's GC of `n` blobs that a repository once held and no manifest references: the
/// bytes are written in the blob store's layout and linked through the metadata store, then
/// collected by the lifecycle service in-process (what `berth gc` runs).
async fn berth_gc(n: usize) -> Duration {
    use berth::storage::MetaStore;

    let dir = tempfile::tempdir().unwrap();
    let mut config = berth::config::Config {
        data_dir: dir.path().to_owned(),
        ..Default::default()
    };
    config.lifecycle.gc_grace_secs = 0;
    config.auth.admin_password = Some(ADMIN_PASSWORD.to_owned());
    let meta = berth::storage::sqlite::SqliteMetaStore::open(&dir.path().join("meta.db"))
        .await
        .unwrap();
    for i in 0..n {
        let (bytes, hex) = garbage(i);
        let path = dir.path().join("blobs/sha256").join(&hex[..2]);
        std::fs::create_dir_all(&path).unwrap();
        std::fs::write(path.join(&hex), &bytes).unwrap();
        let digest = format!("sha256:{hex}").parse().unwrap();
        // As an upload commit does: claim the blob, then link it.
        meta.claim_blob(&digest, bytes.len() as u64, None)
            .await
            .unwrap();
        let linked = meta
            .link_blob("bench/gc", &digest, bytes.len() as u64, None, None)
            .await
            .unwrap();
        assert_eq!(linked, berth::storage::Admit::Admitted);
    }
    drop(meta);
    let lifecycle = berth::services(&config, berth::Open::Existing)
        .await
        .unwrap()
        .lifecycle;
    // Links younger than a second are spared even with no grace period.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let cli = berth::auth::Actor {
        subject: berth::auth::Subject::Cli,
        address: None,
    };
    let started = Instant::now();
    let report = lifecycle.gc(&cli).await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(report.blobs, n as u64);
    elapsed
}

/// Times `docker-registry garbage-collect` of `n` blobs in Distribution's storage layout that
/// no manifest references.
fn distribution_gc(n: usize) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("storage");
    let v2 = root.join("docker/registry/v2");
    std::fs::create_dir_all(v2.join("repositories")).unwrap();
    for i in 0..n {
        let (bytes, hex) = garbage(i);
        let path = v2.join("blobs/sha256").join(&hex[..2]).join(&hex);
        std::fs::create_dir_all(&path).unwrap();
        std::fs::write(path.join("data"), &bytes).unwrap();
    }
    let config = dir.path().join("config.yml");
    let yaml = format!(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n",
        root.display()
    );
    std::fs::write(&config, yaml).unwrap();
    let started = Instant::now();
    let status = Command::new("docker-registry")
        .arg("garbage-collect")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    let elapsed = started.elapsed();
    assert!(status.success());
    assert_eq!(
        count_files(&v2.join("blobs")),
        0,
        "Distribution left blobs behind"
    );
    elapsed
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .map(|e| e.unwrap().path())
            .map(|p| if p.is_dir() { count_files(&p) } else { 1 })
            .sum()
    })
}

/// Flushes dirty pages before a timed blob operation, so that neither server pays for the
/// other's writes (an fsync under ext4's ordered mode also flushes other files' data).
fn settle() {
    let status = Command::new("sync").status().expect("sync runs");
    assert!(status.success());
}

/// Flushes dirty pages and empties the page cache, before each server's round of large blob
/// pushes. Why: on the virtual machines this runs on, a page of memory the guest has not used
/// lately costs a fault in the host the first time it is touched. Touching fresh memory 256 MiB
/// at a time runs at about 1.7 GiB/s for the first 2.5 GiB or so and at about 330 MiB/s after
/// that; pages freed and used again stay fast. Without this, the page cache fills with the
/// blobs of earlier rounds, every push after the first gigabyte or two writes into such cold
/// pages, and the push rows measure the host (berth's monolithic pushes fell from ~1,200 to
/// 340–550 MiB/s, on disk and on tmpfs alike). Needs root, like the rest of `bench/run`.
fn empty_page_cache() {
    settle();
    std::fs::write("/proc/sys/vm/drop_caches", "1")
        .expect("the benchmark empties the page cache between rounds: run it as root");
}

fn mib_per_second(bytes: usize, elapsed: Duration) -> f64 {
    bytes as f64 / MIB as f64 / elapsed.as_secs_f64()
}

fn run(program: &str, args: &[&str], dir: Option<&Path>) {
    let mut command = Command::new(program);
    command
        .args(args)
        .env("DOCKER_BUILDKIT", "0")
        .stdout(Stdio::null());
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("{program}: {e} (run bench/run)"));
    assert!(status.success(), "{program} {args:?} failed");
}

fn timed(program: &str, args: &[&str]) -> Duration {
    let start = Instant::now();
    run(program, args, None);
    start.elapsed()
}

/// Builds the greeter image (testdata/greeter) with a payload unique to `round`.
fn build_image(round: usize) -> String {
    let context = tempfile::tempdir().unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/greeter");
    for file in ["main.go", "go.mod", "Dockerfile"] {
        std::fs::copy(source.join(file), context.path().join(file)).unwrap();
    }
    std::fs::write(context.path().join("greeting"), format!("round {round}")).unwrap();
    std::fs::write(
        context.path().join("payload.bin"),
        pseudo_random(2 * MIB, round as u64 + 99),
    )
    .unwrap();
    let status = Command::new("go")
        .args(["build", "-trimpath", "-o", "greeter", "."])
        .current_dir(context.path())
        .env("CGO_ENABLED", "0")
        .status()
        .expect("go (golang-go) is installed: run bench/run");
    assert!(status.success());
    let tag = format!("berth-bench/greeter:{round}");
    run(
        "docker",
        &["build", "-q", "-t", &tag, "."],
        Some(context.path()),
    );
    tag
}

/// One row of the table: the samples of each target over the rounds.
struct Row {
    name: String,
    unit: &'static str,
    higher_is_better: bool,
    berth: Vec<f64>,
    distribution: Vec<f64>,
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

#[derive(Default)]
struct Table {
    rows: Vec<Row>,
}

impl Table {
    fn add(
        &mut self,
        row: &str,
        target: &str,
        value: f64,
        unit: &'static str,
        higher_is_better: bool,
    ) {
        let index = match self.rows.iter().position(|r| r.name == row) {
            Some(index) => index,
            None => {
                let name = row.to_owned();
                self.rows.push(Row {
                    name,
                    unit,
                    higher_is_better,
                    berth: vec![],
                    distribution: vec![],
                });
                self.rows.len() - 1
            }
        };
        let entry = &mut self.rows[index];
        if target == "berth" {
            entry.berth.push(value)
        } else {
            entry.distribution.push(value)
        }
    }

    /// Adds the rate of one 256 MiB transfer that took `elapsed`.
    fn add_transfer(&mut self, row: &str, target: &str, elapsed: Duration) {
        self.add(
            row,
            target,
            mib_per_second(BIG_BLOB, elapsed),
            "MiB/s",
            true,
        );
    }

    /// Adds the throughput and the p99 latency of a load run.
    fn add_load(&mut self, row: &str, target: &str, load: &Load) {
        let per_second = format!("{row}, {LOAD_CONNECTIONS} connections");
        self.add(&per_second, target, load.per_second, "req/s", true);
        let p99 = load.p99.as_secs_f64() * 1000.0;
        self.add(&format!("{row}, p99"), target, p99, "ms", false);
    }

    fn render(&self) -> String {
        let range = |values: &[f64]| {
            let min = values.iter().copied().fold(f64::INFINITY, f64::min);
            let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            format!("{min:.2}–{max:.2}")
        };
        let mut out = String::new();
        out.push_str("| row | unit | berth | distribution | berth/distribution | berth range | distribution range |\n");
        out.push_str("|---|---|---:|---:|---:|---|---|\n");
        for row in self
            .rows
            .iter()
            .filter(|row| !row.berth.is_empty() && !row.distribution.is_empty())
        {
            let (b, d) = (median(&row.berth), median(&row.distribution));
            let better = if row.higher_is_better {
                "higher is better"
            } else {
                "lower is better"
            };
            let (name, unit) = (&row.name, row.unit);
            let (b_range, d_range) = (range(&row.berth), range(&row.distribution));
            writeln!(
                out,
                "| {name} | {unit} ({better}) | {b:.2} | {d:.2} | {:.2}x | {b_range} | {d_range} |",
                b / d
            )
            .unwrap();
        }
        out
    }
}

/// The single-core SHA-256 rate in MiB/s from `openssl speed -evp sha256` (16 KiB blocks).
fn openssl_sha256_rate() -> Option<f64> {
    let output = Command::new("openssl")
        .args([
            "speed", "-seconds", "2", "-bytes", "16384", "-evp", "sha256",
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.to_ascii_lowercase().starts_with("sha256"))?;
    let last = line.split_whitespace().last()?.trim_end_matches('k');
    Some(last.parse::<f64>().ok()? * 1000.0 / MIB as f64)
}

#[tokio::main]
async fn main() {
    // `cargo bench --bench registry -- GROUP…` runs only those groups (blobs, api, small, heavy,
    // gc, docker, images).
    let groups: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wanted = |group: &str| groups.is_empty() || groups.iter().any(|g| g == group);
    let docker = std::env::var_os("DOCKER_HOST").is_some() && wanted("docker");
    let sha_rate = openssl_sha256_rate();
    let mut targets = [start_berth("berth", ""), start_distribution()];
    for target in &targets {
        wait_ready(target.addr).await;
    }
    berth_login(targets[0].addr).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut table = Table::default();
    for target in &targets {
        table.add(
            "server RSS at idle",
            target.name,
            target.rss_kib("VmRSS:") as f64 / 1024.0,
            "MiB",
            false,
        );
    }

    // berth's login (an argon2 hash of 19 MiB) is not part of the push rows' peak.
    for target in &targets {
        target.reset_peak();
    }
    let mut sinks = vec![vec![1u8; BIG_BLOB]; PULLS_PER_ROUND];
    for round in 0..if wanted("blobs") { BLOB_ROUNDS } else { 0 } {
        // Every push is of new content (a re-push of a stored blob measures deduplication, not
        // a push); both servers get the same bytes in a round.
        let blob = pseudo_random(BIG_BLOB, 2 * round as u64 + 1);
        let digest = sha256(&blob);
        let chunked_blob = pseudo_random(BIG_BLOB, 2 * round as u64 + 2);
        let chunked_digest = sha256(&chunked_blob);
        // Interleave: who goes first alternates from round to round.
        if round > 0 {
            targets.reverse();
        }
        for target in &targets {
            let mut conn = connect(target.addr).await.unwrap();
            let repo = format!("bench/big{round}");
            empty_page_cache();
            let start = Instant::now();
            push_blob(&mut conn, &format!("{repo}-mono"), &blob, &digest, None).await;
            table.add_transfer(
                "256 MiB blob push, monolithic",
                target.name,
                start.elapsed(),
            );
            settle();
            let start = Instant::now();
            let chunked_repo = format!("{repo}-chunked");
            push_blob(
                &mut conn,
                &chunked_repo,
                &chunked_blob,
                &chunked_digest,
                Some(CHUNK),
            )
            .await;
            table.add_transfer(
                "256 MiB blob push, 8 MiB chunks",
                target.name,
                start.elapsed(),
            );
            settle();
        }
        // A hot blob, as a popular layer is: the first read after the push may come from the
        // disk (see `empty_page_cache`), the timed ones come from the page cache. Each server
        // serves its pulls back to back, as a registry under load does, and they are checked
        // after the batch (see `PULLS_PER_ROUND`).
        let path = format!("/v2/bench/big{round}-mono/blobs/{digest}");
        for target in &targets {
            fetch(target.addr, &path, &mut sinks[0]);
            let mut pulls = vec![];
            for sink in &mut sinks {
                let start = Instant::now();
                let (status, len) = fetch(target.addr, &path, sink);
                pulls.push((start.elapsed(), status, len));
            }
            for (sink, (elapsed, status, len)) in sinks.iter().zip(pulls) {
                assert_eq!((status, len), (StatusCode::OK, BIG_BLOB));
                assert_eq!(sha256(sink), digest);
                table.add_transfer("256 MiB blob pull", target.name, elapsed);
            }
        }
    }
    for target in targets.iter().filter(|_| wanted("blobs")) {
        table.add(
            "server peak RSS after 256 MiB pushes",
            target.name,
            target.rss_kib("VmHWM:") as f64 / 1024.0,
            "MiB",
            false,
        );
    }

    let mut seeded = vec![];
    for target in &targets {
        seeded.push((target.name, seed_image(target.addr).await));
    }
    // The same berth with pull tracking off, for the cost of tracking on manifest GETs.
    let untracked =
        wanted("api").then(|| start_berth("berth", "[lifecycle]\ntrack_pulls = false\n"));
    if let Some(untracked) = &untracked {
        wait_ready(untracked.addr).await;
        berth_login(untracked.addr).await;
        seed_image(untracked.addr).await;
    }
    for round in 0..if wanted("api") { ROUNDS } else { 0 } {
        if round > 0 {
            targets.reverse();
        }
        for target in &targets {
            let (_, (manifest, digest)) = seeded
                .iter()
                .find(|(name, _)| *name == target.name)
                .unwrap();
            let (manifest_len, digest) = (manifest.len(), digest.clone());
            let expected = digest.clone();
            let check_get = Arc::new(move |reply: &Reply| {
                reply.status == StatusCode::OK
                    && reply.body_digest == expected
                    && reply.headers["docker-content-digest"] == expected.as_str()
            });
            // Anonymous pulls of a public project, as Distribution without auth serves them.
            let path = "/v2/bench/app/manifests/v1.7.0";
            let get = load(target.addr, Method::GET, path, true, check_get.clone()).await;
            table.add_load("manifest GET by tag", target.name, &get);
            if target.name == "berth" {
                let with_token =
                    load(target.addr, Method::GET, path, false, check_get.clone()).await;
                let row = "manifest GET by tag, bearer token";
                table.add_load(row, target.name, &with_token);
                if let Some(untracked) = &untracked {
                    let off = load(untracked.addr, Method::GET, path, true, check_get).await;
                    table.add_load("manifest GET by tag, pull tracking off", "berth", &off);
                }
            }
            let head = load(
                target.addr,
                Method::HEAD,
                "/v2/bench/app/manifests/v1.7.0",
                true,
                Arc::new(move |reply: &Reply| {
                    reply.status == StatusCode::OK
                        && reply.headers["docker-content-digest"] == digest.as_str()
                        && reply.headers["content-length"] == manifest_len.to_string().as_str()
                }),
            )
            .await;
            table.add_load("manifest HEAD by tag", target.name, &head);
            let tags = load(
                target.addr,
                Method::GET,
                "/v2/bench/app/tags/list",
                true,
                Arc::new(|reply: &Reply| {
                    reply.status == StatusCode::OK && reply.body_len > TAGS * 8
                }),
            )
            .await;
            table.add_load("tags list (100 tags)", target.name, &tags);
        }
    }
    for round in 0..if wanted("small") { ROUNDS } else { 0 } {
        if round > 0 {
            targets.reverse();
        }
        for target in &targets {
            // As before every timed blob operation: nobody pays for earlier dirty pages.
            settle();
            let pushes = small_pushes(target.addr, round).await;
            table.add(
                "4 KiB blob pushes, 16 pushers",
                target.name,
                pushes,
                "pushes/s",
                true,
            );
        }
    }

    for round in 0..if wanted("heavy") { ROUNDS } else { 0 } {
        if round > 0 {
            targets.reverse();
        }
        for target in &targets {
            let (alone, _) = light_beside_heavy(target.addr, round, false).await;
            let (beside, heavy) = light_beside_heavy(target.addr, round, true).await;
            let p50 = |l: &[f64]| l[l.len() / 2];
            let name = target.name;
            table.add(
                "1-layer manifest PUT, alone, p50",
                name,
                p50(&alone),
                "ms",
                false,
            );
            let row = format!(
                "1-layer manifest PUT beside {}-reference PUTs, p50",
                HEAVY_LAYERS + 1
            );
            table.add(&row, name, p50(&beside), "ms", false);
            let row = format!(
                "1-layer manifest PUT beside {}-reference PUTs, p99",
                HEAVY_LAYERS + 1
            );
            table.add(&row, name, beside[beside.len() * 99 / 100], "ms", false);
            let row = format!("{}-reference manifests stored meanwhile", HEAVY_LAYERS + 1);
            table.add(&row, name, heavy as f64, "manifests", true);
        }
    }

    drop(untracked);
    if wanted("gc") {
        for n in GC_BLOBS {
            let row = format!("GC of {n} unreferenced blobs");
            table.add(&row, "berth", berth_gc(n).await.as_secs_f64(), "s", false);
            let elapsed = distribution_gc(n).as_secs_f64();
            table.add(&row, "distribution", elapsed, "s", false);
        }
    }

    if docker {
        let berth = targets.iter().find(|t| t.name == "berth").unwrap();
        let host = berth.addr.to_string();
        run(
            "docker",
            &["login", "-u", "admin", "-p", ADMIN_PASSWORD, &host],
            None,
        );
        for round in 0..ROUNDS {
            let image = build_image(round);
            if round > 0 {
                targets.reverse();
            }
            let tags: Vec<(&'static str, String)> = targets
                .iter()
                .map(|t| (t.name, format!("{}/bench/greeter:{round}", t.addr)))
                .collect();
            for (name, tag) in &tags {
                run("docker", &["tag", &image, tag], None);
                table.add(
                    "docker push, small image",
                    name,
                    timed("docker", &["push", tag]).as_secs_f64(),
                    "s",
                    false,
                );
            }
            let mut remove: Vec<&str> = vec!["rmi", &image];
            remove.extend(tags.iter().map(|(_, tag)| tag.as_str()));
            run("docker", &remove, None);
            for (name, tag) in &tags {
                table.add(
                    "docker pull, small image",
                    name,
                    timed("docker", &["pull", tag]).as_secs_f64(),
                    "s",
                    false,
                );
                run("docker", &["rmi", tag], None);
            }
        }
    } else {
        eprintln!(
            "DOCKER_HOST is not set: the docker push/pull rows are left out (bench/run sets it)"
        );
    }
    for target in &targets {
        table.add(
            "server peak RSS over the whole run",
            target.name,
            target.rss_kib("VmHWM:") as f64 / 1024.0,
            "MiB",
            false,
        );
    }

    let images = wanted("images").then(go_image_figures);
    println!("{}", table.render());
    if let Some(figures) = images {
        println!("\nGo image tools (berth only; no other registry takes part):\n");
        for (row, value, unit) in figures {
            println!("| {row} | {value:.2} {unit} |");
        }
    }
    if std::env::var_os("BENCH_SAMPLES").is_some() {
        for row in &table.rows {
            println!(
                "{}: berth {:?} distribution {:?}",
                row.name, row.berth, row.distribution
            );
        }
    }
    // Figures below the table, from the medians of berth's rounds: the anonymous manifest GET
    // against the same request with a token and against a berth without pull tracking, and the
    // monolithic push against the SHA-256 ceiling.
    let berth_median = |name: &str| {
        let row = table.rows.iter().find(|r| r.name == name)?;
        Some(median(&row.berth))
    };
    let load_median = |name: &str| berth_median(&format!("{name}, {LOAD_CONNECTIONS} connections"));
    let anonymous = load_median("manifest GET by tag");
    if let (Some(a), Some(b)) = (anonymous, load_median("manifest GET by tag, bearer token")) {
        println!(
            "berth manifest GET with a bearer token: {b:.0} req/s, {:.1}% of the anonymous {a:.0} req/s",
            b / a * 100.0
        );
    }
    let untracked = load_median("manifest GET by tag, pull tracking off");
    if let (Some(on), Some(off)) = (anonymous, untracked) {
        println!(
            "berth manifest GET with pull tracking: {on:.0} req/s, {:.1}% of {off:.0} req/s without",
            on / off * 100.0
        );
    }
    let push = berth_median("256 MiB blob push, monolithic");
    match sha_rate {
        Some(rate) => {
            println!(
                "single-core SHA-256 (openssl speed -evp sha256, 16 KiB blocks): {rate:.0} MiB/s"
            );
            if let Some(push) = push {
                let share = push / rate * 100.0;
                println!("berth monolithic push: {share:.0}% of that ceiling");
            }
        }
        None => println!("openssl speed did not run: no SHA-256 ceiling"),
    }
}

/// `git ARGS` in `dir` as a fixed author at a fixed time.
fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@berth.invalid")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@berth.invalid")
        .env("GIT_AUTHOR_DATE", "2026-01-02T03:04:05Z")
        .env("GIT_COMMITTER_DATE", "2026-01-02T03:04:05Z")
        .stdout(Stdio::null())
        .status()
        .expect("git is installed");
    assert!(status.success(), "git {args:?}");
}

/// `berth ARGS` in `dir`; its stdout.
fn berth(dir: &Path, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .current_dir(dir)
        .stderr(Stdio::null())
        .output()
        .expect("berth runs");
    assert!(output.status.success(), "berth {args:?} failed");
    String::from_utf8(output.stdout).unwrap()
}

/// The compressed size of the single-platform image at the top of an OCI layout.
fn layout_image_bytes(layout: &Path) -> u64 {
    let read = |path: PathBuf| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    };
    let index = read(layout.join("index.json"));
    let digest = index["manifests"][0]["digest"].as_str().unwrap();
    let manifest = read(layout.join("blobs/sha256").join(&digest[7..]));
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|layer| layer["size"].as_u64().unwrap())
        .sum()
}

/// `berth build` and `berth analyze` figures: the net/http service (testdata/gohttp) built
/// again with a warm Go build cache; and analyze of a 100 MB image (the same service with
/// 200 MiB of hex text as static files, which gzip halves), read from an OCI layout.
fn go_image_figures() -> Vec<(String, f64, &'static str)> {
    let work = tempfile::tempdir().unwrap();
    let module = work.path().join("gohttp");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/gohttp");
    std::fs::create_dir_all(module.join("static")).unwrap();
    for file in ["main.go", "go.mod", "static/index.html"] {
        std::fs::copy(source.join(file), module.join(file)).unwrap();
    }
    git(&module, &["init", "-q", "-b", "main"]);
    git(&module, &["add", "-A"]);
    git(&module, &["commit", "-q", "-m", "bench"]);
    git(&module, &["tag", "v1.0.0"]);
    let mut figures = vec![];
    let build = |layout: &Path, extra: &[&str]| {
        let mut args = vec!["build", "--oci-layout", layout.to_str().unwrap()];
        args.extend_from_slice(extra);
        let start = Instant::now();
        berth(&module, &args);
        start.elapsed()
    };
    build(&work.path().join("warm-up"), &["--static", "static"]);
    let mut warm = vec![];
    for round in 0..ROUNDS {
        let layout = work.path().join(format!("warm-{round}"));
        warm.push(build(&layout, &["--static", "static"]).as_secs_f64());
    }
    warm.sort_by(f64::total_cmp);
    figures.push((
        "berth build of the net/http service, warm cache (median)".to_owned(),
        warm[warm.len() / 2],
        "s",
    ));
    figures.push((
        "image size of the net/http service (scratch + CA certificates), compressed".to_owned(),
        layout_image_bytes(&work.path().join("warm-0")) as f64 / 1e6,
        "MB",
    ));
    let statics = work.path().join("big-static");
    std::fs::create_dir_all(&statics).unwrap();
    for i in 0..10 {
        let text = hex::encode(pseudo_random(10 * MIB, 100 + i));
        std::fs::write(statics.join(format!("blob{i}.txt")), text).unwrap();
    }
    let big = work.path().join("big");
    build(&big, &["--static", statics.to_str().unwrap()]);
    let image = format!("oci:{}", big.display());
    let mut times = vec![];
    for _ in 0..ROUNDS {
        let start = Instant::now();
        berth(&module, &["analyze", "--format", "json", &image]);
        times.push(start.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    figures.push((
        format!(
            "berth analyze of a {:.0} MB image ({:.0} MB of files) from an OCI layout (median)",
            layout_image_bytes(&big) as f64 / 1e6,
            (20 * 10 * MIB) as f64 / 1e6
        ),
        times[times.len() / 2],
        "s",
    ));
    figures
}
