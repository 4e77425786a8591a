//! Tags from git, the way release engineering wants them: on a release tag `v1.4.0` the image
//! is tagged `v1.4.0`, `v1.4` and `v1` (pre-releases only themselves; `latest` only when asked);
//! every build also gets `sha-<7 hex>`; a branch build gets `dev-<branch>`. A dirty work tree
//! never gets release tags unless allowed, and its `sha-` tag says `-dirty`, so no tag claims a
//! commit the image was not built from.

use std::path::Path;
use std::process::Command;

use super::Error;

/// What git says about the work tree being built.
#[derive(Debug, Clone)]
pub struct GitState {
    pub commit: String,
    /// Committer time, Unix seconds.
    pub commit_time: u64,
    /// The highest SemVer tag on HEAD, as written (`v1.4.0`), with its version.
    pub release: Option<(String, semver::Version)>,
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
    let release = git(dir, &["tag", "--points-at", "HEAD"])?
        .unwrap_or_default()
        .lines()
        .filter_map(|tag| {
            let version = semver::Version::parse(tag.strip_prefix('v').unwrap_or(tag)).ok()?;
            Some((tag.to_owned(), version))
        })
        .max_by(|a, b| a.1.cmp(&b.1));
    let branch = git(dir, &["symbolic-ref", "--quiet", "--short", "HEAD"])?;
    let dirty = !git(dir, &["status", "--porcelain"])?
        .unwrap_or_default()
        .is_empty();
    let remote = git(dir, &["config", "--get", "remote.origin.url"])?;
    Ok(Some(GitState {
        commit,
        commit_time,
        release,
        branch,
        dirty,
        remote,
    }))
}

/// The tags an image built from `state` gets, in a stable order without repeats.
pub fn tags(state: Option<&GitState>, request: &TagRequest) -> Result<Vec<String>, Error> {
    let mut tags = vec![];
    if let Some(state) = state {
        if let Some((tag, version)) = &state.release {
            if state.dirty && !request.allow_dirty {
                return Err(Error::Dirty(tag.clone()));
            }
            tags.push(tag.clone());
            if version.pre.is_empty() {
                let prefix = if tag.starts_with('v') { "v" } else { "" };
                tags.push(format!("{prefix}{}.{}", version.major, version.minor));
                tags.push(format!("{prefix}{}", version.major));
                if request.latest {
                    tags.push("latest".to_owned());
                }
            }
        }
        let dirty = if state.dirty { "-dirty" } else { "" };
        tags.push(format!("sha-{}{dirty}", &state.commit[..7]));
        if let Some(branch) = &state.branch
            && state.release.is_none()
        {
            tags.push(format!("dev-{}", sanitize(branch)));
        }
    }
    for tag in request.extra {
        crate::registry::names::validate_tag(tag)
            .map_err(|_| Error::Invalid(format!("invalid tag {tag:?}")))?;
        tags.push(tag.clone());
    }
    let mut seen = std::collections::HashSet::new();
    tags.retain(|tag| seen.insert(tag.clone()));
    Ok(tags)
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
            release: release
                .map(|tag| (tag.to_owned(), semver::Version::parse(&tag[1..]).unwrap())),
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
}
