//! The rules, each with an id, a default severity, the hadolint rule it matches (if any), an
//! explanation and the fix; and the checks that find them. Checks look at stages the way a
//! build runs them: the final stage is what ships, and the stages it copies from build it.

use super::parser::{Dockerfile, Instruction, Stage};
use super::{Finding, Severity};

/// A rule's documentation.
pub struct Rule {
    pub id: &'static str,
    pub name: &'static str,
    pub severity: Severity,
    pub hadolint: Option<&'static str>,
    /// Off unless a config enables it.
    pub opt_in: bool,
    pub explanation: &'static str,
    pub fix: &'static str,
}

/// The id of the finding that stands for a file berth could not parse.
pub const UNPARSABLE: &str = "GO000";

/// Every rule berth knows.
pub const RULES: &[Rule] = &[
    Rule {
        id: UNPARSABLE,
        name: "unparsable-dockerfile",
        severity: Severity::Error,
        hadolint: None,
        opt_in: false,
        explanation: "The file is not a Dockerfile berth can read (an unknown instruction, an unterminated heredoc, an instruction before the first FROM), so no other rule could judge it. The other files are still checked.",
        fix: "Correct the line named; `docker build` would refuse it too.",
    },
    Rule {
        id: "GO001",
        name: "single-stage-go-build",
        severity: Severity::Error,
        hadolint: None,
        opt_in: false,
        explanation: "The image compiles Go in its only stage, so the Go toolchain, the module cache and the build cache (hundreds of megabytes) ship in the image that runs, together with the source code.",
        fix: "Build in a first stage (`FROM golang:1.22 AS build`) and copy only the binary into a final stage `FROM scratch` or a distroless image.",
    },
    Rule {
        id: "GO002",
        name: "toolchain-final-stage",
        severity: Severity::Error,
        hadolint: None,
        opt_in: false,
        explanation: "The final stage is built from a Go toolchain image. Everything in it ships: the compiler, the standard library sources and a shell, none of which a compiled Go program needs at run time.",
        fix: "Make the final stage `FROM scratch` (with CA certificates) or `gcr.io/distroless/static` and `COPY --from=build` the binary.",
    },
    Rule {
        id: "GO003",
        name: "source-before-module-download",
        severity: Severity::Warning,
        hadolint: None,
        opt_in: false,
        explanation: "The whole source is copied before the modules are downloaded, so every change to any file invalidates the layer cache of the download and every build fetches all modules again.",
        fix: "Copy `go.mod` and `go.sum` first, run `go mod download`, then copy the rest of the source.",
    },
    Rule {
        id: "GO004",
        name: "go-sum-not-copied",
        severity: Severity::Warning,
        hadolint: None,
        opt_in: false,
        explanation: "`go.mod` is copied for the module download without `go.sum`, so the download cannot verify module checksums and the cached layer does not change when the checksums do.",
        fix: "Copy both: `COPY go.mod go.sum ./`.",
    },
    Rule {
        id: "GO005",
        name: "cgo-not-disabled",
        severity: Severity::Error,
        hadolint: None,
        opt_in: false,
        explanation: "The binary is built without `CGO_ENABLED=0` and shipped on scratch, distroless or alpine. With cgo, packages such as `net` and `os/user` link the C library dynamically; the program then fails to start on scratch or distroless/static (no loader) and on alpine (musl instead of glibc).",
        fix: "Set `ENV CGO_ENABLED=0` in the build stage, or run `CGO_ENABLED=0 go build …`.",
    },
    Rule {
        id: "GO006",
        name: "obsolete-build-flags",
        severity: Severity::Warning,
        hadolint: None,
        opt_in: false,
        explanation: "`-a -installsuffix cgo` dates from Go before 1.10, when the build cache did not track cgo settings. Today `-a` only forces every package to be rebuilt and makes builds slower; `-installsuffix` does nothing useful.",
        fix: "Drop `-a` and `-installsuffix cgo`; `CGO_ENABLED=0` is enough.",
    },
    Rule {
        id: "GO007",
        name: "missing-trimpath-or-strip",
        severity: Severity::Warning,
        hadolint: None,
        opt_in: false,
        explanation: "`go build` without `-trimpath` embeds the build machine's file paths, so the binary is not reproducible; without `-ldflags=\"-s -w\"` it keeps its symbol table and DWARF data, about a quarter of its size, which a container never uses.",
        fix: "Build with `go build -trimpath -ldflags=\"-s -w\"`.",
    },
    Rule {
        id: "GO008",
        name: "from-untagged",
        severity: Severity::Warning,
        hadolint: Some("DL3006"),
        opt_in: false,
        explanation: "`FROM` names an image without a tag, which means `latest`, or with a tag that holds no version (`golang:alpine`): the build gets whatever the tag points at that day, and two builds of the same commit differ.",
        fix: "Name a version: `FROM golang:1.22.1-alpine3.19`.",
    },
    Rule {
        id: "GO009",
        name: "from-latest",
        severity: Severity::Warning,
        hadolint: Some("DL3007"),
        opt_in: false,
        explanation: "`latest` moves with every release of the image, across major versions; builds are neither reproducible nor safe from breaking changes.",
        fix: "Pin a version tag (and, with GO011, a digest).",
    },
    Rule {
        id: "GO010",
        name: "from-major-only",
        severity: Severity::Info,
        hadolint: None,
        opt_in: false,
        explanation: "The tag pins only a major version (`golang:1`, `alpine:3`), which moves to every new minor release: a new Go release changes the compiler under the build without a change in the repository.",
        fix: "Pin at least the minor version (`golang:1.22`, `alpine:3.19`), better the patch.",
    },
    Rule {
        id: "GO011",
        name: "from-not-digest-pinned",
        severity: Severity::Info,
        hadolint: None,
        opt_in: true,
        explanation: "A tag can be pushed again with other content; only a digest names exactly one image. Pinning digests makes builds reproducible and supply-chain reviewable (a bot such as Renovate keeps them current).",
        fix: "Write `FROM golang:1.22.1@sha256:…`.",
    },
    Rule {
        id: "GO012",
        name: "runs-as-root",
        severity: Severity::Warning,
        hadolint: Some("DL3002"),
        opt_in: false,
        explanation: "The final stage runs as root (no `USER`, or `USER root`/`0`). A compromised process then owns the container's file system and has an easier way out of it.",
        fix: "Add `USER 65532:65532` (distroless's `nonroot`) or another unprivileged user to the final stage.",
    },
    Rule {
        id: "GO013",
        name: "missing-ca-certificates",
        severity: Severity::Warning,
        hadolint: None,
        opt_in: false,
        explanation: "The final stage is `scratch` and gets no CA certificates, so every TLS connection the program makes (HTTPS clients, database drivers with TLS) fails with `x509: certificate signed by unknown authority`. With `--binary`, the binary is checked for `crypto/tls` and the finding is an error when it uses it.",
        fix: "`COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/` in the final stage.",
    },
    Rule {
        id: "GO014",
        name: "apk-add-without-no-cache",
        severity: Severity::Warning,
        hadolint: Some("DL3019"),
        opt_in: false,
        explanation: "`apk add` without `--no-cache` leaves the package index in `/var/cache/apk` in the layer.",
        fix: "Use `apk add --no-cache …`.",
    },
    Rule {
        id: "GO015",
        name: "add-instead-of-copy",
        severity: Severity::Warning,
        hadolint: Some("DL3020"),
        opt_in: false,
        explanation: "`ADD` of local files behaves like `COPY` but also unpacks archives and fetches URLs, which surprises readers and reviewers.",
        fix: "Use `COPY` for files and directories; keep `ADD` for the cases that need it.",
    },
    Rule {
        id: "GO016",
        name: "shell-form-entrypoint",
        severity: Severity::Warning,
        hadolint: Some("DL3025"),
        opt_in: false,
        explanation: "`ENTRYPOINT` or `CMD` in shell form runs the program under `/bin/sh -c`: it is not PID 1 and does not get SIGTERM, so containers stop only after the kill timeout; on `scratch` there is no shell and the container cannot start at all.",
        fix: "Use the JSON form: `ENTRYPOINT [\"/app\"]`.",
    },
    Rule {
        id: "GO017",
        name: "no-go-cache-mount",
        severity: Severity::Info,
        hadolint: None,
        opt_in: false,
        explanation: "BuildKit is in use, but `go build` or `go mod download` runs without cache mounts, so each build whose layer cache misses compiles every package and downloads every module again.",
        fix: "`RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build go build …`.",
    },
    Rule {
        id: "GO018",
        name: "copy-from-unknown-stage",
        severity: Severity::Error,
        hadolint: Some("DL3022"),
        opt_in: false,
        explanation: "`COPY --from` names something that is neither an earlier stage nor an image reference, so the build fails (or, for a plain word, pulls an image of that name from Docker Hub).",
        fix: "Name an earlier stage (`AS build` … `COPY --from=build`) or a full image reference.",
    },
];

pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES
        .iter()
        .find(|rule| rule.id == id || rule.hadolint == Some(id))
}

/// What the final stage is built on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BaseKind {
    Scratch,
    Distroless,
    Alpine,
    Golang,
    Other,
    Unknown,
}

/// The checks' view of one file.
pub struct Context<'a> {
    pub file: &'a Dockerfile,
    /// Whether the binary given with `--binary` uses `crypto/tls`.
    pub binary_uses_tls: Option<bool>,
}

impl Context<'_> {
    /// The image a stage is ultimately built on, following `FROM <stage>`.
    fn root_image(&self, stage: &Stage) -> Option<String> {
        let mut current = stage;
        for _ in 0..self.file.stages.len() {
            let image = current.image.as_deref()?;
            match self.file.stage_named(image, current.index) {
                Some(parent) => current = parent,
                None => return Some(image.to_owned()),
            }
        }
        None
    }

    fn base_kind(&self, stage: &Stage) -> BaseKind {
        let Some(image) = self.root_image(stage) else {
            return BaseKind::Unknown;
        };
        let (name, tag) = split_image(&image);
        let repo = name.rsplit('/').next().unwrap_or(name);
        if image == "scratch" {
            BaseKind::Scratch
        } else if name.contains("distroless") || name.contains("chainguard/static") {
            BaseKind::Distroless
        } else if repo == "golang" || repo == "go" {
            BaseKind::Golang
        } else if repo == "alpine" || tag.is_some_and(|t| t.contains("alpine")) {
            BaseKind::Alpine
        } else {
            BaseKind::Other
        }
    }

    /// A stage and the stages it is built `FROM`, nearest first.
    fn lineage<'s>(&'s self, stage: &'s Stage) -> Vec<&'s Stage> {
        let mut chain = vec![stage];
        let mut current = stage;
        while let Some(parent) = current
            .image
            .as_deref()
            .and_then(|image| self.file.stage_named(image, current.index))
        {
            if chain.iter().any(|s| s.index == parent.index) {
                break;
            }
            chain.push(parent);
            current = parent;
        }
        chain
    }

    /// The stages whose files end up in the final image: the final one, its ancestors, and the
    /// stages its `COPY --from` name (with theirs).
    fn feeding_final(&self) -> Vec<&Stage> {
        let Some(last) = self.file.final_stage() else {
            return vec![];
        };
        let mut stages: Vec<&Stage> = self.lineage(last);
        for instruction in self.file.body(last) {
            if let Some(from) = instruction.flag("from")
                && let Some(source) = self.file.stage_named(from, last.index)
            {
                for stage in self.lineage(source) {
                    if !stages.iter().any(|s| s.index == stage.index) {
                        stages.push(stage);
                    }
                }
            }
        }
        stages
    }
}

/// `name[:tag][@digest]` → name and tag.
fn split_image(image: &str) -> (&str, Option<&str>) {
    let without_digest = image.split('@').next().unwrap_or(image);
    let last_slash = without_digest.rfind('/').map_or(0, |i| i + 1);
    match without_digest[last_slash..].rfind(':') {
        Some(i) => (
            &without_digest[..last_slash + i],
            Some(&without_digest[last_slash + i + 1..]),
        ),
        None => (without_digest, None),
    }
}

/// Whether a shell script runs `go <sub>` (`go build`, `go mod download`).
fn runs_go(script: &str, sub: &str) -> bool {
    go_commands(script)
        .iter()
        .any(|command| command.starts_with(sub))
}

/// The `go …` commands of a script, each as its words after `go`, joined by spaces.
fn go_commands(script: &str) -> Vec<String> {
    script
        .split(['\n', ';', '|', '&'])
        .filter_map(|segment| {
            let words: Vec<&str> = segment.split_whitespace().collect();
            let at = words
                .iter()
                .position(|word| *word == "go" || word.ends_with("/go"))?;
            Some(words[at + 1..].join(" "))
        })
        .collect()
}

/// The words of a command with quotes dropped and `-flag=value` split.
fn words(command: &str) -> Vec<String> {
    command
        .replace(['"', '\''], " ")
        .split_whitespace()
        .flat_map(|word| word.split('=').map(str::to_owned).collect::<Vec<_>>())
        .collect()
}

fn finding(rule: &'static str, at: &Instruction, message: String) -> Finding {
    Finding {
        rule,
        line: at.line,
        column: at.column,
        severity: None,
        message,
    }
}

/// Runs every check.
pub fn check(context: &Context) -> Vec<Finding> {
    let file = context.file;
    let mut findings = vec![];
    let Some(last) = file.final_stage() else {
        return findings;
    };
    let instructions = &file.instructions;
    let final_kind = context.base_kind(last);
    let builds_go = |stage: &Stage| {
        file.body(stage).iter().find(|i| {
            i.keyword == "RUN" && (runs_go(&i.script(), "build") || runs_go(&i.script(), "install"))
        })
    };

    // GO001, GO002: the toolchain ships.
    if file.stages.len() == 1 {
        if let Some(run) = builds_go(last) {
            findings.push(finding(
                "GO001",
                run,
                "Go is compiled in the only stage: the toolchain ships in the image".into(),
            ));
        }
    } else if final_kind == BaseKind::Golang {
        findings.push(finding(
            "GO002",
            &instructions[last.from],
            format!(
                "the final stage is built from the Go toolchain image {}",
                context.root_image(last).unwrap_or_default()
            ),
        ));
    }

    for stage in &file.stages {
        let body = file.body(stage);
        // GO003, GO004: module download caching.
        if builds_go(stage).is_some() {
            let download = body
                .iter()
                .position(|i| i.keyword == "RUN" && runs_go(&i.script(), "mod download"));
            let whole = body.iter().position(|i| {
                i.keyword == "COPY" && i.flag("from").is_none() && copies_whole_context(i)
            });
            if let Some(whole_at) = whole
                && download.is_none_or(|d| d > whole_at)
            {
                findings.push(finding(
                    "GO003",
                    &body[whole_at],
                    "the whole source is copied before `go mod download`: any change re-downloads every module".into(),
                ));
            }
            let before_download = &body[..download.unwrap_or(body.len())];
            let copied: Vec<String> = before_download
                .iter()
                .filter(|i| i.keyword == "COPY" && i.flag("from").is_none())
                .flat_map(sources)
                .collect();
            let has = |name: &str| {
                copied.iter().any(|s| {
                    s == name
                        || s.ends_with(&format!("/{name}"))
                        || s == "go.*"
                        || s.ends_with("/go.*")
                })
            };
            if download.is_some()
                && has("go.mod")
                && !has("go.sum")
                && let Some(copy) = before_download.iter().find(|i| {
                    i.keyword == "COPY" && sources(i).iter().any(|s| s.ends_with("go.mod"))
                })
            {
                findings.push(finding(
                    "GO004",
                    copy,
                    "go.mod is copied without go.sum before `go mod download`".into(),
                ));
            }
        }
        for instruction in body {
            let script = instruction.script();
            if instruction.keyword == "RUN" {
                for command in go_commands(&script)
                    .iter()
                    .filter(|c| c.starts_with("build") || c.starts_with("install"))
                {
                    let words = words(command);
                    // GO006
                    if words.iter().any(|w| w == "-installsuffix")
                        || words.iter().any(|w| w == "-a")
                    {
                        findings.push(finding(
                            "GO006",
                            instruction,
                            "`-a -installsuffix cgo` is obsolete: it only slows the build".into(),
                        ));
                    }
                    // GO007
                    let mut missing = vec![];
                    if !words.iter().any(|w| w == "-trimpath") {
                        missing.push("-trimpath");
                    }
                    let has_ldflags = words.iter().any(|w| w == "-ldflags");
                    if !(has_ldflags
                        && words.iter().any(|w| w == "-s")
                        && words.iter().any(|w| w == "-w"))
                    {
                        missing.push("-ldflags=\"-s -w\"");
                    }
                    if !missing.is_empty() {
                        findings.push(finding(
                            "GO007",
                            instruction,
                            format!("go build without {}", missing.join(" and ")),
                        ));
                    }
                }
                // GO014
                for segment in script.split(['\n', ';', '&', '|']) {
                    let words: Vec<&str> = segment.split_whitespace().collect();
                    if let Some(at) = words.windows(2).position(|w| w == ["apk", "add"])
                        && !words[at..].contains(&"--no-cache")
                    {
                        findings.push(finding(
                            "GO014",
                            instruction,
                            "`apk add` without `--no-cache` keeps the package index in the layer"
                                .into(),
                        ));
                    }
                }
                // GO017
                let buildkit = file.directive("syntax").is_some()
                    || instructions
                        .iter()
                        .any(|i| i.flag("mount").is_some() || !i.heredocs.is_empty());
                let needs_cache = runs_go(&script, "build") || runs_go(&script, "mod download");
                let cached = instruction
                    .flags
                    .iter()
                    .any(|(name, value)| name == "mount" && value.contains("type=cache"));
                if buildkit && needs_cache && !cached {
                    findings.push(finding(
                        "GO017",
                        instruction,
                        "no cache mount for the module and build caches".into(),
                    ));
                }
            }
            // GO015
            if instruction.keyword == "ADD" {
                let sources = sources(instruction);
                let local = sources.iter().all(|s| {
                    !(s.contains("://")
                        || s.starts_with("git@")
                        || [".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".txz"]
                            .iter()
                            .any(|ext| s.ends_with(ext)))
                });
                if !sources.is_empty() && local {
                    findings.push(finding(
                        "GO015",
                        instruction,
                        "ADD of local files: use COPY".into(),
                    ));
                }
            }
            // GO018
            if instruction.keyword == "COPY"
                && let Some(from) = instruction.flag("from")
                && file.stage_named(from, stage.index).is_none()
                && !from.contains([':', '/', '@'])
                && !from.contains('$')
            {
                findings.push(finding(
                    "GO018",
                    instruction,
                    format!("COPY --from={from}: no earlier stage has that name"),
                ));
            }
        }
    }

    // GO005: cgo with a base that has no (or another) C library.
    if matches!(
        final_kind,
        BaseKind::Scratch | BaseKind::Distroless | BaseKind::Alpine
    ) {
        for stage in context.feeding_final() {
            let Some(run) = builds_go(stage) else {
                continue;
            };
            let lineage = context.lineage(stage);
            let set_in_stage = lineage.iter().any(|s| {
                file.body(s).iter().any(|i| {
                    matches!(i.keyword.as_str(), "ENV" | "ARG")
                        && i.args.text().replace(' ', "=").contains("CGO_ENABLED=0")
                })
            });
            if !set_in_stage && !run.script().contains("CGO_ENABLED=0") {
                findings.push(finding(
                    "GO005",
                    run,
                    format!(
                        "go build without CGO_ENABLED=0, but the final stage is {}",
                        match final_kind {
                            BaseKind::Scratch => "scratch",
                            BaseKind::Distroless => "distroless",
                            _ => "alpine",
                        }
                    ),
                ));
            }
        }
    }

    // GO008–GO011: base image pins.
    for stage in &file.stages {
        let from = &instructions[stage.from];
        let Some(image) = stage.image.as_deref() else {
            continue;
        };
        if image == "scratch" || file.stage_named(image, stage.index).is_some() {
            continue;
        }
        let (_, tag) = split_image(image);
        let pinned = image.contains('@');
        let versioned_by_name = image.contains("distroless") || image.contains("chainguard");
        match tag {
            None if !pinned => findings.push(finding(
                "GO008",
                from,
                format!("{image} has no tag: it means latest"),
            )),
            Some(tag)
                if tag != "latest"
                    && !versioned_by_name
                    && !tag.bytes().any(|b| b.is_ascii_digit()) =>
            {
                findings.push(finding(
                    "GO008",
                    from,
                    format!("{image} names no version in its tag"),
                ));
            }
            Some("latest") => findings.push(finding(
                "GO009",
                from,
                format!("{image} uses the latest tag"),
            )),
            Some(tag)
                if tag.split('-').next().is_some_and(|v| {
                    let v = v.trim_start_matches('v');
                    !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit())
                }) =>
            {
                findings.push(finding(
                    "GO010",
                    from,
                    format!("{image} pins only a major version"),
                ))
            }
            _ => {}
        }
        if !pinned {
            findings.push(finding(
                "GO011",
                from,
                format!("{image} is not pinned by digest"),
            ));
        }
    }

    // GO012: root at run time.
    let nonroot_base = context
        .root_image(last)
        .is_some_and(|image| image.contains("nonroot"));
    let lineage = context.lineage(last);
    let user = lineage.iter().enumerate().find_map(|(position, stage)| {
        let body = stage.body.clone();
        let index = body.rev().find(|&i| instructions[i].keyword == "USER")?;
        Some((position, index))
    });
    match user {
        Some((position, index)) => {
            let user = &instructions[index];
            // `USER ${NAME}` runs as whatever the ARGs and ENVs in scope make of it; a name that
            // stays unknown is not judged.
            let name = file
                .expand(&lineage[position..], index, &user.args.text())
                .unwrap_or_default();
            let name = name.split(':').next().unwrap_or_default().trim();
            if name == "root" || name == "0" {
                findings.push(finding(
                    "GO012",
                    user,
                    "the final stage runs as root".into(),
                ));
            }
        }
        None if !nonroot_base => {
            findings.push(finding(
                "GO012",
                &instructions[last.from],
                "the final stage has no USER: it runs as root".into(),
            ));
        }
        None => {}
    }

    // GO013: TLS without certificates.
    if final_kind == BaseKind::Scratch {
        let has_certs = context.lineage(last).iter().any(|stage| {
            file.body(stage).iter().any(|i| {
                matches!(i.keyword.as_str(), "COPY" | "ADD") && {
                    let text = i.args.text();
                    text.contains("ca-certificates") || text.contains("/etc/ssl")
                }
            })
        });
        if !has_certs {
            let mut found = finding(
                "GO013",
                &instructions[last.from],
                match context.binary_uses_tls {
                    Some(true) => "the program makes TLS calls (crypto/tls) but the scratch final stage has no CA certificates".into(),
                    _ => "the scratch final stage has no CA certificates".into(),
                },
            );
            if context.binary_uses_tls == Some(true) {
                found.severity = Some(Severity::Error);
            }
            findings.push(found);
        }
    }

    // GO016: shell-form ENTRYPOINT/CMD in the final stage.
    for instruction in file.body(last) {
        if matches!(instruction.keyword.as_str(), "ENTRYPOINT" | "CMD")
            && matches!(instruction.args, super::parser::Args::Shell(_))
        {
            let mut found = finding(
                "GO016",
                instruction,
                format!(
                    "{} in shell form runs under /bin/sh and misses signals",
                    instruction.keyword
                ),
            );
            if final_kind == BaseKind::Scratch {
                found.message = format!(
                    "{} in shell form on scratch: there is no /bin/sh, the container cannot start",
                    instruction.keyword
                );
                found.severity = Some(Severity::Error);
            }
            findings.push(found);
        }
    }
    findings.sort_by_key(|f| (f.line, f.rule));
    findings
}

/// The sources of a COPY or ADD (all words but the destination).
fn sources(instruction: &Instruction) -> Vec<String> {
    let words: Vec<String> = match &instruction.args {
        super::parser::Args::Json(words) => words.clone(),
        super::parser::Args::Shell(text) => text.split_whitespace().map(str::to_owned).collect(),
    };
    if !instruction.heredocs.is_empty() {
        return vec![];
    }
    match words.split_last() {
        Some((_, sources)) => sources.to_vec(),
        None => vec![],
    }
}

/// `COPY . .`, `COPY ./ /src`, `COPY * ./`: the whole build context.
fn copies_whole_context(instruction: &Instruction) -> bool {
    sources(instruction)
        .iter()
        .any(|s| matches!(s.as_str(), "." | "./" | "*" | "./*"))
}
