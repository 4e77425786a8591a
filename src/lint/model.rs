//! What a Dockerfile builds and what it ships, as the checks need it: the image each stage is
//! rooted in and the C library that image has, the `go build`/`go install` commands (also
//! through `xx-go`) with the environment, directory and outputs each runs with, which of them
//! produce files that reach the final stage (following `COPY --from` back through the stages),
//! whether the final stage runs anything at all, and how firmly a `FROM` pins its image.

use super::parser::{Args, Dockerfile, Instruction, Stage};

/// What a stage is ultimately built on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaseKind {
    Scratch,
    Distroless,
    Alpine,
    Golang,
    Other,
    Unknown,
}

/// The C library an image provides to dynamically linked programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Libc {
    /// scratch, distroless/static: no loader at all.
    None,
    Musl,
    Glibc,
}

impl Libc {
    pub fn name(self) -> &'static str {
        match self {
            Libc::None => "no C library",
            Libc::Musl => "musl",
            Libc::Glibc => "glibc",
        }
    }
}

/// How firmly a `FROM` names its image, from "exactly this image" down to "whatever is newest".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pin {
    /// `@sha256:…`: one image for ever.
    Digest,
    /// A full version (`1.22.1`, `3.19`), a distribution's release (`debian:12`) or codename
    /// (`bookworm`, `jammy`), a date or a commit: moves only within one release line, if at all.
    Release,
    /// `golang:1`, `alpine:3`: moves to every new minor release.
    Major,
    /// A tag without a version of the image's software (`golang:alpine`, `golang:bookworm`).
    NoVersion,
    Latest,
    Untagged,
}

/// Where a build writes what it builds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    File(String),
    /// Some files under this directory (`go install` without named packages, `-o dir/`).
    Dir(String),
    /// A path that depends on something the file does not say.
    Unknown,
}

/// One `go …` command in a `RUN`.
#[derive(Debug, Clone)]
pub struct GoCommand {
    /// The `RUN`'s index in `Dockerfile::instructions`.
    pub at: usize,
    /// The index of the stage it runs in.
    pub stage: usize,
    /// The words after `go` (or `xx-go`) as the shell splits them, quotes removed:
    /// `["build", "-ldflags", "-s -w", "-o", "/app", "."]`.
    pub words: Vec<String>,
    /// `NAME=value` the script sets for it: assignments before the command, earlier `export`s.
    pub env: Vec<(String, String)>,
    /// The directory it runs in, when known (`WORKDIR`, then `cd` in the script).
    pub dir: Option<String>,
    /// Where it writes its binaries.
    pub outputs: Vec<Output>,
}

impl GoCommand {
    /// `go build` or `go install`: a command that compiles a program.
    pub fn compiles(&self) -> bool {
        matches!(
            self.words.first().map(String::as_str),
            Some("build" | "install")
        )
    }

    /// Whether `flag` (`-trimpath`, `-a`) is among the words, as `-flag` or `--flag`.
    pub fn has_flag(&self, flag: &str) -> bool {
        let double = format!("-{flag}");
        self.words
            .iter()
            .any(|word| word.split('=').next() == Some(flag) || word.as_str() == double)
    }

    /// The value of `-ldflags` (`-ldflags="-s -w"` or `-ldflags "-s -w"`).
    pub fn ldflags(&self) -> Option<String> {
        let at = self
            .words
            .iter()
            .position(|w| w == "-ldflags" || w.starts_with("-ldflags="))?;
        match self.words[at].strip_prefix("-ldflags=") {
            Some(value) => Some(value.to_owned()),
            None => Some(self.words.get(at + 1).cloned().unwrap_or_default()),
        }
    }

    /// The package arguments (what is not a flag or a flag's value).
    pub fn packages(&self) -> Vec<&str> {
        let mut packages = vec![];
        let mut words = self.words.iter().skip(1);
        while let Some(word) = words.next() {
            if let Some(flag) = word.strip_prefix('-') {
                let name = flag.trim_start_matches('-');
                if !name.contains('=') && FLAGS_WITH_VALUE.contains(&name) {
                    words.next();
                }
                continue;
            }
            if word.contains('=') || word.starts_with('$') && word.len() == 1 {
                continue;
            }
            packages.push(word.as_str());
        }
        packages
    }

    /// Whether every package is a remote import path (`github.com/…`, not `./cmd/api`).
    fn remote_packages_only(&self) -> bool {
        let packages = self.packages();
        !packages.is_empty()
            && packages.iter().all(|p| {
                !p.starts_with(['.', '/', '$'])
                    && p.split('/').next().is_some_and(|host| host.contains('.'))
            })
    }

    /// The value the script itself gives `name`, if any.
    pub fn env(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// The flags of `go build` whose value is the next word.
const FLAGS_WITH_VALUE: &[&str] = &[
    "o",
    "ldflags",
    "gcflags",
    "asmflags",
    "gccgoflags",
    "tags",
    "mod",
    "p",
    "pkgdir",
    "buildmode",
    "compiler",
    "installsuffix",
    "modfile",
    "overlay",
    "pgo",
    "C",
    "toolexec",
    "buildvcs",
    "covermode",
    "coverpkg",
];

/// A `mv`, `cp`, `install` or `ln` in a `RUN`: files that may now be at `destination`.
#[derive(Debug, Clone)]
pub struct Move {
    pub stage: usize,
    pub sources: Vec<Option<String>>,
    /// A path ending in `/` is a directory the sources land in.
    pub destination: Option<String>,
}

/// The checks' view of one file.
pub struct Context<'a> {
    pub file: &'a Dockerfile,
    /// Whether the binary given with `--binary` uses `crypto/tls`.
    pub binary_uses_tls: Option<bool>,
    /// Every `go …` command of the file, in order.
    pub commands: Vec<GoCommand>,
    /// Every file move or copy in a `RUN`, to follow a binary that a later command moved.
    pub moves: Vec<Move>,
    /// Indexes into `commands` of the builds whose output reaches the final stage.
    pub shipping: Vec<usize>,
}

impl<'a> Context<'a> {
    pub fn new(file: &'a Dockerfile, binary_uses_tls: Option<bool>) -> Context<'a> {
        let mut context = Context {
            file,
            binary_uses_tls,
            commands: vec![],
            moves: vec![],
            shipping: vec![],
        };
        for stage in &file.stages {
            for at in stage.body.clone() {
                if file.instructions[at].keyword == "RUN" {
                    let (commands, moves) = context.scan_run(stage, at);
                    context.commands.extend(commands);
                    context.moves.extend(moves);
                }
            }
        }
        context.shipping = context.find_shipping();
        context
    }

    /// A stage and the stages it is built `FROM`, nearest first.
    pub fn lineage<'s>(&'s self, stage: &'s Stage) -> Vec<&'s Stage> {
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

    /// The image a stage is ultimately built on, following `FROM <stage>`.
    pub fn root_image(&self, stage: &Stage) -> Option<String> {
        self.lineage(stage).last()?.image.clone()
    }

    pub fn base_kind(&self, stage: &Stage) -> BaseKind {
        let Some(image) = self.root_image(stage) else {
            return BaseKind::Unknown;
        };
        let (name, tag) = split_image(&image);
        let repo = repository(name);
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

    /// The C library of the image a stage is built on; `None` when the image is not known.
    pub fn libc(&self, stage: &Stage) -> Option<Libc> {
        let image = self.root_image(stage)?;
        let (name, tag) = split_image(&image);
        let tag = tag.unwrap_or_default();
        let repo = repository(name);
        if image == "scratch"
            || name.contains("distroless/static")
            || name.contains("chainguard/static")
        {
            return Some(Libc::None);
        }
        if repo == "alpine" || tag.contains("alpine") || tag.contains("musl") {
            return Some(Libc::Musl);
        }
        if name.contains("distroless") || tag.contains("glibc") || GLIBC_IMAGES.contains(&repo) {
            return Some(Libc::Glibc);
        }
        None
    }

    /// Whether cgo is on by default in a stage: a C compiler is there (the Debian-based golang
    /// images carry gcc; elsewhere one must be installed), or Go is older than 1.20, which
    /// did not turn cgo off without one.
    fn cgo_by_default(&self, stage: &Stage) -> bool {
        let lineage = self.lineage(stage);
        let installs_compiler = lineage.iter().any(|s| {
            self.file.body(s).iter().any(|i| {
                i.keyword == "RUN" && {
                    let script = i.script();
                    let words: Vec<&str> = script.split_whitespace().collect();
                    let installs = words.iter().any(|w| matches!(*w, "add" | "install" | "-y"));
                    installs
                        && words.iter().any(|w| {
                            matches!(
                                *w,
                                "gcc"
                                    | "clang"
                                    | "build-base"
                                    | "build-essential"
                                    | "musl-dev"
                                    | "g++"
                                    | "libc6-dev"
                            )
                        })
                }
            })
        });
        if installs_compiler {
            return true;
        }
        let Some(image) = self.root_image(stage) else {
            return true;
        };
        let (name, tag) = split_image(&image);
        match (repository(name), self.libc(stage)) {
            ("golang", Some(Libc::Musl)) => {
                go_minor(tag.unwrap_or_default()).is_some_and(|minor| minor < 20)
            }
            ("golang", _) => true,
            _ => self.libc(stage).is_none(),
        }
    }

    /// Whether a build's program needs the C library: cgo on (explicitly, or by default) and
    /// not linked statically.
    pub fn links_libc(&self, command: &GoCommand) -> Option<bool> {
        let stage = &self.file.stages[command.stage];
        let cgo = match command.env("CGO_ENABLED") {
            Some(value) => Some(value.to_owned()),
            None => self
                .file
                .expand(&self.lineage(stage), command.at, "${CGO_ENABLED:-}"),
        };
        let on = match cgo.as_deref() {
            Some("0") => false,
            Some("") => self.cgo_by_default(stage),
            Some(_) => true,
            None => return None,
        };
        let ldflags = command.ldflags().unwrap_or_default();
        let static_link = ldflags.contains("-extldflags") && ldflags.contains("-static");
        // Linker flags from a variable the script sets (`${LD_EXTRA}`) may link statically.
        if on && !static_link && ldflags.contains('$') {
            return None;
        }
        Some(on && !static_link)
    }

    /// Whether the final stage runs anything: a base image with a system, an `ENTRYPOINT` or
    /// `CMD`, or an executable copied in. A `scratch` stage that carries only tarballs, bundle
    /// manifests or configuration runs nothing, and how it would run is not worth judging.
    pub fn final_stage_runs(&self) -> bool {
        let Some(last) = self.file.final_stage() else {
            return false;
        };
        if self.base_kind(last) != BaseKind::Scratch {
            return true;
        }
        self.lineage(last).iter().any(|stage| {
            self.file
                .stage_instructions(stage)
                .any(|(at, i)| match i.keyword.as_str() {
                    "ENTRYPOINT" | "CMD" => true,
                    "COPY" | "ADD" => {
                        let (sources, destination) = self.copy_paths(stage, at);
                        let executable_path = |path: &Option<String>| {
                            path.as_deref()
                                .is_some_and(|p| p.contains("/bin/") || p.starts_with("bin/"))
                        };
                        sources.iter().chain([&destination]).any(executable_path)
                            || self.copied_stage(stage, at).is_some_and(|source| {
                                sources
                                    .iter()
                                    .any(|s| !self.producers(source, s.as_deref(), 0).is_empty())
                            })
                    }
                    _ => false,
                })
        })
    }

    /// The earlier stage a `COPY --from` at `at` copies from (`--from=${SRC}` expanded).
    pub fn copied_stage(&self, stage: &Stage, at: usize) -> Option<&Stage> {
        let from = self.file.instructions[at].flag("from")?;
        let from = self.file.expand(&self.lineage(stage), at, from)?;
        self.file.stage_named(&from, stage.index)
    }

    /// The sources and the destination of a `COPY`/`ADD` at `at`, with variables expanded:
    /// sources of `--from` as absolute paths in the other stage, the destination against the
    /// `WORKDIR`. `None` for a path that stays unknown.
    pub fn copy_paths(&self, stage: &Stage, at: usize) -> (Vec<Option<String>>, Option<String>) {
        let instruction = &self.file.instructions[at];
        let lineage = self.lineage(stage);
        let words = match &instruction.args {
            Args::Json(words) => words.clone(),
            Args::Shell(text) => text.split_whitespace().map(str::to_owned).collect(),
        };
        let Some((destination, sources)) = words.split_last() else {
            return (vec![], None);
        };
        let expand = |text: &str| self.file.expand(&lineage, at, text);
        let from_stage = instruction.flag("from").is_some();
        let sources = sources
            .iter()
            .map(|source| {
                let source = expand(source)?;
                Some(if from_stage {
                    join("/", &source)
                } else {
                    source
                })
            })
            .collect();
        let destination = expand(destination).and_then(|d| {
            let dir = self.workdir(stage, at)?;
            let path = join(&dir, &d);
            // A destination ending in `/` (or `.`) is a directory the sources land in.
            Some(if d.ends_with('/') || d == "." || d.ends_with("/.") {
                format!("{}/", path.trim_end_matches('/'))
            } else {
                path
            })
        });
        (sources, destination)
    }

    /// The working directory before instruction `at` of `stage`, if known.
    pub fn workdir(&self, stage: &Stage, at: usize) -> Option<String> {
        let lineage = self.lineage(stage);
        let mut dir = match self.base_kind(lineage.last()?) {
            BaseKind::Golang => "/go".to_owned(),
            _ => "/".to_owned(),
        };
        for (position, s) in lineage.iter().enumerate().rev() {
            for (index, instruction) in self.file.stage_instructions(s) {
                if position == 0 && index >= at {
                    break;
                }
                if instruction.keyword == "WORKDIR" {
                    let scope = &lineage[position..];
                    let path = self.file.expand(scope, index, &instruction.args.text())?;
                    dir = join(&dir, path.trim());
                }
            }
        }
        Some(dir)
    }

    /// The `go …` commands and the file moves of the `RUN` at `at`.
    fn scan_run(&self, stage: &Stage, at: usize) -> (Vec<GoCommand>, Vec<Move>) {
        let instruction = &self.file.instructions[at];
        let lineage = self.lineage(stage);
        let mut dir = self.workdir(stage, at);
        let mut exported: Vec<(String, String)> = vec![];
        let mut commands = vec![];
        let mut moves = vec![];
        for segment in segments(&instruction.script()) {
            let words: Vec<&str> = segment.split_whitespace().collect();
            match words.first() {
                Some(&("mv" | "cp" | "install" | "ln")) => {
                    let paths: Vec<Option<String>> = shell_words(&words[1..].join(" "))
                        .iter()
                        .filter(|w| !w.starts_with('-'))
                        .map(|w| {
                            let path = self.file.expand(&lineage, at, w)?;
                            let dir = dir.as_deref()?;
                            let joined = join(dir, &path);
                            Some(if path.ends_with('/') {
                                format!("{joined}/")
                            } else {
                                joined
                            })
                        })
                        .collect();
                    if let Some((destination, sources)) = paths.split_last()
                        && !sources.is_empty()
                    {
                        let destination = destination.clone().map(|d| {
                            if sources.len() > 1 && !d.ends_with('/') {
                                format!("{d}/")
                            } else {
                                d
                            }
                        });
                        moves.push(Move {
                            stage: stage.index,
                            sources: sources.to_vec(),
                            destination,
                        });
                    }
                    continue;
                }
                Some(&"export") => {
                    exported.extend(words[1..].iter().filter_map(|w| assignment(w)));
                    continue;
                }
                Some(&"cd") => {
                    dir = match (dir, words.get(1)) {
                        (Some(dir), Some(to)) => {
                            self.file.expand(&lineage, at, to).map(|to| join(&dir, &to))
                        }
                        _ => None,
                    };
                    continue;
                }
                _ => {}
            }
            let Some(go) = words
                .iter()
                .position(|w| *w == "go" || *w == "xx-go" || w.ends_with("/go"))
            else {
                continue;
            };
            let mut env = exported.clone();
            env.extend(words[..go].iter().filter_map(|w| assignment(w)));
            let words = shell_words(&words[go + 1..].join(" "));
            let mut command = GoCommand {
                at,
                stage: stage.index,
                words,
                env,
                dir: dir.clone(),
                outputs: vec![],
            };
            command.outputs = self.outputs(stage, &command);
            commands.push(command);
        }
        (commands, moves)
    }

    /// Where `go build`/`go install` writes: `-o`, or the package's name in the directory
    /// (build) or in `$GOBIN`/`$GOPATH/bin` (install).
    fn outputs(&self, stage: &Stage, command: &GoCommand) -> Vec<Output> {
        if !command.compiles() {
            return vec![];
        }
        let lineage = self.lineage(stage);
        let expand = |text: &str| {
            let text = self.file.expand(&lineage, command.at, text)?;
            // A variable the script sets itself is not known here.
            (!text.contains('$')).then_some(text)
        };
        let names: Vec<String> = command.packages().iter().map(|p| binary_name(p)).collect();
        if command.words[0] == "install" {
            let bin = command
                .env("GOBIN")
                .map(str::to_owned)
                .or_else(|| expand("${GOBIN:-}").filter(|b| !b.is_empty()))
                .or_else(|| {
                    let gopath = command
                        .env("GOPATH")
                        .map(str::to_owned)
                        .or_else(|| expand("${GOPATH:-}"))?;
                    Some(match (gopath.as_str(), self.base_kind(stage)) {
                        ("", BaseKind::Golang) => "/go/bin".to_owned(),
                        ("", _) => "/root/go/bin".to_owned(),
                        (path, _) => format!("{}/bin", path.trim_end_matches('/')),
                    })
                });
            let Some(bin) = bin else {
                return vec![Output::Unknown];
            };
            if names.is_empty() || names.iter().any(|n| n.is_empty() || n.contains('$')) {
                return vec![Output::Dir(bin)];
            }
            return names
                .iter()
                .map(|name| Output::File(join(&bin, name)))
                .collect();
        }
        let target = command
            .words
            .iter()
            .position(|w| w == "-o" || w == "--o")
            .and_then(|i| command.words.get(i + 1).cloned())
            .or_else(|| {
                command
                    .words
                    .iter()
                    .find_map(|w| w.strip_prefix("-o=").map(str::to_owned))
            });
        let Some(dir) = command.dir.clone() else {
            return vec![Output::Unknown];
        };
        match target {
            Some(target) => match expand(&target) {
                Some(path) if path.ends_with('/') => vec![Output::Dir(join(&dir, &path))],
                Some(path) => vec![Output::File(join(&dir, &path))],
                None => vec![Output::Unknown],
            },
            // `go build` of several packages writes nothing; of one, a binary named after it.
            None => match names.as_slice() {
                [] => vec![Output::Dir(dir)],
                [name] if name.is_empty() || name.contains('$') => vec![Output::Dir(dir)],
                [name] => vec![Output::File(join(&dir, name))],
                _ => vec![],
            },
        }
    }

    /// The compiling commands in `stage` or its ancestors that may have produced `path` (`None`:
    /// unknown), following `COPY --from` into the stages it names.
    pub fn producers(&self, stage: &Stage, path: Option<&str>, depth: usize) -> Vec<usize> {
        let mut found = vec![];
        // Deep enough for any chain of stages and moves a real file has; bounds cycles.
        if depth > 8 {
            return found;
        }
        for s in self.lineage(stage) {
            for (index, command) in self.commands.iter().enumerate() {
                if command.stage == s.index
                    && command.compiles()
                    && command.outputs.iter().any(|output| match (output, path) {
                        (_, None) | (Output::Unknown, _) => true,
                        (Output::File(file), Some(path)) => overlaps(path, file),
                        (Output::Dir(dir), Some(path)) => overlaps(path, &format!("{dir}/")),
                    })
                {
                    found.push(index);
                }
            }
            // A binary moved or copied by a later command: look for what wrote its source.
            for m in self.moves.iter().filter(|m| m.stage == s.index) {
                let lands = match (&m.destination, path) {
                    (Some(destination), Some(path)) => overlaps(path, destination),
                    (Some(_), None) => true,
                    (None, _) => false,
                };
                if lands {
                    for source in &m.sources {
                        for index in self.producers(s, source.as_deref(), depth + 1) {
                            if !found.contains(&index) {
                                found.push(index);
                            }
                        }
                    }
                }
            }
            for (at, instruction) in self.file.stage_instructions(s) {
                let Some(source) = self.copied_stage(s, at) else {
                    continue;
                };
                if instruction.keyword != "COPY" {
                    continue;
                }
                let (sources, destination) = self.copy_paths(s, at);
                let lands = match (&destination, path) {
                    (Some(destination), Some(path)) => overlaps(path, destination),
                    _ => true,
                };
                if lands {
                    for source_path in &sources {
                        for index in self.producers(source, source_path.as_deref(), depth + 1) {
                            if !found.contains(&index) {
                                found.push(index);
                            }
                        }
                    }
                }
            }
        }
        found
    }

    /// The builds whose output is in the final image: those in the final stage and its
    /// ancestors, and those that produced what it copies from other stages. A tool installed by
    /// its import path (`go install …@v1`) counts only when its binary is copied by name.
    fn find_shipping(&self) -> Vec<usize> {
        let Some(last) = self.file.final_stage() else {
            return vec![];
        };
        let lineage = self.lineage(last);
        let mut shipping: Vec<usize> = self
            .commands
            .iter()
            .enumerate()
            .filter(|(_, c)| c.compiles() && lineage.iter().any(|s| s.index == c.stage))
            .map(|(index, _)| index)
            .collect();
        for stage in &lineage {
            for (at, _) in self.file.stage_instructions(stage) {
                let Some(source) = self.copied_stage(stage, at) else {
                    continue;
                };
                for path in self.copy_paths(stage, at).0 {
                    for index in self.producers(source, path.as_deref(), 0) {
                        let command = &self.commands[index];
                        let by_name = path
                            .as_deref()
                            .is_some_and(|p| command.outputs.contains(&Output::File(p.to_owned())));
                        if (by_name || !self.is_tool(command)) && !shipping.contains(&index) {
                            shipping.push(index);
                        }
                    }
                }
            }
        }
        shipping.sort_unstable();
        shipping
    }

    /// A tool the build uses or a cache it warms, not the program it ships: remote import paths
    /// only, at a version (`go install github.com/bwplotka/bingo@latest`) or compiled before the
    /// stage copies in its own source.
    pub fn is_tool(&self, command: &GoCommand) -> bool {
        if !command.remote_packages_only() {
            return false;
        }
        let stage = &self.file.stages[command.stage];
        command.packages().iter().all(|p| p.contains('@'))
            || self.file.stage_instructions(stage).any(|(at, i)| {
                at > command.at
                    && i.keyword == "COPY"
                    && i.flag("from").is_none()
                    && copies_whole_context(i)
            })
    }

    /// The Go minor version of the golang image a stage is built on (`golang:1.19` → 19).
    pub fn go_minor(&self, stage: &Stage) -> Option<u32> {
        let image = self.root_image(stage)?;
        let (name, tag) = split_image(&image);
        (repository(name) == "golang").then_some(())?;
        go_minor(tag?)
    }

    /// Whether BuildKit builds the file: a `# syntax` line, `RUN --mount`, heredocs, `COPY
    /// --link`, or the platform arguments only BuildKit sets (`$BUILDPLATFORM`, `$TARGETOS`…).
    pub fn buildkit(&self) -> bool {
        self.file.directive("syntax").is_some()
            || self.file.instructions.iter().any(|i| {
                i.flag("mount").is_some()
                    || i.flag("link").is_some()
                    || !i.heredocs.is_empty()
                    || i.flag("platform")
                        .is_some_and(|p| p.contains("BUILDPLATFORM"))
                    || (i.keyword == "ARG"
                        && i.args.text().split_whitespace().any(|w| {
                            let name = w.split('=').next().unwrap_or_default();
                            matches!(
                                name,
                                "BUILDPLATFORM" | "TARGETPLATFORM" | "TARGETOS" | "TARGETARCH"
                            )
                        }))
            })
    }
}

/// Official images built on Debian or another glibc system unless their tag says otherwise.
const GLIBC_IMAGES: &[&str] = &[
    "debian",
    "ubuntu",
    "fedora",
    "centos",
    "rockylinux",
    "almalinux",
    "amazonlinux",
    "oraclelinux",
    "ubi8",
    "ubi9",
    "ubi-minimal",
    "ubi",
    "golang",
    "buildpack-deps",
    "node",
    "python",
    "ruby",
    "rust",
    "nginx",
    "archlinux",
    "opensuse",
    "leap",
];

/// Distributions whose major number is the release itself (`debian:12` is bookworm).
const MAJOR_IS_RELEASE: &[&str] = &[
    "debian",
    "fedora",
    "centos",
    "rockylinux",
    "almalinux",
    "amazonlinux",
    "oraclelinux",
    "ubi8",
    "ubi9",
    "ubi",
    "ubi-minimal",
];

/// Distribution images, whose codename is their version (`debian:bookworm`).
const DISTRIBUTIONS: &[&str] = &["debian", "ubuntu", "alpine", "buildpack-deps"];

const CODENAMES: &[&str] = &[
    "jessie", "stretch", "buster", "bullseye", "bookworm", "trixie", "forky", "xenial", "bionic",
    "focal", "jammy", "kinetic", "lunar", "mantic", "noble", "oracular", "plucky", "questing",
];

/// How firmly `image` (`name[:tag][@digest]`) is pinned.
pub fn pin(image: &str) -> Pin {
    if image.contains('@') {
        return Pin::Digest;
    }
    let (name, tag) = split_image(image);
    let repo = repository(name);
    let Some(tag) = tag else {
        return Pin::Untagged;
    };
    if tag == "latest" {
        return Pin::Latest;
    }
    let tokens: Vec<&str> = tag.split(['-', '_']).collect();
    // A commit (`sha-5a8b7c3`, a bare hex hash) names one build.
    if tokens
        .iter()
        .any(|t| t.len() >= 7 && t.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Pin::Release;
    }
    let version = tokens.iter().find(|t| {
        let t = t.strip_prefix('v').unwrap_or(t);
        t.starts_with(|c: char| c.is_ascii_digit())
    });
    if let Some(version) = version {
        let version = version.strip_prefix('v').unwrap_or(version);
        let parts = version.split('.').count();
        let digits = version.bytes().take_while(u8::is_ascii_digit).count();
        // A date (`20240101`) names one build; a year-based version (`2023.3.1`) has parts.
        return if parts >= 2 || digits >= 4 || MAJOR_IS_RELEASE.contains(&repo) {
            Pin::Release
        } else {
            Pin::Major
        };
    }
    let codename = tokens.iter().any(|t| {
        CODENAMES.contains(t)
            || t.strip_prefix("alpine")
                .is_some_and(|v| v.starts_with(|c: char| c.is_ascii_digit()))
    });
    if codename && DISTRIBUTIONS.contains(&repo) {
        return Pin::Release;
    }
    // distroless and Chainguard carry their version in the name and publish moving tags only.
    if name.contains("distroless") || name.contains("chainguard") {
        return Pin::Release;
    }
    Pin::NoVersion
}

/// `name[:tag][@digest]` → name and tag.
pub fn split_image(image: &str) -> (&str, Option<&str>) {
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

/// The last path component of an image name: `docker.io/library/golang` → `golang`.
fn repository(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// The sources of a COPY or ADD (all words but the destination), as written.
pub fn sources(instruction: &Instruction) -> Vec<String> {
    let words: Vec<String> = match &instruction.args {
        Args::Json(words) => words.clone(),
        Args::Shell(text) => text.split_whitespace().map(str::to_owned).collect(),
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
pub fn copies_whole_context(instruction: &Instruction) -> bool {
    sources(instruction)
        .iter()
        .any(|s| matches!(s.as_str(), "." | "./" | "*" | "./*"))
}

/// The Go minor version a golang image tag names (`1.19-alpine` → 19).
fn go_minor(tag: &str) -> Option<u32> {
    let version = tag.split('-').next()?;
    let mut parts = version.split('.');
    (parts.next()? == "1").then_some(())?;
    parts.next()?.parse().ok()
}

/// The commands of a shell script: lines continued with a backslash (as in heredocs) joined,
/// then split at newlines, `;`, `&&`, `||` and pipes.
pub fn segments(script: &str) -> Vec<String> {
    script
        .replace("\\\n", " ")
        .split(['\n', ';', '|', '&'])
        .map(|s| s.trim().trim_start_matches(['(', '{']).trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// `NAME=value` as an assignment, quotes removed.
fn assignment(word: &str) -> Option<(String, String)> {
    let (name, value) = word.split_once('=')?;
    let valid = !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    valid.then(|| (name.to_owned(), value.trim_matches(['"', '\'']).to_owned()))
}

/// The words of a command line as the shell splits them: quotes group and are removed, a
/// backslash escapes the next character outside single quotes.
fn shell_words(text: &str) -> Vec<String> {
    let mut words = vec![];
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"') | None, '\\') => {
                if let Some(next) = chars.next() {
                    word.push(next);
                    in_word = true;
                }
            }
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// The binary a package builds: `./cmd/api` → `api`, `github.com/a/b/v2@v2.1.0` → `b`,
/// `main.go` → `main`, `.` → empty (the directory's name, unknown here).
fn binary_name(package: &str) -> String {
    let package = package.split('@').next().unwrap_or(package);
    let package = package.trim_end_matches("/...").trim_end_matches('/');
    let mut parts = package.rsplit('/');
    let mut last = parts.next().unwrap_or_default();
    if last.len() >= 2
        && last.starts_with('v')
        && last[1..].bytes().all(|b| b.is_ascii_digit())
        && let Some(previous) = parts.next()
    {
        last = previous;
    }
    let last = last.strip_suffix(".go").unwrap_or(last);
    if last == "." || last == ".." {
        String::new()
    } else {
        last.to_owned()
    }
}

/// `path` joined to `dir` unless it is absolute; `.` and trailing slashes dropped.
fn join(dir: &str, path: &str) -> String {
    let joined = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("{}/{}", dir.trim_end_matches('/'), path)
    };
    let mut parts: Vec<&str> = vec![];
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Whether two paths can name the same file: equal, one a directory holding the other (a path
/// ending in `/` is a directory), or matching as globs.
fn overlaps(a: &str, b: &str) -> bool {
    let (a_trim, b_trim) = (a.trim_end_matches('/'), b.trim_end_matches('/'));
    a_trim.is_empty()
        || b_trim.is_empty()
        || a_trim == b_trim
        || b_trim.starts_with(&format!("{a_trim}/"))
        || a_trim.starts_with(&format!("{b_trim}/"))
        || glob(a_trim, b_trim)
        || glob(b_trim, a_trim)
}

/// `*` and `?` of `pattern` against `text`; `*` crosses `/` here, since a build may write into
/// subdirectories a glob's author did not spell out.
fn glob(pattern: &str, text: &str) -> bool {
    if !pattern.contains(['*', '?']) {
        return false;
    }
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Whether `instruction` is a `USER` naming root literally (what hadolint can see).
pub fn literal_root(instruction: &Instruction) -> bool {
    let text = instruction.args.text();
    let name = text.split(':').next().unwrap_or_default().trim();
    name == "root" || name == "0"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_follow_one_model_of_what_moves() {
        for (image, expected) in [
            ("golang:1.22.1@sha256:abc", Pin::Digest),
            ("golang:latest@sha256:abc", Pin::Digest),
            ("golang:1.22.1-alpine3.19", Pin::Release),
            ("golang:1.22", Pin::Release),
            ("debian:bookworm-slim", Pin::Release),
            ("ubuntu:jammy", Pin::Release),
            ("alpine:3.19", Pin::Release),
            ("debian:12", Pin::Release),
            ("debian:12-slim", Pin::Release),
            ("rockylinux:9", Pin::Release),
            ("ubuntu:24.04", Pin::Release),
            ("gcr.io/distroless/static:nonroot", Pin::Release),
            ("quay.io/org/app:sha-5a8b7c3", Pin::Release),
            ("nightly:20240101", Pin::Release),
            ("golang:1", Pin::Major),
            ("golang:1-alpine", Pin::Major),
            ("alpine:3", Pin::Major),
            ("node:v20", Pin::Major),
            ("golang:alpine", Pin::NoVersion),
            ("golang:bookworm", Pin::NoVersion),
            ("golang:alpine3.19", Pin::NoVersion),
            ("debian:stable-slim", Pin::NoVersion),
            ("alpine:latest", Pin::Latest),
            ("golang", Pin::Untagged),
            ("localhost:5000/golang", Pin::Untagged),
        ] {
            assert_eq!(pin(image), expected, "{image}");
        }
    }

    #[test]
    fn shell_words_keep_quoted_flag_values_together() {
        assert_eq!(
            shell_words(
                r#"build -ldflags="-s -w -X 'main.v=1'" -ldflags '-X a=b' -o "/out dir/app" ./cmd\ x"#
            ),
            [
                "build",
                "-ldflags=-s -w -X 'main.v=1'",
                "-ldflags",
                "-X a=b",
                "-o",
                "/out dir/app",
                "./cmd x"
            ]
        );
    }

    #[test]
    fn paths_names_and_globs() {
        assert_eq!(join("/src", "./bin/../out/app"), "/src/out/app");
        assert_eq!(join("/src", "/abs"), "/abs");
        assert_eq!(binary_name("./cmd/api"), "api");
        assert_eq!(binary_name("github.com/a/tool/v2@v2.1.0"), "tool");
        assert_eq!(binary_name("main.go"), "main");
        assert_eq!(binary_name("."), "");
        assert!(overlaps("/go/bin/*", "/go/bin/app"));
        assert!(overlaps("/out/", "/out/app"));
        assert!(overlaps("/src/dist/argocd*", "/src/dist/argocd"));
        assert!(!overlaps("/go/bin/app", "/go/bin/bingo"));
        assert!(!overlaps("/etc/ssl/certs", "/out/app"));
    }
}
