//! Access control, through the protocol clients speak: Docker's token flow (GET with Basic
//! credentials), containerd's OAuth2 POST flow, projects and roles, robots, CI push tokens,
//! forged tokens, login rate limits, the audit log, the management API and `berth admin`, one
//! file per theme; the helpers they share live here.

use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use berth::storage::access::{AccessStore, SigningKey};
use berth::storage::sqlite::SqliteMetaStore;

use crate::support::{
    ADMIN_PASSWORD, BerthProcess, Podman, TestServer, attempt, bearer_client, berth_admin,
    docker_build, run, sha256, test_config, token_at,
};

mod api;
mod audit;
mod limits;
mod replicas;
mod robots;
mod roles;
mod tokens;

const PASSWORD: &str = "correct horse battery";

/// A management API call with Basic credentials.
async fn api(
    s: &TestServer,
    user: &str,
    password: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Response {
    let mut request = reqwest::Client::new()
        .request(method, s.url(&format!("/api/v1{path}")))
        .basic_auth(user, Some(password));
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

/// A management API call as `admin` that must succeed; returns the JSON body, if any.
async fn admin(s: &TestServer, method: Method, path: &str, body: Option<Value>) -> Value {
    let response = api(s, "admin", ADMIN_PASSWORD, method, path, body).await;
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "{path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Creates a user with `PASSWORD` and gives it `role` in `project` (if given).
async fn user_with_role(s: &TestServer, name: &str, project: &str, role: Option<&str>) {
    let user = json!({"name": name, "password": PASSWORD});
    admin(s, Method::POST, "/users", Some(user)).await;
    if let Some(role) = role {
        let path = format!("/projects/{project}/members/{name}");
        admin(s, Method::PUT, &path, Some(json!({"role": role}))).await;
    }
}

/// `GET /auth/token` as Docker sends it; `Err(status)` when refused.
async fn token(
    s: &TestServer,
    credentials: Option<(&str, &str)>,
    scopes: &[&str],
) -> Result<String, StatusCode> {
    token_at(&s.url(""), credentials, scopes).await
}

/// The repositories and actions a token grants, read from its (unverified) payload.
fn granted(token: &str) -> Vec<(String, Vec<String>)> {
    payload(token)["access"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let actions = a["actions"].as_array().unwrap();
            let actions = actions.iter().map(|x| x.as_str().unwrap().to_owned());
            (a["name"].as_str().unwrap().to_owned(), actions.collect())
        })
        .collect()
}

/// A token's claims, read without verifying it.
fn payload(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&payload).unwrap()
}

/// `POST /auth/token` with a form, as containerd sends it.
async fn post_token(s: &TestServer, form: &[(&str, &str)]) -> Response {
    reqwest::Client::new()
        .post(s.url("/auth/token"))
        .form(form)
        .send()
        .await
        .unwrap()
}

/// Pushes a one-blob "image" with `client` (a blob then a manifest); returns the statuses.
async fn push_image(
    s: &TestServer,
    client: &reqwest::Client,
    name: &str,
    tag: &str,
) -> (StatusCode, StatusCode) {
    let layer = format!("layer of {name}:{tag}").into_bytes();
    let digest = sha256(&layer);
    let blob = client
        .post(s.url(&format!("/v2/{name}/blobs/uploads/?digest={digest}")))
        .body(layer.clone())
        .send()
        .await
        .unwrap()
        .status();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.example.test",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json",
                   "digest": digest, "size": layer.len()},
        "layers": [],
    });
    let put = client
        .put(s.url(&format!("/v2/{name}/manifests/{tag}")))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(manifest.to_string())
        .send()
        .await
        .unwrap()
        .status();
    (blob, put)
}

async fn get_manifest(s: &TestServer, client: &reqwest::Client, name: &str, tag: &str) -> Response {
    client
        .get(s.url(&format!("/v2/{name}/manifests/{tag}")))
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .unwrap()
}

fn challenge(response: &Response) -> String {
    response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned()
}

async fn error_code(response: Response) -> String {
    let body: Value = response.json().await.unwrap();
    body["errors"][0]["code"].as_str().unwrap().to_owned()
}

/// A server over a fresh directory, with projects `team` (private) and `pub` (public).
async fn server_with_projects() -> (tempfile::TempDir, TestServer) {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    admin(&s, Method::POST, "/projects", Some(json!({"name": "team"}))).await;
    let public = json!({"name": "pub", "public": true});
    admin(&s, Method::POST, "/projects", Some(public)).await;
    (dir, s)
}
