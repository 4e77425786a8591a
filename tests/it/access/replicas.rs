//! Real clients and processes: docker, skopeo and podman with every credential kind, two replicas sharing one store, the generated admin password.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn docker_skopeo_and_podman_with_users_robots_and_ci_tokens() {
    let berth = BerthProcess::start().await;
    let host = berth.host();
    let data = berth.data_dir().to_owned();
    berth_admin(&data, &["project", "create", "team"], "").await;
    berth_admin(&data, &["project", "create", "pub", "--public"], "").await;
    berth_admin(&data, &["user", "add", "alice"], &format!("{PASSWORD}\n")).await;
    berth_admin(&data, &["member", "set", "team", "alice", "developer"], "").await;

    // docker login as a developer, push into the private project, remove, pull back, run.
    let alice = tempfile::tempdir().unwrap();
    let alice = alice.path().to_str().unwrap();
    run(
        "docker",
        &[
            "--config", alice, "login", "-u", "alice", "-p", PASSWORD, &host,
        ],
    )
    .await;
    let image = format!("{host}/team/app:v1");
    docker_build(&image, "private").await;
    run("docker", &["--config", alice, "push", &image]).await;
    run("docker", &["rmi", &image]).await;
    run("docker", &["--config", alice, "pull", &image]).await;
    let out = run("docker", &["run", "--rm", "--network", "none", &image]).await;
    assert_eq!(out, "private from a Go program\n");

    // Without login: the private image is refused, a public one pulls.
    let nobody = tempfile::tempdir().unwrap();
    let nobody = nobody.path().to_str().unwrap();
    run("docker", &["rmi", &image]).await;
    let (pulled, text) = attempt("docker", &["--config", nobody, "pull", &image]).await;
    assert!(!pulled, "{text}");
    let admin_cfg = crate::support::docker_login(&host).await;
    let admin_cfg = admin_cfg.path().to_str().unwrap();
    let public = format!("{host}/pub/tool:v1");
    run("docker", &["--config", admin_cfg, "pull", &image]).await;
    run("docker", &["tag", &image, &public]).await;
    run("docker", &["--config", admin_cfg, "push", &public]).await;
    run("docker", &["rmi", &public]).await;
    run("docker", &["--config", nobody, "pull", &public]).await;
    run("docker", &["rmi", &public]).await;

    // A CI token: docker login with it, push to team/app only, then revoke.
    let minted = berth_admin(
        &data,
        &[
            "token", "create", "--repo", "team/app", "--push", "--ttl", "15m",
        ],
        "",
    )
    .await;
    let minted: Value = serde_json::from_str(&minted).unwrap();
    let (name, secret) = (
        minted["name"].as_str().unwrap(),
        minted["secret"].as_str().unwrap(),
    );
    let ci = tempfile::tempdir().unwrap();
    let ci = ci.path().to_str().unwrap();
    run(
        "docker",
        &["--config", ci, "login", "-u", name, "-p", secret, &host],
    )
    .await;
    let ci_image = format!("{host}/team/app:sha-5a8b7c3");
    run("docker", &["tag", &image, &ci_image]).await;
    run("docker", &["--config", ci, "push", &ci_image]).await;
    let elsewhere = format!("{host}/team/other:sha-5a8b7c3");
    run("docker", &["tag", &image, &elsewhere]).await;
    let (pushed, text) = attempt("docker", &["--config", ci, "push", &elsewhere]).await;
    assert!(!pushed, "a token for team/app pushed to team/other: {text}");
    berth_admin(&data, &["token", "revoke", name], "").await;
    let after = format!("{host}/team/app:sha-revoked");
    run("docker", &["tag", &image, &after]).await;
    let (pushed, text) = attempt("docker", &["--config", ci, "push", &after]).await;
    assert!(!pushed, "a revoked token pushed: {text}");
    for tag in [&image, &ci_image, &elsewhere, &after] {
        run("docker", &["rmi", tag]).await;
    }

    // skopeo with --creds of a robot; disabled, it is refused.
    let robot = berth_admin(
        &data,
        &["robot", "create", "team", "reader", "--actions", "pull"],
        "",
    )
    .await;
    let robot: Value = serde_json::from_str(&robot).unwrap();
    let creds = format!(
        "{}:{}",
        robot["name"].as_str().unwrap(),
        robot["secret"].as_str().unwrap()
    );
    let source = format!("docker://{image}");
    let inspect = ["inspect", "--tls-verify=false", "--creds", &creds, &source];
    run("skopeo", &inspect).await;
    berth_admin(
        &data,
        &["robot", "disable", robot["name"].as_str().unwrap()],
        "",
    )
    .await;
    let (inspected, text) = attempt("skopeo", &inspect).await;
    assert!(!inspected, "a disabled robot read: {text}");

    // podman login as alice, then pull.
    let podman = Podman::new();
    podman.login(&host, "alice", PASSWORD).await;
    podman.registry("pull", &image).await;
    podman.run(&["rmi", "--all", "--force"]).await;

    // Not one password or secret reached the server's log.
    let log = berth.output();
    for secret in [
        PASSWORD,
        ADMIN_PASSWORD,
        secret,
        robot["secret"].as_str().unwrap(),
    ] {
        assert!(!log.contains(secret), "a secret is in the log");
    }

    // The audit log tells who pushed what, and the revocation.
    let audit = berth_admin(
        &data,
        &["audit", "--project", "team", "--action", "push"],
        "",
    )
    .await;
    assert!(
        audit
            .lines()
            .any(|l| l.contains("\talice\tpush\tteam\tteam/app\t")),
        "{audit}"
    );
    assert!(
        audit
            .lines()
            .any(|l| l.contains(&format!("\t{name}\tpush\tteam\tteam/app\t"))),
        "{audit}"
    );
    let revoked = berth_admin(&data, &["audit", "--action", "token.revoke"], "").await;
    assert_eq!(revoked.lines().count(), 2, "{revoked}");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_honour_each_others_tokens() {
    let first = BerthProcess::start().await;
    let data = first.data_dir().to_str().unwrap().to_owned();
    let args = ["--listen", "127.0.0.1:0", "--data-dir", &data].map(String::from);
    let second = BerthProcess::start_with(tempfile::tempdir().unwrap(), &args, &[]).await;
    berth_admin(first.data_dir(), &["project", "create", "team"], "").await;
    berth_admin(
        first.data_dir(),
        &["user", "add", "dev"],
        &format!("{PASSWORD}\n"),
    )
    .await;
    berth_admin(
        first.data_dir(),
        &["member", "set", "team", "dev", "developer"],
        "",
    )
    .await;

    let minted = reqwest::Client::new()
        .get(first.url("/auth/token?service=berth&scope=repository:team/app:pull,push"))
        .basic_auth("dev", Some(PASSWORD))
        .send()
        .await
        .unwrap();
    let minted: Value = minted.json().await.unwrap();
    let client = bearer_client(minted["token"].as_str().unwrap());
    let blob = b"pushed through the second replica";
    let digest = sha256(blob);
    let push = client
        .post(second.url(&format!("/v2/team/app/blobs/uploads/?digest={digest}")))
        .body(blob.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(push.status(), StatusCode::CREATED);
    let read = client
        .get(first.url(&format!("/v2/team/app/blobs/{digest}")))
        .send()
        .await
        .unwrap();
    assert_eq!(read.bytes().await.unwrap().as_ref(), blob);

    // Disabling the user on the stores stops its token on both replicas.
    berth_admin(first.data_dir(), &["user", "disable", "dev"], "").await;
    for replica in [&first, &second] {
        let refused = client
            .get(replica.url(&format!("/v2/team/app/blobs/{digest}")))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_generated_admin_password_goes_to_a_private_file_after_the_port_is_bound() {
    use std::os::unix::fs::PermissionsExt;
    let data = tempfile::tempdir().unwrap();
    let path = data.path().to_str().unwrap().to_owned();
    let env = [("BERTH_ADMIN_PASSWORD", "")];
    // A start that cannot listen creates nothing and spends no password.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_addr = busy.local_addr().unwrap().to_string();
    let (ok, text) = crate::support::attempt(
        env!("CARGO_BIN_EXE_berth"),
        &["serve", "--listen", &busy_addr, "--data-dir", &path],
    )
    .await;
    assert!(!ok && text.contains("listening on"), "{text}");
    assert!(!data.path().join("meta.db").exists());
    // Maintenance commands never create a store either.
    let (ok, text) = crate::support::attempt(
        env!("CARGO_BIN_EXE_berth"),
        &["admin", "--data-dir", &path, "user", "ls"],
    )
    .await;
    assert!(
        !ok && text.contains("no berth store at") && text.contains(&path),
        "{text}"
    );
    assert!(!data.path().join("meta.db").exists());

    let args = ["--listen", "127.0.0.1:0", "--data-dir", &path].map(String::from);
    let berth = BerthProcess::start_with(data, &args, &env).await;
    let file = berth.data_dir().join("admin-password");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let password = std::fs::read_to_string(&file).unwrap().trim().to_owned();
    let output = berth.output();
    assert!(output.contains(file.to_str().unwrap()), "{output}");
    assert!(!output.contains(&password), "the password reached the log");
    let ok = reqwest::Client::new()
        .get(berth.url("/auth/token?service=berth"))
        .basic_auth("admin", Some(&password))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);

    std::fs::remove_file(&file).unwrap();
    let data = berth.crash().await;
    let again = BerthProcess::start_with(data, &args, &env).await;
    assert!(!again.data_dir().join("admin-password").exists());
    assert!(!again.output().contains("created the system administrator"));
}
