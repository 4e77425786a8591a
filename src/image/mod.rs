//! OCI images outside the server: references, a registry client with Docker's credentials, and
//! image layouts. `berth build` writes images through it and `berth analyze` reads them; neither
//! needs a running berth, any OCI registry will do.
//!
//! Architecture invariant: nothing here knows about berth's stores; this is a client of the
//! OCI Distribution API like any other.

pub mod client;
pub mod credentials;
pub mod layout;
pub mod push;
pub mod reference;

use std::io::{self, Read, Write};

use crate::oci::digest::{Algorithm, Digest, Hasher};
use crate::oci::spec::{self, Descriptor};

pub use client::Client;
pub use layout::Layout;
pub use reference::Reference;

/// OCI and Docker media types berth writes or reads (the manifest types are the registry's).
pub use crate::oci::media;

/// Everything that can go wrong talking to a registry or reading and writing image files.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a local file.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    /// The registry could not be reached.
    #[error("{url}: {source}")]
    Http {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The registry answered with an error (its OCI error body, when it sent one).
    #[error("{method} {url}: {status}: {message}")]
    Registry {
        method: String,
        url: String,
        status: u16,
        message: String,
    },
    /// Credentials were needed and refused, or none were found.
    #[error("{registry}: authentication failed: {message}")]
    Auth { registry: String, message: String },
    /// An image reference that does not parse.
    #[error("invalid image reference {0:?}")]
    Reference(String),
    /// A manifest, index or config that is not what the OCI image spec describes.
    #[error("{0}")]
    Invalid(String),
    /// Content whose digest is not the one it was fetched by.
    #[error("{what}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: Digest,
        actual: Digest,
    },
    /// The image has no manifest for the platform asked for.
    #[error("{reference}: no image for platform {platform}")]
    NoPlatform { reference: String, platform: String },
}

impl Error {
    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}

/// The digest a descriptor names, as berth verifies it.
pub fn digest(descriptor: &Descriptor) -> Result<Digest, Error> {
    spec::digest_of(descriptor).map_err(|e| Error::Invalid(e.to_string()))
}

/// A writer that hashes (SHA-256) and counts what passes through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Hasher,
    written: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> HashingWriter<W> {
        HashingWriter {
            inner,
            hasher: Hasher::new(Algorithm::Sha256),
            written: 0,
        }
    }

    /// The inner writer, the digest and the byte count of everything written.
    pub fn finish(self) -> (W, Digest, u64) {
        (self.inner, self.hasher.finish(), self.written)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that checks, when its source ends, that what it read has the expected digest; a
/// mismatch is an `InvalidData` error instead of the end of the stream, so nothing read from an
/// untrusted source counts unless it is what it claims to be.
pub struct Verifying<R> {
    inner: R,
    hasher: Hasher,
    expected: Digest,
}

impl<R: Read> Verifying<R> {
    pub fn new(inner: R, expected: Digest) -> Verifying<R> {
        Verifying {
            inner,
            hasher: Hasher::new(expected.algorithm()),
            expected,
        }
    }
}

impl<R: Read> Read for Verifying<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 || buf.is_empty() {
            self.hasher.update(&buf[..n]);
            return Ok(n);
        }
        let actual = self.hasher.clone().finish();
        if actual != self.expected {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("digest mismatch: expected {}, got {actual}", self.expected),
            ));
        }
        Ok(0)
    }
}

/// The `linux/amd64`-style platform of an image.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    /// Parses `os/arch[/variant]`.
    pub fn parse(text: &str) -> Result<Platform, Error> {
        let mut parts = text.trim().split('/');
        let (Some(os), Some(architecture)) = (parts.next(), parts.next()) else {
            return Err(Error::Invalid(format!(
                "invalid platform {text:?}: expected os/arch[/variant]"
            )));
        };
        let variant = parts.next().map(str::to_owned);
        if os.is_empty() || architecture.is_empty() || parts.next().is_some() {
            return Err(Error::Invalid(format!("invalid platform {text:?}")));
        }
        Ok(Platform {
            os: os.to_owned(),
            architecture: architecture.to_owned(),
            variant,
        })
    }

    /// The platform of the machine berth runs on.
    pub fn host() -> Platform {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            "riscv64" => "riscv64",
            "s390x" => "s390x",
            other => other,
        };
        Platform {
            os: "linux".into(),
            architecture: architecture.into(),
            variant: None,
        }
    }

    /// The `platform` of an index entry.
    pub fn from_spec(platform: &spec::Platform) -> Platform {
        Platform {
            os: platform.os().to_string(),
            architecture: platform.architecture().to_string(),
            variant: platform.variant().clone(),
        }
    }

    /// The `platform` of an index entry for this platform.
    pub fn to_spec(&self) -> spec::Platform {
        let mut platform = spec::Platform::default();
        platform.set_os(self.os.as_str().into());
        platform.set_architecture(self.architecture.as_str().into());
        platform.set_variant(self.variant.clone());
        platform
    }

    /// Reads the fields of an image config.
    pub fn from_json(value: &serde_json::Value) -> Option<Platform> {
        Some(Platform {
            os: value["os"].as_str()?.to_owned(),
            architecture: value["architecture"].as_str()?.to_owned(),
            variant: value["variant"].as_str().map(str::to_owned),
        })
    }

    /// Whether an image of platform `other` runs here; a missing variant matches any.
    pub fn matches(&self, other: &Platform) -> bool {
        self.os == other.os
            && self.architecture == other.architecture
            && (self.variant.is_none() || other.variant.is_none() || self.variant == other.variant)
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifying_reader_fails_at_the_end_of_wrong_content() {
        let digest = Digest::of(Algorithm::Sha256, b"layer");
        let mut good = Verifying::new(&b"layer"[..], digest.clone());
        let mut out = vec![];
        good.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"layer");
        let mut bad = Verifying::new(&b"other"[..], digest);
        let err = bad.read_to_end(&mut vec![]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
