//! How `berth serve` behaves as a server: TLS, timeouts against stalled clients, graceful
//! shutdown, a crash in the middle of an upload, and configuration layering.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use berth::config::{Config, Timeouts};
use futures_util::StreamExt;
use oci_client::client::{
    Certificate, CertificateEncoding, ClientConfig, ClientProtocol, ImageLayer,
};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use reqwest::StatusCode;

use crate::support::{
    ADMIN_PASSWORD, BerthProcess, TestServer, berth_in, go_repository, run, sha256, test_config,
};

#[tokio::test(flavor = "multi_thread")]
async fn tls_with_rustls_serves_a_real_client() {
    // A CA and a server certificate for localhost signed by it, as a real deployment has.
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let (ca, ca_key, csr, ext) = (
        path("ca.pem"),
        path("ca.key"),
        path("cert.csr"),
        path("ext.cnf"),
    );
    let (cert, key) = (path("cert.pem"), path("key.pem"));
    let extensions =
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n";
    std::fs::write(&ext, extensions).unwrap();
    let new_key = ["-newkey", "rsa:2048", "-nodes"];
    let ca_args = [
        &["req", "-x509"][..],
        &new_key,
        &[
            "-days",
            "1",
            "-subj",
            "/CN=berth test CA",
            "-keyout",
            &ca_key,
            "-out",
            &ca,
        ],
    ];
    run("openssl", &ca_args.concat()).await;
    let csr_args = [
        &["req", "-new"][..],
        &new_key,
        &["-subj", "/CN=localhost", "-keyout", &key, "-out", &csr],
    ];
    run("openssl", &csr_args.concat()).await;
    let sign = [
        "x509",
        "-req",
        "-in",
        &csr,
        "-CA",
        &ca,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        &ext,
        "-out",
        &cert,
    ];
    run("openssl", &sign).await;

    let berth = BerthProcess::start_fresh(&["--tls-cert", &cert, "--tls-key", &key]).await;

    let root = Certificate {
        encoding: CertificateEncoding::Pem,
        data: std::fs::read(&ca).unwrap(),
    };
    let config = ClientConfig {
        protocol: ClientProtocol::Https,
        extra_root_certificates: vec![root],
        ..Default::default()
    };
    let client = Client::new(config);
    let reference: Reference = format!("localhost:{}/team/tls:v1", berth.addr.port())
        .parse()
        .unwrap();
    let layer = ImageLayer::oci_v1(b"over TLS".to_vec(), None);
    let image_config = oci_client::client::Config::oci_v1(b"{}".to_vec(), None);
    let auth = RegistryAuth::Basic("admin".into(), ADMIN_PASSWORD.into());
    client
        .push(
            &reference,
            std::slice::from_ref(&layer),
            image_config,
            &auth,
            None,
        )
        .await
        .unwrap();
    let accepted = vec![oci_client::manifest::IMAGE_LAYER_MEDIA_TYPE];
    let pulled = client.pull(&reference, &auth, accepted).await.unwrap();
    assert_eq!(pulled.layers[0].data, layer.data);

    // Plain HTTP on the TLS port gets no registry.
    let plain = reqwest::get(format!("http://{}/v2/", berth.host())).await;
    assert!(plain.is_err() || plain.unwrap().status() != StatusCode::OK);

    // berth build accepts a loopback registry's certificate, as Docker does, and pushes over
    // TLS with the credentials of the Docker config.
    use base64::Engine;
    let host = format!("localhost:{}", berth.addr.port());
    let docker_config = tempfile::tempdir().unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("admin:{ADMIN_PASSWORD}"));
    std::fs::write(
        docker_config.path().join("config.json"),
        format!(r#"{{"auths": {{"{host}": {{"auth": "{auth}"}}}}}}"#),
    )
    .unwrap();
    let repo = go_repository("gohello", Some("v1.0.0")).await;
    let env = [("DOCKER_CONFIG", docker_config.path().to_str().unwrap())];
    let built = berth_in(
        repo.path(),
        &["build", "--image", &format!("{host}/team/built")],
        &env,
    )
    .await;
    assert!(built.ok, "{}", built.stderr);
    let reference: Reference = format!("{host}/team/built:v1.0.0").parse().unwrap();
    let accepted = vec![oci_client::manifest::IMAGE_LAYER_GZIP_MEDIA_TYPE];
    let auth = RegistryAuth::Basic("admin".into(), ADMIN_PASSWORD.into());
    let pulled = client.pull(&reference, &auth, accepted).await.unwrap();
    assert_eq!(pulled.layers.len(), 2, "system files and the binary");
}

#[tokio::test(flavor = "multi_thread")]
async fn stalled_upload_body_is_cut_off_and_loses_nothing() {
    let (_dir, config) = config_with(Timeouts {
        body_idle_secs: 1,
        ..Timeouts::default()
    });
    let s = TestServer::start_with(&config).await;
    let start = s
        .client
        .post(s.url("/v2/a/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    let location = start.headers()["location"].to_str().unwrap().to_owned();

    let addr = s.addr;
    let path = location.clone();
    let token = s.token.clone();
    let (reply, waited) = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        // A server that never hangs up fails the test instead of hanging it.
        stream
            .set_read_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        write!(
            stream,
            "PATCH {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
             Content-Length: 100\r\n\r\n0123456789"
        )
        .unwrap();
        let started = Instant::now();
        let mut reply = String::new();
        let _ = stream.read_to_string(&mut reply);
        (reply, started.elapsed())
    })
    .await
    .unwrap();
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    assert!(reply.contains("BLOB_UPLOAD_INVALID"), "{reply}");
    assert!(waited < Duration::from_secs(10), "cut off after {waited:?}");

    let status = s.client.get(s.url(&location)).send().await.unwrap();
    assert_eq!(
        status.headers()["range"],
        "0-0",
        "the stalled bytes were not counted"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn connection_that_never_finishes_its_headers_is_closed() {
    let (_dir, config) = config_with(Timeouts {
        header_read_secs: 1,
        ..Timeouts::default()
    });
    let s = TestServer::start_with(&config).await;
    let addr = s.addr;
    let waited = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        // A server that never hangs up fails the test instead of hanging it.
        stream
            .set_read_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        stream
            .write_all(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n")
            .unwrap();
        let started = Instant::now();
        let mut rest = vec![];
        let _ = stream.read_to_end(&mut rest);
        started.elapsed()
    })
    .await
    .unwrap();
    assert!(
        waited < Duration::from_secs(10),
        "still open after {waited:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_lets_in_flight_requests_finish() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = TestServer::start(dir.path()).await;
    let start = s
        .client
        .post(s.url("/v2/a/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    let location = start.headers()["location"].to_str().unwrap().to_owned();

    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let patch = s
        .client
        .patch(s.url(&location))
        .body(reqwest::Body::wrap_stream(body))
        .send();
    let patch = tokio::spawn(patch);
    tx.send(Ok(b"first half ".to_vec())).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    s.begin_stop();
    tokio::time::sleep(Duration::from_millis(200)).await;
    tx.send(Ok(b"second half".to_vec())).await.unwrap();
    drop(tx);
    let response = patch.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(response.headers()["range"], "0-21");
    let addr = s.addr;
    s.stopped().await;
    assert!(
        TcpStream::connect(addr).is_err(),
        "the listener is closed after shutdown"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn crash_in_the_middle_of_an_upload_loses_nothing() {
    // A short lease: the dead process's lease on the session expires two seconds after the crash.
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("berth.toml");
    std::fs::write(&config, "[timeouts]\nupload_lease_secs = 2\n").unwrap();
    let (config, data_dir) = (
        config.to_str().unwrap().to_owned(),
        data.path().to_str().unwrap().to_owned(),
    );
    let args = [
        "--config",
        &config,
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        &data_dir,
    ]
    .map(String::from);
    let berth = BerthProcess::start_with(data, &args, &[]).await;
    let client = berth.client().await;
    let base = format!("http://{}", berth.host());
    let stored = vec![42u8; 3 << 20];
    let stored_digest = sha256(&stored);
    let monolithic = format!("{base}/v2/a/blobs/uploads/?digest={stored_digest}");
    let put = client
        .post(monolithic)
        .body(stored.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::CREATED);

    let start = client
        .post(format!("{base}/v2/a/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    let location = start.headers()["location"].to_str().unwrap().to_owned();
    let first = client
        .patch(format!("{base}{location}"))
        .body(vec![1u8; 1 << 20])
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::ACCEPTED);

    // A second chunk is half sent when the server dies.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let patch = client
        .patch(format!("{base}{location}"))
        .body(reqwest::Body::wrap_stream(body));
    let in_flight = tokio::spawn(patch.send());
    tx.send(Ok(vec![2u8; 1 << 20])).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let data = berth.crash().await;
    let crashed = Instant::now();
    assert!(in_flight.await.unwrap().is_err());

    let berth = BerthProcess::start_with(data, &args, &[]).await;
    let base = format!("http://{}", berth.host());
    let blob = client
        .get(format!("{base}/v2/a/blobs/{stored_digest}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        sha256(&blob.bytes().await.unwrap()),
        stored_digest,
        "what was stored before is intact"
    );

    let status = client
        .get(format!("{base}{location}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        status.headers()["range"],
        format!("0-{}", (1 << 20) - 1),
        "only the finished chunk counts"
    );
    // Until the dead holder's lease expires the session answers "busy"; then it continues.
    let second = loop {
        let second = client
            .patch(format!("{base}{location}"))
            .body(vec![2u8; 1 << 20])
            .send()
            .await
            .unwrap();
        if second.status() != StatusCode::CONFLICT || crashed.elapsed() > Duration::from_secs(10) {
            break second;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(second.status(), StatusCode::ACCEPTED);
    let mut whole = vec![1u8; 1 << 20];
    whole.extend(vec![2u8; 1 << 20]);
    let digest = sha256(&whole);
    let done = client
        .put(format!("{base}{location}?digest={digest}"))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), StatusCode::CREATED);
    let mut pulled = client
        .get(format!("{base}/v2/a/blobs/{digest}"))
        .send()
        .await
        .unwrap()
        .bytes_stream();
    let mut received = vec![];
    while let Some(chunk) = pulled.next().await {
        received.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(received, whole);
}

#[tokio::test(flavor = "multi_thread")]
async fn flags_override_environment_which_overrides_the_config_file() {
    let root = tempfile::tempdir().unwrap();
    let [from_file, from_env, from_flag] =
        ["file", "env", "flag"].map(|name| root.path().join(name));
    let config = root.path().join("berth.toml");
    let toml = format!(
        "listen = \"127.0.0.1:0\"\ndata_dir = \"{}\"\nlog_format = \"text\"\n",
        from_file.display()
    );
    std::fs::write(&config, toml).unwrap();

    let args = ["--config", config.to_str().unwrap()].map(String::from);
    let env = [("BERTH_DATA_DIR", from_env.to_str().unwrap())];
    let berth = BerthProcess::start_with(tempfile::tempdir().unwrap(), &args, &env).await;
    assert!(from_env.join("meta.db").exists() && !from_file.exists());
    drop(berth);

    let args = [
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
        from_flag.to_str().unwrap(),
    ]
    .map(String::from);
    let _berth = BerthProcess::start_with(tempfile::tempdir().unwrap(), &args, &env).await;
    assert!(from_flag.join("meta.db").exists() && !from_file.exists());
}

fn config_with(timeouts: Timeouts) -> (tempfile::TempDir, Config) {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        timeouts,
        ..test_config(dir.path())
    };
    (dir, config)
}

/// A tmpfs of `size` mounted on a new directory, unmounted on drop.
struct SmallVolume {
    dir: tempfile::TempDir,
}

impl SmallVolume {
    async fn mount(size: &str) -> SmallVolume {
        let dir = tempfile::tempdir().unwrap();
        let options = format!("size={size}");
        run(
            "mount",
            &[
                "-t",
                "tmpfs",
                "-o",
                &options,
                "tmpfs",
                dir.path().to_str().unwrap(),
            ],
        )
        .await;
        SmallVolume { dir }
    }
}

impl Drop for SmallVolume {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Writes a file until the volume is full; returns its path.
fn fill(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let chunk = vec![7u8; 64 * 1024];
    while file.write_all(&chunk).is_ok() {}
    let _ = file.write_all(&[7]);
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_is_reported_as_such_and_writes_recover_once_space_is_back() {
    use crate::support::{Api, OCI_MANIFEST, berth_cli};
    let volume = SmallVolume::mount("48m").await;
    let data = volume.dir.path().join("data");
    let args: Vec<String> = [
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec();
    let berth = BerthProcess::start_with(tempfile::tempdir().unwrap(), &args, &[]).await;
    let (base, client) = (berth.url(""), berth.client().await);
    let (_, res) = Api::new(&base, &client)
        .push("team/app", "before", &[vec![1u8; 4096]])
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let readiness = async || {
        let res = reqwest::get(format!("{base}/readyz")).await.unwrap();
        (res.status(), res.json::<serde_json::Value>().await.unwrap())
    };
    assert_eq!(readiness().await.0, StatusCode::OK);
    // The layers the manifests below name, pushed while there is room.
    let layer = vec![2u8; 1024];
    let (_, res) = Api::new(&base, &client)
        .push("team/app", "layers", std::slice::from_ref(&layer))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);

    let filler = fill(volume.dir.path());
    let mut refused = 0;
    for i in 0..40u32 {
        let blob = format!("blob pushed while full {i}")
            .repeat(2000)
            .into_bytes();
        let res = Api::new(&base, &client).upload_blob("team/app", blob).await;
        let status = res.status();
        let body = res.text().await.unwrap();
        assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE, "{body}");
        assert!(body.contains("out of storage space"), "{body}");
        // Manifests big enough that the metadata store must grow to hold them.
        let config = json_config(i);
        let manifest = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha256(&layer), "size": layer.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": sha256(&layer), "size": layer.len()}],
            "annotations": {"padding": config}})
        .to_string();
        let res = client
            .put(format!("{base}/v2/team/app/manifests/full-{i}"))
            .header("content-type", OCI_MANIFEST)
            .body(manifest)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let body = res.text().await.unwrap();
        assert!(
            status == StatusCode::CREATED || status == StatusCode::INSUFFICIENT_STORAGE,
            "{status}: {body}"
        );
        if status == StatusCode::INSUFFICIENT_STORAGE {
            assert!(body.contains("out of storage space"), "{body}");
            refused += 1;
        }
    }
    assert!(refused > 0, "no manifest write ran out of space");
    // Not ready while full, so that a load balancer sends writes elsewhere; still alive.
    let (status, body) = readiness().await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["blobs"], "out of space", "{body}");
    let alive = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(alive.status(), StatusCode::OK);
    assert!(
        berth.output().contains("out of storage space"),
        "nothing logged"
    );
    let metrics = client.get(format!("{base}/metrics")).send().await.unwrap();
    assert!(
        metrics
            .text()
            .await
            .unwrap()
            .contains("berth_storage_full_total")
    );

    // Space is back: ready again, every write works again without a restart, and nothing was
    // damaged.
    std::fs::remove_file(filler).unwrap();
    assert_eq!(readiness().await.0, StatusCode::OK);
    for i in 0..10u32 {
        let tag = format!("after-{i}");
        let (_, res) = Api::new(&base, &client)
            .push("team/app", &tag, &[tag.clone().into_bytes()])
            .await;
        assert_eq!(
            res.status(),
            StatusCode::CREATED,
            "{tag}: {}",
            res.text().await.unwrap()
        );
        Api::new(&base, &client)
            .pull_and_verify("team/app", &tag)
            .await;
    }
    Api::new(&base, &client)
        .pull_and_verify("team/app", "before")
        .await;
    let fsck = berth_cli(&["fsck", "--data-dir", data.to_str().unwrap()], "").await;
    assert!(fsck.contains("clean"), "{fsck}");
    drop(berth);
}

/// 64 KiB of padding that differs per manifest.
fn json_config(i: u32) -> String {
    format!("{i:08}").repeat(8 * 1024)
}

/// Reads from `stream` until the server closes it; how long that took, and what it sent.
fn wait_for_close(stream: &mut TcpStream) -> (Duration, Vec<u8>) {
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let started = Instant::now();
    let mut received = vec![];
    let _ = stream.read_to_end(&mut received);
    (started.elapsed(), received)
}

#[tokio::test(flavor = "multi_thread")]
async fn silent_and_idle_connections_are_closed_and_their_number_is_capped() {
    let (_dir, mut config) = config_with(Timeouts {
        header_read_secs: 1,
        idle_secs: 2,
        ..Timeouts::default()
    });
    config.limits.max_connections = 4;
    let s = TestServer::start_with(&config).await;
    let addr = s.addr;
    let (silent, keep_alive, refused) = tokio::task::spawn_blocking(move || {
        // A connection that never sends a byte.
        let mut silent = TcpStream::connect(addr).unwrap();
        let silent = wait_for_close(&mut silent).0;
        // A keep-alive connection that goes quiet after one request.
        let mut idle = TcpStream::connect(addr).unwrap();
        idle.write_all(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let (keep_alive, answer) = wait_for_close(&mut idle);
        assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 "));
        // Past the cap, new connections are closed at once.
        let held: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(addr).unwrap()).collect();
        std::thread::sleep(Duration::from_millis(200));
        let mut extra = TcpStream::connect(addr).unwrap();
        let refused = wait_for_close(&mut extra).0;
        drop(held);
        (silent, keep_alive, refused)
    })
    .await
    .unwrap();
    assert!(silent < Duration::from_secs(5), "silent: open {silent:?}");
    assert!(
        keep_alive >= Duration::from_secs(1) && keep_alive < Duration::from_secs(8),
        "keep-alive idle: open {keep_alive:?}"
    );
    assert!(
        refused < Duration::from_secs(1),
        "over the cap: open {refused:?}"
    );
    // Once the held connections are gone, the server answers as before.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let res = s.client.get(s.url("/metrics")).send().await.unwrap();
    let metrics = res.text().await.unwrap();
    assert!(
        metrics.contains("berth_connections_refused_total"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_heads_get_431_and_trickled_bodies_are_cut_off() {
    let (_dir, config) = config_with(Timeouts {
        body_rate_window_secs: 2,
        ..Timeouts::default()
    });
    let s = TestServer::start_with(&config).await;
    let (addr, token) = (s.addr, s.token.clone());
    let upload = s
        .client
        .post(s.url("/v2/team/slow/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    let location = upload.headers()["location"].to_str().unwrap().to_owned();
    let (head, trickle) = tokio::task::spawn_blocking(move || {
        let mut big = TcpStream::connect(addr).unwrap();
        let padding = "a".repeat(100 * 1024);
        let request = format!("GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Padding: {padding}\r\n\r\n");
        let _ = big.write_all(request.as_bytes());
        let head = String::from_utf8_lossy(&wait_for_close(&mut big).1).into_owned();
        // One byte a second, far below the minimum rate.
        let mut slow = TcpStream::connect(addr).unwrap();
        let request = format!(
            "PATCH {location} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/octet-stream\r\nContent-Length: 100\r\n\r\n"
        );
        slow.write_all(request.as_bytes()).unwrap();
        let started = Instant::now();
        for _ in 0..20 {
            if slow.write_all(b"x").is_err() {
                break;
            }
            std::thread::sleep(Duration::from_secs(1));
            slow.set_nonblocking(true).unwrap();
            let mut peek = [0u8; 1];
            let answered = matches!(slow.peek(&mut peek), Ok(n) if n > 0);
            slow.set_nonblocking(false).unwrap();
            if answered {
                break;
            }
        }
        (head, started.elapsed())
    })
    .await
    .unwrap();
    assert!(head.starts_with("HTTP/1.1 431"), "{head}");
    assert!(trickle < Duration::from_secs(8), "trickled for {trickle:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_early_answer_is_readable_by_a_client_that_writes_its_whole_body_first() {
    let (_dir, s) = crate::support::server().await;
    let (addr, token) = (s.addr, s.token.clone());
    let (too_large, unauthorized) = tokio::task::spawn_blocking(move || {
        let send = |authorization: &str, body: &[u8]| {
            let mut stream = TcpStream::connect(addr).unwrap();
            let head = format!(
                "PUT /v2/team/app/manifests/big HTTP/1.1\r\nHost: x\r\n{authorization}\
                 Content-Type: application/vnd.oci.image.manifest.v1+json\r\n\
                 Content-Length: {}\r\n\r\n",
                body.len()
            );
            stream.write_all(head.as_bytes()).unwrap();
            stream.write_all(body).expect("the whole body is taken");
            String::from_utf8_lossy(&wait_for_close(&mut stream).1).into_owned()
        };
        let body = vec![b' '; 5 << 20];
        let too_large = send(&format!("Authorization: Bearer {token}\r\n"), &body);
        let unauthorized = send("Authorization: Bearer expired.or.forged\r\n", &body);
        (too_large, unauthorized)
    })
    .await
    .unwrap();
    assert!(too_large.starts_with("HTTP/1.1 413"), "{too_large}");
    assert!(unauthorized.starts_with("HTTP/1.1 401"), "{unauthorized}");
}

#[tokio::test(flavor = "multi_thread")]
async fn probes_logs_and_metrics_are_what_operators_expect() {
    use crate::support::Api;
    let text_log = [("BERTH_LOG_FORMAT", "text")];
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap().to_owned();
    let args = ["--listen", "127.0.0.1:0", "--data-dir", &data_dir].map(String::from);
    let berth = BerthProcess::start_with(tempfile::tempdir().unwrap(), &args, &text_log).await;
    let base = berth.url("");
    let anonymous = reqwest::Client::new();

    // Probes answer without credentials; `/` names the server; other paths are JSON 404s.
    for (path, status, field, value) in [
        ("/healthz", 200, "status", "ok"),
        ("/readyz", 200, "status", "ready"),
        ("/", 200, "name", "berth"),
        ("/nothing", 404, "errors", ""),
    ] {
        let res = anonymous.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(res.status(), status, "{path}");
        let body: serde_json::Value = res.json().await.unwrap();
        if value.is_empty() {
            assert!(body[field].is_array(), "{path}: {body}");
        } else {
            assert_eq!(body[field], value, "{path}: {body}");
        }
    }

    // Some traffic: anonymous, a bearer token (a push), and the management API with Basic.
    let client = berth.client().await;
    let (_, res) = Api::new(&base, &client)
        .push("team/app", "v1", &[vec![7u8; 3000]])
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let projects = anonymous
        .get(format!("{base}/api/v1/projects"))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(projects.status(), StatusCode::OK);
    let metrics = anonymous
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    // Every metric family has its HELP and TYPE; the process's own are there; every route
    // has a label of its own.
    let families: std::collections::BTreeSet<&str> = metrics
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap())
        .map(|name| {
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .unwrap_or(name)
        })
        .collect();
    for family in &families {
        assert!(
            metrics.contains(&format!("# HELP {family} ")),
            "no HELP for {family}"
        );
        assert!(
            metrics.contains(&format!("# TYPE {family} ")),
            "no TYPE for {family}"
        );
    }
    for family in [
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_cpu_seconds_total",
        "berth_http_requests_total",
        "berth_http_request_duration_seconds",
    ] {
        assert!(families.contains(family), "{family} missing:\n{metrics}");
    }
    for route in [
        "route=\"/api/v1/projects\"",
        "route=\"/auth/token\"",
        "route=\"/healthz\"",
        "route=\"manifest\"",
        "route=\"unknown\"",
    ] {
        assert!(metrics.contains(route), "{route} missing:\n{metrics}");
    }
    assert!(!metrics.contains("route=\"other\""), "{metrics}");

    // The log is on stderr (where the address was read from), plain text without colours, with
    // one access line per request naming method, route, status, bytes, duration and caller.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = berth.output();
    assert!(
        !log.contains('\u{1b}'),
        "colour codes in a log that is no terminal:\n{log}"
    );
    let access: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("berth::access"))
        .collect();
    let find = |needle: &[&str]| {
        access
            .iter()
            .find(|l| needle.iter().all(|n| l.contains(n)))
            .unwrap_or_else(|| panic!("no access line with {needle:?}:\n{log}"))
            .to_string()
    };
    find(&["method=GET", "path=/healthz", "status=200", "caller=-"]);
    find(&[
        "path=/api/v1/projects",
        "route=/api/v1/projects",
        "caller=admin",
    ]);
    // A number of bytes from a line: `bytes_in=396` → 396.
    let field = |line: &str, name: &str| -> u64 {
        let at = line
            .find(&format!(" {name}="))
            .unwrap_or_else(|| panic!("{line}"))
            + name.len()
            + 2;
        line[at..].split(' ').next().unwrap().parse().unwrap()
    };
    let manifest_put = find(&["method=PUT", "route=manifest", "status=201", "caller=admin"]);
    assert!(field(&manifest_put, "bytes_in") > 100, "{manifest_put}");
    let blob_put = find(&["method=POST", "route=upload", "status=201", "bytes_in=3000"]);
    assert!(blob_put.contains(" ms="), "{blob_put}");
    let get = find(&["method=GET", "path=/ ", "route=/ ", "status=200"]);
    assert!(field(&get, "bytes_out") > 10, "{get}");
    assert!(access.len() >= 10, "{log}");
    drop(berth);

    // Off by a setting.
    let quiet = [("BERTH_LOG_FORMAT", "text"), ("BERTH_ACCESS_LOG", "false")];
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap().to_owned();
    let args = ["--listen", "127.0.0.1:0", "--data-dir", &data_dir].map(String::from);
    let berth = BerthProcess::start_with(tempfile::tempdir().unwrap(), &args, &quiet).await;
    let res = reqwest::get(berth.url("/healthz")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !berth.output().contains("berth::access"),
        "{}",
        berth.output()
    );
}
