//! Authorization of registry requests: a verified token against the scope an endpoint needs, project creation on first push, and which projects a caller may see.

use super::*;

impl Access {
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

    /// The claims of a valid access token. A token verified in the last `cache_ttl` (and not
    /// expired since) is taken from the cache: clients send the same token with every request,
    /// and checking it again costs more than serving a manifest.
    pub(super) async fn verified(&self, token: &str) -> Result<Arc<Claims>> {
        {
            let cache = self.cache.lock().expect("access cache lock");
            if let Some((claims, at)) = cache.tokens.get(token)
                && at.elapsed() < self.options.cache_ttl
                && claims.exp * 1000 > now_ms()
            {
                return Ok(claims.clone());
            }
        }
        let claims = self
            .keys
            .verify(token, &self.options.issuer, &self.options.service)
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

    /// Whether the credential still exists and may act; trusted for `cache_ttl` once seen.
    pub(super) async fn credential_valid(&self, pid: &str) -> Result<bool> {
        let generation = {
            let cache = self.cache.lock().expect("access cache lock");
            if cache
                .valid
                .get(pid)
                .is_some_and(|at| at.elapsed() < self.options.cache_ttl)
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

    pub(super) async fn project_cached(&self, name: &str) -> Result<Option<Project>> {
        let generation = {
            let cache = self.cache.lock().expect("access cache lock");
            if let Some((project, at)) = cache.projects.get(name)
                && at.elapsed() < self.options.cache_ttl
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
    pub(super) fn invalidate(&self) {
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
        if !self.options.auto_create_projects {
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
            self.audit_caller(caller, AuditAction::ProjectCreate, Target::project(name))
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
            Subject::Anonymous | Subject::Cli | Subject::System => {}
        }
        Ok(Visibility::Projects(projects))
    }
}
