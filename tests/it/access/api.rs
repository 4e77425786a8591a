//! The management API: JSON errors and the objects it creates.

use super::*;

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
        s.api()
            .call(("admin", ADMIN_PASSWORD), method, path, body)
            .await
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
    let refused = s
        .api()
        .call(("admin", "wrong"), Method::GET, "/projects", None)
        .await;
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
    let listed = s
        .api()
        .admin_ok(Method::GET, "/projects/ops/robots", None)
        .await;
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
