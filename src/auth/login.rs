//! Authentication: user names and passwords, robot secrets and CI tokens checked with rate limits per user and address.

use super::*;

impl Access {
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
        let window = self.options.login_window.as_millis() as i64;
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
        if user_attempts > self.options.login_failures_per_user
            || addr_attempts > self.options.login_failures_per_address
        {
            // Refused unchecked: it is no failure, and must not lock others out of the address.
            self.store.login_failure_forgive(&user_key).await?;
            if let Some(key) = &addr_key {
                self.store.login_failure_forgive(key).await?;
            }
            self.audit_as(username, address, AuditAction::LoginLimited, Target::none())
                .await;
            return Err(Error::TooManyRequests(self.options.login_window.as_secs()));
        }
        let subject = self.check_secret(username, secret).await?;
        match subject {
            Some(subject) => {
                self.store.login_failures_clear(&user_key).await?;
                if let Some(key) = &addr_key {
                    self.store.login_failure_forgive(key).await?;
                }
                if kind == Login::Session {
                    self.audit_as(subject.name(), address, AuditAction::Login, Target::none())
                        .await;
                }
                Ok(subject)
            }
            None => {
                self.audit_as(username, address, AuditAction::LoginFailed, Target::none())
                    .await;
                Err(Error::Unauthenticated)
            }
        }
    }

    /// The subject whose secret this is, if it is valid and usable now.
    pub(super) async fn check_secret(
        &self,
        username: &str,
        secret: &str,
    ) -> Result<Option<Subject>> {
        if username.contains('$') {
            let robot = self.store.robot_by_name(username).await?;
            let ok = robot
                .as_ref()
                .is_some_and(|r| secret::matches(secret, &r.secret_hash));
            let Some(robot) = robot.filter(|r| ok && !r.disabled && r.expires_at > now_ms()) else {
                return Ok(None);
            };
            if robot.kind == RobotKind::Ci && !self.minter_entitled(&robot).await? {
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
    pub(super) async fn subject_by_pid(
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
                Some(robot)
                    if robot.kind == RobotKind::Ci && !self.minter_entitled(&robot).await? =>
                {
                    None
                }
                robot => robot.map(Subject::Robot),
            },
            _ => None,
        })
    }
}
