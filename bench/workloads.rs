//! The workloads each row times: seeded images, pull load, small pushes, manifests beside heavy ones, GC of garbage, image builds.

use super::*;

/// Pushes the image used by the manifest and tag rows; returns the manifest and its digest.
pub(crate) async fn seed_image(addr: SocketAddr) -> (Bytes, String) {
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
pub(crate) struct Load {
    pub(crate) per_second: f64,
    pub(crate) p99: Duration,
}

/// Sends `method path` from `LOAD_CONNECTIONS` connections for `LOAD_DURATION`; `check` must hold
/// for every reply or the run panics. With `anonymous`, no `Authorization` is sent.
pub(crate) async fn load(
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
pub(crate) async fn small_pushes(addr: SocketAddr, round: usize) -> f64 {
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
                push_small(&mut conn, "bench/small", blob).await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    SMALL_PUSHES as f64 / started.elapsed().as_secs_f64()
}

/// Pushes `blob` to `repo` in three requests (POST, one PATCH, PUT), as Docker pushes a small
/// layer; returns its digest.
pub(crate) async fn push_small(conn: &mut Conn, repo: &str, blob: Bytes) -> String {
    let path = format!("/v2/{repo}/blobs/uploads/");
    let (status, headers) = request(conn, Method::POST, &path, &[], Bytes::new()).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let digest = sha256(&blob);
    let (status, headers) = request(conn, Method::PATCH, &location(&headers), &[], blob).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let put = with_digest(&location(&headers), &digest);
    let (status, headers) = request(conn, Method::PUT, &put, &[], Bytes::new()).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(headers["docker-content-digest"], digest.as_str());
    digest
}

/// A manifest of `layers` descriptors of `layer`, made distinct by `salt`.
pub(crate) fn manifest_of(config: &Bytes, layer: &Bytes, layers: usize, salt: &str) -> Bytes {
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
pub(crate) async fn light_beside_heavy(
    addr: SocketAddr,
    round: usize,
    heavy: bool,
) -> (Vec<f64>, usize) {
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
pub(crate) fn garbage(i: usize) -> (Vec<u8>, String) {
    let bytes = format!("garbage blob {i}").into_bytes();
    let hex = sha256(&bytes).trim_start_matches("sha256:").to_owned();
    (bytes, hex)
}

/// Times berth's GC of `n` blobs that a repository once held and no manifest references: the
/// bytes are written in the blob store's layout and linked through the metadata store, then
/// collected by the lifecycle service in-process (what `berth gc` runs).
pub(crate) async fn berth_gc(n: usize) -> Duration {
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
pub(crate) fn distribution_gc(n: usize) -> Duration {
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

pub(crate) fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .map(|e| e.unwrap().path())
            .map(|p| if p.is_dir() { count_files(&p) } else { 1 })
            .sum()
    })
}

/// Flushes dirty pages before a timed blob operation, so that neither server pays for the
/// other's writes (an fsync under ext4's ordered mode also flushes other files' data).
pub(crate) fn settle() {
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
pub(crate) fn empty_page_cache() {
    settle();
    std::fs::write("/proc/sys/vm/drop_caches", "1")
        .expect("the benchmark empties the page cache between rounds: run it as root");
}

pub(crate) fn mib_per_second(bytes: usize, elapsed: Duration) -> f64 {
    bytes as f64 / MIB as f64 / elapsed.as_secs_f64()
}

pub(crate) fn run(program: &str, args: &[&str], dir: Option<&Path>) {
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

pub(crate) fn timed(program: &str, args: &[&str]) -> Duration {
    let start = Instant::now();
    run(program, args, None);
    start.elapsed()
}

/// Builds the greeter image (testdata/greeter) with a payload unique to `round`.
pub(crate) fn build_image(round: usize) -> String {
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

/// `git ARGS` in `dir` as a fixed author at a fixed time.
pub(crate) fn git(dir: &Path, args: &[&str]) {
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
pub(crate) fn berth(dir: &Path, args: &[&str]) -> String {
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
pub(crate) fn layout_image_bytes(layout: &Path) -> u64 {
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
pub(crate) fn go_image_figures() -> Vec<(String, f64, &'static str)> {
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
