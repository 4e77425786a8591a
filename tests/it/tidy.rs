//! Tidy checks run with the tests: every Rust file starts with a `//!` doc comment saying what
//! it is for (after rust-analyzer's `TidyDocs`), and every metric berth records is described
//! (so that `/metrics` has its `# HELP`).

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
