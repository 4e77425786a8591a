//! The registry benchmark: berth (release build) and CNCF Distribution (`docker-registry`) on
//! loopback, measured in one run with rounds interleaved, each figure checked (status, digest)
//! before it counts. Run it with `bench/run`, which installs and starts what it needs; see
//! `bench/README.md` for the rows and how to read them.

mod ceilings;
mod client;
mod scaling;
mod scripted;
mod table;
mod targets;
mod workloads;

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

use ceilings::*;
use client::*;
use scaling::*;
use scripted::*;
use table::*;
use targets::*;
use workloads::*;

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

#[tokio::main]
async fn main() {
    if let Some(routes) = std::env::var_os(MINIMAL_SERVER) {
        serve_minimal(Path::new(&routes)).await;
    }
    // `cargo bench --bench registry -- GROUP…` runs only those groups (blobs, api, small, heavy,
    // gc, docker, images, scaling).
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
        // The ceiling: nginx serving the same bytes from a file, pulled the same way; the
        // better of its two modes counts.
        let mut best = 0.0f64;
        for sendfile in [true, false] {
            let nginx = Nginx::start(&blob, sendfile).await;
            fetch(nginx.addr, "/blob", &mut sinks[0]);
            let mut rates = vec![];
            for sink in &mut sinks {
                let start = Instant::now();
                let (status, len) = fetch(nginx.addr, "/blob", sink);
                rates.push(mib_per_second(BIG_BLOB, start.elapsed()));
                assert_eq!((status, len), (StatusCode::OK, BIG_BLOB));
            }
            assert_eq!(
                sha256(&sinks[0]),
                digest,
                "nginx sendfile {}",
                nginx.sendfile
            );
            best = best.max(median(&rates));
        }
        table.add_ceiling("256 MiB blob pull", "nginx, the better mode", best);
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
    if wanted("blobs") {
        scripted_blob_rounds(&mut targets, &mut table).await;
    }
    if let Some(rate) = sha_rate.filter(|_| wanted("blobs")) {
        for row in [
            "256 MiB blob push, monolithic",
            "256 MiB blob push, 8 MiB chunks",
            "256 MiB blob push, monolithic, scripted client",
            "256 MiB blob push, 8 MiB chunks, scripted client",
        ] {
            table.add_ceiling(row, "single-core SHA-256", rate);
        }
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
    // The ceiling of the API rows: berth's own answers, served by a server that does nothing
    // else.
    let manifest_path = "/v2/bench/app/manifests/v1.7.0";
    let tags_path = "/v2/bench/app/tags/list";
    let minimal = if wanted("api") {
        let berth = targets.iter().find(|t| t.name == "berth").unwrap().addr;
        let routes = [
            canned_from(berth, manifest_path).await,
            canned_from(berth, tags_path).await,
        ];
        Some(MinimalServer::start(&routes).await)
    } else {
        None
    };
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
        if let Some(minimal) = &minimal {
            let what = "minimal hyper server";
            let (_, (manifest, digest)) = seeded.iter().find(|(n, _)| *n == "berth").unwrap();
            let (digest, len) = (digest.clone(), manifest.len());
            let check = Arc::new(move |reply: &Reply| {
                reply.status == StatusCode::OK
                    && reply.headers["docker-content-digest"] == digest.as_str()
                    && reply.headers["content-length"] == len.to_string().as_str()
            });
            for (row, method, path) in [
                ("manifest GET by tag", Method::GET, manifest_path),
                ("manifest HEAD by tag", Method::HEAD, manifest_path),
            ] {
                let ceiling = load(minimal.addr, method, path, true, check.clone()).await;
                table.add_load_ceiling(row, what, &ceiling);
            }
            let tags_ok = Arc::new(|reply: &Reply| {
                reply.status == StatusCode::OK && reply.body_len > TAGS * 8
            });
            let ceiling = load(minimal.addr, Method::GET, tags_path, true, tags_ok).await;
            table.add_load_ceiling("tags list (100 tags)", what, &ceiling);
        }
    }
    drop(minimal);
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
            settle();
            let pushes = scripted_small_pushes(target.addr, round);
            let row = "4 KiB blob pushes, 16 pushers, scripted client";
            table.add(row, target.name, pushes, "pushes/s", true);
        }
        settle();
        let rate =
            tokio::task::spawn_blocking(|| fsync_loop(SMALL_PUSHERS, SMALL_PUSHES, SMALL_BLOB))
                .await
                .unwrap();
        let what = "write, fsync, rename, dir fsync";
        table.add_ceiling("4 KiB blob pushes, 16 pushers", what, rate);
        table.add_ceiling("4 KiB blob pushes, 16 pushers, scripted client", what, rate);
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
    let scaling = if wanted("scaling") {
        Some(scaling_figures().await)
    } else {
        None
    };
    println!("{}", table.render());
    if let Some(figures) = images {
        println!("\nGo image tools (berth only; no other registry takes part):\n");
        for (row, value, unit) in figures {
            println!("| {row} | {value:.2} {unit} |");
        }
    }
    if let Some(figures) = scaling {
        println!(
            "\nScaling with stored work (berth only, synthetic rows; see bench/scaling.rs):\n"
        );
        for (row, value, unit) in figures {
            println!("| {row} | {value:.1} {unit} |");
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
    match sha_rate {
        Some(rate) => println!(
            "single-core SHA-256 (openssl speed -evp sha256, 16 KiB blocks), the push rows' ceiling: {rate:.0} MiB/s"
        ),
        None => println!("openssl speed did not run: no SHA-256 ceiling"),
    }
}
