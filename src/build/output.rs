//! Where a built image goes: the SBOM artifact, a `docker load` tarball, or a registry (blobs a few
//! at a time, mounted from the base where possible, then manifests, tags and SBOMs).

use super::*;

/// Writes the SBOM artifact (empty config, the SPDX document, `subject` = the image).
pub(super) fn write_sbom(
    layout: &Layout,
    document: &Value,
    subject: &Descriptor,
    created: &str,
) -> Result<Descriptor, Error> {
    let empty = layout.write_blob(media::OCI_EMPTY, b"{}")?;
    let spdx = layout.write_blob(
        media::SPDX,
        &serde_json::to_vec_pretty(document).expect("JSON serializes"),
    )?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_MANIFEST,
        "artifactType": media::SPDX,
        "config": empty.to_json(),
        "layers": [spdx.to_json()],
        "subject": subject.to_json(),
        "annotations": { "org.opencontainers.image.created": created },
    });
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
    let mut entries: Vec<Value> = repo_tags
        .iter()
        .zip(&report.tags)
        .map(|(name, tag)| {
            let mut entry = chosen.manifest.to_json();
            entry["annotations"] = json!({ "io.containerd.image.name": name, REF_NAME: tag });
            entry
        })
        .collect();
    if entries.is_empty() {
        entries.push(chosen.manifest.to_json());
    }
    let layers: Vec<Digest> = chosen.layers.iter().map(|l| l.digest.clone()).collect();
    Ok(layout.export_docker_archive(path, &entries, &chosen.config.digest, &layers, &repo_tags)?)
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
    let push_blob = |descriptor: &Descriptor| -> Result<(), Error> {
        let short = &descriptor.digest.hex()[..12];
        if client.blob_exists(repository, &descriptor.digest)? {
            progress.line(&format!("{short}: exists"));
            return Ok(());
        }
        if !layout.has_blob(&descriptor.digest) {
            let base = base.ok_or_else(|| {
                Error::Invalid(format!(
                    "blob {} is missing from the layout",
                    descriptor.digest
                ))
            })?;
            if let Some(same) = same_registry
                && client.mount_blob(repository, &descriptor.digest, &same.reference.repository)?
            {
                progress.line(&format!(
                    "{short}: mounted from {}",
                    same.reference.repository
                ));
                return Ok(());
            }
            base.fetch_into(layout, descriptor)?;
        }
        let bar = progress.upload(short, descriptor.size);
        let path = layout.blob_path(&descriptor.digest);
        client.push_blob(repository, descriptor, || {
            let file = std::fs::File::open(&path).map_err(crate::image::Error::io(format!(
                "opening {}",
                path.display()
            )))?;
            Ok(bar.wrap_read(file))
        })?;
        bar.finish_and_clear();
        progress.line(&format!("{short}: pushed {} bytes", descriptor.size));
        Ok(())
    };
    let mut blobs: Vec<&Descriptor> = vec![];
    for built in &report.images {
        blobs.extend(&built.layers);
        blobs.push(&built.config);
    }
    push_all(&blobs, &push_blob)?;
    let put = |descriptor: &Descriptor, reference: &str| -> Result<(), Error> {
        let bytes = layout.read_blob(&descriptor.digest)?;
        Ok(client.put_manifest(repository, reference, &descriptor.media_type, &bytes)?)
    };
    if report.images.len() > 1 {
        for built in &report.images {
            put(&built.manifest, &built.manifest.digest.to_string())?;
        }
    }
    put(&report.top, &report.top.digest.to_string())?;
    if report.tags.is_empty() {
        progress.line("no tags (not a git work tree, and no --tag): pushed by digest only");
    }
    for tag in &report.tags {
        put(&report.top, tag)?;
        progress.line(&format!("{}", image.with_tag(tag)));
    }
    for sbom in &report.sboms {
        let manifest: Value = serde_json::from_slice(&layout.read_blob(&sbom.digest)?)
            .map_err(|e| Error::Invalid(e.to_string()))?;
        let blobs = [
            Descriptor::from_json(&manifest["config"])?,
            Descriptor::from_json(&manifest["layers"][0])?,
        ];
        push_all(&blobs.iter().collect::<Vec<_>>(), &push_blob)?;
        put(sbom, &sbom.digest.to_string())?;
        progress.line(&format!("sbom {}", &sbom.digest.hex()[..12]));
    }
    Ok(())
}

/// How many blobs go up at once.
pub(super) const PARALLEL_UPLOADS: usize = 4;

/// Runs `push` once per distinct blob, a few at a time; the first error wins.
pub(super) fn push_all(
    blobs: &[&Descriptor],
    push: &(dyn Fn(&Descriptor) -> Result<(), Error> + Sync),
) -> Result<(), Error> {
    let mut seen = std::collections::HashSet::new();
    let distinct: Vec<&Descriptor> = blobs
        .iter()
        .copied()
        .filter(|blob| seen.insert(blob.digest.clone()))
        .collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failure = std::sync::Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL_UPLOADS.min(distinct.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(blob) = distinct.get(i) else { return };
                    if let Err(e) = push(blob) {
                        failure.lock().unwrap().get_or_insert(e);
                        // Stop the others after their current blob.
                        next.store(distinct.len(), std::sync::atomic::Ordering::Relaxed);
                        return;
                    }
                }
            });
        }
    });
    match failure.into_inner().unwrap() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
