//! Login limits: per user, per address, under simultaneous attempts and behind a trusted proxy.

use super::*;

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
    let failed = s
        .api()
        .admin_ok(Method::GET, "/audit?action=login.failed&limit=100", None)
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
    assert_eq!(oci_error(response).await.code, "TOOMANYREQUESTS");
    // A name of any length is refused like any other, and kept short in the audit log.
    let long = "y".repeat(5000);
    assert_eq!(
        token(&s, Some((&long, "p")), &[]).await,
        Err(StatusCode::UNAUTHORIZED)
    );
    let failed = s
        .api()
        .admin_ok(Method::GET, "/audit?action=login.failed&limit=1", None)
        .await;
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
