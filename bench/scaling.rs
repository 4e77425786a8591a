//! Rows that grow the stored work instead of the load: `berth serve` ready with 1,000,000
//! manifests stored; a page of the tags list and of the catalog at 100,000 tags in one
//! repository and 100,000 repositories against the same pages at 100; and `berth gc` of
//! 1,000,000 unreferenced blobs beside a serving berth that takes pushes meanwhile. berth
//! only: the rows compare berth with itself at two sizes, and Distribution's GC cannot run
//! while its registry takes pushes.
//!
//! The stored rows are synthetic: written straight into berth's SQLite schema by SQL, since
//! pushing a million manifests or blobs through the API would take the benchmark's whole
//! budget. The manifests' contents do not hash to their digests (none of these rows reads a
//! manifest's content); the garbage blobs' bytes do.

use super::*;

/// Manifests stored for the ready row, spread over the repositories.
const MANIFESTS: usize = 1_000_000;
const SMALL: usize = 100;
const LARGE: usize = 100_000;
/// Restarts timed for the ready row.
const STARTS: usize = 3;
/// Unreferenced blobs for the GC row, and the connections pushing 4 KiB blobs meanwhile.
const GC_GARBAGE: usize = 1_000_000;
const GC_PUSHERS: usize = 4;

/// The rows, as `(row, value, unit)`.
pub(crate) async fn scaling_figures() -> Vec<(String, f64, &'static str)> {
    let mut figures = vec![];
    let mut pages = vec![];
    for (size, manifests) in [(SMALL, SMALL), (LARGE, MANIFESTS)] {
        let berth = start_berth("berth", "");
        wait_ready(berth.addr).await;
        berth_login(berth.addr).await;
        let data = berth.stop();
        seed(&data.path().join("data/meta.db"), size, manifests).await;
        let mut ready = vec![];
        let mut data = data;
        for _ in 0..STARTS {
            let started = Instant::now();
            let berth = start_berth_in("berth", data, "");
            wait_ready_closely(berth.addr).await;
            ready.push(started.elapsed().as_secs_f64() * 1000.0);
            data = berth.stop();
        }
        if manifests == MANIFESTS {
            let row =
                format!("berth serve ready with {manifests} manifests stored (median of {STARTS})");
            figures.push((row, median(&ready), "ms"));
        }
        let berth = start_berth_in("berth", data, "");
        wait_ready(berth.addr).await;
        keep_admin_token(berth.addr, "registry:catalog:*").await;
        // A page of 100 from the middle (from the start at 100: the whole list).
        let (tags_last, repos_last) = match size {
            SMALL => (String::new(), String::new()),
            _ => (
                format!("&last=t{:06}", size / 2),
                format!("&last=scale/r{:06}", size / 2),
            ),
        };
        let tags = format!("/v2/scale/tags/tags/list?n=100{tags_last}");
        let catalog = format!("/v2/_catalog?n=100{repos_last}");
        // The tags list anonymously (a public project), the catalog with a token for it.
        for (what, path, key, anonymous) in [
            ("tags list", tags, "tags", true),
            ("catalog", catalog, "repositories", false),
        ] {
            let check = Arc::new(move |reply: &Reply| {
                reply.status == StatusCode::OK
                    && serde_json::from_slice::<serde_json::Value>(&reply.body)
                        .is_ok_and(|v| v[key].as_array().is_some_and(|a| a.len() == 100))
            });
            let run = load(berth.addr, Method::GET, &path, anonymous, check).await;
            let row =
                format!("{what} page of 100 at {size} (req/s, {LOAD_CONNECTIONS} connections)");
            pages.push((row, run.per_second, "req/s"));
        }
    }
    figures.extend(pages);
    figures.extend(gc_beside_pushes().await);
    figures
}

/// Times `berth gc` of `GC_GARBAGE` unreferenced blobs (old, so past the grace period) beside
/// a serving berth on the same data directory, while `GC_PUSHERS` connections push 4 KiB
/// blobs; every blob pushed meanwhile must survive, and nothing else.
async fn gc_beside_pushes() -> Vec<(String, f64, &'static str)> {
    let berth = start_berth("berth", "");
    wait_ready(berth.addr).await;
    berth_login(berth.addr).await;
    let data = berth.stop();
    let root = data.path().join("data");
    seed_garbage(&root, GC_GARBAGE).await;
    let berth = start_berth_in("berth", data, "");
    wait_ready(berth.addr).await;
    keep_admin_token(berth.addr, "repository:*:pull,push,delete").await;

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pushing = Instant::now();
    let mut pushers = vec![];
    for pusher in 0..GC_PUSHERS {
        let (stop, addr) = (stop.clone(), berth.addr);
        pushers.push(tokio::spawn(async move {
            let mut conn = connect(addr).await.unwrap();
            let mut pushed = vec![];
            while !stop.load(Ordering::Relaxed) {
                // Odd and distinct: `pseudo_random` sets the low bit of its seed.
                let seed = ((pusher * 10_000_000 + pushed.len()) as u64) * 2 + 1;
                let blob = pseudo_random(SMALL_BLOB, seed);
                pushed.push(push_small(&mut conn, "bench/beside-gc", blob).await);
            }
            pushed
        }));
    }
    // Pushes going on before the GC starts.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let config = berth._data.path().join("berth.toml");
    let mut gc = tokio::process::Command::new(env!("CARGO_BIN_EXE_berth"));
    gc.arg("gc")
        .arg("--data-dir")
        .arg(&root)
        .arg("--config")
        .arg(&config)
        .env("BERTH_LOG", "warn")
        .stdout(Stdio::piped());
    let started = Instant::now();
    let output = gc.output().await.expect("berth gc runs");
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let mut pushed = vec![];
    for pusher in pushers {
        pushed.extend(pusher.await.unwrap());
    }
    // Over the whole time the pushers ran: from before the GC started until it ended.
    let pushing = pushing.elapsed();
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "berth gc failed: {report}");
    assert!(
        report.starts_with(&format!("removed {GC_GARBAGE} blobs ")),
        "berth gc: {report}"
    );
    // What was pushed is there; the garbage is gone.
    let mut conn = connect(berth.addr).await.unwrap();
    for digest in &pushed {
        let path = format!("/v2/bench/beside-gc/blobs/{digest}");
        let (status, _) = request(&mut conn, Method::HEAD, &path, &[], Bytes::new()).await;
        assert_eq!(status, StatusCode::OK, "{digest} was pushed during the GC");
    }
    assert_eq!(count_files(&root.join("blobs")), pushed.len());
    vec![
        (
            format!("berth gc of {GC_GARBAGE} unreferenced blobs, {GC_PUSHERS} pushers running"),
            elapsed.as_secs_f64(),
            "s",
        ),
        (
            "4 KiB pushes stored beside that GC".to_owned(),
            pushed.len() as f64 / pushing.as_secs_f64(),
            "pushes/s",
        ),
    ]
}

/// Stores `n` garbage blobs in the data directory `root` of a stopped berth: the bytes in the
/// blob store's layout, and a row for each in the metadata store, created and last touched at
/// the epoch and linked to no repository (what GC finds after the manifests and links that
/// held them are gone).
async fn seed_garbage(root: &Path, n: usize) {
    use sqlx::Connection;
    let blobs = root.join("blobs/sha256");
    let digests: Vec<(String, usize)> = std::thread::scope(|scope| {
        let writers: Vec<_> = (0..2)
            .map(|part| {
                let blobs = &blobs;
                scope.spawn(move || {
                    let mut digests = vec![];
                    for i in (part..n).step_by(2) {
                        let (bytes, hex) = garbage(i);
                        let dir = blobs.join(&hex[..2]);
                        std::fs::create_dir_all(&dir).unwrap();
                        std::fs::write(dir.join(&hex), &bytes).unwrap();
                        digests.push((hex, bytes.len()));
                    }
                    digests
                })
            })
            .collect();
        writers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let url = format!("sqlite://{}", root.join("meta.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let mut tx = conn.begin().await.unwrap();
    for chunk in digests.chunks(1000) {
        let values: Vec<String> = chunk
            .iter()
            .map(|(hex, len)| format!("('sha256:{hex}', {len}, 0, 0)"))
            .collect();
        let statement = format!(
            "INSERT INTO blobs (digest, size, created_at, touched_at) VALUES {}",
            values.join(",")
        );
        sqlx::query(&statement).execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
    conn.close().await.unwrap();
}

/// Polls `/v2/` every millisecond until berth answers, for the ready row.
async fn wait_ready_closely(addr: SocketAddr) {
    for _ in 0..10_000 {
        if let Ok(mut conn) = connect(addr).await {
            let status = request(&mut conn, Method::GET, "/v2/", &[], Bytes::new())
                .await
                .0;
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::OK {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("berth at {addr} did not come up");
}

/// Stores, in the stopped berth's database: the public project `scale` with `size`
/// repositories holding `manifests` manifests between them, and the repository `scale/tags`
/// with one manifest and `size` tags naming it.
async fn seed(db: &Path, size: usize, manifests: usize) {
    use sqlx::Connection;
    let url = format!("sqlite://{}", db.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let statements = [
        "INSERT INTO projects (name, public, created_at) VALUES ('scale', 1, 0)".to_owned(),
        format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {size})
             INSERT INTO repositories (name) SELECT printf('scale/r%06d', i) FROM n"
        ),
        format!(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {manifests} - 1)
             INSERT INTO manifests (repository_id, digest, media_type, content, created_at, size)
             SELECT r.id, printf('sha256:%064x', i), 'application/vnd.oci.image.manifest.v1+json',
                    CAST(printf('{{\"schemaVersion\":2,\"n\":%d}}', i) AS BLOB), 0, 30
             FROM n JOIN repositories r ON r.name = printf('scale/r%06d', 1 + i % {size})"
        ),
        "INSERT INTO repositories (name) VALUES ('scale/tags')".to_owned(),
        "INSERT INTO manifests (repository_id, digest, media_type, content, created_at, size)
         SELECT id, 'sha256:' || printf('%064d', 0), 'application/vnd.oci.image.manifest.v1+json',
                CAST('{\"schemaVersion\":2}' AS BLOB), 0, 19
         FROM repositories WHERE name = 'scale/tags'"
            .to_owned(),
        format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {size})
             INSERT INTO tags (repository_id, name, digest, updated_at)
             SELECT r.id, printf('t%06d', i), 'sha256:' || printf('%064d', 0), 0
             FROM n, repositories r WHERE r.name = 'scale/tags'"
        ),
    ];
    let mut tx = conn.begin().await.unwrap();
    for statement in &statements {
        sqlx::query(statement).execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
    conn.close().await.unwrap();
}
