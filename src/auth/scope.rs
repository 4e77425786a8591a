//! Actions, roles, repository name patterns and the `scope` grammar of Docker's token
//! authentication (`repository:team/app:pull,push`, `registry:catalog:*`).
//!
//! Spec: <https://distribution.github.io/distribution/spec/auth/scope/>

use std::fmt;

use super::Error;

/// What a client may do to a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Pull,
    Push,
    Delete,
}

impl Action {
    pub const ALL: [Action; 3] = [Action::Pull, Action::Push, Action::Delete];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
            Action::Delete => "delete",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Action::Pull => 1,
            Action::Push => 2,
            Action::Delete => 4,
        }
    }
}

/// A set of actions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Actions(u8);

impl Actions {
    pub const NONE: Actions = Actions(0);
    pub const ALL: Actions = Actions(7);

    pub fn of(actions: &[Action]) -> Actions {
        Actions(actions.iter().fold(0, |bits, a| bits | a.bit()))
    }

    pub fn contains(self, action: Action) -> bool {
        self.0 & action.bit() != 0
    }

    pub fn intersect(self, other: Actions) -> Actions {
        Actions(self.0 & other.0)
    }

    pub fn union(self, other: Actions) -> Actions {
        Actions(self.0 | other.0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Action> {
        Action::ALL.into_iter().filter(move |a| self.contains(*a))
    }

    /// Parses `pull,push`; unknown actions (such as `*`) are ignored, as the token spec asks
    /// of actions a server does not know.
    pub fn parse_lenient(text: &str) -> Actions {
        Actions::of(
            &text
                .split(',')
                .filter_map(|a| Action::ALL.into_iter().find(|x| x.as_str() == a.trim()))
                .collect::<Vec<_>>(),
        )
    }

    /// Parses `pull,push`, refusing unknown actions and the empty set.
    pub fn parse_strict(text: &str) -> Result<Actions, Error> {
        let mut actions = Actions::NONE;
        for word in text.split(',') {
            let action = Action::ALL
                .into_iter()
                .find(|a| a.as_str() == word.trim())
                .ok_or_else(|| Error::Invalid(format!("unknown action {word:?}")))?;
            actions = actions.union(Actions::of(&[action]));
        }
        Ok(actions)
    }
}

impl fmt::Display for Actions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words: Vec<&str> = self.iter().map(Action::as_str).collect();
        f.write_str(&words.join(","))
    }
}

/// A member's role in a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Pull.
    Guest,
    /// Pull and push.
    Developer,
    /// Pull, push and delete tags.
    Maintainer,
    /// Everything, plus members, robots and settings of the project.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Guest => "guest",
            Role::Developer => "developer",
            Role::Maintainer => "maintainer",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Result<Role, Error> {
        [Role::Guest, Role::Developer, Role::Maintainer, Role::Admin]
            .into_iter()
            .find(|r| r.as_str() == text)
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "unknown role {text:?} (guest, developer, maintainer or admin)"
                ))
            })
    }

    pub fn actions(self) -> Actions {
        match self {
            Role::Guest => Actions::of(&[Action::Pull]),
            Role::Developer => Actions::of(&[Action::Pull, Action::Push]),
            Role::Maintainer | Role::Admin => Actions::ALL,
        }
    }
}

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
        assert!(Actions::parse_strict("pull,bogus").is_err());
    }
}
