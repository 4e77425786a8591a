//! `berth admin …`: the command-line twin of the management API (part of the binary, not the
//! library). It opens the stores the configuration names and calls the same `Access` methods
//! as `/api/v1`, acting as the system administrator `cli`.

use std::io::BufRead;

use anyhow::Context;
use berth::Services;
use berth::auth::{
    Actions, Actor, AuditFilter, NewCredential, RobotSpec, Role, Subject, parse_ttl,
};
use berth::lifecycle::parse_size;
use clap::{Args, Subcommand};

use crate::StoreArgs;

#[derive(Args)]
pub struct AdminArgs {
    #[command(flatten)]
    stores: StoreArgs,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Users and their passwords.
    #[command(subcommand)]
    User(UserCommand),
    /// Projects: the first path component of repository names.
    #[command(subcommand)]
    Project(ProjectCommand),
    /// Members of a project and their roles.
    #[command(subcommand)]
    Member(MemberCommand),
    /// Robot accounts: machine credentials of one project.
    #[command(subcommand)]
    Robot(RobotCommand),
    /// Short-lived CI push tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// List the audit log, newest first.
    Audit(AuditArgs),
    /// Token signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user; the password is read from the first line of stdin.
    Add {
        name: String,
        /// System administrator: every right on every project.
        #[arg(long)]
        admin: bool,
    },
    /// Set a user's password, read from the first line of stdin.
    Passwd {
        name: String,
    },
    /// Disable a user: its logins and tokens stop working at once.
    Disable {
        name: String,
    },
    Enable {
        name: String,
    },
    Ls,
}

#[derive(Subcommand)]
enum ProjectCommand {
    Create {
        name: String,
        /// Anonymous clients may pull.
        #[arg(long)]
        public: bool,
    },
    /// Make a project public or private.
    Set {
        name: String,
        #[arg(long)]
        public: bool,
    },
    Ls,
    /// Show or change a project's tag policy, quota and size budget.
    Policy(crate::lifecycle::PolicyArgs),
    /// Set (or with `none` remove) one repository's own size budget, e.g. 10MB.
    Budget {
        repository: String,
        size: String,
    },
}

#[derive(Subcommand)]
enum MemberCommand {
    /// Give USER the ROLE (guest, developer, maintainer, admin) in PROJECT.
    Set {
        project: String,
        user: String,
        role: String,
    },
    Rm {
        project: String,
        user: String,
    },
    Ls {
        project: String,
    },
}

/// Every robot command names its robot the same way: `PROJECT NAME` (`team deployer`), or the
/// account name that `robot ls` prints and `docker login` takes (`'robot$team+deployer'`).
#[derive(Subcommand)]
enum RobotCommand {
    /// Create robot$PROJECT+NAME; prints its secret, shown only this once.
    Create {
        #[command(flatten)]
        robot: RobotArg,
        /// pull, push, delete, comma-separated.
        #[arg(long)]
        actions: String,
        /// A repository or pattern inside the project [default: PROJECT/*].
        #[arg(long)]
        repos: Option<String>,
        /// Lifetime: 90s, 15m, 12h, 30d.
        #[arg(long, default_value = "30d")]
        ttl: String,
    },
    Disable {
        #[command(flatten)]
        robot: RobotArg,
    },
    Enable {
        #[command(flatten)]
        robot: RobotArg,
    },
    Delete {
        #[command(flatten)]
        robot: RobotArg,
    },
    Ls {
        project: String,
    },
}

/// A robot named as `PROJECT NAME` or `robot$PROJECT+NAME`.
#[derive(Args)]
struct RobotArg {
    /// PROJECT NAME, or robot$PROJECT+NAME.
    #[arg(num_args = 1..=2, required = true, value_name = "ROBOT")]
    words: Vec<String>,
}

impl RobotArg {
    /// The robot's project and short name.
    fn parts(&self) -> anyhow::Result<(String, String)> {
        match self.words.as_slice() {
            [project, name] => Ok((project.clone(), name.clone())),
            [full] => full
                .strip_prefix("robot$")
                .and_then(|rest| rest.split_once('+'))
                .map(|(project, name)| (project.to_owned(), name.to_owned()))
                .with_context(|| {
                    format!("name the robot as PROJECT NAME or robot$PROJECT+NAME, not {full:?}")
                }),
            _ => unreachable!("clap takes one or two words"),
        }
    }

    /// The account name, `robot$PROJECT+NAME`.
    fn account(&self) -> anyhow::Result<String> {
        let (project, name) = self.parts()?;
        Ok(berth::auth::robot_account(&project, &name))
    }
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Mint a push token for one repository (or a pattern inside one project); prints the
    /// user name and secret for `docker login`, shown only this once.
    Create {
        /// `team/app`, or a pattern such as `team/app-*`.
        #[arg(long)]
        repo: String,
        /// Push rights (the only kind of CI token).
        #[arg(long, required = true)]
        push: bool,
        /// Lifetime, at most a day.
        #[arg(long, default_value = "15m")]
        ttl: String,
    },
    /// Revoke a token: it stops working at once.
    Revoke { name: String },
}

#[derive(Args)]
struct AuditArgs {
    #[arg(long)]
    project: Option<String>,
    #[arg(long)]
    user: Option<String>,
    #[arg(long)]
    action: Option<String>,
    /// From this time on: RFC 3339, a duration ago (24h, 7d) or Unix milliseconds.
    #[arg(long, value_parser = berth::time::parse_instant)]
    since: Option<i64>,
    /// Before this time (same forms).
    #[arg(long, value_parser = berth::time::parse_instant)]
    until: Option<i64>,
    /// Entries older than this id (the last id of the previous page).
    #[arg(long)]
    before: Option<i64>,
    #[arg(long, default_value_t = 100)]
    limit: u32,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Add a new signing key; tokens signed by the old ones stay valid until they expire.
    Rotate,
}

pub fn run(args: AdminArgs) -> anyhow::Result<()> {
    let config = args.stores.load()?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let services = crate::open_stores(&config).await?;
        let actor = Actor {
            subject: Subject::Cli,
            address: None,
        };
        execute(&services, &actor, args.command).await
    })
}

async fn execute(services: &Services, actor: &Actor, command: AdminCommand) -> anyhow::Result<()> {
    let access = &services.access;
    match command {
        AdminCommand::User(command) => match command {
            UserCommand::Add { name, admin } => {
                access
                    .create_user(actor, &name, &read_password()?, admin)
                    .await?;
            }
            UserCommand::Passwd { name } => {
                let password = read_password()?;
                access
                    .update_user(actor, &name, Some(&password), None, None)
                    .await?;
            }
            UserCommand::Disable { name } => {
                access
                    .update_user(actor, &name, None, None, Some(true))
                    .await?;
            }
            UserCommand::Enable { name } => {
                access
                    .update_user(actor, &name, None, None, Some(false))
                    .await?;
            }
            UserCommand::Ls => {
                for user in access.users(actor).await? {
                    let mut flags = Vec::new();
                    if user.admin {
                        flags.push("admin");
                    }
                    if user.disabled {
                        flags.push("disabled");
                    }
                    outln!("{}\t{}", user.name, flags.join(","));
                }
            }
        },
        AdminCommand::Project(command) => match command {
            ProjectCommand::Create { name, public } => {
                access.create_project(actor, &name, public).await?;
            }
            ProjectCommand::Set { name, public } => {
                access.set_project_public(actor, &name, public).await?;
            }
            ProjectCommand::Ls => {
                for project in access.projects(actor).await? {
                    let visibility = if project.public { "public" } else { "private" };
                    outln!("{}\t{visibility}", project.name);
                }
            }
            ProjectCommand::Policy(args) => {
                let lifecycle = &services.lifecycle;
                let change = args.change()?;
                let updated = lifecycle
                    .update_project_settings(actor, &args.name, &change)
                    .await?;
                crate::print_warnings(&updated.warnings);
                let settings = updated.value;
                let bytes = |b: Option<u64>| b.map_or("none".to_owned(), |b| b.to_string());
                outln!("immutable_releases\t{}", settings.immutable_releases);
                outln!("follow_aliases\t{}", settings.follow_aliases);
                outln!("latest_on_push\t{}", settings.latest_on_push);
                outln!("quota_bytes\t{}", bytes(settings.quota_bytes));
                outln!("budget_bytes\t{}", bytes(settings.budget_bytes));
                outln!("budget_warn_only\t{}", settings.budget_warn_only);
                let schedule = settings.retention_schedule.as_deref().unwrap_or("none");
                outln!("retention_schedule\t{schedule}");
                for rule in settings.retention.lines() {
                    outln!("retention\t{rule}");
                }
            }
            ProjectCommand::Budget { repository, size } => {
                let bytes = match size.as_str() {
                    "none" => None,
                    size => Some(parse_size(size).map_err(anyhow::Error::msg)?),
                };
                services
                    .lifecycle
                    .set_repository_budget(actor, &repository, bytes)
                    .await?;
            }
        },
        AdminCommand::Member(command) => match command {
            MemberCommand::Set {
                project,
                user,
                role,
            } => {
                access
                    .set_member(actor, &project, &user, role.parse::<Role>()?)
                    .await?;
            }
            MemberCommand::Rm { project, user } => {
                access.remove_member(actor, &project, &user).await?;
            }
            MemberCommand::Ls { project } => {
                for (user, role) in access.members(actor, &project).await? {
                    outln!("{user}\t{role}");
                }
            }
        },
        AdminCommand::Robot(command) => match command {
            RobotCommand::Create {
                robot,
                actions,
                repos,
                ttl,
            } => {
                let (project, name) = robot.parts()?;
                let spec = RobotSpec {
                    pattern: repos.unwrap_or_else(|| format!("{project}/*")),
                    project,
                    name,
                    actions: actions.parse::<Actions>()?,
                    ttl: parse_ttl(&ttl)?,
                };
                let created = access.create_robot(actor, &spec).await?;
                print_credential(&created);
            }
            RobotCommand::Disable { robot } => {
                access
                    .set_robot_disabled(actor, &robot.account()?, true)
                    .await?;
            }
            RobotCommand::Enable { robot } => {
                access
                    .set_robot_disabled(actor, &robot.account()?, false)
                    .await?;
            }
            RobotCommand::Delete { robot } => access.delete_robot(actor, &robot.account()?).await?,
            RobotCommand::Ls { project } => {
                for robot in access.robots(actor, &project).await? {
                    let state = if robot.disabled {
                        "disabled"
                    } else {
                        "enabled"
                    };
                    outln!(
                        "{}\t{}\t{}\t{}\texpires_at={}\t{state}",
                        robot.name,
                        robot.kind,
                        robot.pattern,
                        robot.actions,
                        berth::time::rfc3339_ms(robot.expires_at)
                    );
                }
            }
        },
        AdminCommand::Token(command) => match command {
            TokenCommand::Create { repo, push, ttl } => {
                anyhow::ensure!(push, "CI tokens are push tokens: pass --push");
                let created = access
                    .create_ci_token(actor, &repo, parse_ttl(&ttl)?)
                    .await?;
                print_credential(&created);
            }
            TokenCommand::Revoke { name } => access.delete_robot(actor, &name).await?,
        },
        AdminCommand::Audit(args) => {
            let filter = AuditFilter {
                project: args.project,
                actor: args.user,
                action: args.action,
                since: args.since,
                until: args.until,
                before: args.before,
                limit: args.limit,
            };
            outln!("id\tat\tactor\taction\tproject\trepository\tdigest\tdetail\taddress");
            for e in access.audit_log(actor, &filter).await?.entries {
                // Names and details come from clients: a tab or newline in them must not make
                // a column or a row of its own.
                let field = |v: &Option<String>| v.as_deref().map_or_else(|| "-".into(), escape);
                outln!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    e.id,
                    berth::time::rfc3339_ms(e.at),
                    escape(&e.actor),
                    escape(&e.action),
                    field(&e.project),
                    field(&e.repository),
                    field(&e.digest),
                    field(&e.detail),
                    field(&e.address)
                );
            }
        }
        AdminCommand::Keys(KeysCommand::Rotate) => {
            outln!("{}", access.rotate_keys(actor).await?);
        }
    }
    Ok(())
}

/// `text` with its control characters escaped (`\t`, `\n`, `\u{1b}`).
fn escape(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// A new credential as JSON, for people and scripts alike.
fn print_credential(created: &NewCredential) {
    let robot = &created.robot;
    let json = serde_json::json!({
        "name": robot.name,
        "secret": created.secret,
        "expires_at": berth::time::rfc3339_ms(robot.expires_at),
    });
    outln!("{json}");
}

/// The first line of stdin (`echo "$PASSWORD" | berth admin user add alice`).
fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from stdin")?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    anyhow::ensure!(!password.is_empty(), "no password on stdin");
    Ok(password)
}
