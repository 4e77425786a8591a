//! Actions, roles, repository name patterns and the `scope` grammar of Docker's token
//! authentication (`repository:team/app:pull,push`, `registry:catalog:*`).
//!
//! Spec: <https://distribution.github.io/distribution/spec/auth/scope/>

use std::fmt;

use super::Error;

pub use crate::storage::access::{Action, Actions, Role};

/// Whether `name` matches `pattern`, where `*` stands for any run of characters (`/`
/// included) and everything else matches itself.
pub fn matches(pattern: &str, name: &str) -> bool {
    let Some((first, rest)) = pattern.split_once('*') else {
        return pattern == name;
    };
    let Some(mut tail) = name.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = rest.split('*').collect();
    let (last, middle) = parts.split_last().expect("split yields at least one part");
    for part in middle {
        match tail.find(part) {
            Some(at) => tail = &tail[at + part.len()..],
            None => return false,
        }
    }
    tail.len() >= last.len() && tail.ends_with(last)
}

/// One requested or granted access: a resource and actions on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// `repository:<name or pattern>:<actions>`.
    Repository { name: String, actions: Actions },
    /// `registry:catalog:*`: listing repositories (filtered by what the caller may see).
    Catalog,
}

impl Scope {
    /// Parses one scope. Unknown resource types yield `None` (they are ignored, not refused).
    pub fn parse(text: &str) -> Result<Option<Scope>, Error> {
        let invalid = || Error::Invalid(format!("malformed scope {text:?}"));
        let (kind, rest) = text.split_once(':').ok_or_else(invalid)?;
        let (name, actions) = rest.rsplit_once(':').ok_or_else(invalid)?;
        if name.is_empty() {
            return Err(invalid());
        }
        // `repository(plugin)` and the like name a class; the type is what counts.
        let kind = kind.split('(').next().unwrap_or(kind);
        Ok(match kind {
            "repository" => Some(Scope::Repository {
                name: name.to_owned(),
                actions: Actions::parse_lenient(actions),
            }),
            "registry" if name == "catalog" => Some(Scope::Catalog),
            _ => None,
        })
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Repository { name, actions } => write!(f, "repository:{name}:{actions}"),
            Scope::Catalog => f.write_str("registry:catalog:*"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_like_globs() {
        let cases = [
            ("team/app", "team/app", true),
            ("team/app", "team/app2", false),
            ("team/*", "team/app", true),
            ("team/*", "team/tools/lint", true),
            ("team/*", "other/app", false),
            ("team/app-*", "team/app-api", true),
            ("team/app-*", "team/app", false),
            ("team/*-svc", "team/a-svc", true),
            ("team/*-svc", "team/a-svc/x", false),
            ("*", "anything/at/all", true),
            ("team/*/lint", "team/tools/lint", true),
        ];
        for (pattern, name, expected) in cases {
            assert_eq!(matches(pattern, name), expected, "{pattern} ~ {name}");
        }
    }

    #[test]
    fn scopes_parse_as_the_token_spec_writes_them() {
        let scope = Scope::parse("repository:team/app:pull,push")
            .unwrap()
            .unwrap();
        assert_eq!(scope.to_string(), "repository:team/app:pull,push");
        let scope = Scope::parse("repository(plugin):a/b:pull,*")
            .unwrap()
            .unwrap();
        assert_eq!(scope.to_string(), "repository:a/b:pull");
        assert_eq!(
            Scope::parse("registry:catalog:*").unwrap(),
            Some(Scope::Catalog)
        );
        assert_eq!(Scope::parse("plugin:x:install").unwrap(), None);
        assert!(Scope::parse("repository").is_err());
        assert!(Scope::parse("repository::pull").is_err());
    }

    #[test]
    fn roles_grant_growing_action_sets() {
        assert_eq!(Role::Guest.actions().to_string(), "pull");
        assert_eq!(Role::Developer.actions().to_string(), "pull,push");
        assert_eq!(Role::Maintainer.actions().to_string(), "pull,push,delete");
        assert!("pull,bogus".parse::<Actions>().is_err());
    }
}
