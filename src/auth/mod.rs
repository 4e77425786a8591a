//! The access service: projects, users and roles, robot accounts and CI push tokens, Docker
//! token authentication, login rate limits and the audit log.
//!
//! Architecture invariant: everything lives in the `AccessStore` (keys, counters, credentials),
//! never only in this process, so that every replica makes the same decisions. The only
//! per-process state is a cache of at most one second (verified tokens, credential status,
//! project visibility), which the replica making a change clears at once.
//! Secrets and passwords never reach the log, the audit log or the store: only their hashes.

mod audit;
mod authorize;
mod issue;
mod login;
mod manage;
mod scope;
mod secret;
mod token;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use crate::oci::names::project_of;
/// The records the access service hands out, as its store keeps them.
pub use crate::storage::access::{AuditEntry, AuditFilter, Robot, RobotKind};
pub use audit::AuditAction;
pub use scope::{Action, Actions, Role, Scope, matches};
pub use token::{AccessClaim, Claims};

use crate::oci::names::validate_name;
use crate::storage::{self, access::*};
use crate::time::now_ms;
use token::KeyRing;

/// The most of a client-supplied user name kept in counters and the audit log: longer than any
/// account name (`robot$<project>+<name>` with a 255-character project and a 64-character name).
const NAME_SHOWN_MAX: usize = 400;
/// The most scopes one token request may name (each may cost a lookup).
const SCOPES_MAX: usize = 64;
/// The longest a CI push token may live.
const CI_TOKEN_MAX_TTL: Duration = Duration::from_secs(24 * 3600);

/// Why an access operation failed. `http/error.rs` maps each to an OCI error code and status
/// (Docker token authentication: <https://distribution.github.io/distribution/spec/auth/token/>).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No credentials, or credentials that are wrong, disabled or expired.
    #[error("authentication required")]
    Unauthenticated,
    /// A bearer token that cannot be used. The reason is one of a few fixed words ("expired",
    /// "bad signature", …) and goes to the client, as RFC 6750's `invalid_token` intends;
    /// it never carries the token, a key or a claim.
    #[error("invalid token: {0}")]
    BadToken(&'static str),
    /// An anonymous token does not grant the action: the client must authenticate.
    #[error("the token does not grant {0}")]
    InsufficientScope(String),
    /// An authenticated subject's token does not grant the action (RFC 6750's
    /// `insufficient_scope`, answered 403 with a challenge naming the scope, so that clients
    /// that keep their token until refused, like oras-py, ask for a new one).
    #[error("the token does not grant {0}; ask the token endpoint for it")]
    ScopeDenied(String),
    /// Authenticated, but not allowed to do this.
    #[error("{0}")]
    Denied(String),
    /// Too many failed logins for this user or address; retry after the given seconds.
    #[error("too many failed logins; retry in {0} s")]
    TooManyRequests(u64),
    /// The request is malformed (a bad scope, role, pattern or grant type).
    #[error("{0}")]
    Invalid(String),
    /// No such project, user or robot.
    #[error("{0} not found")]
    NotFound(String),
    /// The name is taken.
    #[error("{0} already exists")]
    Conflict(String),
    /// A bug or an impossible state; details stay in the log.
    #[error("{0}")]
    Internal(String),
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] storage::Error),
}

impl From<Unknown> for Error {
    fn from(unknown: Unknown) -> Error {
        Error::Invalid(unknown.0)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Options of the access service.
#[derive(Debug, Clone)]
pub struct Options {
    /// The `aud` of tokens and the `service` of challenges.
    pub service: String,
    /// The `iss` of tokens.
    pub issuer: String,
    pub token_ttl: Duration,
    /// Lifetime of refresh tokens (`docker login` keeps one instead of the password).
    pub refresh_ttl: Duration,
    /// A push into a project that does not exist creates it.
    pub auto_create_projects: bool,
    /// Failed logins allowed per user name, and per client address, within `login_window`.
    pub login_failures_per_user: u32,
    pub login_failures_per_address: u32,
    pub login_window: Duration,
    /// The longest lifetime of a robot account.
    pub robot_max_ttl: Duration,
    /// The bootstrap password of `admin`; generated (and handed to `berth serve`) when `None`.
    pub admin_password: Option<String>,
    /// How long a replica trusts what it read about a credential, a token or a project.
    pub cache_ttl: Duration,
}

/// Who is acting.
#[derive(Debug, Clone)]
pub enum Subject {
    Anonymous,
    User {
        id: i64,
        name: String,
        admin: bool,
    },
    Robot(Robot),
    /// `berth admin` on the server's machine: every right.
    Cli,
    /// berth itself: scheduled GC and retention, and the tag policy's automatic moves; every
    /// right, audited as `berth`.
    System,
}

impl Subject {
    /// The name written to the audit log.
    pub fn name(&self) -> &str {
        match self {
            Subject::Anonymous => "anonymous",
            Subject::User { name, .. } => name,
            Subject::Robot(robot) => &robot.name,
            Subject::Cli => "cli",
            Subject::System => SYSTEM_NAME,
        }
    }

    /// Who minted a credential, as the store keeps it: a user's name, or for the command line
    /// `(cli)`, which no user name can equal (names are a-z, 0-9, `.`, `_`, `-`).
    fn creator(&self) -> &str {
        match self {
            Subject::Cli => CLI_CREATOR,
            Subject::System => SYSTEM_CREATOR,
            subject => subject.name(),
        }
    }

    fn pid(&self) -> String {
        match self {
            Subject::User { id, .. } => format!("user:{id}"),
            Subject::Robot(robot) => format!("robot:{}", robot.id),
            Subject::Anonymous | Subject::Cli | Subject::System => String::new(),
        }
    }

    fn is_system_admin(&self) -> bool {
        matches!(
            self,
            Subject::User { admin: true, .. } | Subject::Cli | Subject::System
        )
    }
}

/// The acting subject plus the client's address, for the audit log and rate limits.
#[derive(Debug, Clone)]
pub struct Actor {
    pub subject: Subject,
    pub address: Option<IpAddr>,
}

impl Actor {
    /// berth itself, acting on its own schedule or policy.
    pub fn system() -> Actor {
        Actor {
            subject: Subject::System,
            address: None,
        }
    }
}

/// A verified registry request's caller: the token's claims (shared with the token cache) and
/// the client's address.
#[derive(Debug, Clone)]
pub struct Caller {
    pub address: Option<IpAddr>,
    claims: Arc<Claims>,
}

impl Caller {
    /// The token's subject; empty for anonymous callers.
    pub fn name(&self) -> &str {
        &self.claims.sub
    }

    /// Whether the token grants `action` on repository `name`.
    pub fn may(&self, name: &str, action: Action) -> bool {
        self.claims.access.iter().any(|g| {
            g.kind == "repository"
                && matches(&g.name, name)
                && g.actions.iter().any(|a| a == action.as_str())
        })
    }

    fn catalog(&self) -> bool {
        self.claims.access.iter().any(|g| g.kind == "registry")
    }
}

/// What a registry request needs.
#[derive(Debug, Clone)]
pub enum Need {
    /// `GET /v2/`: any valid token.
    Base,
    /// The catalog: listed entries are filtered by what the caller may see.
    Catalog,
    Repository {
        name: String,
        action: Action,
    },
}

impl Need {
    /// The scope to name in a challenge.
    pub fn scope(&self) -> Option<Scope> {
        match self {
            Need::Base => None,
            Need::Catalog => Some(Scope::Catalog),
            // A push reads too (blob checks, manifests): name both, as Distribution does, so
            // that one token serves the whole push.
            Need::Repository { name, action } => Some(Scope::Repository {
                name: name.clone(),
                actions: match action {
                    Action::Push => Actions::of(&[Action::Pull, Action::Push]),
                    action => Actions::of(&[*action]),
                },
            }),
        }
    }
}

/// How a token request authenticates.
#[derive(Debug)]
pub enum Credentials {
    None,
    Password { username: String, secret: String },
    RefreshToken(String),
}

/// A freshly minted token.
#[derive(Debug)]
pub struct Issued {
    pub token: String,
    pub expires_in: u64,
    /// Unix seconds.
    pub issued_at: i64,
    pub refresh_token: Option<String>,
    pub granted: Vec<Scope>,
}

/// What a login is for, which decides whether its success is audited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Login {
    /// A client asks for a token (`docker login`, each token request): audited as `login`.
    Session,
    /// Basic credentials on one management API call: the call's own action is audited, a
    /// `login` entry per request would only bury it.
    Request,
}

/// A newly created robot or CI token: the only time its secret is seen.
#[derive(Debug)]
pub struct NewCredential {
    /// The credential as stored.
    pub robot: Robot,
    pub secret: String,
}

/// What a robot or CI token may do, as requested at creation.
#[derive(Debug)]
pub struct RobotSpec {
    pub project: String,
    /// Robot name (robots) or ignored (CI tokens get a generated one).
    pub name: String,
    /// Repositories inside the project, comma-separated: names or patterns with `*`.
    pub pattern: String,
    pub actions: Actions,
    pub ttl: Duration,
}

/// The access service. Cheap to clone.
#[derive(Clone)]
pub struct Access {
    store: Arc<dyn AccessStore>,
    keys: KeyRing,
    options: Arc<Options>,
    cache: Arc<Mutex<Cache>>,
}

#[derive(Default)]
struct Cache {
    /// Credentials (`pid`) seen valid, and when.
    valid: HashMap<String, Instant>,
    /// Access tokens verified, and when.
    tokens: HashMap<String, (Arc<Claims>, Instant)>,
    projects: HashMap<String, (Option<Project>, Instant)>,
    /// Counts `invalidate` calls, so that a lookup that began before one does not cache.
    generation: u64,
}

impl Access {
    /// Opens the service: loads (or creates) the signing keys.
    pub async fn open(store: Arc<dyn AccessStore>, options: Options) -> Result<Access> {
        let longest = options.refresh_ttl.max(options.token_ttl);
        let keys = KeyRing::open(store.clone(), longest).await?;
        Ok(Access {
            store,
            keys,
            options: Arc::new(options),
            cache: Arc::default(),
        })
    }

    /// Creates the system administrator `admin` if there is none, with the configured
    /// password or a generated one, which is returned (once) for the caller to hand over.
    pub async fn bootstrap_admin(&self) -> Result<Option<String>> {
        if self.store.user_by_name("admin").await?.is_some() {
            return Ok(None);
        }
        let (password, generated) = match &self.options.admin_password {
            Some(password) => (password.clone(), false),
            None => (secret::generate(), true),
        };
        let hash = secret::hash_password(password.clone()).await?;
        let created = self.store.user_create("admin", &hash, true).await?;
        Ok((created.is_some() && generated).then_some(password))
    }

    pub fn options(&self) -> &Options {
        &self.options
    }
}

/// One page of the audit log.
#[derive(Debug)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// The `before` that continues the listing, when the page is full.
    pub next: Option<i64>,
}

/// Which projects' repositories a caller may list.
#[derive(Debug)]
pub enum Visibility {
    All,
    Projects(Vec<String>),
}

impl Visibility {
    pub fn shows(&self, repository: &str) -> bool {
        match self {
            Visibility::All => true,
            Visibility::Projects(projects) => projects.iter().any(|p| p == project_of(repository)),
        }
    }
}

/// What an audit entry is about.
#[derive(Debug, Default)]
pub struct Target {
    pub project: Option<String>,
    pub repository: Option<String>,
    pub digest: Option<String>,
    pub detail: Option<String>,
}

impl Target {
    pub fn none() -> Target {
        Target::default()
    }

    pub fn project(name: &str) -> Target {
        Target {
            project: Some(name.to_owned()),
            ..Target::default()
        }
    }

    pub fn repository(name: &str, digest: Option<String>) -> Target {
        Target {
            repository: Some(name.to_owned()),
            digest,
            ..Target::default()
        }
    }

    pub fn detail(text: &str) -> Target {
        Target {
            detail: Some(text.to_owned()),
            ..Target::default()
        }
    }

    pub fn with_detail(mut self, text: &str) -> Target {
        self.detail = Some(text.to_owned());
        self
    }
}

/// `created_by` of credentials minted with `berth admin`.
const CLI_CREATOR: &str = "(cli)";
/// berth itself in the audit log.
const SYSTEM_NAME: &str = "berth";
/// berth itself as a credential's creator, which no user name can equal.
const SYSTEM_CREATOR: &str = "(berth)";

fn validate_user_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "invalid name {name:?}: 1 to 64 of a-z, 0-9, '.', '_', '-'"
        )))
    }
}

fn validate_password(password: &str) -> Result<()> {
    if password.chars().count() < 8 {
        return Err(Error::Invalid(
            "a password needs at least 8 characters".into(),
        ));
    }
    Ok(())
}

/// A credential's patterns (comma-separated) must stay inside its project: `<project>/<name or
/// pattern>`.
fn validate_pattern(project: &str, patterns: &str) -> Result<()> {
    patterns
        .split(',')
        .try_for_each(|pattern| validate_one_pattern(project, pattern))
}

fn validate_one_pattern(project: &str, pattern: &str) -> Result<()> {
    let inside = pattern
        .strip_prefix(project)
        .and_then(|rest| rest.strip_prefix('/'))
        .is_some_and(|rest| !rest.is_empty());
    if !inside {
        return Err(Error::Invalid(format!(
            "{pattern:?} is not a repository or pattern inside project {project:?}"
        )));
    }
    if !pattern.contains('*') {
        validate_name(pattern).map_err(|e| Error::Invalid(e.to_string()))?;
    }
    Ok(())
}

/// The account name of robot `name` of `project`: `robot$<project>+<name>`, what `docker login`
/// takes.
pub fn robot_account(project: &str, name: &str) -> String {
    format!("robot${project}+{name}")
}

/// Parses a lifetime written with its unit: `90s`, `15m`, `12h`, `30d`, `2w`, `1h 30m`.
pub fn parse_ttl(text: &str) -> Result<Duration> {
    humantime::parse_duration(text.trim()).map_err(|e| {
        Error::Invalid(format!(
            "invalid lifetime {text:?}: {e} (write it with a unit, e.g. 15m, 12h, 30d)"
        ))
    })
}
