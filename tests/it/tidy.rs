//! Tidy checks run with the tests: every Rust file starts with a `//!` doc comment saying what
//! it is for (after rust-analyzer's `TidyDocs`), every metric berth records is described (so that
//! `/metrics` has its `# HELP`), and the layer rules of ARCHITECTURE.md hold, line by line.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_file_starts_with_a_module_doc() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![];
    for dir in ["src", "tests", "bench"] {
        rust_files(&root.join(dir), &mut files);
    }
    let missing: Vec<_> = files
        .iter()
        .filter(|path| !std::fs::read_to_string(path).unwrap().starts_with("//!"))
        .collect();
    assert!(missing.is_empty(), "Missing docs strings: {missing:?}");
}

#[test]
fn every_recorded_metric_is_described() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![];
    rust_files(&root.join("src"), &mut files);
    let table = std::fs::read_to_string(root.join("src/http/metrics.rs")).unwrap();
    let described = &table[table.find("const DESCRIBED").unwrap()..];
    let described = &described[..described.find("];").unwrap()];
    let mut undescribed = vec![];
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        for macro_call in ["counter!(\"", "gauge!(\"", "histogram!(\""] {
            for (at, _) in text.match_indices(macro_call) {
                let name = &text[at + macro_call.len()..];
                let name = &name[..name.find('"').unwrap()];
                if !described.contains(&format!("\"{name}\"")) {
                    undescribed.push(format!("{name} ({})", path.display()));
                }
            }
        }
    }
    assert!(
        undescribed.is_empty(),
        "metrics missing from DESCRIBED: {undescribed:?}"
    );
}

/// A layer rule: in the files under `within` (but not under `except`), no line may contain
/// `forbidden`.
struct LayerRule {
    within: &'static [&'static str],
    except: &'static [&'static str],
    forbidden: &'static [&'static str],
    why: &'static str,
}

const LAYER_RULES: &[LayerRule] = &[
    LayerRule {
        within: &["src/"],
        except: &["src/storage/"],
        forbidden: &["sqlx", "rusqlite"],
        why: "SQL lives in the storage adapters only",
    },
    LayerRule {
        within: &["src/"],
        except: &["src/http/", "src/server/", "src/lib.rs"],
        forbidden: &["axum::", "hyper::", "tower::", "tower_http::"],
        why: "only http/ (and the server that mounts it) knows HTTP serving",
    },
    LayerRule {
        within: &["src/http/"],
        except: &[],
        forbidden: &["crate::storage"],
        why: "handlers call services, never the stores",
    },
    LayerRule {
        within: &["src/registry/", "src/auth/", "src/lifecycle/"],
        except: &[],
        forbidden: &[
            "std::fs",
            "tokio::fs",
            "std::path",
            "File::open",
            "File::create",
        ],
        why: "services reach bytes through their ports",
    },
    LayerRule {
        within: &[
            "src/image/",
            "src/build/",
            "src/analyze/",
            "src/lint/",
            "src/oci/",
        ],
        except: &[],
        forbidden: &[
            "crate::registry",
            "crate::auth",
            "crate::lifecycle",
            "crate::storage",
            "crate::http",
            "crate::server",
        ],
        why: "the tools are registry clients; they share only oci/ with the server",
    },
    LayerRule {
        within: &["src/oci/"],
        except: &[],
        forbidden: &["crate::"],
        why: "the OCI vocabulary is a leaf",
    },
    LayerRule {
        within: &["src/"],
        except: &["src/time.rs"],
        forbidden: &["SystemTime::now", "Utc::now", "Local::now"],
        why: "the wall clock is read in time.rs only",
    },
    LayerRule {
        within: &["src/"],
        except: &["src/storage/", "src/lifecycle/gc.rs"],
        forbidden: &["blobs.delete(", "BlobStore::delete"],
        why: "only the garbage collector deletes blob bytes",
    },
    LayerRule {
        within: &["src/", "tests/", "bench/"],
        except: &[],
        forbidden: &["#[allow("],
        why: "lints are fixed, not silenced",
    },
];

#[test]
fn layer_rules_hold() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![];
    for dir in ["src", "tests", "bench"] {
        rust_files(&root.join(dir), &mut files);
    }
    let mut broken = vec![];
    for path in &files {
        let relative = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        // This file spells the forbidden words out.
        if relative == "tests/it/tidy.rs" {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap();
        for rule in LAYER_RULES {
            let applies = rule.within.iter().any(|p| relative.starts_with(p))
                && !rule.except.iter().any(|p| relative.starts_with(p));
            if !applies {
                continue;
            }
            for (number, line) in text.lines().enumerate() {
                let code = line.trim_start();
                if code.starts_with("//") {
                    continue;
                }
                for word in rule.forbidden {
                    if code.contains(word) {
                        broken.push(format!("{relative}:{}: {word}: {}", number + 1, rule.why));
                    }
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "layer rules broken:\n{}",
        broken.join("\n")
    );
}
