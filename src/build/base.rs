//! A base image (`--base`): resolved for each platform, its layers fetched into the layout on
//! demand.

use super::*;
use crate::oci::spec::Document;

/// The base image, resolved once.
pub(super) struct Base {
    pub(super) reference: Reference,
    client: Client,
    /// What the reference resolved to (an index or a manifest).
    pub(super) digest: Digest,
    manifest: client::Manifest,
}

impl Base {
    pub(super) fn resolve(reference: &Reference, insecure: bool) -> Result<Base, Error> {
        let scopes = vec![client::scope(&reference.repository, false)];
        let client = Client::connect(&reference.registry, scopes, insecure)?;
        let manifest = client.fetch_manifest(&reference.repository, &reference.target())?;
        Ok(Base {
            reference: reference.clone(),
            client,
            digest: manifest.digest.clone(),
            manifest,
        })
    }

    /// The base's layers and config for `platform`.
    pub(super) fn image_for(&self, platform: &Platform) -> Result<(Vec<Descriptor>, Value), Error> {
        let repository = &self.reference.repository;
        let manifest = match self.manifest.document()? {
            Document::Index(index) => {
                let entry = index
                    .manifests()
                    .iter()
                    .find(|entry| {
                        entry
                            .platform()
                            .as_ref()
                            .is_some_and(|p| platform.matches(&Platform::from_spec(p)))
                    })
                    .ok_or_else(|| crate::image::Error::NoPlatform {
                        reference: self.reference.to_string(),
                        platform: platform.to_string(),
                    })?;
                match self
                    .client
                    .fetch_manifest(repository, entry.digest().as_ref())?
                    .document()?
                {
                    Document::Image(manifest) => manifest,
                    Document::Index(_) => {
                        return Err(Error::Invalid(format!(
                            "{}: an index inside an index",
                            self.reference
                        )));
                    }
                }
            }
            Document::Image(manifest) => manifest,
        };
        let config = crate::image::digest(manifest.config())?;
        let mut bytes = vec![];
        {
            use std::io::Read;
            let blob = self.client.fetch_blob(repository, &config)?;
            crate::image::Verifying::new(blob.take(16 << 20), config.clone())
                .read_to_end(&mut bytes)
                .map_err(crate::image::Error::io("reading the base image's config"))?;
        }
        let config_json: Value = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Invalid(format!("the base image's config: {e}")))?;
        Ok((manifest.layers().clone(), config_json))
    }

    /// Copies a blob of the base into the layout, verifying its digest.
    pub(super) fn fetch_into(&self, layout: &Layout, descriptor: &Descriptor) -> Result<(), Error> {
        let digest = crate::image::digest(descriptor)?;
        if layout.has_blob(&digest) {
            return Ok(());
        }
        let response = self
            .client
            .fetch_blob(&self.reference.repository, &digest)?;
        let mut verified = crate::image::Verifying::new(response, digest.clone());
        let mut writer = layout.blob_writer()?;
        // A blob that is not what its digest says fails the copy; the writer then leaves nothing.
        std::io::copy(&mut verified, &mut writer).map_err(crate::image::Error::io(format!(
            "downloading base layer {digest} of {}",
            self.reference
        )))?;
        writer.commit()?;
        Ok(())
    }
}
