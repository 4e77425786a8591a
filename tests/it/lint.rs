//! `berth lint`: a bad and a good Dockerfile for every rule, the usual alpine multi-stage
//! pattern for Go with its mistakes (and fixed), and the command line's formats, settings,
//! ignore comments and exit codes.

use std::path::{Path, PathBuf};

use berth::lint::{self, Settings, rules::RULES};
use serde_json::Value;

use crate::support::{attempt, berth_in, compile_go};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/lint")
}

#[test]
fn every_rule_fires_on_its_bad_fixture_and_not_on_its_good_one() {
    let mut settings = Settings::default();
    settings.enabled.extend(RULES.iter().map(|rule| rule.id));
    for rule in RULES {
        for (kind, expected) in [("bad", true), ("good", false)] {
            let path = fixtures()
                .join(kind)
                .join(format!("{}.Dockerfile", rule.id));
            let findings = lint::lint_path(&path, &settings).unwrap();
            let fired = findings.iter().any(|finding| finding.rule == rule.id);
            assert_eq!(
                fired,
                expected,
                "{} on {}: {findings:?}",
                rule.id,
                path.display()
            );
        }
        assert!(
            !rule.explanation.is_empty() && !rule.fix.is_empty(),
            "{}",
            rule.id
        );
    }
}

/// Each pattern file names, in `# expect …` comments, every finding its next instruction gets;
/// the findings must be exactly those (no false positive, no miss), with the hadolint id the
/// text output shows where hadolint fires too.
#[test]
fn production_patterns_get_exactly_the_findings_they_expect() {
    let dir = fixtures().join("patterns");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "Dockerfile") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let mut expected = vec![];
        for (index, line) in lines.iter().enumerate() {
            let Some(ids) = line.strip_prefix("# expect ") else {
                continue;
            };
            let target = (index + 1..lines.len())
                .find(|&i| {
                    let line = lines[i].trim();
                    !line.is_empty() && !line.starts_with('#')
                })
                .expect("an instruction after the expectation")
                + 1;
            for id in ids.split_whitespace() {
                expected.push(format!("{target} {id}"));
            }
        }
        let mut actual: Vec<String> = lint::lint(&text, &Settings::default())
            .iter()
            .map(|f| match f.hadolint {
                Some(dl) => format!("{} {}[{dl}]", f.line, f.rule),
                None => format!("{} {}", f.line, f.rule),
            })
            .collect();
        expected.sort();
        actual.sort();
        assert_eq!(actual, expected, "{}", path.display());
        checked += 1;
    }
    assert!(checked >= 15, "{checked} pattern files");
}

/// The real hadolint (from PyPI, installed by the test script) on every fixture: a finding names
/// a hadolint id only where hadolint reports that id on the same line, and names it wherever
/// hadolint reports the id of the same rule on the line of the finding.
#[tokio::test]
async fn hadolint_ids_are_named_exactly_where_hadolint_fires() {
    let mut files = vec![fixtures().join("alpine-go.Dockerfile")];
    for dir in ["patterns", "bad", "good"] {
        for entry in std::fs::read_dir(fixtures().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "Dockerfile") {
                files.push(path);
            }
        }
    }
    let mut settings = Settings::default();
    settings.enabled.extend(RULES.iter().map(|rule| rule.id));
    let mut named = 0;
    for path in &files {
        let (_, output) = attempt(
            "hadolint",
            &["--no-fail", "--format", "json", path.to_str().unwrap()],
        )
        .await;
        let fired: Vec<(u64, String)> = serde_json::from_str::<Value>(&output)
            .unwrap_or_else(|e| panic!("hadolint on {}: {e}: {output}", path.display()))
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["line"].as_u64().unwrap(),
                    f["code"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        for finding in lint::lint_path(path, &settings).unwrap() {
            let line = finding.line as u64;
            let rule = lint::rules::rule(finding.rule).unwrap();
            match (finding.hadolint, rule.hadolint) {
                (Some(id), _) => {
                    named += 1;
                    assert!(
                        fired.contains(&(line, id.to_owned())),
                        "{}:{line}: {} names {id}, hadolint says {fired:?}",
                        path.display(),
                        finding.rule
                    );
                }
                (None, Some(id)) => assert!(
                    !fired.contains(&(line, id.to_owned())),
                    "{}:{line}: hadolint fires {id} where {} names none",
                    path.display(),
                    finding.rule
                ),
                (None, None) => {}
            }
        }
    }
    assert!(named >= 10, "{named} findings named a hadolint id");
}

#[tokio::test]
async fn the_usual_alpine_multi_stage_pattern_and_its_fix() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bad = berth_in(root, &["lint", "testdata/lint/alpine-go.Dockerfile"], &[]).await;
    assert!(!bad.ok);
    expect_test::expect_file!["../../testdata/lint/alpine-go.expected"].assert_eq(&bad.stdout);
    let fixed = berth_in(
        root,
        &["lint", "testdata/lint/alpine-go-fixed.Dockerfile"],
        &[],
    )
    .await;
    assert!(fixed.ok, "{}", fixed.stdout);
    assert_eq!(fixed.stdout, "");
}

#[tokio::test]
async fn formats_settings_ignores_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let dockerfile = dir.path().join("Dockerfile");
    std::fs::write(
        &dockerfile,
        "ARG GO=1\n\
         FROM golang:${GO} AS build\n\
         ENV CGO_ENABLED=0\n\
         COPY go.mod go.sum ./\n\
         RUN go mod download\n\
         COPY . .\n\
         RUN go build -trimpath -ldflags=\"-s -w\" -o /app .\n\
         # hadolint ignore=DL3002\n\
         FROM scratch\n\
         COPY --from=build /app /app\n\
         ENTRYPOINT /app\n",
    )
    .unwrap();
    let lint = |args: &'static [&'static str]| {
        let dir = dir.path().to_owned();
        async move { berth_in(&dir, args, &[]).await }
    };

    // Text: `file:line:col: severity id message`, with the hadolint id where there is one.
    let text = lint(&["lint"]).await;
    assert!(!text.ok);
    assert_eq!(
        text.stdout,
        "Dockerfile:2:1: info GO010 golang:1 pins only a major version\n\
         Dockerfile:9:1: warning GO013 the scratch final stage has no CA certificates\n\
         Dockerfile:11:1: error GO016 ENTRYPOINT in shell form on scratch: there is no /bin/sh, the container cannot start [hadolint DL3025]\n"
    );

    // --build-arg resolves ARGs in FROM.
    let pinned = lint(&["lint", "--build-arg", "GO=1.22.1", "--fail-on", "error"]).await;
    assert!(!pinned.stdout.contains("GO010"), "{}", pinned.stdout);
    assert!(!pinned.ok, "GO016 is an error");

    // A settings file turns rules off and severities up; --fail-on decides the exit code.
    std::fs::write(
        dir.path().join(".berth-lint.toml"),
        "disable = [\"GO010\", \"GO016\"]\nenable = [\"GO011\"]\n[severity]\nGO013 = \"info\"\n",
    )
    .unwrap();
    let configured = lint(&["lint", "--fail-on", "warning"]).await;
    assert!(configured.ok, "{}", configured.stdout);
    assert!(
        configured
            .stdout
            .contains("info GO011 golang:1 is not pinned by digest")
    );
    assert!(!configured.stdout.contains("GO010") && !configured.stdout.contains("GO016"));
    assert!(
        !configured.stdout.contains("GO012"),
        "the ignore comment still holds"
    );
    std::fs::remove_file(dir.path().join(".berth-lint.toml")).unwrap();

    // JSON and SARIF carry the same findings.
    let json: Value =
        serde_json::from_str(&lint(&["lint", "--format", "json"]).await.stdout).unwrap();
    let findings = json.as_array().unwrap();
    assert_eq!(findings.len(), 3);
    assert_eq!(findings[2]["rule"], "GO016");
    assert_eq!(findings[2]["hadolint"], "DL3025");
    assert_eq!(findings[2]["severity"], "error");
    assert_eq!(findings[2]["line"], 11);
    assert!(findings[2]["fix"].as_str().unwrap().contains("JSON form"));
    let sarif: Value =
        serde_json::from_str(&lint(&["lint", "--format", "sarif"]).await.stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    assert_eq!(run["results"].as_array().unwrap().len(), 3);
    assert_eq!(run["results"][2]["level"], "error");
    assert_eq!(
        run["results"][2]["locations"][0]["physicalLocation"]["region"]["startLine"],
        11
    );
    assert_eq!(
        run["tool"]["driver"]["rules"].as_array().unwrap().len(),
        RULES.len()
    );

    // Unparsable input is a finding of its own at its line, in every format, with exit code 2;
    // the other files are still checked.
    std::fs::write(&dockerfile, "FROM scratch\nFETCH x\n").unwrap();
    let other = "FROM golang:1.22.1\nRUN go build -o /app .\n";
    std::fs::write(dir.path().join("other.Dockerfile"), other).unwrap();
    let broken = lint(&["lint", "Dockerfile", "other.Dockerfile"]).await;
    assert_eq!(broken.code, Some(2), "{}", broken.stderr);
    assert!(
        broken
            .stdout
            .contains("Dockerfile:2:1: error GO000 unknown instruction FETCH"),
        "{}",
        broken.stdout
    );
    assert!(
        broken.stdout.contains("other.Dockerfile:1:1"),
        "{}",
        broken.stdout
    );
    for args in [
        &["lint", "--format", "json", "Dockerfile", "other.Dockerfile"],
        &[
            "lint",
            "--format",
            "sarif",
            "Dockerfile",
            "other.Dockerfile",
        ],
    ] {
        let out = lint(args).await;
        assert_eq!(out.code, Some(2), "{args:?}");
        assert!(out.stdout.contains("GO000"), "{args:?}: {}", out.stdout);
    }
}

#[tokio::test]
async fn a_binary_that_makes_tls_calls_turns_missing_certificates_into_an_error() {
    let dir = tempfile::tempdir().unwrap();
    compile_go(
        "gohttp",
        dir.path(),
        &["-trimpath", "-ldflags=-s -w"],
        "service",
    )
    .await;
    let bad = fixtures().join("bad/GO013.Dockerfile");
    let bad = bad.to_str().unwrap();
    let with_binary = berth_in(dir.path(), &["lint", "--binary", "service", bad], &[]).await;
    assert!(
        with_binary
            .stdout
            .contains("error GO013 the program makes TLS calls (crypto/tls)"),
        "{}",
        with_binary.stdout
    );
    let without = berth_in(dir.path(), &["lint", bad], &[]).await;
    assert!(
        without.stdout.contains("warning GO013"),
        "{}",
        without.stdout
    );
    // Something that is not a Go program cannot be judged: an error, not a silent "no TLS".
    std::fs::write(
        dir.path().join("script.sh"),
        "#!/bin/sh\necho crypto/tls.Client\n",
    )
    .unwrap();
    let not_go = berth_in(dir.path(), &["lint", "--binary", "script.sh", bad], &[]).await;
    assert!(!not_go.ok && not_go.stdout.is_empty(), "{}", not_go.stdout);
    assert!(
        not_go.stderr.contains("script.sh: not an ELF file"),
        "{}",
        not_go.stderr
    );
    // An error names its cause once.
    let missing = berth_in(dir.path(), &["lint", "--binary", "gone", bad], &[]).await;
    assert_eq!(
        missing.stderr.matches("No such file or directory").count(),
        1,
        "{}",
        missing.stderr
    );
}

#[test]
fn user_is_judged_with_the_args_and_envs_in_scope() {
    let settings = Settings::default();
    let go012 = |text: &str| {
        lint::lint(text, &settings)
            .iter()
            .filter(|f| f.rule == "GO012")
            .map(|f| f.line)
            .collect::<Vec<_>>()
    };
    let head = "FROM golang:1.22.1-alpine3.19 AS build\nRUN go build -o /app .\n";
    let tail = "COPY --from=build /app /app\nENTRYPOINT [\"/app\"]\n";
    // A global ARG redeclared in the stage, an ARG default, an ENV, and an ENV of the parent.
    let root_forms = [
        format!(
            "ARG USERNAME=\"root\"\n{head}FROM scratch\nARG USERNAME\n{tail}USER ${{USERNAME}}\n"
        ),
        format!("{head}FROM scratch\nARG WHO=0\n{tail}USER $WHO:0\n"),
        format!("{head}FROM scratch\nENV RUN_AS=root\n{tail}USER ${{RUN_AS}}\n"),
        format!(
            "{head}FROM alpine:3.19 AS base\nENV RUN_AS root\nFROM base\n{tail}USER ${{RUN_AS}}\n"
        ),
    ];
    for text in &root_forms {
        assert_eq!(go012(text).len(), 1, "{text}");
    }
    // Non-root through the same forms, and a name nothing defines, are not findings.
    let other_forms = [
        format!("ARG USERNAME=app\n{head}FROM scratch\nARG USERNAME\n{tail}USER ${{USERNAME}}\n"),
        format!("{head}FROM scratch\nENV RUN_AS=65532\n{tail}USER ${{RUN_AS}}\n"),
        format!("{head}FROM scratch\n{tail}USER ${{UNSET}}\n"),
    ];
    for text in &other_forms {
        assert_eq!(go012(text), Vec::<usize>::new(), "{text}");
    }
}
