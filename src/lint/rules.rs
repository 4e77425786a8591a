//! The rules, each with an id, a default severity, the hadolint rule it matches (if any), an
//! explanation, the fix and the check that finds it. Checks look at stages the way a build runs
//! them (`model`): the final stage is what ships, and of the builds in other stages only those
//! whose output it copies are judged as the program that ships.

use super::model::{BaseKind, Context, Libc, Pin, copies_whole_context, segments, sources};
use super::parser::{Args, Instruction, Stage};
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
    /// Adds the rule's findings for a file.
    pub check: fn(&Context, &mut Vec<Finding>),
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
        check: unparsable,
    },
    Rule {
        id: "GO001",
        name: "single-stage-go-build",
        severity: Severity::Error,
        hadolint: None,
        opt_in: false,
        explanation: "The image compiles Go in its only stage, so the Go toolchain, the module cache and the build cache (hundreds of megabytes) ship in the image that runs, together with the source code.",
        fix: "Build in a first stage (`FROM golang:1.22 AS build`) and copy only the binary into a final stage `FROM scratch` or a distroless image.",
        check: go001,
    },
    Rule {
        id: "GO002",
        name: "toolchain-final-stage",
        severity: Severity::Error,
        hadolint: None,
        opt_in: false,
        explanation: "The final stage is built from a Go toolchain image. Everything in it ships: the compiler, the standard library sources and a shell, none of which a compiled Go program needs at run time.",
        fix: "Make the final stage `FROM scratch` (with CA certificates) or `gcr.io/distroless/static` and `COPY --from=build` the binary.",
        check: go002,
    },
    Rule {
        id: "GO003",
        name: "source-before-module-download",
        severity: Severity::Warning,
        hadolint: None,
        opt_in: false,
        explanation: "The whole source is copied before the modules are downloaded, so every change to any file invalidates the layer cache of the download and every build fetches all modules again.",
        fix: "Copy `go.mod` and `go.sum` first, run `go mod download`, then copy the rest of the source.",
        check: go003,
    },
    Rule {
        id: "GO004",
        name: "go-sum-not-copied",
        severity: Severity::Warning,
        hadolint: None,
        opt_in: false,
        explanation: "`go.mod` is copied for the module download without `go.sum`, so the download cannot verify module checksums and the cached layer does not change when the checksums do.",
        fix: "Copy both: `COPY go.mod go.sum ./`.",
        check: go004,
    },
    Rule {
        id: "GO005",
        name: "cgo-not-disabled",
        severity: Severity::Error,
        hadolint: None,
        opt_in: false,
        explanation: "The binary that ships is built with cgo (not `CGO_ENABLED=0`, not linked with `-extldflags -static`), so packages such as `net` and `os/user` link the builder's C library dynamically, and the final stage has no C library (scratch, distroless/static) or another one (glibc builder, musl alpine): the program fails to start. cgo is on by default where a C compiler is installed (the Debian-based golang images carry gcc). A musl build shipped on alpine, or a glibc build on a glibc image, is fine.",
        fix: "Set `ENV CGO_ENABLED=0` in the build stage, or run `CGO_ENABLED=0 go build …`.",
        check: go005,
    },
    Rule {
        id: "GO006",
        name: "obsolete-build-flags",
        severity: Severity::Warning,
        hadolint: None,
        opt_in: false,
        explanation: "`-a -installsuffix cgo` dates from Go before 1.10, when the build cache did not track cgo settings. Today `-a` only forces every package to be rebuilt and makes builds slower; `-installsuffix` does nothing useful.",
        fix: "Drop `-a` and `-installsuffix cgo`; `CGO_ENABLED=0` is enough.",
        check: go006,
    },
    Rule {
        id: "GO007",
        name: "missing-trimpath-or-strip",
        severity: Severity::Warning,
        hadolint: None,
        opt_in: false,
        explanation: "`go build` without `-trimpath` embeds the build machine's file paths, so the binary is not reproducible; without `-ldflags=\"-s -w\"` it keeps its symbol table and DWARF data, about a quarter of its size, which a container never uses.",
        fix: "Build with `go build -trimpath -ldflags=\"-s -w\"`.",
        check: go007,
    },
    Rule {
        id: "GO008",
        name: "from-untagged",
        severity: Severity::Warning,
        hadolint: Some("DL3006"),
        opt_in: false,
        explanation: "`FROM` names an image without a tag, which means `latest`, or with a tag that holds no version (`golang:alpine`): the build gets whatever the tag points at that day, and two builds of the same commit differ.",
        fix: "Name a version: `FROM golang:1.22.1-alpine3.19`.",
        check: go008,
    },
    Rule {
        id: "GO009",
        name: "from-latest",
        severity: Severity::Warning,
        hadolint: Some("DL3007"),
        opt_in: false,
        explanation: "`latest` moves with every release of the image, across major versions; builds are neither reproducible nor safe from breaking changes.",
        fix: "Pin a version tag (and, with GO011, a digest).",
        check: go009,
    },
    Rule {
        id: "GO010",
        name: "from-major-only",
        severity: Severity::Info,
        hadolint: None,
        opt_in: false,
        explanation: "The tag pins only a major version (`golang:1`, `alpine:3`), which moves to every new minor release: a new Go release changes the compiler under the build without a change in the repository.",
        fix: "Pin at least the minor version (`golang:1.22`, `alpine:3.19`), better the patch.",
        check: go010,
    },
    Rule {
        id: "GO011",
        name: "from-not-digest-pinned",
        severity: Severity::Info,
        hadolint: None,
        opt_in: true,
        explanation: "A tag can be pushed again with other content; only a digest names exactly one image. Pinning digests makes builds reproducible and supply-chain reviewable (a bot such as Renovate keeps them current).",
        fix: "Write `FROM golang:1.22.1@sha256:…`.",
        check: go011,
    },
    Rule {
        id: "GO012",
        name: "runs-as-root",
        severity: Severity::Warning,
        hadolint: Some("DL3002"),
        opt_in: false,
        explanation: "The final stage runs as root (no `USER`, or `USER root`/`0`). A compromised process then owns the container's file system and has an easier way out of it.",
        fix: "Add `USER 65532:65532` (distroless's `nonroot`) or another unprivileged user to the final stage.",
        check: go012,
    },
    Rule {
        id: "GO013",
        name: "missing-ca-certificates",
        severity: Severity::Warning,
        hadolint: None,
        opt_in: false,
        explanation: "The final stage is `scratch` and gets no CA certificates, so every TLS connection the program makes (HTTPS clients, database drivers with TLS) fails with `x509: certificate signed by unknown authority`. With `--binary`, the binary is checked for `crypto/tls` and the finding is an error when it uses it.",
        fix: "`COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/` in the final stage.",
        check: go013,
    },
    Rule {
        id: "GO014",
        name: "apk-add-without-no-cache",
        severity: Severity::Warning,
        hadolint: Some("DL3019"),
        opt_in: false,
        explanation: "`apk add` without `--no-cache` leaves the package index in `/var/cache/apk` in the layer.",
        fix: "Use `apk add --no-cache …`.",
        check: go014,
    },
    Rule {
        id: "GO015",
        name: "add-instead-of-copy",
        severity: Severity::Warning,
        hadolint: Some("DL3020"),
        opt_in: false,
        explanation: "`ADD` of local files behaves like `COPY` but also unpacks archives and fetches URLs, which surprises readers and reviewers.",
        fix: "Use `COPY` for files and directories; keep `ADD` for the cases that need it.",
        check: go015,
    },
    Rule {
        id: "GO016",
        name: "shell-form-entrypoint",
        severity: Severity::Warning,
        hadolint: Some("DL3025"),
        opt_in: false,
        explanation: "`ENTRYPOINT` or `CMD` in shell form runs the program under `/bin/sh -c`: it is not PID 1 and does not get SIGTERM, so containers stop only after the kill timeout; on `scratch` there is no shell and the container cannot start at all.",
        fix: "Use the JSON form: `ENTRYPOINT [\"/app\"]`.",
        check: go016,
    },
    Rule {
        id: "GO017",
        name: "no-go-cache-mount",
        severity: Severity::Info,
        hadolint: None,
        opt_in: false,
        explanation: "BuildKit is in use, but `go build` or `go mod download` runs without cache mounts, so each build whose layer cache misses compiles every package and downloads every module again.",
        fix: "`RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build go build …`.",
        check: go017,
    },
    Rule {
        id: "GO018",
        name: "copy-from-unknown-stage",
        severity: Severity::Error,
        hadolint: Some("DL3022"),
        opt_in: false,
        explanation: "`COPY --from` names something that is neither an earlier stage nor an image reference, so the build fails (or, for a plain word, pulls an image of that name from Docker Hub).",
        fix: "Name an earlier stage (`AS build` … `COPY --from=build`) or a full image reference.",
        check: go018,
    },
];

pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES
        .iter()
        .find(|rule| rule.id == id || rule.hadolint == Some(id))
}

/// Runs every check.
pub fn check(context: &Context) -> Vec<Finding> {
    let mut findings = vec![];
    if context.file.final_stage().is_some() {
        for rule in RULES {
            (rule.check)(context, &mut findings);
        }
    }
    findings.sort_by_key(|f| (f.line, f.rule));
    findings
}

fn finding(rule: &'static str, at: &Instruction, message: String) -> Finding {
    Finding {
        rule,
        line: at.line,
        column: at.column,
        severity: None,
        hadolint: None,
        message,
    }
}

/// The final stage; checks run only on files that have one.
fn last<'a>(context: &Context<'a>) -> &'a Stage {
    context
        .file
        .final_stage()
        .expect("checked files have a stage")
}

/// An unparsable file is reported by `lint` itself, before any check runs.
fn unparsable(_: &Context, _: &mut Vec<Finding>) {}

/// The first command of a single-stage file that compiles Go there (`go build`, `install`,
/// `get`, `run`, `test`): the toolchain it needs is in the image.
fn compiles_in_only_stage<'a>(context: &'a Context) -> Option<&'a super::model::GoCommand> {
    if context.file.stages.len() != 1 {
        return None;
    }
    context.commands.iter().find(|c| {
        matches!(
            c.words.first().map(String::as_str),
            Some("build" | "install" | "get" | "run" | "test")
        )
    })
}

fn go001(context: &Context, findings: &mut Vec<Finding>) {
    if let Some(command) = compiles_in_only_stage(context) {
        findings.push(finding(
            "GO001",
            &context.file.instructions[command.at],
            "Go is compiled in the only stage: the toolchain ships in the image".into(),
        ));
    } else if context.file.stages.len() == 1
        && let Some(install) = runs(context).find(|i| installs_toolchain(&i.script()))
    {
        // A build behind `make` or a script shows no go command, but the toolchain it
        // installed is in the image all the same.
        findings.push(finding(
            "GO001",
            install,
            "the Go toolchain is installed in the only stage: it ships in the image".into(),
        ));
    }
}

/// Where Go's release archives are downloaded from.
const GO_DOWNLOADS: &[&str] = &[
    "storage.googleapis.com/golang/",
    "dl.google.com/go/",
    "go.dev/dl/",
    "golang.org/dl/",
];

/// Whether a script installs a Go toolchain: a distribution's Go package (`apt-get install
/// golang-go`, `apk add go`) or a release archive from Go's download site.
fn installs_toolchain(script: &str) -> bool {
    if GO_DOWNLOADS.iter().any(|site| script.contains(site)) {
        return true;
    }
    segments(script).iter().any(|segment| {
        let words: Vec<&str> = segment.split_whitespace().collect();
        let Some(manager) = words.iter().position(|w| {
            matches!(
                *w,
                "apt-get" | "apt" | "apk" | "yum" | "dnf" | "microdnf" | "zypper"
            )
        }) else {
            return false;
        };
        let mut rest = words[manager + 1..]
            .iter()
            .skip_while(|w| w.starts_with('-'));
        matches!(rest.next(), Some(&("install" | "add")))
            && rest.any(|w| {
                let package = w.split(['=', '~']).next().unwrap_or(w);
                package == "golang"
                    || package == "go" && words[manager] == "apk"
                    || package
                        .strip_prefix("golang-")
                        .is_some_and(|v| v == "go" || v.starts_with(|c: char| c.is_ascii_digit()))
            })
    })
}

/// The final stage is a Go toolchain image; reported as GO001 instead where the only stage
/// visibly compiles Go.
fn go002(context: &Context, findings: &mut Vec<Finding>) {
    let last = last(context);
    if context.base_kind(last) == BaseKind::Golang && compiles_in_only_stage(context).is_none() {
        findings.push(finding(
            "GO002",
            &context.file.instructions[last.from],
            format!(
                "the final stage is built from the Go toolchain image {}",
                context.root_image(last).unwrap_or_default()
            ),
        ));
    }
}

/// The stages that compile Go, with the index of their first compiling `RUN`.
fn compiling_stages<'a>(context: &'a Context) -> impl Iterator<Item = &'a Stage> {
    context.file.stages.iter().filter(|stage| {
        context
            .commands
            .iter()
            .any(|c| c.stage == stage.index && c.compiles())
    })
}

/// The stages that compile Go with modules to download: not Go before 1.11 (no modules),
/// not `-mod=vendor` builds.
fn downloading_stages<'a>(context: &'a Context) -> impl Iterator<Item = &'a Stage> {
    compiling_stages(context).filter(|stage| {
        context.go_minor(stage).is_none_or(|minor| minor >= 11)
            && !context.commands.iter().any(|c| {
                c.stage == stage.index && c.words.iter().any(|w| w == "-mod=vendor")
                    || c.words
                        .windows(2)
                        .any(|w| w[0] == "-mod" && w[1] == "vendor")
            })
    })
}

/// The index in `body` of a stage's first module download: `go mod download`, or `go get` as
/// GOPATH-era files pre-fetch dependencies.
fn module_download(context: &Context, stage: &Stage) -> Option<usize> {
    context
        .commands
        .iter()
        .find(|c| {
            c.stage == stage.index
                && (c.words.starts_with(&["mod".into(), "download".into()])
                    || c.words.first().is_some_and(|w| w == "get"))
        })
        .map(|c| c.at - stage.body.start)
}

fn go003(context: &Context, findings: &mut Vec<Finding>) {
    for stage in downloading_stages(context) {
        let body = context.file.body(stage);
        let download = module_download(context, stage);
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
    }
}

fn go004(context: &Context, findings: &mut Vec<Finding>) {
    for stage in downloading_stages(context) {
        let body = context.file.body(stage);
        let Some(download) = module_download(context, stage) else {
            continue;
        };
        let before_download = &body[..download];
        let copied: Vec<String> = before_download
            .iter()
            .filter(|i| i.keyword == "COPY" && i.flag("from").is_none())
            .flat_map(sources)
            .collect();
        let has = |name: &str| {
            copied.iter().any(|s| {
                s == name || s.ends_with(&format!("/{name}")) || s == "go.*" || s.ends_with("/go.*")
            })
        };
        if has("go.mod")
            && !has("go.sum")
            && let Some(copy) = before_download
                .iter()
                .find(|i| i.keyword == "COPY" && sources(i).iter().any(|s| s.ends_with("go.mod")))
        {
            findings.push(finding(
                "GO004",
                copy,
                "go.mod is copied without go.sum before `go mod download`".into(),
            ));
        }
    }
}

fn go005(context: &Context, findings: &mut Vec<Finding>) {
    let last = last(context);
    let Some(runtime) = context.libc(last) else {
        return;
    };
    let mut reported = vec![];
    for &index in &context.shipping {
        let command = &context.commands[index];
        let stage = &context.file.stages[command.stage];
        if reported.contains(&command.at) || context.links_libc(command) != Some(true) {
            continue;
        }
        let builder = context.libc(stage);
        let broken = match (runtime, builder) {
            (Libc::None, _) => true,
            (runtime, Some(builder)) => builder != runtime && builder != Libc::None,
            (_, None) => false,
        };
        if !broken {
            continue;
        }
        reported.push(command.at);
        let runtime = match context.base_kind(last) {
            BaseKind::Scratch => "scratch".to_owned(),
            _ => context.root_image(last).unwrap_or_default(),
        };
        findings.push(finding(
            "GO005",
            &context.file.instructions[command.at],
            match builder {
                Some(builder) => format!(
                    "go build with cgo links {}, but the final stage is {runtime} ({}): set CGO_ENABLED=0",
                    builder.name(),
                    context.libc(last).map_or("", Libc::name),
                ),
                None => format!(
                    "go build without CGO_ENABLED=0, but the final stage is {runtime}, which has no C library"
                ),
            },
        ));
    }
}

fn go006(context: &Context, findings: &mut Vec<Finding>) {
    let mut reported = vec![];
    for command in context.commands.iter().filter(|c| c.compiles()) {
        if (command.has_flag("-installsuffix") || command.has_flag("-a"))
            && !reported.contains(&command.at)
        {
            reported.push(command.at);
            findings.push(finding(
                "GO006",
                &context.file.instructions[command.at],
                "`-a -installsuffix cgo` is obsolete: it only slows the build".into(),
            ));
        }
    }
}

fn go007(context: &Context, findings: &mut Vec<Finding>) {
    let mut reported = vec![];
    for &index in &context.shipping {
        let command = &context.commands[index];
        let mut missing = vec![];
        // `-trimpath` came with Go 1.13.
        let stage = &context.file.stages[command.stage];
        if !command.has_flag("-trimpath") && context.go_minor(stage).is_none_or(|m| m >= 13) {
            missing.push("-trimpath");
        }
        let ldflags = command.ldflags().unwrap_or_default();
        let words: Vec<&str> = ldflags.split_whitespace().collect();
        // Since Go 1.22 `-s` implies `-w` (unless `-w=0`).
        let s_implies_w =
            context.go_minor(stage).is_none_or(|m| m >= 22) && !words.contains(&"-w=0");
        if !(words.contains(&"-s") && (words.contains(&"-w") || s_implies_w)) {
            missing.push("-ldflags=\"-s -w\"");
        }
        if !missing.is_empty() && !reported.contains(&command.at) {
            reported.push(command.at);
            findings.push(finding(
                "GO007",
                &context.file.instructions[command.at],
                format!("go build without {}", missing.join(" and ")),
            ));
        }
    }
}

/// The stages whose `FROM` names an image (not `scratch`, not an earlier stage, not unknown),
/// with the image and how it is pinned.
fn pinned_images<'a>(context: &'a Context) -> impl Iterator<Item = (&'a Stage, &'a str, Pin)> {
    let file = context.file;
    file.stages.iter().filter_map(move |stage| {
        let image = stage.image.as_deref()?;
        if image == "scratch" || file.stage_named(image, stage.index).is_some() {
            return None;
        }
        Some((stage, image, super::model::pin(image)))
    })
}

fn go008(context: &Context, findings: &mut Vec<Finding>) {
    for (stage, image, pin) in pinned_images(context) {
        let from = &context.file.instructions[stage.from];
        match pin {
            Pin::Untagged => {
                let mut found = finding(
                    "GO008",
                    from,
                    format!("{image} has no tag: it means latest"),
                );
                // hadolint reads the line as written; a variable hides the image from it.
                if !stage.image_raw.contains('$') {
                    found.hadolint = Some("DL3006");
                }
                findings.push(found);
            }
            Pin::NoVersion => findings.push(finding(
                "GO008",
                from,
                format!("{image} names no version in its tag"),
            )),
            _ => {}
        }
    }
}

fn go009(context: &Context, findings: &mut Vec<Finding>) {
    for (stage, image, pin) in pinned_images(context) {
        if pin == Pin::Latest {
            let mut found = finding(
                "GO009",
                &context.file.instructions[stage.from],
                format!("{image} uses the latest tag"),
            );
            if !stage.image_raw.contains('$') {
                found.hadolint = Some("DL3007");
            }
            findings.push(found);
        }
    }
}

fn go010(context: &Context, findings: &mut Vec<Finding>) {
    for (stage, image, pin) in pinned_images(context) {
        if pin == Pin::Major {
            findings.push(finding(
                "GO010",
                &context.file.instructions[stage.from],
                format!("{image} pins only a major version"),
            ));
        }
    }
}

fn go011(context: &Context, findings: &mut Vec<Finding>) {
    for (stage, image, pin) in pinned_images(context) {
        if pin != Pin::Digest {
            findings.push(finding(
                "GO011",
                &context.file.instructions[stage.from],
                format!("{image} is not pinned by digest"),
            ));
        }
    }
}

fn go012(context: &Context, findings: &mut Vec<Finding>) {
    let file = context.file;
    let last = last(context);
    if !context.final_stage_runs() {
        return;
    }
    let nonroot_base = context
        .root_image(last)
        .is_some_and(|image| image.contains("nonroot"));
    let lineage = context.lineage(last);
    let user = lineage.iter().enumerate().find_map(|(position, stage)| {
        let index = stage
            .body
            .clone()
            .rev()
            .find(|&i| file.instructions[i].keyword == "USER")?;
        Some((position, index))
    });
    match user {
        Some((position, index)) => {
            let user = &file.instructions[index];
            // `USER ${NAME}` runs as whatever the ARGs and ENVs in scope make of it; a name that
            // stays unknown is not judged.
            let name = file
                .expand(&lineage[position..], index, &user.args.text())
                .unwrap_or_default();
            let name = name
                .split(':')
                .next()
                .unwrap_or_default()
                .trim()
                .trim_matches('"');
            if name == "root" || name == "0" {
                let mut found = finding("GO012", user, "the final stage runs as root".into());
                if super::model::literal_root(user) {
                    found.hadolint = Some("DL3002");
                }
                findings.push(found);
            }
        }
        None if !nonroot_base => findings.push(finding(
            "GO012",
            &file.instructions[last.from],
            "the final stage has no USER: it runs as root".into(),
        )),
        None => {}
    }
}

fn go013(context: &Context, findings: &mut Vec<Finding>) {
    let file = context.file;
    let last = last(context);
    if context.base_kind(last) != BaseKind::Scratch || !context.final_stage_runs() {
        return;
    }
    let has_certs = context.lineage(last).iter().any(|stage| {
        file.body(stage).iter().any(|i| {
            matches!(i.keyword.as_str(), "COPY" | "ADD") && {
                let text = i.args.text();
                text.contains("ca-certificates") || text.contains("/etc/ssl")
            }
        })
    });
    if has_certs {
        return;
    }
    let tls = context.binary_uses_tls == Some(true);
    let mut found = finding(
        "GO013",
        &file.instructions[last.from],
        if tls {
            "the program makes TLS calls (crypto/tls) but the scratch final stage has no CA certificates".into()
        } else {
            "the scratch final stage has no CA certificates".into()
        },
    );
    if tls {
        found.severity = Some(Severity::Error);
    }
    findings.push(found);
}

/// Each `RUN` instruction of the file.
fn runs<'a>(context: &'a Context) -> impl Iterator<Item = &'a Instruction> {
    context
        .file
        .instructions
        .iter()
        .filter(|i| i.keyword == "RUN")
}

fn go014(context: &Context, findings: &mut Vec<Finding>) {
    for instruction in runs(context) {
        for segment in instruction.script().split(['\n', ';', '&', '|']) {
            let words: Vec<&str> = segment.split_whitespace().collect();
            // `apk [options] add …`: the options may come before the subcommand.
            let Some(apk) = words.iter().position(|w| *w == "apk") else {
                continue;
            };
            let adds = words[apk + 1..]
                .iter()
                .take_while(|w| w.starts_with('-') || **w == "add")
                .any(|w| *w == "add");
            if adds && !words[apk..].contains(&"--no-cache") {
                let mut found = finding(
                    "GO014",
                    instruction,
                    "`apk add` without `--no-cache` keeps the package index in the layer".into(),
                );
                found.hadolint = Some("DL3019");
                findings.push(found);
            }
        }
    }
}

fn go015(context: &Context, findings: &mut Vec<Finding>) {
    for instruction in context
        .file
        .instructions
        .iter()
        .filter(|i| i.keyword == "ADD")
    {
        let sources = sources(instruction);
        let local = sources.iter().all(|s| {
            !(s.contains("://")
                || s.starts_with("git@")
                || [".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".txz"]
                    .iter()
                    .any(|ext| s.ends_with(ext)))
        });
        if !sources.is_empty() && local {
            let mut found = finding("GO015", instruction, "ADD of local files: use COPY".into());
            found.hadolint = Some("DL3020");
            findings.push(found);
        }
    }
}

fn go016(context: &Context, findings: &mut Vec<Finding>) {
    let last = last(context);
    let scratch = context.base_kind(last) == BaseKind::Scratch;
    for instruction in context.file.body(last) {
        if matches!(instruction.keyword.as_str(), "ENTRYPOINT" | "CMD")
            && matches!(instruction.args, Args::Shell(_))
        {
            let mut found = finding(
                "GO016",
                instruction,
                format!(
                    "{} in shell form runs under /bin/sh and misses signals",
                    instruction.keyword
                ),
            );
            found.hadolint = Some("DL3025");
            if scratch {
                found.message = format!(
                    "{} in shell form on scratch: there is no /bin/sh, the container cannot start",
                    instruction.keyword
                );
                found.severity = Some(Severity::Error);
            }
            findings.push(found);
        }
    }
}

fn go017(context: &Context, findings: &mut Vec<Finding>) {
    if !context.buildkit() {
        return;
    }
    let mut reported = vec![];
    for command in &context.commands {
        let needs_cache = command.compiles()
            || command
                .words
                .starts_with(&["mod".into(), "download".into()]);
        let instruction = &context.file.instructions[command.at];
        let cached = instruction
            .flags
            .iter()
            .any(|(name, value)| name == "mount" && value.contains("type=cache"));
        if needs_cache && !cached && !reported.contains(&command.at) {
            reported.push(command.at);
            findings.push(finding(
                "GO017",
                instruction,
                "no cache mount for the module and build caches".into(),
            ));
        }
    }
}

fn go018(context: &Context, findings: &mut Vec<Finding>) {
    let file = context.file;
    for stage in &file.stages {
        for (at, instruction) in file.stage_instructions(stage) {
            if instruction.keyword != "COPY" {
                continue;
            }
            let Some(from) = instruction.flag("from") else {
                continue;
            };
            let from = file
                .expand(&context.lineage(stage), at, from)
                .unwrap_or_else(|| from.to_owned());
            if file.stage_named(&from, stage.index).is_none()
                && !from.contains([':', '/', '@', '$'])
            {
                let mut found = finding(
                    "GO018",
                    instruction,
                    format!("COPY --from={from}: no earlier stage has that name"),
                );
                found.hadolint = Some("DL3022");
                findings.push(found);
            }
        }
    }
}
