//! Tokens: what the token endpoint issues (access and refresh tokens, scopes granted) and their revocation.

use super::*;

impl Access {
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
                    .verify(&token, &self.options.issuer, &self.options.service)
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
        let mut ttl = self.options.token_ttl.as_millis() as i64;
        if let Subject::Robot(robot) = &subject {
            ttl = ttl.min(robot.expires_at - now);
        }
        let claims = self.claims(&subject, "access", now, ttl, &granted);
        let token = self.keys.sign(&claims)?;
        let refresh_token = match (&subject, offline) {
            (Subject::Anonymous, _) | (_, false) => None,
            _ => {
                let mut ttl = self.options.refresh_ttl.as_millis() as i64;
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

    pub(super) fn claims(
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
            iss: self.options.issuer.clone(),
            sub: match subject {
                Subject::Anonymous => String::new(),
                other => other.name().to_owned(),
            },
            aud: self.options.service.clone(),
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
    pub(super) async fn allowed(&self, subject: &Subject, name: &str) -> Result<Actions> {
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
                    robot.actions
                } else {
                    public
                }
            }
            Subject::User { id, .. } => match project {
                Some(_) => match self.store.role(project_name, *id).await? {
                    Some(role) => role.actions().union(public),
                    None => public,
                },
                // Whoever pushes first into a new project becomes its admin, if allowed.
                None if self.options.auto_create_projects => {
                    Actions::of(&[Action::Pull, Action::Push])
                }
                None => Actions::NONE,
            },
            Subject::Cli | Subject::System => Actions::ALL,
        })
    }
}
