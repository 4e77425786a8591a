//! Kinds of tags and the tag policy: release tags (`v1.4.0`) are immutable; aliases (`v1.4`,
//! `v1`) follow the newest stable release of their line; `latest` moves on promotion (or, if
//! the project opts in, on every stable release); commit (`sha-…`, `commit-…`) and dev
//! (`dev-…`) tags move freely.

use semver::Version;

use crate::oci::digest::Digest;
use crate::storage::TagRules;
use crate::storage::lifecycle::ProjectSettings;

/// What a tag name says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagKind {
    /// `vMAJOR.MINOR.PATCH[-PRERELEASE]`, ordered as SemVer 2.0 orders versions.
    Release(Version),
    /// `vMAJOR.MINOR` or `vMAJOR`: follows the newest stable release of its line.
    Alias {
        major: u64,
        minor: Option<u64>,
    },
    /// `sha-<hex>` or `commit-<hex>`.
    Commit,
    /// `dev-…`.
    Dev,
    Latest,
    Other,
}

impl TagKind {
    pub fn of(tag: &str) -> TagKind {
        if tag == "latest" {
            return TagKind::Latest;
        }
        if let Some(rest) = tag
            .strip_prefix("sha-")
            .or_else(|| tag.strip_prefix("commit-"))
        {
            if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_hexdigit()) {
                return TagKind::Commit;
            }
            return TagKind::Other;
        }
        if tag.starts_with("dev-") {
            return TagKind::Dev;
        }
        let Some(version) = tag.strip_prefix('v') else {
            return TagKind::Other;
        };
        if let Ok(version) = Version::parse(version) {
            return TagKind::Release(version);
        }
        let number = |text: &str| {
            let canonical = text == "0" || !text.starts_with('0');
            let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
            (canonical && digits)
                .then(|| text.parse::<u64>().ok())
                .flatten()
        };
        match version.split_once('.') {
            None => number(version).map_or(TagKind::Other, |major| TagKind::Alias {
                major,
                minor: None,
            }),
            Some((major, minor)) => match (number(major), number(minor)) {
                (Some(major), Some(minor)) => TagKind::Alias {
                    major,
                    minor: Some(minor),
                },
                _ => TagKind::Other,
            },
        }
    }

    /// A release without a pre-release part.
    pub fn stable_release(&self) -> Option<&Version> {
        match self {
            TagKind::Release(v) if v.pre.is_empty() => Some(v),
            _ => None,
        }
    }
}

/// A project's tag policy, as the store applies it while storing a manifest.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub immutable_releases: bool,
    pub follow_aliases: bool,
    pub latest_on_push: bool,
}

impl Policy {
    pub fn of(settings: &ProjectSettings) -> Policy {
        Policy {
            immutable_releases: settings.immutable_releases,
            follow_aliases: settings.follow_aliases,
            latest_on_push: settings.latest_on_push,
        }
    }

    /// Whether deleting `tag` needs the project admin role.
    pub fn protects(&self, tag: &str) -> bool {
        self.immutable_releases && matches!(TagKind::of(tag), TagKind::Release(_))
    }
}

impl TagRules for Policy {
    fn may_move(&self, tag: &str) -> bool {
        !self.protects(tag)
    }

    fn manages(&self, tag: &str) -> bool {
        match TagKind::of(tag) {
            TagKind::Latest => !self.latest_on_push,
            TagKind::Alias { .. } => self.follow_aliases,
            _ => false,
        }
    }

    /// `latest` is the promoted release once the repository holds a release (before that it
    /// is free, as `docker push` without a tag expects); an alias is where the newest stable
    /// release of its line is, once the line has one. A push that puts either where it
    /// already belongs is accepted.
    fn refuse(&self, tag: &str, digest: &Digest, tags: &[(String, Digest)]) -> Option<String> {
        match TagKind::of(tag) {
            TagKind::Latest => {
                let releases = tags
                    .iter()
                    .any(|(t, _)| matches!(TagKind::of(t), TagKind::Release(_)));
                let current = tags.iter().find(|(t, _)| t == "latest").map(|(_, d)| d);
                (releases && current != Some(digest)).then(|| {
                    "tag latest is managed by the project's tag policy: it moves when a \
                     maintainer promotes a release (berth promote REPOSITORY vX.Y.Z, or \
                     POST /api/v1/promote), or on every stable release with latest_on_push"
                        .to_owned()
                })
            }
            TagKind::Alias { major, minor } => {
                let newest = newest_stable(tags, &|v| {
                    v.major == major && minor.is_none_or(|minor| v.minor == minor)
                })?;
                (newest != *digest).then(|| {
                    let line = minor.map_or(format!("v{major}.Y.Z"), |m| format!("v{major}.{m}.Z"));
                    format!(
                        "tag {tag} is an alias managed by the project's tag policy \
                         (follow_aliases): it follows the newest stable release of its line; \
                         push a release {line} and berth moves it"
                    )
                })
            }
            _ => None,
        }
    }

    fn moves_others(&self, tag: &str) -> bool {
        (self.follow_aliases || self.latest_on_push) && TagKind::of(tag).stable_release().is_some()
    }

    fn follow(&self, tag: &str, tags: &[(String, Digest)]) -> Vec<(String, Digest)> {
        let Some(pushed) = TagKind::of(tag).stable_release().cloned() else {
            return Vec::new();
        };
        let newest = |keep: &dyn Fn(&Version) -> bool| newest_stable(tags, keep);
        let mut moves = Vec::new();
        if self.follow_aliases {
            let (major, minor) = (pushed.major, pushed.minor);
            if let Some(d) = newest(&|v| v.major == major && v.minor == minor) {
                moves.push((format!("v{major}.{minor}"), d));
            }
            if let Some(d) = newest(&|v| v.major == major) {
                moves.push((format!("v{major}"), d));
            }
        }
        if self.latest_on_push
            && let Some(d) = newest(&|_| true)
        {
            moves.push(("latest".to_owned(), d));
        }
        moves
    }
}

/// The manifest of the newest stable release among `tags` that `keep` selects.
fn newest_stable(tags: &[(String, Digest)], keep: &dyn Fn(&Version) -> bool) -> Option<Digest> {
    tags.iter()
        .filter_map(|(name, digest)| Some((TagKind::of(name).stable_release()?.clone(), digest)))
        .filter(|(v, _)| keep(v))
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, d)| d.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::digest::Algorithm;

    #[test]
    fn tag_kinds() {
        let release = |t: &str| matches!(TagKind::of(t), TagKind::Release(_));
        assert!(release("v1.4.0"));
        assert!(release("v1.4.0-rc.1"));
        assert!(!release("1.4.0"));
        assert!(!release("v01.4.0"));
        assert_eq!(
            TagKind::of("v1.4"),
            TagKind::Alias {
                major: 1,
                minor: Some(4)
            }
        );
        assert_eq!(
            TagKind::of("v1"),
            TagKind::Alias {
                major: 1,
                minor: None
            }
        );
        assert_eq!(TagKind::of("v01"), TagKind::Other);
        assert_eq!(TagKind::of("sha-5a8b7c3"), TagKind::Commit);
        assert_eq!(TagKind::of("commit-5a8b7c3"), TagKind::Commit);
        assert_eq!(TagKind::of("sha-xyz"), TagKind::Other);
        assert_eq!(TagKind::of("dev-feature-x"), TagKind::Dev);
        assert_eq!(TagKind::of("latest"), TagKind::Latest);
        assert_eq!(TagKind::of("main"), TagKind::Other);
    }

    #[test]
    fn aliases_follow_the_newest_stable_release_of_their_line() {
        let d = |n: u8| Digest::of(Algorithm::Sha256, &[n]);
        let tags: Vec<(String, Digest)> = [
            ("v1.4.0", 1),
            ("v1.4.2", 2),
            ("v1.4.10", 3),
            ("v1.5.0-rc.1", 4),
            ("v1.3.9", 5),
            ("v2.0.0", 6),
        ]
        .iter()
        .map(|(t, n)| (t.to_string(), d(*n)))
        .collect();
        let policy = Policy {
            immutable_releases: true,
            follow_aliases: true,
            latest_on_push: false,
        };
        // v1.4.10 sorts after v1.4.2 (SemVer, not lexical); the pre-release moves nothing.
        assert_eq!(
            policy.follow("v1.4.2", &tags),
            [("v1.4".to_owned(), d(3)), ("v1".to_owned(), d(3))]
        );
        assert!(!policy.moves_others("v1.5.0-rc.1"));
        assert!(policy.follow("v1.5.0-rc.1", &tags).is_empty());
        assert!(!policy.may_move("v1.4.0"));
        assert!(policy.may_move("v1.4") && policy.may_move("sha-abc") && policy.may_move("latest"));
        // A push to a managed tag is refused unless it points where the policy has it.
        assert!(policy.manages("v1.4") && policy.manages("latest") && !policy.manages("v1.4.0"));
        assert!(policy.refuse("v1.4", &d(1), &tags).is_some());
        assert_eq!(policy.refuse("v1.4", &d(3), &tags), None);
        assert_eq!(policy.refuse("v1", &d(3), &tags), None);
        assert_eq!(policy.refuse("v2", &d(6), &tags), None);
        assert_eq!(
            policy.refuse("v3", &d(1), &tags),
            None,
            "no release in v3's line"
        );
        let refused = policy.refuse("latest", &d(1), &tags).unwrap();
        assert!(refused.contains("berth promote"), "{refused}");
        assert_eq!(policy.refuse("latest", &d(1), &[]), None, "no release yet");
        let latest = Policy {
            latest_on_push: true,
            ..policy
        };
        assert!(!latest.manages("latest"));
        assert!(
            latest
                .follow("v1.3.9", &tags)
                .contains(&("latest".to_owned(), d(6)))
        );
    }
}
