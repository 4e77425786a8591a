//! `berth build`, `berth lint` and `berth analyze`: the command-line side of the Go image tools
//! (part of the binary, not the library). They need no berth server; any registry will do.

use std::path::PathBuf;

use anyhow::Context;
use berth::build::{self, Progress};
use berth::image::{Platform, Reference};
use berth::lifecycle::format_size;
use clap::Args;

#[derive(Args)]
pub struct BuildArgs {
    /// The Go module to build [default: .].
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Repository to push to, e.g. 127.0.0.1:5000/team/app (tags come from git and --tag).
    #[arg(long, short)]
    image: Option<String>,
    /// Main packages to build, e.g. ./cmd/api [default: every main package of the module].
    #[arg(long = "package", short = 'p')]
    packages: Vec<String>,
    /// The binary the image runs, when there are several.
    #[arg(long)]
    entrypoint: Option<String>,
    /// Comma-separated platforms, e.g. linux/amd64,linux/arm64 [default: this machine's].
    #[arg(long, value_delimiter = ',')]
    platform: Vec<String>,
    /// Base image [default: scratch, with CA certificates and a nonroot user added].
    #[arg(long, default_value = "scratch")]
    base: String,
    /// Linker flags.
    #[arg(long, default_value = "-s -w -buildid=")]
    ldflags: String,
    /// Build without -trimpath.
    #[arg(long)]
    no_trimpath: bool,
    /// Build with CGO_ENABLED=1 (the image then needs a base with a C library).
    #[arg(long)]
    cgo: bool,
    /// A directory copied into the image as /app/static.
    #[arg(long = "static")]
    static_dir: Option<PathBuf>,
    /// Add time-zone data (/usr/share/zoneinfo) to a scratch image.
    #[arg(long)]
    tzdata: bool,
    /// CA bundle added to a scratch image.
    #[arg(long, default_value = "/etc/ssl/certs/ca-certificates.crt")]
    ca_bundle: PathBuf,
    /// Environment variable KEY=VALUE (repeatable).
    #[arg(long)]
    env: Vec<String>,
    /// Exposed port, e.g. 8080 or 8125/udp (repeatable).
    #[arg(long)]
    port: Vec<String>,
    /// Label KEY=VALUE (repeatable).
    #[arg(long)]
    label: Vec<String>,
    /// Extra tag (repeatable).
    #[arg(long, short)]
    tag: Vec<String>,
    /// Also tag a stable release `latest`.
    #[arg(long)]
    latest: bool,
    /// Tag a release even with uncommitted changes.
    #[arg(long)]
    allow_dirty: bool,
    /// org.opencontainers.image.source [default: the git remote `origin`].
    #[arg(long)]
    source_url: Option<String>,
    /// Write an OCI image layout directory instead of pushing (with --push: as well).
    #[arg(long)]
    oci_layout: Option<PathBuf>,
    /// Write a `docker load` tarball instead of pushing (with --push: as well).
    #[arg(long)]
    tarball: Option<PathBuf>,
    /// Push even when writing a layout or tarball.
    #[arg(long)]
    push: bool,
    /// Do not attach an SPDX SBOM of the Go modules.
    #[arg(long)]
    no_sbom: bool,
    /// Allow plain HTTP to a registry that is not on loopback.
    #[arg(long)]
    insecure: bool,
}

fn key_value(text: &str, flag: &str) -> anyhow::Result<(String, String)> {
    let (key, value) = text
        .split_once('=')
        .with_context(|| format!("{flag} {text:?}: expected KEY=VALUE"))?;
    Ok((key.to_owned(), value.to_owned()))
}

pub fn build(args: BuildArgs) -> anyhow::Result<()> {
    let image = args.image.as_deref().map(Reference::parse).transpose()?;
    // A tag written into --image is one more tag, as `docker build -t` would have it.
    let mut tags = args.tag;
    if let Some(tag) = image.as_ref().and_then(|image| image.tag.clone()) {
        tags.push(tag);
    }
    let base = match args.base.as_str() {
        "scratch" => None,
        other => Some(Reference::parse(other)?),
    };
    let platforms = if args.platform.is_empty() {
        vec![Platform::host()]
    } else {
        args.platform
            .iter()
            .map(|text| Platform::parse(text))
            .collect::<Result<_, _>>()?
    };
    for entry in &args.env {
        key_value(entry, "--env")?;
    }
    let labels = args
        .label
        .iter()
        .map(|text| key_value(text, "--label"))
        .collect::<anyhow::Result<_>>()?;
    let push = args.push || (args.oci_layout.is_none() && args.tarball.is_none());
    let options = build::Options {
        dir: args.dir,
        image,
        packages: args.packages,
        entrypoint: args.entrypoint,
        platforms,
        base,
        ldflags: args.ldflags,
        trimpath: !args.no_trimpath,
        cgo: args.cgo,
        static_dir: args.static_dir,
        tzdata: args.tzdata,
        ca_bundle: args.ca_bundle,
        env: args.env,
        ports: args.port,
        labels,
        tags,
        latest: args.latest,
        allow_dirty: args.allow_dirty,
        source_url: args.source_url,
        push,
        oci_layout: args.oci_layout,
        tarball: args.tarball,
        sbom: !args.no_sbom,
        insecure: args.insecure,
    };
    let report = build::build(&options, &Progress::new())?;
    for image in &report.images {
        let size: u64 = image.layers.iter().map(|layer| layer.size()).sum();
        eprintln!(
            "{}: {} ({} bytes compressed)",
            image.platform,
            image.manifest.digest(),
            size
        );
    }
    outln!("{}", report.top.digest());
    for tag in &report.tags {
        outln!("{tag}");
    }
    Ok(())
}

#[derive(Args)]
pub struct AnalyzeArgs {
    /// A registry reference, `oci:DIR[:TAG]`, `docker-archive:FILE`, or a path to either.
    image: String,
    /// Only this platform of an index, e.g. linux/arm64.
    #[arg(long)]
    platform: Option<String>,
    /// Output format.
    #[arg(long, value_parser = ["table", "json"], default_value = "table")]
    format: String,
    /// Check thresholds and exit 1 when one fails.
    #[arg(long)]
    ci: bool,
    /// CI: largest compressed image, e.g. 20MB.
    #[arg(long)]
    max_size: Option<String>,
    /// CI: lowest efficiency (0..1).
    #[arg(long, default_value_t = 0.9)]
    min_efficiency: f64,
    /// CI: most wasted bytes, e.g. 20MB.
    #[arg(long, default_value = "20MB")]
    max_wasted: String,
    /// Allow plain HTTP to a registry that is not on loopback.
    #[arg(long)]
    insecure: bool,
}

pub fn analyze(args: AnalyzeArgs) -> anyhow::Result<bool> {
    use berth::analyze::{self, source::Source};
    let platform = args.platform.as_deref().map(Platform::parse).transpose()?;
    let source = Source::open(&args.image, args.insecure)?;
    let reports = analyze::analyze(&source, platform.as_ref())?;
    if args.format == "json" {
        let json: Vec<_> = reports.iter().map(|r| r.to_json()).collect();
        outln!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        for report in &reports {
            print_report(report);
        }
    }
    if !args.ci {
        return Ok(true);
    }
    let max_wasted = berth::lifecycle::parse_size(&args.max_wasted).map_err(anyhow::Error::msg)?;
    let max_size = args
        .max_size
        .as_deref()
        .map(berth::lifecycle::parse_size)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let mut ok = true;
    for report in &reports {
        let mut fail = |message: String| {
            ok = false;
            eprintln!("FAIL {}: {message}", report.platform);
        };
        if report.efficiency < args.min_efficiency {
            fail(format!(
                "efficiency {:.1}% is below {:.1}%",
                report.efficiency * 100.0,
                args.min_efficiency * 100.0
            ));
        }
        if report.wasted_bytes > max_wasted {
            fail(format!(
                "{} wasted, more than {}",
                format_size(report.wasted_bytes),
                format_size(max_wasted)
            ));
        }
        if let Some(limit) = max_size
            && report.compressed > limit
        {
            fail(format!(
                "{} compressed, more than {}",
                format_size(report.compressed),
                format_size(limit)
            ));
        }
    }
    if ok {
        eprintln!("PASS");
    }
    Ok(ok)
}

fn print_report(report: &berth::analyze::ImageReport) {
    outln!(
        "{}  {}",
        report.platform,
        report
            .manifest
            .as_ref()
            .map(|d| d.to_string())
            .unwrap_or_default()
    );
    outln!(
        "  size {} compressed, {} uncompressed; wasted {}; efficiency {:.1}%",
        format_size(report.compressed),
        format_size(report.uncompressed),
        format_size(report.wasted_bytes),
        report.efficiency * 100.0
    );
    outln!(
        "  {:>10} {:>10} {:>6} {:>6} {:>6}  CREATED BY",
        "COMPRESSED",
        "SIZE",
        "ADDED",
        "CHNGD",
        "REMVD"
    );
    for layer in &report.layers {
        let mut created_by = layer.created_by.replace('\n', " ");
        if created_by.len() > 80 {
            let cut = (0..=77)
                .rev()
                .find(|&i| created_by.is_char_boundary(i))
                .unwrap_or(0);
            created_by.truncate(cut);
            created_by.push_str("...");
        }
        outln!(
            "  {:>10} {:>10} {:>6} {:>6} {:>6}  {created_by}",
            format_size(layer.compressed),
            format_size(layer.uncompressed),
            layer.added,
            layer.changed,
            layer.removed
        );
    }
    for binary in &report.binaries {
        let info = &binary.info;
        let mut what = vec![info.go_version.clone(), info.arch.clone()];
        what.extend(
            info.main
                .as_ref()
                .map(|m| format!("{}@{}", m.path, m.version)),
        );
        outln!(
            "  go binary {} ({}): {}, {}, {}, {} deps",
            binary.path,
            format_size(binary.size),
            what.join(" "),
            if info.stripped {
                "stripped"
            } else {
                "not stripped"
            },
            if info.dynamic { "dynamic" } else { "static" },
            info.deps.len()
        );
        for (key, value) in &info.settings {
            outln!("    {key}={value}");
        }
    }
    for advice in &report.advice {
        if advice.saves > 0 {
            outln!(
                "  advice [{}] {} (saves {})",
                advice.id,
                advice.message,
                format_size(advice.saves)
            );
        } else {
            outln!("  advice [{}] {}", advice.id, advice.message);
        }
    }
}

#[derive(Args)]
pub struct LintArgs {
    /// Dockerfiles to check [default: ./Dockerfile].
    files: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_parser = ["text", "json", "sarif"], default_value = "text")]
    format: String,
    /// Exit 1 when a finding is at least this severe.
    #[arg(long, value_parser = ["error", "warning", "info", "style", "none"], default_value = "warning")]
    fail_on: String,
    /// Settings file [default: .berth-lint.toml when present].
    #[arg(long)]
    config: Option<PathBuf>,
    /// The service's compiled binary: GO013 becomes an error when it uses crypto/tls.
    #[arg(long)]
    binary: Option<PathBuf>,
    /// Build argument NAME=VALUE for resolving ARGs in FROM (repeatable).
    #[arg(long)]
    build_arg: Vec<String>,
    /// Print every rule with its explanation and fix, and exit.
    #[arg(long)]
    list_rules: bool,
}

/// Exit code 2 when a file could not be parsed, 1 for findings at `--fail-on`, else 0.
pub fn lint(args: LintArgs) -> anyhow::Result<std::process::ExitCode> {
    use berth::lint::{self, Severity, rules::RULES};
    if args.list_rules {
        for rule in RULES {
            let hadolint = rule
                .hadolint
                .map(|id| format!(" (hadolint {id})"))
                .unwrap_or_default();
            let opt_in = if rule.opt_in {
                ", off unless enabled"
            } else {
                ""
            };
            outln!(
                "{} {} [{}{opt_in}]{hadolint}",
                rule.id,
                rule.name,
                rule.severity.name()
            );
            outln!("  {}", rule.explanation);
            outln!("  Fix: {}\n", rule.fix);
        }
        return Ok(std::process::ExitCode::SUCCESS);
    }
    let config = args.config.clone().or_else(|| {
        let default = PathBuf::from(".berth-lint.toml");
        default.is_file().then_some(default)
    });
    let mut settings = match &config {
        Some(path) => lint::Settings::from_toml(
            &std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?,
        )?,
        None => lint::Settings::default(),
    };
    for text in &args.build_arg {
        let (key, value) = key_value(text, "--build-arg")?;
        settings.build_args.insert(key, value);
    }
    if let Some(binary) = &args.binary {
        // Only a Go program can be judged; anything else is a mistake on the command line.
        berth::analyze::gobinary::read(binary)?;
        settings.binary_uses_tls = Some(berth::analyze::gobinary::mentions(
            binary,
            &["crypto/tls.(*Conn)", "crypto/tls.Client"],
        )?);
    }
    let files = if args.files.is_empty() {
        vec![PathBuf::from("Dockerfile")]
    } else {
        args.files
    };
    let mut results = vec![];
    for file in &files {
        results.push((
            file.display().to_string(),
            lint::lint_path(file, &settings)?,
        ));
    }
    match args.format.as_str() {
        "json" => outln!(
            "{}",
            serde_json::to_string_pretty(&lint::to_json(&results))?
        ),
        "sarif" => outln!(
            "{}",
            serde_json::to_string_pretty(&lint::to_sarif(&results))?
        ),
        _ => {
            for (file, findings) in &results {
                for finding in findings {
                    outln!("{}", lint::format_text(file, finding));
                }
            }
        }
    }
    let mut all = results.iter().flat_map(|(_, findings)| findings);
    if all
        .clone()
        .any(|finding| finding.rule == lint::rules::UNPARSABLE)
    {
        return Ok(std::process::ExitCode::from(2));
    }
    let threshold = match args.fail_on.as_str() {
        "none" => return Ok(std::process::ExitCode::SUCCESS),
        other => Severity::parse(other)?,
    };
    if all.any(|finding| finding.severity.is_some_and(|s| s >= threshold)) {
        return Ok(std::process::ExitCode::FAILURE);
    }
    Ok(std::process::ExitCode::SUCCESS)
}
