//! One suite per port, run against every adapter, one named test per behaviour on a fresh
//! store (as Distribution's driver `testsuites` are): a new adapter passes these before
//! anything else uses it. A case is a function of the store; `port_suite!` expands each into a
//! `#[tokio::test]` named after it, for one adapter.

use std::io;

use bytes::Bytes;
use futures_util::{StreamExt, stream};

use super::archive::{ArchiveStore, FsArchive};
use super::fs::FsBlobStore;
use super::sqlite::SqliteMetaStore;
use super::*;
use crate::oci::digest::{Algorithm, Digest};
use crate::oci::spec;

/// One `#[tokio::test]` per case of `$suite`, in a module named after the adapter; each opens
/// a fresh store with `$open`, which returns it with the temporary directory it lives in.
macro_rules! port_suite {
    ($adapter:ident, $open:ident, $suite:ident: $($case:ident),* $(,)?) => {
        mod $adapter {
            $(
                #[tokio::test]
                async fn $case() {
                    let (store, _dir) = super::$open().await;
                    super::$suite::$case(&store).await;
                }
            )*
        }
    };
}

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

fn sha256(bytes: &[u8]) -> Digest {
    Digest::of(Algorithm::Sha256, bytes)
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

/// Stores a manifest with `FreeTags`.
async fn put(
    store: &dyn MetaStore,
    repository: &str,
    record: &ManifestRecord,
    blobs: &[Digest],
    manifests: &[Digest],
    tag: Option<&str>,
) -> ManifestPut {
    let put = NewManifest {
        record,
        blobs,
        manifests,
        tag,
        size: 0,
        rules: &FreeTags,
    };
    store.put_manifest(repository, put).await.unwrap()
}

const STORED: ManifestPut = ManifestPut::Stored {
    moved_from: None,
    followed: vec![],
};

async fn open_fs_blobs() -> (FsBlobStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (FsBlobStore::open(dir.path()).unwrap(), dir)
}

async fn open_sqlite() -> (SqliteMetaStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteMetaStore::open(&dir.path().join("meta.db"))
        .await
        .unwrap();
    (store, dir)
}

async fn open_fs_archive() -> (FsArchive, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (FsArchive::new(dir.path().join("archive")), dir)
}

port_suite!(fs_blobs, open_fs_blobs, blob:
    absent_blobs_are_not_found,
    chunks_append_and_a_rewrite_drops_what_followed,
    nothing_is_visible_before_the_commit,
    the_same_content_again_is_deduplicated,
    a_failing_body_leaves_nothing_visible,
    a_large_blob_reads_back_whole_and_from_any_offset,
    a_probe_leaves_nothing_behind,
    a_batch_delete_skips_absent_blobs_and_spares_the_rest,
);

port_suite!(sqlite_meta, open_sqlite, meta:
    a_probe_changes_nothing,
    only_a_claimed_blob_can_be_linked,
    an_upload_lease_has_one_holder_at_a_time,
    linking_an_uploads_blob_forgets_the_session,
    manifests_need_everything_they_reference,
    tags_move_list_in_order_and_paginate,
    only_repositories_holding_a_manifest_are_listed,
    referrers_are_found_by_subject_and_artifact_type,
);

port_suite!(sqlite_access, open_sqlite, access_store:
    a_project_is_created_once_with_its_first_admin,
    a_role_replaces_the_previous_one,
    a_user_update_leaves_the_other_fields_alone,
    robots_have_unique_names_and_can_be_disabled_and_deleted,
    a_new_signing_key_retires_the_others,
    login_failures_count_within_a_window,
    the_audit_log_is_filtered_newest_first_and_paged,
);

port_suite!(sqlite_lifecycle, open_sqlite, lifecycle_store:
    settings_start_at_the_defaults_and_keep_what_is_set,
    quotas_count_each_blob_of_a_project_once,
    pulls_add_up_and_move_the_times_forward,
    a_lock_has_one_holder_until_its_lease_runs_out,
    gc_sweeps_unreferenced_links_then_their_blobs,
    a_tombstoned_blob_is_neither_claimed_nor_mounted,
    a_tombstone_whose_gc_died_is_lifted_by_the_next_claim,
    links_a_manifest_references_stay,
);

port_suite!(fs_archive, open_fs_archive, archive:
    a_fresh_archive_is_empty,
    blobs_stream_in_and_out_by_digest,
    a_blob_whose_bytes_are_not_its_digest_is_refused,
    the_index_is_replaced_whole_and_lists_repositories,
);

#[tokio::test]
async fn sqlite_audit_log_refuses_changes() {
    let (store, dir) = open_sqlite().await;
    let entry = access::AuditEntry {
        actor: "alice".into(),
        action: "push".into(),
        ..access::AuditEntry::default()
    };
    access::AccessStore::audit_append(&store, &entry)
        .await
        .unwrap();
    // Even a direct connection cannot rewrite history.
    let path = dir.path().join("meta.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    for statement in ["UPDATE audit SET actor = 'mallory'", "DELETE FROM audit"] {
        let err = sqlx::query(statement).execute(&pool).await.unwrap_err();
        assert!(err.to_string().contains("append-only"), "{err}");
    }
}

/// `BlobStore`: staged uploads, atomic commits, ranged reads.
mod blob {
    use super::*;

    /// Stages `chunks` as upload `id`.
    async fn stage(store: &dyn BlobStore, id: &str, chunks: &[&'static [u8]]) -> u64 {
        store.upload_create(id).await.unwrap();
        store.upload_write(id, 0, body(chunks)).await.unwrap()
    }

    pub async fn absent_blobs_are_not_found(store: &dyn BlobStore) {
        let digest = sha256(b"hello, world");
        assert_eq!(store.stat(&digest).await.unwrap(), None);
        assert!(matches!(
            store.read(&digest, 0, 1).await,
            Err(Error::NotFound)
        ));
    }

    pub async fn chunks_append_and_a_rewrite_drops_what_followed(store: &dyn BlobStore) {
        assert_eq!(stage(store, "u1", &[b"hello", b", "]).await, 7);
        let write = async |offset, chunk: &'static [u8]| {
            store.upload_write("u1", offset, body(&[chunk])).await
        };
        assert_eq!(write(7, b"wrong").await.unwrap(), 12);
        assert_eq!(write(7, b"world").await.unwrap(), 12);
        assert!(matches!(
            write(20, b"!").await,
            Err(Error::UploadSizeMismatch {
                expected: 20,
                actual: 12
            })
        ));
        assert_eq!(
            read_all(store.upload_read("u1", 12).await.unwrap()).await,
            b"hello, world"
        );
    }

    pub async fn nothing_is_visible_before_the_commit(store: &dyn BlobStore) {
        let digest = sha256(b"hello, world");
        stage(store, "u1", &[b"hello, world"]).await;
        assert_eq!(store.stat(&digest).await.unwrap(), None);
        // A commit of more than was staged fails and shows nothing.
        assert!(matches!(
            store.upload_commit("u1", 13, &digest).await,
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
    }

    pub async fn the_same_content_again_is_deduplicated(store: &dyn BlobStore) {
        let digest = sha256(b"hello, world");
        for id in ["u1", "u2"] {
            stage(store, id, &[b"hello, world"]).await;
            store.upload_commit(id, 12, &digest).await.unwrap();
        }
        assert_eq!(
            read_all(store.read(&digest, 0, 12).await.unwrap()).await,
            b"hello, world"
        );
        assert_eq!(store.list().await.unwrap().len(), 1);
    }

    pub async fn a_failing_body_leaves_nothing_visible(store: &dyn BlobStore) {
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
        // Deleting is idempotent, and an upload id never names a path outside the store.
        store.upload_delete("u3").await.unwrap();
        store.upload_delete("u3").await.unwrap();
        assert!(matches!(
            store.upload_write("../escape", 0, body(&[])).await,
            Err(Error::NotFound)
        ));
    }

    pub async fn a_large_blob_reads_back_whole_and_from_any_offset(store: &dyn BlobStore) {
        // Several MiB, so reads cross the adapter's chunks.
        let large: Vec<u8> = (0..5 * (1 << 20) / 2 + 3)
            .map(|i: u32| (i % 251) as u8)
            .collect();
        let digest = sha256(&large);
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
        store.upload_commit("u4", len, &digest).await.unwrap();
        assert!(read_all(store.read(&digest, 0, len).await.unwrap()).await == large);
        let (from, to) = ((1 << 20) - 5, 2 * (1 << 20) + 7);
        let range = store.read(&digest, from as u64, (to - from) as u64);
        assert!(read_all(range.await.unwrap()).await == large[from..to]);
    }

    pub async fn a_batch_delete_skips_absent_blobs_and_spares_the_rest(store: &dyn BlobStore) {
        let contents: [&'static [u8]; 3] = [b"one", b"two", b"three"];
        for (i, content) in contents.iter().enumerate() {
            let id = format!("u{i}");
            stage(store, &id, &[content]).await;
            let size = content.len() as u64;
            store
                .upload_commit(&id, size, &sha256(content))
                .await
                .unwrap();
        }
        let gone = [sha256(b"one"), sha256(b"never stored"), sha256(b"three")];
        store.delete(&gone).await.unwrap();
        // Again: what is already gone is no error.
        store.delete(&gone).await.unwrap();
        store.delete(&[]).await.unwrap();
        let left: Vec<Digest> = store
            .list()
            .await
            .unwrap()
            .into_iter()
            .map(|(d, _)| d)
            .collect();
        assert_eq!(left, vec![sha256(b"two")]);
        assert_eq!(store.stat(&sha256(b"one")).await.unwrap(), None);
    }

    pub async fn a_probe_leaves_nothing_behind(store: &dyn BlobStore) {
        stage(store, "u1", &[b"staged"]).await;
        let (blobs, uploads) = (
            store.list().await.unwrap(),
            store.list_uploads().await.unwrap(),
        );
        store.probe().await.unwrap();
        store.probe().await.unwrap();
        assert_eq!(store.list().await.unwrap(), blobs);
        assert_eq!(store.list_uploads().await.unwrap(), uploads);
    }
}

/// `MetaStore`: blob links, upload sessions, manifests, tags and referrers.
mod meta {
    use super::*;

    /// A 5-byte blob, claimed and linked into repository `a`.
    async fn linked_layer(store: &dyn MetaStore) -> Digest {
        let layer = sha256(b"layer");
        store.claim_blob(&layer, 5, None).await.unwrap();
        store.link_blob("a", &layer, 5, None, None).await.unwrap();
        layer
    }

    /// An image (tagged `v1`) and an index of it (tagged `all`) in repository `a`.
    async fn image_and_index(store: &dyn MetaStore) -> (ManifestRecord, ManifestRecord) {
        let layer = linked_layer(store).await;
        let image = record(b"image", None, "application/vnd.oci.image.config.v1+json");
        assert_eq!(
            put(store, "a", &image, &[layer], &[], Some("v1")).await,
            STORED
        );
        let index = record(b"index", None, "");
        let child = std::slice::from_ref(&image.digest);
        assert_eq!(
            put(store, "a", &index, &[], child, Some("all")).await,
            STORED
        );
        (image, index)
    }

    fn session(id: &str) -> UploadSession {
        UploadSession {
            id: id.into(),
            repository: "a".into(),
            offset: 0,
            hash_state: vec![1, 2],
        }
    }

    pub async fn a_probe_changes_nothing(store: &dyn MetaStore) {
        store.probe().await.unwrap();
        store.probe().await.unwrap();
        assert!(store.repositories(None, 10).await.unwrap().is_empty());
    }

    pub async fn only_a_claimed_blob_can_be_linked(store: &dyn MetaStore) {
        let layer = sha256(b"layer");
        assert_eq!(store.linked_blob("a", &layer).await.unwrap(), None);
        assert_eq!(
            store.link_blob("a", &layer, 5, None, None).await.unwrap(),
            Admit::Deleting
        );
        assert_eq!(store.linked_blob("a", &layer).await.unwrap(), None);
        store.claim_blob(&layer, 5, None).await.unwrap();
        store.link_blob("a", &layer, 5, None, None).await.unwrap();
        store.link_blob("a", &layer, 5, None, None).await.unwrap();
        let linked = store.linked_blob("a", &layer).await.unwrap();
        assert_eq!(linked.map(|b| b.size), Some(5));
        assert_eq!(store.linked_blob("b", &layer).await.unwrap(), None);
    }

    pub async fn an_upload_lease_has_one_holder_at_a_time(store: &dyn MetaStore) {
        // Only its holder renews, advances or releases it; an expired lease is taken over.
        store.upload_insert(&session("s1")).await.unwrap();
        let lease = async |holder, now, until| {
            store
                .upload_lease("s1", "a", holder, now, until)
                .await
                .unwrap()
        };
        let other_repository = store.upload_lease("s1", "b", "h0", 0, 100).await.unwrap();
        assert!(
            other_repository.is_none(),
            "a session belongs to its repository"
        );
        assert!(lease("h1", 100, 200).await.is_some());
        assert!(lease("h2", 150, 250).await.is_none());
        assert!(store.upload_renew("s1", "h1", 300).await.unwrap());
        assert!(!store.upload_renew("s1", "h2", 400).await.unwrap());
        assert!(lease("h2", 250, 350).await.is_none(), "renewed until 300");
        assert!(!store.upload_advance("s1", "h2", 99, &[9]).await.unwrap());
        assert!(store.upload_advance("s1", "h1", 42, &[3]).await.unwrap());
        let leased = lease("h2", 150, 250)
            .await
            .expect("advancing releases the lease");
        assert_eq!((leased.offset, leased.hash_state), (42, vec![3]));
        assert!(
            lease("h3", 251, 300).await.is_some(),
            "expired leases are taken over"
        );
        assert!(
            !store.upload_advance("s1", "h2", 50, &[4]).await.unwrap(),
            "h2 lost its lease"
        );
        store.upload_release("s1", "h2").await.unwrap();
        assert!(lease("h4", 260, 300).await.is_none(), "h3 still holds it");
        store.upload_release("s1", "h3").await.unwrap();
        assert!(lease("h4", 260, 300).await.is_some());
        assert!(store.upload_delete("s1").await.unwrap());
        assert!(!store.upload_delete("s1").await.unwrap());
        assert!(store.upload_get("s1").await.unwrap().is_none());
        assert!(lease("h5", 0, 1).await.is_none());
    }

    pub async fn linking_an_uploads_blob_forgets_the_session(store: &dyn MetaStore) {
        let layer = sha256(b"layer");
        store.claim_blob(&layer, 5, None).await.unwrap();
        store.upload_insert(&session("s2")).await.unwrap();
        store
            .link_blob("a", &layer, 5, Some("s2"), None)
            .await
            .unwrap();
        assert!(
            store.linked_blob("a", &layer).await.unwrap().is_some(),
            "linked"
        );
        assert!(store.upload_get("s2").await.unwrap().is_none());
    }

    pub async fn manifests_need_everything_they_reference(store: &dyn MetaStore) {
        // A refused manifest leaves no trace.
        let layer = linked_layer(store).await;
        let image = record(b"image", None, "application/vnd.oci.image.config.v1+json");
        let missing = sha256(b"missing");
        let blobs = [layer.clone(), missing.clone()];
        assert_eq!(
            put(store, "a", &image, &blobs, &[], Some("v1")).await,
            ManifestPut::MissingReference(missing)
        );
        assert_eq!(store.tags("a", None, 10).await.unwrap(), Some(vec![]));
        let (image, index) = image_and_index(store).await;
        let by_tag = store.manifest_by_tag("a", "v1").await.unwrap().unwrap();
        assert_eq!(by_tag.content.as_ref(), b"image");
        let by_digest = async |repository| {
            store
                .manifest_by_digest(repository, &image.digest)
                .await
                .unwrap()
        };
        assert!(by_digest("a").await.is_some());
        assert!(by_digest("b").await.is_none());
        // An index needs its children in the same repository.
        let child = std::slice::from_ref(&image.digest);
        assert!(matches!(
            put(store, "b", &index, &[], child, None).await,
            ManifestPut::MissingReference(_)
        ));
    }

    pub async fn tags_move_list_in_order_and_paginate(store: &dyn MetaStore) {
        let (image, index) = image_and_index(store).await;
        let child = std::slice::from_ref(&image.digest);
        put(store, "a", &index, &[], child, Some("v1")).await;
        let v1 = store.manifest_by_tag("a", "v1").await.unwrap().unwrap();
        assert_eq!(v1.digest, index.digest);
        for tag in ["c", "b"] {
            put(store, "a", &image, &[], &[], Some(tag)).await;
        }
        assert_eq!(
            store.tags("a", None, 10).await.unwrap().unwrap(),
            ["all", "b", "c", "v1"]
        );
        assert_eq!(store.tags("a", Some("b"), 1).await.unwrap().unwrap(), ["c"]);
        assert_eq!(store.tags("nobody", None, 10).await.unwrap(), None);
        // Deletes by tag and by digest.
        assert!(store.delete_tag("a", "c").await.unwrap());
        assert!(!store.delete_tag("a", "c").await.unwrap());
        assert!(store.delete_manifest("a", &image.digest).await.unwrap());
        assert_eq!(
            store.tags("a", None, 10).await.unwrap().unwrap(),
            ["all", "v1"]
        );
        let deleted = store.delete_manifest("nobody", &image.digest).await;
        assert!(!deleted.unwrap());
    }

    pub async fn only_repositories_holding_a_manifest_are_listed(store: &dyn MetaStore) {
        let layer = linked_layer(store).await;
        let (image, index) = image_and_index(store).await;
        store
            .link_blob("only-blobs", &layer, 5, None, None)
            .await
            .unwrap();
        assert_eq!(store.repositories(None, 10).await.unwrap(), ["a"]);
        // Gone with its last manifest, back with the next one.
        assert!(store.delete_manifest("a", &index.digest).await.unwrap());
        assert_eq!(store.repositories(None, 10).await.unwrap(), ["a"]);
        assert!(store.delete_manifest("a", &image.digest).await.unwrap());
        assert!(store.repositories(None, 10).await.unwrap().is_empty());
        let layers = std::slice::from_ref(&layer);
        assert_eq!(put(store, "a", &image, layers, &[], None).await, STORED);
        assert_eq!(store.repositories(None, 10).await.unwrap(), ["a"]);
        assert!(store.unlink_blob("a", &layer).await.unwrap());
        assert!(!store.unlink_blob("a", &layer).await.unwrap());
    }

    pub async fn referrers_are_found_by_subject_and_artifact_type(store: &dyn MetaStore) {
        let (_, index) = image_and_index(store).await;
        let subject = Some(index.digest.clone());
        let sbom = record(b"sbom", subject.clone(), "application/spdx+json");
        let sig = record(b"sig", subject, "application/vnd.dev.cosign");
        for referrer in [&sbom, &sig] {
            put(store, "a", referrer, &[], &[], None).await;
        }
        let all = store.referrers("a", &index.digest, None).await.unwrap();
        assert_eq!(all.len(), 2);
        let filtered = store
            .referrers("a", &index.digest, Some("application/spdx+json"))
            .await
            .unwrap();
        assert_eq!((filtered.len(), filtered[0].size), (1, 4));
        let elsewhere = store.referrers("b", &index.digest, None).await.unwrap();
        assert!(elsewhere.is_empty());
    }
}

/// `AccessStore`: projects, users, members, robots, keys, login counters and the audit log.
mod access_store {
    use crate::storage::access::{
        AccessStore, Action, Actions, AuditEntry, AuditFilter, Project, Robot, RobotKind, Role,
        SigningKey, UserUpdate,
    };

    /// User `alice` (password hash `hash`) and her private project `team`, which she
    /// administers.
    async fn alice_and_team(store: &dyn AccessStore) -> i64 {
        let user = store.user_create("alice", "hash", false).await.unwrap();
        let user = user.expect("a new name");
        let team = Project {
            name: "team".into(),
            public: false,
        };
        assert!(store.project_create(&team, Some(user)).await.unwrap());
        user
    }

    pub async fn a_project_is_created_once_with_its_first_admin(store: &dyn AccessStore) {
        let user = alice_and_team(store).await;
        let taken = store.user_create("alice", "other", true).await.unwrap();
        assert_eq!(taken, None);
        let team = Project {
            name: "team".into(),
            public: false,
        };
        assert!(!store.project_create(&team, None).await.unwrap());
        assert_eq!(store.role("team", user).await.unwrap(), Some(Role::Admin));
        assert!(store.project_set_public("team", true).await.unwrap());
        assert!(store.project("team").await.unwrap().unwrap().public);
        assert!(!store.project_set_public("nowhere", true).await.unwrap());
    }

    pub async fn a_role_replaces_the_previous_one(store: &dyn AccessStore) {
        let user = alice_and_team(store).await;
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
    }

    pub async fn a_user_update_leaves_the_other_fields_alone(store: &dyn AccessStore) {
        let user = alice_and_team(store).await;
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
    }

    pub async fn robots_have_unique_names_and_can_be_disabled_and_deleted(store: &dyn AccessStore) {
        alice_and_team(store).await;
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
        let stored = store.robot_by_id(id).await.unwrap().unwrap();
        assert_eq!(stored.secret_hash, [1, 2, 3]);
        assert_eq!((stored.kind, stored.actions), (robot.kind, robot.actions));
        let name = "robot$team+ci";
        assert!(store.robot_set_disabled(name, true).await.unwrap());
        assert!(store.robot_by_name(name).await.unwrap().unwrap().disabled);
        assert_eq!(store.robots("team").await.unwrap().len(), 1);
        assert!(store.robot_delete(name).await.unwrap());
        assert!(!store.robot_delete(name).await.unwrap());
    }

    pub async fn a_new_signing_key_retires_the_others(store: &dyn AccessStore) {
        // Newest first; adding with `retire_at` retires the others.
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
    }

    pub async fn login_failures_count_within_a_window(store: &dyn AccessStore) {
        let record = async |at| store.login_failure_record("user:x", at, 100).await.unwrap();
        assert_eq!(record(1000).await, 1);
        assert_eq!(record(1050).await, 2);
        // A new window starts once the old one is over; a forgiven attempt no longer counts.
        assert_eq!(record(1100).await, 1);
        store.login_failure_forgive("user:x").await.unwrap();
        assert_eq!(record(1101).await, 1);
        store.login_failures_clear("user:x").await.unwrap();
        assert_eq!(record(1102).await, 1);
    }

    pub async fn the_audit_log_is_filtered_newest_first_and_paged(store: &dyn AccessStore) {
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
        let query = async |filter| store.audit_query(&filter).await.unwrap();
        let times = |entries: &[AuditEntry]| entries.iter().map(|e| e.at).collect::<Vec<_>>();
        let pushes = query(filter(Some("push"), None, None)).await;
        assert_eq!(times(&pushes), [30, 10]);
        let older = query(filter(None, Some(pushes[0].id), None)).await;
        assert_eq!(times(&older), [20, 10]);
        assert_eq!(query(filter(None, None, Some(20))).await.len(), 2);
    }
}

/// `LifecycleStore`: project settings, quotas, pulls, locks and the GC sweeps with their
/// tombstones.
mod lifecycle_store {
    use super::*;
    use crate::storage::access::{AccessStore, Project};
    use crate::storage::lifecycle::{LifecycleStore, ProjectSettings, Pulls};

    /// What every case needs of the store.
    pub trait Store: MetaStore + LifecycleStore + AccessStore {}
    impl<S: MetaStore + LifecycleStore + AccessStore> Store for S {}

    async fn team(store: &impl Store) {
        let project = Project {
            name: "team".into(),
            public: false,
        };
        store.project_create(&project, None).await.unwrap();
    }

    fn quota(project: &str) -> Option<Quota<'_>> {
        Some(Quota { project, limit: 12 })
    }

    /// Claims and links `content` into `repository` without a quota.
    async fn linked(store: &impl Store, repository: &str, content: &[u8]) -> Digest {
        let digest = sha256(content);
        let size = content.len() as u64;
        store.claim_blob(&digest, size, None).await.unwrap();
        let admit = store.link_blob(repository, &digest, size, None, None);
        assert_eq!(admit.await.unwrap(), Admit::Admitted);
        digest
    }

    /// Tombstones `digest`, unlinked from `repository`, as a GC run that saw it unreferenced.
    async fn tombstoned(store: &impl Store, repository: &str, digest: &Digest) {
        let future = i64::MAX / 2;
        assert!(store.unlink_blob(repository, digest).await.unwrap());
        let marked = store.gc_mark_blobs(future, 0, future, 10).await.unwrap();
        assert_eq!(marked.iter().map(|(d, _)| d).collect::<Vec<_>>(), [digest]);
    }

    pub async fn settings_start_at_the_defaults_and_keep_what_is_set(store: &impl Store) {
        team(store).await;
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
    }

    pub async fn quotas_count_each_blob_of_a_project_once(store: &impl Store) {
        // Whichever repository links it.
        team(store).await;
        let (a, b) = (sha256(b"aaaaa"), sha256(b"bbbbbbbb"));
        let link = |repo: &'static str, digest, size| {
            let project = repo.split('/').next().unwrap();
            store.link_blob(repo, digest, size, None, quota(project))
        };
        store.claim_blob(&a, 5, quota("team")).await.unwrap();
        store.claim_blob(&b, 8, None).await.unwrap();
        assert_eq!(link("team/x", &a, 5).await.unwrap(), Admit::Admitted);
        assert_eq!(link("team/y", &a, 5).await.unwrap(), Admit::Admitted);
        let full = Admit::QuotaExceeded { used: 5, limit: 12 };
        assert_eq!(link("team/y", &b, 8).await.unwrap(), full);
        assert_eq!(store.claim_blob(&b, 8, quota("team")).await.unwrap(), full);
        assert_eq!(store.project_bytes("team").await.unwrap(), 5);
        assert_eq!(link("teams/z", &b, 8).await.unwrap(), Admit::Admitted);
    }

    pub async fn pulls_add_up_and_move_the_times_forward(store: &impl Store) {
        // Per manifest and per tag.
        team(store).await;
        let a = linked(store, "team/x", b"aaaaa").await;
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
    }

    pub async fn a_lock_has_one_holder_until_its_lease_runs_out(store: &impl Store) {
        assert!(store.lock("gc", "one", 1000, 2000).await.unwrap());
        assert!(!store.lock("gc", "two", 1500, 2500).await.unwrap());
        assert!(store.lock("gc", "one", 1500, 2500).await.unwrap());
        assert!(store.lock("gc", "two", 2500, 3500).await.unwrap());
        store.unlock("gc", "one").await.unwrap();
        assert!(!store.lock("gc", "one", 3000, 4000).await.unwrap());
        store.unlock("gc", "two").await.unwrap();
        assert!(store.lock("gc", "one", 3000, 4000).await.unwrap());
    }

    pub async fn gc_sweeps_unreferenced_links_then_their_blobs(store: &impl Store) {
        // Nothing young is touched.
        let b = linked(store, "teams/z", b"bbbbbbbb").await;
        assert_eq!(store.gc_links(0).await.unwrap(), 0);
        assert!(store.unlink_blob("teams/z", &b).await.unwrap());
        assert_eq!(store.gc_mark_blobs(0, 0, 1, 10).await.unwrap(), vec![]);
        let future = i64::MAX / 2;
        let marked = store.gc_mark_blobs(future, 0, future, 10).await.unwrap();
        assert_eq!(marked, vec![(b.clone(), 8)]);
        store
            .gc_forget_blobs(std::slice::from_ref(&b))
            .await
            .unwrap();
        let digests = store.blob_digests().await.unwrap();
        assert!(!digests.iter().any(|r| r.digest == b));
        assert_eq!(
            store.claim_blob(&b, 8, None).await.unwrap(),
            Admit::Admitted
        );
    }

    pub async fn a_tombstoned_blob_is_neither_claimed_nor_mounted(store: &impl Store) {
        // A claim waits while the blob is tombstoned; a mount links nothing, as its bytes may
        // be gone.
        let b = linked(store, "teams/z", b"bbbbbbbb").await;
        tombstoned(store, "teams/z", &b).await;
        assert_eq!(
            store.claim_blob(&b, 8, None).await.unwrap(),
            Admit::Deleting
        );
        assert_eq!(
            store.link_blob("teams/w", &b, 8, None, None).await.unwrap(),
            Admit::Deleting
        );
        assert_eq!(store.linked_blob("teams/w", &b).await.unwrap(), None);
    }

    pub async fn a_tombstone_whose_gc_died_is_lifted_by_the_next_claim(store: &impl Store) {
        // Only blobs nothing links are tombstoned as orphans.
        let a = linked(store, "team/x", b"aaaaa").await;
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
    }

    pub async fn links_a_manifest_references_stay(store: &impl Store) {
        // The rest go once old enough; a manifest whose link is gone is dangling.
        let a = linked(store, "team/x", b"aaaaa").await;
        linked(store, "team/x", b"unreferenced").await;
        let image = record(b"pulled", None, "application/vnd.oci.image.config.v1+json");
        let blobs = std::slice::from_ref(&a);
        assert_eq!(
            put(store, "team/x", &image, blobs, &[], Some("v1")).await,
            STORED
        );
        assert_eq!(store.gc_links(i64::MAX / 2).await.unwrap(), 1);
        assert!(store.linked_blob("team/x", &a).await.unwrap().is_some());
        assert!(store.dangling().await.unwrap().is_empty());
        assert!(store.unlink_blob("team/x", &a).await.unwrap());
        let dangling = store.dangling().await.unwrap();
        assert_eq!((dangling.len(), &dangling[0].missing), (1, &a));
    }
}

/// `ArchiveStore`: OCI layouts per repository, blobs checked against their digests.
mod archive {
    use super::*;

    pub async fn a_fresh_archive_is_empty(store: &dyn ArchiveStore) {
        let digest = sha256(b"x");
        assert!(store.repositories().await.unwrap().is_empty());
        assert!(store.index("team/app").await.unwrap().is_empty());
        assert!(!store.has_blob("team/app", &digest).await.unwrap());
        assert!(matches!(
            store.read_blob("team/app", &digest).await,
            Err(Error::NotFound)
        ));
        assert!(matches!(
            store.open_blob("team/app", &digest).await,
            Err(Error::NotFound)
        ));
    }

    pub async fn blobs_stream_in_and_out_by_digest(store: &dyn ArchiveStore) {
        let digest = sha256(b"hello, archive");
        store
            .put_blob("team/app", &digest, body(&[b"hello, ", b"archive"]))
            .await
            .unwrap();
        assert!(store.has_blob("team/app", &digest).await.unwrap());
        assert_eq!(
            &store.read_blob("team/app", &digest).await.unwrap()[..],
            b"hello, archive"
        );
        let body = store.open_blob("team/app", &digest).await.unwrap();
        assert_eq!(read_all(body).await, b"hello, archive");
        // Another repository's layout does not see it.
        assert!(!store.has_blob("team/other", &digest).await.unwrap());
    }

    pub async fn a_blob_whose_bytes_are_not_its_digest_is_refused(store: &dyn ArchiveStore) {
        let claimed = sha256(b"expected");
        let refused = store
            .put_blob("team/app", &claimed, body(&[b"something else"]))
            .await;
        assert!(matches!(refused, Err(Error::Corrupt(_))), "{refused:?}");
        assert!(!store.has_blob("team/app", &claimed).await.unwrap());
        let actual = sha256(b"something else");
        assert!(!store.has_blob("team/app", &actual).await.unwrap());
    }

    pub async fn the_index_is_replaced_whole_and_lists_repositories(store: &dyn ArchiveStore) {
        let mut entry = spec::descriptor(crate::oci::media::OCI_MANIFEST, &sha256(b"manifest"), 8);
        spec::annotate(&mut entry, "a", "b");
        store
            .write_index("team/app", vec![entry.clone()])
            .await
            .unwrap();
        store.write_index("team/tools/lint", vec![]).await.unwrap();
        assert_eq!(store.index("team/app").await.unwrap(), vec![entry]);
        store.write_index("team/app", vec![]).await.unwrap();
        assert!(store.index("team/app").await.unwrap().is_empty());
        assert_eq!(
            store.repositories().await.unwrap(),
            ["team/app", "team/tools/lint"]
        );
    }
}
