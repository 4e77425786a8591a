//! The two registries under test: started on free ports, waited for, logged in to.

use super::*;

/// The `Authorization` header each registry's requests carry: an admin token for berth (whose
/// `bench` project is public, so anonymous pulls work too), nothing for Distribution.
pub(crate) fn authorization() -> &'static Mutex<HashMap<SocketAddr, String>> {
    static TOKENS: OnceLock<Mutex<HashMap<SocketAddr, String>>> = OnceLock::new();
    TOKENS.get_or_init(Mutex::default)
}

pub(crate) fn authorization_for(addr: SocketAddr) -> Option<String> {
    authorization().lock().unwrap().get(&addr).cloned()
}

/// One registry under test, running as a child process.
pub(crate) struct Target {
    pub(crate) name: &'static str,
    pub(crate) addr: SocketAddr,
    pub(crate) child: Child,
    pub(crate) _data: tempfile::TempDir,
}

impl Target {
    /// Starts `VmHWM` over from the current RSS (`clear_refs`), so that the next peak read
    /// belongs to what runs after this call.
    pub(crate) fn reset_peak(&self) {
        std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5").unwrap();
    }

    /// Stops the registry and hands back its data directory.
    pub(crate) fn stop(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::mem::replace(&mut self._data, tempfile::tempdir().unwrap())
    }

    pub(crate) fn rss_kib(&self, field: &str) -> u64 {
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

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts berth with tokens that outlive the run, `extra` configuration, and everything else
/// as configured by default.
pub(crate) fn start_berth(name: &'static str, extra: &str) -> Target {
    start_berth_in(name, tempfile::tempdir().unwrap(), extra)
}

/// Starts berth on the data directory `data/data` (created on the first start, kept by
/// [`Target::stop`] for the next).
pub(crate) fn start_berth_in(name: &'static str, data: tempfile::TempDir, extra: &str) -> Target {
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

pub(crate) fn start_distribution() -> Target {
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

pub(crate) async fn wait_ready(addr: SocketAddr) {
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
pub(crate) async fn berth_login(addr: SocketAddr) {
    let mut conn = connect(addr).await.unwrap();
    let project = Bytes::from_static(br#"{"name":"bench","public":true}"#);
    let basic = admin_basic();
    let headers = [
        ("authorization", basic.as_str()),
        ("content-type", "application/json"),
    ];
    let path = "/api/v1/projects";
    let (status, _) = request(&mut conn, Method::POST, path, &headers, project).await;
    assert_eq!(status, StatusCode::CREATED);
    keep_admin_token(addr, "repository:*:pull,push,delete").await;
}

/// Keeps an admin token for `scope` as `addr`'s authorization.
pub(crate) async fn keep_admin_token(addr: SocketAddr, scope: &str) {
    let mut conn = connect(addr).await.unwrap();
    let path = format!("/auth/token?service=berth&scope={scope}");
    let basic = admin_basic();
    let headers = [("authorization", basic.as_str())];
    let reply = send(&mut conn, Method::GET, &path, &headers, Bytes::new()).await;
    assert_eq!(reply.status, StatusCode::OK);
    let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    let token = body["token"].as_str().unwrap();
    authorization()
        .lock()
        .unwrap()
        .insert(addr, format!("Bearer {token}"));
}

fn admin_basic() -> String {
    format!(
        "Basic {}",
        base64_encode(&format!("admin:{ADMIN_PASSWORD}"))
    )
}

fn base64_encode(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}
