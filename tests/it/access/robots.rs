//! Robots and CI push tokens: confined to their repositories and actions, revocable, never outliving their minter's rights.

use super::*;

#[tokio::test]
async fn robots_and_ci_tokens_are_confined_and_revocable() {
    let (_dir, s) = server_with_projects().await;
    assert_eq!(s.api().push_one("team/app", "v1").await, 201);
    assert_eq!(s.api().push_one("pub/tool", "v1").await, 201);

    // A robot that may pull team/*; its secret is shown once and works as a password.
    let robot = json!({"name": "reader", "actions": "pull", "ttl": "30d"});
    let created = s
        .api()
        .admin_ok(Method::POST, "/projects/team/robots", Some(robot))
        .await;
    let (name, secret) = (
        created["name"].as_str().unwrap(),
        created["secret"].as_str().unwrap(),
    );
    assert_eq!(name, "robot$team+reader");
    let listed = s
        .api()
        .admin_ok(Method::GET, "/projects/team/robots", None)
        .await;
    assert!(!listed.to_string().contains(secret), "{listed}");
    let scope = "repository:team/app:pull,push";
    let robot_token = token(&s, Some((name, secret)), &[scope]).await.unwrap();
    assert_eq!(
        granted(&robot_token),
        [("team/app".to_owned(), vec!["pull".to_owned()])]
    );
    let robot_client = bearer_client(&robot_token);
    assert_eq!(
        s.api()
            .with(&robot_client)
            .manifest(Method::GET, "team/app", "v1")
            .await
            .status(),
        200
    );
    assert_eq!(
        token(&s, Some((name, "wrong")), &[scope]).await,
        Err(StatusCode::UNAUTHORIZED)
    );

    // Disabled: refused at once, token and login alike; enabled again: back.
    let set_disabled = async |disabled: bool| {
        let body = Some(json!({ "disabled": disabled }));
        let path = format!("/robots/{name}");
        s.api().admin_ok(Method::PATCH, &path, body).await;
    };
    let robot = s.api().with(&robot_client);
    let pull = async || robot.manifest(Method::GET, "team/app", "v1").await.status();
    set_disabled(true).await;
    assert_eq!(pull().await, 401);
    assert_eq!(
        token(&s, Some((name, secret)), &[scope]).await,
        Err(StatusCode::UNAUTHORIZED)
    );
    set_disabled(false).await;
    assert_eq!(pull().await, 200);
    s.api()
        .admin_ok(Method::DELETE, &format!("/robots/{name}"), None)
        .await;
    assert_eq!(pull().await, 401);

    // A CI token for team/app pushes there and nowhere else, and reads nothing else.
    let request = json!({"repository": "team/app", "push": true, "ttl": "15m"});
    let ci = s
        .api()
        .admin_ok(Method::POST, "/tokens", Some(request))
        .await;
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
    assert_eq!(
        s.api().with(&ci_client).push_one("team/app", "ci-1").await,
        201
    );
    assert_eq!(
        s.api()
            .with(&ci_client)
            .push_one("team/other", "ci-1")
            .await,
        403
    );
    assert_eq!(
        s.api()
            .with(&ci_client)
            .manifest(Method::GET, "team/other", "v1")
            .await
            .status(),
        403
    );
    s.api()
        .admin_ok(Method::DELETE, &format!("/tokens/{ci_name}"), None)
        .await;
    assert_eq!(
        s.api().with(&ci_client).push_one("team/app", "ci-2").await,
        401
    );
    assert_eq!(
        token(&s, Some((ci_name, ci_secret)), &[]).await,
        Err(StatusCode::UNAUTHORIZED)
    );

    // A short-lived one stops working when its time is up.
    let request = json!({"repository": "team/app-*", "push": true, "ttl": "2s"});
    let ci = s
        .api()
        .admin_ok(Method::POST, "/tokens", Some(request))
        .await;
    let (ci_name, ci_secret) = (ci["name"].as_str().unwrap(), ci["secret"].as_str().unwrap());
    let ci_token = token(
        &s,
        Some((ci_name, ci_secret)),
        &["repository:team/app-api:push"],
    )
    .await
    .unwrap();
    assert_eq!(
        s.api()
            .with(&bearer_client(&ci_token))
            .push_one("team/app-api", "v1")
            .await,
        201
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        s.api()
            .with(&bearer_client(&ci_token))
            .push_one("team/app-api", "v2")
            .await,
        401
    );
    assert_eq!(
        token(&s, Some((ci_name, ci_secret)), &[]).await,
        Err(StatusCode::UNAUTHORIZED)
    );

    // Patterns stay inside one project, and CI tokens live at most a day.
    let outside = json!({"repository": "other/app", "push": true});
    let response = s
        .api()
        .call(
            ("admin", ADMIN_PASSWORD),
            Method::POST,
            "/tokens",
            Some(outside),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let long = json!({"repository": "team/app", "push": true, "ttl": "2d"});
    let response = s
        .api()
        .call(
            ("admin", ADMIN_PASSWORD),
            Method::POST,
            "/tokens",
            Some(long),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ci_token_never_outlives_its_minters_rights() {
    let (dir, s) = server_with_projects().await;
    user_with_role(&s, "dev", "team", Some("developer")).await;
    let as_dev =
        async |method, path: &str, body| s.api().call(("dev", PASSWORD), method, path, body).await;
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
    assert_eq!(s.api().with(&ci).push_one("team/app", "ci-1").await, 201);
    let (method, path, body) = member(None);
    s.api().admin_ok(method, path, body).await;
    assert_eq!(s.api().with(&ci).push_one("team/app", "ci-2").await, 401);
    assert_eq!(
        token(&s, Some((&name, &secret)), &[]).await,
        Err(StatusCode::UNAUTHORIZED)
    );
    let disable = json!({"disabled": false});
    let res = as_dev(Method::PATCH, &format!("/robots/{name}"), Some(disable)).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // Disabled as a user: the same.
    let (method, path, body) = member(Some("developer"));
    s.api().admin_ok(method, path, body).await;
    let (_, _, ci) = mint().await;
    assert_eq!(s.api().with(&ci).push_one("team/app", "ci-3").await, 201);
    s.api()
        .admin_ok(Method::PATCH, "/users/dev", Some(json!({"disabled": true})))
        .await;
    assert_eq!(s.api().with(&ci).push_one("team/app", "ci-4").await, 401);

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
        let res = s.api().call(("cli", PASSWORD), method, &path, body).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
    }
}
