//! Server settings: built-in defaults, overridden by a TOML file (`--config`), then by
//! environment variables and flags (the CLI in `main.rs` applies those).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Everything `berth serve` needs. Every field has a default that works with no configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Where blobs (`blobs/`, `uploads/`) and metadata (`meta.db`) live.
    pub data_dir: PathBuf,
    pub log_format: LogFormat,
    /// One log line per request (at info, target `berth::access`).
    pub access_log: bool,
    /// TLS, when both a certificate chain and a key (PEM) are given; plain HTTP otherwise.
    pub tls: Option<TlsConfig>,
    pub timeouts: Timeouts,
    pub limits: Limits,
    pub auth: AuthConfig,
    pub lifecycle: LifecycleConfig,
    /// Milliseconds a replica trusts what it read about credentials, tokens, projects and
    /// project settings before it reads the store again: a change made on another replica or
    /// by `berth admin` takes effect everywhere within this time. 0 reads the store on every
    /// request.
    pub cache_ttl_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Limits that stop slow or stalled clients from holding connections forever.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Timeouts {
    /// Seconds a client may take to send a request's headers (also the keep-alive idle limit).
    pub header_read_secs: u64,
    /// Seconds an upload body may send nothing before the request fails.
    pub body_idle_secs: u64,
    /// Bytes per second an upload body must average over each window, so that a client
    /// trickling a byte now and then cannot hold an upload (and its lease) for long.
    pub body_min_bytes_per_sec: u64,
    /// Seconds of the window over which the body's rate is judged.
    pub body_rate_window_secs: u64,
    /// Seconds a connection may move no byte (between requests too) before it is closed.
    pub idle_secs: u64,
    /// Seconds in-flight requests get to finish after a shutdown signal.
    pub shutdown_grace_secs: u64,
    /// Seconds an upload session stays blocked after the process writing to it dies.
    pub upload_lease_secs: u64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 5000)),
            data_dir: PathBuf::from("berth-data"),
            log_format: LogFormat::Text,
            access_log: true,
            tls: None,
            timeouts: Timeouts::default(),
            limits: Limits::default(),
            auth: AuthConfig::default(),
            lifecycle: LifecycleConfig::default(),
            cache_ttl_ms: 1000,
        }
    }
}

impl Config {
    pub fn cache_ttl(&self) -> Duration {
        Duration::from_millis(self.cache_ttl_ms)
    }
}

/// A listen address as other registries take it: `127.0.0.1:5000`, `[::1]:5000`, `:5000` (every
/// IPv4 address) or `localhost:5000` (a host name, resolved once).
pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    if let Some(port) = text.strip_prefix(':') {
        let port: u16 = port
            .parse()
            .map_err(|_| format!("invalid port in {text:?}"))?;
        return Ok(SocketAddr::from(([0, 0, 0, 0], port)));
    }
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    std::net::ToSocketAddrs::to_socket_addrs(text)
        .map_err(|e| format!("cannot listen on {text:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("{text:?} names no address"))
}

/// Limits on what one client may make the server hold.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Connections open at once; more are closed as they arrive (logged, and counted in
    /// `berth_connections_refused_total`). Keep it below the process's file descriptor limit.
    pub max_connections: usize,
    /// Bytes of a request head (request line and headers); a larger one gets 431.
    pub max_request_head_bytes: usize,
    /// Blobs and child manifests one manifest may reference; more is `MANIFEST_INVALID`.
    pub max_manifest_references: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 8192,
            max_request_head_bytes: 64 * 1024,
            // Real images have tens of layers and indexes tens of children; BuildKit's cache
            // manifests reach the hundreds. A 4 MiB manifest holds about 25,000.
            max_manifest_references: 10_000,
        }
    }
}

/// Access control: tokens, projects and login limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// The token service's name: the `service` of challenges and the `aud` of tokens.
    pub service: String,
    /// The `iss` of tokens.
    pub issuer: String,
    /// The token endpoint's absolute URL, as clients must reach it (behind a load balancer, its
    /// public address). Empty: derived from each request's `Host` header.
    pub realm: String,
    /// Seconds a registry token is valid.
    pub token_ttl_secs: u64,
    /// Seconds a refresh token (what `docker login` keeps) is valid.
    pub refresh_ttl_secs: u64,
    /// A push into a project that does not exist creates it, with the pusher as its admin.
    pub auto_create_projects: bool,
    /// Failed logins allowed per user name within the window.
    pub login_failures_per_user: u32,
    /// Failed logins allowed per client address within the window.
    pub login_failures_per_address: u32,
    pub login_window_secs: u64,
    /// Days a robot account may live at most.
    pub robot_max_ttl_days: u64,
    /// Load balancers and proxies (addresses or CIDR blocks) whose `X-Forwarded-For` is
    /// believed: the client address for rate limits and the audit log is then the nearest
    /// address in that header that is not one of them. Empty: the TCP peer, always.
    pub trusted_proxies: Vec<String>,
    /// The bootstrap password of `admin` (from `BERTH_ADMIN_PASSWORD`, never from the file).
    #[serde(skip)]
    pub admin_password: Option<String>,
}

impl Default for AuthConfig {
    fn default() -> AuthConfig {
        AuthConfig {
            service: "berth".into(),
            issuer: "berth".into(),
            realm: String::new(),
            token_ttl_secs: 300,
            refresh_ttl_secs: 7 * 24 * 3600,
            auto_create_projects: false,
            login_failures_per_user: 10,
            login_failures_per_address: 50,
            login_window_secs: 300,
            robot_max_ttl_days: 365,
            trusted_proxies: Vec::new(),
            admin_password: None,
        }
    }
}

impl AuthConfig {
    pub fn options(&self, cache_ttl: Duration) -> crate::auth::Options {
        crate::auth::Options {
            service: self.service.clone(),
            issuer: self.issuer.clone(),
            token_ttl: Duration::from_secs(self.token_ttl_secs),
            refresh_ttl: Duration::from_secs(self.refresh_ttl_secs),
            auto_create_projects: self.auto_create_projects,
            login_failures_per_user: self.login_failures_per_user,
            login_failures_per_address: self.login_failures_per_address,
            login_window: Duration::from_secs(self.login_window_secs),
            robot_max_ttl: Duration::from_secs(self.robot_max_ttl_days.saturating_mul(86_400)),
            admin_password: self.admin_password.clone(),
            cache_ttl,
        }
    }
}

/// Pull tracking and garbage collection.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LifecycleConfig {
    /// Record pull counts and last-pulled times (batched), for retention rules.
    pub track_pulls: bool,
    /// Seconds between writes of gathered pull counts.
    pub pull_flush_secs: u64,
    /// GC spares blobs, links, manifests and upload sessions younger than this many seconds.
    pub gc_grace_secs: u64,
    /// GC also deletes untagged manifests that no index or kept manifest references.
    pub gc_untagged: bool,
    /// Seconds a GC's lock lasts without renewal (how soon a new GC may start after one died).
    pub gc_lease_secs: u64,
    /// When `berth serve` runs GC by itself (cron syntax, UTC); none by default.
    pub gc_schedule: Option<String>,
    /// Where retention archives images (OCI image layouts); `<data_dir>/archive` if unset.
    pub archive_dir: Option<PathBuf>,
}

impl Default for LifecycleConfig {
    fn default() -> LifecycleConfig {
        LifecycleConfig {
            track_pulls: true,
            pull_flush_secs: 1,
            gc_grace_secs: 3600,
            gc_untagged: false,
            gc_lease_secs: 30,
            gc_schedule: None,
            archive_dir: None,
        }
    }
}

impl LifecycleConfig {
    /// Where the archive's layouts go: `archive_dir`, or `<data_dir>/archive`.
    pub fn archive_dir(&self, data_dir: &Path) -> PathBuf {
        (self.archive_dir.clone()).unwrap_or_else(|| data_dir.join("archive"))
    }

    pub fn options(&self) -> crate::lifecycle::Options {
        crate::lifecycle::Options {
            track_pulls: self.track_pulls,
            gc_grace: Duration::from_secs(self.gc_grace_secs),
            gc_untagged: self.gc_untagged,
            gc_lease: Duration::from_secs(self.gc_lease_secs),
        }
    }
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            header_read_secs: 30,
            body_idle_secs: 60,
            body_min_bytes_per_sec: 1024,
            body_rate_window_secs: 30,
            idle_secs: 120,
            shutdown_grace_secs: 30,
            upload_lease_secs: 30,
        }
    }
}

impl Timeouts {
    pub fn header_read(&self) -> Duration {
        Duration::from_secs(self.header_read_secs)
    }

    pub fn body_idle(&self) -> Duration {
        Duration::from_secs(self.body_idle_secs)
    }

    pub fn idle(&self) -> Duration {
        Duration::from_secs(self.idle_secs)
    }

    pub fn body_rate_window(&self) -> Duration {
        Duration::from_secs(self.body_rate_window_secs.max(1))
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }

    pub fn upload_lease(&self) -> Duration {
        Duration::from_secs(self.upload_lease_secs)
    }
}

/// The configuration file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not valid TOML of the expected shape.
    #[error("parsing {path}: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
}

impl Config {
    /// Reads a TOML configuration file; absent keys keep their defaults.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_parse_as_other_registries_take_them() {
        assert_eq!(
            parse_listen(":5000"),
            Ok(SocketAddr::from(([0, 0, 0, 0], 5000)))
        );
        assert_eq!(
            parse_listen("127.0.0.1:5000"),
            Ok(SocketAddr::from(([127, 0, 0, 1], 5000)))
        );
        assert!(parse_listen("localhost:5000").unwrap().ip().is_loopback());
        assert!(parse_listen(":http").is_err());
    }

    #[test]
    fn file_overrides_only_what_it_names() {
        let config: Config = toml::from_str(
            "listen = \"0.0.0.0:6000\"\n[timeouts]\nbody_idle_secs = 5\n[tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\n",
        )
        .unwrap();
        assert_eq!(config.listen.port(), 6000);
        assert_eq!(config.timeouts.body_idle_secs, 5);
        assert_eq!(config.timeouts.header_read_secs, 30);
        assert_eq!(config.data_dir, PathBuf::from("berth-data"));
        assert!(config.tls.is_some());
        assert!(toml::from_str::<Config>("lisen = \"x\"").is_err());
    }
}
