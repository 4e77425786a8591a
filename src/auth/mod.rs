//! The access service: projects, users and roles, robot accounts and CI push tokens, Docker
//! token authentication, login rate limits and the audit log.
//!
//! Architecture invariant: everything lives in the `AccessStore` (keys, counters, credentials),
//! never only in this process, so that every replica makes the same decisions. The only
//! per-process state is a cache of at most one second (verified tokens, credential status,
//! project visibility), which the replica making a change clears at once.
//! Secrets and passwords never reach the log, the audit log or the store: only their hashes.

mod scope;
mod secret;
mod token;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use crate::oci::names::project_of;
/// The records the access service hands out, as its store keeps them.
pub use crate::storage::access::{AuditEntry, AuditFilter, Robot};
pub use scope::{Action, Actions, Role, Scope, matches};
pub use token::{AccessClaim, Claims};

use crate::oci::names::validate_name;
use crate::storage::{self, access::*};
use crate::time::now_ms;
use token::KeyRing;

/// How long a replica trusts what it read about a credential or a project.
const CACHE_TTL: Duration = Duration::from_secs(1);
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
    /// A bearer token that cannot be used; the reason is for the log, not the client.
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

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Settings of the access service.
#[derive(Debug, Clone)]
pub struct Settings {
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
}

impl Subject {
    /// The name written to the audit log.
    pub fn name(&self) -> &str {
        match self {
            Subject::Anonymous => "anonymous",
            Subject::User { name, .. } => name,
            Subject::Robot(robot) => &robot.name,
            Subject::Cli => "cli",
        }
    }

    /// Who minted a credential, as the store keeps it: a user's name, or for the command line
    /// `(cli)`, which no user name can equal (names are a-z, 0-9, `.`, `_`, `-`).
    fn creator(&self) -> &str {
        match self {
            Subject::Cli => CLI_CREATOR,
            subject => subject.name(),
        }
    }

    fn pid(&self) -> String {
        match self {
            Subject::User { id, .. } => format!("user:{id}"),
            Subject::Robot(robot) => format!("robot:{}", robot.id),
            Subject::Anonymous | Subject::Cli => String::new(),
        }
    }

    fn is_system_admin(&self) -> bool {
        matches!(self, Subject::User { admin: true, .. } | Subject::Cli)
    }
}

/// The acting subject plus the client's address, for the audit log and rate limits.
#[derive(Debug, Clone)]
pub struct Actor {
    pub subject: Subject,
    pub address: Option<IpAddr>,
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
    settings: Arc<Settings>,
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
    pub async fn open(store: Arc<dyn AccessStore>, settings: Settings) -> Result<Access> {
        let longest = settings.refresh_ttl.max(settings.token_ttl);
        let keys = KeyRing::open(store.clone(), longest).await?;
        Ok(Access {
            store,
            keys,
            settings: Arc::new(settings),
            cache: Arc::default(),
        })
    }

    /// Creates the system administrator `admin` if there is none, with the configured
    /// password or a generated one, which is returned (once) for the caller to hand over.
    pub async fn bootstrap_admin(&self) -> Result<Option<String>> {
        if self.store.user_by_name("admin").await?.is_some() {
            return Ok(None);
        }
        let (password, generated) = match &self.settings.admin_password {
            Some(password) => (password.clone(), false),
            None => (secret::generate(), true),
        };
        let hash = secret::hash_password(password.clone()).await?;
        let created = self.store.user_create("admin", &hash, true).await?;
        Ok((created.is_some() && generated).then_some(password))
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    // --- Authentication ---------------------------------------------------------------------

    /// Checks a user name and password (or robot name and secret), with rate limits per user
    /// and per address, and writes a `login.failed` audit entry, or for `Login::Session` a
    /// `login` entry.
    pub async fn login(
        &self,
        username: &str,
        secret: &str,
        address: Option<IpAddr>,
        kind: Login,
    ) -> Result<Subject> {
        let now = now_ms();
        let window = self.settings.login_window.as_millis() as i64;
        // The name is the client's to choose: bound what of it reaches the store and the log.
        let username = match username.char_indices().nth(NAME_SHOWN_MAX) {
            Some((end, _)) => &username[..end],
            None => username,
        };
        let user_key = format!("user:{username}");
        let addr_key = address.map(|a| format!("addr:{a}"));
        // Every attempt is counted as a failure before its secret is checked, in one statement
        // of the store, so that however many arrive at once (on any replica), no more are
        // checked than the limits allow. A success, or a refusal, takes its count back.
        let user_attempts = self
            .store
            .login_failure_record(&user_key, now, window)
            .await?;
        let addr_attempts = match &addr_key {
            Some(key) => self.store.login_failure_record(key, now, window).await?,
            None => 0,
        };
        if user_attempts > self.settings.login_failures_per_user
            || addr_attempts > self.settings.login_failures_per_address
        {
            // Refused unchecked: it is no failure, and must not lock others out of the address.
            self.store.login_failure_forgive(&user_key).await?;
            if let Some(key) = &addr_key {
                self.store.login_failure_forgive(key).await?;
            }
            self.audit_as(username, address, "login.limited", Target::none())
                .await;
            return Err(Error::TooManyRequests(self.settings.login_window.as_secs()));
        }
        let subject = self.check_secret(username, secret).await?;
        match subject {
            Some(subject) => {
                self.store.login_failures_clear(&user_key).await?;
                if let Some(key) = &addr_key {
                    self.store.login_failure_forgive(key).await?;
                }
                if kind == Login::Session {
                    self.audit_as(subject.name(), address, "login", Target::none())
                        .await;
                }
                Ok(subject)
            }
            None => {
                self.audit_as(username, address, "login.failed", Target::none())
                    .await;
                Err(Error::Unauthenticated)
            }
        }
    }

    /// The subject whose secret this is, if it is valid and usable now.
    async fn check_secret(&self, username: &str, secret: &str) -> Result<Option<Subject>> {
        if username.contains('$') {
            let robot = self.store.robot_by_name(username).await?;
            let ok = robot
                .as_ref()
                .is_some_and(|r| secret::matches(secret, &r.secret_hash));
            let Some(robot) = robot.filter(|r| ok && !r.disabled && r.expires_at > now_ms()) else {
                return Ok(None);
            };
            if robot.kind == "ci" && !self.minter_entitled(&robot).await? {
                return Ok(None);
            }
            return Ok(Some(Subject::Robot(robot)));
        }
        let user = self.store.user_by_name(username).await?;
        let ok = secret::verify_password(
            secret.to_owned(),
            user.as_ref().map(|u| u.password_hash.clone()),
        )
        .await;
        Ok(user.filter(|u| ok && !u.disabled).map(|u| Subject::User {
            id: u.id,
            name: u.name,
            admin: u.admin,
        }))
    }

    /// The subject behind a credential id, if it still exists and may act.
    ///
    /// With `authenticated_at` (a refresh token's `auth_ms`), a user whose password changed
    /// since then counts as gone.
    async fn subject_by_pid(
        &self,
        pid: &str,
        authenticated_at: Option<i64>,
    ) -> Result<Option<Subject>> {
        let Some((kind, id)) = pid.split_once(':') else {
            return Ok(Some(Subject::Anonymous));
        };
        let id: i64 = id
            .parse()
            .map_err(|_| Error::BadToken("malformed subject"))?;
        Ok(match kind {
            "user" => self
                .store
                .user_by_id(id)
                .await?
                .filter(|u| !u.disabled)
                .filter(|u| authenticated_at.is_none_or(|at| u.password_changed_at < at))
                .map(|u| Subject::User {
                    id: u.id,
                    name: u.name,
                    admin: u.admin,
                }),
            "robot" => match self.store.robot_by_id(id).await? {
                Some(robot) if robot.disabled || robot.expires_at <= now_ms() => None,
                Some(robot) if robot.kind == "ci" && !self.minter_entitled(&robot).await? => None,
                robot => robot.map(Subject::Robot),
            },
            _ => None,
        })
    }

    // --- Tokens -----------------------------------------------------------------------------

    /// Authenticates a token request and mints a token for the part of `scopes` the subject
    /// may have (an anonymous request gets what public projects allow). With `offline`, an
    /// authenticated subject also gets a refresh token.
    pub async fn issue(
        &self,
        credentials: Credentials,
        scopes: &[Scope],
        offline: bool,
        address: Option<IpAddr>,
    ) -> Result<Issued> {
        if scopes.len() > SCOPES_MAX {
            return Err(Error::Invalid(format!(
                "at most {SCOPES_MAX} scopes per token request"
            )));
        }
        let subject = match credentials {
            Credentials::None => Subject::Anonymous,
            Credentials::Password { username, secret } => {
                self.login(&username, &secret, address, Login::Session)
                    .await?
            }
            Credentials::RefreshToken(token) => {
                let claims = self
                    .keys
                    .verify(&token, &self.settings.issuer, &self.settings.service)
                    .await
                    .map_err(|_| Error::Unauthenticated)?;
                if claims.typ != "refresh" {
                    return Err(Error::Unauthenticated);
                }
                self.subject_by_pid(&claims.pid, Some(claims.auth_ms))
                    .await?
                    .filter(|s| !matches!(s, Subject::Anonymous))
                    .ok_or(Error::Unauthenticated)?
            }
        };
        let mut granted = Vec::new();
        for scope in scopes {
            match scope {
                Scope::Catalog => granted.push(Scope::Catalog),
                Scope::Repository { name, actions } => {
                    let allowed = self.allowed(&subject, name).await?.intersect(*actions);
                    if !allowed.is_empty() {
                        granted.push(Scope::Repository {
                            name: name.clone(),
                            actions: allowed,
                        });
                    }
                }
            }
        }
        let now = now_ms();
        let mut ttl = self.settings.token_ttl.as_millis() as i64;
        if let Subject::Robot(robot) = &subject {
            ttl = ttl.min(robot.expires_at - now);
        }
        let claims = self.claims(&subject, "access", now, ttl, &granted);
        let token = self.keys.sign(&claims)?;
        let refresh_token = match (&subject, offline) {
            (Subject::Anonymous, _) | (_, false) => None,
            _ => {
                let mut ttl = self.settings.refresh_ttl.as_millis() as i64;
                if let Subject::Robot(robot) = &subject {
                    ttl = ttl.min(robot.expires_at - now);
                }
                Some(
                    self.keys
                        .sign(&self.claims(&subject, "refresh", now, ttl, &[]))?,
                )
            }
        };
        Ok(Issued {
            token,
            expires_in: (ttl / 1000).max(0) as u64,
            issued_at: now / 1000,
            refresh_token,
            granted,
        })
    }

    fn claims(
        &self,
        subject: &Subject,
        typ: &str,
        now: i64,
        ttl_ms: i64,
        granted: &[Scope],
    ) -> Claims {
        let access = granted
            .iter()
            .map(|scope| match scope {
                Scope::Catalog => AccessClaim {
                    kind: "registry".into(),
                    name: "catalog".into(),
                    actions: vec!["*".into()],
                },
                Scope::Repository { name, actions } => AccessClaim {
                    kind: "repository".into(),
                    name: name.clone(),
                    actions: actions.iter().map(|a| a.as_str().to_owned()).collect(),
                },
            })
            .collect();
        Claims {
            iss: self.settings.issuer.clone(),
            sub: match subject {
                Subject::Anonymous => String::new(),
                other => other.name().to_owned(),
            },
            aud: self.settings.service.clone(),
            exp: (now + ttl_ms) / 1000,
            nbf: now / 1000,
            iat: now / 1000,
            jti: hex::encode(secret::random_bytes::<12>()),
            access,
            pid: subject.pid(),
            typ: typ.to_owned(),
            auth_ms: now,
        }
    }

    /// The actions `subject` may have on repository `name`, or on every repository matching
    /// `name` when it is a pattern (`team/*`; only system administrators may name patterns
    /// across projects).
    async fn allowed(&self, subject: &Subject, name: &str) -> Result<Actions> {
        if subject.is_system_admin() {
            return Ok(Actions::ALL);
        }
        let project_name = project_of(name);
        if project_name.contains('*') {
            return Ok(Actions::NONE);
        }
        let project = self.project_cached(project_name).await?;
        let public = if project.as_ref().is_some_and(|p| p.public) {
            Actions::of(&[Action::Pull])
        } else {
            Actions::NONE
        };
        Ok(match subject {
            Subject::Anonymous => public,
            Subject::Robot(robot) => {
                let covered = robot.pattern.split(',').any(|p| matches(p, name));
                if robot.project == project_name && covered {
                    Actions::parse_lenient(&robot.actions)
                } else {
                    public
                }
            }
            Subject::User { id, .. } => match project {
                Some(_) => match self.store.role(project_name, *id).await? {
                    Some(role) => Role::parse(&role)?.actions().union(public),
                    None => public,
                },
                // Whoever pushes first into a new project becomes its admin, if allowed.
                None if self.settings.auto_create_projects => {
                    Actions::of(&[Action::Pull, Action::Push])
                }
                None => Actions::NONE,
            },
            Subject::Cli => Actions::ALL,
        })
    }

    // --- Authorization of registry requests -------------------------------------------------

    /// Verifies a registry request's bearer token (or its absence) against what it needs.
    /// Without a token, only pulls from public projects pass.
    pub async fn authorize(
        &self,
        token: Option<&str>,
        need: &Need,
        address: Option<IpAddr>,
    ) -> Result<Caller> {
        let Some(token) = token else {
            if let Need::Repository {
                name,
                action: Action::Pull,
            } = need
            {
                let project = self.project_cached(project_of(name)).await?;
                if project.is_some_and(|p| p.public) {
                    // What an anonymous token for this pull would say; nothing is signed.
                    let claims = Claims {
                        iss: String::new(),
                        sub: String::new(),
                        aud: String::new(),
                        exp: i64::MAX,
                        nbf: 0,
                        iat: 0,
                        jti: String::new(),
                        access: vec![AccessClaim {
                            kind: "repository".into(),
                            name: name.clone(),
                            actions: vec!["pull".into()],
                        }],
                        pid: String::new(),
                        typ: "access".into(),
                        auth_ms: 0,
                    };
                    return Ok(Caller {
                        address,
                        claims: Arc::new(claims),
                    });
                }
            }
            return Err(Error::Unauthenticated);
        };
        let claims = self.verified(token).await?;
        if !claims.pid.is_empty() && !self.credential_valid(&claims.pid).await? {
            return Err(Error::BadToken("credential disabled, expired or deleted"));
        }
        let caller = Caller { address, claims };
        let granted = match need {
            Need::Base => true,
            Need::Catalog => caller.catalog(),
            Need::Repository { name, action } => caller.may(name, *action),
        };
        if granted {
            Ok(caller)
        } else {
            let scope = need.scope().map(|s| s.to_string()).unwrap_or_default();
            if caller.name().is_empty() {
                Err(Error::InsufficientScope(scope))
            } else {
                Err(Error::ScopeDenied(scope))
            }
        }
    }

    /// The claims of a valid access token. A token verified in the last `CACHE_TTL` (and not
    /// expired since) is taken from the cache: clients send the same token with every request,
    /// and checking it again costs more than serving a manifest.
    async fn verified(&self, token: &str) -> Result<Arc<Claims>> {
        {
            let cache = self.cache.lock().expect("access cache lock");
            if let Some((claims, at)) = cache.tokens.get(token)
                && at.elapsed() < CACHE_TTL
                && claims.exp * 1000 > now_ms()
            {
                return Ok(claims.clone());
            }
        }
        let claims = self
            .keys
            .verify(token, &self.settings.issuer, &self.settings.service)
            .await?;
        if claims.typ != "access" {
            return Err(Error::BadToken("not an access token"));
        }
        let claims = Arc::new(claims);
        let mut cache = self.cache.lock().expect("access cache lock");
        if cache.tokens.len() > 10_000 {
            cache.tokens.clear();
        }
        cache
            .tokens
            .insert(token.to_owned(), (claims.clone(), Instant::now()));
        Ok(claims)
    }

    /// Whether the credential still exists and may act; trusted for `CACHE_TTL` once seen.
    async fn credential_valid(&self, pid: &str) -> Result<bool> {
        let generation = {
            let cache = self.cache.lock().expect("access cache lock");
            if cache
                .valid
                .get(pid)
                .is_some_and(|at| at.elapsed() < CACHE_TTL)
            {
                return Ok(true);
            }
            cache.generation
        };
        let valid = self.subject_by_pid(pid, None).await?.is_some();
        let mut cache = self.cache.lock().expect("access cache lock");
        // A change made here while we read must not be overwritten by what we read before it.
        if valid && cache.generation == generation {
            cache.valid.insert(pid.to_owned(), Instant::now());
        }
        Ok(valid)
    }

    async fn project_cached(&self, name: &str) -> Result<Option<Project>> {
        let generation = {
            let cache = self.cache.lock().expect("access cache lock");
            if let Some((project, at)) = cache.projects.get(name)
                && at.elapsed() < CACHE_TTL
            {
                return Ok(project.clone());
            }
            cache.generation
        };
        let project = self.store.project(name).await?;
        let mut cache = self.cache.lock().expect("access cache lock");
        if cache.projects.len() > 10_000 {
            cache.projects.clear();
        }
        if cache.generation == generation {
            cache
                .projects
                .insert(name.to_owned(), (project.clone(), Instant::now()));
        }
        Ok(project)
    }

    /// Forgets what this replica cached, after a change it made itself.
    fn invalidate(&self) {
        let mut cache = self.cache.lock().expect("access cache lock");
        cache.generation += 1;
        cache.valid.clear();
        cache.tokens.clear();
        cache.projects.clear();
    }

    /// Before a push: the repository's project must exist, or be created when the server
    /// allows it (the pusher becomes the new project's admin).
    pub async fn ensure_project(&self, caller: &Caller, repository: &str) -> Result<()> {
        let name = project_of(repository);
        if self.project_cached(name).await?.is_some() {
            return Ok(());
        }
        if !self.settings.auto_create_projects {
            return Err(Error::Denied(format!(
                "project {name:?} does not exist; an administrator must create it"
            )));
        }
        let admin = caller
            .claims
            .pid
            .strip_prefix("user:")
            .and_then(|id| id.parse().ok());
        let project = Project {
            name: name.to_owned(),
            public: false,
        };
        if self.store.project_create(&project, admin).await? {
            self.invalidate();
            self.audit_caller(caller, "project.create", Target::project(name))
                .await;
        }
        Ok(())
    }

    /// Whether the caller may see repositories of `project` in the catalog.
    pub async fn visible_projects(&self, caller: &Caller) -> Result<Visibility> {
        let subject = self
            .subject_by_pid(&caller.claims.pid, None)
            .await?
            .unwrap_or(Subject::Anonymous);
        if subject.is_system_admin() {
            return Ok(Visibility::All);
        }
        let mut projects: Vec<String> = self
            .store
            .projects()
            .await?
            .into_iter()
            .filter(|p| p.public)
            .map(|p| p.name)
            .collect();
        match &subject {
            Subject::User { id, .. } => {
                projects.extend(
                    self.store
                        .memberships(*id)
                        .await?
                        .into_iter()
                        .map(|(p, _)| p),
                );
            }
            Subject::Robot(robot) => projects.push(robot.project.clone()),
            Subject::Anonymous | Subject::Cli => {}
        }
        Ok(Visibility::Projects(projects))
    }

    // --- Audit ------------------------------------------------------------------------------

    /// Appends to the audit log as `actor`. A failure to write is logged, not returned: the
    /// action it records has already happened.
    pub async fn audit(&self, actor: &Actor, action: &str, target: Target) {
        self.audit_as(actor.subject.name(), actor.address, action, target)
            .await;
    }

    /// Appends to the audit log as the caller of a registry request.
    pub async fn audit_caller(&self, caller: &Caller, action: &str, target: Target) {
        let name = if caller.name().is_empty() {
            "anonymous"
        } else {
            caller.name()
        };
        self.audit_as(name, caller.address, action, target).await;
    }

    /// Appends to the audit log as berth itself (automatic tag moves, scheduled jobs).
    pub async fn audit_system(&self, who: &str, action: &str, target: Target) {
        self.audit_as(who, None, action, target).await;
    }

    async fn audit_as(&self, who: &str, address: Option<IpAddr>, action: &str, target: Target) {
        let entry = AuditEntry {
            id: 0,
            at: now_ms(),
            actor: who.to_owned(),
            action: action.to_owned(),
            project: target.project.or_else(|| {
                target
                    .repository
                    .as_deref()
                    .map(|r| project_of(r).to_owned())
            }),
            repository: target.repository,
            digest: target.digest,
            detail: target.detail,
            address: address.map(|a| a.to_string()),
        };
        self.append(&entry).await;
    }

    async fn append(&self, entry: &AuditEntry) {
        if let Err(e) = self.store.audit_append(entry).await {
            tracing::error!(action = %entry.action, "writing the audit log failed: {e}");
        }
    }

    /// A page of audit entries, newest first, and the `before` of the next page when there may
    /// be one. System administrators see all; project admins see their projects' entries (they
    /// must name the project).
    pub async fn audit_log(&self, actor: &Actor, filter: &AuditFilter) -> Result<AuditPage> {
        if !actor.subject.is_system_admin() {
            let Some(project) = &filter.project else {
                return Err(Error::Denied("only system administrators may list all projects' audit entries; name a project".into()));
            };
            self.require_project_admin(actor, project).await?;
        }
        let mut filter = filter.clone();
        filter.limit = filter.limit.clamp(1, 1000);
        let entries = self.store.audit_query(&filter).await?;
        let full = entries.len() as u32 >= filter.limit;
        let next = entries.last().filter(|_| full).map(|e| e.id);
        Ok(AuditPage { entries, next })
    }

    // --- Management -------------------------------------------------------------------------

    pub fn require_system_admin(&self, actor: &Actor) -> Result<()> {
        if actor.subject.is_system_admin() {
            Ok(())
        } else {
            Err(Error::Denied("this needs a system administrator".into()))
        }
    }

    async fn role_of(&self, actor: &Actor, project: &str) -> Result<Option<Role>> {
        match &actor.subject {
            Subject::User { id, .. } => self
                .store
                .role(project, *id)
                .await?
                .map(|r| Role::parse(&r))
                .transpose(),
            _ => Ok(None),
        }
    }

    /// Refuses unless `actor` administers `project`, and answers `NotFound` (to those who
    /// may know) when the project does not exist.
    async fn require_project_admin(&self, actor: &Actor, project: &str) -> Result<()> {
        self.require_role(actor, project, Role::Admin).await?;
        self.existing_project(project).await.map(drop)
    }

    /// Refuses unless `actor` is a system administrator or holds at least `role` in `project`.
    pub async fn require_role(&self, actor: &Actor, project: &str, role: Role) -> Result<()> {
        if actor.subject.is_system_admin()
            || self
                .role_of(actor, project)
                .await?
                .is_some_and(|r| r >= role)
        {
            Ok(())
        } else {
            Err(Error::Denied(format!(
                "this needs the {} role in project {project:?}",
                role.as_str()
            )))
        }
    }

    /// The actor behind a registry request's token, looked up again (it may be gone since the
    /// token was issued).
    pub async fn actor_of(&self, caller: &Caller) -> Result<Actor> {
        let subject = self.subject_by_pid(&caller.claims.pid, None).await?;
        Ok(Actor {
            subject: subject.unwrap_or(Subject::Anonymous),
            address: caller.address,
        })
    }

    /// Project `name`, or `NotFound`.
    pub async fn existing_project(&self, name: &str) -> Result<Project> {
        self.store
            .project(name)
            .await?
            .ok_or_else(|| Error::NotFound(format!("project {name:?}")))
    }

    /// Creates project `name` and returns it.
    pub async fn create_project(&self, actor: &Actor, name: &str, public: bool) -> Result<Project> {
        self.require_system_admin(actor)?;
        if name.contains('/') || validate_name(name).is_err() {
            return Err(Error::Invalid(format!(
                "invalid project name {name:?}: one path component of lower-case letters and \
                 digits, with `.`, `_`, `__` or dashes between them"
            )));
        }
        let project = Project {
            name: name.to_owned(),
            public,
        };
        if !self.store.project_create(&project, None).await? {
            return Err(Error::Conflict(format!("project {name:?}")));
        }
        self.invalidate();
        let detail = if public { "public" } else { "private" };
        self.audit(
            actor,
            "project.create",
            Target::project(name).with_detail(detail),
        )
        .await;
        Ok(project)
    }

    pub async fn set_project_public(&self, actor: &Actor, name: &str, public: bool) -> Result<()> {
        self.require_project_admin(actor, name).await?;
        if !self.store.project_set_public(name, public).await? {
            return Err(Error::NotFound(format!("project {name:?}")));
        }
        self.invalidate();
        let detail = format!("public={public}");
        self.audit(
            actor,
            "project.update",
            Target::project(name).with_detail(&detail),
        )
        .await;
        Ok(())
    }

    /// Projects the actor may see.
    pub async fn projects(&self, actor: &Actor) -> Result<Vec<Project>> {
        let all = self.store.projects().await?;
        if actor.subject.is_system_admin() {
            return Ok(all);
        }
        let mine: Vec<String> = match &actor.subject {
            Subject::User { id, .. } => self
                .store
                .memberships(*id)
                .await?
                .into_iter()
                .map(|(p, _)| p)
                .collect(),
            _ => Vec::new(),
        };
        Ok(all
            .into_iter()
            .filter(|p| p.public || mine.contains(&p.name))
            .collect())
    }

    pub async fn create_user(
        &self,
        actor: &Actor,
        name: &str,
        password: &str,
        admin: bool,
    ) -> Result<()> {
        self.require_system_admin(actor)?;
        validate_user_name(name)?;
        validate_password(password)?;
        let hash = secret::hash_password(password.to_owned()).await?;
        if self.store.user_create(name, &hash, admin).await?.is_none() {
            return Err(Error::Conflict(format!("user {name:?}")));
        }
        let detail = if admin {
            "system administrator"
        } else {
            "user"
        };
        self.audit(
            actor,
            "user.create",
            Target::detail(&format!("{name} ({detail})")),
        )
        .await;
        Ok(())
    }

    /// Changes a user. Users may change their own password; everything else needs a system
    /// administrator.
    pub async fn update_user(
        &self,
        actor: &Actor,
        name: &str,
        password: Option<&str>,
        admin: Option<bool>,
        disabled: Option<bool>,
    ) -> Result<()> {
        let own_password_only = admin.is_none()
            && disabled.is_none()
            && matches!(&actor.subject, Subject::User { name: me, .. } if me == name);
        if !own_password_only {
            self.require_system_admin(actor)?;
        }
        let password_hash = match password {
            Some(password) => {
                validate_password(password)?;
                Some(secret::hash_password(password.to_owned()).await?)
            }
            None => None,
        };
        let update = UserUpdate {
            password_hash,
            admin,
            disabled,
        };
        if !self.store.user_update(name, &update).await? {
            return Err(Error::NotFound(format!("user {name:?}")));
        }
        self.invalidate();
        let mut changes = Vec::new();
        if password.is_some() {
            changes.push("password changed".to_owned());
        }
        if let Some(admin) = admin {
            changes.push(format!("admin={admin}"));
        }
        if let Some(disabled) = disabled {
            changes.push(format!("disabled={disabled}"));
        }
        let detail = format!("{name}: {}", changes.join(", "));
        self.audit(actor, "user.update", Target::detail(&detail))
            .await;
        Ok(())
    }

    pub async fn users(&self, actor: &Actor) -> Result<Vec<User>> {
        self.require_system_admin(actor)?;
        Ok(self.store.users().await?)
    }

    pub async fn set_member(
        &self,
        actor: &Actor,
        project: &str,
        user: &str,
        role: Role,
    ) -> Result<()> {
        self.require_project_admin(actor, project).await?;
        let found = self.store.user_by_name(user).await?;
        let found = found.ok_or_else(|| Error::NotFound(format!("user {user:?}")))?;
        self.store
            .member_set(project, found.id, role.as_str())
            .await?;
        self.invalidate();
        let detail = format!("{user} is {}", role.as_str());
        self.audit(
            actor,
            "member.set",
            Target::project(project).with_detail(&detail),
        )
        .await;
        Ok(())
    }

    pub async fn remove_member(&self, actor: &Actor, project: &str, user: &str) -> Result<()> {
        self.require_project_admin(actor, project).await?;
        let found = self.store.user_by_name(user).await?;
        let found = found.ok_or_else(|| Error::NotFound(format!("user {user:?}")))?;
        if !self.store.member_remove(project, found.id).await? {
            return Err(Error::NotFound(format!("member {user:?} of {project:?}")));
        }
        self.invalidate();
        self.audit(
            actor,
            "member.remove",
            Target::project(project).with_detail(user),
        )
        .await;
        Ok(())
    }

    pub async fn members(&self, actor: &Actor, project: &str) -> Result<Vec<(String, String)>> {
        self.require_project_admin(actor, project).await?;
        Ok(self.store.members(project).await?)
    }

    /// Creates the robot account `robot_account(project, name)`; the secret is returned only here.
    pub async fn create_robot(&self, actor: &Actor, spec: &RobotSpec) -> Result<NewCredential> {
        self.require_project_admin(actor, &spec.project).await?;
        validate_user_name(&spec.name)?;
        let max = self.settings.robot_max_ttl;
        if spec.ttl > max || spec.ttl.is_zero() {
            return Err(Error::Invalid(format!(
                "a robot lives between one second and {} days ([auth] robot_max_ttl_days)",
                max.as_secs() / 86_400
            )));
        }
        let name = robot_account(&spec.project, &spec.name);
        self.mint(actor, "robot", name, spec, "robot.create").await
    }

    /// Mints a CI push token for repositories of one project matching `pattern`, valid for
    /// `ttl` (at most a day). The actor must be able to push there.
    pub async fn create_ci_token(
        &self,
        actor: &Actor,
        pattern: &str,
        ttl: Duration,
    ) -> Result<NewCredential> {
        let project = project_of(pattern).to_owned();
        let can_push = actor.subject.is_system_admin()
            || self
                .role_of(actor, &project)
                .await?
                .is_some_and(|r| r >= Role::Developer);
        if !can_push {
            return Err(Error::Denied(format!(
                "minting a push token for {pattern:?} needs push rights in project {project:?}"
            )));
        }
        if ttl > CI_TOKEN_MAX_TTL || ttl.is_zero() {
            return Err(Error::Invalid(
                "a CI token lives between one second and one day".into(),
            ));
        }
        self.existing_project(&project).await?;
        let spec = RobotSpec {
            project: project.clone(),
            name: String::new(),
            pattern: pattern.to_owned(),
            actions: Actions::of(&[Action::Pull, Action::Push]),
            ttl,
        };
        let name = format!("ci${project}+{}", hex::encode(secret::random_bytes::<5>()));
        self.mint(actor, "ci", name, &spec, "token.create").await
    }

    /// Stores a new credential of `spec` in its project, which the caller has checked exists.
    async fn mint(
        &self,
        actor: &Actor,
        kind: &str,
        name: String,
        spec: &RobotSpec,
        action: &str,
    ) -> Result<NewCredential> {
        validate_pattern(&spec.project, &spec.pattern)?;
        if spec.actions.is_empty() {
            return Err(Error::Invalid(
                "a credential needs at least one action".into(),
            ));
        }
        let secret = secret::generate();
        let expires_at = i64::try_from(spec.ttl.as_millis())
            .ok()
            .and_then(|ttl| now_ms().checked_add(ttl))
            .ok_or_else(|| Error::Invalid(format!("lifetime {:?} is too long", spec.ttl)))?;
        let mut robot = Robot {
            id: 0,
            name: name.clone(),
            kind: kind.to_owned(),
            project: spec.project.clone(),
            pattern: spec.pattern.clone(),
            actions: spec.actions.to_string(),
            secret_hash: secret::digest(&secret),
            expires_at,
            disabled: false,
            created_by: actor.subject.creator().to_owned(),
        };
        let Some(id) = self.store.robot_create(&robot).await? else {
            return Err(Error::Conflict(format!("credential {name:?}")));
        };
        robot.id = id;
        let detail = format!(
            "{name}: {} on {} for {} s",
            spec.actions,
            spec.pattern,
            spec.ttl.as_secs()
        );
        self.audit(
            actor,
            action,
            Target::project(&spec.project).with_detail(&detail),
        )
        .await;
        Ok(NewCredential { robot, secret })
    }

    async fn existing_robot(&self, name: &str) -> Result<Robot> {
        self.store
            .robot_by_name(name)
            .await?
            .ok_or_else(|| Error::NotFound(format!("credential {name:?}")))
    }

    /// Robots and CI tokens may be managed by their project's admins; CI tokens also by the
    /// user who minted them, while that user may still push in the project.
    async fn require_robot_manager(&self, actor: &Actor, robot: &Robot) -> Result<()> {
        let minted_it = robot.kind == "ci"
            && matches!(actor.subject, Subject::User { .. })
            && robot.created_by == actor.subject.creator()
            && self.minter_entitled(robot).await?;
        if minted_it {
            return Ok(());
        }
        self.require_project_admin(actor, &robot.project).await
    }

    /// Whether the minter of CI token `robot` may still push in its project: a CI token never
    /// has more rights than its minter has now. Tokens minted on the command line stand
    /// on their own (as do those minted, before `(cli)` was the CLI's mark, as `cli`).
    async fn minter_entitled(&self, robot: &Robot) -> Result<bool> {
        if robot.created_by == CLI_CREATOR || robot.created_by == "cli" {
            return Ok(true);
        }
        let Some(user) = self.store.user_by_name(&robot.created_by).await? else {
            return Ok(false);
        };
        if user.disabled {
            return Ok(false);
        }
        if user.admin {
            return Ok(true);
        }
        let role = self.store.role(&robot.project, user.id).await?;
        let role = role.map(|r| Role::parse(&r)).transpose()?;
        Ok(role.is_some_and(|r| r >= Role::Developer))
    }

    pub async fn set_robot_disabled(
        &self,
        actor: &Actor,
        name: &str,
        disabled: bool,
    ) -> Result<()> {
        let robot = self.existing_robot(name).await?;
        self.require_robot_manager(actor, &robot).await?;
        self.store.robot_set_disabled(name, disabled).await?;
        self.invalidate();
        let action = if disabled {
            "robot.disable"
        } else {
            "robot.enable"
        };
        self.audit(
            actor,
            action,
            Target::project(&robot.project).with_detail(name),
        )
        .await;
        Ok(())
    }

    /// Deletes a robot or revokes a CI token; it stops working at once.
    pub async fn delete_robot(&self, actor: &Actor, name: &str) -> Result<()> {
        let robot = self.existing_robot(name).await?;
        self.require_robot_manager(actor, &robot).await?;
        self.store.robot_delete(name).await?;
        self.invalidate();
        let action = if robot.kind == "ci" {
            "token.revoke"
        } else {
            "robot.delete"
        };
        self.audit(
            actor,
            action,
            Target::project(&robot.project).with_detail(name),
        )
        .await;
        Ok(())
    }

    pub async fn robots(&self, actor: &Actor, project: &str) -> Result<Vec<Robot>> {
        self.require_project_admin(actor, project).await?;
        Ok(self.store.robots(project).await?)
    }

    /// Adds a new signing key; tokens signed with the old ones stay valid until they expire.
    pub async fn rotate_keys(&self, actor: &Actor) -> Result<String> {
        self.require_system_admin(actor)?;
        let kid = self.keys.rotate().await?;
        self.audit(actor, "key.rotate", Target::detail(&kid)).await;
        Ok(kid)
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
