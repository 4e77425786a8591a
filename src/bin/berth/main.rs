//! The `berth` command line: a thin layer over the library. This is the only place that uses
//! `anyhow`; it prints the error chain and exits non-zero.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use berth::config::{Config, LogFormat, TlsConfig};
use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// `println!` for a command's output. A reader that went away (`berth admin audit | head -1`)
/// ends the command quietly, as it ends `cat`, instead of a panic; another failure to write
/// ends it with one message.
macro_rules! outln {
    ($($arg:tt)*) => { $crate::write_line(format_args!($($arg)*)) };
}

mod admin;
mod image;
mod lifecycle;

/// jemalloc with a single arena (`narenas:1`, compiled in by `.cargo/config.toml`) instead of
/// glibc's allocator. Why: pushes and pulls pass megabyte buffers between threads (hyper reads a
/// body on a runtime thread, a blocking thread hashes it, another writes it). glibc keeps an arena
/// per thread and hands freed large buffers back to the kernel, so every transfer faulted in
/// fresh pages; one jemalloc arena reuses them from any thread. `bench/README.md` has the figures.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(
    name = "berth",
    version,
    about = "A private container registry for Go services"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the registry server.
    Serve(ServeArgs),
    /// Manage projects, users, members, robot accounts, CI tokens, the audit log and keys,
    /// directly on the stores (the server may be running).
    Admin(admin::AdminArgs),
    /// Point `latest` at a release (maintainers).
    Promote(lifecycle::PromoteArgs),
    /// Delete blobs, links, uploads and orphaned referrers nothing references, while the
    /// registry keeps serving.
    Gc(lifecycle::StoresOnly),
    /// Check that every manifest's blobs and children exist and every stored blob is
    /// accounted for; exit code 1 when not.
    Fsck(lifecycle::StoresOnly),
    /// Storage used by project and repository.
    Du(lifecycle::DuArgs),
    /// Print (`plan`) or apply (`run`) a project's retention rules.
    Retention(lifecycle::RetentionArgs),
    /// List archived images, or restore one.
    Archive(lifecycle::ArchiveArgs),
    /// Build a Go module into a minimal, reproducible image without a Docker daemon, tag it
    /// from git and push it (or write an OCI layout or a `docker load` tarball).
    Build(Box<image::BuildArgs>),
    /// Explain an image's size layer by layer and the Go binaries inside it, from a registry,
    /// an OCI layout or a `docker save` tarball; `--ci` exits 1 when a threshold fails.
    Analyze(image::AnalyzeArgs),
    /// Check Dockerfiles of Go services; exit 1 on findings at or above --fail-on, 2 when a file
    /// cannot be parsed.
    Lint(image::LintArgs),
}

/// Flags override environment variables, which override the config file, which overrides the
/// defaults.
#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    stores: StoreArgs,
    /// Address to listen on: 127.0.0.1:5000, :5000 (all IPv4 addresses), localhost:5000
    /// [default: 127.0.0.1:5000].
    #[arg(long, env = "BERTH_LISTEN", value_parser = berth::config::parse_listen)]
    listen: Option<SocketAddr>,
    /// Log format [default: text].
    #[arg(long, env = "BERTH_LOG_FORMAT")]
    log_format: Option<LogFormat>,
    /// One log line per request [default: true].
    #[arg(long, env = "BERTH_ACCESS_LOG")]
    access_log: Option<bool>,
    /// PEM certificate chain; with --tls-key, serve HTTPS.
    #[arg(long, env = "BERTH_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key.
    #[arg(long, env = "BERTH_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// A push into a project that does not exist creates it [default: false].
    #[arg(long, env = "BERTH_AUTO_CREATE_PROJECTS")]
    auto_create_projects: Option<bool>,
}

/// Where the configuration and the stores are; accepted anywhere after the command that
/// takes them (`berth admin user ls --data-dir D` as well as `berth admin --data-dir D user ls`).
#[derive(Args)]
struct StoreArgs {
    /// TOML configuration file.
    #[arg(long, env = "BERTH_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Data directory for blobs and metadata [default: ./berth-data].
    #[arg(long, env = "BERTH_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
}

impl StoreArgs {
    /// The configuration: file, then environment and flags. The bootstrap password of `admin`
    /// comes only from `BERTH_ADMIN_PASSWORD`, never from a flag that `ps` would show.
    fn load(self) -> anyhow::Result<Config> {
        let mut config = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        config.data_dir = self.data_dir.unwrap_or(config.data_dir);
        config.auth.admin_password = std::env::var("BERTH_ADMIN_PASSWORD")
            .ok()
            .filter(|password| !password.is_empty());
        Ok(config)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let res = match cli.command {
        Command::Serve(args) => serve(args).map(|()| ExitCode::SUCCESS),
        Command::Admin(args) => admin::run(args).map(|()| ExitCode::SUCCESS),
        Command::Promote(args) => lifecycle::promote(args).map(|()| ExitCode::SUCCESS),
        Command::Gc(args) => lifecycle::gc(args).map(|()| ExitCode::SUCCESS),
        Command::Fsck(args) => lifecycle::fsck(args).map(|()| ExitCode::SUCCESS),
        Command::Du(args) => lifecycle::du(args).map(|()| ExitCode::SUCCESS),
        Command::Retention(args) => lifecycle::retention(args).map(|()| ExitCode::SUCCESS),
        Command::Archive(args) => lifecycle::archive(args).map(|()| ExitCode::SUCCESS),
        Command::Build(args) => image::build(*args).map(|()| ExitCode::SUCCESS),
        Command::Analyze(args) => image::analyze(args).map(passed),
        Command::Lint(args) => image::lint(args),
    };
    match res {
        Ok(code) => code,
        Err(e) => {
            eprintln!("berth: {}", error_message(&e));
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes on one line, each cause once: errors that already name their
/// source in their own message (`reading x: No such file`) do not repeat it.
fn error_message(error: &anyhow::Error) -> String {
    let mut message = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !message.contains(&cause) {
            message.push_str(": ");
            message.push_str(&cause);
        }
    }
    message
}

/// Writes one line of output for `outln!`.
fn write_line(line: std::fmt::Arguments) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    // Stdout is line-buffered: the line reaches the pipe (or fails to) in this call.
    let Err(e) = writeln!(stdout, "{line}") else {
        return;
    };
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("berth: writing the output: {e}");
    std::process::exit(1);
}

/// What a command that succeeded wants its user to know, on stderr.
fn print_warnings(warnings: &[String]) {
    for warning in warnings {
        eprintln!("berth: warning: {warning}");
    }
}

/// Exit code 1 for a check that ran and failed.
fn passed(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = args.stores.load()?;
    config.listen = args.listen.unwrap_or(config.listen);
    config.auth.auto_create_projects = args
        .auto_create_projects
        .unwrap_or(config.auth.auto_create_projects);
    config.log_format = args.log_format.unwrap_or(config.log_format);
    config.access_log = args.access_log.unwrap_or(config.access_log);
    if let (Some(cert), Some(key)) = (args.tls_cert, args.tls_key) {
        config.tls = Some(TlsConfig { cert, key });
    }
    init_tracing(config.log_format);
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(run(config))
}

/// The stores of a maintenance command, which must exist already.
async fn open_stores(config: &Config) -> anyhow::Result<berth::Services> {
    berth::services(config, berth::Open::Existing)
        .await
        .map_err(|e| start_error(e, config))
}

/// Names the data directory when a store failed; other errors say what is wrong themselves.
fn start_error(e: berth::StartError, config: &Config) -> anyhow::Error {
    match e {
        berth::StartError::Storage(_) | berth::StartError::Access(_) => anyhow::Error::new(e)
            .context(format!(
                "opening the stores in {}",
                config.data_dir.display()
            )),
        berth::StartError::NoStore(_) | berth::StartError::Config(_) => anyhow::Error::new(e),
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    let tls = match &config.tls {
        Some(tls) => Some(berth::server::tls_acceptor(&tls.cert, &tls.key)?),
        None => None,
    };
    // Bind first: a start that cannot listen must not create the stores or spend the
    // generated password of `admin`.
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let berth::App {
        router: app,
        services,
        generated_admin_password,
    } = berth::app(&config)
        .await
        .map_err(|e| start_error(e, &config))?;
    if let Some(password) = generated_admin_password {
        let path = write_admin_password(&config, &password)?;
        tracing::warn!(
            "created the system administrator \"admin\"; its generated password is in {} \
             (readable by this user only); change it with `berth admin user passwd admin`, \
             then delete the file",
            path.display()
        );
    }
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(data_dir = %config.data_dir.display(), "berth listening on {scheme}://{}", listener.local_addr()?);
    let options = berth::server::ServeOptions::of(&config, tls);
    berth::server::serve(listener, app, options, shutdown_signal()).await?;
    services
        .lifecycle
        .flush_pulls()
        .await
        .context("writing the last pull counts")?;
    Ok(())
}

/// Writes the generated password of `admin` to `admin-password` in the data directory, mode
/// 0600, so that it reaches neither the log nor a service manager's journal.
fn write_admin_password(config: &Config, password: &str) -> anyhow::Result<PathBuf> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = config.data_dir.join("admin-password");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    writeln!(file, "{password}").with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// The log goes to stderr (stdout is for what a command prints), with colours only when stderr
/// is a terminal.
fn init_tracing(format: LogFormat) {
    use std::io::IsTerminal;
    let filter = EnvFilter::try_from_env("BERTH_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
