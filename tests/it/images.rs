//! `berth build` and `berth analyze` with real Go programs compiled by Debian's Go, pushed to
//! berth and to CNCF Distribution, pulled and run by the Docker engine.

use std::path::Path;

use serde_json::Value;

use crate::support::{
    ADMIN_PASSWORD, BerthProcess, Distribution, Outcome, admin_creds, attempt, berth_in,
    compile_go, copy_tree, docker_build, docker_login, get_json, git, git_commit, go_repository,
    run, run_in,
};

/// `berth ARGS` in `dir` with Docker credentials from `config`; fails the test on failure.
async fn berth_ok(dir: &Path, args: &[&str], docker_config: Option<&Path>) -> Outcome {
    let mut env = vec![];
    if let Some(config) = docker_config {
        env.push(("DOCKER_CONFIG", config.to_str().unwrap()));
    }
    berth_ok_with(dir, args, &env).await
}

/// `berth ARGS` in `dir` with `env`; fails the test on failure.
async fn berth_ok_with(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Outcome {
    let outcome = berth_in(dir, args, env).await;
    assert!(
        outcome.ok,
        "berth {args:?} failed:\n{}\n{}",
        outcome.stdout, outcome.stderr
    );
    outcome
}

/// The digest and tags `berth build` prints on stdout.
fn digest_and_tags(outcome: &Outcome) -> (String, Vec<String>) {
    let mut lines = outcome.stdout.lines().map(str::to_owned);
    let digest = lines.next().expect("a digest line");
    assert!(digest.starts_with("sha256:"), "{}", outcome.stdout);
    (digest, lines.collect())
}

/// `berth analyze --format json`.
async fn analyze(dir: &Path, image: &str, docker_config: Option<&Path>) -> Vec<Value> {
    let outcome = berth_ok(dir, &["analyze", "--format", "json", image], docker_config).await;
    serde_json::from_str(&outcome.stdout).unwrap()
}

#[tokio::test]
async fn built_image_runs_as_nonroot_with_git_tags_an_sbom_and_the_same_digest_anywhere() {
    let berth = BerthProcess::start().await;
    let host = berth.host();
    let login = docker_login(&host).await;
    let origin = go_repository("gohttp", Some("v1.4.0")).await;
    let source = "https://git.invalid/team/gohttp.git";
    git(origin.path(), &["remote", "add", "origin", source]).await;
    let commit = git(origin.path(), &["rev-parse", "HEAD"]).await;
    let image = format!("{host}/team/gohttp");
    let args = [
        "build", "--image", &image, "--static", "static", "--port", "8080",
    ];
    let built = berth_ok(origin.path(), &args, Some(login.path())).await;
    let (digest, tags) = digest_and_tags(&built);
    let sha = format!("sha-{}", &commit[..7]);
    assert_eq!(tags, ["v1.4.0", "v1.4", "v1", sha.as_str()]);
    // Pushing the same build again uploads nothing: three layers, the config and the SBOM's
    // two blobs exist.
    let again = berth_ok(origin.path(), &args, Some(login.path())).await;
    assert_eq!(digest_and_tags(&again).0, digest);
    assert!(!again.stderr.contains("pushed"), "{}", again.stderr);
    let exists = again.stderr.matches(": exists").count();
    assert_eq!(exists, 6, "{}", again.stderr);

    // The Docker engine pulls and runs it: the service answers, as uid 65532, with its files.
    let config = login.path().to_str().unwrap();
    let reference = format!("{image}:v1.4");
    run("docker", &["--config", config, "pull", "-q", &reference]).await;
    let output = run("docker", &["run", "--rm", &reference, "-selftest"]).await;
    assert_eq!(
        output,
        "healthz: ok uid=65532\nstatic: served from the static tree\n"
    );
    let inspect = run(
        "docker",
        &["inspect", "--format", "{{json .Config}}", &reference],
    )
    .await;
    let config_json: Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(config_json["User"], "65532:65532");
    assert_eq!(config_json["WorkingDir"], "/app");
    assert_eq!(config_json["Entrypoint"][0], "/app/gohttp");
    assert!(config_json["ExposedPorts"]["8080/tcp"].is_object());
    let labels = &config_json["Labels"];
    assert_eq!(labels["org.opencontainers.image.revision"], commit.as_str());
    assert_eq!(labels["org.opencontainers.image.version"], "v1.4.0");
    assert_eq!(
        labels["org.opencontainers.image.created"],
        "2026-01-02T03:04:05Z"
    );

    // Every tag is in the registry; the SBOM is a referrer of the image.
    let client = berth.client().await;
    let listed = get_json(
        &client,
        &berth.url("/v2/team/gohttp/tags/list"),
        "application/json",
    )
    .await;
    let mut expected = tags.clone();
    expected.sort();
    assert_eq!(listed["tags"], serde_json::json!(expected));
    let referrers = get_json(
        &client,
        &berth.url(&format!("/v2/team/gohttp/referrers/{digest}")),
        "application/json",
    )
    .await;
    let sbom = &referrers["manifests"][0];
    assert_eq!(sbom["artifactType"], "application/spdx+json");
    let oci_manifest = "application/vnd.oci.image.manifest.v1+json";
    let sbom_digest = sbom["digest"].as_str().unwrap();
    let sbom_manifest = get_json(
        &client,
        &berth.url(&format!("/v2/team/gohttp/manifests/{sbom_digest}")),
        oci_manifest,
    )
    .await;
    let spdx_digest = sbom_manifest["layers"][0]["digest"].as_str().unwrap();
    let document = get_json(
        &client,
        &berth.url(&format!("/v2/team/gohttp/blobs/{spdx_digest}")),
        "application/spdx+json",
    )
    .await;
    assert_eq!(document["spdxVersion"], "SPDX-2.3");
    let names: Vec<&str> = document["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"example.com/gohttp") && names.contains(&"stdlib"),
        "{names:?}"
    );
    // The application package carries the release it was built from, and the document is
    // valid SPDX 2.3 by the SPDX project's own validator.
    let app = document["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["primaryPackagePurpose"] == "APPLICATION")
        .unwrap();
    assert_eq!(app["versionInfo"], "v1.4.0");
    assert_eq!(app["packageFileName"], "/app/gohttp");
    validate_spdx(&document).await;

    // Under 5 MB compressed on scratch with certificates.
    let manifest = get_json(
        &client,
        &berth.url(&format!("/v2/team/gohttp/manifests/{digest}")),
        "application/vnd.oci.image.manifest.v1+json",
    )
    .await;
    let size: u64 = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|layer| layer["size"].as_u64().unwrap())
        .sum();
    println!("net/http service image: {size} bytes compressed");
    assert!(size < 5_000_000, "{size} bytes");

    // A clone in another directory builds the same digest, and so does a second (warm) build.
    let elsewhere = tempfile::tempdir().unwrap();
    let clone = elsewhere.path().join("somewhere/else");
    git(
        elsewhere.path(),
        &[
            "clone",
            "-q",
            origin.path().to_str().unwrap(),
            clone.to_str().unwrap(),
        ],
    )
    .await;
    git(&clone, &["remote", "set-url", "origin", source]).await;
    let layout = elsewhere.path().join("layout");
    let args = [
        "build",
        "--static",
        "static",
        "--port",
        "8080",
        "--oci-layout",
        layout.to_str().unwrap(),
    ];
    let rebuilt = berth_ok(&clone, &args, None).await;
    assert_eq!(digest_and_tags(&rebuilt).0, digest);
    let again = berth_ok(origin.path(), &args, None).await;
    assert_eq!(digest_and_tags(&again).0, digest);
}

#[tokio::test]
async fn tags_come_from_releases_and_branches_and_dirty_releases_are_refused() {
    let repo = go_repository("gohello", Some("v1.0.0")).await;
    let dir = repo.path();
    let layout = tempfile::tempdir().unwrap();
    let out = layout.path().to_str().unwrap();
    let sha = |commit: &str| format!("sha-{}", &commit[..7]);
    let commit = git(dir, &["rev-parse", "HEAD"]).await;
    let (_, tags) =
        digest_and_tags(&berth_ok(dir, &["build", "--oci-layout", out, "--latest"], None).await);
    assert_eq!(tags, ["v1.0.0", "v1.0", "v1", "latest", &sha(&commit)]);

    // A change on the release commit: no release tags unless allowed, and the sha tag says so.
    std::fs::write(dir.join("extra.txt"), "uncommitted").unwrap();
    let refused = berth_in(dir, &["build", "--oci-layout", out], &[]).await;
    assert!(!refused.ok);
    assert!(
        refused
            .stderr
            .contains("uncommitted changes; refusing to tag release v1.0.0"),
        "{}",
        refused.stderr
    );
    let (_, tags) = digest_and_tags(
        &berth_ok(dir, &["build", "--oci-layout", out, "--allow-dirty"], None).await,
    );
    assert_eq!(
        tags,
        ["v1.0.0", "v1.0", "v1", &format!("{}-dirty", sha(&commit))]
    );
    std::fs::remove_file(dir.join("extra.txt")).unwrap();

    // A branch build, with an extra tag; a pre-release moves no alias.
    git(dir, &["checkout", "-q", "-b", "feature/login"]).await;
    std::fs::write(dir.join("README"), "feature").unwrap();
    git_commit(dir, "feature").await;
    let commit = git(dir, &["rev-parse", "HEAD"]).await;
    let args = ["build", "--oci-layout", out, "--tag", "ci-42"];
    let (_, tags) = digest_and_tags(&berth_ok(dir, &args, None).await);
    assert_eq!(tags, [sha(&commit).as_str(), "dev-feature-login", "ci-42"]);
    git(dir, &["tag", "v1.1.0-rc.1"]).await;
    let (_, tags) =
        digest_and_tags(&berth_ok(dir, &["build", "--oci-layout", out, "--latest"], None).await);
    assert_eq!(tags, ["v1.1.0-rc.1", sha(&commit).as_str()]);

    // The layout names every tag.
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.path().join("index.json")).unwrap()).unwrap();
    let names: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str())
        .collect();
    for tag in ["v1.0.0", "latest", "dev-feature-login", "v1.1.0-rc.1"] {
        assert!(names.contains(&tag), "{names:?}");
    }
}

#[tokio::test]
async fn modules_in_subdirectories_take_their_own_tags_and_every_release_on_head_counts() {
    // One repository, two modules: one at the root, one in `hello/`, as Go's multi-module
    // repositories are laid out; each is released by its own tags on the same commit.
    let repo = go_repository("gohello", None).await;
    let dir = repo.path();
    let hello = dir.join("hello");
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/gohello"),
        &hello,
    );
    git_commit(dir, "second module").await;
    for tag in ["v0.5.0", "v0.6.0-rc.1", "hello/v0.2.0", "hello/v0.3.0-rc.1"] {
        git(dir, &["tag", tag]).await;
    }
    let commit = git(dir, &["rev-parse", "HEAD"]).await;
    let sha = format!("sha-{}", &commit[..7]);
    let layout = tempfile::tempdir().unwrap();
    let out = layout.path().to_str().unwrap();
    let args = ["build", "--oci-layout", out, "--latest"];
    let (_, tags) = digest_and_tags(&berth_ok(&hello, &args, None).await);
    assert_eq!(
        tags,
        ["v0.3.0-rc.1", "v0.2.0", "v0.2", "v0", "latest", &sha]
    );
    let (_, tags) = digest_and_tags(&berth_ok(dir, &args, None).await);
    assert_eq!(
        tags,
        ["v0.6.0-rc.1", "v0.5.0", "v0.5", "v0", "latest", &sha]
    );

    // The SBOMs in the layout name each module's own release and are valid SPDX 2.3; the module
    // replaced by a local directory has no version and no package URL.
    let blobs = layout.path().join("blobs/sha256");
    let documents: Vec<Value> = std::fs::read_dir(&blobs)
        .unwrap()
        .filter_map(|entry| {
            serde_json::from_slice::<Value>(&std::fs::read(entry.unwrap().path()).ok()?).ok()
        })
        .filter(|value| value["spdxVersion"] == "SPDX-2.3")
        .collect();
    let mut versions = vec![];
    for document in &documents {
        validate_spdx(document).await;
        let packages = document["packages"].as_array().unwrap();
        let app = packages
            .iter()
            .find(|p| p["primaryPackagePurpose"] == "APPLICATION")
            .unwrap();
        versions.push(app["versionInfo"].as_str().unwrap().to_owned());
        let local = packages
            .iter()
            .find(|p| p["name"] == "example.com/greeting")
            .unwrap();
        assert!(local.get("externalRefs").is_none(), "{local}");
    }
    versions.sort();
    assert_eq!(versions, ["v0.3.0-rc.1", "v0.6.0-rc.1"]);
}

#[tokio::test]
async fn multi_platform_index_goes_to_berth_and_distribution_with_the_right_machines() {
    let berth = BerthProcess::start().await;
    // Distribution asks for Basic auth; its credentials are in the Docker config file.
    let distribution = Distribution::start(Some(("alice", "s3cret"))).await;
    // Credentials for berth come from a credential helper, as with a desktop keychain.
    let helpers = tempfile::tempdir().unwrap();
    let helper = helpers.path().join("docker-credential-berthtest");
    let answer = format!(r#"{{"ServerURL":"%s","Username":"admin","Secret":"{ADMIN_PASSWORD}"}}"#);
    std::fs::write(
        &helper,
        format!("#!/bin/sh\nread host\nprintf '{answer}\\n' \"$host\"\n"),
    )
    .unwrap();
    std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(
        helpers.path().join("config.json"),
        format!(
            r#"{{"credHelpers": {{"{}": "berthtest"}}, "auths": {{"{}": {{"auth": "YWxpY2U6czNjcmV0"}}}}}}"#,
            berth.host(),
            distribution.addr
        ),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        helpers.path().display(),
        std::env::var("PATH").unwrap()
    );
    let env = [
        ("DOCKER_CONFIG", helpers.path().to_str().unwrap()),
        ("PATH", path.as_str()),
    ];
    let repo = go_repository("gohello", Some("v2.0.0")).await;
    let mut digests = vec![];
    for host in [berth.host(), distribution.addr.to_string()] {
        let image = format!("{host}/team/hello");
        let args = [
            "build",
            "--image",
            &image,
            "--platform",
            "linux/amd64,linux/arm64",
        ];
        let (digest, _) = digest_and_tags(&berth_ok_with(repo.path(), &args, &env).await);
        digests.push(digest);
        // analyze reads the index from the registry and finds each platform's ELF machine.
        let analyzed = berth_ok_with(
            repo.path(),
            &["analyze", "--format", "json", &format!("{image}:v2.0.0")],
            &env,
        )
        .await;
        let reports: Vec<Value> = serde_json::from_str(&analyzed.stdout).unwrap();
        let seen: Vec<(String, String)> = reports
            .iter()
            .map(|report| {
                (
                    report["platform"].as_str().unwrap().to_owned(),
                    report["go_binaries"][0]["goarch"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("linux/amd64".to_owned(), "amd64".to_owned()),
                ("linux/arm64".to_owned(), "arm64".to_owned())
            ]
        );
    }
    assert_eq!(
        digests[0], digests[1],
        "the same build pushed to both registries"
    );
    // Docker pulls the index from Distribution and runs this machine's image.
    let reference = format!("{}/team/hello:v2", distribution.addr);
    let config = helpers.path().to_str().unwrap();
    run("docker", &["--config", config, "pull", "-q", &reference]).await;
    let output = run("docker", &["run", "--rm", &reference]).await;
    assert_eq!(output, "hello from berth build, uid=65532 gid=65532\n");
}

#[tokio::test]
async fn docker_loads_and_runs_the_built_tarball() {
    let repo = go_repository("gohello", Some("v3.1.0")).await;
    let out = tempfile::tempdir().unwrap();
    let tarball = out.path().join("hello.tar");
    let args = [
        "build",
        "--image",
        "localhost/berth-test/hello",
        "--tarball",
        tarball.to_str().unwrap(),
        "--tzdata",
    ];
    berth_ok(repo.path(), &args, None).await;
    let loaded = run("docker", &["load", "-i", tarball.to_str().unwrap()]).await;
    assert!(
        loaded.contains("localhost/berth-test/hello:v3.1.0"),
        "{loaded}"
    );
    let output = run(
        "docker",
        &["run", "--rm", "localhost/berth-test/hello:v3.1"],
    )
    .await;
    assert_eq!(output, "hello from berth build, uid=65532 gid=65532\n");
    // The tarball also reads as an image for analyze.
    let reports = analyze(out.path(), tarball.to_str().unwrap(), None).await;
    assert_eq!(reports[0]["go_binaries"][0]["path"], "/app/hello");
    // --tzdata put the zone files into the first layer.
    assert!(reports[0]["layers"][0]["added"].as_u64().unwrap() > 300);
}

#[tokio::test]
async fn a_base_image_keeps_its_layers_and_is_recorded_by_digest() {
    let berth = BerthProcess::start().await;
    let host = berth.host();
    let login = docker_login(&host).await;
    let config = login.path().to_str().unwrap();
    let base = format!("{host}/team/base:v1");
    docker_build(&base, "base greeting").await;
    run("docker", &["--config", config, "push", "-q", &base]).await;
    let client = berth.client().await;
    let base_digest = client
        .head(berth.url("/v2/team/base/manifests/v1"))
        .header(
            "Accept",
            "application/vnd.docker.distribution.manifest.v2+json",
        )
        .send()
        .await
        .unwrap()
        .headers()["docker-content-digest"]
        .to_str()
        .unwrap()
        .to_owned();
    let base_manifest = get_json(
        &client,
        &berth.url("/v2/team/base/manifests/v1"),
        "application/vnd.docker.distribution.manifest.v2+json",
    )
    .await;

    let repo = go_repository("gohello", Some("v1.2.3")).await;
    let image = format!("{host}/team/onbase");
    let args = ["build", "--image", &image, "--base", &base];
    let built = berth_ok(repo.path(), &args, Some(login.path())).await;
    assert_eq!(
        built.stderr.matches("mounted from team/base").count(),
        3,
        "{}",
        built.stderr
    );
    let (digest, _) = digest_and_tags(&built);
    let manifest = get_json(
        &client,
        &berth.url(&format!("/v2/team/onbase/manifests/{digest}")),
        "application/vnd.oci.image.manifest.v1+json",
    )
    .await;
    let annotations = &manifest["annotations"];
    assert_eq!(
        annotations["org.opencontainers.image.base.name"],
        base.as_str()
    );
    assert_eq!(
        annotations["org.opencontainers.image.base.digest"],
        base_digest.as_str()
    );
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 4, "the base's three layers and the binary");
    for (ours, theirs) in layers
        .iter()
        .zip(base_manifest["layers"].as_array().unwrap())
    {
        assert_eq!(ours["digest"], theirs["digest"]);
    }
    run(
        "docker",
        &["--config", config, "pull", "-q", &format!("{image}:v1.2.3")],
    )
    .await;
    let output = run("docker", &["run", "--rm", &format!("{image}:v1.2.3")]).await;
    assert_eq!(output, "hello from berth build, uid=65532 gid=65532\n");

    // A tarball needs the base's bytes: they are fetched from the registry.
    let out = tempfile::tempdir().unwrap();
    let tarball = out.path().join("onbase.tar");
    let args = [
        "build",
        "--image",
        "localhost/berth-test/onbase",
        "--base",
        &base,
        "--tarball",
        tarball.to_str().unwrap(),
    ];
    berth_ok(repo.path(), &args, Some(login.path())).await;
    run("docker", &["load", "-i", tarball.to_str().unwrap()]).await;
    let output = run(
        "docker",
        &[
            "run",
            "--rm",
            "--entrypoint",
            "/greeter",
            "localhost/berth-test/onbase:v1.2.3",
        ],
    )
    .await;
    assert_eq!(output, "base greeting from a Go program\n");
}

/// The build information `go version -m` prints: `(kind, fields)` per line after the first.
fn go_version_m(text: &str) -> (String, Vec<Vec<String>>) {
    let mut lines = text.lines();
    let version = lines.next().unwrap().rsplit(' ').next().unwrap().to_owned();
    let fields = lines
        .map(|line| line.trim().split('\t').map(str::to_owned).collect())
        .collect();
    (version, fields)
}

#[tokio::test]
async fn analyze_explains_a_docker_built_image_layer_by_layer_and_its_go_binary() {
    let berth = BerthProcess::start().await;
    let host = berth.host();
    let login = docker_login(&host).await;
    let context = tempfile::tempdir().unwrap();
    let dir = context.path();
    // Not stripped, so analyze has symbols to advise about.
    compile_go("gohello", dir, &["-trimpath"], "hello").await;
    std::fs::write(dir.join("one.bin"), vec![1u8; 1 << 20]).unwrap();
    std::fs::write(dir.join("two.bin"), vec![2u8; 1 << 20]).unwrap();
    std::fs::write(dir.join("keep.txt"), "x".repeat(1000)).unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM scratch\n\
         COPY hello /bin/hello\n\
         COPY one.bin /data/big.bin\n\
         COPY two.bin /data/big.bin\n\
         COPY keep.txt /data/keep.txt\n\
         RUN [\"/bin/hello\", \"rm\", \"/data/keep.txt\"]\n\
         ENTRYPOINT [\"/bin/hello\"]\n",
    )
    .unwrap();
    let image = format!("{host}/team/layers:v1");
    run_in("docker", &["build", "-q", "-t", &image, "."], Some(dir)).await;
    let config = login.path().to_str().unwrap();
    run("docker", &["--config", config, "push", &image]).await;
    let saved = dir.join("saved.tar");
    run("docker", &["save", "-o", saved.to_str().unwrap(), &image]).await;

    let binary_size = std::fs::metadata(dir.join("hello")).unwrap().len();
    let from_registry = analyze(dir, &image, Some(login.path())).await;
    // Each blob (the config and five layers) is read once, as a stream.
    let metrics = reqwest::get(berth.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let blob_gets = metrics
        .lines()
        .find(|l| {
            l.starts_with("berth_http_requests_total{")
                && l.contains("route=\"blob\"")
                && l.contains("method=\"GET\"")
                && l.contains("status=\"200\"")
        })
        .unwrap_or_else(|| panic!("no blob GETs counted:\n{metrics}"));
    assert!(blob_gets.ends_with(" 6"), "{blob_gets}");
    let from_tarball = analyze(dir, saved.to_str().unwrap(), None).await;
    // skopeo recompresses the layers with zstd into an OCI layout.
    let zstd_layout = format!("oci:{}:zstd", dir.join("zstd-layout").display());
    run(
        "skopeo",
        &[
            "copy",
            "--src-tls-verify=false",
            "--src-creds",
            &admin_creds(),
            "--dest-compress-format",
            "zstd",
            &format!("docker://{image}"),
            &zstd_layout,
        ],
    )
    .await;
    let from_zstd = analyze(dir, &zstd_layout, None).await;
    for reports in [&from_registry, &from_tarball, &from_zstd] {
        let report = &reports[0];
        let counts: Vec<(u64, u64, u64)> = report["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["added"].as_u64().unwrap(),
                    l["changed"].as_u64().unwrap(),
                    l["removed"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            counts,
            [(1, 0, 0), (1, 0, 0), (0, 1, 0), (1, 0, 0), (0, 0, 1)]
        );
        let wasted = (1 << 20) + 1000;
        assert_eq!(report["wasted_bytes"], wasted);
        let total = binary_size + 2 * (1 << 20) + 1000;
        let efficiency = report["efficiency"].as_f64().unwrap();
        assert!((efficiency - (1.0 - wasted as f64 / total as f64)).abs() < 1e-9);
        assert!(
            report["layers"][0]["created_by"]
                .as_str()
                .unwrap()
                .contains("COPY")
        );
        let ids: Vec<&str> = report["advice"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["strip-symbols", "wasted-files"]);
        assert!(report["advice"][0]["saves_bytes"].as_u64().unwrap() > 100_000);
    }
    // docker save keeps layers uncompressed: the same files, other blobs.
    let shape = |report: &Value| -> Vec<Value> {
        report["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                serde_json::json!([
                    l["uncompressed_bytes"],
                    l["created_by"],
                    l["added"],
                    l["changed"],
                    l["removed"]
                ])
            })
            .collect()
    };
    assert_eq!(shape(&from_registry[0]), shape(&from_tarball[0]));
    assert_eq!(shape(&from_registry[0]), shape(&from_zstd[0]));
    let zstd_layer = from_zstd[0]["layers"][0]["digest"].as_str().unwrap();
    assert_ne!(zstd_layer, from_registry[0]["layers"][0]["digest"]);

    // The Go build information is what `go version -m` prints, read without Go.
    let binary = &from_registry[0]["go_binaries"][0];
    assert_eq!(binary["path"], "/bin/hello");
    assert_eq!(binary["stripped"], false);
    assert_eq!(binary["linking"], "static");
    let (go_version, lines) = go_version_m(
        &run(
            "go",
            &["version", "-m", dir.join("hello").to_str().unwrap()],
        )
        .await,
    );
    assert_eq!(binary["go_version"], go_version.as_str());
    let mut settings = vec![];
    let mut deps = vec![];
    for fields in lines.iter().filter(|fields| !fields[0].is_empty()) {
        let module = |fields: &[String]| {
            serde_json::json!({
                "path": fields[1],
                "version": fields[2],
                "sum": fields.get(3).cloned().unwrap_or_default(),
            })
        };
        match fields[0].as_str() {
            "path" => assert_eq!(binary["package"], fields[1].as_str()),
            "mod" => {
                assert_eq!(binary["main_module"]["path"], fields[1].as_str());
                assert_eq!(binary["main_module"]["version"], fields[2].as_str());
            }
            "dep" => deps.push(module(fields)),
            "=>" => {
                let last: &mut Value = deps.last_mut().unwrap();
                last["replacement"] = module(fields);
            }
            "build" => {
                let (key, value) = fields[1].split_once('=').unwrap();
                settings.push(serde_json::json!([key, value.trim_matches('"')]));
            }
            other => panic!("unexpected go version -m line {other}"),
        }
    }
    let found: Vec<Value> = binary["deps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|dep| {
            let mut dep = dep.clone();
            match &mut dep["replacement"] {
                Value::Null => {
                    dep.as_object_mut().unwrap().remove("replacement");
                }
                replacement => {
                    replacement.as_object_mut().unwrap().remove("replacement");
                }
            }
            dep
        })
        .collect();
    assert_eq!(found, deps);
    assert_eq!(deps.len(), 1, "the replaced greeting module");
    assert_eq!(binary["settings"], Value::Array(settings));

    // --ci: thresholds decide the exit code.
    let credentials = [("DOCKER_CONFIG", config)];
    let strict = berth_in(
        dir,
        &["analyze", "--ci", "--min-efficiency", "0.9", &image],
        &credentials,
    )
    .await;
    assert!(
        !strict.ok && strict.stderr.contains("efficiency"),
        "{}",
        strict.stderr
    );
    let lenient = [
        "analyze",
        "--ci",
        "--min-efficiency",
        "0.5",
        "--max-wasted",
        "2MiB",
        &image,
    ];
    let passed = berth_in(dir, &lenient, &credentials).await;
    assert!(passed.ok, "{}", passed.stderr);
}

#[tokio::test]
async fn analyze_follows_a_hard_link_when_the_first_name_is_deleted() {
    use berth::image::{Layout, media};
    use berth::oci::spec;
    use serde_json::json;
    let dir = tempfile::tempdir().unwrap();
    let binary = compile_go("gohello", dir.path(), &["-trimpath"], "hello").await;
    let bytes = std::fs::read(&binary).unwrap();
    // A binary built outside module mode records no main module.
    let plain_dir = tempfile::tempdir().unwrap();
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/greeter"),
        plain_dir.path(),
    );
    std::fs::remove_file(plain_dir.path().join("go.mod")).unwrap();
    let built = tokio::process::Command::new("go")
        .args(["build", "-o", "plain", "."])
        .current_dir(plain_dir.path())
        .env("GO111MODULE", "off")
        .env("CGO_ENABLED", "0")
        .env("GOCACHE", std::env::temp_dir().join("berth-test-gocache"))
        .output()
        .await
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let plain = std::fs::read(plain_dir.path().join("plain")).unwrap();
    // Layer 1: the binary and a hard link to it, as tar stores one; layer 2 deletes the first
    // name, as `rm` in a later RUN does.
    let tar = |build: &dyn Fn(&mut tar::Builder<Vec<u8>>)| {
        let mut builder = tar::Builder::new(vec![]);
        build(&mut builder);
        builder.into_inner().unwrap()
    };
    let first = tar(&|builder| {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o755);
        builder
            .append_data(&mut header, "usr/bin/hello", &bytes[..])
            .unwrap();
        let mut link = tar::Header::new_gnu();
        link.set_entry_type(tar::EntryType::Link);
        link.set_size(0);
        builder
            .append_link(&mut link, "usr/bin/hello-alias", "usr/bin/hello")
            .unwrap();
        let mut header = tar::Header::new_gnu();
        header.set_size(plain.len() as u64);
        header.set_mode(0o755);
        builder
            .append_data(&mut header, "usr/bin/plain", &plain[..])
            .unwrap();
    });
    let second = tar(&|builder| {
        let mut header = tar::Header::new_gnu();
        header.set_size(0);
        builder
            .append_data(&mut header, "usr/bin/.wh.hello", &[][..])
            .unwrap();
    });
    let layout = Layout::create(&dir.path().join("layout")).unwrap();
    let layers: Vec<_> = [&first, &second]
        .iter()
        .map(|layer| {
            layout
                .write_blob("application/vnd.oci.image.layer.v1.tar", layer)
                .unwrap()
        })
        .collect();
    let config = layout
        .write_json(
            media::OCI_CONFIG,
            &json!({
                "architecture": "amd64", "os": "linux",
                "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.digest().to_string()).collect::<Vec<_>>()},
                "history": [{"created_by": "COPY hello"}, {"created_by": "RUN rm /usr/bin/hello"}],
            }),
        )
        .unwrap();
    let manifest = layout
        .write_json(media::OCI_MANIFEST, &spec::image_manifest(config, layers))
        .unwrap();
    let mut entry = manifest;
    spec::annotate(&mut entry, spec::REF_NAME, "v1");
    layout.write_index(&[entry]).unwrap();

    let target = format!("oci:{}:v1", dir.path().join("layout").display());
    let report = &analyze(dir.path(), &target, None).await[0];
    assert_eq!(report["wasted_bytes"], 0, "{report}");
    assert_eq!(report["efficiency"], 1.0);
    assert_eq!(report["content_bytes"], (bytes.len() + plain.len()) as u64);
    let paths: Vec<&str> = report["go_binaries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["/usr/bin/hello-alias", "/usr/bin/plain"]);
    let text = berth_ok(dir.path(), &["analyze", &target], None)
        .await
        .stdout;
    let line = text
        .lines()
        .find(|l| l.contains("go binary /usr/bin/hello-alias"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.contains(" amd64 example.com/hello@") && !line.contains(" ,"),
        "{line}"
    );
    let line = text
        .lines()
        .find(|l| l.contains("go binary /usr/bin/plain"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains(" amd64, ") && !line.contains(" ,"), "{line}");
}

#[tokio::test]
async fn analyze_refuses_a_layer_that_is_not_what_its_digest_says() {
    let repo = go_repository("gohello", None).await;
    let out = tempfile::tempdir().unwrap();
    let layout = out.path().join("layout");
    let layout_arg = layout.to_str().unwrap();
    berth_ok(
        repo.path(),
        &["build", "--oci-layout", layout_arg, "--tag", "t"],
        None,
    )
    .await;
    let image = format!("oci:{layout_arg}:t");
    let reports = analyze(repo.path(), &image, None).await;
    let binary_layer = reports[0]["layers"][1]["digest"].as_str().unwrap();
    let path = layout.join("blobs/sha256").join(&binary_layer[7..]);
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    let refused = berth_in(repo.path(), &["analyze", &image], &[]).await;
    assert!(!refused.ok);
    assert!(
        refused.stderr.contains(binary_layer),
        "the error names the layer: {}",
        refused.stderr
    );
}

/// Validates an SPDX document against the SPDX 2.3 JSON schema (`testdata/spdx`, with Python's
/// `jsonschema`) and with `pyspdxtools`, the SPDX project's validator of the specification's
/// rules; both come from PyPI through the test script.
async fn validate_spdx(document: &Value) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sbom.spdx.json");
    std::fs::write(&path, serde_json::to_vec_pretty(document).unwrap()).unwrap();
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/spdx/spdx-schema-2.3.json");
    let check = "import json, sys, jsonschema\n\
                 schema = json.load(open(sys.argv[1]))\n\
                 errors = [e.message for e in jsonschema.Draft201909Validator(schema).iter_errors(json.load(open(sys.argv[2])))]\n\
                 print('\\n'.join(errors))\n\
                 sys.exit(1 if errors else 0)\n";
    for (program, args) in [
        (
            "python3",
            vec![
                "-c",
                check,
                schema.to_str().unwrap(),
                path.to_str().unwrap(),
            ],
        ),
        ("pyspdxtools", vec!["--infile", path.to_str().unwrap()]),
    ] {
        let (ok, text) = attempt(program, &args).await;
        assert!(ok, "{program}: {text}");
        assert!(!text.contains("invalid"), "{program}: {text}");
    }
}
