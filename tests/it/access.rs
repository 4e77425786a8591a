//! Access control, through the protocol clients speak: Docker's token flow (GET with Basic
//! credentials), containerd's OAuth2 POST flow, projects and roles, robots, CI push tokens,
//! forged tokens, login rate limits, the audit log, the management API and `berth admin`.

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

#[tokio::test]
async fn anonymous_clients_pull_public_projects_and_nothing_else() {
    let (_dir, s) = server_with_projects().await;
    assert_eq!(push_image(&s, &s.client, "pub/tool", "v1").await.1, 201);
    assert_eq!(push_image(&s, &s.client, "team/app", "v1").await.1, 201);
    let anonymous = reqwest::Client::new();

    // GET /v2/ answers with the challenge, as Distribution's token auth does.
    let base = anonymous.get(s.url("/v2/")).send().await.unwrap();
    assert_eq!(base.status(), StatusCode::UNAUTHORIZED);
    let expected = format!(
        "Bearer realm=\"http://{}/auth/token\",service=\"berth\"",
        s.addr
    );
    assert_eq!(challenge(&base), expected);

    // Public: pulls work with no token at all, and with an anonymous token.
    let public = get_manifest(&s, &anonymous, "pub/tool", "v1").await;
    assert_eq!(public.status(), StatusCode::OK);
    let pull = token(&s, None, &["repository:pub/tool:pull,push"])
        .await
        .unwrap();
    assert_eq!(
        granted(&pull),
        [("pub/tool".to_owned(), vec!["pull".to_owned()])]
    );
    let with_token = get_manifest(&s, &bearer_client(&pull), "pub/tool", "v1").await;
    assert_eq!(with_token.status(), StatusCode::OK);
    let (blob, _) = push_image(&s, &bearer_client(&pull), "pub/tool", "v2").await;
    assert_eq!(blob, StatusCode::UNAUTHORIZED);

    // Private: refused with a challenge naming the scope; an anonymous token grants nothing.
    let private = get_manifest(&s, &anonymous, "team/app", "v1").await;
    assert_eq!(private.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge(&private),
        format!("{expected},scope=\"repository:team/app:pull\"")
    );
    assert_eq!(error_code(private).await, "UNAUTHORIZED");
    let nothing = token(&s, None, &["repository:team/app:pull"])
        .await
        .unwrap();
    assert!(granted(&nothing).is_empty());
    let refused = get_manifest(&s, &bearer_client(&nothing), "team/app", "v1").await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(challenge(&refused).ends_with(",error=\"insufficient_scope\""));

    // The catalog lists only what the caller may see.
    let catalog = token(&s, None, &["registry:catalog:*"]).await.unwrap();
    let list: Value = bearer_client(&catalog)
        .get(s.url("/v2/_catalog"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["repositories"], json!(["pub/tool"]));
    let list: Value = s
        .client
        .get(s.url("/v2/_catalog"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["repositories"], json!(["pub/tool", "team/app"]));
}

#[tokio::test]
async fn roles_decide_what_a_token_grants() {
    let (_dir, s) = server_with_projects().await;
    user_with_role(&s, "gail", "team", Some("guest")).await;
    user_with_role(&s, "dev", "team", Some("developer")).await;
    user_with_role(&s, "mae", "team", Some("maintainer")).await;
    user_with_role(&s, "stranger", "team", None).await;
    let all = "repository:team/app:pull,push,delete";
    let grants = |token: String| {
        granted(&token)
            .into_iter()
            .flat_map(|(_, a)| a)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        grants(token(&s, Some(("gail", PASSWORD)), &[all]).await.unwrap()),
        ["pull"]
    );
    assert_eq!(
        grants(token(&s, Some(("dev", PASSWORD)), &[all]).await.unwrap()),
        ["pull", "push"]
    );
    assert_eq!(
        grants(token(&s, Some(("mae", PASSWORD)), &[all]).await.unwrap()),
        ["pull", "push", "delete"]
    );
    assert!(
        grants(
            token(&s, Some(("stranger", PASSWORD)), &[all])
                .await
                .unwrap()
        )
        .is_empty()
    );

    // A guest pulls but cannot push.
    assert_eq!(push_image(&s, &s.client, "team/app", "v1").await.1, 201);
    let guest = bearer_client(&token(&s, Some(("gail", PASSWORD)), &[all]).await.unwrap());
    assert_eq!(
        get_manifest(&s, &guest, "team/app", "v1").await.status(),
        200
    );
    // An authenticated token that lacks the scope: 403 with a challenge (RFC 6750).
    assert_eq!(push_image(&s, &guest, "team/app", "v2").await.0, 403);

    // A developer pushes but cannot delete.
    let dev = bearer_client(&token(&s, Some(("dev", PASSWORD)), &[all]).await.unwrap());
    assert_eq!(
        push_image(&s, &dev, "team/app", "v2").await,
        (201.try_into().unwrap(), 201.try_into().unwrap())
    );
    let delete = dev
        .delete(s.url("/v2/team/app/manifests/v2"))
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), StatusCode::FORBIDDEN);
    assert!(challenge(&delete).contains("scope=\"repository:team/app:delete\""));

    // A maintainer deletes tags.
    let mae = bearer_client(&token(&s, Some(("mae", PASSWORD)), &[all]).await.unwrap());
    let delete = mae
        .delete(s.url("/v2/team/app/manifests/v2"))
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), StatusCode::ACCEPTED);

    // A mount from a repository the token cannot read becomes a plain upload session.
    let layer_digest = sha256(b"layer of team/app:v1");
    let copy_only = token(
        &s,
        Some(("dev", PASSWORD)),
        &["repository:team/copy:pull,push"],
    )
    .await;
    let mount = bearer_client(&copy_only.unwrap())
        .post(s.url(&format!(
            "/v2/team/copy/blobs/uploads/?mount={layer_digest}&from=team/app"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(mount.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn pushing_into_a_missing_project_is_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.auth.auto_create_projects = false;
    let s = TestServer::start_with(&config).await;
    let (blob, _) = push_image(&s, &s.client, "nowhere/app", "v1").await;
    assert_eq!(blob, StatusCode::FORBIDDEN);
    let response = s
        .client
        .post(s.url("/v2/nowhere/app/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "DENIED");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("\"nowhere\" does not exist")
    );

    admin(
        &s,
        Method::POST,
        "/projects",
        Some(json!({"name": "nowhere"})),
    )
    .await;
    assert_eq!(push_image(&s, &s.client, "nowhere/app", "v1").await.1, 201);
}

#[tokio::test]
async fn containerd_post_flow_with_password_and_refresh_token() {
    let (_dir, s) = server_with_projects().await;
    user_with_role(&s, "dev", "team", Some("developer")).await;
    let form = [
        ("grant_type", "password"),
        ("username", "dev"),
        ("password", PASSWORD),
        ("service", "berth"),
        (
            "scope",
            "repository:team/app:pull,push repository:pub/x:pull",
        ),
        ("client_id", "containerd-client"),
        ("access_type", "offline"),
    ];
    let response = post_token(&s, &form).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["scope"],
        "repository:team/app:pull,push repository:pub/x:pull"
    );
    assert!(body["expires_in"].as_u64().unwrap() > 0);
    assert!(body["issued_at"].as_str().unwrap().ends_with('Z'));
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(
        push_image(&s, &bearer_client(access), "team/app", "v1")
            .await
            .1,
        201
    );

    let refresh = body["refresh_token"].as_str().unwrap();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh),
        ("service", "berth"),
        ("scope", "repository:team/app:pull"),
        ("client_id", "containerd-client"),
    ];
    let response = post_token(&s, &form).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(
        get_manifest(&s, &bearer_client(access), "team/app", "v1")
            .await
            .status(),
        200
    );

    // A refresh token is not an access token, and a wrong password gets no token.
    assert_eq!(
        get_manifest(&s, &bearer_client(refresh), "team/app", "v1")
            .await
            .status(),
        401
    );
    let form = [
        ("grant_type", "password"),
        ("username", "dev"),
        ("password", "wrong"),
    ];
    let response = post_token(&s, &form).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let many: Vec<String> = (0..65)
        .map(|i| format!("repository:team/r{i}:pull"))
        .collect();
    let form = [
        ("grant_type", "password"),
        ("username", "dev"),
        ("password", PASSWORD),
        ("scope", &many.join(" ")),
    ];
    let response = post_token(&s, &form).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let form = [("grant_type", "client_credentials")];
    let response = post_token(&s, &form).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // A password change ends refresh tokens issued before it; a new login gets a working one.
    let form = [
        ("grant_type", "password"),
        ("username", "dev"),
        ("password", PASSWORD),
        ("access_type", "offline"),
    ];
    let body: Value = post_token(&s, &form).await.json().await.unwrap();
    let before_change = body["refresh_token"].as_str().unwrap().to_owned();
    let new_password = "a brand new password";
    let change = json!({"password": new_password});
    let response = api(
        &s,
        "dev",
        PASSWORD,
        Method::PATCH,
        "/users/dev",
        Some(change),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", before_change.as_str()),
    ];
    let response = post_token(&s, &form).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    tokio::time::sleep(Duration::from_millis(5)).await;
    let form = [
        ("grant_type", "password"),
        ("username", "dev"),
        ("password", new_password),
        ("access_type", "offline"),
    ];
    let body: Value = post_token(&s, &form).await.json().await.unwrap();
    let after_change = body["refresh_token"].as_str().unwrap().to_owned();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", after_change.as_str()),
    ];
    let response = post_token(&s, &form).await;
    assert_eq!(response.status(), StatusCode::OK);
    let refresh = after_change.as_str();

    // Disabling the user ends its refresh token too.
    let disable = json!({"disabled": true});
    admin(&s, Method::PATCH, "/users/dev", Some(disable)).await;
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh)];
    let response = post_token(&s, &form).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

/// The server's current signing key, read from its store.
async fn signing_key(dir: &std::path::Path) -> SigningKey {
    let store = SqliteMetaStore::open(&dir.join("meta.db")).await.unwrap();
    store.signing_keys().await.unwrap().remove(0)
}

/// Signs `claims` under `key`'s id with `alg` and `key`'s secret, or with `secret` when given.
fn forge(key: &SigningKey, claims: &Value, alg: Algorithm, secret: Option<&[u8]>) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(key.kid.clone());
    let secret = secret.unwrap_or(&key.secret);
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret)).unwrap()
}

#[tokio::test]
async fn every_forged_or_stale_token_is_refused() {
    use base64::Engine;
    let (dir, s) = server_with_projects().await;
    user_with_role(&s, "dev", "team", Some("developer")).await;
    assert_eq!(push_image(&s, &s.client, "team/app", "v1").await.1, 201);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let good = token(&s, Some(("dev", PASSWORD)), &["repository:team/app:pull"])
        .await
        .unwrap();
    let claims = payload(&good);
    let key = signing_key(dir.path()).await;
    let signed = |claims: &Value| forge(&key, claims, Algorithm::HS256, None);
    let with = |key: &str, value: Value| {
        let mut claims = claims.clone();
        claims[key] = value;
        claims
    };
    assert_eq!(
        get_manifest(&s, &bearer_client(&good), "team/app", "v1")
            .await
            .status(),
        200
    );
    // The forge itself is sound: the same claims signed with the server's key pass.
    let resigned = signed(&claims);
    assert_eq!(
        get_manifest(&s, &bearer_client(&resigned), "team/app", "v1")
            .await
            .status(),
        200
    );

    let mut forged = vec![
        ("expired", signed(&with("exp", json!(now - 120)))),
        ("not yet valid", signed(&with("nbf", json!(now + 600)))),
        (
            "wrong signature",
            forge(&key, &claims, Algorithm::HS256, Some(b"not the key")),
        ),
        (
            "wrong algorithm",
            forge(&key, &claims, Algorithm::HS512, None),
        ),
        ("wrong audience", signed(&with("aud", json!("other")))),
        ("wrong issuer", signed(&with("iss", json!("other")))),
        ("refresh as access", signed(&with("typ", json!("refresh")))),
    ];
    // alg: none, with the payload intact.
    let none_header =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let body = good.split('.').nth(1).unwrap();
    forged.push(("alg none", format!("{none_header}.{body}.")));
    // A scope widened after signing.
    let tampered = with(
        "access",
        json!([{"type": "repository", "name": "team/app", "actions": ["pull", "push", "delete"]}]),
    );
    let tampered_body =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tampered.to_string());
    let parts: Vec<&str> = good.split('.').collect();
    forged.push((
        "tampered scope",
        format!("{}.{tampered_body}.{}", parts[0], parts[2]),
    ));
    forged.push(("garbage", "not.a.token".to_owned()));

    for (defect, token) in forged {
        let response = get_manifest(&s, &bearer_client(&token), "team/app", "v1").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{defect}");
        assert!(
            challenge(&response).starts_with("Bearer realm="),
            "{defect}"
        );
        assert_eq!(error_code(response).await, "UNAUTHORIZED", "{defect}");
    }

    // A disabled user's token stops working at once.
    admin(
        &s,
        Method::PATCH,
        "/users/dev",
        Some(json!({"disabled": true})),
    )
    .await;
    let response = get_manifest(&s, &bearer_client(&good), "team/app", "v1").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        token(&s, Some(("dev", PASSWORD)), &[]).await,
        Err(StatusCode::UNAUTHORIZED)
    );
}

#[tokio::test]
async fn robots_and_ci_tokens_are_confined_and_revocable() {
    let (_dir, s) = server_with_projects().await;
    assert_eq!(push_image(&s, &s.client, "team/app", "v1").await.1, 201);
    assert_eq!(push_image(&s, &s.client, "pub/tool", "v1").await.1, 201);

    // A robot that may pull team/*; its secret is shown once and works as a password.
    let robot = json!({"name": "reader", "actions": "pull", "ttl": "30d"});
    let created = admin(&s, Method::POST, "/projects/team/robots", Some(robot)).await;
    let (name, secret) = (
        created["name"].as_str().unwrap(),
        created["secret"].as_str().unwrap(),
    );
    assert_eq!(name, "robot$team+reader");
    let listed = admin(&s, Method::GET, "/projects/team/robots", None).await;
    assert!(!listed.to_string().contains(secret), "{listed}");
    let scope = "repository:team/app:pull,push";
    let robot_token = token(&s, Some((name, secret)), &[scope]).await.unwrap();
    assert_eq!(
        granted(&robot_token),
        [("team/app".to_owned(), vec!["pull".to_owned()])]
    );
    let robot_client = bearer_client(&robot_token);
    assert_eq!(
        get_manifest(&s, &robot_client, "team/app", "v1")
            .await
            .status(),
        200
    );
    assert_eq!(
        token(&s, Some((name, "wrong")), &[scope]).await,
        Err(StatusCode::UNAUTHORIZED)
    );

    // Disabled: refused at once, token and login alike; enabled again: back.
    admin(
        &s,
        Method::PATCH,
        &format!("/robots/{name}"),
        Some(json!({"disabled": true})),
    )
    .await;
    assert_eq!(
        get_manifest(&s, &robot_client, "team/app", "v1")
            .await
            .status(),
        401
    );
    assert_eq!(
        token(&s, Some((name, secret)), &[scope]).await,
        Err(StatusCode::UNAUTHORIZED)
    );
    admin(
        &s,
        Method::PATCH,
        &format!("/robots/{name}"),
        Some(json!({"disabled": false})),
    )
    .await;
    assert_eq!(
        get_manifest(&s, &robot_client, "team/app", "v1")
            .await
            .status(),
        200
    );
    admin(&s, Method::DELETE, &format!("/robots/{name}"), None).await;
    assert_eq!(
        get_manifest(&s, &robot_client, "team/app", "v1")
            .await
            .status(),
        401
    );

    // A CI token for team/app pushes there and nowhere else, and reads nothing else.
    let request = json!({"repository": "team/app", "push": true, "ttl": "15m"});
    let ci = admin(&s, Method::POST, "/tokens", Some(request)).await;
    let (ci_name, ci_secret) = (ci["name"].as_str().unwrap(), ci["secret"].as_str().unwrap());
    assert!(ci_name.starts_with("ci$team+"), "{ci_name}");
    let scopes = [
        "repository:team/app:pull,push,delete",
        "repository:team/other:pull,push",
        "repository:pub/tool:pull",
    ];
    let ci_token = token(&s, Some((ci_name, ci_secret)), &scopes)
        .await
        .unwrap();
    assert_eq!(
        granted(&ci_token),
        [
            (
                "team/app".to_owned(),
                vec!["pull".to_owned(), "push".to_owned()]
            ),
            ("pub/tool".to_owned(), vec!["pull".to_owned()]),
        ]
    );
    let ci_client = bearer_client(&ci_token);
    assert_eq!(push_image(&s, &ci_client, "team/app", "ci-1").await.1, 201);
    assert_eq!(
        push_image(&s, &ci_client, "team/other", "ci-1").await.0,
        403
    );
    assert_eq!(
        get_manifest(&s, &ci_client, "team/other", "v1")
            .await
            .status(),
        403
    );
    admin(&s, Method::DELETE, &format!("/tokens/{ci_name}"), None).await;
    assert_eq!(push_image(&s, &ci_client, "team/app", "ci-2").await.0, 401);
    assert_eq!(
        token(&s, Some((ci_name, ci_secret)), &[]).await,
        Err(StatusCode::UNAUTHORIZED)
    );

    // A short-lived one stops working when its time is up.
    let request = json!({"repository": "team/app-*", "push": true, "ttl": "2s"});
    let ci = admin(&s, Method::POST, "/tokens", Some(request)).await;
    let (ci_name, ci_secret) = (ci["name"].as_str().unwrap(), ci["secret"].as_str().unwrap());
    let ci_token = token(
        &s,
        Some((ci_name, ci_secret)),
        &["repository:team/app-api:push"],
    )
    .await
    .unwrap();
    assert_eq!(
        push_image(&s, &bearer_client(&ci_token), "team/app-api", "v1")
            .await
            .1,
        201
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        push_image(&s, &bearer_client(&ci_token), "team/app-api", "v2")
            .await
            .0,
        401
    );
    assert_eq!(
        token(&s, Some((ci_name, ci_secret)), &[]).await,
        Err(StatusCode::UNAUTHORIZED)
    );

    // Patterns stay inside one project, and CI tokens live at most a day.
    let outside = json!({"repository": "other/app", "push": true});
    let response = api(
        &s,
        "admin",
        ADMIN_PASSWORD,
        Method::POST,
        "/tokens",
        Some(outside),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let long = json!({"repository": "team/app", "push": true, "ttl": "2d"});
    let response = api(
        &s,
        "admin",
        ADMIN_PASSWORD,
        Method::POST,
        "/tokens",
        Some(long),
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread")]
async fn lifetimes_are_bounded_written_with_units_and_never_wrap() {
    let (dir, s) = server_with_projects().await;
    for (ttl, why) in [
        ("9999999999999999d", "invalid lifetime"),
        ("400d", "365 days"),
        ("90", "unit"),
    ] {
        let robot = json!({"name": "deployer", "actions": "pull", "ttl": ttl});
        let res = api(
            &s,
            "admin",
            ADMIN_PASSWORD,
            Method::POST,
            "/projects/team/robots",
            Some(robot),
        )
        .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{ttl}");
        let body: Value = res.json().await.unwrap();
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(why), "{ttl}: {message}");
    }
    let data = dir.path().to_str().unwrap();
    let (ok, text) = crate::support::attempt(
        env!("CARGO_BIN_EXE_berth"),
        &[
            "admin",
            "--data-dir",
            data,
            "robot",
            "create",
            "team",
            "x",
            "--actions",
            "pull",
            "--ttl",
            "90",
        ],
    )
    .await;
    assert!(!ok && text.contains("unit"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn audit_text_escapes_what_clients_wrote_and_reads_times_as_people_write_them() {
    let (dir, s) = server_with_projects().await;
    let forged = "mallory\n999\t2026-01-01\tadmin\tuser.create";
    assert_eq!(
        token(&s, Some((forged, "wrong")), &[]).await,
        Err(StatusCode::UNAUTHORIZED)
    );
    let data = dir.path();
    let audit = crate::support::berth_admin(
        data,
        &["audit", "--action", "login.failed", "--since", "1h"],
        "",
    )
    .await;
    let rows: Vec<&str> = audit.lines().collect();
    assert_eq!(rows.len(), 2, "{audit}");
    let columns: Vec<&str> = rows[1].split('\t').collect();
    assert_eq!(columns.len(), 9, "{audit}");
    assert_eq!(
        columns[2],
        "mallory\\n999\\t2026-01-01\\tadmin\\tuser.create"
    );
    // Times are RFC 3339 out, and RFC 3339 or a duration in.
    assert!(
        columns[1].ends_with('Z') && columns[1].contains('T'),
        "{}",
        columns[1]
    );
    let later = crate::support::berth_admin(
        data,
        &[
            "audit",
            "--action",
            "login.failed",
            "--since",
            "2999-01-01T00:00:00Z",
        ],
        "",
    )
    .await;
    assert_eq!(later.lines().count(), 1, "{later}");
    let api = admin(&s, Method::GET, "/audit?action=login.failed&since=1h", None).await;
    assert_eq!(api["entries"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ci_token_never_outlives_its_minters_rights() {
    let (dir, s) = server_with_projects().await;
    user_with_role(&s, "dev", "team", Some("developer")).await;
    let as_dev =
        async |method, path: &str, body| api(&s, "dev", PASSWORD, method, path, body).await;
    let mint = async || {
        let request = json!({"repository": "team/app", "push": true, "ttl": "15m"});
        let res = as_dev(Method::POST, "/tokens", Some(request)).await;
        assert!(res.status().is_success(), "{}", res.status());
        let ci: Value = res.json().await.unwrap();
        let name = ci["name"].as_str().unwrap().to_owned();
        let secret = ci["secret"].as_str().unwrap().to_owned();
        let scope = ["repository:team/app:pull,push"];
        let token = token(&s, Some((&name, &secret)), &scope).await.unwrap();
        (name, secret, bearer_client(&token))
    };
    let member = |role: Option<&str>| {
        let path = "/projects/team/members/dev";
        match role {
            Some(role) => (Method::PUT, path, Some(json!({"role": role}))),
            None => (Method::DELETE, path, None),
        }
    };

    // Removed from the project: the minter's token stops pushing, and the minter can no
    // longer re-enable it.
    let (name, secret, ci) = mint().await;
    assert_eq!(push_image(&s, &ci, "team/app", "ci-1").await.1, 201);
    let (method, path, body) = member(None);
    admin(&s, method, path, body).await;
    assert_eq!(push_image(&s, &ci, "team/app", "ci-2").await.0, 401);
    assert_eq!(
        token(&s, Some((&name, &secret)), &[]).await,
        Err(StatusCode::UNAUTHORIZED)
    );
    let disable = json!({"disabled": false});
    let res = as_dev(Method::PATCH, &format!("/robots/{name}"), Some(disable)).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // Disabled as a user: the same.
    let (method, path, body) = member(Some("developer"));
    admin(&s, method, path, body).await;
    let (_, _, ci) = mint().await;
    assert_eq!(push_image(&s, &ci, "team/app", "ci-3").await.1, 201);
    admin(
        &s,
        Method::PATCH,
        "/users/dev",
        Some(json!({"disabled": true})),
    )
    .await;
    assert_eq!(push_image(&s, &ci, "team/app", "ci-4").await.0, 401);

    // A user who calls itself `cli` cannot touch tokens minted on the command line.
    user_with_role(&s, "cli", "team", Some("developer")).await;
    let created = crate::support::berth_admin(
        dir.path(),
        &[
            "token", "create", "--repo", "team/app", "--push", "--ttl", "15m",
        ],
        "",
    )
    .await;
    let created: Value = serde_json::from_str(&created).unwrap();
    let cli_token = created["name"].as_str().unwrap();
    for (method, body) in [
        (Method::DELETE, None),
        (Method::PATCH, Some(json!({"disabled": true}))),
    ] {
        let path = if method == Method::DELETE {
            format!("/tokens/{cli_token}")
        } else {
            format!("/robots/{cli_token}")
        };
        let res = api(&s, "cli", PASSWORD, method, &path, body).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn simultaneous_logins_check_no_more_passwords_than_the_limit() {
    let (_dir, s) = server_with_projects().await;
    user_with_role(&s, "dev", "team", Some("developer")).await;
    // Sixty attempts at once, the right password among them: only ten are checked.
    let mut attempts = tokio::task::JoinSet::new();
    for i in 0..60 {
        let url = s.url("/auth/token");
        attempts.spawn(async move {
            let password = if i == 59 { PASSWORD } else { "wrong" };
            reqwest::Client::new()
                .get(url)
                .basic_auth("dev", Some(password))
                .send()
                .await
                .unwrap()
                .status()
        });
    }
    let mut checked = 0;
    while let Some(status) = attempts.join_next().await {
        if status.unwrap() != StatusCode::TOO_MANY_REQUESTS {
            checked += 1;
        }
    }
    assert!(checked <= 10, "{checked} passwords were checked");
    let failed = admin(
        &s,
        Method::GET,
        "/audit?action=login.failed&limit=100",
        None,
    )
    .await;
    let failed = failed["entries"].as_array().unwrap().len();
    assert!(failed <= 10, "{failed} failed logins were checked");
}

#[tokio::test]
async fn failed_logins_are_rate_limited_per_user() {
    let (_dir, s) = server_with_projects().await;
    user_with_role(&s, "dev", "team", Some("developer")).await;
    for _ in 0..10 {
        assert_eq!(
            token(&s, Some(("dev", "wrong")), &[]).await,
            Err(StatusCode::UNAUTHORIZED)
        );
    }
    // The eleventh try is refused before the password is even checked, right or wrong.
    let response = reqwest::Client::new()
        .get(s.url("/auth/token"))
        .basic_auth("dev", Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "300");
    assert_eq!(error_code(response).await, "TOOMANYREQUESTS");
    // A name of any length is refused like any other, and kept short in the audit log.
    let long = "y".repeat(5000);
    assert_eq!(
        token(&s, Some((&long, "p")), &[]).await,
        Err(StatusCode::UNAUTHORIZED)
    );
    let failed = admin(&s, Method::GET, "/audit?action=login.failed&limit=1", None).await;
    assert_eq!(failed["entries"][0]["actor"].as_str().unwrap().len(), 400);

    // Other users are not locked out by it.
    assert!(
        token(&s, Some(("admin", ADMIN_PASSWORD)), &[])
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn failed_logins_are_rate_limited_per_address() {
    use berth::storage::access::AuditFilter;
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.auth.login_failures_per_address = 3;
    let s = TestServer::start_with(&config).await;
    // Guessing across user names from one address runs into the address's limit.
    for user in ["ann", "bob", "cid"] {
        assert_eq!(
            token(&s, Some((user, "guess")), &[]).await,
            Err(StatusCode::UNAUTHORIZED)
        );
    }
    assert_eq!(
        token(&s, Some(("dan", "guess")), &[]).await,
        Err(StatusCode::TOO_MANY_REQUESTS)
    );
    let store = SqliteMetaStore::open(&dir.path().join("meta.db"))
        .await
        .unwrap();
    let filter = AuditFilter {
        action: Some("login.limited".into()),
        limit: 10,
        ..AuditFilter::default()
    };
    let limited = store.audit_query(&filter).await.unwrap();
    assert_eq!(limited.len(), 1);
    assert_eq!(limited[0].actor, "dan");
    assert_eq!(limited[0].address.as_deref(), Some("127.0.0.1"));
}

#[tokio::test]
async fn the_audit_log_records_each_action_once() {
    let (_dir, s) = server_with_projects().await;
    user_with_role(&s, "mae", "team", Some("maintainer")).await;
    let mae = bearer_client(
        &token(
            &s,
            Some(("mae", PASSWORD)),
            &["repository:team/app:pull,push,delete"],
        )
        .await
        .unwrap(),
    );
    push_image(&s, &mae, "team/app", "v1").await;
    push_image(&s, &mae, "team/app", "v1").await; // the same manifest again: no tag move
    // Another manifest under the same tag moves it.
    let layer = b"another layer".to_vec();
    let digest = sha256(&layer);
    mae.post(s.url(&format!("/v2/team/app/blobs/uploads/?digest={digest}")))
        .body(layer.clone())
        .send()
        .await
        .unwrap();
    let manifest = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": digest, "size": layer.len()}, "layers": []});
    let put = mae
        .put(s.url("/v2/team/app/manifests/v1"))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(manifest.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201);
    let moved_to = put.headers()["docker-content-digest"]
        .to_str()
        .unwrap()
        .to_owned();
    mae.delete(s.url("/v2/team/app/manifests/v1"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        token(&s, Some(("mae", "wrong")), &[]).await,
        Err(StatusCode::UNAUTHORIZED)
    );
    let ci = admin(
        &s,
        Method::POST,
        "/tokens",
        Some(json!({"repository": "team/app", "push": true})),
    )
    .await;

    let log = admin(&s, Method::GET, "/audit?project=team&limit=50", None).await;
    let entries: Vec<(String, String, Option<String>, String)> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|e| {
            (
                e["actor"].as_str().unwrap().to_owned(),
                e["action"].as_str().unwrap().to_owned(),
                e["digest"].as_str().map(str::to_owned),
                e["detail"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let actions: Vec<(&str, &str)> = entries
        .iter()
        .map(|(a, b, _, _)| (a.as_str(), b.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("admin", "project.create"),
            ("admin", "member.set"),
            ("mae", "push"),
            ("mae", "push"),
            ("mae", "push"),
            ("mae", "tag.move"),
            ("mae", "delete"),
            ("admin", "token.create"),
        ],
        "{log}"
    );
    assert_eq!(entries[5].2.as_deref(), Some(moved_to.as_str()));
    assert_eq!(entries[6].3, "tag v1");
    assert!(
        entries[7].3.starts_with(ci["name"].as_str().unwrap()),
        "{:?}",
        entries[7]
    );

    // Logins, failed ones included, are recorded per user, with the address.
    let logins = admin(&s, Method::GET, "/audit?user=mae", None).await;
    let logins: Vec<(&str, &str)> = logins["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"].as_str().unwrap().starts_with("login"))
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["address"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        logins,
        [("login.failed", "127.0.0.1"), ("login", "127.0.0.1")]
    );
    // Basic credentials on management API calls are checked on every call, but only each
    // call's own action is recorded, not a `login` per request: admin's one `login` is the
    // token the test server asked for at its start, before a dozen API calls.
    let admin_logins = admin(&s, Method::GET, "/audit?user=admin&action=login", None).await;
    assert_eq!(
        admin_logins["entries"].as_array().unwrap().len(),
        1,
        "{admin_logins}"
    );

    // Pages: newest first, `next` continues below the last id.
    let page = admin(&s, Method::GET, "/audit?project=team&limit=3", None).await;
    assert_eq!(page["entries"].as_array().unwrap().len(), 3);
    let next = page["next"].as_i64().unwrap();
    let rest = admin(
        &s,
        Method::GET,
        &format!("/audit?project=team&before={next}&limit=50"),
        None,
    )
    .await;
    assert_eq!(rest["entries"].as_array().unwrap().len(), entries.len() - 3);

    // No secret ever lands in the log.
    let everything = admin(&s, Method::GET, "/audit?limit=1000", None)
        .await
        .to_string();
    for secret in [
        PASSWORD,
        ADMIN_PASSWORD,
        "wrong",
        ci["secret"].as_str().unwrap(),
    ] {
        assert!(!everything.contains(secret), "{secret} in the audit log");
    }

    // Only administrators read the log; a maintainer is refused.
    let response = api(
        &s,
        "mae",
        PASSWORD,
        Method::GET,
        "/audit?project=team",
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn key_rotation_keeps_earlier_tokens_valid() {
    let (_dir, s) = server_with_projects().await;
    assert_eq!(push_image(&s, &s.client, "team/app", "v1").await.1, 201);
    let before = token(
        &s,
        Some(("admin", ADMIN_PASSWORD)),
        &["repository:team/app:pull"],
    )
    .await
    .unwrap();
    let rotated = admin(&s, Method::POST, "/keys/rotate", None).await;
    let after = token(
        &s,
        Some(("admin", ADMIN_PASSWORD)),
        &["repository:team/app:pull"],
    )
    .await
    .unwrap();
    let kid = |token: &str| jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
    assert_ne!(kid(&before), kid(&after));
    assert_eq!(kid(&after), rotated["kid"]);
    for token in [&before, &after] {
        assert_eq!(
            get_manifest(&s, &bearer_client(token), "team/app", "v1")
                .await
                .status(),
            200
        );
    }
}

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

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_address_counts() {
    use berth::storage::access::AuditFilter;
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.auth.trusted_proxies = vec!["127.0.0.0/8".into()];
    config.auth.login_failures_per_address = 2;
    let s = TestServer::start_with(&config).await;
    let attempt = |forwarded: &'static str| {
        reqwest::Client::new()
            .get(s.url("/auth/token?service=berth"))
            .basic_auth("nobody", Some("guess"))
            .header("x-forwarded-for", forwarded)
            .send()
    };
    // The client is the nearest untrusted address; a spoofed entry further left is ignored.
    for _ in 0..2 {
        let response = attempt("198.51.100.1, 203.0.113.7, 127.0.0.9")
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let limited = attempt("203.0.113.7").await.unwrap();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let other = attempt("203.0.113.8").await.unwrap();
    assert_eq!(other.status(), StatusCode::UNAUTHORIZED);

    let store = SqliteMetaStore::open(&dir.path().join("meta.db"))
        .await
        .unwrap();
    let filter = AuditFilter {
        action: Some("login.failed".into()),
        limit: 10,
        ..AuditFilter::default()
    };
    let addresses: Vec<Option<String>> = store
        .audit_query(&filter)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.address)
        .collect();
    let expected = ["203.0.113.8", "203.0.113.7", "203.0.113.7"].map(|a| Some(a.to_owned()));
    assert_eq!(addresses, expected);
}

/// The JSON error of a management API reply: `(status, code, message)`, failing the test when
/// the body is not the JSON error shape.
async fn api_error(response: Response) -> (StatusCode, String, String) {
    let status = response.status();
    let content_type = response.headers().get("content-type").cloned();
    let text = response.text().await.unwrap();
    assert_eq!(
        content_type.as_ref().map(|v| v.to_str().unwrap()),
        Some("application/json"),
        "{status} {text}"
    );
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let error = &body["errors"][0];
    let (code, message) = (error["code"].as_str(), error["message"].as_str());
    assert!(
        code.is_some_and(|c| !c.is_empty()) && message.is_some_and(|m| !m.is_empty()),
        "{text}"
    );
    (
        status,
        code.unwrap().to_owned(),
        message.unwrap().to_owned(),
    )
}

#[tokio::test]
async fn the_management_api_answers_json_errors_and_the_objects_it_creates() {
    let (_dir, s) = server_with_projects().await;
    let call = async |method: Method, path: &str, body: Option<Value>| {
        api(&s, "admin", ADMIN_PASSWORD, method, path, body).await
    };
    let raw = async |method: Method, path: &str, content_type: &str, body: &str| {
        reqwest::Client::new()
            .request(method, s.url(&format!("/api/v1{path}")))
            .basic_auth("admin", Some(ADMIN_PASSWORD))
            .header("content-type", content_type)
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
    };

    // Bodies axum would refuse in text/plain: not JSON, the wrong type, unknown fields.
    let (status, code, message) =
        api_error(raw(Method::POST, "/projects", "application/json", "{not json").await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "INVALID_REQUEST")
    );
    assert!(message.contains("JSON"), "{message}");
    let (status, _, _) =
        api_error(raw(Method::POST, "/projects", "text/plain", r#"{"name":"x"}"#).await).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let unknown_field = json!({"name": "x", "colour": "red"});
    let (status, _, message) =
        api_error(call(Method::POST, "/projects", Some(unknown_field)).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(message.contains("colour"), "{message}");
    let (status, _, _) = api_error(call(Method::GET, "/audit?limit=many", None).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Paths and methods that do not exist, and things that do not exist.
    let (status, _, _) = api_error(call(Method::GET, "/nothing/here", None).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = api_error(call(Method::DELETE, "/projects", None).await).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    for path in ["/projects/ghost/members", "/projects/ghost/robots"] {
        let (status, code, message) = api_error(call(Method::GET, path, None).await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::NOT_FOUND, "NOT_FOUND"),
            "{path}"
        );
        assert!(message.contains("ghost"), "{message}");
    }
    let (status, _, _) = api_error(
        call(
            Method::PATCH,
            "/users/ghost",
            Some(json!({"disabled": true})),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) =
        api_error(call(Method::DELETE, "/robots/robot$team+ghost", None).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A bad project name is called that, not a repository name.
    let (status, _, message) =
        api_error(call(Method::POST, "/projects", Some(json!({"name": "Bad Name"}))).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message.contains("invalid project name"), "{message}");
    // Wrong credentials are a JSON error with a Basic challenge.
    let refused = api(&s, "admin", "wrong", Method::GET, "/projects", None).await;
    assert!(refused.headers().contains_key("www-authenticate"));
    let (status, code, _) = api_error(refused).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "UNAUTHORIZED")
    );

    // Creates answer 201 with what they created.
    let created = call(Method::POST, "/projects", Some(json!({"name": "ops"}))).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(
        created.json::<Value>().await.unwrap(),
        json!({"name": "ops", "public": false})
    );
    let user = json!({"name": "lee", "password": PASSWORD});
    let created = call(Method::POST, "/users", Some(user)).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(
        created.json::<Value>().await.unwrap(),
        json!({"name": "lee", "admin": false, "disabled": false})
    );
    let member = call(
        Method::PUT,
        "/projects/ops/members/lee",
        Some(json!({"role": "developer"})),
    )
    .await;
    assert_eq!(
        member.json::<Value>().await.unwrap(),
        json!({"user": "lee", "role": "developer"})
    );

    // A robot takes lists for actions and repositories, and lives 30 days by default, as on the
    // command line.
    let robot = json!({"name": "ship", "actions": ["pull", "push"],
                       "repositories": ["ops/api", "ops/web-*"]});
    let created = call(Method::POST, "/projects/ops/robots", Some(robot)).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["name"], "robot$ops+ship");
    assert_eq!(created["actions"], json!(["pull", "push"]));
    assert_eq!(created["repositories"], json!(["ops/api", "ops/web-*"]));
    assert_eq!(created["disabled"], false);
    let lifetime = created["expires_at"].as_i64().unwrap() - berth::time::now_ms();
    let thirty_days = 30 * 86_400_000;
    assert!(
        (thirty_days - 60_000..=thirty_days).contains(&lifetime),
        "{lifetime}"
    );
    let (name, secret) = (
        created["name"].as_str().unwrap(),
        created["secret"].as_str().unwrap(),
    );
    let listed = admin(&s, Method::GET, "/projects/ops/robots", None).await;
    assert_eq!(listed[0]["repositories"], created["repositories"]);
    // Both repositories are the robot's, and nothing else of the project.
    let scopes = [
        "repository:ops/api:pull,push",
        "repository:ops/web-ui:pull",
        "repository:ops/db:pull",
    ];
    let robot_token = token(&s, Some((name, secret)), &scopes).await.unwrap();
    let granted = granted(&robot_token);
    let names: Vec<&str> = granted.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["ops/api", "ops/web-ui"], "{granted:?}");
    // A list entry outside the project is refused as a string one is.
    let outside =
        json!({"name": "spy", "actions": ["pull"], "repositories": ["ops/api", "team/app"]});
    let (status, _, message) =
        api_error(call(Method::POST, "/projects/ops/robots", Some(outside)).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message.contains("team/app"), "{message}");
    let ci = call(
        Method::POST,
        "/tokens",
        Some(json!({"repository": "ops/api", "push": true})),
    )
    .await;
    assert_eq!(ci.status(), StatusCode::CREATED);
    let ci: Value = ci.json().await.unwrap();
    assert_eq!(
        (ci["kind"].as_str(), ci["project"].as_str()),
        (Some("ci"), Some("ops"))
    );
    assert!(ci["secret"].as_str().is_some_and(|s| !s.is_empty()));
}
