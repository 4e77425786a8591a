//! One suite per port, run against every adapter (as Distribution's driver `testsuites` are):
//! a new adapter passes these before anything else uses it.

use std::io;

use bytes::Bytes;
use futures_util::{StreamExt, stream};

use super::fs::FsBlobStore;
use super::sqlite::SqliteMetaStore;
use super::*;
use crate::oci::digest::{Algorithm, Digest};
use crate::storage::access::{Action, Actions, RobotKind, Role};

fn body(chunks: &[&'static [u8]]) -> ByteStream<'static> {
    let chunks: Vec<io::Result<Bytes>> = chunks.iter().map(|c| Ok(Bytes::from_static(c))).collect();
    Box::pin(stream::iter(chunks))
}

async fn read_all(mut stream: ByteStream<'static>) -> Vec<u8> {
    let mut out = vec![];
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

/// A tag policy that lets every tag move and moves nothing else.
struct FreeTags;

impl TagRules for FreeTags {
    fn may_move(&self, _: &str) -> bool {
        true
    }

    fn manages(&self, _: &str) -> bool {
        false
    }

    fn refuse(&self, _: &str, _: &Digest, _: &[(String, Digest)]) -> Option<String> {
        None
    }

    fn moves_others(&self, _: &str) -> bool {
        false
    }

    fn follow(&self, _: &str, _: &[(String, Digest)]) -> Vec<(String, Digest)> {
        Vec::new()
    }
}

fn sha256(bytes: &[u8]) -> Digest {
    Digest::of(Algorithm::Sha256, bytes)
}

async fn blob_store_suite(store: &dyn BlobStore) {
    let digest = sha256(b"hello, world");
    assert_eq!(store.stat(&digest).await.unwrap(), None);
    assert!(matches!(
        store.read(&digest, 0, 1).await,
        Err(Error::NotFound)
    ));

    // Chunks append; a rewrite from an earlier offset drops what followed it.
    store.upload_create("u1").await.unwrap();
    assert_eq!(
        store
            .upload_write("u1", 0, body(&[b"hello", b", "]))
            .await
            .unwrap(),
        7
    );
    assert_eq!(
        store
            .upload_write("u1", 7, body(&[b"wrong"]))
            .await
            .unwrap(),
        12
    );
    assert_eq!(
        store
            .upload_write("u1", 7, body(&[b"world"]))
            .await
            .unwrap(),
        12
    );
    let beyond = store.upload_write("u1", 20, body(&[b"!"])).await;
    assert!(matches!(
        beyond,
        Err(Error::UploadSizeMismatch {
            expected: 20,
            actual: 12
        })
    ));
    assert_eq!(
        read_all(store.upload_read("u1", 12).await.unwrap()).await,
        b"hello, world"
    );

    // Nothing is visible before the commit, and a commit of more than was staged fails.
    assert_eq!(store.stat(&digest).await.unwrap(), None);
    let short = store.upload_commit("u1", 13, &digest).await;
    assert!(matches!(
        short,
        Err(Error::UploadSizeMismatch {
            expected: 13,
            actual: 12
        })
    ));
    assert_eq!(store.stat(&digest).await.unwrap(), None);
    store.upload_commit("u1", 12, &digest).await.unwrap();
    assert_eq!(store.stat(&digest).await.unwrap(), Some(12));
    assert_eq!(
        read_all(store.read(&digest, 7, 5).await.unwrap()).await,
        b"world"
    );
    assert!(matches!(
        store.upload_read("u1", 1).await,
        Err(Error::NotFound)
    ));

    // The same content again is deduplicated; the first copy stays intact.
    store.upload_create("u2").await.unwrap();
    store
        .upload_write("u2", 0, body(&[b"hello, world"]))
        .await
        .unwrap();
    store.upload_commit("u2", 12, &digest).await.unwrap();
    assert_eq!(
        read_all(store.read(&digest, 0, 12).await.unwrap()).await,
        b"hello, world"
    );

    // A failing body surfaces as `Body` and leaves nothing visible.
    store.upload_create("u3").await.unwrap();
    let failing: ByteStream<'static> = Box::pin(stream::iter(vec![
        Ok(Bytes::from_static(b"partial")),
        Err(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "client went away",
        )),
    ]));
    assert!(matches!(
        store.upload_write("u3", 0, failing).await,
        Err(Error::Body(_))
    ));
    assert_eq!(store.stat(&sha256(b"partial")).await.unwrap(), None);
    store.upload_delete("u3").await.unwrap();
    store.upload_delete("u3").await.unwrap();
    assert!(matches!(
        store.upload_write("../escape", 0, body(&[])).await,
        Err(Error::NotFound)
    ));

    // A blob of several MiB reads back whole and from any offset, across the adapter's chunks.
    let large: Vec<u8> = (0..5 * (1 << 20) / 2 + 3)
        .map(|i: u32| (i % 251) as u8)
        .collect();
    let large_digest = sha256(&large);
    store.upload_create("u4").await.unwrap();
    let chunks: Vec<io::Result<Bytes>> = large
        .chunks(300_000)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    store
        .upload_write("u4", 0, Box::pin(stream::iter(chunks)))
        .await
        .unwrap();
    let len = large.len() as u64;
    store.upload_commit("u4", len, &large_digest).await.unwrap();
    assert!(read_all(store.read(&large_digest, 0, len).await.unwrap()).await == large);
    let (from, to) = ((1 << 20) - 5, 2 * (1 << 20) + 7);
    let range = store.read(&large_digest, from as u64, (to - from) as u64);
    assert!(read_all(range.await.unwrap()).await == large[from..to]);

    // A readiness probe leaves nothing behind: no blob, no staging area.
    let (blobs, uploads) = (
        store.list().await.unwrap(),
        store.list_uploads().await.unwrap(),
    );
    store.probe().await.unwrap();
    store.probe().await.unwrap();
    assert_eq!(store.list().await.unwrap(), blobs);
    assert_eq!(store.list_uploads().await.unwrap(), uploads);
}

fn record(content: &'static [u8], subject: Option<Digest>, artifact_type: &str) -> ManifestRecord {
    ManifestRecord {
        digest: sha256(content),
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        content: Bytes::from_static(content),
        subject,
        artifact_type: Some(artifact_type.into()),
        annotations: None,
    }
}

async fn meta_store_suite(store: &dyn MetaStore) {
    // A readiness probe may be repeated and changes nothing anyone reads.
    store.probe().await.unwrap();
    store.probe().await.unwrap();
    assert!(store.repositories(None, 10).await.unwrap().is_empty());
    let layer = sha256(b"layer");
    assert_eq!(store.linked_blob("a", &layer).await.unwrap(), None);
    // Only a claimed blob can be linked.
    assert_eq!(
        store.link_blob("a", &layer, 5, None, None).await.unwrap(),
        Admit::Deleting
    );
    assert_eq!(store.linked_blob("a", &layer).await.unwrap(), None);
    store.claim_blob(&layer, 5, None).await.unwrap();
    store.link_blob("a", &layer, 5, None, None).await.unwrap();
    store.link_blob("a", &layer, 5, None, None).await.unwrap();
    assert_eq!(
        store
            .linked_blob("a", &layer)
            .await
            .unwrap()
            .map(|b| b.size),
        Some(5)
    );
    assert_eq!(store.linked_blob("b", &layer).await.unwrap(), None);

    // Upload sessions: one lease at a time; only its holder renews, advances or releases it;
    // an expired lease is taken over.
    let session = UploadSession {
        id: "s1".into(),
        repository: "a".into(),
        offset: 0,
        hash_state: vec![1, 2],
    };
    store.upload_insert(&session).await.unwrap();
    let other_repository = store.upload_lease("s1", "b", "h0", 0, 100).await.unwrap();
    assert!(
        other_repository.is_none(),
        "a session belongs to its repository"
    );
    assert!(
        store
            .upload_lease("s1", "a", "h1", 100, 200)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .upload_lease("s1", "a", "h2", 150, 250)
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.upload_renew("s1", "h1", 300).await.unwrap());
    assert!(!store.upload_renew("s1", "h2", 400).await.unwrap());
    assert!(
        store
            .upload_lease("s1", "a", "h2", 250, 350)
            .await
            .unwrap()
            .is_none(),
        "renewed until 300"
    );
    assert!(!store.upload_advance("s1", "h2", 99, &[9]).await.unwrap());
    assert!(store.upload_advance("s1", "h1", 42, &[3]).await.unwrap());
    let leased = store
        .upload_lease("s1", "a", "h2", 150, 250)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((leased.offset, leased.hash_state), (42, vec![3]));
    assert!(
        store
            .upload_lease("s1", "a", "h3", 251, 300)
            .await
            .unwrap()
            .is_some(),
        "expired leases are taken over"
    );
    assert!(
        !store.upload_advance("s1", "h2", 50, &[4]).await.unwrap(),
        "h2 lost its lease"
    );
    store.upload_release("s1", "h2").await.unwrap();
    assert!(
        store
            .upload_lease("s1", "a", "h4", 260, 300)
            .await
            .unwrap()
            .is_none(),
        "h3 still holds it"
    );
    store.upload_release("s1", "h3").await.unwrap();
    assert!(
        store
            .upload_lease("s1", "a", "h4", 260, 300)
            .await
            .unwrap()
            .is_some()
    );
    // Linking the blob an upload produced forgets the session in the same transaction.
    let finished = UploadSession {
        id: "s2".into(),
        ..session.clone()
    };
    store.upload_insert(&finished).await.unwrap();
    store
        .link_blob("a", &layer, 5, Some("s2"), None)
        .await
        .unwrap();
    assert!(store.upload_get("s2").await.unwrap().is_none());
    assert!(store.upload_delete("s1").await.unwrap());
    assert!(!store.upload_delete("s1").await.unwrap());
    assert!(store.upload_get("s1").await.unwrap().is_none());
    assert!(
        store
            .upload_lease("s1", "a", "h5", 0, 1)
            .await
            .unwrap()
            .is_none()
    );

    // Manifests need everything they reference; a refused one leaves no trace.
    let image = record(b"image", None, "application/vnd.oci.image.config.v1+json");
    let missing = sha256(b"missing");
    let refused = NewManifest {
        record: &image,
        blobs: &[layer.clone(), missing.clone()],
        manifests: &[],
        tag: Some("v1"),
        size: 0,
        rules: &FreeTags,
    };
    assert_eq!(
        store.put_manifest("a", refused).await.unwrap(),
        ManifestPut::MissingReference(missing)
    );
    assert_eq!(store.tags("a", None, 10).await.unwrap(), Some(vec![]));
    let stored = NewManifest {
        record: &image,
        blobs: std::slice::from_ref(&layer),
        manifests: &[],
        tag: Some("v1"),
        size: 0,
        rules: &FreeTags,
    };
    assert_eq!(
        store.put_manifest("a", stored).await.unwrap(),
        ManifestPut::Stored {
            moved_from: None,
            followed: vec![]
        }
    );
    assert_eq!(
        store
            .manifest_by_tag("a", "v1")
            .await
            .unwrap()
            .unwrap()
            .content
            .as_ref(),
        b"image"
    );
    assert!(
        store
            .manifest_by_digest("a", &image.digest)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .manifest_by_digest("b", &image.digest)
            .await
            .unwrap()
            .is_none()
    );

    let index = record(b"index", None, "");
    let child = std::slice::from_ref(&image.digest);
    let put = NewManifest {
        record: &index,
        blobs: &[],
        manifests: child,
        tag: Some("all"),
        size: 0,
        rules: &FreeTags,
    };
    assert_eq!(
        store.put_manifest("a", put).await.unwrap(),
        ManifestPut::Stored {
            moved_from: None,
            followed: vec![]
        }
    );
    let put = NewManifest {
        record: &index,
        blobs: &[],
        manifests: child,
        tag: None,
        size: 0,
        rules: &FreeTags,
    };
    assert!(matches!(
        store.put_manifest("b", put).await.unwrap(),
        ManifestPut::MissingReference(_)
    ));

    // Tags move, list in order, paginate; deletes by tag and by digest.
    let moved = NewManifest {
        record: &index,
        blobs: &[],
        manifests: child,
        tag: Some("v1"),
        size: 0,
        rules: &FreeTags,
    };
    store.put_manifest("a", moved).await.unwrap();
    assert_eq!(
        store
            .manifest_by_tag("a", "v1")
            .await
            .unwrap()
            .unwrap()
            .digest,
        index.digest
    );
    for tag in ["c", "b"] {
        let put = NewManifest {
            record: &image,
            blobs: &[],
            manifests: &[],
            tag: Some(tag),
            size: 0,
            rules: &FreeTags,
        };
        store.put_manifest("a", put).await.unwrap();
    }
    assert_eq!(
        store.tags("a", None, 10).await.unwrap().unwrap(),
        ["all", "b", "c", "v1"]
    );
    assert_eq!(store.tags("a", Some("b"), 1).await.unwrap().unwrap(), ["c"]);
    assert_eq!(store.tags("nobody", None, 10).await.unwrap(), None);
    assert!(store.delete_tag("a", "c").await.unwrap());
    assert!(!store.delete_tag("a", "c").await.unwrap());
    assert!(store.delete_manifest("a", &image.digest).await.unwrap());
    assert_eq!(
        store.tags("a", None, 10).await.unwrap().unwrap(),
        ["all", "v1"]
    );
    assert!(
        !store
            .delete_manifest("nobody", &image.digest)
            .await
            .unwrap()
    );

    // Only repositories holding a manifest are listed.
    store
        .link_blob("only-blobs", &layer, 5, None, None)
        .await
        .unwrap();
    assert_eq!(store.repositories(None, 10).await.unwrap(), ["a"]);
    assert!(store.unlink_blob("a", &layer).await.unwrap());
    assert!(!store.unlink_blob("a", &layer).await.unwrap());

    // Referrers by subject, optionally by artifact type.
    let sbom = record(b"sbom", Some(index.digest.clone()), "application/spdx+json");
    let sig = record(
        b"sig",
        Some(index.digest.clone()),
        "application/vnd.dev.cosign",
    );
    for referrer in [&sbom, &sig] {
        let put = NewManifest {
            record: referrer,
            blobs: &[],
            manifests: &[],
            tag: None,
            size: 0,
            rules: &FreeTags,
        };
        store.put_manifest("a", put).await.unwrap();
    }
    assert_eq!(
        store
            .referrers("a", &index.digest, None)
            .await
            .unwrap()
            .len(),
        2
    );
    let filtered = store
        .referrers("a", &index.digest, Some("application/spdx+json"))
        .await
        .unwrap();
    assert_eq!((filtered.len(), filtered[0].size), (1, 4));
    assert!(
        store
            .referrers("b", &index.digest, None)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn fs_blob_store_passes_the_suite() {
    let dir = tempfile::tempdir().unwrap();
    blob_store_suite(&FsBlobStore::open(dir.path()).unwrap()).await;
}

#[tokio::test]
async fn sqlite_meta_store_passes_the_suite() {
    let dir = tempfile::tempdir().unwrap();
    meta_store_suite(
        &SqliteMetaStore::open(&dir.path().join("meta.db"))
            .await
            .unwrap(),
    )
    .await;
}

async fn access_store_suite(store: &dyn access::AccessStore) {
    use access::{AuditEntry, AuditFilter, Project, Robot, SigningKey, UserUpdate};

    // Projects: created once, with their first admin in the same transaction.
    let user = store.user_create("alice", "hash", false).await.unwrap();
    let user = user.expect("a new name");
    assert_eq!(
        store.user_create("alice", "other", true).await.unwrap(),
        None
    );
    let team = Project {
        name: "team".into(),
        public: false,
    };
    assert!(store.project_create(&team, Some(user)).await.unwrap());
    assert!(!store.project_create(&team, None).await.unwrap());
    assert_eq!(store.role("team", user).await.unwrap(), Some(Role::Admin));
    assert!(store.project_set_public("team", true).await.unwrap());
    assert!(store.project("team").await.unwrap().unwrap().public);
    assert!(!store.project_set_public("nowhere", true).await.unwrap());

    // Members: a role replaces the previous one.
    store.member_set("team", user, Role::Guest).await.unwrap();
    assert_eq!(
        store.members("team").await.unwrap(),
        [("alice".to_owned(), Role::Guest)]
    );
    assert_eq!(
        store.memberships(user).await.unwrap(),
        [("team".to_owned(), Role::Guest)]
    );
    assert!(store.member_remove("team", user).await.unwrap());
    assert!(!store.member_remove("team", user).await.unwrap());

    // Users: partial updates leave the rest alone.
    let update = UserUpdate {
        disabled: Some(true),
        ..UserUpdate::default()
    };
    assert!(store.user_update("alice", &update).await.unwrap());
    let alice = store.user_by_id(user).await.unwrap().unwrap();
    assert!(alice.disabled && !alice.admin && alice.password_hash == "hash");
    assert_eq!(alice.password_changed_at, 0);
    let new_password = UserUpdate {
        password_hash: Some("new hash".into()),
        ..UserUpdate::default()
    };
    assert!(store.user_update("alice", &new_password).await.unwrap());
    let alice = store.user_by_name("alice").await.unwrap().unwrap();
    assert!(alice.password_changed_at > 0 && alice.disabled);
    assert!(!store.user_update("bob", &update).await.unwrap());

    // Robots: unique names, disable and delete.
    let robot = Robot {
        id: 0,
        name: "robot$team+ci".into(),
        kind: RobotKind::Ci,
        project: "team".into(),
        pattern: "team/*".into(),
        actions: Actions::of(&[Action::Pull, Action::Delete]),
        secret_hash: vec![1, 2, 3],
        expires_at: 42,
        disabled: false,
        created_by: "alice".into(),
    };
    let id = store.robot_create(&robot).await.unwrap().unwrap();
    assert_eq!(store.robot_create(&robot).await.unwrap(), None);
    assert_eq!(
        store.robot_by_id(id).await.unwrap().unwrap().secret_hash,
        [1, 2, 3]
    );
    assert!(
        store
            .robot_set_disabled("robot$team+ci", true)
            .await
            .unwrap()
    );
    assert!(
        store
            .robot_by_name("robot$team+ci")
            .await
            .unwrap()
            .unwrap()
            .disabled
    );
    assert_eq!(store.robots("team").await.unwrap().len(), 1);
    assert!(store.robot_delete("robot$team+ci").await.unwrap());
    assert!(!store.robot_delete("robot$team+ci").await.unwrap());

    // Signing keys: newest first; adding with `retire_at` retires the others.
    let key = |kid: &str, created_at| SigningKey {
        kid: kid.into(),
        secret: vec![7; 32],
        created_at,
        retired_at: None,
    };
    store.signing_key_add(&key("a", 1), None).await.unwrap();
    store.signing_key_add(&key("b", 2), Some(5)).await.unwrap();
    let keys = store.signing_keys().await.unwrap();
    let keys: Vec<(&str, Option<i64>)> = keys
        .iter()
        .map(|k| (k.kid.as_str(), k.retired_at))
        .collect();
    assert_eq!(keys, [("b", None), ("a", Some(5))]);

    // Login failures count within a window and start over after it.
    assert_eq!(
        store
            .login_failure_record("user:x", 1000, 100)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .login_failure_record("user:x", 1050, 100)
            .await
            .unwrap(),
        2
    );
    // A new window starts once the old one is over; a forgiven attempt no longer counts.
    assert_eq!(
        store
            .login_failure_record("user:x", 1100, 100)
            .await
            .unwrap(),
        1
    );
    store.login_failure_forgive("user:x").await.unwrap();
    let record = async |at| store.login_failure_record("user:x", at, 100).await.unwrap();
    assert_eq!(record(1101).await, 1);
    store.login_failures_clear("user:x").await.unwrap();
    assert_eq!(record(1102).await, 1);

    // The audit log: filtered, newest first, paged by id.
    for (at, action) in [(10, "push"), (20, "login"), (30, "push")] {
        let entry = AuditEntry {
            at,
            actor: "alice".into(),
            action: action.into(),
            project: Some("team".into()),
            ..AuditEntry::default()
        };
        store.audit_append(&entry).await.unwrap();
    }
    let filter = |action: Option<&str>, before, since| AuditFilter {
        project: Some("team".into()),
        action: action.map(str::to_owned),
        before,
        since,
        limit: 10,
        ..AuditFilter::default()
    };
    let pushes = store
        .audit_query(&filter(Some("push"), None, None))
        .await
        .unwrap();
    assert_eq!(pushes.iter().map(|e| e.at).collect::<Vec<_>>(), [30, 10]);
    let older = store
        .audit_query(&filter(None, Some(pushes[0].id), None))
        .await
        .unwrap();
    assert_eq!(older.iter().map(|e| e.at).collect::<Vec<_>>(), [20, 10]);
    let recent = store
        .audit_query(&filter(None, None, Some(20)))
        .await
        .unwrap();
    assert_eq!(recent.len(), 2);
}

#[tokio::test]
async fn sqlite_access_store_passes_the_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteMetaStore::open(&dir.path().join("meta.db"))
        .await
        .unwrap();
    access_store_suite(&store).await;
}

#[tokio::test]
async fn sqlite_audit_log_refuses_changes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    let store = SqliteMetaStore::open(&path).await.unwrap();
    let entry = access::AuditEntry {
        actor: "alice".into(),
        action: "push".into(),
        ..access::AuditEntry::default()
    };
    access::AccessStore::audit_append(&store, &entry)
        .await
        .unwrap();
    // Even a direct connection cannot rewrite history.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    for statement in ["UPDATE audit SET actor = 'mallory'", "DELETE FROM audit"] {
        let err = sqlx::query(statement).execute(&pool).await.unwrap_err();
        assert!(err.to_string().contains("append-only"), "{err}");
    }
}

/// Project settings, pulls, quotas, locks and the GC sweeps with their tombstones.
async fn lifecycle_store_suite<S>(store: &S)
where
    S: MetaStore + lifecycle::LifecycleStore + access::AccessStore,
{
    use lifecycle::{ProjectSettings, Pulls};

    // Settings: defaults on creation, stored as given; unknown projects have none.
    let project = access::Project {
        name: "team".into(),
        public: false,
    };
    store.project_create(&project, None).await.unwrap();
    let mut settings = store.project_settings("team").await.unwrap().unwrap();
    assert_eq!(settings, ProjectSettings::default());
    settings.quota_bytes = Some(12);
    settings.budget_warn_only = true;
    assert!(store.set_project_settings("team", &settings).await.unwrap());
    assert_eq!(
        store.project_settings("team").await.unwrap(),
        Some(settings)
    );
    assert_eq!(store.project_settings("nobody").await.unwrap(), None);

    // Quotas count distinct blobs of the project once, whichever repository links them.
    let (a, b) = (sha256(b"aaaaa"), sha256(b"bbbbbbbb"));
    let quota = |project| Some(Quota { project, limit: 12 });
    let link = |repo: &'static str, digest, size| {
        let project = repo.split('/').next().unwrap();
        store.link_blob(repo, digest, size, None, quota(project))
    };
    store.claim_blob(&a, 5, quota("team")).await.unwrap();
    store.claim_blob(&b, 8, None).await.unwrap();
    assert_eq!(link("team/x", &a, 5).await.unwrap(), Admit::Admitted);
    assert_eq!(link("team/y", &a, 5).await.unwrap(), Admit::Admitted);
    assert_eq!(
        link("team/y", &b, 8).await.unwrap(),
        Admit::QuotaExceeded { used: 5, limit: 12 }
    );
    assert_eq!(
        store.claim_blob(&b, 8, quota("team")).await.unwrap(),
        Admit::QuotaExceeded { used: 5, limit: 12 }
    );
    assert_eq!(store.project_bytes("team").await.unwrap(), 5);
    assert_eq!(link("teams/z", &b, 8).await.unwrap(), Admit::Admitted);

    // Pulls add up and move the last-pulled times forward, per manifest and per tag.
    let image = record(b"pulled", None, "application/vnd.oci.image.config.v1+json");
    let put = NewManifest {
        record: &image,
        blobs: std::slice::from_ref(&a),
        manifests: &[],
        tag: Some("v1"),
        size: 7,
        rules: &FreeTags,
    };
    store.put_manifest("team/x", put).await.unwrap();
    let pulls = |tag: Option<&str>, count, at| Pulls {
        repository: "team/x".into(),
        digest: image.digest.clone(),
        tag: tag.map(str::to_owned),
        count,
        at,
    };
    store
        .record_pulls(&[pulls(Some("v1"), 2, 100), pulls(None, 1, 300)])
        .await
        .unwrap();
    store
        .record_pulls(&[pulls(Some("v1"), 1, 50)])
        .await
        .unwrap();
    let images = store.images("team").await.unwrap();
    assert_eq!(images.len(), 1);
    let (pulled, tag) = (&images[0], &images[0].tags[0]);
    assert_eq!(
        (pulled.pulls, pulled.pulled_at, pulled.size),
        (4, Some(300), 7)
    );
    assert_eq!(
        (tag.name.as_str(), tag.pulls, tag.pulled_at),
        ("v1", 3, Some(100))
    );

    // Locks: one holder until its lease runs out.
    assert!(store.lock("gc", "one", 1000, 2000).await.unwrap());
    assert!(!store.lock("gc", "two", 1500, 2500).await.unwrap());
    assert!(store.lock("gc", "one", 1500, 2500).await.unwrap());
    assert!(store.lock("gc", "two", 2500, 3500).await.unwrap());
    store.unlock("gc", "one").await.unwrap();
    assert!(!store.lock("gc", "one", 3000, 4000).await.unwrap());
    store.unlock("gc", "two").await.unwrap();
    assert!(store.lock("gc", "one", 3000, 4000).await.unwrap());

    // GC: nothing young is touched; an unreferenced link and then its blob go, and a claim
    // waits while the blob is tombstoned.
    let future = i64::MAX / 2;
    assert_eq!(store.gc_links(0).await.unwrap(), 0);
    assert!(store.unlink_blob("teams/z", &b).await.unwrap());
    assert_eq!(store.gc_mark_blobs(0, 0, 1, 10).await.unwrap(), vec![]);
    let marked = store.gc_mark_blobs(future, 0, future, 10).await.unwrap();
    assert_eq!(marked, vec![(b.clone(), 8)]);
    assert_eq!(
        store.claim_blob(&b, 8, None).await.unwrap(),
        Admit::Deleting
    );
    // A mount of a tombstoned blob links nothing: its bytes may be gone.
    assert_eq!(
        store.link_blob("teams/w", &b, 8, None, None).await.unwrap(),
        Admit::Deleting
    );
    assert_eq!(store.linked_blob("teams/w", &b).await.unwrap(), None);
    store
        .gc_forget_blobs(std::slice::from_ref(&b))
        .await
        .unwrap();
    assert!(
        !store
            .blob_digests()
            .await
            .unwrap()
            .iter()
            .any(|r| r.digest == b)
    );
    assert_eq!(
        store.claim_blob(&b, 8, None).await.unwrap(),
        Admit::Admitted
    );
    // A tombstone whose GC died is lifted by the next claim.
    let orphan = sha256(b"orphan");
    assert_eq!(
        store
            .gc_tombstone_orphans(&[orphan.clone(), a.clone()], 1)
            .await
            .unwrap(),
        vec![orphan.clone()]
    );
    assert_eq!(
        store.claim_blob(&orphan, 6, None).await.unwrap(),
        Admit::Admitted
    );
    // Links a manifest references stay; the rest go once old enough.
    assert_eq!(store.gc_links(future).await.unwrap(), 1);
    assert!(store.linked_blob("team/x", &a).await.unwrap().is_some());
    assert!(store.dangling().await.unwrap().is_empty());
    assert!(store.unlink_blob("team/x", &a).await.unwrap());
    let dangling = store.dangling().await.unwrap();
    assert_eq!((dangling.len(), &dangling[0].missing), (1, &a));
}

#[tokio::test]
async fn sqlite_lifecycle_store_passes_the_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteMetaStore::open(&dir.path().join("meta.db"))
        .await
        .unwrap();
    lifecycle_store_suite(&store).await;
}
