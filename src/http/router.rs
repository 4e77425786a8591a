//! Parses a request path under `/v2/` into an `Endpoint`.
//!
//! Repository names contain `/`, so the API cannot be routed segment by segment; like Garage's
//! S3 router, one catch-all route feeds this parser, which looks for the endpoint's keyword from
//! the right (a reference or digest never contains `/`, a name may contain `manifests`).

use percent_encoding::percent_decode_str;

use crate::oci::digest::Digest;
use crate::oci::names::{Reference, validate_name};
use crate::registry::{self, Error};

/// One endpoint of the OCI Distribution API, with its validated path parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `/v2/`
    Base,
    /// `/v2/_catalog`
    Catalog,
    /// `/v2/<name>/tags/list`
    Tags { name: String },
    /// `/v2/<name>/manifests/<reference>`
    Manifest { name: String, reference: Reference },
    /// `/v2/<name>/manifests/<reference>` with a reference that is neither a valid tag nor a
    /// digest. It is authorized like any manifest request: only then does a `GET` learn that
    /// there is no such manifest, and a `PUT` that the tag is invalid.
    ManifestInvalid { name: String, reference: String },
    /// `/v2/<name>/blobs/<digest>`
    Blob { name: String, digest: Digest },
    /// `/v2/<name>/blobs/uploads/`
    Uploads { name: String },
    /// `/v2/<name>/blobs/uploads/<id>`
    Upload { name: String, id: String },
    /// `/v2/<name>/referrers/<digest>`
    Referrers { name: String, digest: Digest },
}

/// Why a path is not an endpoint.
#[derive(Debug)]
pub enum ParseError {
    /// No endpoint has this shape.
    NotFound,
    /// The shape is right but a parameter is invalid.
    Invalid(registry::Error),
}

impl Endpoint {
    /// Parses a full request path such as `/v2/team/app/manifests/v1`.
    pub fn parse(path: &str) -> Result<Endpoint, ParseError> {
        let decoded = percent_decode_str(path)
            .decode_utf8()
            .map_err(|_| ParseError::NotFound)?;
        let rest = match decoded.strip_prefix("/v2") {
            Some("" | "/") => return Ok(Endpoint::Base),
            Some(rest) => rest.strip_prefix('/').ok_or(ParseError::NotFound)?,
            None => return Err(ParseError::NotFound),
        };
        if rest == "_catalog" {
            return Ok(Endpoint::Catalog);
        }
        let invalid = ParseError::Invalid;
        let name = |name: &str| {
            validate_name(name)
                .map(|()| name.to_owned())
                .map_err(|e| invalid(e.into()))
        };
        let digest = |text: &str| {
            text.parse::<Digest>()
                .map_err(|_| invalid(Error::DigestInvalid(text.into())))
        };

        if let Some(prefix) = rest.strip_suffix("/tags/list") {
            return Ok(Endpoint::Tags {
                name: name(prefix)?,
            });
        }
        if let Some(prefix) = rest
            .strip_suffix("/blobs/uploads/")
            .or(rest.strip_suffix("/blobs/uploads"))
        {
            return Ok(Endpoint::Uploads {
                name: name(prefix)?,
            });
        }
        let (prefix, last) = rest.rsplit_once('/').ok_or(ParseError::NotFound)?;
        if let Some(prefix) = prefix.strip_suffix("/blobs/uploads") {
            return Ok(Endpoint::Upload {
                name: name(prefix)?,
                id: last.to_owned(),
            });
        }
        if let Some(prefix) = prefix.strip_suffix("/manifests") {
            let name = name(prefix)?;
            return Ok(match last.parse() {
                Ok(reference) => Endpoint::Manifest { name, reference },
                Err(_) => Endpoint::ManifestInvalid {
                    name,
                    reference: last.to_owned(),
                },
            });
        }
        if let Some(prefix) = prefix.strip_suffix("/blobs") {
            return Ok(Endpoint::Blob {
                name: name(prefix)?,
                digest: digest(last)?,
            });
        }
        if let Some(prefix) = prefix.strip_suffix("/referrers") {
            return Ok(Endpoint::Referrers {
                name: name(prefix)?,
                digest: digest(last)?,
            });
        }
        Err(ParseError::NotFound)
    }

    /// A low-cardinality label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Endpoint::Base => "base",
            Endpoint::Catalog => "catalog",
            Endpoint::Tags { .. } => "tags",
            Endpoint::Manifest { .. } | Endpoint::ManifestInvalid { .. } => "manifest",
            Endpoint::Blob { .. } => "blob",
            Endpoint::Uploads { .. } | Endpoint::Upload { .. } => "upload",
            Endpoint::Referrers { .. } => "referrers",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[track_caller]
    fn check(path: &str, expect: &str) {
        let actual = match Endpoint::parse(path) {
            Ok(endpoint) => format!("{endpoint:?}"),
            Err(ParseError::NotFound) => "NotFound".to_owned(),
            Err(ParseError::Invalid(e)) => format!("Invalid({e})"),
        };
        assert_eq!(actual, expect, "{path}");
    }

    #[test]
    fn paths_parse_into_endpoints() {
        check("/v2/", "Base");
        check("/v2", "Base");
        check("/v2/_catalog", "Catalog");
        check("/v2/team/app/tags/list", r#"Tags { name: "team/app" }"#);
        check(
            "/v2/team/app/manifests/v1.4",
            r#"Manifest { name: "team/app", reference: Tag("v1.4") }"#,
        );
        check(
            "/v2/a/manifests/manifests/latest",
            r#"Manifest { name: "a/manifests", reference: Tag("latest") }"#,
        );
        check(
            &format!("/v2/a/blobs/{D}"),
            &format!(
                r#"Blob {{ name: "a", digest: Digest {{ algorithm: Sha256, hex: "{}" }} }}"#,
                &D[7..]
            ),
        );
        check(
            &format!("/v2/a/blobs/{}", D.replace(':', "%3A")),
            &format!(
                r#"Blob {{ name: "a", digest: Digest {{ algorithm: Sha256, hex: "{}" }} }}"#,
                &D[7..]
            ),
        );
        check("/v2/a/b/blobs/uploads/", r#"Uploads { name: "a/b" }"#);
        check(
            "/v2/a/b/blobs/uploads/0f-1",
            r#"Upload { name: "a/b", id: "0f-1" }"#,
        );
        check(
            &format!("/v2/a/referrers/{D}"),
            &format!(
                r#"Referrers {{ name: "a", digest: Digest {{ algorithm: Sha256, hex: "{}" }} }}"#,
                &D[7..]
            ),
        );
    }

    #[test]
    fn bad_paths_are_refused() {
        check("/v3/a/tags/list", "NotFound");
        check("/v2/a", "NotFound");
        check("/v2/a/unknown/x", "NotFound");
        check(
            "/v2/Team/tags/list",
            r#"Invalid(invalid repository name "Team")"#,
        );
        check(
            "/v2/a/manifests/-bad",
            r#"ManifestInvalid { name: "a", reference: "-bad" }"#,
        );
        check(
            "/v2/a/manifests/sha256:12",
            r#"ManifestInvalid { name: "a", reference: "sha256:12" }"#,
        );
        check("/v2/a/blobs/latest", r#"Invalid(invalid digest "latest")"#);
    }
}
