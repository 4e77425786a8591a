//! Shared test fixtures: in-process servers on temp data directories, the `berth` binary as a
//! child process, and helpers for real command-line clients.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use berth::config::Config;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The password of `admin` in every test server.
pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";

/// A test configuration over `data_dir`: the known admin password, projects created on push.
pub fn test_config(data_dir: &Path) -> Config {
    let mut config = Config {
        data_dir: data_dir.to_owned(),
        ..Config::default()
    };
    config.auth.admin_password = Some(ADMIN_PASSWORD.to_owned());
    config.auth.auto_create_projects = true;
    // Read the store on every request, so that a change made by `berth admin` or another
    // replica shows at once and no test waits out a cache.
    config.cache_ttl_ms = 0;
    config
}

/// The configuration file `BerthProcess` starts with unless a test names its own: what
/// `test_config` sets that has no flag.
fn process_config() -> &'static Path {
    static FILE: std::sync::OnceLock<tempfile::TempPath> = std::sync::OnceLock::new();
    FILE.get_or_init(|| {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut file, b"cache_ttl_ms = 0\n").unwrap();
        file.into_temp_path()
    })
}

/// An in-process server on `127.0.0.1:<random port>` over a data directory. Its `client`
/// carries a token of `admin` for every repository, so that protocol tests speak the protocol.
pub struct TestServer {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    /// The token `client` sends, for requests written by hand.
    pub token: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Starts a server over `data_dir`.
    pub async fn start(data_dir: &Path) -> TestServer {
        TestServer::start_with(&test_config(data_dir)).await
    }

    /// Starts a server with `config`, on a random port whatever `config.listen` says.
    pub async fn start_with(config: &Config) -> TestServer {
        let app = berth::app(config).await.expect("stores open").router;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let options = berth::server::ServeOptions::of(config, None);
        let task = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            berth::server::serve(listener, app, options, shutdown)
                .await
                .unwrap();
        });
        let token = admin_token(&format!("http://{addr}")).await;
        let client = bearer_client(&token);
        TestServer {
            addr,
            client,
            token,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops the server and waits until it has let go of its connections.
    pub async fn stop(mut self) {
        self.begin_stop();
        self.stopped().await;
    }

    /// Signals shutdown without waiting for it.
    pub fn begin_stop(&mut self) {
        self.stop.take().unwrap().send(()).unwrap();
    }

    /// Waits until the server has shut down.
    pub async fn stopped(mut self) {
        self.task.take().unwrap().await.unwrap();
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The server through `client`, the admin's token for every repository.
    pub fn api(&self) -> Api {
        Api::new(&self.url(""), &self.client)
    }
}

/// A token of `admin` for every repository and the catalog, from the token endpoint.
pub async fn admin_token(base: &str) -> String {
    let scopes = ["repository:*:pull,push,delete", "registry:catalog:*"];
    token_at(base, Some(("admin", ADMIN_PASSWORD)), &scopes)
        .await
        .expect("admin gets a token")
}

/// A registry token from the server at `base` for `scopes`, with Basic credentials or
/// anonymously; the status when the server refuses.
pub async fn token_at(
    base: &str,
    credentials: Option<(&str, &str)>,
    scopes: &[&str],
) -> Result<String, reqwest::StatusCode> {
    let mut query = vec![("service", "berth")];
    query.extend(scopes.iter().map(|scope| ("scope", *scope)));
    let mut request = reqwest::Client::new()
        .get(format!("{base}/auth/token"))
        .query(&query);
    if let Some((user, password)) = credentials {
        request = request.basic_auth(user, Some(password));
    }
    let response = request.send().await.unwrap();
    if response.status() != reqwest::StatusCode::OK {
        return Err(response.status());
    }
    let body: serde_json::Value = response.json().await.unwrap();
    Ok(body["token"].as_str().unwrap().to_owned())
}

/// An HTTP client that sends a token of `admin` for every repository.
pub async fn admin_client(base: &str) -> reqwest::Client {
    bearer_client(&admin_token(base).await)
}

/// An HTTP client that sends `token` with every request.
pub fn bearer_client(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    let bearer = format!("Bearer {token}").parse().unwrap();
    headers.insert(reqwest::header::AUTHORIZATION, bearer);
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

/// A Docker client configuration directory of its own, logged in to `host` as `admin`, so that
/// tests running at once never race on one `config.json`.
pub async fn docker_login(host: &str) -> TempDir {
    let config = tempfile::tempdir().unwrap();
    let dir = config.path().to_str().unwrap();
    run(
        "docker",
        &[
            "--config",
            dir,
            "login",
            "-u",
            "admin",
            "-p",
            ADMIN_PASSWORD,
            host,
        ],
    )
    .await;
    config
}

/// podman with image storage and credentials of its own (a temp dir), so that tests running at
/// once share nothing.
pub struct Podman {
    dir: TempDir,
}

impl Podman {
    pub fn new() -> Podman {
        Podman {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Runs `podman ARGS` on this storage; after `login`, registry commands use its auth file.
    pub async fn run(&self, args: &[&str]) -> String {
        let root = self.dir.path().join("root");
        let runroot = self.dir.path().join("run");
        let mut all = vec![
            "--root",
            root.to_str().unwrap(),
            "--runroot",
            runroot.to_str().unwrap(),
        ];
        all.extend_from_slice(args);
        run("podman", &all).await
    }

    /// `podman login` as `user`, keeping the credentials in this instance's auth file.
    pub async fn login(&self, host: &str, user: &str, password: &str) {
        let auth_file = self.auth_file();
        let args = ["login", "--tls-verify=false", "--authfile", &auth_file];
        self.run(&[&args[..], &["-u", user, "-p", password, host]].concat())
            .await;
    }

    /// `podman COMMAND --tls-verify=false --authfile … REFERENCE` (pull, push).
    pub async fn registry(&self, command: &str, reference: &str) {
        let auth_file = self.auth_file();
        let args = [
            command,
            "--tls-verify=false",
            "--authfile",
            &auth_file,
            reference,
        ];
        self.run(&args).await;
    }

    fn auth_file(&self) -> String {
        self.dir
            .path()
            .join("auth.json")
            .to_str()
            .unwrap()
            .to_owned()
    }
}

/// The `admin:<password>` pair skopeo and podman take as `--creds`.
pub fn admin_creds() -> String {
    format!("admin:{ADMIN_PASSWORD}")
}

/// A fresh data directory with a server on it.
pub async fn server() -> (TempDir, TestServer) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    (dir, server)
}

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The `berth serve` binary as a child process, as users run it.
pub struct BerthProcess {
    pub addr: SocketAddr,
    pub child: tokio::process::Child,
    data: TempDir,
    /// Everything the process logged to stderr so far.
    output: std::sync::Arc<std::sync::Mutex<String>>,
}

impl BerthProcess {
    pub async fn start() -> BerthProcess {
        BerthProcess::start_fresh(&[]).await
    }

    /// `berth serve` on a random port and a new data directory, with `extra` arguments.
    pub async fn start_fresh(extra: &[&str]) -> BerthProcess {
        let data = tempfile::tempdir().unwrap();
        let path = data.path().to_str().unwrap().to_owned();
        let mut args: Vec<String> = ["--listen", "127.0.0.1:0", "--data-dir", &path]
            .map(String::from)
            .to_vec();
        args.extend(extra.iter().map(|a| a.to_string()));
        BerthProcess::start_with(data, &args, &[]).await
    }

    /// Runs `berth serve ARGS` with `ENV`; `data` lives as long as the process does.
    pub async fn start_with(data: TempDir, args: &[String], env: &[(&str, &str)]) -> BerthProcess {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_berth"))
            .arg("serve")
            .args(args)
            .env("BERTH_LOG_FORMAT", "json")
            .env("BERTH_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("BERTH_AUTO_CREATE_PROJECTS", "true")
            .env("BERTH_CONFIG", process_config())
            .envs(env.iter().copied())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the berth binary starts");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let output = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let addr = loop {
            let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
                .await
                .expect("berth logs its address within 30 s")
                .unwrap()
                .expect("berth exited before listening");
            output.lock().unwrap().push_str(&line);
            output.lock().unwrap().push('\n');
            if let Some((_, rest)) = line.split_once("berth listening on ") {
                let rest = rest.split_once("://").unwrap().1;
                break rest.split(['"', ' ']).next().unwrap().parse().unwrap();
            }
        };
        // Keep draining the log so that the child never blocks on a full pipe.
        let sink = output.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let mut sink = sink.lock().unwrap();
                sink.push_str(&line);
                sink.push('\n');
            }
        });
        BerthProcess {
            addr,
            child,
            data,
            output,
        }
    }

    /// What the process printed so far.
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// The data directory this process was started with.
    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }

    /// Kills the process the hard way (SIGKILL) and hands back its data directory.
    pub async fn crash(mut self) -> TempDir {
        self.child.kill().await.unwrap();
        self.data
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// An HTTP client carrying a token of `admin` for every repository.
    pub async fn client(&self) -> reqwest::Client {
        admin_client(&self.url("")).await
    }

    /// `127.0.0.1:<port>`, the registry host as clients name it.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Peak resident set size so far (`VmHWM`), in bytes.
    pub fn peak_rss(&self) -> u64 {
        status_kib(self.child.id().unwrap(), "VmHWM:") * 1024
    }

    /// Starts `VmHWM` over from the current RSS (`clear_refs`, Linux 4.0+), so that a later
    /// peak is that of what follows, not of a login's password hash before it.
    pub fn reset_peak_rss(&self) {
        let path = format!("/proc/{}/clear_refs", self.child.id().unwrap());
        std::fs::write(path, "5").unwrap();
    }

    /// Current resident set size (`VmRSS`), in bytes.
    pub fn rss(&self) -> u64 {
        status_kib(self.child.id().unwrap(), "VmRSS:") * 1024
    }
}

fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Runs a command to completion and returns its stdout; fails the test with its output if the
/// command is missing or fails. Real components are required: missing means broken, not skipped.
pub async fn run(program: &str, args: &[&str]) -> String {
    run_in(program, args, None).await
}

pub async fn run_in(program: &str, args: &[&str], dir: Option<&Path>) -> String {
    let mut command = tokio::process::Command::new(program);
    command.args(args).env("DOCKER_BUILDKIT", "0");
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    let output = command.output().await.unwrap_or_else(|e| {
        panic!("{program} is required (run the README's test command, which installs it): {e}")
    });
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{program} {args:?} failed with {}:\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Builds the Go test image with the Docker engine under `tag`.
pub async fn docker_build(tag: &str, greeting: &str) {
    let (_dir, context) = go_image_context(greeting).await;
    run_in("docker", &["build", "-q", "-t", tag, "."], Some(&context)).await;
}

/// A directory with a Docker build context: `testdata/greeter`, a static Go program compiled
/// here with the host's Go toolchain, and a Dockerfile that builds a three-layer image
/// `FROM scratch` around it.
pub async fn go_image_context(greeting: &str) -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    std::fs::write(root.join("greeting"), greeting).unwrap();
    std::fs::write(root.join("payload.bin"), vec![7u8; 256 * 1024]).unwrap();
    compile_go("greeter", &root, &["-trimpath"], "greeter").await;
    (dir, root)
}

/// Copies `testdata/<program>` into `dir` and compiles it there with the host's Go
/// (`CGO_ENABLED=0 go build FLAGS -o OUTPUT .`); returns the binary's path.
pub async fn compile_go(program: &str, dir: &Path, flags: &[&str], output: &str) -> PathBuf {
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata")
            .join(program),
        dir,
    );
    let mut args = vec!["build"];
    args.extend_from_slice(flags);
    args.extend(["-o", output, "."]);
    let gocache = std::env::temp_dir().join("berth-test-gocache");
    let built = tokio::process::Command::new("go")
        .args(&args)
        .current_dir(dir)
        .env("CGO_ENABLED", "0")
        .env("GOCACHE", &gocache)
        .output()
        .await
        .unwrap_or_else(|e| panic!("go (golang-go) is required: {e}"));
    assert!(
        built.status.success(),
        "go build: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    dir.join(output)
}

/// GETs `url` with `Accept: accept` and parses the JSON answer, failing the test on an error
/// status.
pub async fn get_json(client: &reqwest::Client, url: &str, accept: &str) -> serde_json::Value {
    let response = client
        .get(url)
        .header("Accept", accept)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "GET {url}: {}",
        response.status()
    );
    response.json().await.unwrap()
}

/// `berth admin ARGS` on `data`, with `stdin` as its input; returns stdout.
pub async fn berth_admin(data: &Path, args: &[&str], stdin: &str) -> String {
    let mut all = vec!["admin", "--data-dir", data.to_str().unwrap()];
    all.extend_from_slice(args);
    berth_cli(&all, stdin).await
}

/// `berth ARGS` (any subcommand) with `stdin` as its input; returns stdout, failing the test if
/// the command fails.
pub async fn berth_cli(args: &[&str], stdin: &str) -> String {
    let output = berth_output(args, stdin).await;
    assert!(
        output.status.success(),
        "berth {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// `berth ARGS` with `stdin` as its input, however it ends.
pub async fn berth_output(args: &[&str], stdin: &str) -> std::process::Output {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .env("BERTH_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .await
        .unwrap();
    child.wait_with_output().await.unwrap()
}

/// Runs a command that may fail; returns whether it succeeded and what it printed.
pub async fn attempt(program: &str, args: &[&str]) -> (bool, String) {
    let output = tokio::process::Command::new(program)
        .args(args)
        .output()
        .await
        .unwrap_or_else(|e| panic!("{program} is required: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// CNCF Distribution (Debian's `docker-registry`) on a free loopback port, filesystem storage
/// in a temp dir, and Basic auth from an htpasswd file when `basic` names a user and password;
/// killed on drop.
pub struct Distribution {
    pub addr: SocketAddr,
    _child: tokio::process::Child,
    _data: TempDir,
}

impl Distribution {
    pub async fn start(basic: Option<(&str, &str)>) -> Distribution {
        let data = tempfile::tempdir().unwrap();
        let mut auth = String::new();
        if let Some((user, password)) = basic {
            let htpasswd = run("htpasswd", &["-Bbn", user, password]).await;
            let path = data.path().join("htpasswd");
            std::fs::write(&path, htpasswd).unwrap();
            auth = format!(
                "auth:\n  htpasswd:\n    realm: basic-realm\n    path: {}\n",
                path.display()
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let config = data.path().join("config.yml");
        let yaml = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n{auth}http:\n  addr: {addr}\n",
            data.path().join("storage").display()
        );
        std::fs::write(&config, yaml).unwrap();
        let child = tokio::process::Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("docker-registry (Debian package) is required: run the README's test command");
        for _ in 0..100 {
            if reqwest::get(format!("http://{addr}/v2/")).await.is_ok() {
                return Distribution {
                    addr,
                    _child: child,
                    _data: data,
                };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("docker-registry did not come up on {addr}");
    }
}

/// What a `berth` command printed and whether it succeeded.
pub struct Outcome {
    pub ok: bool,
    /// The exit code, `None` if a signal ended the command.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// `berth ARGS` in `dir` with `env`, which may fail.
pub async fn berth_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Outcome {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .current_dir(dir)
        .envs(env.iter().copied())
        .output()
        .await
        .unwrap();
    Outcome {
        ok: output.status.success(),
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A git repository with `testdata/<program>` committed at a fixed time (so builds from it are
/// reproducible) and tagged `tag`, if given.
pub async fn go_repository(program: &str, tag: Option<&str>) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata")
            .join(program),
        dir.path(),
    );
    git(dir.path(), &["init", "-q", "-b", "main"]).await;
    git_commit(dir.path(), "import").await;
    if let Some(tag) = tag {
        git(dir.path(), &["tag", tag]).await;
    }
    dir
}

/// Copies the directory tree `from` to `to`.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// `git ARGS` in `dir`, as a fixed author at a fixed time.
pub async fn git(dir: &Path, args: &[&str]) -> String {
    let output = tokio::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "berth tests")
        .env("GIT_AUTHOR_EMAIL", "tests@berth.invalid")
        .env("GIT_COMMITTER_NAME", "berth tests")
        .env("GIT_COMMITTER_EMAIL", "tests@berth.invalid")
        .env("GIT_AUTHOR_DATE", "2026-01-02T03:04:05Z")
        .env("GIT_COMMITTER_DATE", "2026-01-02T03:04:05Z")
        .output()
        .await
        .expect("git is required");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Commits everything in `dir`.
pub async fn git_commit(dir: &Path, message: &str) {
    git(dir, &["add", "-A"]).await;
    git(dir, &["commit", "-q", "-m", message]).await;
}

/// The OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// One server as the tests speak to it: registry calls (`/v2`) with `client`'s credentials,
/// and the management API (`/api/v1`) with Basic credentials. Every suite pushes, pulls and
/// administers through this.
#[derive(Clone)]
pub struct Api {
    /// `http://host:port`.
    pub base: String,
    pub client: reqwest::Client,
}

impl Api {
    pub fn new(base: &str, client: &reqwest::Client) -> Api {
        Api {
            base: base.trim_end_matches('/').to_owned(),
            client: client.clone(),
        }
    }

    /// The same server with other credentials.
    pub fn with(&self, client: &reqwest::Client) -> Api {
        Api::new(&self.base, client)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Uploads `blob` to `name` in one request (`POST ?digest=`).
    pub async fn upload_blob(&self, name: &str, blob: Vec<u8>) -> reqwest::Response {
        let digest = sha256(&blob);
        self.client
            .post(self.url(&format!("/v2/{name}/blobs/uploads/?digest={digest}")))
            .body(blob)
            .send()
            .await
            .unwrap()
    }

    /// Pushes an image of `layers` (and a config naming `tag`) with monolithic uploads; returns
    /// the manifest's digest and the response to its `PUT`, or to the first upload refused.
    pub async fn push(
        &self,
        name: &str,
        tag: &str,
        layers: &[Vec<u8>],
    ) -> (String, reqwest::Response) {
        let config = format!("{{\"tag\":\"{tag}\"}}").into_bytes();
        let mut descriptors = Vec::new();
        for blob in std::iter::once(&config).chain(layers) {
            let digest = sha256(blob);
            let res = self.upload_blob(name, blob.clone()).await;
            if res.status() != StatusCode::CREATED {
                return (String::new(), res);
            }
            descriptors.push(json!({"digest": digest, "size": blob.len(),
                "mediaType": "application/vnd.oci.image.layer.v1.tar"}));
        }
        let mut config_descriptor = descriptors.remove(0);
        config_descriptor["mediaType"] = json!("application/vnd.oci.image.config.v1+json");
        let manifest = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": config_descriptor, "layers": descriptors})
        .to_string();
        let res = self
            .client
            .put(self.url(&format!("/v2/{name}/manifests/{tag}")))
            .header("content-type", OCI_MANIFEST)
            .body(manifest.clone())
            .send()
            .await
            .unwrap();
        (sha256(manifest.as_bytes()), res)
    }

    /// Pushes a one-layer image whose bytes name `name:tag`; the status of the first refused
    /// request, else of the manifest's `PUT`.
    pub async fn push_one(&self, name: &str, tag: &str) -> StatusCode {
        let layer = format!("layer of {name}:{tag}").into_bytes();
        self.push(name, tag, &[layer]).await.1.status()
    }

    /// `GET` (or `HEAD`) of a manifest, accepting OCI and Docker image manifests.
    pub async fn manifest(&self, method: Method, name: &str, reference: &str) -> reqwest::Response {
        self.client
            .request(
                method,
                self.url(&format!("/v2/{name}/manifests/{reference}")),
            )
            .header("accept", OCI_MANIFEST)
            .header(
                "accept",
                "application/vnd.docker.distribution.manifest.v2+json",
            )
            .send()
            .await
            .unwrap()
    }

    /// The digest `reference` resolves to, or `None` when it does not exist.
    pub async fn resolve(&self, name: &str, reference: &str) -> Option<String> {
        let res = self.manifest(Method::HEAD, name, reference).await;
        (res.status() == StatusCode::OK).then(|| {
            res.headers()["docker-content-digest"]
                .to_str()
                .unwrap()
                .to_owned()
        })
    }

    /// Pulls an image by tag and checks every blob's bytes against its digest.
    pub async fn pull_and_verify(&self, name: &str, tag: &str) {
        let res = self.manifest(Method::GET, name, tag).await;
        assert_eq!(res.status(), StatusCode::OK, "{name}:{tag}");
        let manifest: Value = res.json().await.unwrap();
        let layers = manifest["layers"].as_array().unwrap();
        for descriptor in std::iter::once(&manifest["config"]).chain(layers) {
            let digest = descriptor["digest"].as_str().unwrap();
            let res = self
                .client
                .get(self.url(&format!("/v2/{name}/blobs/{digest}")))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::OK, "{name}:{tag} blob {digest}");
            assert_eq!(sha256(&res.bytes().await.unwrap()), digest);
        }
    }

    /// A management API call with Basic credentials.
    pub async fn call(
        &self,
        (user, password): (&str, &str),
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = reqwest::Client::new()
            .request(method, self.url(&format!("/api/v1{path}")))
            .basic_auth(user, Some(password));
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    /// A management API call as `admin`: the status and the JSON body (`null` if none).
    pub async fn admin(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let res = self
            .call(("admin", ADMIN_PASSWORD), method, path, body)
            .await;
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// A management API call as `admin` that must succeed; its JSON body (`null` if none).
    pub async fn admin_ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, body) = self.admin(method, path, body).await;
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }
}

/// An OCI error response: its status and its first error's code and message.
#[derive(Debug)]
pub struct OciError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
}

/// Reads an OCI error response, checking its form: JSON with `errors[0].code` and a message.
pub async fn oci_error(response: reqwest::Response) -> OciError {
    let status = response.status();
    let content_type = response.headers().get("content-type").cloned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        content_type.as_ref().and_then(|v| v.to_str().ok()),
        Some("application/json"),
        "{body}"
    );
    let error = &body["errors"][0];
    assert!(error["message"].is_string(), "{body}");
    OciError {
        status,
        code: error["code"].as_str().unwrap_or("").to_owned(),
        message: error["message"].as_str().unwrap_or("").to_owned(),
    }
}

/// Asserts an OCI error response's status and code; its message.
pub async fn expect_error(response: reqwest::Response, status: StatusCode, code: &str) -> String {
    let error = oci_error(response).await;
    assert_eq!(
        (error.status, error.code.as_str()),
        (status, code),
        "{}",
        error.message
    );
    error.message
}
