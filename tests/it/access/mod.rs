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
    docker_build, oci_error, run, sha256, test_config, token_at,
};

mod api;
mod audit;
mod limits;
mod replicas;
mod robots;
mod roles;
mod tokens;

const PASSWORD: &str = "correct horse battery";

/// Creates a user with `PASSWORD` and gives it `role` in `project` (if given).
async fn user_with_role(s: &TestServer, name: &str, project: &str, role: Option<&str>) {
    let user = json!({"name": name, "password": PASSWORD});
    s.api().admin_ok(Method::POST, "/users", Some(user)).await;
    if let Some(role) = role {
        let path = format!("/projects/{project}/members/{name}");
        s.api()
            .admin_ok(Method::PUT, &path, Some(json!({"role": role})))
            .await;
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

fn challenge(response: &Response) -> String {
    response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned()
}

/// A server over a fresh directory, with projects `team` (private) and `pub` (public).
async fn server_with_projects() -> (tempfile::TempDir, TestServer) {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path()).await;
    s.api()
        .admin_ok(Method::POST, "/projects", Some(json!({"name": "team"})))
        .await;
    let public = json!({"name": "pub", "public": true});
    s.api()
        .admin_ok(Method::POST, "/projects", Some(public))
        .await;
    (dir, s)
}
