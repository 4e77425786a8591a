//! Parses a request's method, path and query under `/v2/` into an `Endpoint`, and says which
//! scope each endpoint needs.
//!
//! Repository names contain `/`, so the API cannot be routed segment by segment; like Garage's
//! S3 router, one catch-all route feeds this parser, which looks for the endpoint's keyword from
//! the right (a reference or digest never contains `/`, a name may contain `manifests`). A
//! method the path does not take is refused here, before authentication. Query values are kept
//! as written: they are checked by the handler, after the request is authorized.

use axum::http::Method;
use percent_encoding::percent_decode_str;

use crate::auth::{Action, Need};
use crate::oci::digest::Digest;
use crate::oci::names::{Reference, validate_name};
use crate::registry::{self, Error};

/// What follows `/manifests/`: a reference, or text that cannot be one. A request with the
/// latter is authorized like any manifest request: only then does a `GET` learn that there is
/// no such manifest, and a `PUT` that the tag is invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestReference {
    Valid(Reference),
    Invalid(String),
}

/// One operation of the OCI Distribution API, with its validated path parameters and its query
/// parameters as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `GET|HEAD /v2/`
    Base,
    /// `GET /v2/_catalog?n=&last=`
    Catalog {
        n: Option<String>,
        last: Option<String>,
    },
    /// `GET /v2/<name>/tags/list?n=&last=`
    ListTags {
        name: String,
        n: Option<String>,
        last: Option<String>,
    },
    /// `GET|HEAD /v2/<name>/manifests/<reference>`
    GetManifest {
        name: String,
        reference: ManifestReference,
        head: bool,
    },
    /// `PUT /v2/<name>/manifests/<reference>`
    PutManifest {
        name: String,
        reference: ManifestReference,
    },
    /// `DELETE /v2/<name>/manifests/<reference>`
    DeleteManifest {
        name: String,
        reference: ManifestReference,
    },
    /// `GET /v2/<name>/referrers/<digest>?artifactType=`
    Referrers {
        name: String,
        digest: Digest,
        artifact_type: Option<String>,
    },
    /// `GET|HEAD /v2/<name>/blobs/<digest>`
    GetBlob {
        name: String,
        digest: Digest,
        head: bool,
    },
    /// `DELETE /v2/<name>/blobs/<digest>`
    DeleteBlob { name: String, digest: Digest },
    /// `POST /v2/<name>/blobs/uploads/?mount=&from=&digest=`
    StartUpload {
        name: String,
        mount: Option<String>,
        from: Option<String>,
        digest: Option<String>,
    },
    /// `GET /v2/<name>/blobs/uploads/<id>`
    UploadStatus { name: String, id: String },
    /// `PATCH /v2/<name>/blobs/uploads/<id>`
    PatchUpload { name: String, id: String },
    /// `PUT /v2/<name>/blobs/uploads/<id>?digest=`
    FinishUpload {
        name: String,
        id: String,
        digest: Option<String>,
    },
    /// `DELETE /v2/<name>/blobs/uploads/<id>`
    CancelUpload { name: String, id: String },
}

/// Why a request is not an endpoint.
#[derive(Debug)]
pub enum ParseError {
    /// No endpoint has this path.
    NotFound,
    /// The path is right but a parameter is invalid.
    Invalid(registry::Error),
    /// The path exists but does not take this method.
    MethodNotAllowed,
}

/// The decoded query string.
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(query: Option<&str>) -> Query {
        Query(
            form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .into_owned()
                .collect(),
        )
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated parameter, in order.
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The shape of a `/v2` path, before the method picks the operation.
enum Path {
    Base,
    Catalog,
    Tags(String),
    Manifest(String, ManifestReference),
    Blob(String, Digest),
    Uploads(String),
    Upload(String, String),
    Referrers(String, Digest),
}

impl Endpoint {
    /// Parses a request such as `PUT /v2/team/app/manifests/v1`.
    pub fn parse(method: &Method, path: &str, query: &Query) -> Result<Endpoint, ParseError> {
        let value = |key: &str| query.get(key).map(str::to_owned);
        let head = method == Method::HEAD;
        let read = method == Method::GET || head;
        Ok(match (parse_path(path)?, method) {
            (Path::Base, _) if read => Endpoint::Base,
            (Path::Catalog, &Method::GET) => Endpoint::Catalog {
                n: value("n"),
                last: value("last"),
            },
            (Path::Tags(name), &Method::GET) => Endpoint::ListTags {
                name,
                n: value("n"),
                last: value("last"),
            },
            (Path::Manifest(name, reference), _) if read => Endpoint::GetManifest {
                name,
                reference,
                head,
            },
            (Path::Manifest(name, reference), &Method::PUT) => {
                Endpoint::PutManifest { name, reference }
            }
            (Path::Manifest(name, reference), &Method::DELETE) => {
                Endpoint::DeleteManifest { name, reference }
            }
            (Path::Referrers(name, digest), &Method::GET) => Endpoint::Referrers {
                name,
                digest,
                artifact_type: value("artifactType"),
            },
            (Path::Blob(name, digest), _) if read => Endpoint::GetBlob { name, digest, head },
            (Path::Blob(name, digest), &Method::DELETE) => Endpoint::DeleteBlob { name, digest },
            (Path::Uploads(name), &Method::POST) => Endpoint::StartUpload {
                name,
                mount: value("mount"),
                from: value("from"),
                digest: value("digest"),
            },
            (Path::Upload(name, id), &Method::GET) => Endpoint::UploadStatus { name, id },
            (Path::Upload(name, id), &Method::PATCH) => Endpoint::PatchUpload { name, id },
            (Path::Upload(name, id), &Method::PUT) => Endpoint::FinishUpload {
                name,
                id,
                digest: value("digest"),
            },
            (Path::Upload(name, id), &Method::DELETE) => Endpoint::CancelUpload { name, id },
            _ => return Err(ParseError::MethodNotAllowed),
        })
    }

    /// The scope the request needs: reads need `pull`, deletes `delete`, and everything that
    /// writes `push` (every request on an upload session is part of a push, even a status GET).
    pub fn need(&self) -> Need {
        let repository = |name: &str, action| Need::Repository {
            name: name.to_owned(),
            action,
        };
        match self {
            Endpoint::Base => Need::Base,
            Endpoint::Catalog { .. } => Need::Catalog,
            Endpoint::ListTags { name, .. }
            | Endpoint::GetManifest { name, .. }
            | Endpoint::Referrers { name, .. }
            | Endpoint::GetBlob { name, .. } => repository(name, Action::Pull),
            Endpoint::DeleteManifest { name, .. } | Endpoint::DeleteBlob { name, .. } => {
                repository(name, Action::Delete)
            }
            Endpoint::PutManifest { name, .. }
            | Endpoint::StartUpload { name, .. }
            | Endpoint::UploadStatus { name, .. }
            | Endpoint::PatchUpload { name, .. }
            | Endpoint::FinishUpload { name, .. }
            | Endpoint::CancelUpload { name, .. } => repository(name, Action::Push),
        }
    }

    /// A low-cardinality label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Endpoint::Base => "base",
            Endpoint::Catalog { .. } => "catalog",
            Endpoint::ListTags { .. } => "tags",
            Endpoint::GetManifest { .. }
            | Endpoint::PutManifest { .. }
            | Endpoint::DeleteManifest { .. } => "manifest",
            Endpoint::GetBlob { .. } | Endpoint::DeleteBlob { .. } => "blob",
            Endpoint::StartUpload { .. }
            | Endpoint::UploadStatus { .. }
            | Endpoint::PatchUpload { .. }
            | Endpoint::FinishUpload { .. }
            | Endpoint::CancelUpload { .. } => "upload",
            Endpoint::Referrers { .. } => "referrers",
        }
    }
}

/// The shape of a full request path such as `/v2/team/app/manifests/v1`.
fn parse_path(path: &str) -> Result<Path, ParseError> {
    let decoded = percent_decode_str(path)
        .decode_utf8()
        .map_err(|_| ParseError::NotFound)?;
    let rest = match decoded.strip_prefix("/v2") {
        Some("" | "/") => return Ok(Path::Base),
        Some(rest) => rest.strip_prefix('/').ok_or(ParseError::NotFound)?,
        None => return Err(ParseError::NotFound),
    };
    if rest == "_catalog" {
        return Ok(Path::Catalog);
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
        return Ok(Path::Tags(name(prefix)?));
    }
    if let Some(prefix) = rest
        .strip_suffix("/blobs/uploads/")
        .or(rest.strip_suffix("/blobs/uploads"))
    {
        return Ok(Path::Uploads(name(prefix)?));
    }
    let (prefix, last) = rest.rsplit_once('/').ok_or(ParseError::NotFound)?;
    if let Some(prefix) = prefix.strip_suffix("/blobs/uploads") {
        return Ok(Path::Upload(name(prefix)?, last.to_owned()));
    }
    if let Some(prefix) = prefix.strip_suffix("/manifests") {
        let reference = match last.parse() {
            Ok(reference) => ManifestReference::Valid(reference),
            Err(_) => ManifestReference::Invalid(last.to_owned()),
        };
        return Ok(Path::Manifest(name(prefix)?, reference));
    }
    if let Some(prefix) = prefix.strip_suffix("/blobs") {
        return Ok(Path::Blob(name(prefix)?, digest(last)?));
    }
    if let Some(prefix) = prefix.strip_suffix("/referrers") {
        return Ok(Path::Referrers(name(prefix)?, digest(last)?));
    }
    Err(ParseError::NotFound)
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    /// `METHOD path?query` → the endpoint and the scope it needs, or why it is refused.
    #[track_caller]
    fn check(request: &str, expect: Expect) {
        let (method, target) = request.split_once(' ').unwrap();
        let (path, query) = match target.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (target, None),
        };
        let method: Method = method.parse().unwrap();
        let short = |text: String| {
            text.replace(
                &format!("Digest {{ algorithm: Sha256, hex: \"{}\" }}", &D[7..]),
                "D",
            )
            .replace(D, "D")
        };
        let actual = match Endpoint::parse(&method, path, &Query::parse(query)) {
            Ok(endpoint) => short(format!("{endpoint:?} => {:?}", endpoint.need())),
            Err(ParseError::NotFound) => "NotFound".to_owned(),
            Err(ParseError::MethodNotAllowed) => "MethodNotAllowed".to_owned(),
            Err(ParseError::Invalid(e)) => format!("Invalid({e})"),
        };
        expect.assert_eq(&actual);
    }

    #[test]
    fn every_endpoint_parses_with_its_scope() {
        check("GET /v2/", expect![["Base => Base"]]);
        check("HEAD /v2", expect![["Base => Base"]]);
        check(
            "GET /v2/_catalog?n=10&last=a",
            expect![[r#"Catalog { n: Some("10"), last: Some("a") } => Catalog"#]],
        );
        check(
            "GET /v2/team/app/tags/list",
            expect![[
                r#"ListTags { name: "team/app", n: None, last: None } => Repository { name: "team/app", action: Pull }"#
            ]],
        );
        check(
            "GET /v2/team/app/manifests/v1.4",
            expect![[
                r#"GetManifest { name: "team/app", reference: Valid(Tag("v1.4")), head: false } => Repository { name: "team/app", action: Pull }"#
            ]],
        );
        check(
            "HEAD /v2/a/manifests/manifests/latest",
            expect![[
                r#"GetManifest { name: "a/manifests", reference: Valid(Tag("latest")), head: true } => Repository { name: "a/manifests", action: Pull }"#
            ]],
        );
        check(
            "PUT /v2/a/manifests/v1",
            expect![[
                r#"PutManifest { name: "a", reference: Valid(Tag("v1")) } => Repository { name: "a", action: Push }"#
            ]],
        );
        check(
            &format!("DELETE /v2/a/manifests/{D}"),
            expect![[
                r#"DeleteManifest { name: "a", reference: Valid(Digest(D)) } => Repository { name: "a", action: Delete }"#
            ]],
        );
        check(
            "PUT /v2/a/manifests/-bad",
            expect![[
                r#"PutManifest { name: "a", reference: Invalid("-bad") } => Repository { name: "a", action: Push }"#
            ]],
        );
        check(
            "GET /v2/a/manifests/sha256:12",
            expect![[
                r#"GetManifest { name: "a", reference: Invalid("sha256:12"), head: false } => Repository { name: "a", action: Pull }"#
            ]],
        );
        check(
            &format!("GET /v2/a/referrers/{D}?artifactType=application/spdx%2Bjson"),
            expect![[
                r#"Referrers { name: "a", digest: D, artifact_type: Some("application/spdx+json") } => Repository { name: "a", action: Pull }"#
            ]],
        );
        check(
            &format!("HEAD /v2/a/blobs/{}", D.replace(':', "%3A")),
            expect![[
                r#"GetBlob { name: "a", digest: D, head: true } => Repository { name: "a", action: Pull }"#
            ]],
        );
        check(
            &format!("DELETE /v2/a/blobs/{D}"),
            expect![[
                r#"DeleteBlob { name: "a", digest: D } => Repository { name: "a", action: Delete }"#
            ]],
        );
        check(
            &format!("POST /v2/a/b/blobs/uploads/?mount={D}&from=c/d"),
            expect![[
                r#"StartUpload { name: "a/b", mount: Some("D"), from: Some("c/d"), digest: None } => Repository { name: "a/b", action: Push }"#
            ]],
        );
        check(
            "POST /v2/a/b/blobs/uploads",
            expect![[
                r#"StartUpload { name: "a/b", mount: None, from: None, digest: None } => Repository { name: "a/b", action: Push }"#
            ]],
        );
        check(
            "GET /v2/a/b/blobs/uploads/0f-1",
            expect![[
                r#"UploadStatus { name: "a/b", id: "0f-1" } => Repository { name: "a/b", action: Push }"#
            ]],
        );
        check(
            "PATCH /v2/a/blobs/uploads/0f-1",
            expect![[
                r#"PatchUpload { name: "a", id: "0f-1" } => Repository { name: "a", action: Push }"#
            ]],
        );
        check(
            "PUT /v2/a/blobs/uploads/0f-1?digest=x",
            expect![[
                r#"FinishUpload { name: "a", id: "0f-1", digest: Some("x") } => Repository { name: "a", action: Push }"#
            ]],
        );
        check(
            "DELETE /v2/a/blobs/uploads/0f-1",
            expect![[
                r#"CancelUpload { name: "a", id: "0f-1" } => Repository { name: "a", action: Push }"#
            ]],
        );
    }

    #[test]
    fn bad_requests_are_refused_before_authorization() {
        check("GET /v3/a/tags/list", expect![["NotFound"]]);
        check("GET /v2/a", expect![["NotFound"]]);
        check("GET /v2/a/unknown/x", expect![["NotFound"]]);
        check(
            "GET /v2/Team/tags/list",
            expect![[r#"Invalid(invalid repository name "Team")"#]],
        );
        check(
            "GET /v2/a/blobs/latest",
            expect![[r#"Invalid(invalid digest "latest")"#]],
        );
        check("POST /v2/a/manifests/v1", expect![["MethodNotAllowed"]]);
        check("PUT /v2/a/tags/list", expect![["MethodNotAllowed"]]);
        check("DELETE /v2/_catalog", expect![["MethodNotAllowed"]]);
        check("PATCH /v2/a/blobs/uploads/", expect![["MethodNotAllowed"]]);
        check(
            &format!("POST /v2/a/referrers/{D}"),
            expect![["MethodNotAllowed"]],
        );
        check("POST /v2/", expect![["MethodNotAllowed"]]);
    }
}
