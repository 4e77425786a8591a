//! The host's Go toolchain: finding main packages with `go list` and cross-compiling them with
//! `go build`. The environment passes through, so `GOFLAGS`, `GOPROXY` and the build cache
//! (`GOCACHE`) work as they do for `go build` itself; a second build reuses the cache.

use std::path::Path;
use std::process::Command;

use super::Error;
use crate::image::Platform;

/// A main package of the module.
#[derive(Debug, Clone)]
pub struct MainPackage {
    pub import_path: String,
    /// The binary's name: the last path element (`/v2` and the like skipped).
    pub name: String,
}

/// How `go build` is invoked.
pub struct GoFlags {
    pub ldflags: String,
    pub trimpath: bool,
    pub cgo: bool,
}

fn go(dir: &Path, args: &[&str], env: &[(&str, String)]) -> Result<String, Error> {
    let output = Command::new("go")
        .args(args)
        .current_dir(dir)
        .envs(env.iter().map(|(key, value)| (key, value)))
        .output()
        .map_err(|e| Error::Tool {
            command: format!("go {}", args.join(" ")),
            message: format!("{e} (is Go installed?)"),
        })?;
    if !output.status.success() {
        return Err(Error::Tool {
            command: format!("go {}", args.join(" ")),
            message: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The main packages among `patterns` (`./...` when empty).
pub fn main_packages(dir: &Path, patterns: &[String]) -> Result<Vec<MainPackage>, Error> {
    let mut args = vec![
        "list",
        "-f",
        "{{if eq .Name \"main\"}}{{.ImportPath}}{{end}}",
    ];
    if patterns.is_empty() {
        args.push("./...");
    }
    args.extend(patterns.iter().map(String::as_str));
    let listed = go(dir, &args, &[])?;
    let packages: Vec<MainPackage> = listed
        .lines()
        .filter(|line| !line.is_empty())
        .map(|import_path| MainPackage {
            import_path: import_path.to_owned(),
            name: binary_name(import_path),
        })
        .collect();
    if packages.is_empty() {
        return Err(Error::NoMainPackage(dir.display().to_string()));
    }
    Ok(packages)
}

fn binary_name(import_path: &str) -> String {
    let mut parts = import_path.rsplit('/');
    let last = parts.next().unwrap_or(import_path);
    let major_suffix =
        last.len() > 1 && last.starts_with('v') && last[1..].bytes().all(|b| b.is_ascii_digit());
    match (major_suffix, parts.next()) {
        (true, Some(previous)) => previous.to_owned(),
        _ => last.to_owned(),
    }
}

/// Compiles `package` for `platform` into `output`.
pub fn build(
    dir: &Path,
    package: &MainPackage,
    platform: &Platform,
    flags: &GoFlags,
    output: &Path,
) -> Result<(), Error> {
    let mut env = vec![
        ("GOOS", platform.os.clone()),
        ("GOARCH", platform.architecture.clone()),
        ("CGO_ENABLED", if flags.cgo { "1" } else { "0" }.to_owned()),
    ];
    if platform.architecture == "arm"
        && let Some(variant) = &platform.variant
    {
        env.push(("GOARM", variant.trim_start_matches('v').to_owned()));
    }
    let output = output.to_string_lossy();
    let ldflags = format!("-ldflags={}", flags.ldflags);
    let mut args = vec!["build", "-o", &output];
    if flags.trimpath {
        args.push("-trimpath");
    }
    args.push(&ldflags);
    args.push(&package.import_path);
    go(dir, &args, &env).map(|_| ())
}

/// `go env GOVERSION`.
pub fn version(dir: &Path) -> Result<String, Error> {
    Ok(go(dir, &["env", "GOVERSION"], &[])?.trim().to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn binaries_are_named_after_their_package() {
        assert_eq!(super::binary_name("example.com/svc/cmd/api"), "api");
        assert_eq!(super::binary_name("example.com/tool/v2"), "tool");
        assert_eq!(super::binary_name("hello"), "hello");
    }
}
