//! Who may do what: anonymous pulls of public projects, the roles a token grants, pushes into missing projects.

use super::*;

#[tokio::test]
async fn anonymous_clients_pull_public_projects_and_nothing_else() {
    let (_dir, s) = server_with_projects().await;
    assert_eq!(s.api().push_one("pub/tool", "v1").await, 201);
    assert_eq!(s.api().push_one("team/app", "v1").await, 201);
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
    let public = s
        .api()
        .with(&anonymous)
        .manifest(Method::GET, "pub/tool", "v1")
        .await;
    assert_eq!(public.status(), StatusCode::OK);
    let pull = token(&s, None, &["repository:pub/tool:pull,push"])
        .await
        .unwrap();
    assert_eq!(
        granted(&pull),
        [("pub/tool".to_owned(), vec!["pull".to_owned()])]
    );
    let with_token = s
        .api()
        .with(&bearer_client(&pull))
        .manifest(Method::GET, "pub/tool", "v1")
        .await;
    assert_eq!(with_token.status(), StatusCode::OK);
    let blob = s
        .api()
        .with(&bearer_client(&pull))
        .push_one("pub/tool", "v2")
        .await;
    assert_eq!(blob, StatusCode::UNAUTHORIZED);

    // Private: refused with a challenge naming the scope; an anonymous token grants nothing.
    let private = s
        .api()
        .with(&anonymous)
        .manifest(Method::GET, "team/app", "v1")
        .await;
    assert_eq!(private.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge(&private),
        format!("{expected},scope=\"repository:team/app:pull\"")
    );
    assert_eq!(oci_error(private).await.code, "UNAUTHORIZED");
    let nothing = token(&s, None, &["repository:team/app:pull"])
        .await
        .unwrap();
    assert!(granted(&nothing).is_empty());
    let refused = s
        .api()
        .with(&bearer_client(&nothing))
        .manifest(Method::GET, "team/app", "v1")
        .await;
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
    assert_eq!(s.api().push_one("team/app", "v1").await, 201);
    let guest = bearer_client(&token(&s, Some(("gail", PASSWORD)), &[all]).await.unwrap());
    assert_eq!(
        s.api()
            .with(&guest)
            .manifest(Method::GET, "team/app", "v1")
            .await
            .status(),
        200
    );
    // An authenticated token that lacks the scope: 403 with a challenge (RFC 6750).
    assert_eq!(s.api().with(&guest).push_one("team/app", "v2").await, 403);

    // A developer pushes but cannot delete.
    let dev = bearer_client(&token(&s, Some(("dev", PASSWORD)), &[all]).await.unwrap());
    assert_eq!(
        s.api().with(&dev).push_one("team/app", "v2").await,
        StatusCode::CREATED
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
    let blob = s.api().push_one("nowhere/app", "v1").await;
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

    s.api()
        .admin_ok(Method::POST, "/projects", Some(json!({"name": "nowhere"})))
        .await;
    assert_eq!(s.api().push_one("nowhere/app", "v1").await, 201);
}
