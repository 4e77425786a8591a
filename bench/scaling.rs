//! Rows that grow the stored work instead of the load: `berth serve` ready with 1,000,000
//! manifests stored, and a page of the tags list and of the catalog at 100,000 tags in one
//! repository and 100,000 repositories against the same pages at 100. berth only: the rows
//! compare berth with itself at two sizes.
//!
//! The stored rows are synthetic: written straight into berth's SQLite schema by SQL (a
//! recursive `WITH`), since pushing a million manifests through the API would take the
//! benchmark's whole budget. Their contents do not hash to their digests; none of these rows
//! reads a manifest's content.

use super::*;

/// Manifests stored for the ready row, spread over the repositories.
const MANIFESTS: usize = 1_000_000;
const SMALL: usize = 100;
const LARGE: usize = 100_000;
/// Restarts timed for the ready row.
const STARTS: usize = 3;

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
        catalog_login(berth.addr).await;
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
    figures
}

/// Keeps an admin token for the catalog (`registry:catalog:*`) as `addr`'s authorization.
async fn catalog_login(addr: SocketAddr) {
    let basic = format!(
        "Basic {}",
        base64_encode(&format!("admin:{ADMIN_PASSWORD}"))
    );
    let mut conn = connect(addr).await.unwrap();
    let path = "/auth/token?service=berth&scope=registry:catalog:*";
    let reply = send(
        &mut conn,
        Method::GET,
        path,
        &[("authorization", &basic)],
        Bytes::new(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    let token = format!("Bearer {}", body["token"].as_str().unwrap());
    authorization().lock().unwrap().insert(addr, token);
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
