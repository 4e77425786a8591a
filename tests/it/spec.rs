//! The OCI Distribution Spec v1.1 suite, written from the spec text: every endpoint, header and
//! error code berth serves, including bad input, against an in-process server over a temp dir.

use std::io::{Read, Write};

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestServer, expect_error, server, sha256};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

#[track_caller]
fn header<'a>(response: &'a Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

fn request(s: &TestServer, method: Method, path: &str) -> reqwest::RequestBuilder {
    s.client.request(method, s.url(path))
}

/// Sends a request with no body and returns the response.
async fn call(s: &TestServer, method: Method, path: &str) -> Response {
    request(s, method, path).send().await.unwrap()
}

/// Pushes a blob with a monolithic `POST ?digest=` and returns its digest.
async fn push_blob(s: &TestServer, name: &str, bytes: &[u8]) -> String {
    let response = s.api().upload_blob(name, bytes.to_vec()).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    sha256(bytes)
}

fn descriptor(media_type: &str, bytes: &[u8]) -> Value {
    json!({"mediaType": media_type, "digest": sha256(bytes), "size": bytes.len()})
}

/// An image manifest whose config and layer blobs are pushed to `name` first.
async fn image(s: &TestServer, name: &str, layer: &[u8]) -> Value {
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    push_blob(s, name, config).await;
    push_blob(s, name, layer).await;
    json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor("application/vnd.oci.image.config.v1+json", config),
        "layers": [descriptor("application/vnd.oci.image.layer.v1.tar+gzip", layer)],
    })
}

async fn put_manifest(
    s: &TestServer,
    name: &str,
    reference: &str,
    media_type: &str,
    body: &[u8],
) -> Response {
    request(s, Method::PUT, &format!("/v2/{name}/manifests/{reference}"))
        .header("content-type", media_type)
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn base_endpoint_announces_the_api_version() {
    let (_dir, s) = server().await;
    for method in [Method::GET, Method::HEAD] {
        let response = call(&s, method, "/v2/").await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            header(&response, "docker-distribution-api-version"),
            "registry/2.0"
        );
    }
}

#[tokio::test]
async fn monolithic_upload_then_pull_with_ranges() {
    let (_dir, s) = server().await;
    let bytes: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let digest = push_blob(&s, "team/app", &bytes).await;

    let path = format!("/v2/team/app/blobs/{digest}");
    let head = call(&s, Method::HEAD, &path).await;
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(header(&head, "content-length"), "100000");
    assert_eq!(header(&head, "docker-content-digest"), digest);

    let get = call(&s, Method::GET, &path).await;
    assert_eq!(get.status(), StatusCode::OK);
    assert_eq!(header(&get, "docker-content-digest"), digest);
    assert_eq!(get.bytes().await.unwrap().as_ref(), &bytes[..]);

    let part = request(&s, Method::GET, &path)
        .header("range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(header(&part, "content-range"), "bytes 10-19/100000");
    assert_eq!(part.bytes().await.unwrap().as_ref(), &bytes[10..20]);

    let tail = request(&s, Method::GET, &path)
        .header("range", "bytes=-5")
        .send()
        .await
        .unwrap();
    assert_eq!(tail.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(tail.bytes().await.unwrap().as_ref(), &bytes[99_995..]);

    let beyond = request(&s, Method::GET, &path)
        .header("range", "bytes=100000-")
        .send()
        .await
        .unwrap();
    assert_eq!(header(&beyond, "content-range"), "bytes */100000");
    expect_error(beyond, StatusCode::RANGE_NOT_SATISFIABLE, "RANGE_INVALID").await;
}

#[tokio::test]
async fn push_with_wrong_digest_is_rejected_and_stores_nothing() {
    let (_dir, s) = server().await;
    let wrong = sha256(b"something else");
    let response = request(
        &s,
        Method::POST,
        &format!("/v2/a/blobs/uploads/?digest={wrong}"),
    )
    .body("actual content")
    .send()
    .await
    .unwrap();
    expect_error(response, StatusCode::BAD_REQUEST, "DIGEST_INVALID").await;
    for digest in [wrong, sha256(b"actual content")] {
        let head = call(&s, Method::HEAD, &format!("/v2/a/blobs/{digest}")).await;
        assert_eq!(head.status(), StatusCode::NOT_FOUND);
    }

    // The same through a session: the session is gone afterwards, nothing is stored.
    let location = start_upload(&s, "a").await;
    let response = request(
        &s,
        Method::PUT,
        &format!("{location}?digest={}", sha256(b"x")),
    )
    .body("y")
    .send()
    .await
    .unwrap();
    expect_error(response, StatusCode::BAD_REQUEST, "DIGEST_INVALID").await;
    let status = call(&s, Method::GET, &location).await;
    expect_error(status, StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN").await;
    let head = call(&s, Method::HEAD, &format!("/v2/a/blobs/{}", sha256(b"y"))).await;
    assert_eq!(head.status(), StatusCode::NOT_FOUND);
}

/// `POST /v2/<name>/blobs/uploads/` and returns the session's `Location`.
async fn start_upload(s: &TestServer, name: &str) -> String {
    let response = call(s, Method::POST, &format!("/v2/{name}/blobs/uploads/")).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(header(&response, "range"), "0-0");
    let location = header(&response, "location").to_owned();
    assert!(location.ends_with(header(&response, "docker-upload-uuid")));
    location
}

async fn patch(s: &TestServer, location: &str, range: Option<&str>, body: &[u8]) -> Response {
    let mut builder = request(s, Method::PATCH, location).body(body.to_vec());
    if let Some(range) = range {
        builder = builder.header("content-range", range);
    }
    builder.send().await.unwrap()
}

#[tokio::test]
async fn chunked_upload_with_and_without_content_range() {
    let (_dir, s) = server().await;
    let location = start_upload(&s, "team/app").await;

    let first = patch(&s, &location, None, b"hello, ").await; // as Docker sends it
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    assert_eq!(header(&first, "range"), "0-6");
    assert_eq!(header(&first, "location"), location);

    let second = patch(&s, &location, Some("7-11"), b"world").await;
    assert_eq!(second.status(), StatusCode::ACCEPTED);
    assert_eq!(header(&second, "range"), "0-11");

    let status = call(&s, Method::GET, &location).await;
    assert_eq!(status.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&status, "range"), "0-11");
    assert!(!header(&status, "docker-upload-uuid").is_empty());

    let out_of_order = patch(&s, &location, Some("20-24"), b"later").await;
    expect_error(
        out_of_order,
        StatusCode::RANGE_NOT_SATISFIABLE,
        "RANGE_INVALID",
    )
    .await;
    let overlapping = patch(&s, &location, Some("5-9"), b"again").await;
    expect_error(
        overlapping,
        StatusCode::RANGE_NOT_SATISFIABLE,
        "RANGE_INVALID",
    )
    .await;
    let lying = patch(&s, &location, Some("12-20"), b"!").await;
    expect_error(lying, StatusCode::BAD_REQUEST, "SIZE_INVALID").await;
    let malformed = patch(&s, &location, Some("twelve"), b"!").await;
    expect_error(malformed, StatusCode::BAD_REQUEST, "BLOB_UPLOAD_INVALID").await;

    // The last chunk travels with the closing PUT.
    let digest = sha256(b"hello, world!");
    let done = request(&s, Method::PUT, &format!("{location}?digest={digest}"))
        .body("!")
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), StatusCode::CREATED);
    assert_eq!(header(&done, "docker-content-digest"), digest);
    assert_eq!(
        header(&done, "location"),
        format!("/v2/team/app/blobs/{digest}")
    );

    let blob = call(&s, Method::GET, &format!("/v2/team/app/blobs/{digest}")).await;
    assert_eq!(blob.bytes().await.unwrap().as_ref(), b"hello, world!");
}

#[tokio::test]
async fn put_without_digest_is_refused() {
    let (_dir, s) = server().await;
    let location = start_upload(&s, "a").await;
    let response = call(&s, Method::PUT, &location).await;
    expect_error(response, StatusCode::BAD_REQUEST, "DIGEST_INVALID").await;
    let bad = call(&s, Method::PUT, &format!("{location}?digest=sha256:nothex")).await;
    expect_error(bad, StatusCode::BAD_REQUEST, "DIGEST_INVALID").await;
}

#[tokio::test]
async fn sha512_digests_are_verified_too() {
    let (_dir, s) = server().await;
    use sha2::Digest as _;
    let bytes = b"verified with sha512";
    let digest = format!("sha512:{}", hex::encode(sha2::Sha512::digest(bytes)));
    let mono = request(
        &s,
        Method::POST,
        &format!("/v2/a/blobs/uploads/?digest={digest}"),
    )
    .body(bytes.to_vec())
    .send()
    .await
    .unwrap();
    assert_eq!(mono.status(), StatusCode::CREATED);
    // Through a session the running hash is SHA-256, so the commit hashes again with SHA-512.
    let location = start_upload(&s, "b").await;
    assert_eq!(
        patch(&s, &location, None, bytes).await.status(),
        StatusCode::ACCEPTED
    );
    let done = call(&s, Method::PUT, &format!("{location}?digest={digest}")).await;
    assert_eq!(done.status(), StatusCode::CREATED);
    let blob = call(&s, Method::GET, &format!("/v2/b/blobs/{digest}")).await;
    assert_eq!(blob.bytes().await.unwrap().as_ref(), bytes);
}

#[tokio::test]
async fn cancelled_upload_is_gone() {
    let (_dir, s) = server().await;
    let location = start_upload(&s, "a").await;
    patch(&s, &location, None, b"partial").await;
    let cancel = call(&s, Method::DELETE, &location).await;
    assert_eq!(cancel.status(), StatusCode::NO_CONTENT);
    let status = call(&s, Method::GET, &location).await;
    expect_error(status, StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN").await;
    let again = call(&s, Method::DELETE, &location).await;
    expect_error(again, StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN").await;
    // A session belongs to its repository.
    let other = start_upload(&s, "a").await.replace("/v2/a/", "/v2/b/");
    let status = call(&s, Method::GET, &other).await;
    expect_error(status, StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN").await;
}

#[tokio::test]
async fn upload_session_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    let location = start_upload(&s, "team/app").await;
    assert_eq!(
        patch(&s, &location, None, b"first half, ").await.status(),
        StatusCode::ACCEPTED
    );
    s.stop().await;

    let s = TestServer::start(dir.path()).await;
    let status = call(&s, Method::GET, &location).await;
    assert_eq!(header(&status, "range"), "0-11");
    let second = patch(&s, &location, Some("12-22"), b"second half").await;
    assert_eq!(second.status(), StatusCode::ACCEPTED);
    let digest = sha256(b"first half, second half");
    let done = call(&s, Method::PUT, &format!("{location}?digest={digest}")).await;
    assert_eq!(done.status(), StatusCode::CREATED);
}

/// Sends a PATCH that declares more bytes than it sends, then hangs up; returns what the
/// server answered, if anything.
fn truncated_patch(s: &TestServer, location: &str, declared: usize, sent: &[u8]) -> String {
    let mut stream = std::net::TcpStream::connect(s.addr).unwrap();
    write!(
        stream,
        "PATCH {location} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Length: {declared}\r\n\r\n",
        s.addr, s.token
    )
    .unwrap();
    stream.write_all(sent).unwrap();
    // The server may already have closed its side: the body can never be complete.
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut reply = String::new();
    let _ = stream.read_to_string(&mut reply);
    reply
}

#[tokio::test(flavor = "multi_thread")]
async fn truncated_body_loses_nothing_received_before() {
    let (_dir, s) = server().await;
    let location = start_upload(&s, "a").await;
    assert_eq!(
        patch(&s, &location, None, b"kept ").await.status(),
        StatusCode::ACCEPTED
    );
    let reply = tokio::task::block_in_place(|| truncated_patch(&s, &location, 1000, b"cut off"));
    assert!(
        !reply.contains(" 401 ") && !reply.contains(" 202 "),
        "the cut body reached the upload and was refused: {reply}"
    );
    let status = call(&s, Method::GET, &location).await;
    assert_eq!(
        header(&status, "range"),
        "0-4",
        "the cut chunk was not counted"
    );
    assert_eq!(
        patch(&s, &location, Some("5-8"), b"safe").await.status(),
        StatusCode::ACCEPTED
    );
    let digest = sha256(b"kept safe");
    let done = call(&s, Method::PUT, &format!("{location}?digest={digest}")).await;
    assert_eq!(done.status(), StatusCode::CREATED);
    let blob = call(&s, Method::GET, &format!("/v2/a/blobs/{digest}")).await;
    assert_eq!(blob.bytes().await.unwrap().as_ref(), b"kept safe");
}

#[tokio::test]
async fn cross_repository_mount() {
    let (_dir, s) = server().await;
    let digest = push_blob(&s, "team/base", b"shared layer").await;
    let mounted = call(
        &s,
        Method::POST,
        &format!("/v2/team/app/blobs/uploads/?mount={digest}&from=team/base"),
    )
    .await;
    assert_eq!(mounted.status(), StatusCode::CREATED);
    assert_eq!(header(&mounted, "docker-content-digest"), digest);
    let head = call(&s, Method::HEAD, &format!("/v2/team/app/blobs/{digest}")).await;
    assert_eq!(head.status(), StatusCode::OK);

    // A repository that does not hold the blob cannot lend it: 202 and a new session instead.
    let other = sha256(b"not there");
    let fallback = call(
        &s,
        Method::POST,
        &format!("/v2/team/app/blobs/uploads/?mount={other}&from=team/base"),
    )
    .await;
    assert_eq!(fallback.status(), StatusCode::ACCEPTED);
    assert!(header(&fallback, "location").starts_with("/v2/team/app/blobs/uploads/"));
}

#[tokio::test]
async fn blobs_are_per_repository_and_deletable() {
    let (_dir, s) = server().await;
    let digest = push_blob(&s, "team/app", b"layer").await;
    let elsewhere = call(&s, Method::GET, &format!("/v2/team/other/blobs/{digest}")).await;
    expect_error(elsewhere, StatusCode::NOT_FOUND, "BLOB_UNKNOWN").await;

    let delete = call(&s, Method::DELETE, &format!("/v2/team/app/blobs/{digest}")).await;
    assert_eq!(delete.status(), StatusCode::ACCEPTED);
    let gone = call(&s, Method::GET, &format!("/v2/team/app/blobs/{digest}")).await;
    expect_error(gone, StatusCode::NOT_FOUND, "BLOB_UNKNOWN").await;
    let again = call(&s, Method::DELETE, &format!("/v2/team/app/blobs/{digest}")).await;
    expect_error(again, StatusCode::NOT_FOUND, "BLOB_UNKNOWN").await;
}

#[tokio::test]
async fn manifest_push_pull_by_tag_and_digest() {
    let (_dir, s) = server().await;
    let manifest = image(&s, "team/app", b"layer one").await.to_string();
    let digest = sha256(manifest.as_bytes());

    let put = put_manifest(&s, "team/app", "v1.0.0", OCI_MANIFEST, manifest.as_bytes()).await;
    assert_eq!(put.status(), StatusCode::CREATED);
    assert_eq!(header(&put, "docker-content-digest"), digest);
    assert_eq!(
        header(&put, "location"),
        format!("/v2/team/app/manifests/{digest}")
    );

    for reference in ["v1.0.0", digest.as_str()] {
        let path = format!("/v2/team/app/manifests/{reference}");
        let get = request(&s, Method::GET, &path)
            .header("accept", OCI_MANIFEST)
            .send()
            .await
            .unwrap();
        assert_eq!(get.status(), StatusCode::OK);
        assert_eq!(header(&get, "content-type"), OCI_MANIFEST);
        assert_eq!(header(&get, "docker-content-digest"), digest);
        assert_eq!(header(&get, "content-length"), manifest.len().to_string());
        assert_eq!(get.bytes().await.unwrap().as_ref(), manifest.as_bytes());

        let head = call(&s, Method::HEAD, &path).await;
        assert_eq!(head.status(), StatusCode::OK);
        assert_eq!(header(&head, "content-type"), OCI_MANIFEST);
        assert_eq!(header(&head, "docker-content-digest"), digest);
        assert_eq!(header(&head, "content-length"), manifest.len().to_string());
    }

    // The client accepts only an index: this manifest is not acceptable.
    let refused = request(&s, Method::GET, "/v2/team/app/manifests/v1.0.0")
        .header("accept", OCI_INDEX)
        .send()
        .await
        .unwrap();
    expect_error(refused, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN").await;

    let by_digest = put_manifest(&s, "team/app", &digest, OCI_MANIFEST, manifest.as_bytes()).await;
    assert_eq!(by_digest.status(), StatusCode::CREATED);
    let wrong = put_manifest(
        &s,
        "team/app",
        &sha256(b"other"),
        OCI_MANIFEST,
        manifest.as_bytes(),
    )
    .await;
    expect_error(wrong, StatusCode::BAD_REQUEST, "DIGEST_INVALID").await;

    let missing = call(&s, Method::GET, "/v2/team/app/manifests/v9").await;
    expect_error(missing, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN").await;
}

#[tokio::test]
async fn docker_schema2_manifest_and_manifest_list() {
    let (_dir, s) = server().await;
    let config = br#"{"architecture":"arm64","os":"linux"}"#;
    push_blob(&s, "a", config).await;
    push_blob(&s, "a", b"docker layer").await;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": descriptor("application/vnd.docker.container.image.v1+json", config),
        "layers": [descriptor("application/vnd.docker.image.rootfs.diff.tar.gzip", b"docker layer")],
    })
    .to_string();
    assert_eq!(
        put_manifest(&s, "a", "arm64", DOCKER_MANIFEST, manifest.as_bytes())
            .await
            .status(),
        StatusCode::CREATED
    );
    let list = json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_LIST,
        "manifests": [{"mediaType": DOCKER_MANIFEST, "digest": sha256(manifest.as_bytes()), "size": manifest.len(),
                       "platform": {"architecture": "arm64", "os": "linux"}}],
    })
    .to_string();
    assert_eq!(
        put_manifest(&s, "a", "multi", DOCKER_LIST, list.as_bytes())
            .await
            .status(),
        StatusCode::CREATED
    );
    let get = request(&s, Method::GET, "/v2/a/manifests/multi")
        .header("accept", DOCKER_LIST)
        .send()
        .await
        .unwrap();
    assert_eq!(header(&get, "content-type"), DOCKER_LIST);
}

#[tokio::test]
async fn manifest_referencing_missing_content_is_refused() {
    let (_dir, s) = server().await;
    let mut manifest = image(&s, "a", b"present").await;
    manifest["layers"][0] = descriptor("application/vnd.oci.image.layer.v1.tar+gzip", b"absent");
    let put = put_manifest(&s, "a", "v1", OCI_MANIFEST, manifest.to_string().as_bytes()).await;
    expect_error(put, StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN").await;
    let tag = call(&s, Method::GET, "/v2/a/manifests/v1").await;
    expect_error(tag, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN").await;

    // A blob in another repository does not count.
    let elsewhere = image(&s, "b", b"in b only").await;
    let put = put_manifest(
        &s,
        "a",
        "v2",
        OCI_MANIFEST,
        elsewhere.to_string().as_bytes(),
    )
    .await;
    expect_error(put, StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN").await;

    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX,
                       "manifests": [descriptor(OCI_MANIFEST, b"no such manifest")]});
    let put = put_manifest(&s, "a", "multi", OCI_INDEX, index.to_string().as_bytes()).await;
    expect_error(put, StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN").await;
}

#[tokio::test]
async fn manifests_of_thousands_of_references_are_checked_whole_and_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::support::test_config(dir.path());
    config.limits.max_manifest_references = 3000;
    let s = TestServer::start_with(&config).await;
    let mut manifest = image(&s, "a", b"present").await;
    let layer = manifest["layers"][0].clone();
    // With the config, 3000 references: the most this server takes.
    manifest["layers"] = json!(vec![layer.clone(); 2999]);
    let put = put_manifest(
        &s,
        "a",
        "wide",
        OCI_MANIFEST,
        manifest.to_string().as_bytes(),
    )
    .await;
    assert_eq!(put.status(), StatusCode::CREATED);
    let get = call(&s, Method::GET, "/v2/a/manifests/wide").await;
    assert_eq!(get.status(), StatusCode::OK);

    // One absent layer among thousands is found and named.
    let absent = descriptor("application/vnd.oci.image.layer.v1.tar+gzip", b"absent");
    manifest["layers"][1500] = absent;
    let put = put_manifest(
        &s,
        "a",
        "gap",
        OCI_MANIFEST,
        manifest.to_string().as_bytes(),
    )
    .await;
    let body = put.text().await.unwrap();
    assert!(body.contains("MANIFEST_BLOB_UNKNOWN"), "{body}");
    assert!(body.contains(&sha256(b"absent")), "{body}");

    // One more reference than the setting allows is refused before anything is looked up.
    manifest["layers"] = json!(vec![layer; 3000]);
    let put = put_manifest(
        &s,
        "a",
        "wider",
        OCI_MANIFEST,
        manifest.to_string().as_bytes(),
    )
    .await;
    let body = put.text().await.unwrap();
    assert!(body.contains("MANIFEST_INVALID"), "{body}");
    assert!(body.contains("max_manifest_references"), "{body}");
    let tag = call(&s, Method::GET, "/v2/a/manifests/wider").await;
    expect_error(tag, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN").await;
}

#[tokio::test]
async fn malformed_and_oversized_manifests_are_refused() {
    let (_dir, s) = server().await;
    for body in [
        &b"{not json"[..],
        b"[]",
        br#"{"schemaVersion":2,"mediaType":"application/x-nope"}"#,
    ] {
        let put = put_manifest(&s, "a", "v1", OCI_MANIFEST, body).await;
        expect_error(put, StatusCode::BAD_REQUEST, "MANIFEST_INVALID").await;
    }
    let manifest = image(&s, "a", b"l").await;
    let mismatch = put_manifest(&s, "a", "v1", OCI_INDEX, manifest.to_string().as_bytes()).await;
    expect_error(mismatch, StatusCode::BAD_REQUEST, "MANIFEST_INVALID").await;

    let mut huge = manifest.clone();
    huge["annotations"] = json!({"padding": "x".repeat(4 * 1024 * 1024)});
    let put = put_manifest(&s, "a", "v1", OCI_MANIFEST, huge.to_string().as_bytes()).await;
    expect_error(put, StatusCode::PAYLOAD_TOO_LARGE, "SIZE_INVALID").await;
}

#[tokio::test]
async fn artifacts_and_the_referrers_api() {
    let (_dir, s) = server().await;
    let subject = image(&s, "team/app", b"app layer").await.to_string();
    assert_eq!(
        put_manifest(&s, "team/app", "v1", OCI_MANIFEST, subject.as_bytes())
            .await
            .status(),
        StatusCode::CREATED
    );
    let subject_digest = sha256(subject.as_bytes());

    let empty = b"{}";
    push_blob(&s, "team/app", empty).await;
    let mut referrer_digests = vec![];
    for (artifact_type, content) in [
        ("application/spdx+json", &b"sbom"[..]),
        ("application/vnd.dev.cosign.simplesigning.v1+json", b"sig"),
    ] {
        push_blob(&s, "team/app", content).await;
        let artifact = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": artifact_type,
            "config": descriptor("application/vnd.oci.empty.v1+json", empty),
            "layers": [descriptor(artifact_type, content)],
            "subject": {"mediaType": OCI_MANIFEST, "digest": subject_digest, "size": subject.len()},
            "annotations": {"org.opencontainers.image.created": "2026-11-23T00:00:00Z"},
        })
        .to_string();
        let digest = sha256(artifact.as_bytes());
        let put = put_manifest(&s, "team/app", &digest, OCI_MANIFEST, artifact.as_bytes()).await;
        assert_eq!(put.status(), StatusCode::CREATED);
        assert_eq!(header(&put, "oci-subject"), subject_digest);
        referrer_digests.push(digest);
    }

    let all = call(
        &s,
        Method::GET,
        &format!("/v2/team/app/referrers/{subject_digest}"),
    )
    .await;
    assert_eq!(all.status(), StatusCode::OK);
    assert_eq!(header(&all, "content-type"), OCI_INDEX);
    assert!(all.headers().get("oci-filters-applied").is_none());
    let index: Value = all.json().await.unwrap();
    assert_eq!(index["mediaType"], OCI_INDEX);
    let mut listed: Vec<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["digest"].as_str().unwrap().to_owned())
        .collect();
    listed.sort();
    referrer_digests.sort();
    assert_eq!(listed, referrer_digests);
    assert_eq!(
        index["manifests"][0]["annotations"]["org.opencontainers.image.created"],
        "2026-11-23T00:00:00Z"
    );

    let sboms = call(
        &s,
        Method::GET,
        &format!("/v2/team/app/referrers/{subject_digest}?artifactType=application/spdx%2Bjson"),
    )
    .await;
    assert_eq!(header(&sboms, "oci-filters-applied"), "artifactType");
    let index: Value = sboms.json().await.unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(
        index["manifests"][0]["artifactType"],
        "application/spdx+json"
    );

    let none = call(
        &s,
        Method::GET,
        &format!("/v2/team/app/referrers/{}", sha256(b"nothing")),
    )
    .await;
    assert_eq!(none.status(), StatusCode::OK);
    let index: Value = none.json().await.unwrap();
    assert_eq!(index["manifests"], json!([]));

    let bad = call(&s, Method::GET, "/v2/team/app/referrers/sha256:zz").await;
    expect_error(bad, StatusCode::BAD_REQUEST, "DIGEST_INVALID").await;
}

#[tokio::test]
async fn tags_and_catalog_paginate_in_lexical_order() {
    let (_dir, s) = server().await;
    let manifest = image(&s, "team/app", b"l").await.to_string();
    for tag in ["v2", "latest", "v10", "dev-x", "v1"] {
        put_manifest(&s, "team/app", tag, OCI_MANIFEST, manifest.as_bytes()).await;
    }
    for name in ["zeta", "alpha/one", "alpha"] {
        let manifest = image(&s, name, b"l").await.to_string();
        put_manifest(&s, name, "v1", OCI_MANIFEST, manifest.as_bytes()).await;
    }

    let all = call(&s, Method::GET, "/v2/team/app/tags/list").await;
    assert!(all.headers().get("link").is_none());
    let body: Value = all.json().await.unwrap();
    assert_eq!(
        body,
        json!({"name": "team/app", "tags": ["dev-x", "latest", "v1", "v10", "v2"]})
    );

    let first = call(&s, Method::GET, "/v2/team/app/tags/list?n=2").await;
    assert_eq!(
        header(&first, "link"),
        "</v2/team/app/tags/list?n=2&last=latest>; rel=\"next\""
    );
    assert_eq!(
        first.json::<Value>().await.unwrap()["tags"],
        json!(["dev-x", "latest"])
    );
    let last = call(&s, Method::GET, "/v2/team/app/tags/list?n=2&last=v10").await;
    assert!(last.headers().get("link").is_none());
    assert_eq!(last.json::<Value>().await.unwrap()["tags"], json!(["v2"]));
    let zero = call(&s, Method::GET, "/v2/team/app/tags/list?n=0").await;
    assert_eq!(zero.json::<Value>().await.unwrap()["tags"], json!([]));
    let bad = call(&s, Method::GET, "/v2/team/app/tags/list?n=many").await;
    expect_error(bad, StatusCode::BAD_REQUEST, "PAGINATION_NUMBER_INVALID").await;
    let unknown = call(&s, Method::GET, "/v2/nobody/tags/list").await;
    expect_error(unknown, StatusCode::NOT_FOUND, "NAME_UNKNOWN").await;

    let catalog = call(&s, Method::GET, "/v2/_catalog").await;
    assert_eq!(
        catalog.json::<Value>().await.unwrap()["repositories"],
        json!(["alpha", "alpha/one", "team/app", "zeta"])
    );
    let page = call(&s, Method::GET, "/v2/_catalog?n=3").await;
    assert_eq!(
        header(&page, "link"),
        "</v2/_catalog?n=3&last=team%2Fapp>; rel=\"next\""
    );
    let rest = call(&s, Method::GET, "/v2/_catalog?n=3&last=team%2Fapp").await;
    assert_eq!(
        rest.json::<Value>().await.unwrap()["repositories"],
        json!(["zeta"])
    );
}

#[tokio::test]
async fn deletes_by_tag_and_by_digest() {
    let (_dir, s) = server().await;
    let manifest = image(&s, "a", b"l").await.to_string();
    let digest = sha256(manifest.as_bytes());
    put_manifest(&s, "a", "keep", OCI_MANIFEST, manifest.as_bytes()).await;
    put_manifest(&s, "a", "drop", OCI_MANIFEST, manifest.as_bytes()).await;

    let untag = call(&s, Method::DELETE, "/v2/a/manifests/drop").await;
    assert_eq!(untag.status(), StatusCode::ACCEPTED);
    let tags: Value = call(&s, Method::GET, "/v2/a/tags/list")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(tags["tags"], json!(["keep"]));

    let delete = call(&s, Method::DELETE, &format!("/v2/a/manifests/{digest}")).await;
    assert_eq!(delete.status(), StatusCode::ACCEPTED);
    for reference in ["keep", digest.as_str()] {
        let get = call(&s, Method::GET, &format!("/v2/a/manifests/{reference}")).await;
        expect_error(get, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN").await;
    }
    let again = call(&s, Method::DELETE, &format!("/v2/a/manifests/{digest}")).await;
    expect_error(again, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN").await;
}

#[tokio::test]
async fn invalid_names_tags_and_digests_get_their_error_codes() {
    let (_dir, s) = server().await;
    let cases = [
        (
            Method::GET,
            "/v2/Upper/tags/list",
            StatusCode::BAD_REQUEST,
            "NAME_INVALID",
        ),
        (
            Method::POST,
            "/v2/a//b/blobs/uploads/",
            StatusCode::BAD_REQUEST,
            "NAME_INVALID",
        ),
        (
            Method::GET,
            "/v2/a-/manifests/latest",
            StatusCode::BAD_REQUEST,
            "NAME_INVALID",
        ),
        (
            Method::PUT,
            "/v2/a/manifests/.hidden",
            StatusCode::BAD_REQUEST,
            "TAG_INVALID",
        ),
        (
            Method::GET,
            "/v2/a/manifests/sha256:short",
            StatusCode::NOT_FOUND,
            "MANIFEST_UNKNOWN",
        ),
        (
            Method::PUT,
            "/v2/a/manifests/sha256:short",
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
        ),
        (
            Method::GET,
            "/v2/a/blobs/md5:d41d8cd98f00b204e9800998ecf8427e",
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
        ),
        (
            Method::POST,
            "/v2/a/blobs/uploads/?digest=sha256:00",
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
        ),
        (
            Method::GET,
            "/v2/a/unknown/thing",
            StatusCode::NOT_FOUND,
            "UNSUPPORTED",
        ),
        (
            Method::POST,
            "/v2/a/manifests/latest",
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
        ),
        (
            Method::GET,
            "/v2/a/blobs/uploads/no-such-upload",
            StatusCode::NOT_FOUND,
            "BLOB_UPLOAD_UNKNOWN",
        ),
    ];
    for (method, path, status, code) in cases {
        let response = request(&s, method.clone(), path)
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{method} {path}");
        expect_error(response, status, code).await;
    }
}

#[tokio::test]
async fn references_that_cannot_exist_are_unknown_and_only_after_authentication() {
    let (_dir, s) = server().await;
    push_blob(&s, "team/app", b"makes the project").await;
    for method in [Method::GET, Method::HEAD] {
        let response = call(
            &s,
            method.clone(),
            "/v2/team/app/manifests/.INVALID_MANIFEST_NAME",
        )
        .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method}");
    }
    let response = call(
        &s,
        Method::GET,
        "/v2/team/app/manifests/.INVALID_MANIFEST_NAME",
    )
    .await;
    expect_error(response, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN").await;
    // Anonymous callers of a private project learn nothing but that they must log in.
    let anonymous = reqwest::Client::new();
    let response = anonymous
        .get(s.url("/v2/team/app/manifests/.INVALID_MANIFEST_NAME"))
        .send()
        .await
        .unwrap();
    expect_error(response, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    // The body names what was not found, as Distribution's does.
    let response = call(&s, Method::GET, "/v2/team/app/manifests/nope").await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["errors"][0]["detail"],
        json!({"Name": "team/app", "Tag": "nope"})
    );
    let missing = sha256(b"missing");
    let response = call(&s, Method::GET, &format!("/v2/team/app/blobs/{missing}")).await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["detail"], json!(missing));
}

#[tokio::test]
async fn descriptor_sizes_that_add_up_past_2_64_are_refused() {
    let (_dir, s) = server().await;
    let config = push_blob(&s, "a", b"{}").await;
    let layer = push_blob(&s, "a", b"layer").await;
    let huge = u64::MAX;
    let manifest = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": huge},
            {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": huge}]});
    let response = request(&s, Method::PUT, "/v2/a/manifests/wraps")
        .header("content-type", OCI_MANIFEST)
        .body(manifest.to_string())
        .send()
        .await
        .unwrap();
    expect_error(response, StatusCode::BAD_REQUEST, "MANIFEST_INVALID").await;
}

#[tokio::test]
async fn a_mount_challenge_names_pull_on_the_source_too() {
    let (_dir, s) = server().await;
    let digest = push_blob(&s, "team/source", b"to be mounted").await;
    let response = reqwest::Client::new()
        .post(s.url(&format!(
            "/v2/team/target/blobs/uploads/?mount={digest}&from=team/source"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = header(&response, "www-authenticate");
    assert!(
        challenge
            .contains(r#"scope="repository:team/target:pull,push repository:team/source:pull""#),
        "{challenge}"
    );
    // A token for what the challenge names mounts the blob.
    let token = crate::support::token_at(
        &s.url(""),
        Some(("admin", crate::support::ADMIN_PASSWORD)),
        &["repository:team/target:push", "repository:team/source:pull"],
    )
    .await
    .unwrap();
    let response = crate::support::bearer_client(&token)
        .post(s.url(&format!(
            "/v2/team/target/blobs/uploads/?mount={digest}&from=team/source"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_last_chunk_out_of_order_is_416_and_keeps_the_session() {
    let (_dir, s) = server().await;
    let start = call(&s, Method::POST, "/v2/a/blobs/uploads/").await;
    let location = header(&start, "location").to_owned();
    let response = request(&s, Method::PATCH, &location)
        .header("content-range", "0-4")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let digest = sha256(b"hello, world");
    let put = |range: &'static str| {
        request(&s, Method::PUT, &format!("{location}?digest={digest}"))
            .header("content-range", range)
            .body(", world")
    };
    let response = put("9-15").send().await.unwrap();
    expect_error(response, StatusCode::RANGE_NOT_SATISFIABLE, "RANGE_INVALID").await;
    let status = call(&s, Method::GET, &location).await;
    assert_eq!(status.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&status, "range"), "0-4");
    // A range of 2^64 bytes does not wrap.
    let response = request(&s, Method::PATCH, &location)
        .header("content-range", "0-18446744073709551615")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = put("5-11").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status() {
    let (_dir, s) = server().await;
    call(&s, Method::GET, "/v2/").await;
    call(&s, Method::GET, "/v2/a/tags/list").await;
    let text = call(&s, Method::GET, "/metrics")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("berth_http_requests_total{route=\"base\",method=\"GET\",status=\"200\"}"),
        "{text}"
    );
    assert!(
        text.contains("berth_http_requests_total{route=\"tags\",method=\"GET\",status=\"404\"}"),
        "{text}"
    );
    assert!(
        text.contains("berth_http_request_duration_seconds_bucket"),
        "{text}"
    );
}

#[tokio::test]
async fn a_second_replica_finishes_an_upload_the_first_began() {
    let dir = tempfile::tempdir().unwrap();
    let first = TestServer::start(dir.path()).await;
    let second = TestServer::start(dir.path()).await;
    let location = start_upload(&first, "team/app").await;
    assert_eq!(
        patch(&first, &location, None, b"begun on one replica, ")
            .await
            .status(),
        StatusCode::ACCEPTED
    );
    let status = call(&second, Method::GET, &location).await;
    assert_eq!(header(&status, "range"), "0-21");
    assert_eq!(
        patch(
            &second,
            &location,
            Some("22-44"),
            b"finished on another one"
        )
        .await
        .status(),
        StatusCode::ACCEPTED
    );
    let digest = sha256(b"begun on one replica, finished on another one");
    let done = call(&second, Method::PUT, &format!("{location}?digest={digest}")).await;
    assert_eq!(done.status(), StatusCode::CREATED);
    let blob = call(&first, Method::GET, &format!("/v2/team/app/blobs/{digest}")).await;
    assert_eq!(
        blob.bytes().await.unwrap().as_ref(),
        b"begun on one replica, finished on another one"
    );
}
