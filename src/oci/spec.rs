//! The image-spec documents (manifest, index, descriptor) as oci-spec's typed structs, and the
//! one way berth turns them into bytes.
//!
//! Bytes are compact JSON with every object's keys sorted. oci-spec keeps annotations in a
//! `HashMap`, whose order changes from run to run; sorting makes a document's digest depend on
//! its content only, so `berth build` stays reproducible.

pub use oci_spec::image::{
    ANNOTATION_BASE_IMAGE_DIGEST as BASE_DIGEST, ANNOTATION_BASE_IMAGE_NAME as BASE_NAME,
    ANNOTATION_CREATED as CREATED, ANNOTATION_REF_NAME as REF_NAME, Descriptor, ImageIndex,
    ImageManifest, ImageManifestBuilder, MediaType, Platform,
};
use serde::Serialize;

use super::digest::{Digest, ParseDigestError};
use super::media;

/// A descriptor of `size` bytes of `media_type` content.
pub fn descriptor(media_type: &str, digest: &Digest, size: u64) -> Descriptor {
    let digest: oci_spec::image::Digest = digest
        .to_string()
        .parse()
        .expect("a berth digest is an OCI digest");
    Descriptor::new(MediaType::from(media_type), size, digest)
}

/// An OCI image index of `manifests`.
pub fn index(manifests: Vec<Descriptor>) -> ImageIndex {
    let mut index = ImageIndex::default();
    index.set_media_type(Some(MediaType::ImageIndex));
    index.set_manifests(manifests);
    index
}

/// An OCI image manifest of `config` and `layers`.
pub fn image_manifest(config: Descriptor, layers: Vec<Descriptor>) -> ImageManifest {
    ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config)
        .layers(layers)
        .build()
        .expect("every required field is set")
}

/// Sets annotation `key` of a descriptor.
pub fn annotate(descriptor: &mut Descriptor, key: &str, value: &str) {
    let mut annotations = descriptor.annotations().clone().unwrap_or_default();
    annotations.insert(key.to_owned(), value.to_owned());
    descriptor.set_annotations(Some(annotations));
}

/// The digest a descriptor names, in berth's type (which knows only the algorithms berth
/// verifies).
pub fn digest_of(descriptor: &Descriptor) -> Result<Digest, ParseDigestError> {
    descriptor.digest().to_string().parse()
}

/// The bytes of a document: compact JSON, keys sorted.
pub fn to_vec<T: Serialize>(document: &T) -> Vec<u8> {
    // Through `Value`, whose objects are ordered maps (serde_json without `preserve_order`).
    let value = serde_json::to_value(document).expect("image-spec documents serialize");
    serde_json::to_vec(&value).expect("JSON values serialize")
}

/// A manifest of either kind.
#[derive(Debug)]
pub enum Document {
    Index(Box<ImageIndex>),
    Image(Box<ImageManifest>),
}

impl Document {
    /// Parses a manifest; `media_type` (as served, may be empty) decides when the document does
    /// not name its own type, else the shape does (an index lists `manifests`).
    pub fn parse(media_type: &str, bytes: &[u8]) -> Result<Document, serde_json::Error> {
        let value: serde_json::Value = serde_json::from_slice(bytes)?;
        let named = value["mediaType"].as_str().unwrap_or(media_type);
        if media::is_index(named) || value["manifests"].is_array() {
            Ok(Document::Index(Box::new(serde_json::from_value(value)?)))
        } else {
            Ok(Document::Image(Box::new(serde_json::from_value(value)?)))
        }
    }
}

impl Document {
    /// The child manifests an index lists (none for an image).
    pub fn manifests(&self) -> &[Descriptor] {
        match self {
            Document::Index(index) => index.manifests(),
            Document::Image(_) => &[],
        }
    }

    /// The blobs an image names, config first (none for an index).
    pub fn blobs(&self) -> Vec<&Descriptor> {
        match self {
            Document::Index(_) => vec![],
            Document::Image(image) => std::iter::once(image.config())
                .chain(image.layers())
                .collect(),
        }
    }

    /// The media type the document names for itself.
    pub fn media_type(&self) -> Option<String> {
        match self {
            Document::Index(index) => index.media_type().as_ref().map(ToString::to_string),
            Document::Image(image) => image.media_type().as_ref().map(ToString::to_string),
        }
    }
}

/// The value of annotation `key` of a descriptor.
pub fn annotation<'a>(descriptor: &'a Descriptor, key: &str) -> Option<&'a str> {
    descriptor
        .annotations()
        .as_ref()
        .and_then(|annotations| annotations.get(key))
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::super::digest::Algorithm;
    use super::*;

    #[test]
    fn bytes_do_not_depend_on_the_order_annotations_were_added() {
        let digest = Digest::of(Algorithm::Sha256, b"x");
        let mut one = descriptor(media::OCI_MANIFEST, &digest, 1);
        let mut two = one.clone();
        let pairs = [("b", "2"), ("a", "1"), ("c", "3")];
        one.set_annotations(Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ));
        two.set_annotations(Some(
            pairs
                .iter()
                .rev()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ));
        assert_eq!(to_vec(&one), to_vec(&two));
        let text = String::from_utf8(to_vec(&one)).unwrap();
        assert!(
            text.starts_with(r#"{"annotations":{"a":"1","b":"2","c":"3"},"digest":"sha256:"#),
            "{text}"
        );
        assert_eq!(digest_of(&one).unwrap(), digest);
    }

    #[test]
    fn documents_are_told_apart_by_type_then_shape() {
        let index = br#"{"schemaVersion":2,"manifests":[]}"#;
        assert!(matches!(Document::parse("", index), Ok(Document::Index(_))));
        let image = br#"{"schemaVersion":2,"config":{"mediaType":"a/b","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;
        assert!(matches!(
            Document::parse(media::OCI_MANIFEST, image),
            Ok(Document::Image(_))
        ));
        assert!(Document::parse("", b"[]").is_err());
    }
}
