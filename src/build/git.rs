//! Tags from git, the way release engineering wants them: on a release tag `v1.4.0` the image
//! is tagged `v1.4.0`, `v1.4` and `v1` (pre-releases only themselves; `latest` only when asked);
//! every build also gets `sha-<7 hex>`; a branch build gets `dev-<branch>`. A dirty work tree
//! never gets release tags unless allowed, and its `sha-` tag says `-dirty`, so no tag claims a
//! commit the image was not built from.
//!
//! Versions follow Go's convention for repositories with several modules: a module in `dir/`
//! takes its versions from `dir/vX.Y.Z` tags (the image tag is `vX.Y.Z`); tags without a
//! directory belong to the module at the repository's root. Every release tag on HEAD becomes an
//! image tag; the moving aliases follow the newest stable one.

use std::path::Path;
use std::process::Command;

use super::Error;

/// What git says about the work tree being built.
#[derive(Debug, Clone)]
pub struct GitState {
    pub commit: String,
    /// Committer time, Unix seconds.
    pub commit_time: u64,
    /// The module's SemVer tags on HEAD, newest first, without the module's directory
    /// (`hello/v0.2.0` is `v0.2.0`), each with its version.
    pub releases: Vec<(String, semver::Version)>,
    pub branch: Option<String>,
    pub dirty: bool,
    /// `remote.origin.url`, for the image's source label.
    pub remote: Option<String>,
}

/// The tags to give the image.
pub struct TagRequest<'a> {
    pub extra: &'a [String],
    pub latest: bool,
    pub allow_dirty: bool,
}

fn git(dir: &Path, args: &[&str]) -> Result<Option<String>, Error> {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| Error::Tool {
            command: format!("git {}", args.join(" ")),
            message: e.to_string(),
        })?;
    if !output.status.success() {
        return Ok(None);
    }
    Ok(Some(
        String::from_utf8_lossy(&output.stdout).trim().to_owned(),
    ))
}

/// The state of the git work tree at `dir`; `None` outside one.
pub fn inspect(dir: &Path) -> Result<Option<GitState>, Error> {
    if git(dir, &["rev-parse", "--is-inside-work-tree"])?.as_deref() != Some("true") {
        return Ok(None);
    }
    let Some(commit) = git(dir, &["rev-parse", "HEAD"])? else {
        // A repository without commits: nothing to tag from.
        return Ok(None);
    };
    let commit_time = git(dir, &["log", "-1", "--format=%ct"])?
        .and_then(|text| text.parse().ok())
        .unwrap_or(0);
    // `hello/` for a module in a subdirectory, empty at the root.
    let prefix = git(dir, &["rev-parse", "--show-prefix"])?.unwrap_or_default();
    let mut releases: Vec<(String, semver::Version)> = git(dir, &["tag", "--points-at", "HEAD"])?
        .unwrap_or_default()
        .lines()
        .filter_map(|tag| module_version(tag, &prefix))
        .collect();
    releases.sort_by(|a, b| b.1.cmp(&a.1));
    let branch = git(dir, &["symbolic-ref", "--quiet", "--short", "HEAD"])?;
    let dirty = !git(dir, &["status", "--porcelain"])?
        .unwrap_or_default()
        .is_empty();
    let remote = git(dir, &["config", "--get", "remote.origin.url"])?;
    Ok(Some(GitState {
        commit,
        commit_time,
        releases,
        branch,
        dirty,
        remote,
    }))
}

/// The tags an image built from `state` gets, in a stable order without repeats.
pub fn tags(state: Option<&GitState>, request: &TagRequest) -> Result<Vec<String>, Error> {
    let mut tags = vec![];
    if let Some(state) = state {
        if let Some((tag, _)) = state.releases.first()
            && state.dirty
            && !request.allow_dirty
        {
            return Err(Error::Dirty(tag.clone()));
        }
        for (tag, _) in &state.releases {
            tags.push(tag.clone());
        }
        if let Some((tag, version)) = state.releases.iter().find(|(_, v)| v.pre.is_empty()) {
            let prefix = if tag.starts_with('v') { "v" } else { "" };
            tags.push(format!("{prefix}{}.{}", version.major, version.minor));
            tags.push(format!("{prefix}{}", version.major));
            if request.latest {
                tags.push("latest".to_owned());
            }
        }
        let dirty = if state.dirty { "-dirty" } else { "" };
        tags.push(format!("sha-{}{dirty}", &state.commit[..7]));
        if let Some(branch) = &state.branch
            && state.releases.is_empty()
        {
            tags.push(format!("dev-{}", sanitize(branch)));
        }
    }
    for tag in request.extra {
        crate::oci::names::validate_tag(tag)
            .map_err(|_| Error::Invalid(format!("invalid tag {tag:?}")))?;
        tags.push(tag.clone());
    }
    let mut seen = std::collections::HashSet::new();
    tags.retain(|tag| seen.insert(tag.clone()));
    Ok(tags)
}

/// The version a tag gives the module whose directory in the repository is `prefix` (`hello/`,
/// or empty at the root): `hello/v0.2.0` → `v0.2.0` there; `v0.5.0` only at the root.
fn module_version(tag: &str, prefix: &str) -> Option<(String, semver::Version)> {
    let name = tag.strip_prefix(prefix)?;
    if name.contains('/') {
        return None;
    }
    let version = semver::Version::parse(name.strip_prefix('v').unwrap_or(name)).ok()?;
    Some((name.to_owned(), version))
}

/// A branch name as a tag: characters a tag cannot hold become `-`, at most 120 characters.
fn sanitize(branch: &str) -> String {
    branch
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(120)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(release: Option<&str>, branch: Option<&str>, dirty: bool) -> GitState {
        GitState {
            commit: "5a8b7c3d0000000000000000000000000000000f".into(),
            commit_time: 0,
            releases: release
                .map(|tag| (tag.to_owned(), semver::Version::parse(&tag[1..]).unwrap()))
                .into_iter()
                .collect(),
            branch: branch.map(str::to_owned),
            dirty,
            remote: None,
        }
    }

    #[track_caller]
    fn check(state: &GitState, latest: bool, expected: &[&str]) {
        let request = TagRequest {
            extra: &[],
            latest,
            allow_dirty: false,
        };
        assert_eq!(tags(Some(state), &request).unwrap(), expected);
    }

    #[test]
    fn releases_branches_and_dirty_trees() {
        check(
            &state(Some("v1.4.0"), Some("main"), false),
            false,
            &["v1.4.0", "v1.4", "v1", "sha-5a8b7c3"],
        );
        check(
            &state(Some("v1.4.0"), None, false),
            true,
            &["v1.4.0", "v1.4", "v1", "latest", "sha-5a8b7c3"],
        );
        check(
            &state(Some("v2.0.0-rc.1"), None, false),
            true,
            &["v2.0.0-rc.1", "sha-5a8b7c3"],
        );
        check(
            &state(None, Some("feature/login"), false),
            false,
            &["sha-5a8b7c3", "dev-feature-login"],
        );
        check(
            &state(None, Some("main"), true),
            false,
            &["sha-5a8b7c3-dirty", "dev-main"],
        );
        let request = TagRequest {
            extra: &[],
            latest: false,
            allow_dirty: false,
        };
        assert!(matches!(
            tags(Some(&state(Some("v1.4.0"), None, true)), &request),
            Err(Error::Dirty(_))
        ));
    }

    #[test]
    fn every_release_on_head_is_tagged_and_aliases_follow_the_newest_stable() {
        let mut both = state(None, Some("main"), false);
        for tag in ["v2.15.0-rc.1", "v2.14.2"] {
            both.releases
                .push((tag.into(), semver::Version::parse(&tag[1..]).unwrap()));
        }
        both.releases.sort_by(|a, b| b.1.cmp(&a.1));
        check(
            &both,
            true,
            &[
                "v2.15.0-rc.1",
                "v2.14.2",
                "v2.14",
                "v2",
                "latest",
                "sha-5a8b7c3",
            ],
        );
    }

    #[test]
    fn modules_in_subdirectories_take_their_own_tags() {
        let version = |tag: &str, prefix: &str| module_version(tag, prefix).map(|(name, _)| name);
        assert_eq!(version("hello/v0.2.0", "hello/").as_deref(), Some("v0.2.0"));
        assert_eq!(version("v0.5.0", "hello/"), None);
        assert_eq!(version("v0.5.0", "").as_deref(), Some("v0.5.0"));
        assert_eq!(version("hello/v0.2.0", ""), None);
        assert_eq!(version("hello/world/v1.0.0", "hello/"), None);
        assert_eq!(
            version("tools/hello/v1.0.0", "tools/hello/").as_deref(),
            Some("v1.0.0")
        );
    }
}
