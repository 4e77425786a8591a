//! The grammar of repository names, tags and manifest references (OCI Distribution Spec,
//! "Pulling manifests": `<name>` and `<reference>`).

use std::str::FromStr;

use super::digest::Digest;

/// A name, tag or reference outside the grammar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("invalid repository name {0:?}")]
    NameInvalid(String),
    #[error("invalid tag {0:?}")]
    TagInvalid(String),
    #[error("invalid digest {0:?}")]
    DigestInvalid(String),
}

/// Longest repository name accepted, as in Distribution.
const NAME_MAX: usize = 255;
/// Longest tag: the spec's `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
const TAG_MAX: usize = 128;

/// The project of a repository name: its first path component.
pub fn project_of(name: &str) -> &str {
    name.split('/').next().unwrap_or(name)
}

/// Checks `name` against `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`.
pub fn validate_name(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty() && name.len() <= NAME_MAX && name.split('/').all(component_ok);
    if ok {
        Ok(())
    } else {
        Err(Error::NameInvalid(name.to_owned()))
    }
}

fn component_ok(component: &str) -> bool {
    let lower_alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let mut separator = String::new();
    let mut seen_alnum = false;
    for c in component.chars() {
        if lower_alnum(c) {
            if !separator.is_empty() {
                let allowed = matches!(separator.as_str(), "." | "_" | "__")
                    || separator.chars().all(|s| s == '-');
                if !allowed || !seen_alnum {
                    return false;
                }
                separator.clear();
            }
            seen_alnum = true;
        } else if matches!(c, '.' | '_' | '-') {
            separator.push(c);
        } else {
            return false;
        }
    }
    seen_alnum && separator.is_empty()
}

/// Checks a tag against `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
pub fn validate_tag(tag: &str) -> Result<(), Error> {
    let mut chars = tag.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if first_ok && rest_ok && tag.len() <= TAG_MAX {
        Ok(())
    } else {
        Err(Error::TagInvalid(tag.to_owned()))
    }
}

/// What follows `/manifests/`: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    Tag(String),
    Digest(Digest),
}

impl FromStr for Reference {
    type Err = Error;

    fn from_str(text: &str) -> Result<Reference, Error> {
        if text.contains(':') {
            let digest = text
                .parse()
                .map_err(|_| Error::DigestInvalid(text.to_owned()))?;
            return Ok(Reference::Digest(digest));
        }
        validate_tag(text)?;
        Ok(Reference::Tag(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_spec_grammar() {
        for good in [
            "a",
            "team/app",
            "team/tools/lint",
            "a.b_c__d---e/f0",
            "library/ubuntu",
            "0",
        ] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        let too_long = "a".repeat(256);
        for bad in [
            "",
            "Team/app",
            "team//app",
            "/team",
            "team/",
            "-a",
            "a-",
            "a..b",
            "a___b",
            "a._b",
            "a b",
            "a/.b",
            "a%2fb",
            &too_long,
        ] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tags_follow_the_spec_grammar() {
        let longest = "a".repeat(128);
        for good in ["latest", "v1.4.0", "_x", "sha-5a8b7c3", "A-b_c.d", &longest] {
            assert!(validate_tag(good).is_ok(), "{good}");
        }
        let too_long = "a".repeat(129);
        for bad in ["", ".a", "-a", "a/b", "a+b", &too_long] {
            assert!(validate_tag(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn references_are_digests_when_they_have_a_colon() {
        let digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert!(matches!(
            digest.parse::<Reference>(),
            Ok(Reference::Digest(_))
        ));
        assert!(matches!("v1".parse::<Reference>(), Ok(Reference::Tag(t)) if t == "v1"));
        assert!(matches!(
            "sha256:xyz".parse::<Reference>(),
            Err(Error::DigestInvalid(_))
        ));
        assert!(matches!(
            "-v1".parse::<Reference>(),
            Err(Error::TagInvalid(_))
        ));
    }
}
