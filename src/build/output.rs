//! Where a built image goes: the SBOM artifact, a `docker load` tarball, or a registry (blobs a few
//! at a time, mounted from the base where possible, then manifests, tags and SBOMs).

use super::*;
use crate::image::push::{self, Push};
use crate::oci::spec::ImageManifest;

/// Writes the SBOM artifact (empty config, the SPDX document, `subject` = the image).
pub(super) fn write_sbom(
    layout: &Layout,
    document: &serde_json::Value,
    subject: &Descriptor,
    created: &str,
) -> Result<Descriptor, Error> {
    let empty = layout.write_blob(media::OCI_EMPTY, b"{}")?;
    let spdx = layout.write_blob(
        media::SPDX,
        &serde_json::to_vec_pretty(document).expect("JSON serializes"),
    )?;
    let mut manifest = spec::image_manifest(empty, vec![spdx]);
    manifest.set_artifact_type(Some(media::SPDX.into()));
    manifest.set_subject(Some(subject.clone()));
    manifest.set_annotations(Some(HashMap::from([(
        spec::CREATED.to_owned(),
        created.to_owned(),
    )])));
    Ok(layout.write_json(media::OCI_MANIFEST, &manifest)?)
}

/// The image for this machine's platform (else the first) as a `docker load` tarball.
pub(super) fn write_tarball(
    layout: &Layout,
    report: &Report,
    image: Option<&Reference>,
    path: &Path,
) -> Result<(), Error> {
    let host = Platform::host();
    let chosen = report
        .images
        .iter()
        .find(|image| host.matches(&image.platform))
        .unwrap_or(&report.images[0]);
    let repo_tags: Vec<String> = match image {
        Some(image) => report
            .tags
            .iter()
            .map(|tag| docker_name(&image.with_tag(tag)))
            .collect(),
        None => vec![],
    };
    let mut entries: Vec<Descriptor> = repo_tags
        .iter()
        .zip(&report.tags)
        .map(|(name, tag)| {
            let mut entry = chosen.manifest.clone();
            spec::annotate(&mut entry, "io.containerd.image.name", name);
            spec::annotate(&mut entry, REF_NAME, tag);
            entry
        })
        .collect();
    if entries.is_empty() {
        entries.push(chosen.manifest.clone());
    }
    let layers = chosen
        .layers
        .iter()
        .map(crate::image::digest)
        .collect::<Result<Vec<_>, _>>()?;
    let config = crate::image::digest(&chosen.config)?;
    Ok(layout.export_docker_archive(path, &entries, &config, &layers, &repo_tags)?)
}

/// How Docker writes a reference: Hub images without the registry.
pub(super) fn docker_name(reference: &Reference) -> String {
    let text = reference.to_string();
    text.strip_prefix("registry-1.docker.io/")
        .map(|rest| rest.strip_prefix("library/").unwrap_or(rest).to_owned())
        .unwrap_or(text)
}

/// Pushes blobs (skipping those the registry has, mounting the base's where it can), the
/// manifests by digest, the top manifest under every tag, then the SBOMs.
pub(super) fn push(
    layout: &Layout,
    report: &Report,
    image: &Reference,
    base: Option<&Base>,
    insecure: bool,
    progress: &Progress,
) -> Result<(), Error> {
    let repository = &image.repository;
    let mut scopes = vec![client::scope(repository, true)];
    let same_registry = base.filter(|base| base.reference.registry == image.registry);
    if let Some(base) = same_registry {
        scopes.push(client::scope(&base.reference.repository, false));
    }
    let client = Client::connect(&image.registry, scopes, insecure)?;
    let to = Push {
        client: &client,
        layout,
        repository,
    };
    let push_blob = |descriptor: &Descriptor| -> Result<(), Error> {
        let digest = crate::image::digest(descriptor)?;
        let short = &digest.hex()[..12];
        if to.has_blob(descriptor)? {
            progress.line(&format!("{short}: exists"));
            return Ok(());
        }
        if !layout.has_blob(&digest) {
            let base = base.ok_or_else(|| {
                Error::Invalid(format!("blob {digest} is missing from the layout"))
            })?;
            if let Some(same) = same_registry
                && client.mount_blob(repository, &digest, &same.reference.repository)?
            {
                progress.line(&format!(
                    "{short}: mounted from {}",
                    same.reference.repository
                ));
                return Ok(());
            }
            base.fetch_into(layout, descriptor)?;
        }
        let bar = progress.upload(short, descriptor.size());
        to.blob(descriptor, |file| bar.wrap_read(file))?;
        bar.finish_and_clear();
        progress.line(&format!("{short}: pushed {} bytes", descriptor.size()));
        Ok(())
    };
    let mut blobs: Vec<&Descriptor> = vec![];
    for built in &report.images {
        blobs.extend(&built.layers);
        blobs.push(&built.config);
    }
    push::each_blob(&blobs, &push_blob)?;
    if report.images.len() > 1 {
        for built in &report.images {
            to.manifest(&built.manifest, built.manifest.digest().as_ref())?;
        }
    }
    to.manifest(&report.top, report.top.digest().as_ref())?;
    if report.tags.is_empty() {
        progress.line("no tags (not a git work tree, and no --tag): pushed by digest only");
    }
    for tag in &report.tags {
        to.manifest(&report.top, tag)?;
        progress.line(&format!("{}", image.with_tag(tag)));
    }
    for sbom in &report.sboms {
        let digest = crate::image::digest(sbom)?;
        let manifest: ImageManifest = serde_json::from_slice(&layout.read_blob(&digest)?)
            .map_err(|e| Error::Invalid(e.to_string()))?;
        let mut blobs = vec![manifest.config()];
        blobs.extend(manifest.layers());
        push::each_blob(&blobs, &push_blob)?;
        to.manifest(sbom, &digest.to_string())?;
        progress.line(&format!("sbom {}", &digest.hex()[..12]));
    }
    Ok(())
}
