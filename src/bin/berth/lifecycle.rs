//! `berth promote`, `gc`, `fsck` and `du`, and `berth admin project policy`: the command-line
//! side of the lifecycle service (part of the binary, not the library), acting as `cli`.

use anyhow::Context;
use berth::auth::{Actor, Subject};
use berth::lifecycle::{Change, Lifecycle, SettingsChange, format_size, parse_size};
use clap::Args;

use crate::StoreArgs;

#[derive(Args)]
pub struct PromoteArgs {
    #[command(flatten)]
    stores: StoreArgs,
    /// Repository, e.g. team/app.
    repository: String,
    /// The release to point `latest` at, e.g. v1.4.0.
    tag: String,
}

#[derive(Args)]
pub struct StoresOnly {
    #[command(flatten)]
    stores: StoreArgs,
}

#[derive(Args)]
pub struct RetentionArgs {
    #[command(flatten)]
    stores: StoreArgs,
    /// `plan` prints what a run would delete; `run` deletes exactly that.
    #[arg(value_parser = ["plan", "run"])]
    command: String,
    project: String,
}

#[derive(Args)]
pub struct ArchiveArgs {
    #[command(flatten)]
    stores: StoreArgs,
    #[command(subcommand)]
    command: ArchiveCommand,
}

#[derive(clap::Subcommand)]
enum ArchiveCommand {
    /// List archived tags: repository, tag, digest, when archived (unix seconds).
    Ls,
    /// Push an archived tag back, e.g. `team/app:v1.0.0`.
    Restore { reference: String },
}

#[derive(Args)]
pub struct DuArgs {
    #[command(flatten)]
    stores: StoreArgs,
    /// Only this project.
    project: Option<String>,
    /// Sizes in bytes instead of kB, MB, GB.
    #[arg(long)]
    bytes: bool,
}

/// `berth admin project policy`: flags left out keep their value.
#[derive(Args)]
pub struct PolicyArgs {
    pub name: String,
    /// Release tags (v1.4.0) can never be moved.
    #[arg(long)]
    pub immutable_releases: Option<bool>,
    /// v1.4 and v1 follow the newest stable release of their line.
    #[arg(long)]
    pub follow_aliases: Option<bool>,
    /// `latest` follows every newest stable release, not only promotions.
    #[arg(long)]
    pub latest_on_push: Option<bool>,
    /// Storage quota of distinct blobs, e.g. 5GiB, or `none`.
    #[arg(long)]
    pub quota: Option<String>,
    /// Largest compressed image, e.g. 10MB, or `none`.
    #[arg(long)]
    pub budget: Option<String>,
    /// Store images over budget with a warning instead of refusing them.
    #[arg(long)]
    pub budget_warn_only: Option<bool>,
    /// Retention rules from this file (`-` for stdin), one per line.
    #[arg(long)]
    pub retention_file: Option<std::path::PathBuf>,
    /// When retention runs by itself (cron, UTC), or `none`.
    #[arg(long)]
    pub retention_schedule: Option<String>,
}

impl PolicyArgs {
    pub fn change(&self) -> anyhow::Result<SettingsChange> {
        let size = |text: &Option<String>| -> anyhow::Result<Change<u64>> {
            Ok(match text.as_deref() {
                None => Change::Keep,
                Some("none") => Change::Remove,
                Some(t) => Change::Set(parse_size(t).map_err(anyhow::Error::msg)?),
            })
        };
        let retention = match &self.retention_file {
            None => None,
            Some(path) if path.as_os_str() == "-" => {
                Some(std::io::read_to_string(std::io::stdin()).context("reading the rules")?)
            }
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?,
            ),
        };
        let retention_schedule = match self.retention_schedule.as_deref() {
            None => Change::Keep,
            Some("none") => Change::Remove,
            Some(cron) => Change::Set(cron.to_owned()),
        };
        Ok(SettingsChange {
            retention,
            retention_schedule,
            immutable_releases: self.immutable_releases,
            follow_aliases: self.follow_aliases,
            latest_on_push: self.latest_on_push,
            quota_bytes: size(&self.quota)?,
            budget_bytes: size(&self.budget)?,
            budget_warn_only: self.budget_warn_only,
        })
    }
}

/// Opens the stores and runs `job` with the lifecycle service as `cli`.
fn with_lifecycle<T>(
    stores: StoreArgs,
    job: impl AsyncFnOnce(&Lifecycle, &Actor) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let config = stores.load()?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let lifecycle = crate::open_stores(&config).await?.lifecycle;
        let actor = Actor {
            subject: Subject::Cli,
            address: None,
        };
        job(&lifecycle, &actor).await
    })
}

pub fn promote(args: PromoteArgs) -> anyhow::Result<()> {
    with_lifecycle(args.stores, async |lifecycle, actor| {
        let promoted = lifecycle
            .promote(actor, &args.repository, &args.tag)
            .await?;
        crate::print_warnings(&promoted.warnings);
        outln!(
            "{}:latest -> {} ({})",
            args.repository,
            args.tag,
            promoted.value.to
        );
        Ok(())
    })
}

pub fn gc(args: StoresOnly) -> anyhow::Result<()> {
    with_lifecycle(args.stores, async |lifecycle, actor| {
        let started = std::time::Instant::now();
        let report = lifecycle.gc(actor).await?;
        outln!(
            "removed {} blobs ({} bytes), {} orphaned blobs, {} manifests, {} links, {} uploads in {:.2?}",
            report.blobs,
            report.bytes,
            report.orphans,
            report.manifests,
            report.links,
            report.uploads,
            started.elapsed()
        );
        Ok(())
    })
}

/// Prints what fsck found; fails (exit code 1) unless the stores agree.
pub fn fsck(args: StoresOnly) -> anyhow::Result<()> {
    with_lifecycle(args.stores, async |lifecycle, actor| {
        let report = lifecycle.fsck(actor).await?;
        for d in &report.dangling {
            outln!("dangling\t{}@{}\t{}", d.repository, d.manifest, d.missing);
        }
        for digest in &report.missing {
            outln!("missing\t{digest}");
        }
        for digest in &report.unaccounted {
            outln!("unaccounted\t{digest}");
        }
        anyhow::ensure!(
            report.is_clean(),
            "fsck: {} dangling references, {} missing blobs, {} unaccounted blobs",
            report.dangling.len(),
            report.missing.len(),
            report.unaccounted.len()
        );
        outln!("clean");
        Ok(())
    })
}

pub fn du(args: DuArgs) -> anyhow::Result<()> {
    with_lifecycle(args.stores, async |lifecycle, actor| {
        let usage = lifecycle.usage(actor, args.project.as_deref()).await?;
        let size = |bytes: u64| {
            if args.bytes {
                bytes.to_string()
            } else {
                format_size(bytes)
            }
        };
        outln!("NAME\tSIZE\tQUOTA\tMANIFESTS\tTAGS");
        for project in &usage.projects {
            let quota = project.quota.map_or("-".to_owned(), size);
            outln!("{}\t{}\t{quota}\t\t", project.name, size(project.bytes));
            let prefix = format!("{}/", project.name);
            for repo in usage
                .repositories
                .iter()
                .filter(|r| r.repository.starts_with(&prefix))
            {
                outln!(
                    "{}\t{}\t\t{}\t{}",
                    repo.repository,
                    size(repo.bytes),
                    repo.manifests,
                    repo.tags
                );
            }
        }
        Ok(())
    })
}

/// `berth retention plan|run PROJECT`: one line per step (repository, tag or `-` for the
/// manifest, digest, bytes freed, last pull, the deciding rule).
pub fn retention(args: RetentionArgs) -> anyhow::Result<()> {
    with_lifecycle(args.stores, async |lifecycle, actor| {
        let decisions = match args.command.as_str() {
            "run" => lifecycle.retention_run(actor, &args.project).await?,
            _ => lifecycle.retention_plan(actor, &args.project).await?,
        };
        outln!("REPOSITORY\tTAG\tDIGEST\tFREED\tLAST PULL\tACTION\tRULE");
        for d in &decisions {
            let last_pull = d.last_pull.map_or("never".to_owned(), |at| at.to_string());
            let action = match (d.archive, &d.moves_to) {
                (_, Some(to)) => format!("move to {to}"),
                (true, None) => "archive".to_owned(),
                (false, None) => "delete".to_owned(),
            };
            outln!(
                "{}\t{}\t{}\t{}\t{last_pull}\t{action}\t{}",
                d.repository,
                d.tag.as_deref().unwrap_or("-"),
                d.digest,
                d.freed,
                d.rule
            );
        }
        Ok(())
    })
}

pub fn archive(args: ArchiveArgs) -> anyhow::Result<()> {
    with_lifecycle(args.stores, async |lifecycle, actor| {
        match &args.command {
            ArchiveCommand::Ls => {
                outln!("REPOSITORY\tTAG\tDIGEST\tARCHIVED AT");
                for a in lifecycle.archived(actor).await? {
                    outln!(
                        "{}\t{}\t{}\t{}",
                        a.repository,
                        a.tag,
                        a.digest,
                        a.archived_at
                    );
                }
            }
            ArchiveCommand::Restore { reference } => {
                let (repository, tag) = reference
                    .rsplit_once(':')
                    .context("name the archived tag as REPOSITORY:TAG")?;
                let digest = lifecycle.restore(actor, repository, tag).await?;
                outln!("{repository}:{tag} restored ({digest})");
            }
        }
        Ok(())
    })
}
