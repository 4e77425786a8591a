//! An SPDX 2.3 JSON document of the Go modules inside a binary, from its build information:
//! the main module, every dependency (with its replacement, if any) and the Go standard library,
//! each with a `pkg:golang` package URL, so scanners match them against the Go vulnerability
//! database. Its time is the build's source date, so the document is as reproducible as the
//! image it describes.

use serde_json::{Value, json};

use crate::analyze::gobinary::{GoBinary, Module};

/// The SPDX document for the Go `binaries` of the image `image` (name and digest).
pub fn spdx(binaries: &[GoBinary], image: &str, created: &str) -> Value {
    let mut packages = vec![];
    let mut relationships = vec![];
    let mut n_packages = 0;
    let mut next_id = || {
        n_packages += 1;
        format!("SPDXRef-Package-{n_packages}")
    };
    for binary in binaries {
        let main_id = next_id();
        let main = binary.main.clone().unwrap_or(Module {
            path: binary.path.clone(),
            version: "(devel)".into(),
            sum: String::new(),
            replacement: None,
        });
        packages.push(package(&main_id, &main));
        relationships.push(json!({
            "spdxElementId": "SPDXRef-DOCUMENT",
            "relationshipType": "DESCRIBES",
            "relatedSpdxElement": main_id,
        }));
        let stdlib = Module {
            path: "stdlib".into(),
            version: binary.go_version.trim_start_matches("go").to_owned(),
            sum: String::new(),
            replacement: None,
        };
        for module in std::iter::once(&stdlib).chain(&binary.deps) {
            let id = next_id();
            // A replaced module's code is the replacement's.
            let effective = module.replacement.as_deref().unwrap_or(module);
            let mut entry = package(&id, effective);
            if module.replacement.is_some() {
                entry["comment"] = json!(format!("replaces {}@{}", module.path, module.version));
            }
            packages.push(entry);
            relationships.push(json!({
                "spdxElementId": main_id,
                "relationshipType": "DEPENDS_ON",
                "relatedSpdxElement": id,
            }));
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
            "creators": [concat!("Tool: berth-", env!("CARGO_PKG_VERSION"))],
        },
        "packages": packages,
        "relationships": relationships,
    })
}

fn package(id: &str, module: &Module) -> Value {
    let mut entry = json!({
        "SPDXID": id,
        "name": module.path,
        "versionInfo": module.version,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "externalRefs": [{
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": format!("pkg:golang/{}@{}", module.path, module.version),
        }],
    });
    if let Some(hash) = module.sum.strip_prefix("h1:") {
        entry["checksums"] = json!([{"algorithm": "SHA256", "checksumValue": base64_to_hex(hash)}]);
    }
    entry
}

/// Go's `h1:` sums are base64 SHA-256; SPDX wants hex.
fn base64_to_hex(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map(hex::encode)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::gobinary::parse_modinfo;

    #[test]
    fn modules_replacements_and_the_standard_library_are_packages() {
        let mut binary = parse_modinfo(
            "path\texample.com/hello\nmod\texample.com/hello\t(devel)\t\n\
             dep\tgolang.org/x/text\tv0.14.0\th1:ScX5w1eTa3QqT8oi6+ziP7dTV1S2+ALU0bI+0zXKWiQ=\n\
             dep\texample.com/greeting\tv1.0.0\n=>\t./greeting\t(devel)\t\n",
        )
        .unwrap();
        binary.go_version = "go1.22.1".into();
        let document = spdx(
            &[binary],
            "registry/team/hello@sha256:00",
            "2026-01-02T03:04:05Z",
        );
        let packages = document["packages"].as_array().unwrap();
        let names: Vec<&str> = packages
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "example.com/hello",
                "stdlib",
                "golang.org/x/text",
                "./greeting"
            ]
        );
        assert_eq!(packages[1]["versionInfo"], "1.22.1");
        assert_eq!(
            packages[2]["externalRefs"][0]["referenceLocator"],
            "pkg:golang/golang.org/x/text@v0.14.0"
        );
        assert_eq!(
            packages[2]["checksums"][0]["checksumValue"]
                .as_str()
                .unwrap()
                .len(),
            64
        );
        assert_eq!(
            packages[3]["comment"],
            "replaces example.com/greeting@v1.0.0"
        );
        assert_eq!(document["relationships"].as_array().unwrap().len(), 4);
    }
}
