//! Real clients against the `berth serve` binary: the Docker engine, skopeo, podman and the
//! `oci-client` crate. The README's test command installs and starts them; when one is missing
//! these tests fail, they never skip.

use std::path::Path;

use futures_util::StreamExt;
use oci_client::client::{ClientConfig, ClientProtocol, ImageLayer};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::support::{
    ADMIN_PASSWORD, BerthProcess, Podman, admin_creds, docker_build, docker_login, run,
};

async fn manifest_json(berth: &BerthProcess, name: &str, reference: &str) -> Value {
    let accept = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";
    berth
        .client()
        .await
        .get(format!(
            "http://{}/v2/{name}/manifests/{reference}",
            berth.host()
        ))
        .header("accept", accept)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_push_remove_pull_and_run() {
    let berth = BerthProcess::start().await;
    let config = docker_login(&berth.host()).await;
    let config = config.path().to_str().unwrap();
    let image = format!("{}/team/greeter:v1.0.0", berth.host());
    docker_build(&image, "hello").await;
    run("docker", &["--config", config, "push", &image]).await;
    run("docker", &["rmi", &image]).await;
    run("docker", &["--config", config, "pull", &image]).await;
    let out = run("docker", &["run", "--rm", "--network", "none", &image]).await;
    assert_eq!(out, "hello from a Go program\n");

    // Three COPY instructions, three layers, each pulled back intact.
    let manifest = manifest_json(&berth, "team/greeter", "v1.0.0").await;
    assert_eq!(
        manifest["layers"].as_array().unwrap().len(),
        3,
        "{manifest}"
    );
    run("docker", &["rmi", &image]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn skopeo_copies_between_repositories_and_oci_layouts() {
    let berth = BerthProcess::start().await;
    let host = berth.host();
    let local = format!("berth-test/skopeo-{}", std::process::id());
    docker_build(&local, "skopeo").await;
    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("image.tar");
    run("docker", &["save", "-o", archive.to_str().unwrap(), &local]).await;
    run("docker", &["rmi", &local]).await;

    let layout = work.path().join("layout");
    let layout_ref = format!("oci:{}:v1", layout.display());
    let creds = admin_creds();
    let skopeo = |args: &[&str]| {
        let mut all = vec![
            "copy",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            "--src-creds",
            &creds,
            "--dest-creds",
            &creds,
        ];
        all.extend_from_slice(args);
        all.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let copy = |args: Vec<String>| async move {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run("skopeo", &args).await
    };
    copy(skopeo(&[
        &format!("docker-archive:{}", archive.display()),
        &layout_ref,
    ]))
    .await;
    copy(skopeo(&[
        &layout_ref,
        &format!("docker://{host}/team/first:v1"),
    ]))
    .await;
    copy(skopeo(&[
        &format!("docker://{host}/team/first:v1"),
        &format!("docker://{host}/team/second:v1"),
    ]))
    .await;
    let back = work.path().join("back");
    copy(skopeo(&[
        &format!("docker://{host}/team/second:v1"),
        &format!("oci:{}:v1", back.display()),
    ]))
    .await;

    let first = manifest_json(&berth, "team/first", "v1").await;
    let second = manifest_json(&berth, "team/second", "v1").await;
    assert_eq!(first, second);
    assert_eq!(layout_manifest(&layout), layout_manifest(&back));
    let inspect = run(
        "skopeo",
        &[
            "inspect",
            "--tls-verify=false",
            "--creds",
            &creds,
            &format!("docker://{host}/team/second:v1"),
        ],
    )
    .await;
    let inspect: Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(inspect["Layers"].as_array().unwrap().len(), 3);
}

/// The manifest an OCI layout's `index.json` points at.
fn layout_manifest(layout: &Path) -> Value {
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let digest = index["manifests"][0]["digest"].as_str().unwrap();
    let path = layout.join("blobs").join(digest.replace(':', "/"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn podman_push_and_pull() {
    let berth = BerthProcess::start().await;
    let host = berth.host();
    let podman = Podman::new();

    // The source image reaches berth through the Docker engine, then podman takes over.
    let image = format!("{host}/team/podman-src:v1");
    docker_build(&image, "podman").await;
    let config = docker_login(&host).await;
    run(
        "docker",
        &["--config", config.path().to_str().unwrap(), "push", &image],
    )
    .await;
    run("docker", &["rmi", &image]).await;

    // podman logs in the way users do, then pulls and pushes with the stored credentials.
    podman.login(&host, "admin", ADMIN_PASSWORD).await;
    podman.registry("pull", &image).await;
    let pushed = format!("{host}/team/podman:v1");
    podman.run(&["tag", &image, &pushed]).await;
    podman.registry("push", &pushed).await;
    podman.run(&["rmi", "--all", "--force"]).await;
    podman.registry("pull", &pushed).await;
    let images = podman
        .run(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .await;
    assert!(images.contains(&pushed), "{images}");
    let source = manifest_json(&berth, "team/podman-src", "v1").await;
    let copy = manifest_json(&berth, "team/podman", "v1").await;
    assert_eq!(
        source["layers"].as_array().unwrap().len(),
        copy["layers"].as_array().unwrap().len()
    );
    podman.run(&["rmi", "--all", "--force"]).await;
}

#[tokio::test]
async fn oci_client_crate_pushes_and_pulls() {
    let berth = BerthProcess::start().await;
    let client = Client::new(ClientConfig {
        protocol: ClientProtocol::Http,
        ..Default::default()
    });
    let auth = RegistryAuth::Basic("admin".into(), ADMIN_PASSWORD.into());
    let reference: Reference = format!("{}/team/rust-client:v1", berth.host())
        .parse()
        .unwrap();

    let layer = ImageLayer::oci_v1(b"a layer pushed by oci-client".to_vec(), None);
    let config = oci_client::client::Config::oci_v1(
        br#"{"architecture":"amd64","os":"linux"}"#.to_vec(),
        None,
    );
    let pushed = client
        .push(
            &reference,
            std::slice::from_ref(&layer),
            config,
            &auth,
            None,
        )
        .await
        .unwrap();
    assert!(
        pushed
            .manifest_url
            .contains("/v2/team/rust-client/manifests/")
    );

    let pulled = client
        .pull(
            &reference,
            &auth,
            vec![oci_client::manifest::IMAGE_LAYER_MEDIA_TYPE],
        )
        .await
        .unwrap();
    assert_eq!(pulled.layers.len(), 1);
    assert_eq!(pulled.layers[0].data, layer.data);

    let tags = client
        .list_tags(&reference, &auth, None, None)
        .await
        .unwrap();
    assert_eq!(tags.tags, ["v1"]);
    let digest = pulled.digest.expect("pull reports the manifest digest");
    let by_digest = Reference::with_digest(
        reference.registry().into(),
        reference.repository().into(),
        digest,
    );
    let referrers = client.pull_referrers(&by_digest, None).await.unwrap();
    assert!(referrers.manifests.is_empty());
}

/// Pushing a 2 GiB blob in one PATCH streams it: the server's peak RSS grows by less than
/// 64 MiB, and the blob is stored under its verified digest.
#[tokio::test(flavor = "multi_thread")]
async fn two_gib_push_keeps_server_memory_bounded() {
    const SIZE: u64 = 2 << 30;
    const CHUNK: usize = 1 << 20;
    let berth = BerthProcess::start().await;
    let base = format!("http://{}", berth.host());
    let client = berth.client().await;
    berth.reset_peak_rss();
    let rss_before = berth.rss();

    let pattern: bytes::Bytes = (0..CHUNK)
        .map(|i| (i % 253) as u8)
        .collect::<Vec<_>>()
        .into();
    let mut hasher = Sha256::new();
    for _ in 0..SIZE / CHUNK as u64 {
        hasher.update(&pattern);
    }
    let digest = format!("sha256:{}", hex::encode(hasher.finalize()));

    let start = client
        .post(format!("{base}/v2/big/blob/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    let location = start.headers()["location"].to_str().unwrap().to_owned();
    let chunks = futures_util::stream::iter(0..SIZE / CHUNK as u64)
        .map(move |_| Ok::<_, std::io::Error>(pattern.clone()));
    let patch = client
        .patch(format!("{base}{location}"))
        .header("content-length", SIZE)
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), 202);
    let put = client
        .put(format!("{base}{location}?digest={digest}"))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201);
    let head = client
        .head(format!("{base}/v2/big/blob/blobs/{digest}"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.headers()["content-length"], SIZE.to_string().as_str());

    let growth = berth.peak_rss().saturating_sub(rss_before);
    assert!(growth < 64 << 20, "peak RSS grew by {} MiB", growth >> 20);
}

/// oras-py, as `pip install oras` brings it: logs in with a password, pushes a file as an
/// artifact and pulls it back. It keeps its first token until the registry refuses it with a
/// 403, so this also checks how berth answers a token that lacks a scope.
#[tokio::test(flavor = "multi_thread")]
async fn oras_from_pypi_pushes_and_pulls_after_logging_in() {
    let berth = BerthProcess::start().await;
    let dir = tempfile::tempdir().unwrap();
    let artifact = dir.path().join("artifact.txt");
    std::fs::write(&artifact, "an artifact pushed by oras-py\n").unwrap();
    let out = dir.path().join("pulled");
    let script = format!(
        r#"
import oras.client
host = "{host}"
client = oras.client.OrasClient(hostname=host, insecure=True)
client.login(username="admin", password="{password}", hostname=host)
response = client.push(target=host + "/team/artifact:v1", files=["artifact.txt"])
assert response.status_code == 201, response.text
print(client.pull(target=host + "/team/artifact:v1", outdir="{out}"))
"#,
        host = berth.host(),
        password = ADMIN_PASSWORD,
        out = out.display()
    );
    let script_path = dir.path().join("oras_roundtrip.py");
    std::fs::write(&script_path, script).unwrap();
    crate::support::run_in(
        "python3",
        &[script_path.to_str().unwrap()],
        Some(dir.path()),
    )
    .await;
    let pulled = std::fs::read_to_string(out.join("artifact.txt")).unwrap();
    assert_eq!(pulled, "an artifact pushed by oras-py\n");
}
