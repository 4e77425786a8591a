//! An SPDX 2.3 JSON document of what the image's Go binaries are made of, from their build
//! information. Each binary is a file (with its SHA-1 and SHA-256, as SPDX asks of files) generated
//! from its own application package (the main package, at the release version when the build
//! carries none); that package depends on the Go standard library and every module it was built
//! with, each module once per document, with a `pkg:golang` package URL so scanners match them
//! against the Go vulnerability database. A module replaced by another is described as the
//! replacement (whose code it is); one replaced by a local directory has no version or package
//! URL, since no published version is in the binary. Go's `h1:` sums hash a module's file tree,
//! not a file, so they are kept as annotations, not as SPDX checksums. The document's time is
//! the build's source date, so it is as reproducible as the image.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::analyze::gobinary::{GoBinary, Module};

/// A Go binary as it ships in the image.
#[derive(Debug, Clone)]
pub struct ShippedBinary {
    /// Where it is in the image: `/app/hello`.
    pub path: String,
    /// Hex digests of the file.
    pub sha1: String,
    pub sha256: String,
    pub info: GoBinary,
}

const TOOL: &str = concat!("Tool: berth-", env!("CARGO_PKG_VERSION"));

/// The SPDX document for the Go `binaries` of the image `image` (name and digest). `release` is
/// the version the build was tagged with (`v1.4.0`), for main modules that say `(devel)`.
pub fn spdx(
    binaries: &[ShippedBinary],
    image: &str,
    created: &str,
    release: Option<&str>,
) -> Value {
    let mut document = Document {
        created,
        packages: vec![],
        files: vec![],
        relationships: vec![],
        modules: HashMap::new(),
    };
    for (n, binary) in binaries.iter().enumerate() {
        let info = &binary.info;
        let app_id = format!("SPDXRef-Application-{}", n + 1);
        let file_id = format!("SPDXRef-File-{}", n + 1);
        let module = info.main.as_ref();
        let module_path = module.map_or(info.path.as_str(), |m| m.path.as_str());
        let version = module
            .map(|m| m.version.as_str())
            .filter(|v| *v != "(devel)" && !v.is_empty())
            .or(release);
        let subpath = info
            .path
            .strip_prefix(module_path)
            .map(|rest| rest.trim_start_matches('/'))
            .filter(|rest| !rest.is_empty());
        let mut purl = format!("pkg:golang/{module_path}");
        if let Some(version) = version {
            purl.push('@');
            purl.push_str(&purl_version(version));
        }
        if let Some(subpath) = subpath {
            purl.push('#');
            purl.push_str(subpath);
        }
        let mut app = json!({
            "SPDXID": app_id,
            "name": info.path,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "primaryPackagePurpose": "APPLICATION",
            "packageFileName": binary.path,
            "checksums": [{"algorithm": "SHA256", "checksumValue": binary.sha256}],
            "externalRefs": [purl_ref(&purl)],
        });
        if let Some(version) = version {
            app["versionInfo"] = json!(version);
        }
        document.packages.push(app);
        document.files.push(json!({
            "SPDXID": file_id,
            "fileName": format!(".{}", binary.path),
            "fileTypes": ["BINARY"],
            "checksums": [
                {"algorithm": "SHA1", "checksumValue": binary.sha1},
                {"algorithm": "SHA256", "checksumValue": binary.sha256},
            ],
        }));
        document.relate("SPDXRef-DOCUMENT", "DESCRIBES", &app_id);
        document.relate(&file_id, "GENERATED_FROM", &app_id);
        let stdlib = Module {
            path: "stdlib".into(),
            version: info.go_version.trim_start_matches("go").to_owned(),
            sum: String::new(),
            replacement: None,
        };
        for module in std::iter::once(&stdlib).chain(&info.deps) {
            let id = document.module(module);
            document.relate(&app_id, "DEPENDS_ON", &id);
        }
    }
    json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": image,
        "documentNamespace": format!(
            "https://spdx.org/spdxdocs/berth/{}",
            image.replace(['/', ':', '@'], "-")
        ),
        "creationInfo": {
            "created": created,
            "creators": [TOOL],
        },
        "packages": document.packages,
        "files": document.files,
        "relationships": document.relationships,
    })
}

struct Document<'a> {
    created: &'a str,
    packages: Vec<Value>,
    files: Vec<Value>,
    relationships: Vec<Value>,
    /// `path@version` of each module package already in the document → its SPDX id.
    modules: HashMap<String, String>,
}

impl Document<'_> {
    fn relate(&mut self, from: &str, kind: &str, to: &str) {
        self.relationships.push(json!({
            "spdxElementId": from,
            "relationshipType": kind,
            "relatedSpdxElement": to,
        }));
    }

    /// The id of `module`'s package, added on first use.
    fn module(&mut self, module: &Module) -> String {
        let key = match &module.replacement {
            Some(by) => format!(
                "{}@{}=>{}@{}",
                module.path, module.version, by.path, by.version
            ),
            None => format!("{}@{}", module.path, module.version),
        };
        if let Some(id) = self.modules.get(&key) {
            return id.clone();
        }
        let id = format!("SPDXRef-Package-{}", self.modules.len() + 1);
        let local = module
            .replacement
            .as_deref()
            .filter(|by| by.path.starts_with(['.', '/']));
        let mut entry = match (local, module.replacement.as_deref()) {
            (Some(by), _) => json!({
                "SPDXID": id,
                "name": module.path,
                "downloadLocation": "NOASSERTION",
                "filesAnalyzed": false,
                "comment": format!(
                    "replaced by the local directory {}: no published version of {} is in the binary",
                    by.path, module.path
                ),
            }),
            (None, Some(by)) => {
                let mut entry = self.published(&id, by);
                entry["comment"] = json!(format!("replaces {}@{}", module.path, module.version));
                entry
            }
            (None, None) => self.published(&id, module),
        };
        if let Some(by) = module.replacement.as_deref()
            && local.is_some()
            && !by.sum.is_empty()
        {
            entry["annotations"] = self.sum_annotation(&by.sum);
        }
        self.packages.push(entry);
        self.modules.insert(key, id.clone());
        id
    }

    /// A module at a published version, with its package URL and go.sum hash.
    fn published(&self, id: &str, module: &Module) -> Value {
        let mut entry = json!({
            "SPDXID": id,
            "name": module.path,
            "versionInfo": module.version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "externalRefs": [purl_ref(&format!(
                "pkg:golang/{}@{}",
                module.path,
                purl_version(&module.version)
            ))],
        });
        if !module.sum.is_empty() {
            entry["annotations"] = self.sum_annotation(&module.sum);
        }
        entry
    }

    fn sum_annotation(&self, sum: &str) -> Value {
        json!([{
            "annotationDate": self.created,
            "annotationType": "OTHER",
            "annotator": TOOL,
            "comment": format!("go.sum hash of the module's files: {sum}"),
        }])
    }
}

fn purl_ref(purl: &str) -> Value {
    json!({
        "referenceCategory": "PACKAGE-MANAGER",
        "referenceType": "purl",
        "referenceLocator": purl,
    })
}

/// A version as a package URL writes it: `+` (as in `+incompatible`) percent-encoded.
fn purl_version(version: &str) -> String {
    version.replace('+', "%2B")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::gobinary::parse_modinfo;

    fn shipped(path: &str, modinfo: &str) -> ShippedBinary {
        let mut info = parse_modinfo(modinfo).unwrap();
        info.go_version = "go1.22.1".into();
        ShippedBinary {
            path: path.into(),
            sha1: "a".repeat(40),
            sha256: "b".repeat(64),
            info,
        }
    }

    #[test]
    fn binaries_modules_replacements_and_the_standard_library() {
        let deps = "dep\tgolang.org/x/text\tv0.14.0\th1:ScX5w1eTa3QqT8oi6+ziP7dTV1S2+ALU0bI+0zXKWiQ=\n\
                    dep\texample.com/greeting\tv1.0.0\n=>\t./greeting\t(devel)\t\n\
                    dep\tgithub.com/old/lib\tv2.0.0+incompatible\n=>\tgithub.com/new/lib\tv2.1.0\th1:x=\n";
        let api = shipped(
            "/app/api",
            &format!("path\texample.com/hello/cmd/api\nmod\texample.com/hello\t(devel)\t\n{deps}"),
        );
        let worker = shipped(
            "/app/worker",
            &format!(
                "path\texample.com/hello/cmd/worker\nmod\texample.com/hello\t(devel)\t\n{deps}"
            ),
        );
        let document = spdx(
            &[api, worker],
            "registry/team/hello@sha256:00",
            "2026-01-02T03:04:05Z",
            Some("v1.4.0"),
        );
        let packages = document["packages"].as_array().unwrap();
        let by_name = |name: &str| {
            packages
                .iter()
                .find(|p| p["name"] == name)
                .unwrap_or_else(|| panic!("{name} in {packages:?}"))
        };
        // One application package per binary, at the release version, with its subpath.
        let api = by_name("example.com/hello/cmd/api");
        assert_eq!(api["versionInfo"], "v1.4.0");
        assert_eq!(api["packageFileName"], "/app/api");
        assert_eq!(
            api["externalRefs"][0]["referenceLocator"],
            "pkg:golang/example.com/hello@v1.4.0#cmd/api"
        );
        by_name("example.com/hello/cmd/worker");
        // Each module once, though both binaries depend on it.
        assert_eq!(packages.len(), 2 + 4, "{packages:?}");
        let text = by_name("golang.org/x/text");
        assert!(text.get("checksums").is_none());
        assert_eq!(
            text["annotations"][0]["comment"],
            "go.sum hash of the module's files: h1:ScX5w1eTa3QqT8oi6+ziP7dTV1S2+ALU0bI+0zXKWiQ="
        );
        let local = by_name("example.com/greeting");
        assert!(local.get("externalRefs").is_none() && local.get("versionInfo").is_none());
        let replaced = by_name("github.com/new/lib");
        assert_eq!(
            replaced["externalRefs"][0]["referenceLocator"],
            "pkg:golang/github.com/new/lib@v2.1.0"
        );
        assert_eq!(
            replaced["comment"],
            "replaces github.com/old/lib@v2.0.0+incompatible"
        );
        assert_eq!(by_name("stdlib")["versionInfo"], "1.22.1");
        // Each file is generated from its own application package.
        let files = document["files"].as_array().unwrap();
        assert_eq!(files[1]["fileName"], "./app/worker");
        let relationships = document["relationships"].as_array().unwrap();
        assert!(
            relationships
                .iter()
                .any(|r| r["spdxElementId"] == "SPDXRef-File-2"
                    && r["relationshipType"] == "GENERATED_FROM"
                    && r["relatedSpdxElement"] == "SPDXRef-Application-2")
        );
        let describes = relationships
            .iter()
            .filter(|r| r["relationshipType"] == "DESCRIBES")
            .count();
        assert_eq!(describes, 2);
        // Without a release, a (devel) main module has no version and a package URL without one.
        let devel = shipped(
            "/app/api",
            "path\texample.com/hello\nmod\texample.com/hello\t(devel)\t\n",
        );
        let document = spdx(&[devel], "x", "2026-01-02T03:04:05Z", None);
        let app = &document["packages"][0];
        assert!(app.get("versionInfo").is_none());
        assert_eq!(
            app["externalRefs"][0]["referenceLocator"],
            "pkg:golang/example.com/hello"
        );
    }
}
