//! A base image (`--base`): resolved for each platform, its layers fetched into the layout on
//! demand.

use super::*;

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
        let manifest = if media::is_index(&self.manifest.media_type) {
            let index = self.manifest.json()?;
            let entry = index["manifests"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|entry| {
                    Platform::from_json(&entry["platform"]).is_some_and(|p| platform.matches(&p))
                })
                .ok_or_else(|| crate::image::Error::NoPlatform {
                    reference: self.reference.to_string(),
                    platform: platform.to_string(),
                })?;
            let digest = Descriptor::from_json(entry)?.digest;
            self.client
                .fetch_manifest(repository, &digest.to_string())?
                .json()?
        } else {
            self.manifest.json()?
        };
        let config = Descriptor::from_json(&manifest["config"])?;
        let mut bytes = vec![];
        {
            use std::io::Read;
            let blob = self.client.fetch_blob(repository, &config.digest)?;
            crate::image::Verifying::new(blob.take(16 << 20), config.digest.clone())
                .read_to_end(&mut bytes)
                .map_err(crate::image::Error::io("reading the base image's config"))?;
        }
        let config_json: Value = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Invalid(format!("the base image's config: {e}")))?;
        let layers = manifest["layers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(Descriptor::from_json)
            .collect::<Result<_, _>>()?;
        Ok((layers, config_json))
    }

    /// Copies a blob of the base into the layout, verifying its digest.
    pub(super) fn fetch_into(&self, layout: &Layout, descriptor: &Descriptor) -> Result<(), Error> {
        if layout.has_blob(&descriptor.digest) {
            return Ok(());
        }
        let response = self
            .client
            .fetch_blob(&self.reference.repository, &descriptor.digest)?;
        let mut verified = crate::image::Verifying::new(response, descriptor.digest.clone());
        let mut writer = layout.blob_writer()?;
        // A blob that is not what its digest says fails the copy; the writer then leaves nothing.
        std::io::copy(&mut verified, &mut writer).map_err(crate::image::Error::io(format!(
            "downloading base layer {} of {}",
            descriptor.digest, self.reference
        )))?;
        writer.commit()?;
        Ok(())
    }
}
