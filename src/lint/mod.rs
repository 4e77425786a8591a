//! `berth lint`: Dockerfiles of Go services checked against the practices that keep images
//! small, builds cached and containers safe. Each rule has an id (`GO001`…), a severity, the
//! hadolint id where hadolint has the same rule, an explanation and a fix (`rules::RULES`).
//!
//! Settings come from a TOML file (`disable`, `enable` for opt-in rules, `[severity]`
//! overrides); a comment `# berth-lint ignore=GO007,DL3006` (or hadolint's own
//! `# hadolint ignore=…`) silences rules for the next instruction, and
//! `# berth-lint global ignore=…` for the whole file. Findings print as
//! `file:line:col: severity id message`, as JSON, or as SARIF 2.1.0.

pub mod model;
pub mod parser;
pub mod rules;

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde_json::{Value, json};

/// How bad a finding is; `--fail-on` compares against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Style,
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn parse(text: &str) -> Result<Severity, Error> {
        match text {
            "error" => Ok(Severity::Error),
            "warning" => Ok(Severity::Warning),
            "info" => Ok(Severity::Info),
            "style" => Ok(Severity::Style),
            other => Err(Error::Config(format!(
                "unknown severity {other:?}: expected error, warning, info or style"
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
            Severity::Style => "style",
        }
    }

    fn sarif_level(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info | Severity::Style => "note",
        }
    }
}

/// A rule broken at a place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub rule: &'static str,
    pub line: usize,
    pub column: usize,
    /// Set when the check itself decides (e.g. TLS calls make GO013 an error); else the
    /// rule's severity, or the config's.
    pub severity: Option<Severity>,
    /// The hadolint rule that fires on the same line for the same reason, if one does.
    pub hadolint: Option<&'static str>,
    pub message: String,
}

/// Why linting could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading {0}: {1}")]
    Io(String, #[source] std::io::Error),
    #[error("lint config: {0}")]
    Config(String),
}

/// Which rules run, and how severe they are.
#[derive(Debug, Default, Clone)]
pub struct Settings {
    pub disabled: HashSet<&'static str>,
    pub enabled: HashSet<&'static str>,
    pub severities: HashMap<&'static str, Severity>,
    pub build_args: HashMap<String, String>,
    /// Whether the service's binary uses `crypto/tls` (from `--binary`).
    pub binary_uses_tls: Option<bool>,
}

impl Settings {
    /// Reads a config file:
    ///
    /// ```toml
    /// disable = ["GO010"]
    /// enable = ["GO011"]
    /// [severity]
    /// GO007 = "error"
    /// ```
    pub fn from_toml(text: &str) -> Result<Settings, Error> {
        let value: toml::Value = toml::from_str(text).map_err(|e| Error::Config(e.to_string()))?;
        let mut settings = Settings::default();
        let ids = |key: &str| -> Result<Vec<&'static str>, Error> {
            value
                .get(key)
                .and_then(|v| v.as_array())
                .into_iter()
                .flatten()
                .map(|id| {
                    let id = id.as_str().unwrap_or_default();
                    rules::rule(id)
                        .map(|rule| rule.id)
                        .ok_or_else(|| Error::Config(format!("unknown rule {id:?} in {key}")))
                })
                .collect()
        };
        settings.disabled.extend(ids("disable")?);
        settings.enabled.extend(ids("enable")?);
        if let Some(table) = value.get("severity").and_then(|v| v.as_table()) {
            for (id, severity) in table {
                let rule = rules::rule(id)
                    .ok_or_else(|| Error::Config(format!("unknown rule {id:?} in [severity]")))?;
                let severity = Severity::parse(severity.as_str().unwrap_or_default())?;
                settings.severities.insert(rule.id, severity);
            }
        }
        Ok(settings)
    }

    fn active(&self, rule: &rules::Rule) -> bool {
        !self.disabled.contains(rule.id) && (!rule.opt_in || self.enabled.contains(rule.id))
    }
}

/// Lints Dockerfile text; findings come sorted by line, with severities settled. Text that
/// does not parse gives one `rules::UNPARSABLE` finding at the line that failed, which no
/// setting or pragma silences. A UTF-8 byte-order mark is skipped, as BuildKit does.
pub fn lint(text: &str, settings: &Settings) -> Vec<Finding> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let file = match parser::parse(text, &settings.build_args) {
        Ok(file) => file,
        Err(e) => {
            return vec![Finding {
                rule: rules::UNPARSABLE,
                line: e.line,
                column: 1,
                severity: Some(Severity::Error),
                hadolint: None,
                message: e.message,
            }];
        }
    };
    let context = model::Context::new(&file, settings.binary_uses_tls);
    let ignores = Ignores::from(&file);
    let mut findings = rules::check(&context);
    findings.retain(|finding| {
        let rule = rules::rule(finding.rule).expect("checks only report known rules");
        settings.active(rule) && !ignores.silences(rule, finding.line)
    });
    for finding in &mut findings {
        let rule = rules::rule(finding.rule).expect("checks only report known rules");
        finding.severity = Some(
            settings
                .severities
                .get(rule.id)
                .copied()
                .or(finding.severity)
                .unwrap_or(rule.severity),
        );
    }
    findings
}

/// Lints the file at `path`.
pub fn lint_path(path: &Path, settings: &Settings) -> Result<Vec<Finding>, Error> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| Error::Io(name.clone(), e))?;
    Ok(lint(&text, settings))
}

/// `ignore=` pragmas: per instruction line, and for the whole file.
struct Ignores {
    /// Instruction line → ids ignored there.
    lines: HashMap<usize, Vec<String>>,
    global: Vec<String>,
}

impl Ignores {
    fn from(file: &parser::Dockerfile) -> Ignores {
        let mut lines: HashMap<usize, Vec<String>> = HashMap::new();
        let mut global = vec![];
        for comment in &file.comments {
            let text = comment.text.trim();
            let Some(rest) = text
                .strip_prefix("berth-lint")
                .or_else(|| text.strip_prefix("hadolint"))
            else {
                continue;
            };
            let rest = rest.trim();
            let (is_global, rest) = match rest.strip_prefix("global") {
                Some(rest) => (true, rest.trim()),
                None => (false, rest),
            };
            let Some(ids) = rest.strip_prefix("ignore=") else {
                continue;
            };
            let ids: Vec<String> = ids.split(',').map(|id| id.trim().to_owned()).collect();
            if is_global {
                global.extend(ids);
            } else if let Some(next) = file.instructions.iter().find(|i| i.line > comment.line) {
                lines.entry(next.line).or_default().extend(ids);
            }
        }
        Ignores { lines, global }
    }

    fn silences(&self, rule: &rules::Rule, line: usize) -> bool {
        let matches = |id: &String| id == rule.id || Some(id.as_str()) == rule.hadolint;
        self.global.iter().any(matches)
            || self
                .lines
                .get(&line)
                .is_some_and(|ids| ids.iter().any(matches))
    }
}

fn severity(finding: &Finding) -> Severity {
    finding.severity.unwrap_or(Severity::Warning)
}

/// `file:line:col: severity id message [hadolint DLxxxx]`.
pub fn format_text(file: &str, finding: &Finding) -> String {
    let hadolint = finding
        .hadolint
        .map(|id| format!(" [hadolint {id}]"))
        .unwrap_or_default();
    format!(
        "{file}:{}:{}: {} {} {}{hadolint}",
        finding.line,
        finding.column,
        severity(finding).name(),
        finding.rule,
        finding.message
    )
}

/// The JSON form: one object per finding.
pub fn to_json(results: &[(String, Vec<Finding>)]) -> Value {
    let findings: Vec<Value> = results
        .iter()
        .flat_map(|(file, findings)| {
            findings.iter().map(move |finding| {
                let rule = rules::rule(finding.rule).expect("known rule");
                json!({
                    "file": file,
                    "line": finding.line,
                    "column": finding.column,
                    "severity": severity(finding).name(),
                    "rule": rule.id,
                    "name": rule.name,
                    "hadolint": finding.hadolint,
                    "message": finding.message,
                    "fix": rule.fix,
                })
            })
        })
        .collect();
    Value::Array(findings)
}

/// A SARIF 2.1.0 log for code-scanning UIs.
pub fn to_sarif(results: &[(String, Vec<Finding>)]) -> Value {
    let rules: Vec<Value> = rules::RULES
        .iter()
        .map(|rule| {
            json!({
                "id": rule.id,
                "name": rule.name,
                "shortDescription": { "text": rule.name.replace('-', " ") },
                "fullDescription": { "text": rule.explanation },
                "help": { "text": rule.fix },
                "defaultConfiguration": { "level": rule.severity.sarif_level() },
                "properties": { "hadolint": rule.hadolint },
            })
        })
        .collect();
    let sarif_results: Vec<Value> = results
        .iter()
        .flat_map(|(file, findings)| {
            findings.iter().map(move |finding| {
                json!({
                    "ruleId": finding.rule,
                    "level": severity(finding).sarif_level(),
                    "message": { "text": finding.message },
                    "locations": [{
                        "physicalLocation": {
                            "artifactLocation": { "uri": file },
                            "region": { "startLine": finding.line, "startColumn": finding.column },
                        }
                    }],
                })
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "berth lint",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": rules,
                }
            },
            "results": sarif_results,
        }],
    })
}
