//! What this machine can do at all, measured in the same run as the servers: a row's ceiling.
//! A minimal HTTP server (hyper, the same response bytes and headers as berth, no storage) for
//! the manifest and tags rows, and a write + fsync + rename + directory-fsync loop at the same
//! concurrency for the small pushes. The single-core SHA-256 rate bounds the pushes
//! (`table::openssl_sha256_rate`).

use std::convert::Infallible;

use super::*;

/// The environment variable that turns the benchmark binary into the minimal server: its value
/// is a directory of routes written by [`MinimalServer::start`].
pub(crate) const MINIMAL_SERVER: &str = "BENCH_MINIMAL_SERVER";

/// One canned response: what `GET path` answers (a `HEAD` gets the same head, no body).
pub(crate) struct Canned {
    pub(crate) path: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

/// The minimal server, a child process of its own (as berth and Distribution are, so that it
/// does not share the load client's runtime).
pub(crate) struct MinimalServer {
    pub(crate) addr: SocketAddr,
    child: Child,
    _routes: tempfile::TempDir,
}

impl Drop for MinimalServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl MinimalServer {
    pub(crate) async fn start(routes: &[Canned]) -> MinimalServer {
        let dir = tempfile::tempdir().unwrap();
        for (i, route) in routes.iter().enumerate() {
            let mut head = format!("{}\n", route.path);
            for (name, value) in &route.headers {
                writeln!(head, "{name}: {value}").unwrap();
            }
            std::fs::write(dir.path().join(format!("{i}.head")), head).unwrap();
            std::fs::write(dir.path().join(format!("{i}.body")), &route.body).unwrap();
        }
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let child = Command::new(std::env::current_exe().unwrap())
            .env(MINIMAL_SERVER, dir.path())
            .env("BENCH_MINIMAL_ADDR", addr.to_string())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        wait_listening(addr).await;
        MinimalServer {
            addr,
            child,
            _routes: dir,
        }
    }
}

async fn wait_listening(addr: SocketAddr) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the minimal server did not listen on {addr}");
}

/// Serves the routes in `dir` on `BENCH_MINIMAL_ADDR` until killed: HTTP/1.1 keep-alive, the
/// canned bytes, nothing else (an unknown path is a 404).
pub(crate) async fn serve_minimal(dir: &Path) -> ! {
    let mut routes: HashMap<String, (Vec<(String, String)>, Bytes)> = HashMap::new();
    for i in 0.. {
        let Ok(head) = std::fs::read_to_string(dir.join(format!("{i}.head"))) else {
            break;
        };
        let mut lines = head.lines();
        let path = lines.next().unwrap().to_owned();
        let headers = lines
            .filter_map(|l| l.split_once(": "))
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect();
        let body = Bytes::from(std::fs::read(dir.join(format!("{i}.body"))).unwrap());
        routes.insert(path, (headers, body));
    }
    let routes = Arc::new(routes);
    let addr: SocketAddr = std::env::var("BENCH_MINIMAL_ADDR")
        .unwrap()
        .parse()
        .unwrap();
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        stream.set_nodelay(true).unwrap();
        let routes = routes.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                    let routes = routes.clone();
                    async move {
                        let mut response = hyper::Response::builder();
                        let body = match routes.get(request.uri().path()) {
                            Some((headers, body)) => {
                                for (name, value) in headers {
                                    response = response.header(name.as_str(), value.as_str());
                                }
                                if request.method() == Method::HEAD {
                                    Bytes::new()
                                } else {
                                    body.clone()
                                }
                            }
                            None => {
                                response = response.status(StatusCode::NOT_FOUND);
                                Bytes::new()
                            }
                        };
                        Ok::<_, Infallible>(response.body(Full::new(body)).unwrap())
                    }
                });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The response berth gives to `GET path`, as a canned route (hop-by-hop and date headers
/// left out; `content-length` kept, so that a `HEAD` states it as berth's does).
pub(crate) async fn canned_from(addr: SocketAddr, path: &str) -> Canned {
    let mut conn = connect(addr).await.unwrap();
    conn.authorization = None;
    let accept = "application/vnd.docker.distribution.manifest.v2+json";
    let reply = send(
        &mut conn,
        Method::GET,
        path,
        &[("accept", accept)],
        Bytes::new(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{path}");
    assert_eq!(reply.body.len(), reply.body_len, "{path}: body over 64 KiB");
    let skip = ["date", "connection", "transfer-encoding"];
    let headers = reply
        .headers
        .iter()
        .filter(|(name, _)| !skip.contains(&name.as_str()))
        .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
        .collect();
    Canned {
        path: path.to_owned(),
        headers,
        body: reply.body,
    }
}

/// Files per second that `writers` threads commit as berth commits a small blob: write a
/// temporary file, fsync it, rename it into place, fsync the directory. `count` files of
/// `size` bytes in all, in a temporary directory on the same file system as the servers' data.
pub(crate) fn fsync_loop(writers: usize, count: usize, size: usize) -> f64 {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..writers {
            scope.spawn(|| {
                let staging = dir.path().join("staging");
                let blobs = dir.path().join("blobs");
                std::fs::create_dir_all(&staging).unwrap();
                std::fs::create_dir_all(&blobs).unwrap();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        break;
                    }
                    let bytes = pseudo_random(size, i as u64 + 11);
                    let temp = staging.join(format!("{i}.tmp"));
                    let mut file = std::fs::File::create(&temp).unwrap();
                    file.write_all(&bytes).unwrap();
                    file.sync_all().unwrap();
                    std::fs::rename(&temp, blobs.join(i.to_string())).unwrap();
                    std::fs::File::open(&blobs).unwrap().sync_all().unwrap();
                }
            });
        }
    });
    count as f64 / started.elapsed().as_secs_f64()
}

/// nginx from Debian serving one file, the pull rows' ceiling: with `sendfile` on (the kernel
/// copies from the page cache to the socket) or off (nginx reads into its buffers and writes,
/// as a registry does).
pub(crate) struct Nginx {
    pub(crate) addr: SocketAddr,
    pub(crate) sendfile: bool,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Nginx {
    /// Serves `bytes` as `/blob`.
    pub(crate) async fn start(bytes: &[u8], sendfile: bool) -> Nginx {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("www");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(root.join("blob"), bytes).unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let sendfile = if sendfile { "on" } else { "off" };
        let config = format!(
            "user root;\nworker_processes 1;\npid {dir}/nginx.pid;\nerror_log {dir}/error.log;\n\
             events {{ worker_connections 64; }}\n\
             http {{ access_log off; sendfile {sendfile}; tcp_nopush on;\n\
             server {{ listen {addr}; root {root}; location / {{ }} }} }}\n",
            dir = dir.path().display(),
            root = root.display(),
        );
        let conf = dir.path().join("nginx.conf");
        std::fs::write(&conf, config).unwrap();
        let child = Command::new("nginx")
            .args(["-g", "daemon off; master_process off;", "-c"])
            .arg(&conf)
            .arg("-p")
            .arg(dir.path())
            .stdout(Stdio::null())
            .spawn()
            .expect("nginx runs (bench/run installs it)");
        wait_listening(addr).await;
        Nginx {
            addr,
            sendfile: sendfile == "on",
            child,
            _dir: dir,
        }
    }
}
