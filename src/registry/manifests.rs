//! Manifests, tags, the catalog and the referrers API.
//!
//! A manifest is validated before it is stored: it must be JSON of a manifest media type berth
//! understands (OCI image manifest or index, Docker schema 2 manifest or manifest list; any
//! `artifactType` or config media type inside them), its digest must match when pushed by
//! digest, and every blob and child manifest it names must already be in the repository.

use bytes::Bytes;
use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};

use super::{Error, Registry, Result};
use crate::oci::digest::{Algorithm, Digest};
pub use crate::oci::media::{DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST};
use crate::oci::names::{Reference, validate_name};
use crate::oci::spec;
use crate::storage::{
    ManifestPut, ManifestRecord, NewManifest, Referrer, TagMove, TagPointed, TagRules,
};

/// The most a page of tags or repositories holds, whatever `n` asks for.
const PAGE_MAX: u32 = 10_000;

/// A manifest as stored and served.
pub type StoredManifest = ManifestRecord;

/// What a successful manifest push reports back.
#[derive(Debug)]
pub struct PutManifest {
    pub digest: Digest,
    /// The `subject` the manifest names, echoed as `OCI-Subject`.
    pub subject: Option<Digest>,
    /// When pushed by tag: the manifest the tag pointed at before, if it pointed elsewhere.
    pub moved_from: Option<Digest>,
    /// Other tags the tag policy moved along (aliases following a release).
    pub followed: Vec<TagMove>,
}

/// One page of a lexically ordered listing.
#[derive(Debug)]
pub struct Page {
    pub items: Vec<String>,
    /// The `last` to ask for the next page with, when there is one.
    pub next: Option<String>,
}

/// What validation extracts from a manifest.
#[derive(Debug)]
struct Parsed {
    media_type: String,
    blobs: Vec<Digest>,
    manifests: Vec<Digest>,
    subject: Option<Digest>,
    artifact_type: Option<String>,
    annotations: Option<String>,
    /// Sum of the sizes the descriptors of `blobs` and `manifests` state.
    referenced_size: u64,
}

/// A validated manifest, ready to be stored.
#[derive(Debug)]
pub struct ManifestUpload {
    record: ManifestRecord,
    tag: Option<String>,
    blobs: Vec<Digest>,
    manifests: Vec<Digest>,
    size: u64,
}

impl ManifestUpload {
    pub fn digest(&self) -> &Digest {
        &self.record.digest
    }

    /// The tag it is pushed under, if pushed by tag.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// Compressed size of the image: the manifest plus the config and layers (or, for an
    /// index, the child manifests) it names, as their descriptors state.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whether it is an image manifest (not an index).
    pub fn is_image(&self) -> bool {
        self.manifests.is_empty() && !self.blobs.is_empty()
    }
}

impl Registry {
    /// Validates a manifest pushed as `reference`, before any policy looks at it. A large one
    /// is hashed and parsed on a blocking thread, so that it holds up no other request.
    pub async fn prepare_manifest(
        &self,
        name: &str,
        reference: &Reference,
        content_type: Option<&str>,
        content: Bytes,
    ) -> Result<ManifestUpload> {
        validate_name(name)?;
        let limit = self.options.max_manifest_references;
        if content.len() <= INLINE_PARSE_MAX {
            return prepare(reference, content_type, content, limit);
        }
        let (reference, content_type) = (reference.clone(), content_type.map(str::to_owned));
        tokio::task::spawn_blocking(move || {
            prepare(&reference, content_type.as_deref(), content, limit)
        })
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
    }

    /// Stores a prepared manifest, pointing its tag at it under the project's tag `rules`.
    pub async fn store_manifest(
        &self,
        name: &str,
        upload: &ManifestUpload,
        rules: &dyn TagRules,
    ) -> Result<PutManifest> {
        let manifest = NewManifest {
            record: &upload.record,
            blobs: &upload.blobs,
            manifests: &upload.manifests,
            tag: upload.tag.as_deref(),
            size: upload.size,
            rules,
        };
        match self.meta.put_manifest(name, manifest).await? {
            ManifestPut::Stored {
                moved_from,
                followed,
            } => Ok(PutManifest {
                digest: upload.record.digest.clone(),
                subject: upload.record.subject.clone(),
                moved_from,
                followed,
            }),
            ManifestPut::MissingReference(missing) => Err(Error::ManifestBlobUnknown(missing)),
            ManifestPut::Immutable(tag) => Err(Error::Denied(format!(
                "tag {tag} is an immutable release (project tag policy: release tags never \
                 move); push a new version instead"
            ))),
            ManifestPut::Managed(reason) => Err(Error::Denied(reason)),
        }
    }

    pub async fn get_manifest(&self, name: &str, reference: &Reference) -> Result<StoredManifest> {
        validate_name(name)?;
        let found = match reference {
            Reference::Tag(tag) => self.meta.manifest_by_tag(name, tag).await?,
            Reference::Digest(digest) => self.meta.manifest_by_digest(name, digest).await?,
        };
        found.ok_or_else(|| manifest_unknown(name, reference))
    }

    /// Deletes a manifest (and its tags) by digest, or only the tag when given a tag.
    pub async fn delete_manifest(&self, name: &str, reference: &Reference) -> Result<()> {
        validate_name(name)?;
        let deleted = match reference {
            Reference::Tag(tag) => self.meta.delete_tag(name, tag).await?,
            Reference::Digest(digest) => self.meta.delete_manifest(name, digest).await?,
        };
        if deleted {
            Ok(())
        } else {
            Err(manifest_unknown(name, reference))
        }
    }

    /// Points `tag` at the manifest `digest` holds; returns where it pointed before.
    pub async fn point_tag(
        &self,
        name: &str,
        tag: &str,
        digest: &Digest,
    ) -> Result<Option<Digest>> {
        validate_name(name)?;
        match self.meta.point_tag(name, tag, digest).await? {
            TagPointed::Pointed { previous } => Ok(previous),
            TagPointed::NoSuchManifest => {
                Err(manifest_unknown(name, &Reference::Digest(digest.clone())))
            }
        }
    }

    /// The tags that reach `digest`, a manifest or a blob, directly or through an index.
    pub async fn tags_reaching(&self, name: &str, digest: &Digest) -> Result<Vec<String>> {
        validate_name(name)?;
        Ok(self.meta.tags_reaching(name, digest).await?)
    }

    /// A page of the repository's tags in lexical order.
    pub async fn tags(&self, name: &str, last: Option<&str>, n: Option<u32>) -> Result<Page> {
        validate_name(name)?;
        let limit = n.unwrap_or(PAGE_MAX).min(PAGE_MAX);
        let tags = self.meta.tags(name, last, limit + 1).await?;
        let tags = tags.ok_or_else(|| Error::NameUnknown(name.to_owned()))?;
        Ok(page(tags, limit))
    }

    /// A page of the repository names for which `shows` holds, in lexical order.
    pub async fn catalog(
        &self,
        last: Option<&str>,
        n: Option<u32>,
        shows: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<Page> {
        let limit = n.unwrap_or(PAGE_MAX).min(PAGE_MAX);
        let mut names = Vec::new();
        let mut cursor = last.map(str::to_owned);
        // Read past hidden names a page at a time until one more than a page is visible.
        while names.len() <= limit as usize {
            let batch = self.meta.repositories(cursor.as_deref(), limit + 1).await?;
            let done = batch.len() <= limit as usize;
            cursor = batch.last().cloned();
            names.extend(batch.into_iter().filter(|name| shows(name)));
            if done {
                break;
            }
        }
        names.truncate(limit as usize + 1);
        Ok(page(names, limit))
    }

    /// The manifests in the repository whose `subject` is `digest`.
    pub async fn referrers(
        &self,
        name: &str,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Referrer>> {
        validate_name(name)?;
        Ok(self.meta.referrers(name, digest, artifact_type).await?)
    }

    /// The referrers API's answer: an OCI image index of the manifests whose `subject` is
    /// `digest` (empty when there are none), each with its `artifactType` and annotations.
    pub async fn referrers_index(
        &self,
        name: &str,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<ImageIndex> {
        let referrers = self.referrers(name, digest, artifact_type).await?;
        let manifests = referrers
            .into_iter()
            .map(|referrer| {
                let mut descriptor =
                    spec::descriptor(&referrer.media_type, &referrer.digest, referrer.size);
                descriptor.set_artifact_type(referrer.artifact_type.as_deref().map(Into::into));
                descriptor.set_annotations(
                    referrer
                        .annotations
                        .and_then(|a| serde_json::from_str(&a).ok()),
                );
                descriptor
            })
            .collect();
        Ok(spec::index(manifests))
    }
}

/// Cuts a listing fetched with one extra item down to `limit`, noting whether more follow.
fn page(mut items: Vec<String>, limit: u32) -> Page {
    let more = items.len() > limit as usize;
    items.truncate(limit as usize);
    let next = if more { items.last().cloned() } else { None };
    Page { items, next }
}

/// Manifests up to this size are parsed on the runtime thread: that takes microseconds.
const INLINE_PARSE_MAX: usize = 64 * 1024;

/// Checks the digest of a manifest pushed as `reference`, parses it and bounds its references.
fn prepare(
    reference: &Reference,
    content_type: Option<&str>,
    content: Bytes,
    max_references: usize,
) -> Result<ManifestUpload> {
    let (digest, tag) = match reference {
        Reference::Tag(tag) => (Digest::of(Algorithm::Sha256, &content), Some(tag.clone())),
        Reference::Digest(expected) => {
            let computed = Digest::of(expected.algorithm(), &content);
            if &computed != expected {
                return Err(Error::DigestMismatch {
                    expected: expected.clone(),
                    computed,
                });
            }
            (computed, None)
        }
    };
    let parsed = parse(content_type, &content)?;
    let references = parsed.blobs.len() + parsed.manifests.len();
    if references > max_references {
        return Err(Error::ManifestInvalid(format!(
            "{references} references, more than the {max_references} one manifest may carry \
             here ([limits] max_manifest_references)"
        )));
    }
    let size = total_size([content.len() as u64, parsed.referenced_size])?;
    Ok(ManifestUpload {
        record: ManifestRecord {
            digest,
            media_type: parsed.media_type,
            content,
            subject: parsed.subject,
            artifact_type: parsed.artifact_type,
            annotations: parsed.annotations,
        },
        tag,
        blobs: parsed.blobs,
        manifests: parsed.manifests,
        size,
    })
}

/// What says which kind of manifest a document is, read without building the rest: a manifest
/// of 10,000 descriptors as a `serde_json::Value` tree takes several times the memory of the
/// typed structs it is read into next.
#[derive(serde::Deserialize)]
struct Kind {
    #[serde(rename = "schemaVersion")]
    schema_version: Option<serde_json::Value>,
    #[serde(rename = "mediaType")]
    media_type: Option<serde_json::Value>,
    manifests: Option<serde::de::IgnoredAny>,
}

fn parse(content_type: Option<&str>, content: &[u8]) -> Result<Parsed> {
    let invalid = |why: String| Error::ManifestInvalid(why);
    // An array would be read as a struct's fields in order; a manifest is an object.
    if content.trim_ascii_start().first() != Some(&b'{') {
        return Err(invalid("not a JSON object".into()));
    }
    let kind: Kind =
        serde_json::from_slice(content).map_err(|e| invalid(format!("not JSON: {e}")))?;
    if kind.schema_version.as_ref().and_then(|v| v.as_u64()) != Some(2) {
        return Err(invalid("schemaVersion must be 2".into()));
    }
    let declared = kind.media_type.as_ref().and_then(|v| v.as_str());
    let header = content_type
        .map(|ct| ct.split(';').next().unwrap_or("").trim())
        .filter(|ct| {
            [
                OCI_MANIFEST,
                OCI_INDEX,
                DOCKER_MANIFEST,
                DOCKER_MANIFEST_LIST,
            ]
            .contains(ct)
        });
    let media_type = match (declared, header) {
        (Some(declared), Some(header)) if declared != header => {
            return Err(invalid(format!(
                "mediaType {declared} does not match Content-Type {header}"
            )));
        }
        (Some(declared), _) => declared,
        (None, Some(header)) => header,
        (None, None) if kind.manifests.is_some() => OCI_INDEX,
        (None, None) => OCI_MANIFEST,
    }
    .to_owned();
    match media_type.as_str() {
        OCI_MANIFEST | DOCKER_MANIFEST => {
            let manifest: ImageManifest =
                serde_json::from_slice(content).map_err(|e| invalid(e.to_string()))?;
            let mut blobs = vec![digest_of(manifest.config())?];
            let mut sizes = vec![manifest.config().size()];
            for layer in manifest.layers() {
                if !is_foreign(layer) {
                    blobs.push(digest_of(layer)?);
                    sizes.push(layer.size());
                }
            }
            let referenced_size = total_size(sizes)?;
            let artifact_type = manifest
                .artifact_type()
                .as_ref()
                .unwrap_or(manifest.config().media_type())
                .to_string();
            Ok(Parsed {
                media_type,
                blobs,
                manifests: vec![],
                subject: manifest.subject().as_ref().map(digest_of).transpose()?,
                artifact_type: Some(artifact_type),
                annotations: annotations_json(manifest.annotations()),
                referenced_size,
            })
        }
        OCI_INDEX | DOCKER_MANIFEST_LIST => {
            let index: ImageIndex =
                serde_json::from_slice(content).map_err(|e| invalid(e.to_string()))?;
            let manifests = index
                .manifests()
                .iter()
                .map(digest_of)
                .collect::<Result<_>>()?;
            let referenced_size = total_size(index.manifests().iter().map(Descriptor::size))?;
            Ok(Parsed {
                media_type,
                blobs: vec![],
                manifests,
                subject: index.subject().as_ref().map(digest_of).transpose()?,
                artifact_type: index.artifact_type().as_ref().map(|t| t.to_string()),
                annotations: annotations_json(index.annotations()),
                referenced_size,
            })
        }
        other => Err(invalid(format!("unsupported manifest media type {other}"))),
    }
}

/// The sum of descriptor sizes, which a hostile manifest could make wrap.
fn total_size(sizes: impl IntoIterator<Item = u64>) -> Result<u64> {
    sizes
        .into_iter()
        .try_fold(0u64, u64::checked_add)
        .ok_or_else(|| Error::ManifestInvalid("the descriptors' sizes add up past 2^64".into()))
}

fn digest_of(descriptor: &Descriptor) -> Result<Digest> {
    spec::digest_of(descriptor).map_err(|e| Error::ManifestInvalid(e.to_string()))
}

/// Foreign (non-distributable) layers are fetched from their URLs, not from the registry.
fn is_foreign(layer: &Descriptor) -> bool {
    let media_type = layer.media_type().to_string();
    let foreign = media_type.contains("foreign") || media_type.contains("nondistributable");
    foreign && layer.urls().as_ref().is_some_and(|urls| !urls.is_empty())
}

fn annotations_json(
    annotations: &Option<std::collections::HashMap<String, String>>,
) -> Option<String> {
    let annotations = annotations.as_ref().filter(|a| !a.is_empty())?;
    let sorted: std::collections::BTreeMap<_, _> = annotations.iter().collect();
    Some(serde_json::to_string(&sorted).expect("string maps serialize"))
}

fn manifest_unknown(name: &str, reference: &Reference) -> Error {
    let reference = match reference {
        Reference::Tag(tag) => tag.clone(),
        Reference::Digest(digest) => digest.to_string(),
    };
    Error::ManifestUnknown {
        name: name.to_owned(),
        reference,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
    const LAYER: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn image(extra: &str) -> String {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}",
            "config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{CONFIG}","size":2}},
            "layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{LAYER}","size":0}}]{extra}}}"#
        )
    }

    #[test]
    fn image_manifest_names_its_blobs() {
        let parsed = parse(Some(OCI_MANIFEST), image("").as_bytes()).unwrap();
        let blobs: Vec<_> = parsed.blobs.iter().map(Digest::to_string).collect();
        assert_eq!(blobs, [CONFIG, LAYER]);
        assert_eq!(
            parsed.artifact_type.as_deref(),
            Some("application/vnd.oci.image.config.v1+json")
        );
        assert!(parsed.subject.is_none());
    }

    #[test]
    fn artifact_with_subject_reports_both() {
        let extra = format!(
            r#","artifactType":"application/spdx+json","annotations":{{"b":"2","a":"1"}},
            "subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{LAYER}","size":7}}"#
        );
        let parsed = parse(None, image(&extra).as_bytes()).unwrap();
        assert_eq!(
            parsed.artifact_type.as_deref(),
            Some("application/spdx+json")
        );
        assert_eq!(parsed.subject.unwrap().to_string(), LAYER);
        assert_eq!(parsed.annotations.as_deref(), Some(r#"{"a":"1","b":"2"}"#));
    }

    #[test]
    fn bad_manifests_are_invalid() {
        let cases = [
            (Some(OCI_MANIFEST), "{".to_owned()),
            (Some(OCI_MANIFEST), "[]".to_owned()),
            (Some(OCI_MANIFEST), r#"{"schemaVersion":1}"#.to_owned()),
            (Some(OCI_INDEX), image("")),
            (
                None,
                r#"{"schemaVersion":2,"mediaType":"application/x-unknown"}"#.to_owned(),
            ),
            (None, image("").replace(CONFIG, "sha256:abc")),
            (None, image("").replace("\"size\":2", "\"size\":\"two\"")),
        ];
        for (content_type, body) in cases {
            let res = parse(content_type, body.as_bytes());
            assert!(
                matches!(res, Err(Error::ManifestInvalid(_))),
                "{body}: {res:?}"
            );
        }
    }

    #[test]
    fn index_names_its_children() {
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST_LIST}","manifests":[
            {{"mediaType":"{DOCKER_MANIFEST}","digest":"{LAYER}","size":3,
              "platform":{{"architecture":"amd64","os":"linux"}}}}]}}"#
        );
        let parsed = parse(Some(DOCKER_MANIFEST_LIST), body.as_bytes()).unwrap();
        assert_eq!(parsed.manifests.len(), 1);
        assert!(parsed.blobs.is_empty());
    }

    #[test]
    fn pages_say_where_the_next_starts() {
        let items = |n: usize| (0..n).map(|i| format!("t{i}")).collect::<Vec<_>>();
        let full = page(items(3), 2);
        assert_eq!((full.items.len(), full.next.as_deref()), (2, Some("t1")));
        let last = page(items(2), 2);
        assert_eq!((last.items.len(), last.next), (2, None));
    }
}
