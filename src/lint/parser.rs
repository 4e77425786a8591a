//! A Dockerfile parser that keeps what a linter needs: parser directives (`# syntax=`,
//! `# escape=`), line continuations with the escape character (comment and empty lines inside
//! them skipped, as BuildKit does), comments (for ignore pragmas), heredocs (`<<EOF`, `<<-EOF`,
//! quoted delimiters), JSON and shell forms, `--flag=value` options, and stages: `FROM
//! [--platform=…] image [AS name]` with `ARG`s declared before the first `FROM` substituted
//! where their defaults (or `--build-arg`s) are known.

use std::collections::HashMap;

/// An instruction's arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Args {
    /// `["executable", "arg"]`.
    Json(Vec<String>),
    /// Everything after the keyword and flags, continuations joined with a space.
    Shell(String),
}

impl Args {
    /// The arguments as one command line.
    pub fn text(&self) -> String {
        match self {
            Args::Json(words) => words.join(" "),
            Args::Shell(text) => text.clone(),
        }
    }
}

/// A here-document attached to an instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    pub delimiter: String,
    pub body: String,
}

/// One instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// Upper case: `FROM`, `RUN`, …
    pub keyword: String,
    /// 1-based line and column of the keyword.
    pub line: usize,
    pub column: usize,
    /// `--name=value` options before the arguments (`--name` alone has an empty value).
    pub flags: Vec<(String, String)>,
    pub args: Args,
    pub heredocs: Vec<Heredoc>,
}

impl Instruction {
    pub fn flag(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Every command this instruction runs: its arguments, then its heredoc bodies.
    pub fn script(&self) -> String {
        let mut script = self.args.text();
        for heredoc in &self.heredocs {
            script.push('\n');
            script.push_str(&heredoc.body);
        }
        script
    }
}

/// A comment line, kept for `ignore=` pragmas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub line: usize,
    pub text: String,
}

/// A build stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    pub index: usize,
    /// `AS name`, lower-cased as BuildKit compares them.
    pub name: Option<String>,
    /// The image as written.
    pub image_raw: String,
    /// The image with known `ARG`s substituted; `None` while a variable stays unknown.
    pub image: Option<String>,
    pub platform: Option<String>,
    /// The `FROM` instruction's index in `Dockerfile::instructions`.
    pub from: usize,
    /// Indexes of the instructions after `FROM` up to the next stage.
    pub body: std::ops::Range<usize>,
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, Default)]
pub struct Dockerfile {
    /// `ARG`s declared before the first `FROM`, with `--build-arg` applied and defaults
    /// expanded; `None` for one without a value.
    pub global_args: HashMap<String, Option<String>>,
    /// The `--build-arg`s the file was parsed with.
    pub build_args: HashMap<String, String>,
    pub directives: Vec<(String, String)>,
    pub instructions: Vec<Instruction>,
    pub comments: Vec<Comment>,
    pub stages: Vec<Stage>,
}

/// A Dockerfile that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl Dockerfile {
    pub fn directive(&self, name: &str) -> Option<&str> {
        self.directives
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The stage `name` refers to (a stage name or an index), if it is an earlier stage.
    pub fn stage_named(&self, name: &str, before: usize) -> Option<&Stage> {
        let lower = name.to_ascii_lowercase();
        self.stages[..before.min(self.stages.len())]
            .iter()
            .find(|stage| stage.name.as_deref() == Some(lower.as_str()))
            .or_else(|| {
                name.parse::<usize>()
                    .ok()
                    .filter(|&i| i < before)
                    .and_then(|i| self.stages.get(i))
            })
    }

    pub fn final_stage(&self) -> Option<&Stage> {
        self.stages.last()
    }

    /// The instructions of a stage after its `FROM`.
    pub fn body(&self, stage: &Stage) -> &[Instruction] {
        &self.instructions[stage.body.clone()]
    }

    /// The instructions of a stage after its `FROM`, each with its index in `instructions`.
    pub fn stage_instructions(&self, stage: &Stage) -> impl Iterator<Item = (usize, &Instruction)> {
        stage
            .body
            .clone()
            .map(|index| (index, &self.instructions[index]))
    }

    /// `text` of an instruction in `stages[0]`'s body before `before` (an index into
    /// `instructions`), with the variables BuildKit would substitute there: the `ENV`s of the
    /// ancestor stages (`stages[1..]`, nearest first), then the stage's own `ARG`s (a bare `ARG
    /// NAME` takes the global value) and `ENV`s up to that point. `None` while one is unknown.
    pub fn expand(&self, stages: &[&Stage], before: usize, text: &str) -> Option<String> {
        let mut vars: HashMap<String, Option<String>> = HashMap::new();
        for (position, stage) in stages.iter().enumerate().rev() {
            let end = if position == 0 {
                before
            } else {
                stage.body.end
            };
            for instruction in &self.instructions[stage.body.start..end.max(stage.body.start)] {
                match instruction.keyword.as_str() {
                    "ENV" => {
                        for (name, value) in env_pairs(&instruction.args.text()) {
                            let value = substitute(&value, &vars);
                            vars.insert(name, value);
                        }
                    }
                    "ARG" if position == 0 => declare_args(
                        &instruction.args.text(),
                        &mut vars,
                        &self.build_args,
                        |name| self.global_args.get(name).cloned().flatten(),
                    ),
                    _ => {}
                }
            }
        }
        substitute(text, &vars)
    }
}

/// Declares the words of an `ARG` in `vars` as BuildKit does: a default expands the variables
/// declared before it (`ARG GO_IMAGE=golang:${GO_VERSION}`), a `--build-arg` replaces it, and a
/// bare name takes `bare(name)`.
fn declare_args(
    text: &str,
    vars: &mut HashMap<String, Option<String>>,
    build_args: &HashMap<String, String>,
    bare: impl Fn(&str) -> Option<String>,
) {
    for word in text.split_whitespace() {
        let (name, default) = match word.split_once('=') {
            Some((name, value)) => (name, substitute(value.trim_matches('"'), vars)),
            None => (word, bare(word)),
        };
        let value = build_args.get(name).cloned().or(default);
        vars.insert(name.to_owned(), value);
    }
}

/// The `NAME=value` pairs of an `ENV` (or its legacy `ENV NAME value` form), quotes removed.
fn env_pairs(text: &str) -> Vec<(String, String)> {
    let text = text.trim();
    let first = text.split_whitespace().next().unwrap_or_default();
    if !first.contains('=') {
        let value = text[first.len()..].trim().to_owned();
        return vec![(first.to_owned(), value)];
    }
    text.split_whitespace()
        .filter_map(|pair| pair.split_once('='))
        .map(|(name, value)| (name.to_owned(), value.trim_matches('"').to_owned()))
        .collect()
}

/// Parses `text`; `build_args` override `ARG` defaults as `--build-arg` does.
pub fn parse(text: &str, build_args: &HashMap<String, String>) -> Result<Dockerfile, ParseError> {
    let lines: Vec<&str> = text.lines().collect();
    let mut file = Dockerfile::default();
    let mut escape = '\\';
    let mut i = 0;
    // Parser directives: only at the very top, before any other line.
    while i < lines.len() {
        let Some((key, value)) = directive(lines[i]) else {
            break;
        };
        if key == "escape" {
            escape = match value.as_str() {
                "`" => '`',
                "\\" => '\\',
                other => {
                    return Err(ParseError {
                        line: i + 1,
                        message: format!("invalid escape character {other:?}"),
                    });
                }
            };
        }
        file.directives.push((key, value));
        i += 1;
    }
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start();
        if trimmed.is_empty() {
            i += 1;
            continue;
        }
        if let Some(comment) = trimmed.strip_prefix('#') {
            file.comments.push(Comment {
                line: i + 1,
                text: comment.trim().to_owned(),
            });
            i += 1;
            continue;
        }
        let start = i;
        let column = line.len() - trimmed.len() + 1;
        let mut logical = String::new();
        let mut current = trimmed;
        loop {
            let end = current.trim_end();
            if let Some(stripped) = end.strip_suffix(escape) {
                logical.push_str(stripped);
                logical.push(' ');
                i += 1;
                // Comment and empty lines inside a continuation are skipped.
                while i < lines.len()
                    && (lines[i].trim().is_empty() || lines[i].trim_start().starts_with('#'))
                {
                    i += 1;
                }
                if i >= lines.len() {
                    break;
                }
                current = lines[i];
            } else {
                logical.push_str(current);
                i += 1;
                break;
            }
        }
        let logical = logical.trim();
        let (keyword, rest) = match logical.split_once(char::is_whitespace) {
            Some((keyword, rest)) => (keyword, rest.trim_start()),
            None => (logical, ""),
        };
        let keyword = keyword.to_ascii_uppercase();
        if !KEYWORDS.contains(&keyword.as_str()) {
            return Err(ParseError {
                line: start + 1,
                message: format!("unknown instruction {keyword}"),
            });
        }
        let (flags, rest) = flags(rest);
        let heredoc_names = if matches!(keyword.as_str(), "RUN" | "COPY" | "ADD") {
            heredoc_delimiters(rest)
        } else {
            vec![]
        };
        let mut heredocs = vec![];
        for (delimiter, strip_tabs) in heredoc_names {
            let mut body = String::new();
            loop {
                let Some(line) = lines.get(i) else {
                    return Err(ParseError {
                        line: start + 1,
                        message: format!("heredoc {delimiter} is not terminated"),
                    });
                };
                i += 1;
                let line = if strip_tabs {
                    line.trim_start_matches('\t')
                } else {
                    line
                };
                if line == delimiter {
                    break;
                }
                body.push_str(line);
                body.push('\n');
            }
            heredocs.push(Heredoc { delimiter, body });
        }
        let args = if matches!(
            keyword.as_str(),
            "RUN" | "CMD" | "ENTRYPOINT" | "SHELL" | "COPY" | "ADD" | "VOLUME"
        ) && rest.starts_with('[')
        {
            match serde_json::from_str::<Vec<String>>(rest) {
                Ok(words) => Args::Json(words),
                Err(_) => Args::Shell(rest.to_owned()),
            }
        } else {
            Args::Shell(rest.to_owned())
        };
        file.instructions.push(Instruction {
            keyword,
            line: start + 1,
            column,
            flags,
            args,
            heredocs,
        });
    }
    let (stages, global_args) = stages(&file.instructions, build_args)?;
    file.stages = stages;
    file.global_args = global_args;
    file.build_args = build_args.clone();
    Ok(file)
}

const KEYWORDS: &[&str] = &[
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// `# key=value` at the top of the file.
fn directive(line: &str) -> Option<(String, String)> {
    let comment = line.trim().strip_prefix('#')?;
    let (key, value) = comment.split_once('=')?;
    let key = key.trim();
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    Some((key.to_ascii_lowercase(), value.trim().to_owned()))
}

/// Leading `--name=value` words, and the rest.
fn flags(mut rest: &str) -> (Vec<(String, String)>, &str) {
    let mut flags = vec![];
    while let Some(flag) = rest.strip_prefix("--") {
        let end = flag.find(char::is_whitespace).unwrap_or(flag.len());
        let word = &flag[..end];
        let (name, value) = word.split_once('=').unwrap_or((word, ""));
        flags.push((name.to_owned(), value.to_owned()));
        rest = flag[end..].trim_start();
    }
    (flags, rest)
}

/// The delimiters of `<<EOF`, `<<-EOF`, `<<"EOF"` in order, with whether tabs are stripped.
fn heredoc_delimiters(text: &str) -> Vec<(String, bool)> {
    let mut found = vec![];
    let mut rest = text;
    while let Some(at) = rest.find("<<") {
        let mut after = &rest[at + 2..];
        let strip_tabs = after.starts_with('-');
        if strip_tabs {
            after = &after[1..];
        }
        let quote = after.chars().next().filter(|c| *c == '"' || *c == '\'');
        if let Some(quote) = quote {
            after = &after[1..];
            let end = after.find(quote).unwrap_or(after.len());
            found.push((after[..end].to_owned(), strip_tabs));
            rest = &after[end..];
            continue;
        }
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        if end > 0
            && after[..end]
                .chars()
                .next()
                .is_some_and(|c| !c.is_ascii_digit())
        {
            found.push((after[..end].to_owned(), strip_tabs));
        }
        rest = &after[end..];
    }
    found
}

/// Substitutes `$VAR`, `${VAR}`, `${VAR:-default}` and `${VAR:+alt}`; `None` if a variable
/// without a value remains.
pub fn substitute(text: &str, vars: &HashMap<String, Option<String>>) -> Option<String> {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        let (name, modifier) = if chars.peek() == Some(&'{') {
            chars.next();
            let mut inner = String::new();
            for c in chars.by_ref() {
                if c == '}' {
                    break;
                }
                inner.push(c);
            }
            match inner.split_once(':') {
                Some((name, modifier)) => (name.to_owned(), Some(modifier.to_owned())),
                None => (inner, None),
            }
        } else {
            let mut name = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_ascii_alphanumeric() || c == '_' {
                    name.push(c);
                    chars.next();
                } else {
                    break;
                }
            }
            (name, None)
        };
        let value = vars.get(&name).cloned().flatten().filter(|v| !v.is_empty());
        match modifier.as_deref().map(|m| m.split_at(1.min(m.len()))) {
            Some(("-", default)) => out.push_str(&value.unwrap_or_else(|| default.to_owned())),
            Some(("+", alternative)) => {
                if value.is_some() {
                    out.push_str(alternative);
                }
            }
            _ => out.push_str(&value?),
        }
    }
    Some(out)
}

/// The stages, and the `ARG`s declared before the first of them.
type Stages = (Vec<Stage>, HashMap<String, Option<String>>);

fn stages(
    instructions: &[Instruction],
    build_args: &HashMap<String, String>,
) -> Result<Stages, ParseError> {
    let mut global: HashMap<String, Option<String>> = HashMap::new();
    let mut stages: Vec<Stage> = vec![];
    for (index, instruction) in instructions.iter().enumerate() {
        match instruction.keyword.as_str() {
            "ARG" if stages.is_empty() => {
                declare_args(&instruction.args.text(), &mut global, build_args, |_| None);
            }
            "FROM" => {
                let text = instruction.args.text();
                let words: Vec<&str> = text.split_whitespace().collect();
                let (image_raw, name) = match words.as_slice() {
                    [image] => (*image, None),
                    [image, as_, name] if as_.eq_ignore_ascii_case("as") => {
                        (*image, Some(name.to_ascii_lowercase()))
                    }
                    _ => {
                        return Err(ParseError {
                            line: instruction.line,
                            message: "FROM takes an image and an optional `AS name`".into(),
                        });
                    }
                };
                if let Some(previous) = stages.last_mut() {
                    previous.body.end = index;
                }
                stages.push(Stage {
                    index: stages.len(),
                    name,
                    image_raw: image_raw.to_owned(),
                    image: substitute(image_raw, &global),
                    platform: instruction.flag("platform").map(str::to_owned),
                    from: index,
                    body: index + 1..instructions.len(),
                });
            }
            _ if stages.is_empty() => {
                return Err(ParseError {
                    line: instruction.line,
                    message: format!("{} before the first FROM", instruction.keyword),
                });
            }
            _ => {}
        }
    }
    Ok((stages, global))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> Dockerfile {
        parse(text, &HashMap::new()).unwrap()
    }

    #[test]
    fn continuations_comments_and_json_forms() {
        let file = parse_ok(
            "# syntax=docker/dockerfile:1\n\
             FROM golang:1.22 AS build\n\
             RUN apk add \\\n    # a comment inside\n\n    git\n\
             ENTRYPOINT [\"/app\", \"serve\"]\n\
             CMD serve --port 80\n",
        );
        assert_eq!(file.directive("syntax"), Some("docker/dockerfile:1"));
        let run = &file.instructions[1];
        assert_eq!((run.keyword.as_str(), run.line), ("RUN", 3));
        assert_eq!(run.args, Args::Shell("apk add      git".into()));
        assert_eq!(
            file.instructions[2].args,
            Args::Json(vec!["/app".into(), "serve".into()])
        );
        assert_eq!(
            file.instructions[3].args,
            Args::Shell("serve --port 80".into())
        );
        assert_eq!(file.stages[0].name.as_deref(), Some("build"));
    }

    #[test]
    fn heredocs_escape_directive_and_flags() {
        let file = parse_ok(
            "# escape=`\n\
             FROM --platform=$BUILDPLATFORM alpine:3.19\n\
             RUN --mount=type=cache,target=/root/.cache <<EOF\n\
             apk add --no-cache git\n\
             EOF\n\
             COPY <<-\"END\" /etc/motd\n\thello\n\tEND\n\
             RUN echo a `\n  b\n",
        );
        let run = &file.instructions[1];
        assert_eq!(run.flag("mount"), Some("type=cache,target=/root/.cache"));
        assert_eq!(run.heredocs[0].body, "apk add --no-cache git\n");
        assert_eq!(file.instructions[2].heredocs[0].body, "hello\n");
        assert_eq!(file.instructions[3].args.text(), "echo a    b");
        assert_eq!(file.stages[0].platform.as_deref(), Some("$BUILDPLATFORM"));
    }

    #[test]
    fn args_before_from_are_resolved_where_known() {
        let text = "ARG GO_VERSION=1.22.1\nARG BASE\nARG REG\n\
                    FROM golang:${GO_VERSION}-alpine AS build\n\
                    FROM ${BASE:-gcr.io/distroless/static}\n\
                    FROM $REG/app\n";
        let file = parse_ok(text);
        assert_eq!(
            file.stages[0].image.as_deref(),
            Some("golang:1.22.1-alpine")
        );
        assert_eq!(
            file.stages[1].image.as_deref(),
            Some("gcr.io/distroless/static")
        );
        assert_eq!(file.stages[2].image, None);
        let args = HashMap::from([("REG".to_owned(), "ghcr.io/me".to_owned())]);
        let file = parse(text, &args).unwrap();
        assert_eq!(file.stages[2].image.as_deref(), Some("ghcr.io/me/app"));
        assert!(file.stage_named("build", 2).is_some() && file.stage_named("0", 1).is_some());
    }

    #[test]
    fn arg_defaults_expand_the_args_declared_before_them() {
        let text = "ARG GO_VERSION=1.22\nARG GO_IMAGE=golang:${GO_VERSION}-alpine\n\
                    ARG UNKNOWN\nARG LATER=${UNKNOWN}/x\n\
                    FROM ${GO_IMAGE} AS build\nFROM $LATER\n";
        let file = parse_ok(text);
        assert_eq!(file.stages[0].image.as_deref(), Some("golang:1.22-alpine"));
        assert_eq!(file.stages[1].image, None);
        // `--build-arg` of the inner ARG reaches the outer default, as with BuildKit.
        let args = HashMap::from([
            ("GO_VERSION".to_owned(), "1.23.4".to_owned()),
            ("UNKNOWN".to_owned(), "ghcr.io".to_owned()),
        ]);
        let file = parse(text, &args).unwrap();
        assert_eq!(
            file.stages[0].image.as_deref(),
            Some("golang:1.23.4-alpine")
        );
        assert_eq!(file.stages[1].image.as_deref(), Some("ghcr.io/x"));
    }

    #[test]
    fn bad_files_name_their_line() {
        assert_eq!(parse("RUN true\n", &HashMap::new()).unwrap_err().line, 1);
        assert_eq!(
            parse("FROM a\nFOO bar\n", &HashMap::new())
                .unwrap_err()
                .line,
            2
        );
        assert_eq!(
            parse("FROM a\nRUN <<EOF\nx\n", &HashMap::new())
                .unwrap_err()
                .line,
            2
        );
    }
}
