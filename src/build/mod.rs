//! `berth build`: a Go module to a minimal, reproducible OCI image without a Docker daemon.
//!
//! The host's Go toolchain compiles each main package (`CGO_ENABLED=0`, `-trimpath`,
//! `-ldflags=-s -w -buildid=` unless told otherwise) for each platform. The image is assembled
//! in an OCI layout: on `scratch` a first layer with `/etc/passwd` and `/etc/group` (user and
//! group `nonroot`, 65532), the CA bundle and, on request, time-zone data; then the `static/`
//! tree; then the binaries under `/app`. The config runs the entrypoint as 65532:65532 and
//! carries the OCI labels. Every timestamp is the source date (`SOURCE_DATE_EPOCH`, else the
//! commit time), so the same commit, Go version and flags give the same digest anywhere.
//! Then the image goes out: pushed (with an SPDX SBOM of its Go modules as an OCI 1.1
//! referrer), written as an OCI layout, or as a `docker load` tarball.
//!
//! Architecture invariant: this module talks to registries only through `image::Client`; it
//! never touches berth's stores, so it works against any OCI registry.

pub mod git;
pub mod go;
pub mod layer;
pub mod sbom;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::analyze::gobinary;
use crate::image::client::{self, Client};
use crate::image::layout::REF_NAME;
use crate::image::{Descriptor, Layout, Platform, Reference, media};
use crate::oci::digest::Digest;
use layer::{Layer, LayerBuilder};

/// Where the binaries live in the image, and its working directory.
pub const APP_DIR: &str = "/app";
/// The user and group images run as.
pub const NONROOT: u64 = 65532;

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Talking to a registry, or writing the image.
    #[error(transparent)]
    Image(#[from] crate::image::Error),
    /// `go` or `git` failed; the message is what it printed.
    #[error("{command}: {message}")]
    Tool { command: String, message: String },
    /// The package patterns matched no main package.
    #[error("no main package in {0}")]
    NoMainPackage(String),
    /// Several binaries and no `--entrypoint` to choose one.
    #[error("several main packages ({0}); choose the entrypoint with --entrypoint")]
    AmbiguousEntrypoint(String),
    /// A release tag on a work tree with uncommitted changes.
    #[error(
        "the work tree has uncommitted changes; refusing to tag release {0} (commit, or pass --allow-dirty)"
    )]
    Dirty(String),
    /// A built binary whose build information could not be read.
    #[error(transparent)]
    BuildInfo(#[from] gobinary::Error),
    /// Options that do not fit together.
    #[error("{0}")]
    Invalid(String),
}

/// What to build and where it goes.
pub struct Options {
    /// The Go module (or a directory in it).
    pub dir: PathBuf,
    /// The repository to push to and to name tags in tarballs (`registry/repo`).
    pub image: Option<Reference>,
    /// Package patterns (`./cmd/api`); all main packages of the module when empty.
    pub packages: Vec<String>,
    /// The binary the image runs, when there are several.
    pub entrypoint: Option<String>,
    pub platforms: Vec<Platform>,
    /// `None` for `scratch`.
    pub base: Option<Reference>,
    pub ldflags: String,
    pub trimpath: bool,
    pub cgo: bool,
    /// A host directory copied to `/app/static`.
    pub static_dir: Option<PathBuf>,
    pub tzdata: bool,
    pub ca_bundle: PathBuf,
    pub env: Vec<String>,
    pub ports: Vec<String>,
    pub labels: Vec<(String, String)>,
    /// Tags besides those from git.
    pub tags: Vec<String>,
    pub latest: bool,
    pub allow_dirty: bool,
    /// `org.opencontainers.image.source`, when the git remote is not the right one.
    pub source_url: Option<String>,
    pub push: bool,
    pub oci_layout: Option<PathBuf>,
    pub tarball: Option<PathBuf>,
    pub sbom: bool,
    /// Plain HTTP to a registry that is not on loopback.
    pub insecure: bool,
}

/// One platform's image.
#[derive(Debug, Clone)]
pub struct BuiltImage {
    pub platform: Platform,
    pub manifest: Descriptor,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    pub binaries: Vec<sbom::ShippedBinary>,
}

/// What a build made.
#[derive(Debug)]
pub struct Report {
    /// The manifest, or the index of a multi-platform build.
    pub top: Descriptor,
    pub tags: Vec<String>,
    pub images: Vec<BuiltImage>,
    pub sboms: Vec<Descriptor>,
}

/// Progress lines: indicatif bars on a terminal, plain lines otherwise.
pub struct Progress {
    bars: Option<indicatif::MultiProgress>,
}

impl Progress {
    pub fn new() -> Progress {
        let terminal = std::io::stderr().is_terminal();
        Progress {
            bars: terminal.then(indicatif::MultiProgress::new),
        }
    }

    pub fn line(&self, message: &str) {
        match &self.bars {
            Some(bars) => {
                let _ = bars.println(message);
            }
            None => eprintln!("{message}"),
        }
    }

    /// A byte bar for one upload (hidden off a terminal).
    fn upload(&self, label: &str, size: u64) -> indicatif::ProgressBar {
        let Some(bars) = &self.bars else {
            return indicatif::ProgressBar::hidden();
        };
        let bar = bars.add(indicatif::ProgressBar::new(size));
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg:20} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
            )
            .expect("the template is valid")
            .progress_chars("=> "),
        );
        bar.set_message(label.to_owned());
        bar
    }
}

impl Default for Progress {
    fn default() -> Progress {
        Progress::new()
    }
}

/// The base image, resolved once.
struct Base {
    reference: Reference,
    client: Client,
    /// What the reference resolved to (an index or a manifest).
    digest: Digest,
    manifest: client::Manifest,
}

impl Base {
    fn resolve(reference: &Reference, insecure: bool) -> Result<Base, Error> {
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
    fn image_for(&self, platform: &Platform) -> Result<(Vec<Descriptor>, Value), Error> {
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
    fn fetch_into(&self, layout: &Layout, descriptor: &Descriptor) -> Result<(), Error> {
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

/// `SOURCE_DATE_EPOCH`, else the commit time, else the Unix epoch.
fn source_date(git: Option<&git::GitState>) -> Result<u64, Error> {
    if let Ok(text) = std::env::var("SOURCE_DATE_EPOCH") {
        return text.trim().parse().map_err(|_| {
            Error::Invalid(format!("SOURCE_DATE_EPOCH={text:?} is not Unix seconds"))
        });
    }
    Ok(git.map_or(0, |git| git.commit_time))
}

/// Builds the image(s) and sends them where `options` says.
pub fn build(options: &Options, progress: &Progress) -> Result<Report, Error> {
    if options.push && options.image.is_none() {
        return Err(Error::Invalid(
            "name the repository to push to with --image REGISTRY/REPOSITORY".into(),
        ));
    }
    if options.platforms.is_empty() {
        return Err(Error::Invalid("no platform to build for".into()));
    }
    let git = git::inspect(&options.dir)?;
    let tags = git::tags(
        git.as_ref(),
        &git::TagRequest {
            extra: &options.tags,
            latest: options.latest,
            allow_dirty: options.allow_dirty,
        },
    )?;
    let source_date = source_date(git.as_ref())?;
    let created = crate::time::rfc3339(source_date as i64);
    let packages = go::main_packages(&options.dir, &options.packages)?;
    let entrypoint = match (&options.entrypoint, packages.as_slice()) {
        (Some(name), _) => packages
            .iter()
            .find(|package| &package.name == name)
            .ok_or_else(|| Error::Invalid(format!("--entrypoint {name}: no such main package")))?
            .name
            .clone(),
        (None, [only]) => only.name.clone(),
        (None, several) => {
            let names: Vec<&str> = several.iter().map(|p| p.name.as_str()).collect();
            return Err(Error::AmbiguousEntrypoint(names.join(", ")));
        }
    };
    let go_version = go::version(&options.dir)?;
    let scratch_dir =
        tempfile::tempdir().map_err(crate::image::Error::io("creating a temporary directory"))?;
    let layout = match &options.oci_layout {
        Some(dir) => Layout::create(dir)?,
        None => Layout::create(&scratch_dir.path().join("layout"))?,
    };
    let base = match &options.base {
        Some(reference) => {
            progress.line(&format!("base {reference}"));
            Some(Base::resolve(reference, options.insecure)?)
        }
        None => None,
    };
    let system = match base {
        Some(_) => None,
        None => Some(system_layer(options, &layout, source_date)?),
    };
    let statics =
        match &options.static_dir {
            Some(dir) => {
                let mut builder = LayerBuilder::new();
                builder.tree(&format!("{APP_DIR}/static"), dir).map_err(
                    crate::image::Error::io(format!("reading {}", dir.display())),
                )?;
                Some(builder.write(&layout, source_date)?)
            }
            None => None,
        };
    let flags = go::GoFlags {
        ldflags: options.ldflags.clone(),
        trimpath: options.trimpath,
        cgo: options.cgo,
    };
    let version_label = tags.first().cloned().unwrap_or_default();
    let mut images = vec![];
    for platform in &options.platforms {
        progress.line(&format!("go build {platform} ({go_version})"));
        let bin_dir = scratch_dir
            .path()
            .join("bin")
            .join(platform.to_string().replace('/', "-"));
        std::fs::create_dir_all(&bin_dir)
            .map_err(crate::image::Error::io("creating a build directory"))?;
        let mut binaries = vec![];
        let mut app = LayerBuilder::new();
        for package in &packages {
            let output = bin_dir.join(&package.name);
            go::build(&options.dir, package, platform, &flags, &output)?;
            let path = format!("{APP_DIR}/{}", package.name);
            let (sha1, sha256) = file_digests(&output)?;
            binaries.push(sbom::ShippedBinary {
                path: format!("/{}", path.trim_start_matches('/')),
                sha1,
                sha256,
                info: gobinary::read(&output)?,
            });
            app.file(&path, 0o755, &output);
        }
        let app = app.write(&layout, source_date)?;
        let (base_layers, base_config) = match &base {
            Some(base) => {
                let (layers, config) = base.image_for(platform)?;
                (layers, Some(config))
            }
            None => (vec![], None),
        };
        let mut own: Vec<(&Layer, String)> = vec![];
        if let Some(system) = &system {
            let tz = if options.tzdata {
                ", time-zone data"
            } else {
                ""
            };
            own.push((
                system,
                format!("berth build: user nonroot ({NONROOT}), CA certificates{tz}"),
            ));
        }
        if let Some(statics) = &statics {
            own.push((
                statics,
                format!("berth build: static files in {APP_DIR}/static"),
            ));
        }
        let names: Vec<&str> = packages.iter().map(|p| p.import_path.as_str()).collect();
        own.push((
            &app,
            format!(
                "berth build: go build{} -ldflags={:?} {} ({go_version} {platform})",
                if options.trimpath { " -trimpath" } else { "" },
                options.ldflags,
                names.join(" ")
            ),
        ));
        let labels = labels(options, git.as_ref(), &version_label, &created);
        let config = image_config(
            &ConfigParts {
                platform,
                base: base_config.as_ref(),
                base_layers: &base_layers,
                own: &own,
                entrypoint: &entrypoint,
                labels: &labels,
                created: &created,
            },
            options,
        );
        let config = layout.write_json(media::OCI_CONFIG, &config)?;
        let mut layers = base_layers.clone();
        layers.extend(own.iter().map(|(layer, _)| layer.descriptor.clone()));
        let mut annotations = json!({ "org.opencontainers.image.created": created });
        if let Some(base) = &base {
            annotations["org.opencontainers.image.base.name"] = json!(base.reference.to_string());
            annotations["org.opencontainers.image.base.digest"] = json!(base.digest.to_string());
        }
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_MANIFEST,
            "config": config.to_json(),
            "layers": layers.iter().map(Descriptor::to_json).collect::<Vec<_>>(),
            "annotations": annotations,
        });
        let manifest = layout.write_json(media::OCI_MANIFEST, &manifest)?;
        if let Some(base) = &base
            && (options.oci_layout.is_some() || options.tarball.is_some())
        {
            for layer in &base_layers {
                base.fetch_into(&layout, layer)?;
            }
        }
        images.push(BuiltImage {
            platform: platform.clone(),
            manifest,
            config,
            layers,
            binaries,
        });
    }
    let top = if let [image] = images.as_slice() {
        image.manifest.clone()
    } else {
        let manifests: Vec<Value> = images
            .iter()
            .map(|image| {
                let mut entry = image.manifest.to_json();
                let mut platform = json!({
                    "os": image.platform.os,
                    "architecture": image.platform.architecture,
                });
                if let Some(variant) = &image.platform.variant {
                    platform["variant"] = json!(variant);
                }
                entry["platform"] = platform;
                entry
            })
            .collect();
        let index = json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_INDEX,
            "manifests": manifests,
            "annotations": { "org.opencontainers.image.created": created },
        });
        layout.write_json(media::OCI_INDEX, &index)?
    };
    let image_name = options
        .image
        .as_ref()
        .map_or_else(|| "image".to_owned(), Reference::name);
    let mut sboms = vec![];
    if options.sbom {
        for image in &images {
            let document = sbom::spdx(
                &image.binaries,
                &format!("{image_name}@{}", image.manifest.digest),
                &created,
                git.as_ref()
                    .and_then(|git| git.releases.first())
                    .map(|(tag, _)| tag.as_str()),
            );
            sboms.push(write_sbom(&layout, &document, &image.manifest, &created)?);
        }
    }
    let report = Report {
        top,
        tags,
        images,
        sboms,
    };
    if options.oci_layout.is_some() {
        let mut entries: Vec<Value> = report
            .tags
            .iter()
            .map(|tag| {
                let mut entry = report.top.to_json();
                entry["annotations"] = json!({ REF_NAME: tag });
                entry
            })
            .collect();
        if entries.is_empty() {
            entries.push(report.top.to_json());
        }
        entries.extend(report.sboms.iter().map(Descriptor::to_json));
        layout.add_to_index(&entries)?;
        progress.line(&format!("wrote OCI layout {}", layout.root().display()));
    }
    if let Some(path) = &options.tarball {
        write_tarball(&layout, &report, options.image.as_ref(), path)?;
        progress.line(&format!("wrote docker load tarball {}", path.display()));
    }
    if options.push
        && let Some(image) = &options.image
    {
        push(
            &layout,
            &report,
            image,
            base.as_ref(),
            options.insecure,
            progress,
        )?;
    }
    Ok(report)
}

/// `/etc/passwd`, `/etc/group`, `/tmp`, the CA bundle and maybe time-zone data.
fn system_layer(options: &Options, layout: &Layout, source_date: u64) -> Result<Layer, Error> {
    let mut builder = LayerBuilder::new();
    builder.bytes(
        "etc/passwd",
        0o644,
        format!(
            "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:{NONROOT}:{NONROOT}:nonroot:/home/nonroot:/sbin/nologin\n"
        )
        .into_bytes(),
    );
    builder.bytes(
        "etc/group",
        0o644,
        format!("root:x:0:\nnonroot:x:{NONROOT}:\n").into_bytes(),
    );
    builder.dir("home/nonroot", 0o700, NONROOT);
    builder.dir("tmp", 0o1777, 0);
    if !options.ca_bundle.is_file() {
        return Err(Error::Invalid(format!(
            "no CA bundle at {} (install ca-certificates or pass --ca-bundle)",
            options.ca_bundle.display()
        )));
    }
    builder.file(
        "etc/ssl/certs/ca-certificates.crt",
        0o644,
        &options.ca_bundle,
    );
    if options.tzdata {
        let zoneinfo = Path::new("/usr/share/zoneinfo");
        builder
            .tree("usr/share/zoneinfo", zoneinfo)
            .map_err(crate::image::Error::io(format!(
                "reading {} (install tzdata)",
                zoneinfo.display()
            )))?;
    }
    Ok(builder.write(layout, source_date)?)
}

/// The SHA-1 and SHA-256 of a file, hex, read as a stream.
fn file_digests(path: &Path) -> Result<(String, String), Error> {
    use sha1::Digest as _;
    use std::io::Read;
    let io = || crate::image::Error::io(format!("reading {}", path.display()));
    let mut file = std::fs::File::open(path).map_err(io())?;
    let mut sha1 = sha1::Sha1::new();
    let mut sha256 = crate::oci::digest::Hasher::new(crate::oci::digest::Algorithm::Sha256);
    let mut buf = vec![0; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(io())?;
        if n == 0 {
            break;
        }
        sha1.update(&buf[..n]);
        sha256.update(&buf[..n]);
    }
    Ok((
        hex::encode(sha1.finalize()),
        sha256.finish().hex().to_owned(),
    ))
}

fn labels(
    options: &Options,
    git: Option<&git::GitState>,
    version: &str,
    created: &str,
) -> Vec<(String, String)> {
    let mut labels = vec![(
        "org.opencontainers.image.created".to_owned(),
        created.to_owned(),
    )];
    let source = options
        .source_url
        .clone()
        .or_else(|| git.and_then(|git| git.remote.clone()));
    if let Some(source) = source {
        labels.push(("org.opencontainers.image.source".into(), source));
    }
    if let Some(git) = git {
        labels.push((
            "org.opencontainers.image.revision".into(),
            git.commit.clone(),
        ));
    }
    if !version.is_empty() {
        labels.push((
            "org.opencontainers.image.version".into(),
            version.to_owned(),
        ));
    }
    labels.extend(options.labels.iter().cloned());
    labels
}

/// What one platform's image config is made of.
struct ConfigParts<'a> {
    platform: &'a Platform,
    /// The base image's config, if there is a base.
    base: Option<&'a Value>,
    base_layers: &'a [Descriptor],
    /// berth's own layers with their history lines.
    own: &'a [(&'a Layer, String)],
    entrypoint: &'a str,
    labels: &'a [(String, String)],
    created: &'a str,
}

/// The image config: the base's settings (if any) under berth's user, entrypoint, working
/// directory, environment, ports and labels.
fn image_config(parts: &ConfigParts, options: &Options) -> Value {
    let ConfigParts {
        platform,
        base,
        base_layers,
        own,
        entrypoint,
        labels,
        created,
    } = *parts;
    let base_config = base.map(|base| &base["config"]);
    let mut env: Vec<String> = base_config
        .and_then(|config| config["Env"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|value| value.as_str().map(str::to_owned))
        .collect();
    if !env.iter().any(|entry| entry.starts_with("PATH=")) {
        env.push(format!("PATH={APP_DIR}:/usr/local/bin:/usr/bin:/bin"));
    }
    for entry in &options.env {
        let key = entry.split('=').next().unwrap_or(entry);
        env.retain(|old| old.split('=').next() != Some(key));
        env.push(entry.clone());
    }
    let mut ports = base_config
        .and_then(|config| config["ExposedPorts"].as_object().cloned())
        .unwrap_or_default();
    for port in &options.ports {
        let port = if port.contains('/') {
            port.clone()
        } else {
            format!("{port}/tcp")
        };
        ports.insert(port, json!({}));
    }
    let mut all_labels = base_config
        .and_then(|config| config["Labels"].as_object().cloned())
        .unwrap_or_default();
    for (key, value) in labels {
        all_labels.insert(key.clone(), json!(value));
    }
    let mut diff_ids: Vec<Value> = base
        .and_then(|base| base["rootfs"]["diff_ids"].as_array().cloned())
        .unwrap_or_default();
    diff_ids.extend(
        own.iter()
            .map(|(layer, _)| json!(layer.diff_id.to_string())),
    );
    let mut history: Vec<Value> = base
        .and_then(|base| base["history"].as_array().cloned())
        .unwrap_or_else(|| {
            base_layers
                .iter()
                .map(|_| json!({"comment": "base layer"}))
                .collect()
        });
    history.extend(
        own.iter()
            .map(|(_, created_by)| json!({ "created": created, "created_by": created_by })),
    );
    let mut config = json!({
        "created": created,
        "architecture": platform.architecture,
        "os": platform.os,
        "config": {
            "User": format!("{NONROOT}:{NONROOT}"),
            "Env": env,
            "Entrypoint": [format!("{APP_DIR}/{entrypoint}")],
            "WorkingDir": APP_DIR,
            "Labels": all_labels,
        },
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
        "history": history,
    });
    if !ports.is_empty() {
        config["config"]["ExposedPorts"] = Value::Object(ports);
    }
    if let Some(variant) = &platform.variant {
        config["variant"] = json!(variant);
    }
    config
}

/// Writes the SBOM artifact (empty config, the SPDX document, `subject` = the image).
fn write_sbom(
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
fn write_tarball(
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
fn docker_name(reference: &Reference) -> String {
    let text = reference.to_string();
    text.strip_prefix("registry-1.docker.io/")
        .map(|rest| rest.strip_prefix("library/").unwrap_or(rest).to_owned())
        .unwrap_or(text)
}

/// Pushes blobs (skipping those the registry has, mounting the base's where it can), the
/// manifests by digest, the top manifest under every tag, then the SBOMs.
fn push(
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
const PARALLEL_UPLOADS: usize = 4;

/// Runs `push` once per distinct blob, a few at a time; the first error wins.
fn push_all(
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
