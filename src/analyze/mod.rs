//! `berth analyze`: where an image's bytes go, layer by layer, and what the Go binaries inside
//! it are, read from a registry, an OCI layout or a `docker save` tarball without a daemon.
//!
//! Definitions (dive's, made exact):
//! - A layer's *files* are its non-directory entries; *added* are paths no earlier layer left
//!   in the file system, *changed* paths an earlier layer did, *removed* the paths a whiteout
//!   deletes (with everything under a deleted directory).
//! - *Wasted bytes* are the sizes of file versions that are not in the final file system:
//!   overwritten by a later layer or deleted by a whiteout.
//! - *Efficiency* is `1 - wasted / all file bytes of all layers` (1 for an empty image).
//!
//! Layers stream through gzip and tar once; only files that start like an ELF binary are
//! spooled to a temporary file, to read their Go build information.

pub mod gobinary;
pub mod source;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};

use serde_json::{Value, json};

use crate::image::Platform;
use crate::oci::digest::Digest;
use gobinary::GoBinary;
use source::{Image, Source};

/// Why an analysis failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the image.
    #[error(transparent)]
    Image(#[from] crate::image::Error),
    /// The image or platform asked for is not there.
    #[error("{0}")]
    NotFound(String),
    /// A layer in a format berth cannot read.
    #[error("layer {0}: {1}")]
    Layer(String, String),
}

/// One layer's figures.
#[derive(Debug, Clone)]
pub struct LayerReport {
    pub digest: Option<Digest>,
    pub compressed: u64,
    /// Bytes of the uncompressed tar stream.
    pub uncompressed: u64,
    pub created_by: String,
    pub files: u64,
    pub file_bytes: u64,
    pub added: u64,
    pub changed: u64,
    pub removed: u64,
}

/// A Go binary found in the final file system.
#[derive(Debug, Clone)]
pub struct FoundBinary {
    pub path: String,
    pub size: u64,
    pub info: GoBinary,
}

/// A change that would make the image smaller or better, with the bytes it would save. Advice
/// about binaries names them; the same advice for several binaries is one entry.
#[derive(Debug, Clone)]
pub struct Advice {
    pub id: &'static str,
    pub message: String,
    pub saves: u64,
    /// The binaries it is about (empty for advice about the whole image).
    pub paths: Vec<String>,
}

/// One platform's analysis.
#[derive(Debug, Clone)]
pub struct ImageReport {
    pub platform: Platform,
    pub manifest: Option<Digest>,
    pub layers: Vec<LayerReport>,
    pub compressed: u64,
    pub uncompressed: u64,
    /// Bytes of the files in the final file system.
    pub content_bytes: u64,
    pub wasted_bytes: u64,
    pub efficiency: f64,
    pub binaries: Vec<FoundBinary>,
    pub advice: Vec<Advice>,
}

/// Analyzes every platform image of `source` (or only `platform`'s).
pub fn analyze(source: &Source, platform: Option<&Platform>) -> Result<Vec<ImageReport>, Error> {
    source
        .images(platform)?
        .iter()
        .map(|image| analyze_image(source, image))
        .collect()
}

/// A path as it stands in the final file system: no `./` or leading `/`, no trailing `/`.
fn normalize(path: &str) -> String {
    path.trim_start_matches("./")
        .trim_start_matches('/')
        .trim_end_matches('/')
        .to_owned()
}

/// A visible file: its size and the content it names. Hard links share one content, so the
/// bytes stay in the file system while any of their names does.
#[derive(Clone, Copy)]
struct Node {
    size: u64,
    content: u64,
}

/// The file system as the layers so far leave it: each visible file, the Go binaries among
/// them, and the bytes of versions no longer visible.
#[derive(Default)]
struct FileSystem {
    visible: BTreeMap<String, Node>,
    /// How many visible names each content has.
    names: HashMap<u64, u32>,
    binaries: BTreeMap<String, FoundBinary>,
    wasted: u64,
    next_content: u64,
}

impl FileSystem {
    /// Deletes `exact` and everything under `prefix`; returns how many files went.
    fn remove(&mut self, prefix: &str, exact: Option<&str>) -> u64 {
        let keys: Vec<String> = self
            .visible
            .range(prefix.to_owned()..)
            .take_while(|(key, _)| key.starts_with(prefix))
            .map(|(key, _)| key.clone())
            .chain(exact.map(str::to_owned))
            .collect();
        let mut count = 0;
        for key in keys {
            if self.unlink(&key) {
                count += 1;
            }
        }
        count
    }

    /// Drops one name; its bytes are wasted when it was the content's last name.
    fn unlink(&mut self, path: &str) -> bool {
        let Some(node) = self.visible.remove(path) else {
            return false;
        };
        self.binaries.remove(path);
        let names = self.names.entry(node.content).or_default();
        *names = names.saturating_sub(1);
        if *names == 0 {
            self.names.remove(&node.content);
            self.wasted += node.size;
        }
        true
    }

    /// Writes a file; `true` when it replaced an earlier version.
    fn write(&mut self, path: &str, size: u64) -> bool {
        let replaced = self.unlink(path);
        self.next_content += 1;
        self.insert(
            path,
            Node {
                size,
                content: self.next_content,
            },
        );
        replaced
    }

    /// A hard link `path` to `target`, as tar stores it: another name for the same content
    /// (and the same Go binary); `true` when it replaced an earlier version.
    fn link(&mut self, path: &str, target: &str) -> bool {
        let Some(node) = self.visible.get(target).copied() else {
            return self.write(path, 0);
        };
        let binary = self.binaries.get(target).cloned();
        let replaced = path != target && self.unlink(path);
        self.insert(path, node);
        if let Some(mut binary) = binary {
            binary.path = format!("/{path}");
            self.binaries.insert(path.to_owned(), binary);
        }
        replaced
    }

    fn insert(&mut self, path: &str, node: Node) {
        *self.names.entry(node.content).or_default() += 1;
        self.visible.insert(path.to_owned(), node);
    }

    /// Each visible path with the bytes it holds; a content with several names counts once,
    /// at its first name.
    fn sizes(&self) -> BTreeMap<String, u64> {
        let mut seen = HashSet::new();
        self.visible
            .iter()
            .map(|(path, node)| {
                let size = if seen.insert(node.content) {
                    node.size
                } else {
                    0
                };
                (path.clone(), size)
            })
            .collect()
    }
}

fn analyze_image(source: &Source, image: &Image) -> Result<ImageReport, Error> {
    let history: Vec<String> = image.config["history"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|entry| !entry["empty_layer"].as_bool().unwrap_or(false))
        .map(|entry| {
            entry["created_by"]
                .as_str()
                .or_else(|| entry["comment"].as_str())
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    let mut fs = FileSystem::default();
    let mut all_file_bytes = 0u64;
    let mut layers = vec![];
    for (index, layer) in image.layers.iter().enumerate() {
        let label = layer
            .digest
            .as_ref()
            .map_or_else(|| format!("#{index}"), |d| d.to_string());
        let mut report = LayerReport {
            digest: layer.digest.clone(),
            compressed: layer.compressed,
            uncompressed: 0,
            created_by: history.get(index).cloned().unwrap_or_default(),
            files: 0,
            file_bytes: 0,
            added: 0,
            changed: 0,
            removed: 0,
        };
        let mut stream = Counting::new(decompress(source.blob(layer)?, &label)?);
        {
            let mut archive = tar::Archive::new(&mut stream);
            let layer_error = |e: std::io::Error| Error::Layer(label.clone(), e.to_string());
            for entry in archive.entries().map_err(layer_error)? {
                let mut entry = entry.map_err(layer_error)?;
                let raw = entry
                    .path()
                    .map_err(layer_error)?
                    .to_string_lossy()
                    .into_owned();
                let path = normalize(&raw);
                let (parent, name) = match path.rsplit_once('/') {
                    Some((parent, name)) => (format!("{parent}/"), name.to_owned()),
                    None => (String::new(), path.clone()),
                };
                if name == ".wh..wh..opq" {
                    report.removed += fs.remove(&parent, None);
                    continue;
                }
                if let Some(target) = name.strip_prefix(".wh.") {
                    let target = format!("{parent}{target}");
                    report.removed += fs.remove(&format!("{target}/"), Some(&target));
                    continue;
                }
                let kind = entry.header().entry_type();
                if kind.is_dir() {
                    continue;
                }
                let size = if kind.is_file() { entry.size() } else { 0 };
                report.files += 1;
                report.file_bytes += size;
                all_file_bytes += size;
                let hard_link = match kind {
                    tar::EntryType::Link => entry
                        .link_name()
                        .map_err(layer_error)?
                        .map(|target| normalize(&target.to_string_lossy())),
                    _ => None,
                };
                let replaced = match &hard_link {
                    Some(target) => fs.link(&path, target),
                    None => fs.write(&path, size),
                };
                if replaced {
                    report.changed += 1;
                } else {
                    report.added += 1;
                }
                if kind.is_file()
                    && size > 1024
                    && let Some(info) = go_binary(&mut entry)?
                {
                    let found = FoundBinary {
                        path: format!("/{path}"),
                        size,
                        info,
                    };
                    fs.binaries.insert(path.clone(), found);
                }
            }
        }
        // The tar end may leave padding unread; the uncompressed size counts it too.
        std::io::copy(&mut stream, &mut std::io::sink())
            .map_err(|e| Error::Layer(label.clone(), e.to_string()))?;
        report.uncompressed = stream.count;
        layers.push(report);
    }
    let sizes = fs.sizes();
    let content_bytes: u64 = sizes.values().sum();
    let wasted = fs.wasted;
    let efficiency = if all_file_bytes == 0 {
        1.0
    } else {
        1.0 - wasted as f64 / all_file_bytes as f64
    };
    let binaries: Vec<FoundBinary> = fs.binaries.into_values().collect();
    let advice = advise(&sizes, &binaries, wasted);
    Ok(ImageReport {
        platform: image.platform.clone(),
        manifest: image.manifest.clone(),
        compressed: layers.iter().map(|l| l.compressed).sum(),
        uncompressed: layers.iter().map(|l| l.uncompressed).sum(),
        layers,
        content_bytes,
        wasted_bytes: wasted,
        efficiency,
        binaries,
        advice,
    })
}

/// The build information of a tar entry that is a Go binary; `None` for anything else.
fn go_binary<R: Read>(entry: &mut R) -> Result<Option<GoBinary>, Error> {
    let io = |e: std::io::Error| Error::Image(crate::image::Error::io("spooling a binary")(e));
    let mut head = [0u8; 4];
    let mut filled = 0;
    while filled < head.len() {
        let n = entry.read(&mut head[filled..]).map_err(io)?;
        if n == 0 {
            return Ok(None);
        }
        filled += n;
    }
    if !gobinary::is_elf(&head) {
        return Ok(None);
    }
    let mut spool = tempfile::NamedTempFile::new().map_err(io)?;
    spool.write_all(&head).map_err(io)?;
    std::io::copy(entry, &mut spool).map_err(io)?;
    spool.flush().map_err(io)?;
    match gobinary::read(spool.path()) {
        Ok(info) => Ok(Some(info)),
        Err(_) => Ok(None),
    }
}

/// Gzip, zstd or plain tar, told apart by their first bytes.
fn decompress(blob: Box<dyn Read>, label: &str) -> Result<Box<dyn Read>, Error> {
    let mut reader = BufReader::with_capacity(1 << 20, blob);
    let head = reader
        .fill_buf()
        .map_err(|e| Error::Layer(label.to_owned(), e.to_string()))?;
    if head.starts_with(&[0x1f, 0x8b]) {
        return Ok(Box::new(flate2::read::MultiGzDecoder::new(reader)));
    }
    if head.starts_with(&ZSTD_MAGIC) {
        return Ok(Box::new(Zstd {
            source: Some(reader),
            frame: None,
        }));
    }
    Ok(Box::new(reader))
}

/// The first bytes of a zstd frame.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// A zstd stream of any number of frames, skippable ones (metadata of `zstd:chunked`
/// layers) passed over.
struct Zstd<R: BufRead> {
    /// The source between frames.
    source: Option<R>,
    frame: Option<ruzstd::decoding::StreamingDecoder<R, ruzstd::decoding::FrameDecoder>>,
}

impl<R: BufRead> Read for Zstd<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if let Some(mut frame) = self.frame.take() {
                let n = frame.read(buf)?;
                if n > 0 || buf.is_empty() {
                    self.frame = Some(frame);
                    return Ok(n);
                }
                self.source = Some(frame.into_inner());
            }
            let Some(mut source) = self.source.take() else {
                return Ok(0);
            };
            let head = source.fill_buf()?;
            if head.is_empty() {
                return Ok(0);
            }
            // Skippable frames: magic 0x184D2A5?, a 4-byte length, that many bytes.
            if head.len() >= 4 && head[1..4] == [0x2a, 0x4d, 0x18] && head[0] & 0xf0 == 0x50 {
                let mut header = [0u8; 8];
                source.read_exact(&mut header)?;
                let length = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes"));
                std::io::copy(&mut (&mut source).take(length as u64), &mut std::io::sink())?;
                self.source = Some(source);
                continue;
            }
            let frame =
                ruzstd::decoding::StreamingDecoder::new(source).map_err(std::io::Error::other)?;
            self.frame = Some(frame);
        }
    }
}

/// Counts the bytes read through it.
struct Counting<R> {
    inner: R,
    count: u64,
}

impl<R> Counting<R> {
    fn new(inner: R) -> Counting<R> {
        Counting { inner, count: 0 }
    }
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

/// Paths of a Go toolchain, module cache or build cache: never needed at run time.
fn is_toolchain(path: &str) -> bool {
    path.starts_with("usr/local/go/")
        || path.starts_with("usr/lib/go-")
        || path.starts_with("usr/lib/go/")
        || path.starts_with("go/pkg/mod/")
        || path.contains("/go/pkg/mod/")
        || path.contains(".cache/go-build/")
}

/// Files a static Go binary needs besides itself.
fn is_runtime_support(path: &str) -> bool {
    path.starts_with("etc/")
        || path.starts_with("usr/share/zoneinfo/")
        || path.starts_with("usr/share/ca-certificates/")
}

/// Advice about some binaries: what is wrong with one, and with several.
struct PerBinary {
    id: &'static str,
    one: &'static str,
    several: &'static str,
}

const STRIP: PerBinary = PerBinary {
    id: "strip-symbols",
    one: "keeps its symbol table and debug data: build with -ldflags=\"-s -w\"",
    several: "keep their symbol tables and debug data: build with -ldflags=\"-s -w\"",
};
const CGO: PerBinary = PerBinary {
    id: "static-binary",
    one: "is dynamically linked (cgo): CGO_ENABLED=0 gives a static binary that runs on scratch",
    several: "are dynamically linked (cgo): CGO_ENABLED=0 gives static binaries that run on scratch",
};
const PIE: PerBinary = PerBinary {
    id: "static-binary",
    one: "is a position-independent executable (-buildmode=pie) and needs the dynamic loader: build without -buildmode=pie to run on scratch",
    several: "are position-independent executables (-buildmode=pie) and need the dynamic loader: build without -buildmode=pie to run on scratch",
};
const DYNAMIC: PerBinary = PerBinary {
    id: "static-binary",
    one: "is dynamically linked: it needs the C library and loader of its base image",
    several: "are dynamically linked: they need the C library and loader of their base image",
};
const TRIMPATH: PerBinary = PerBinary {
    id: "trimpath",
    one: "was built without -trimpath: it embeds build-machine paths and is not reproducible",
    several: "were built without -trimpath: they embed build-machine paths and are not reproducible",
};

/// One advice line for all `binaries` that `applies` to, with the bytes each would save.
fn per_binary(
    advice: &mut Vec<Advice>,
    kind: &PerBinary,
    binaries: &[FoundBinary],
    applies: impl Fn(&FoundBinary) -> Option<u64>,
) {
    let matching: Vec<(&FoundBinary, u64)> = binaries
        .iter()
        .filter_map(|b| applies(b).map(|saves| (b, saves)))
        .collect();
    let paths: Vec<String> = matching.iter().map(|(b, _)| b.path.clone()).collect();
    let message = match paths.as_slice() {
        [] => return,
        [one] => format!("{one} {}", kind.one),
        [first, second] => format!("{first} and {second} {}", kind.several),
        [first, second, rest @ ..] => format!(
            "{} binaries ({first}, {second} and {} more) {}",
            paths.len(),
            rest.len(),
            kind.several
        ),
    };
    advice.push(Advice {
        id: kind.id,
        message,
        saves: matching.iter().map(|(_, saves)| saves).sum(),
        paths,
    });
}

/// Advice that states only what the image and its binaries show: symbols a binary keeps, why it
/// is dynamic (cgo, `-buildmode=pie`, or nothing the binary says), `-trimpath` only for
/// binaries that record their build settings (Bazel's record none).
fn advise(visible: &BTreeMap<String, u64>, binaries: &[FoundBinary], wasted: u64) -> Vec<Advice> {
    let mut advice = vec![];
    per_binary(&mut advice, &STRIP, binaries, |b| {
        (!b.info.stripped).then_some(b.info.symbol_bytes)
    });
    let toolchain: u64 = visible
        .iter()
        .filter(|(path, _)| is_toolchain(path))
        .map(|(_, size)| size)
        .sum();
    if toolchain > 0 {
        advice.push(Advice {
            id: "drop-toolchain",
            message: "the Go toolchain or module cache is in the final image: build in a separate stage and copy only the binary".into(),
            saves: toolchain,
            paths: vec![],
        });
    }
    if wasted > 0 {
        advice.push(Advice {
            id: "wasted-files",
            message: "files are overwritten or deleted by later layers: create and remove them in the same RUN".into(),
            saves: wasted,
            paths: vec![],
        });
    }
    let all_static = !binaries.is_empty() && binaries.iter().all(|b| !b.info.dynamic);
    if all_static {
        let others: u64 = visible
            .iter()
            .filter(|(path, _)| {
                !is_runtime_support(path)
                    && !is_toolchain(path)
                    && !binaries.iter().any(|b| b.path[1..] == ***path)
            })
            .map(|(_, size)| size)
            .sum();
        if others > 1 << 20 {
            advice.push(Advice {
                id: "smaller-base",
                message: "the Go binaries are static: a scratch or distroless/static base with CA certificates needs none of the other files".into(),
                saves: others,
                paths: vec![],
            });
        }
    }
    let pie = |b: &FoundBinary| b.info.setting("-buildmode") == Some("pie");
    let cgo = |b: &FoundBinary| b.info.setting("CGO_ENABLED") == Some("1");
    per_binary(&mut advice, &CGO, binaries, |b| {
        (b.info.dynamic && cgo(b)).then_some(0)
    });
    per_binary(&mut advice, &PIE, binaries, |b| {
        (b.info.dynamic && !cgo(b) && pie(b)).then_some(0)
    });
    per_binary(&mut advice, &DYNAMIC, binaries, |b| {
        (b.info.dynamic && !cgo(b) && !pie(b)).then_some(0)
    });
    per_binary(&mut advice, &TRIMPATH, binaries, |b| {
        let records_settings =
            b.info.setting("-compiler").is_some() || b.info.setting("GOOS").is_some();
        (records_settings && b.info.setting("-trimpath") != Some("true")).then_some(0)
    });
    advice
}

impl ImageReport {
    /// The JSON form `--format json` prints.
    pub fn to_json(&self) -> Value {
        json!({
            "platform": self.platform.to_string(),
            "manifest": self.manifest.as_ref().map(Digest::to_string),
            "compressed_bytes": self.compressed,
            "uncompressed_bytes": self.uncompressed,
            "content_bytes": self.content_bytes,
            "wasted_bytes": self.wasted_bytes,
            "efficiency": self.efficiency,
            "layers": self.layers.iter().map(|layer| json!({
                "digest": layer.digest.as_ref().map(Digest::to_string),
                "compressed_bytes": layer.compressed,
                "uncompressed_bytes": layer.uncompressed,
                "created_by": layer.created_by,
                "files": layer.files,
                "file_bytes": layer.file_bytes,
                "added": layer.added,
                "changed": layer.changed,
                "removed": layer.removed,
            })).collect::<Vec<_>>(),
            "go_binaries": self.binaries.iter().map(binary_json).collect::<Vec<_>>(),
            "advice": self.advice.iter().map(|advice| json!({
                "id": advice.id,
                "message": advice.message,
                "saves_bytes": advice.saves,
                "paths": advice.paths,
            })).collect::<Vec<_>>(),
        })
    }
}

fn module_json(module: &gobinary::Module) -> Value {
    json!({
        "path": module.path,
        "version": module.version,
        "sum": module.sum,
        "replacement": module.replacement.as_deref().map(module_json),
    })
}

fn binary_json(binary: &FoundBinary) -> Value {
    let info = &binary.info;
    json!({
        "path": binary.path,
        "size": binary.size,
        "go_version": info.go_version,
        "package": info.path,
        "main_module": info.main.as_ref().map(module_json),
        "deps": info.deps.iter().map(module_json).collect::<Vec<_>>(),
        "settings": info.settings.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
        "goarch": info.arch,
        "cgo_enabled": info.setting("CGO_ENABLED"),
        "trimpath": info.setting("-trimpath") == Some("true"),
        "ldflags": info.setting("-ldflags"),
        "vcs_revision": info.setting("vcs.revision"),
        "vcs_time": info.setting("vcs.time"),
        "stripped": info.stripped,
        "linking": if info.dynamic { "dynamic" } else { "static" },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binary(path: &str, dynamic: bool) -> FoundBinary {
        let mut info =
            gobinary::parse_modinfo("path\texample.com/svc\nbuild\t-trimpath=true\n").unwrap();
        info.stripped = true;
        info.dynamic = dynamic;
        FoundBinary {
            path: format!("/{path}"),
            size: 8 << 20,
            info,
        }
    }

    #[test]
    fn zstd_layers_of_several_frames_decompress() {
        use ruzstd::encoding::{CompressionLevel, compress_to_vec};
        let first = b"the first frame, ".repeat(100);
        let second = b"and the second".repeat(100);
        let mut stream = compress_to_vec(&first[..], CompressionLevel::Fastest);
        // A skippable frame between them, as zstd:chunked layers carry.
        stream.extend_from_slice(&[0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 9, 9, 9]);
        stream.extend(compress_to_vec(&second[..], CompressionLevel::Fastest));
        let mut out = vec![];
        decompress(Box::new(std::io::Cursor::new(stream)), "test")
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, [first, second].concat());
    }

    #[test]
    fn whiteouts_and_overwrites_count_as_waste() {
        let mut fs = FileSystem::default();
        assert!(!fs.write("app/data/a", 100));
        assert!(!fs.write("app/data/sub/b", 50));
        assert!(!fs.write("app/keep", 7));
        assert!(fs.write("app/keep", 9));
        assert_eq!(fs.remove("app/data/", Some("app/data")), 2);
        assert_eq!(fs.wasted, 7 + 100 + 50);
        assert_eq!(fs.visible.keys().collect::<Vec<_>>(), ["app/keep"]);
        assert_eq!(fs.remove("app/datastore/", Some("app/datastore")), 0);
    }

    #[test]
    fn a_hard_link_keeps_the_content_and_the_binary_when_the_first_name_goes() {
        let mut fs = FileSystem::default();
        fs.write("usr/bin/tool", 2_300_000);
        fs.binaries
            .insert("usr/bin/tool".into(), binary("usr/bin/tool", false));
        assert!(!fs.link("usr/bin/tool-alias", "usr/bin/tool"));
        assert_eq!(fs.sizes().values().sum::<u64>(), 2_300_000);
        // A later layer deletes the first name: the bytes are still there under the second.
        assert_eq!(fs.remove("usr/bin/tool/", Some("usr/bin/tool")), 1);
        assert_eq!(fs.wasted, 0);
        assert_eq!(fs.sizes().values().sum::<u64>(), 2_300_000);
        let found: Vec<&str> = fs.binaries.values().map(|b| b.path.as_str()).collect();
        assert_eq!(found, ["/usr/bin/tool-alias"]);
        // Deleting the last name wastes them.
        fs.remove("usr/bin/tool-alias/", Some("usr/bin/tool-alias"));
        assert_eq!(fs.wasted, 2_300_000);
        assert!(fs.binaries.is_empty());
    }

    fn with_settings(path: &str, settings: &str, dynamic: bool, stripped: bool) -> FoundBinary {
        let mut found = binary(path, dynamic);
        found.info =
            gobinary::parse_modinfo(&format!("path\texample.com/svc\n{settings}")).unwrap();
        found.info.dynamic = dynamic;
        found.info.stripped = stripped;
        found
    }

    #[test]
    fn advice_says_only_what_the_binary_shows_and_collapses_repeats() {
        let visible = BTreeMap::new();
        let messages = |binaries: &[FoundBinary]| -> Vec<String> {
            advise(&visible, binaries, 0)
                .iter()
                .map(|a| format!("[{}] {}", a.id, a.message))
                .collect()
        };
        // -buildmode=pie without cgo: the loader, not cgo, is why it is dynamic.
        let pie = with_settings(
            "app/pie",
            "build\t-buildmode=pie\nbuild\t-compiler=gc\nbuild\t-trimpath=true\nbuild\tCGO_ENABLED=0\n",
            true,
            true,
        );
        assert_eq!(
            messages(&[pie]),
            [
                "[static-binary] /app/pie is a position-independent executable (-buildmode=pie) and needs the dynamic loader: build without -buildmode=pie to run on scratch"
            ]
        );
        // Bazel records no build settings: nothing to say about -trimpath or cgo's part.
        let bazel = with_settings("app/bazel", "", true, true);
        assert_eq!(
            messages(&[bazel]),
            [
                "[static-binary] /app/bazel is dynamically linked: it needs the C library and loader of its base image"
            ]
        );
        // A toolchain image: twenty unstripped binaries are one line with a count.
        let tools: Vec<FoundBinary> = (0..20)
            .map(|i| {
                with_settings(
                    &format!("usr/local/go/pkg/tool/linux_amd64/t{i:02}"),
                    "build\t-compiler=gc\nbuild\tCGO_ENABLED=1\n",
                    false,
                    false,
                )
            })
            .collect();
        let advice = advise(&visible, &tools, 0);
        assert_eq!(advice.len(), 2, "{advice:?}");
        assert_eq!(
            advice[0].message,
            "20 binaries (/usr/local/go/pkg/tool/linux_amd64/t00, /usr/local/go/pkg/tool/linux_amd64/t01 and 18 more) keep their symbol tables and debug data: build with -ldflags=\"-s -w\""
        );
        assert_eq!(advice[1].id, "trimpath");
        assert_eq!(advice[1].paths.len(), 20);
    }

    #[test]
    fn advice_names_the_toolchain_a_smaller_base_and_cgo() {
        let visible = BTreeMap::from([
            ("usr/local/go/bin/go".to_owned(), 60 << 20),
            ("usr/local/go/src/fmt/print.go".to_owned(), 1 << 20),
            ("bin/busybox".to_owned(), 2 << 20),
            ("etc/ssl/certs/ca-certificates.crt".to_owned(), 200_000),
            ("app/svc".to_owned(), 8 << 20),
        ]);
        let advice = advise(&visible, &[binary("app/svc", false)], 0);
        let found: Vec<(&str, u64)> = advice.iter().map(|a| (a.id, a.saves)).collect();
        assert_eq!(
            found,
            [("drop-toolchain", 61 << 20), ("smaller-base", 2 << 20)]
        );
        let advice = advise(&visible, &[binary("app/svc", true)], 5);
        let ids: Vec<&str> = advice.iter().map(|a| a.id).collect();
        assert_eq!(ids, ["drop-toolchain", "wasted-files", "static-binary"]);
    }
}
