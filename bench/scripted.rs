//! The second load client: `scripted.py`, Python's http.client as scripts use it (one
//! connection per pusher, each request body in one call), run as a child process per
//! measurement. It times its own work; this side passes the arguments and reads the figure.

use super::*;

/// Runs `scripted.py ARGS` against `addr` with that registry's `Authorization`, and returns the
/// number it reports under `key`.
fn scripted(addr: SocketAddr, args: &[&str], key: &str) -> f64 {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/scripted.py");
    let output = Command::new("python3")
        .arg(script)
        .args(args)
        .env(
            "BENCH_AUTHORIZATION",
            authorization_for(addr).unwrap_or_default(),
        )
        .stderr(Stdio::inherit())
        .output()
        .expect("python3 runs (bench/run installs it)");
    assert!(output.status.success(), "scripted.py {args:?} failed");
    let figures: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    figures[key].as_f64().unwrap()
}

/// Pushes the blob in `file` (POST, then one PUT or PATCHes of `chunk` bytes and a PUT);
/// returns the time the push took.
pub(crate) fn scripted_push(
    addr: SocketAddr,
    repo: &str,
    file: &Path,
    digest: &str,
    chunk: Option<usize>,
) -> Duration {
    let chunk = chunk.unwrap_or(0).to_string();
    let file = file.to_str().unwrap();
    let args = ["push", &addr.to_string(), repo, file, digest, &chunk];
    Duration::from_secs_f64(scripted(addr, &args, "seconds"))
}

/// GETs `path` over a fresh connection, read whole, and checks its digest; returns the time the
/// GET took.
pub(crate) fn scripted_pull(addr: SocketAddr, path: &str, digest: &str) -> Duration {
    let args = ["pull", &addr.to_string(), path, digest];
    Duration::from_secs_f64(scripted(addr, &args, "seconds"))
}

/// `SMALL_PUSHES` distinct 4 KiB blobs (`POST`, `PATCH`, `PUT`) from `SMALL_PUSHERS` threads,
/// each with its own connection; returns pushes per second.
pub(crate) fn scripted_small_pushes(addr: SocketAddr, round: usize) -> f64 {
    let (count, pushers) = (SMALL_PUSHES.to_string(), SMALL_PUSHERS.to_string());
    let (size, seed) = (SMALL_BLOB.to_string(), (round + 1000).to_string());
    let addr_text = addr.to_string();
    let args = [
        "small",
        &addr_text,
        "bench/scripted-small",
        &count,
        &pushers,
        &size,
        &seed,
    ];
    scripted(addr, &args, "per_second")
}

/// The blob rows again with the scripted client, after the Rust client's: pushes (monolithic
/// and chunked) and pulls of new content each round, the pull's ceiling (nginx pulled by the
/// same client, the better mode), and the servers' peak RSS over these rounds alone.
pub(crate) async fn scripted_blob_rounds(targets: &mut [Target; 2], table: &mut Table) {
    const MONO: &str = "256 MiB blob push, monolithic, scripted client";
    const CHUNKED: &str = "256 MiB blob push, 8 MiB chunks, scripted client";
    const PULL: &str = "256 MiB blob pull, scripted client";
    for target in targets.iter() {
        target.reset_peak();
    }
    let dir = tempfile::tempdir().unwrap();
    let (file, chunked_file) = (dir.path().join("mono"), dir.path().join("chunked"));
    for round in 0..BLOB_ROUNDS {
        let blob = pseudo_random(BIG_BLOB, 2 * round as u64 + 101);
        let chunked_blob = pseudo_random(BIG_BLOB, 2 * round as u64 + 102);
        let (digest, chunked_digest) = (sha256(&blob), sha256(&chunked_blob));
        std::fs::write(&file, &blob).unwrap();
        std::fs::write(&chunked_file, &chunked_blob).unwrap();
        if round > 0 {
            targets.reverse();
        }
        let repo = format!("bench/scripted{round}");
        for target in targets.iter() {
            empty_page_cache();
            let mono = format!("{repo}-mono");
            let elapsed = scripted_push(target.addr, &mono, &file, &digest, None);
            table.add_transfer(MONO, target.name, elapsed);
            settle();
            let chunked = format!("{repo}-chunked");
            let elapsed = scripted_push(
                target.addr,
                &chunked,
                &chunked_file,
                &chunked_digest,
                Some(CHUNK),
            );
            table.add_transfer(CHUNKED, target.name, elapsed);
            settle();
        }
        let path = format!("/v2/{repo}-mono/blobs/{digest}");
        for target in targets.iter() {
            scripted_pull(target.addr, &path, &digest);
            for _ in 0..PULLS_PER_ROUND {
                let elapsed = scripted_pull(target.addr, &path, &digest);
                table.add_transfer(PULL, target.name, elapsed);
            }
        }
        let mut best = 0.0f64;
        for sendfile in [true, false] {
            let nginx = Nginx::start(&blob, sendfile).await;
            scripted_pull(nginx.addr, "/blob", &digest);
            let rates: Vec<f64> = (0..PULLS_PER_ROUND)
                .map(|_| mib_per_second(BIG_BLOB, scripted_pull(nginx.addr, "/blob", &digest)))
                .collect();
            best = best.max(median(&rates));
        }
        table.add_ceiling(PULL, "nginx, the better mode", best);
    }
    for target in targets.iter() {
        let peak = target.rss_kib("VmHWM:") as f64 / 1024.0;
        let row = "server peak RSS in the scripted client's blob rounds";
        table.add(row, target.name, peak, "MiB", false);
    }
}
