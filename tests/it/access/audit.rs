//! The audit log: one entry per action, escaped text, times read as people write them.

use super::*;

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
    let api = s
        .api()
        .admin_ok(Method::GET, "/audit?action=login.failed&since=1h", None)
        .await;
    assert_eq!(api["entries"].as_array().unwrap().len(), 1);
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
    s.api().with(&mae).push_one("team/app", "v1").await;
    s.api().with(&mae).push_one("team/app", "v1").await; // the same manifest again: no tag move
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
    let ci = s
        .api()
        .admin_ok(
            Method::POST,
            "/tokens",
            Some(json!({"repository": "team/app", "push": true})),
        )
        .await;

    let log = s
        .api()
        .admin_ok(Method::GET, "/audit?project=team&limit=50", None)
        .await;
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
    let logins = s.api().admin_ok(Method::GET, "/audit?user=mae", None).await;
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
    let admin_logins = s
        .api()
        .admin_ok(Method::GET, "/audit?user=admin&action=login", None)
        .await;
    assert_eq!(
        admin_logins["entries"].as_array().unwrap().len(),
        1,
        "{admin_logins}"
    );

    // Pages: newest first, `next` continues below the last id.
    let page = s
        .api()
        .admin_ok(Method::GET, "/audit?project=team&limit=3", None)
        .await;
    assert_eq!(page["entries"].as_array().unwrap().len(), 3);
    let next = page["next"].as_i64().unwrap();
    let rest = s
        .api()
        .admin_ok(
            Method::GET,
            &format!("/audit?project=team&before={next}&limit=50"),
            None,
        )
        .await;
    assert_eq!(rest["entries"].as_array().unwrap().len(), entries.len() - 3);

    // No secret ever lands in the log.
    let everything = s
        .api()
        .admin_ok(Method::GET, "/audit?limit=1000", None)
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
    let response = s
        .api()
        .call(("mae", PASSWORD), Method::GET, "/audit?project=team", None)
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}
