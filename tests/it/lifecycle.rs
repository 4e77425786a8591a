//! The lifecycle against real clients and the `berth` binary: the tag policy through
//! `docker push`, promotion, quotas and size budgets, and garbage collection racing pushes and
//! surviving a `kill -9`, each followed by fsck.

use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{
    Api, BerthProcess, OCI_MANIFEST, OciError, TestServer, attempt, berth_admin, berth_cli,
    docker_build, docker_login, oci_error, run, sha256, token_at,
};

fn blob_exists(data: &Path, digest: &str) -> bool {
    let hex = digest.strip_prefix("sha256:").unwrap();
    data.join("blobs/sha256").join(&hex[..2]).join(hex).exists()
}

fn staged_uploads(data: &Path) -> usize {
    std::fs::read_dir(data.join("uploads")).unwrap().count()
}

#[tokio::test(flavor = "multi_thread")]
async fn releases_are_immutable_aliases_follow_and_latest_moves_on_promotion() {
    let berth = BerthProcess::start().await;
    let (host, base) = (berth.host(), berth.url(""));
    let data = berth.data_dir().to_owned();
    berth_admin(&data, &["project", "create", "team"], "").await;
    let config = docker_login(&host).await;
    let config = config.path().to_str().unwrap();
    let repo = format!("{host}/team/app");
    for (tag, greeting) in [
        ("v1.4.0", "one"),
        ("v1.4.1", "two"),
        ("v1.5.0-rc.1", "three"),
    ] {
        let image = format!("{repo}:{tag}");
        docker_build(&image, greeting).await;
        run("docker", &["--config", config, "push", &image]).await;
    }
    let client = berth.client().await;
    let digest = async |reference: &str| {
        Api::new(&base, &client)
            .resolve("team/app", reference)
            .await
    };
    let (v140, v141) = (
        digest("v1.4.0").await.unwrap(),
        digest("v1.4.1").await.unwrap(),
    );
    // Aliases follow the newest stable release of their line; the pre-release moves nothing,
    // and `latest` waits for a promotion.
    assert_eq!(digest("v1.4").await.as_ref(), Some(&v141));
    assert_eq!(digest("v1").await.as_ref(), Some(&v141));
    assert_eq!(digest("v1.5").await, None);
    assert_eq!(digest("latest").await, None);

    // Moving a release is refused with DENIED, naming the rule; the tag stays where it was.
    let moved = format!("{repo}:v1.4.0");
    run("docker", &["tag", &format!("{repo}:v1.5.0-rc.1"), &moved]).await;
    let (pushed, output) = attempt("docker", &["--config", config, "push", &moved]).await;
    assert!(!pushed, "moving a release must fail: {output}");
    assert!(output.contains("immutable release"), "{output}");
    assert_eq!(digest("v1.4.0").await.as_ref(), Some(&v140));

    // Promotion moves `latest`; both automatic moves and the promotion are audited.
    let promoted = berth_cli(
        &[
            "promote",
            "--data-dir",
            data.to_str().unwrap(),
            "team/app",
            "v1.4.1",
        ],
        "",
    )
    .await;
    assert!(promoted.contains(&v141), "{promoted}");
    assert_eq!(digest("latest").await.as_ref(), Some(&v141));
    let audit = berth_admin(&data, &["audit", "--project", "team"], "").await;
    for expected in [
        "tag v1.4 moved",
        "tag v1 moved",
        "latest promoted to v1.4.1",
    ] {
        assert!(
            audit.contains(expected),
            "{expected} missing from:\n{audit}"
        );
    }
    assert!(
        audit.contains("tag.follow\t") || audit.contains("\ttag.follow"),
        "{audit}"
    );

    // Deleting a release needs the project admin role: a maintainer may delete other tags,
    // not this one; admin may.
    berth_admin(&data, &["user", "add", "keeper"], "keeper-password-1234\n").await;
    berth_admin(
        &data,
        &["member", "set", "team", "keeper", "maintainer"],
        "",
    )
    .await;
    let token = token_at(
        &base,
        Some(("keeper", "keeper-password-1234")),
        &["repository:team/app:pull,push,delete"],
    )
    .await
    .unwrap();
    let keeper = crate::support::bearer_client(&token);
    let delete = async |client: &reqwest::Client, tag: &str| {
        client
            .delete(format!("{base}/v2/team/app/manifests/{tag}"))
            .send()
            .await
            .unwrap()
    };
    let OciError {
        status,
        code,
        message,
    } = oci_error(delete(&keeper, "v1.4.0").await).await;
    assert_eq!((status, code.as_str()), (StatusCode::FORBIDDEN, "DENIED"));
    assert!(message.contains("admin role"), "{message}");
    assert_eq!(delete(&keeper, "v1.4").await.status(), StatusCode::ACCEPTED);
    assert_eq!(
        delete(&client, "v1.4.0").await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(digest("v1.4.0").await, None);
    for tag in ["v1.4.0", "v1.4.1", "v1.5.0-rc.1"] {
        run("docker", &["rmi", &format!("{repo}:{tag}")]).await;
    }
}

/// A client of user `name` (added to `team` with `role`) holding every action on `team/app`.
async fn member(data: &Path, base: &str, name: &str, role: &str) -> reqwest::Client {
    let password = format!("{name}-password-1234");
    berth_admin(data, &["user", "add", name], &format!("{password}\n")).await;
    berth_admin(data, &["member", "set", "team", name, role], "").await;
    let scopes = ["repository:team/app:pull,push,delete"];
    let token = token_at(base, Some((name, &password)), &scopes)
        .await
        .unwrap();
    crate::support::bearer_client(&token)
}

#[tokio::test(flavor = "multi_thread")]
async fn release_content_and_managed_tags_cannot_be_changed_around_the_policy() {
    let data = tempfile::tempdir().unwrap();
    let s = TestServer::start(data.path()).await;
    let (base, admin) = (s.url(""), s.client.clone());
    let layers = [b"release layer".to_vec(), b"second layer".to_vec()];
    let (release, res) = Api::new(&base, &admin)
        .push("team/app", "v3.0.0", &layers)
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let (child, res) = Api::new(&base, &admin)
        .push("team/app", "dev-child", &[b"child".to_vec()])
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let index = json!({"schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": child, "size": 1,
            "platform": {"os": "linux", "architecture": "amd64"}}]})
    .to_string();
    let res = admin
        .put(format!("{base}/v2/team/app/manifests/v3.1.0"))
        .header("content-type", "application/vnd.oci.image.index.v1+json")
        .body(index)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "{}",
        res.text().await.unwrap()
    );
    let (_, res) = Api::new(&base, &admin)
        .push("team/app", "dev-free", &[b"free".to_vec()])
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);

    // A maintainer may not delete what a release holds: its layers, its config, or a child
    // of a release index; the release still pulls whole afterwards.
    let maintainer = member(data.path(), &base, "keeper", "maintainer").await;
    let config = sha256(br#"{"tag":"v3.0.0"}"#);
    for path in [
        format!("blobs/{}", sha256(&layers[0])),
        format!("blobs/{config}"),
        format!("manifests/{child}"),
        format!("blobs/{}", sha256(b"child")),
    ] {
        let res = maintainer
            .delete(format!("{base}/v2/team/app/{path}"))
            .send()
            .await
            .unwrap();
        let OciError {
            status,
            code,
            message,
        } = oci_error(res).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::FORBIDDEN, "DENIED"),
            "{path}"
        );
        assert!(
            message.contains("is a release") && message.contains("admin role"),
            "{message}"
        );
    }
    Api::new(&base, &admin)
        .pull_and_verify("team/app", "v3.0.0")
        .await;
    Api::new(&base, &admin)
        .pull_and_verify("team/app", "dev-child")
        .await;
    // What no release reaches may go; a project admin may delete release content.
    let res = maintainer
        .delete(format!("{base}/v2/team/app/blobs/{}", sha256(b"free")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);

    // Managed tags: a developer's push to an alias or to latest is refused, naming the rule
    // and what moves them; a push that puts an alias where it belongs is accepted.
    let developer = member(data.path(), &base, "dev", "developer").await;
    for (tag, names) in [
        ("latest", "berth promote"),
        ("v3", "follow_aliases"),
        ("v3.0", "v3.0.Z"),
    ] {
        let (_, res) = Api::new(&base, &developer)
            .push("team/app", tag, &[b"sneaky".to_vec()])
            .await;
        let OciError {
            status,
            code,
            message,
        } = oci_error(res).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::FORBIDDEN, "DENIED"),
            "{tag}"
        );
        assert!(message.contains(names), "{tag}: {message}");
    }
    let res = developer
        .get(format!("{base}/v2/team/app/manifests/v3.0.0"))
        .header("accept", OCI_MANIFEST)
        .send()
        .await
        .unwrap();
    let manifest = res.bytes().await.unwrap();
    let res = developer
        .put(format!("{base}/v2/team/app/manifests/v3.0"))
        .header("content-type", OCI_MANIFEST)
        .body(manifest)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(
        Api::new(&base, &admin)
            .resolve("team/app", "v3.0")
            .await
            .as_deref(),
        Some(release.as_str())
    );
    // `berth promote` moves latest; a push there stays refused.
    let data_dir = data.path().to_str().unwrap();
    berth_cli(
        &["promote", "--data-dir", data_dir, "team/app", "v3.0.0"],
        "",
    )
    .await;
    assert_eq!(
        Api::new(&base, &admin)
            .resolve("team/app", "latest")
            .await
            .as_deref(),
        Some(release.as_str())
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn quotas_and_budgets_refuse_pushes_and_leave_nothing_behind() {
    let data = tempfile::tempdir().unwrap();
    let s = TestServer::start(data.path()).await;
    let policy = async |args: &[&str]| {
        let mut all = vec!["project", "policy", "team"];
        all.extend_from_slice(args);
        berth_admin(data.path(), &all, "").await;
    };
    let layer = |n: u8| vec![n; 1000];
    let (_, res) = s.api().push("team/app", "one", &[layer(1), layer(2)]).await;
    assert_eq!(res.status(), StatusCode::CREATED);

    // 2000 bytes of layers plus a config are stored; a third distinct layer does not fit.
    policy(&["--quota", "2500"]).await;
    let (_, res) = s.api().push("team/app", "two", &[layer(1), layer(3)]).await;
    let OciError {
        status,
        code,
        message,
    } = oci_error(res).await;
    assert_eq!((status, code.as_str()), (StatusCode::FORBIDDEN, "DENIED"));
    assert!(message.contains("quota exceeded"), "{message}");
    assert!(!blob_exists(data.path(), &sha256(&layer(3))));
    assert_eq!(staged_uploads(data.path()), 0);
    // A blob the project already holds is counted once, whichever repository links it again.
    let (_, res) = s
        .api()
        .push("team/other", "one", &[layer(1), layer(2)])
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);

    let du = berth_cli(
        &[
            "du",
            "--bytes",
            "--data-dir",
            data.path().to_str().unwrap(),
            "team",
        ],
        "",
    )
    .await;
    let total: Vec<&str> = du.lines().nth(1).unwrap().split('\t').collect();
    // The layers, the first config, and the second image's config, which fitted before its
    // layer was refused.
    assert_eq!(&total[..3], ["team", "2026", "2500"], "{du}");
    assert!(du.contains("team/app\t2026\t\t1\t1"), "{du}");

    // An image over its budget is refused (and its tag not created), or stored with a warning.
    policy(&["--quota", "none", "--budget", "1500"]).await;
    let (_, res) = s.api().push("team/app", "big", &[layer(4), layer(5)]).await;
    let OciError {
        status,
        code,
        message,
    } = oci_error(res).await;
    assert_eq!((status, code.as_str()), (StatusCode::FORBIDDEN, "DENIED"));
    assert!(
        message.contains("over the budget of 1500 bytes"),
        "{message}"
    );
    assert_eq!(s.api().resolve("team/app", "big").await, None);
    let (_, res) = s.api().push("team/app", "small", &[layer(6)]).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    // A repository's own budget overrides the project's.
    berth_admin(data.path(), &["project", "budget", "team/app", "3000"], "").await;
    let (_, res) = s.api().push("team/app", "big", &[layer(4), layer(5)]).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    berth_admin(data.path(), &["project", "budget", "team/app", "none"], "").await;
    policy(&["--budget-warn-only", "true"]).await;
    let (_, res) = s
        .api()
        .push("team/app", "bigger", &[layer(7), layer(8)])
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let audit = berth_admin(data.path(), &["audit", "--action", "budget.warn"], "").await;
    assert!(audit.contains("over the budget of 1500 bytes"), "{audit}");
    s.stop().await;
}

/// A configuration file for binary tests: a short GC grace period and lock lease.
fn gc_config(dir: &Path, grace_secs: u64) -> String {
    let path = dir.join("berth.toml");
    let text = format!("[lifecycle]\ngc_grace_secs = {grace_secs}\ngc_lease_secs = 2\n");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

/// `berth gc` or `berth fsck` on the stores of `config` and `data`; returns its report.
async fn on_stores(command: &str, config: &str, data: &Path) -> String {
    let args = [
        command,
        "--config",
        config,
        "--data-dir",
        data.to_str().unwrap(),
    ];
    berth_cli(&args, "").await
}

/// The number before `word` in a GC report line.
fn removed(report: &str, word: &str) -> u64 {
    let words: Vec<&str> = report.split_whitespace().collect();
    let at = words.iter().position(|w| *w == word).unwrap();
    words[at - 1].parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn gc_racing_200_pushes_of_shared_layers_keeps_every_image_and_fsck_clean() {
    let config_dir = tempfile::tempdir().unwrap();
    let config = gc_config(config_dir.path(), 3);
    let berth = BerthProcess::start_fresh(&["--config", &config]).await;
    let (base, data) = (berth.url(""), berth.data_dir().to_owned());
    let client = berth.client().await;
    let shared = vec![42u8; 64 * 1024];

    // Garbage: images whose manifests are deleted, sharing the layer the new pushes use, and
    // blobs no manifest ever named.
    let mut garbage = Vec::new();
    for i in 0..40u32 {
        let unique = format!("old layer {i}").into_bytes();
        let (digest, res) = Api::new(&base, &client)
            .push(
                "team/app",
                &format!("old-{i}"),
                &[shared.clone(), unique.clone()],
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let res = client
            .delete(format!("{base}/v2/team/app/manifests/{digest}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::ACCEPTED);
        garbage.push(sha256(&unique));
    }
    tokio::time::sleep(Duration::from_millis(3500)).await;

    let pushes = {
        let (client, base, shared) = (client.clone(), base.clone(), shared.clone());
        tokio::spawn(async move {
            let mut tasks = tokio::task::JoinSet::new();
            let limit = std::sync::Arc::new(tokio::sync::Semaphore::new(16));
            for i in 0..200u32 {
                let (client, base, shared) = (client.clone(), base.clone(), shared.clone());
                let permit = limit.clone().acquire_owned().await.unwrap();
                tasks.spawn(async move {
                    let unique = format!("new layer {i}").into_bytes();
                    let tag = format!("new-{i}");
                    let (_, res) = Api::new(&base, &client)
                        .push("team/app", &tag, &[shared, unique])
                        .await;
                    drop(permit);
                    assert_eq!(
                        res.status(),
                        StatusCode::CREATED,
                        "{tag}: {}",
                        res.text().await.unwrap()
                    );
                });
            }
            while let Some(res) = tasks.join_next().await {
                res.unwrap();
            }
        })
    };
    let mut runs = 0;
    let mut blobs_removed = 0;
    while !pushes.is_finished() {
        let report = on_stores("gc", &config, &data).await;
        blobs_removed += removed(&report, "blobs");
        runs += 1;
    }
    pushes.await.unwrap();
    assert!(runs >= 2, "GC ran {runs} times during the pushes");
    assert!(blobs_removed >= 40, "GC removed only {blobs_removed} blobs");
    for digest in &garbage {
        assert!(!blob_exists(&data, digest), "{digest} survived");
    }
    assert!(blob_exists(&data, &sha256(&shared)));
    assert!(on_stores("fsck", &config, &data).await.contains("clean"));
    for i in 0..200 {
        Api::new(&base, &client)
            .pull_and_verify("team/app", &format!("new-{i}"))
            .await;
    }
}

/// Mounts `digest` from `from` into `name`, uploading it instead when the registry answers
/// with a session (202); returns whether it was mounted.
async fn mount_or_upload(
    client: &reqwest::Client,
    base: &str,
    name: &str,
    from: &str,
    blob: &[u8],
) -> bool {
    let digest = sha256(blob);
    let res = client
        .post(format!(
            "{base}/v2/{name}/blobs/uploads/?mount={digest}&from={from}"
        ))
        .send()
        .await
        .unwrap();
    if res.status() == StatusCode::CREATED {
        return true;
    }
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let url = if location.starts_with('/') {
        format!("{base}{location}")
    } else {
        location
    };
    let separator = if url.contains('?') { '&' } else { '?' };
    let res = client
        .put(format!("{url}{separator}digest={digest}"))
        .body(blob.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "{}",
        res.text().await.unwrap()
    );
    false
}

#[tokio::test(flavor = "multi_thread")]
async fn mounts_racing_gc_never_acknowledge_an_image_whose_bytes_go() {
    let config_dir = tempfile::tempdir().unwrap();
    let config = gc_config(config_dir.path(), 1);
    let berth = BerthProcess::start_fresh(&["--config", &config]).await;
    let (base, data) = (berth.url(""), berth.data_dir().to_owned());
    let client = berth.client().await;
    const ROUNDS: u32 = 300;
    let layer = |i: u32| format!("mounted layer {i}").into_bytes();

    // Blobs in a repository no manifest holds: their links are collectable once the grace
    // period has passed, so GC removes them while the mounts below read them.
    let mut uploads = tokio::task::JoinSet::new();
    for i in 0..ROUNDS {
        let (client, base) = (client.clone(), base.clone());
        uploads.spawn(async move {
            let res = Api::new(&base, &client)
                .upload_blob("team/source", layer(i))
                .await;
            assert_eq!(res.status(), StatusCode::CREATED);
        });
    }
    while let Some(res) = uploads.join_next().await {
        res.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(2100)).await;

    let rounds = {
        let (client, base) = (client.clone(), base.clone());
        tokio::spawn(async move {
            let limit = std::sync::Arc::new(tokio::sync::Semaphore::new(16));
            let mut tasks = tokio::task::JoinSet::new();
            for i in 0..ROUNDS {
                let (client, base) = (client.clone(), base.clone());
                let permit = limit.clone().acquire_owned().await.unwrap();
                tasks.spawn(async move {
                    let blob = layer(i);
                    let mounted =
                        mount_or_upload(&client, &base, "team/target", "team/source", &blob).await;
                    let config = format!("{{\"round\":{i}}}").into_bytes();
                    mount_or_upload(&client, &base, "team/target", "team/none", &config).await;
                    let manifest = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                            "digest": sha256(&config), "size": config.len()},
                        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                            "digest": sha256(&blob), "size": blob.len()}]})
                    .to_string();
                    let res = client
                        .put(format!("{base}/v2/team/target/manifests/r-{i}"))
                        .header("content-type", OCI_MANIFEST)
                        .body(manifest)
                        .send()
                        .await
                        .unwrap();
                    drop(permit);
                    (i, mounted, res.status())
                });
            }
            let mut outcomes = Vec::new();
            while let Some(res) = tasks.join_next().await {
                outcomes.push(res.unwrap());
            }
            outcomes
        })
    };
    let mut runs = 0;
    while !rounds.is_finished() {
        on_stores("gc", &config, &data).await;
        runs += 1;
    }
    let outcomes = rounds.await.unwrap();
    assert!(runs >= 2, "GC ran {runs} times during the mounts");
    let acknowledged: Vec<u32> = outcomes
        .iter()
        .filter(|(_, _, status)| *status == StatusCode::CREATED)
        .map(|(i, _, _)| *i)
        .collect();
    let mounted = outcomes.iter().filter(|(_, mounted, _)| *mounted).count();
    assert!(
        acknowledged.len() >= ROUNDS as usize / 2,
        "only {} of {ROUNDS} manifests acknowledged ({mounted} mounted)",
        acknowledged.len()
    );
    on_stores("gc", &config, &data).await;
    assert!(on_stores("fsck", &config, &data).await.contains("clean"));
    for i in acknowledged {
        Api::new(&base, &client)
            .pull_and_verify("team/target", &format!("r-{i}"))
            .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn gc_killed_half_way_finishes_on_the_next_run_and_fsck_is_clean() {
    let config_dir = tempfile::tempdir().unwrap();
    let config = gc_config(config_dir.path(), 0);
    let berth = BerthProcess::start_fresh(&["--config", &config]).await;
    let (base, data) = (berth.url(""), berth.data_dir().to_owned());
    let client = berth.client().await;
    let (_, res) = Api::new(&base, &client)
        .push("team/app", "kept", &[b"kept layer".to_vec()])
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in 0..16u32 {
        let (client, base) = (client.clone(), base.clone());
        tasks.spawn(async move {
            for i in 0..250u32 {
                let blob = format!("garbage {chunk}/{i}").into_bytes();
                let res = Api::new(&base, &client).upload_blob("team/app", blob).await;
                assert_eq!(res.status(), StatusCode::CREATED);
            }
        });
    }
    while let Some(res) = tasks.join_next().await {
        res.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let count = || walk_files(&data.join("blobs"));
    let before = count();
    let mut killed_half_way = false;
    for delay_ms in [150u64, 250, 400, 600, 900] {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_berth"))
            .args([
                "gc",
                "--config",
                &config,
                "--data-dir",
                data.to_str().unwrap(),
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        let exited = child.try_wait().unwrap().is_some();
        child.kill().await.unwrap();
        let now = count();
        if !exited && now < before && now > 1 {
            killed_half_way = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(2100)).await;
    }
    assert!(
        killed_half_way,
        "no run was killed while it deleted (blobs: {before} -> {})",
        count()
    );
    // The dead GC's lock lease runs out; the next run finishes its tombstones.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let report = on_stores("gc", &config, &data).await;
    assert!(removed(&report, "blobs") > 0, "{report}");
    assert!(on_stores("fsck", &config, &data).await.contains("clean"));
    Api::new(&base, &client)
        .pull_and_verify("team/app", "kept")
        .await;
    assert_eq!(count(), 2, "only the kept image's config and layer remain");
}

fn walk_files(dir: &Path) -> usize {
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        n += if path.is_dir() { walk_files(&path) } else { 1 };
    }
    n
}

#[tokio::test(flavor = "multi_thread")]
async fn pulls_are_counted_per_manifest_and_tag_in_batches() {
    use berth::storage::lifecycle::LifecycleStore;

    let data = tempfile::tempdir().unwrap();
    let s = TestServer::start(data.path()).await;
    let base = s.url("");
    let (digest, res) = s.api().push("team/app", "v1", &[b"layer".to_vec()]).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    for reference in ["v1", "v1", digest.as_str()] {
        let res = s
            .client
            .get(format!("{base}/v2/team/app/manifests/{reference}"))
            .header("accept", OCI_MANIFEST)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    // A HEAD resolves a tag without pulling it.
    assert!(s.api().resolve("team/app", "v1").await.is_some());
    // Counts reach the store with the next flush (every second by default).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let store = berth::storage::sqlite::SqliteMetaStore::open(&data.path().join("meta.db"))
        .await
        .unwrap();
    let images = store.images("team").await.unwrap();
    let tag = &images[0].tags[0];
    assert_eq!((images[0].pulls, tag.pulls), (3, 2));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(tag.pulled_at.is_some_and(|at| (now - at).abs() <= 2));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn promotion_policy_and_usage_through_the_api() {
    let data = tempfile::tempdir().unwrap();
    let s = TestServer::start(data.path()).await;
    let call = async |method, path: &str, body| s.api().admin(method, path, body).await;
    for (tag, layer) in [("v1.0.0", b"one".to_vec()), ("v1.1.0", b"two".to_vec())] {
        let (_, res) = s.api().push("team/app", tag, &[layer]).await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let v110 = s.api().resolve("team/app", "v1.1.0").await.unwrap();
    let promotion = json!({"repository": "team/app", "tag": "v1.1.0"});
    let (status, moved) = call(reqwest::Method::POST, "/promote", Some(promotion)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        moved,
        json!({"tag": "latest", "from": null, "to": v110, "warnings": []})
    );
    assert_eq!(s.api().resolve("team/app", "latest").await, Some(v110));
    let missing = json!({"repository": "team/app", "tag": "v9.0.0"});
    let (status, _) = call(reqwest::Method::POST, "/promote", Some(missing)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let patch_policy = async |change| {
        call(
            reqwest::Method::PATCH,
            "/projects/team/policy",
            Some(change),
        )
        .await
    };
    let change = json!({"quota_bytes": 1000, "budget_bytes": 500, "latest_on_push": true});
    let (status, policy) = patch_policy(change).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (
            &policy["quota_bytes"],
            &policy["budget_bytes"],
            &policy["latest_on_push"]
        ),
        (&json!(1000), &json!(500), &json!(true))
    );
    let (_, policy) = patch_policy(json!({"quota_bytes": null})).await;
    assert_eq!(
        (&policy["quota_bytes"], &policy["budget_bytes"]),
        (&Value::Null, &json!(500))
    );
    let (status, _) = patch_policy(json!({"quota": 1})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let (status, usage) = call(reqwest::Method::GET, "/usage?project=team", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(usage["projects"][0]["name"], "team");
    assert_eq!(usage["repositories"][0]["manifests"], 2);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_runs_exactly_the_plan_it_printed() {
    use berth::storage::lifecycle::{LifecycleStore, Pulls};

    let data = tempfile::tempdir().unwrap();
    let s = TestServer::start(data.path()).await;
    let base = s.url("");
    let mut digests = std::collections::HashMap::new();
    for tag in [
        "v1.0.0", "v1.0.1", "v1.0.2", "v1.0.3", "v1.0.4", "dev-a", "dev-b",
    ] {
        let layer = format!("layer of {tag}").into_bytes();
        let (digest, res) = s.api().push("team/app", tag, &[layer]).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        digests.insert(tag, digest);
    }
    // Pull times come from the test's clock: dev-a was last pulled ten days ago, dev-b one.
    let store = berth::storage::sqlite::SqliteMetaStore::open(&data.path().join("meta.db"))
        .await
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let pulled = |tag: &str, days: i64| Pulls {
        repository: "team/app".into(),
        digest: digests[tag].parse().unwrap(),
        tag: Some(tag.into()),
        count: 1,
        at: now - days * 86_400,
    };
    store
        .record_pulls(&[pulled("dev-a", 10), pulled("dev-b", 1)])
        .await
        .unwrap();

    let call = async |method, path: &str, body| s.api().admin(method, path, body).await;
    let rules = "keep releases newest 3 per minor\ndelete dev-* not pulled for 7d\ndelete releases";
    let (status, _) = call(
        reqwest::Method::PATCH,
        "/projects/team/policy",
        Some(json!({"retention": "keep releases newest 3 per minor\nretain all"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a bad rule is refused");
    let (status, policy) = call(
        reqwest::Method::PATCH,
        "/projects/team/policy",
        Some(json!({"retention": rules, "retention_schedule": "0 3 * * *"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(policy["retention_schedule"], "0 3 * * *");

    let (status, plan) = call(reqwest::Method::GET, "/projects/team/retention/plan", None).await;
    assert_eq!(status, StatusCode::OK);
    // Tags first, then manifests (ordered by digest).
    let mut steps: Vec<String> = plan
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            format!(
                "{} {}",
                d["tag"].as_str().unwrap_or("-"),
                d["rule"].as_str().unwrap()
            )
        })
        .collect();
    steps[3..].sort();
    assert_eq!(
        steps,
        [
            "dev-a delete dev-* not pulled for 7d",
            "v1.0.0 delete releases",
            "v1.0.1 delete releases",
            "- delete dev-* not pulled for 7d",
            "- delete releases",
            "- delete releases",
        ]
    );
    let printed = berth_cli(
        &[
            "retention",
            "plan",
            "--data-dir",
            data.path().to_str().unwrap(),
            "team",
        ],
        "",
    )
    .await;
    assert_eq!(printed.lines().count(), 1 + 6, "{printed}");
    assert!(
        printed.contains(&format!("team/app\tdev-a\t{}\t0\t", digests["dev-a"])),
        "{printed}"
    );

    let (status, applied) = call(reqwest::Method::POST, "/projects/team/retention/run", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(applied, plan, "the run applies exactly the plan");
    let tags: Value = s
        .client
        .get(format!("{base}/v2/team/app/tags/list"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kept = ["dev-b", "v1", "v1.0", "v1.0.2", "v1.0.3", "v1.0.4"];
    assert_eq!(
        tags["tags"],
        json!(kept),
        "aliases stay with the kept v1.0.4"
    );
    for gone in ["dev-a", "v1.0.0", "v1.0.1"] {
        assert_eq!(s.api().resolve("team/app", &digests[gone]).await, None);
    }
    let audit = berth_admin(data.path(), &["audit", "--action", "retention.delete"], "").await;
    assert_eq!(audit.lines().count(), 1 + 6, "{audit}");
    let (_, again) = call(reqwest::Method::GET, "/projects/team/retention/plan", None).await;
    assert_eq!(again, json!([]));

    // Deleting the release the aliases point at moves them to the newest remaining release
    // of their line, audited as an automatic move; they never dangle or go with it.
    let (status, _) = call(
        reqwest::Method::PATCH,
        "/projects/team/policy",
        Some(json!({"retention": "delete v1.0.4"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, applied) = call(reqwest::Method::POST, "/projects/team/retention/run", None).await;
    let moves: Vec<&Value> = applied
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| !d["moves_to"].is_null())
        .collect();
    assert_eq!(moves.len(), 2, "{applied}");
    for alias in ["v1", "v1.0"] {
        assert_eq!(
            s.api().resolve("team/app", alias).await.as_ref(),
            Some(&digests["v1.0.3"]),
            "{alias}"
        );
    }
    let audit = berth_admin(data.path(), &["audit", "--action", "tag.follow"], "").await;
    assert!(audit.contains("moves to v1.0.3"), "{audit}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn archived_images_restore_and_run_with_docker() {
    let config_dir = tempfile::tempdir().unwrap();
    let config = gc_config(config_dir.path(), 0);
    let berth = BerthProcess::start_fresh(&["--config", &config]).await;
    let (host, data) = (berth.host(), berth.data_dir().to_owned());
    let data_arg = data.to_str().unwrap();
    let login = docker_login(&host).await;
    let login = login.path().to_str().unwrap();
    let repo = format!("{host}/team/archived");
    for (tag, greeting) in [("v1.0.0", "archived hello"), ("v1.0.1", "current hello")] {
        let image = format!("{repo}:{tag}");
        docker_build(&image, greeting).await;
        run("docker", &["--config", login, "push", &image]).await;
    }
    // An SBOM that refers to v1.0.0 is archived and restored with it.
    let client = berth.client().await;
    let base = berth.url("");
    let subject = Api::new(&base, &client)
        .resolve("team/archived", "v1.0.0")
        .await
        .unwrap();
    let sbom = attach_sbom(&Api::new(&base, &client), "team/archived", &subject).await;
    let rules = config_dir.path().join("rules.txt");
    std::fs::write(&rules, "keep releases newest 1\narchive releases\n").unwrap();
    let rules = rules.to_str().unwrap();
    berth_admin(
        &data,
        &["project", "policy", "team", "--retention-file", rules],
        "",
    )
    .await;
    let ran = berth_cli(
        &[
            "retention",
            "run",
            "--config",
            &config,
            "--data-dir",
            data_arg,
            "team",
        ],
        "",
    )
    .await;
    assert!(ran.contains("team/archived\tv1.0.0\t"), "{ran}");
    assert!(ran.contains("\tarchive\tarchive releases"), "{ran}");
    // Let the links age past the (zero) grace period, then reclaim the bytes.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    on_stores("gc", &config, &data).await;
    assert!(on_stores("fsck", &config, &data).await.contains("clean"));
    let url = format!("{base}/v2/team/archived/referrers/{subject}");
    let gone: Value = client.get(url).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        gone["manifests"],
        json!([]),
        "GC took the SBOM of the deleted image"
    );

    let image = format!("{repo}:v1.0.0");
    run("docker", &["rmi", &image]).await;
    let (pulled, _) = attempt("docker", &["--config", login, "pull", &image]).await;
    assert!(!pulled, "the archived tag is gone from the registry");
    let listed = berth_cli(
        &["archive", "--config", &config, "--data-dir", data_arg, "ls"],
        "",
    )
    .await;
    assert!(
        listed.contains("team/archived\tv1.0.0\tsha256:"),
        "{listed}"
    );

    let restored = berth_cli(
        &[
            "archive",
            "--config",
            &config,
            "--data-dir",
            data_arg,
            "restore",
            "team/archived:v1.0.0",
        ],
        "",
    )
    .await;
    assert!(restored.contains("restored"), "{restored}");
    run("docker", &["--config", login, "pull", &image]).await;
    let out = run("docker", &["run", "--rm", "--network", "none", &image]).await;
    assert!(out.contains("archived hello"), "{out}");
    let referrers = async || -> Value {
        let url = format!("{base}/v2/team/archived/referrers/{subject}");
        client.get(url).send().await.unwrap().json().await.unwrap()
    };
    assert_eq!(referrers().await["manifests"][0]["digest"], sbom.as_str());
    assert!(on_stores("fsck", &config, &data).await.contains("clean"));
    for tag in ["v1.0.0", "v1.0.1"] {
        run("docker", &["rmi", &format!("{repo}:{tag}")]).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_and_gc_run_on_their_schedules() {
    let data = tempfile::tempdir().unwrap();
    let mut config = crate::support::test_config(data.path());
    config.lifecycle.gc_grace_secs = 0;
    config.lifecycle.gc_schedule = Some("* * * * * *".into());
    let s = TestServer::start_with(&config).await;
    let (_, res) = s
        .api()
        .push("team/app", "dev-x", &[b"dev layer".to_vec()])
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let (_, res) = s
        .api()
        .push("team/app", "v1.0.0", &[b"kept".to_vec()])
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    berth_admin(
        data.path(),
        &[
            "project",
            "policy",
            "team",
            "--retention-schedule",
            "* * * * * *",
        ],
        "",
    )
    .await;
    let rules = data.path().join("rules.txt");
    std::fs::write(&rules, "delete dev-*\n").unwrap();
    let rules = rules.to_str().unwrap();
    berth_admin(
        data.path(),
        &["project", "policy", "team", "--retention-file", rules],
        "",
    )
    .await;
    // Every second retention deletes dev-x (and its manifest), then GC its blobs.
    let layer = sha256(b"dev layer");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while blob_exists(data.path(), &layer) {
        assert!(
            std::time::Instant::now() < deadline,
            "the schedules did not run"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(s.api().resolve("team/app", "dev-x").await, None);
    s.api().pull_and_verify("team/app", "v1.0.0").await;
    let audit = berth_admin(data.path(), &["audit", "--action", "retention.delete"], "").await;
    // Scheduled work is berth's own, not the command line's.
    let line = audit
        .lines()
        .find(|l| l.contains("tag dev-x deleted by rule: delete dev-*"))
        .unwrap_or_else(|| panic!("{audit}"));
    assert_eq!(line.split('\t').nth(2), Some("berth"), "{line}");
    s.stop().await;
}

/// Pushes an SBOM artifact whose subject is `subject`; returns its digest.
async fn attach_sbom(api: &Api, name: &str, subject: &str) -> String {
    let head = api.manifest(reqwest::Method::HEAD, name, subject).await;
    let media_type = head.headers()["content-type"].to_str().unwrap().to_owned();
    let size: u64 = head.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let (empty, sbom) = (b"{}".to_vec(), b"{\"spdxVersion\":\"SPDX-2.3\"}".to_vec());
    for blob in [&empty, &sbom] {
        let res = api.upload_blob(name, blob.clone()).await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let manifest = json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/spdx+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha256(&empty), "size": 2},
        "layers": [{"mediaType": "application/spdx+json", "digest": sha256(&sbom), "size": sbom.len()}],
        "subject": {"mediaType": media_type, "digest": subject, "size": size},
    })
    .to_string();
    let digest = sha256(manifest.as_bytes());
    let res = api
        .client
        .put(api.url(&format!("/v2/{name}/manifests/{digest}")))
        .header("content-type", OCI_MANIFEST)
        .body(manifest)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    digest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_release_pushes_leave_every_alias_on_the_newer_release() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    for round in 0..12 {
        let name = format!("team/race-{round}");
        // The older release is pushed first in half the rounds, second in the others.
        let order = if round % 2 == 0 {
            ["v1.2.0", "v1.3.0"]
        } else {
            ["v1.3.0", "v1.2.0"]
        };
        let pushes = order.map(|tag| {
            let (api, name) = (s.api(), name.clone());
            tokio::spawn(async move {
                let layer = format!("{name}:{tag}").into_bytes();
                let (digest, res) = api.push(&name, tag, &[layer]).await;
                assert_eq!(res.status(), StatusCode::CREATED, "{name}:{tag}");
                digest
            })
        });
        let [first, second] = pushes;
        let (first, second) = (first.await.unwrap(), second.await.unwrap());
        let newer = if order[1] == "v1.3.0" { second } else { first };
        assert_eq!(s.api().resolve(&name, "v1").await, Some(newer), "{name}");
        assert!(s.api().resolve(&name, "v1.2").await.is_some(), "{name}");
    }
    s.stop().await;
}
