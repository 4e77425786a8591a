//! Tokens: containerd's POST flow with refresh tokens, forged and stale tokens, bounded lifetimes, key rotation.

use super::*;

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
        s.api()
            .with(&bearer_client(access))
            .push_one("team/app", "v1")
            .await,
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
        s.api()
            .with(&bearer_client(access))
            .manifest(Method::GET, "team/app", "v1")
            .await
            .status(),
        200
    );

    // A refresh token is not an access token, and a wrong password gets no token.
    assert_eq!(
        s.api()
            .with(&bearer_client(refresh))
            .manifest(Method::GET, "team/app", "v1")
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
    let response = s
        .api()
        .call(("dev", PASSWORD), Method::PATCH, "/users/dev", Some(change))
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
    s.api()
        .admin_ok(Method::PATCH, "/users/dev", Some(disable))
        .await;
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
    assert_eq!(s.api().push_one("team/app", "v1").await, 201);
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
        s.api()
            .with(&bearer_client(&good))
            .manifest(Method::GET, "team/app", "v1")
            .await
            .status(),
        200
    );
    // The forge itself is sound: the same claims signed with the server's key pass.
    let resigned = signed(&claims);
    assert_eq!(
        s.api()
            .with(&bearer_client(&resigned))
            .manifest(Method::GET, "team/app", "v1")
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
        let response = s
            .api()
            .with(&bearer_client(&token))
            .manifest(Method::GET, "team/app", "v1")
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{defect}");
        assert!(
            challenge(&response).starts_with("Bearer realm="),
            "{defect}"
        );
        assert_eq!(oci_error(response).await.code, "UNAUTHORIZED", "{defect}");
    }

    // A disabled user's token stops working at once.
    s.api()
        .admin_ok(Method::PATCH, "/users/dev", Some(json!({"disabled": true})))
        .await;
    let response = s
        .api()
        .with(&bearer_client(&good))
        .manifest(Method::GET, "team/app", "v1")
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        token(&s, Some(("dev", PASSWORD)), &[]).await,
        Err(StatusCode::UNAUTHORIZED)
    );
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
        let res = s
            .api()
            .call(
                ("admin", ADMIN_PASSWORD),
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

#[tokio::test]
async fn key_rotation_keeps_earlier_tokens_valid() {
    let (_dir, s) = server_with_projects().await;
    assert_eq!(s.api().push_one("team/app", "v1").await, 201);
    let before = token(
        &s,
        Some(("admin", ADMIN_PASSWORD)),
        &["repository:team/app:pull"],
    )
    .await
    .unwrap();
    let rotated = s.api().admin_ok(Method::POST, "/keys/rotate", None).await;
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
            s.api()
                .with(&bearer_client(token))
                .manifest(Method::GET, "team/app", "v1")
                .await
                .status(),
            200
        );
    }
}
