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

mod base;
mod config;
pub mod git;
pub mod go;
pub mod layer;
mod output;
mod progress;
pub mod sbom;

use base::Base;
use config::{ConfigParts, image_config, labels, system_layer};
use output::{push, write_sbom, write_tarball};
pub use progress::Progress;

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::analyze::gobinary;
use crate::image::client::{self, Client};
use crate::image::{Layout, Platform, Reference, media};
use crate::oci::digest::Digest;
use crate::oci::spec::{self, Descriptor, REF_NAME};
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
        let mut annotations = HashMap::from([(spec::CREATED.to_owned(), created.clone())]);
        if let Some(base) = &base {
            annotations.insert(spec::BASE_NAME.to_owned(), base.reference.to_string());
            annotations.insert(spec::BASE_DIGEST.to_owned(), base.digest.to_string());
        }
        let mut manifest = spec::image_manifest(config.clone(), layers.clone());
        manifest.set_annotations(Some(annotations));
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
        let manifests = images
            .iter()
            .map(|image| {
                let mut entry = image.manifest.clone();
                entry.set_platform(Some(image.platform.to_spec()));
                entry
            })
            .collect();
        let mut index = spec::index(manifests);
        index.set_annotations(Some(HashMap::from([(
            spec::CREATED.to_owned(),
            created.clone(),
        )])));
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
                &format!("{image_name}@{}", image.manifest.digest()),
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
        let mut entries: Vec<Descriptor> = report
            .tags
            .iter()
            .map(|tag| {
                let mut entry = report.top.clone();
                spec::annotate(&mut entry, REF_NAME, tag);
                entry
            })
            .collect();
        if entries.is_empty() {
            entries.push(report.top.clone());
        }
        entries.extend(report.sboms.iter().cloned());
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
