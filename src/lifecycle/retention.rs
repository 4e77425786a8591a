//! Retention rules: a small language, one rule per line, and the planner that turns the rules
//! and a project's images into a plan. Running retention applies exactly the plan.
//!
//! ```text
//! # action (keep, delete, archive)  selector  [in <repository pattern>]  conditions…
//! keep      releases   newest 3 per minor
//! keep      releases   newest 2 minors per major
//! delete    dev-*      not pulled for 7d
//! delete    sha-*      older than 30d unless release
//! keep      *          pulled within 14d
//! delete    untagged   older than 1d
//! delete    releases
//! ```
//!
//! Selectors: `releases` (tags `vX.Y.Z[-pre]`), `untagged` (manifests without a tag), or a tag
//! pattern with `*`. Conditions (all must hold): `newest N per minor` and `newest N minors per
//! major` (stable releases, SemVer order), `newest N` (releases in SemVer order, other tags by
//! when they were pushed), `older than D`, `not pulled for D` (never pulled counts from the
//! push), `pulled within D`, `unless release` (the manifest also carries a release tag).
//! Durations: `30m`, `12h`, `7d`, `2w`.
//!
//! A tag kept by any keep rule stays, wherever the rule stands; among the others, the first
//! delete rule that selects a tag decides. Alias tags (`v1.4`, `v1`) and `latest` are never
//! selected: when every release tag of its manifest goes, an alias moves to the newest remaining
//! stable release of its line (or goes, if none remains). A manifest whose last
//! tag goes is deleted with it, and so are the children of a deleted index that nothing else
//! names; a manifest that a surviving index names, or whose subject survives (a signature, an
//! SBOM), is never deleted.

use std::collections::{HashMap, HashSet};

use semver::Version;

use super::tags::TagKind;
use crate::auth::matches;
use crate::oci::digest::Digest;
use crate::storage::lifecycle::Image;

/// One parsed rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The rule as written, for plans and the audit log.
    pub text: String,
    pub action: Action,
    pub selector: Selector,
    /// Only repositories matching this pattern.
    pub repositories: Option<String>,
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Keep,
    Delete,
    /// Delete, after writing the image to the archive.
    Archive,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    Releases,
    Untagged,
    Pattern(String),
}

/// Durations are in seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    NewestPerMinor(usize),
    NewestMinorsPerMajor(usize),
    Newest(usize),
    OlderThan(i64),
    NotPulledFor(i64),
    PulledWithin(i64),
    UnlessRelease,
}

/// Parses rules, one per line; blank lines and `#` comments are skipped. The error names the
/// line and what was expected.
pub fn parse(text: &str) -> Result<Vec<Rule>, String> {
    let mut rules = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let rule = parse_rule(line).map_err(|e| format!("retention rule line {}: {e}", n + 1))?;
        rules.push(rule);
    }
    Ok(rules)
}

fn parse_rule(line: &str) -> Result<Rule, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let action = match words[0] {
        "keep" => Action::Keep,
        "delete" => Action::Delete,
        "archive" => Action::Archive,
        other => {
            return Err(format!(
                "{other:?} is not an action (keep, delete or archive)"
            ));
        }
    };
    let selector = match words.get(1) {
        None => return Err("a selector must follow the action".into()),
        Some(&"releases") => Selector::Releases,
        Some(&"untagged") => Selector::Untagged,
        Some(pattern) => Selector::Pattern((*pattern).to_owned()),
    };
    let mut rest = &words[2..];
    let mut repositories = None;
    if let ["in", pattern, tail @ ..] = rest {
        repositories = Some((*pattern).to_owned());
        rest = tail;
    }
    let mut conditions = Vec::new();
    while !rest.is_empty() {
        let (condition, tail) = match rest {
            ["newest", n, "per", "minor", tail @ ..] => {
                (Condition::NewestPerMinor(count(n)?), tail)
            }
            ["newest", n, "minors", "per", "major", tail @ ..] => {
                (Condition::NewestMinorsPerMajor(count(n)?), tail)
            }
            ["newest", n, tail @ ..] => (Condition::Newest(count(n)?), tail),
            ["older", "than", d, tail @ ..] => (Condition::OlderThan(duration(d)?), tail),
            ["not", "pulled", "for", d, tail @ ..] => (Condition::NotPulledFor(duration(d)?), tail),
            ["pulled", "within", d, tail @ ..] => (Condition::PulledWithin(duration(d)?), tail),
            ["unless", "release", tail @ ..] => (Condition::UnlessRelease, tail),
            _ => return Err(format!("cannot read {:?} as a condition", rest.join(" "))),
        };
        conditions.push(condition);
        rest = tail;
    }
    let needs_releases = conditions.iter().any(|c| {
        matches!(
            c,
            Condition::NewestPerMinor(_) | Condition::NewestMinorsPerMajor(_)
        )
    });
    if needs_releases && selector != Selector::Releases {
        return Err("`per minor` and `per major` select among releases only".into());
    }
    Ok(Rule {
        text: line.split_whitespace().collect::<Vec<_>>().join(" "),
        action,
        selector,
        repositories,
        conditions,
    })
}

fn count(text: &str) -> Result<usize, String> {
    text.parse().map_err(|_| format!("{text:?} is not a count"))
}

/// Parses `30m`, `12h`, `7d`, `2w` (any duration with units) into seconds.
fn duration(text: &str) -> Result<i64, String> {
    let bad = |why: &dyn std::fmt::Display| {
        format!("{text:?} is not a duration (such as 30m, 12h, 7d, 2w): {why}")
    };
    let parsed = humantime::parse_duration(text).map_err(|e| bad(&e))?;
    i64::try_from(parsed.as_secs()).map_err(|e| bad(&e))
}

/// One step of a plan: a tag to delete, or (with no tag) a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Digest,
    /// Compressed size of the image, when the manifest goes (0 for a tag alone).
    pub freed: u64,
    pub last_pull: Option<i64>,
    /// The rule that decided, as written (or why it follows another decision).
    pub rule: String,
    /// The tag's image is written to the archive before the tag goes.
    pub archive: bool,
    /// For an alias whose releases go: the manifest of the newest remaining stable release of
    /// its line, which the alias is moved to instead of going.
    pub moves_to: Option<Digest>,
}

/// A tag or untagged manifest a rule may select.
struct Candidate<'a> {
    image: usize,
    tag: Option<&'a str>,
    kind: TagKind,
    /// When the tag was pushed (or the manifest, if untagged).
    pushed: i64,
    last_pull: Option<i64>,
}

/// The plan for `images` (one project's) under `rules` at time `now` (unix seconds), in
/// repository order, tags before manifests.
pub fn plan(rules: &[Rule], images: &[Image], now: i64) -> Vec<Decision> {
    let mut by_repository: Vec<(&str, Vec<usize>)> = Vec::new();
    for (idx, image) in images.iter().enumerate() {
        match by_repository.last_mut() {
            Some((name, members)) if *name == image.repository => members.push(idx),
            _ => by_repository.push((&image.repository, vec![idx])),
        }
    }
    let mut decisions = Vec::new();
    for (repository, members) in by_repository {
        plan_repository(rules, images, repository, &members, now, &mut decisions);
    }
    decisions
}

fn plan_repository(
    rules: &[Rule],
    images: &[Image],
    repository: &str,
    members: &[usize],
    now: i64,
    out: &mut Vec<Decision>,
) {
    let mut candidates = Vec::new();
    for &idx in members {
        let image = &images[idx];
        for tag in &image.tags {
            let last_pull = tag.pulled_at.max(image.pulled_at);
            candidates.push(Candidate {
                image: idx,
                tag: Some(&tag.name),
                kind: TagKind::of(&tag.name),
                pushed: tag.updated_at,
                last_pull,
            });
        }
        if image.tags.is_empty() {
            candidates.push(Candidate {
                image: idx,
                tag: None,
                kind: TagKind::Other,
                pushed: image.created_at,
                last_pull: image.pulled_at,
            });
        }
    }
    let has_release = |idx: usize| {
        images[idx]
            .tags
            .iter()
            .any(|t| matches!(TagKind::of(&t.name), TagKind::Release(_)))
    };
    let mut kept: HashSet<usize> = HashSet::new();
    let mut doomed: HashMap<usize, &Rule> = HashMap::new();
    for rule in rules {
        if rule
            .repositories
            .as_deref()
            .is_some_and(|p| !matches(p, repository))
        {
            continue;
        }
        let selected = select(rule, &candidates, now, &has_release);
        for c in selected {
            if rule.action == Action::Keep {
                kept.insert(c);
            } else {
                doomed.entry(c).or_insert(rule);
            }
        }
    }
    doomed.retain(|c, _| !kept.contains(c));

    // Aliases follow their releases: when every release tag of their manifest goes, an alias
    // moves to the newest remaining stable release of its line, or goes if none remains.
    let mut tag_decisions: Vec<(usize, String, bool)> = doomed
        .iter()
        .filter(|(c, _)| candidates[**c].tag.is_some())
        .map(|(c, rule)| (*c, rule.text.clone(), rule.action == Action::Archive))
        .collect();
    let mut moves: HashMap<usize, usize> = HashMap::new();
    for (idx, c) in candidates.iter().enumerate() {
        let TagKind::Alias { major, minor } = c.kind else {
            continue;
        };
        let releases: Vec<usize> = candidates
            .iter()
            .enumerate()
            .filter(|(_, o)| o.image == c.image && matches!(o.kind, TagKind::Release(_)))
            .map(|(i, _)| i)
            .collect();
        if !releases.is_empty() && releases.iter().all(|r| doomed.contains_key(r)) {
            let release = candidates[releases[0]].tag.unwrap_or_default();
            let successor = (0..candidates.len())
                .filter(|o| !doomed.contains_key(o))
                .filter_map(|o| Some((o, candidates[o].kind.stable_release()?)))
                .filter(|(_, v)| v.major == major && minor.is_none_or(|m| v.minor == m))
                .max_by(|a, b| a.1.cmp(b.1));
            let why = match successor {
                Some((o, _)) => {
                    moves.insert(idx, o);
                    let to = candidates[o].tag.unwrap_or_default();
                    format!("alias of deleted {release}, moves to {to}")
                }
                None => format!("alias of deleted {release}"),
            };
            tag_decisions.push((idx, why, false));
        }
    }
    let gone: HashSet<usize> = tag_decisions.iter().map(|(c, ..)| *c).collect();

    // Manifests: those losing their last tag, untagged ones a rule selected, and children of
    // deleted indexes; never one a surviving manifest names as a child or subject.
    let mut deleted: HashMap<usize, String> = HashMap::new();
    for &idx in members {
        let tags: Vec<usize> = (0..candidates.len())
            .filter(|c| candidates[*c].image == idx && candidates[*c].tag.is_some())
            .collect();
        if !tags.is_empty() && tags.iter().all(|c| gone.contains(c)) {
            let rule = tag_decisions.iter().find(|(c, ..)| tags.contains(c));
            deleted.insert(idx, rule.map(|(_, r, _)| r.clone()).unwrap_or_default());
        }
    }
    for (c, rule) in &doomed {
        if candidates[*c].tag.is_none() {
            deleted.insert(candidates[*c].image, rule.text.clone());
        }
    }
    loop {
        let survivors: Vec<usize> = members
            .iter()
            .copied()
            .filter(|i| !deleted.contains_key(i))
            .collect();
        let named_by_survivor = |idx: usize| {
            let digest = &images[idx].digest;
            survivors
                .iter()
                .any(|&s| images[s].children.contains(digest))
                || images[idx]
                    .subject
                    .as_ref()
                    .is_some_and(|subject| survivors.iter().any(|&s| images[s].digest == *subject))
        };
        let spared: Vec<usize> = deleted
            .keys()
            .copied()
            .filter(|&i| images[i].tags.is_empty() && named_by_survivor(i))
            .collect();
        let orphans: Vec<(usize, String)> = survivors
            .iter()
            .copied()
            .filter(|&i| images[i].tags.is_empty() && !named_by_survivor(i))
            .filter_map(|i| {
                let parent = deleted
                    .iter()
                    .find(|(p, _)| images[**p].children.contains(&images[i].digest))?;
                Some((i, format!("child of deleted {}", images[*parent.0].digest)))
            })
            .collect();
        if spared.is_empty() && orphans.is_empty() {
            break;
        }
        for i in spared {
            deleted.remove(&i);
        }
        deleted.extend(orphans);
    }

    let mut tags: Vec<Decision> = tag_decisions
        .into_iter()
        .map(|(c, rule, archive)| {
            let candidate = &candidates[c];
            Decision {
                repository: repository.to_owned(),
                tag: candidate.tag.map(str::to_owned),
                digest: images[candidate.image].digest.clone(),
                freed: 0,
                last_pull: candidate.last_pull,
                rule,
                archive,
                moves_to: moves
                    .get(&c)
                    .map(|o| images[candidates[*o].image].digest.clone()),
            }
        })
        .collect();
    tags.sort_by(|a, b| a.tag.cmp(&b.tag));
    let mut manifests: Vec<Decision> = deleted
        .into_iter()
        .map(|(idx, rule)| Decision {
            repository: repository.to_owned(),
            tag: None,
            digest: images[idx].digest.clone(),
            freed: images[idx].size,
            last_pull: images[idx].pulled_at,
            rule,
            archive: false,
            moves_to: None,
        })
        .collect();
    // Indexes before their children, so that each delete finds its manifest unreferenced.
    let is_index = |d: &Decision| {
        images
            .iter()
            .any(|i| i.digest == d.digest && !i.children.is_empty())
    };
    manifests.sort_by_key(|d| (!is_index(d), d.digest.to_string()));
    out.extend(tags);
    out.extend(manifests);
}

/// The candidates a rule selects, after its filters and then its `newest` conditions.
fn select(
    rule: &Rule,
    candidates: &[Candidate<'_>],
    now: i64,
    has_release: &dyn Fn(usize) -> bool,
) -> Vec<usize> {
    let mut selected: Vec<usize> = (0..candidates.len())
        .filter(|&c| {
            let candidate = &candidates[c];
            match (&rule.selector, candidate.tag) {
                (Selector::Untagged, tag) => tag.is_none(),
                (_, None) => false,
                (Selector::Releases, Some(_)) => matches!(candidate.kind, TagKind::Release(_)),
                (Selector::Pattern(p), Some(tag)) => {
                    !matches!(candidate.kind, TagKind::Alias { .. } | TagKind::Latest)
                        && matches(p, tag)
                }
            }
        })
        .filter(|&c| {
            let candidate = &candidates[c];
            rule.conditions.iter().all(|condition| match condition {
                Condition::OlderThan(age) => candidate.pushed < now - age,
                Condition::NotPulledFor(age) => {
                    candidate.last_pull.unwrap_or(candidate.pushed) < now - age
                }
                Condition::PulledWithin(age) => {
                    candidate.last_pull.is_some_and(|at| at >= now - age)
                }
                Condition::UnlessRelease => !has_release(candidate.image),
                _ => true,
            })
        })
        .collect();
    for condition in &rule.conditions {
        selected = match condition {
            Condition::NewestPerMinor(n) => {
                newest_by(candidates, &selected, *n, |v| (v.major, v.minor, 0))
            }
            Condition::NewestMinorsPerMajor(n) => newest_lines(candidates, &selected, *n),
            Condition::Newest(n) => {
                let mut sorted = selected.clone();
                sorted.sort_by(|a, b| {
                    let (a, b) = (&candidates[*a], &candidates[*b]);
                    match (&a.kind, &b.kind) {
                        (TagKind::Release(x), TagKind::Release(y)) => y.cmp(x),
                        _ => b.pushed.cmp(&a.pushed),
                    }
                });
                sorted.truncate(*n);
                sorted
            }
            _ => selected,
        };
    }
    selected
}

fn stable<'c>(candidate: &'c Candidate<'_>) -> Option<&'c Version> {
    candidate.kind.stable_release()
}

/// The newest `n` stable releases in each group `group` puts them in.
fn newest_by(
    candidates: &[Candidate<'_>],
    selected: &[usize],
    n: usize,
    group: impl Fn(&Version) -> (u64, u64, u64),
) -> Vec<usize> {
    let mut groups: HashMap<(u64, u64, u64), Vec<usize>> = HashMap::new();
    for &c in selected {
        if let Some(version) = stable(&candidates[c]) {
            groups.entry(group(version)).or_default().push(c);
        }
    }
    let mut chosen = Vec::new();
    for (_, mut members) in groups {
        members.sort_by(|a, b| stable(&candidates[*b]).cmp(&stable(&candidates[*a])));
        chosen.extend(members.into_iter().take(n));
    }
    chosen.sort_unstable();
    chosen
}

/// Every stable release in the newest `n` minor lines of each major line.
fn newest_lines(candidates: &[Candidate<'_>], selected: &[usize], n: usize) -> Vec<usize> {
    let mut lines: HashMap<u64, Vec<u64>> = HashMap::new();
    for &c in selected {
        if let Some(v) = stable(&candidates[c]) {
            lines.entry(v.major).or_default().push(v.minor);
        }
    }
    for minors in lines.values_mut() {
        minors.sort_unstable_by(|a, b| b.cmp(a));
        minors.dedup();
        minors.truncate(n);
    }
    selected
        .iter()
        .copied()
        .filter(|&c| {
            stable(&candidates[c])
                .is_some_and(|v| lines.get(&v.major).is_some_and(|m| m.contains(&v.minor)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;
    use crate::oci::digest::Algorithm;
    use crate::storage::lifecycle::TagInfo;

    const DAY: i64 = 86_400;
    const NOW: i64 = 1_000 * DAY;

    /// A repository's history: manifests with their tags, built in order.
    struct History(Vec<Image>);

    impl History {
        /// A manifest `name` pushed `age` days ago, last pulled `pulled` days ago, with `tags`.
        fn image(&mut self, name: &str, age: i64, pulled: Option<i64>, tags: &[&str]) -> Digest {
            let digest = Digest::of(Algorithm::Sha256, name.as_bytes());
            self.0.push(Image {
                repository: "team/app".into(),
                digest: digest.clone(),
                size: 1000,
                created_at: NOW - age * DAY,
                pulled_at: pulled.map(|p| NOW - p * DAY),
                pulls: 0,
                subject: None,
                children: vec![],
                tags: tags
                    .iter()
                    .map(|t| TagInfo {
                        name: (*t).to_owned(),
                        updated_at: NOW - age * DAY,
                        pulled_at: None,
                        pulls: 0,
                    })
                    .collect(),
            });
            digest
        }

        fn last(&mut self) -> &mut Image {
            self.0.last_mut().unwrap()
        }
    }

    /// One line per decision: the tag (or the manifest's freed bytes) and why.
    fn decided(plan: &[Decision]) -> String {
        let lines: Vec<String> = plan
            .iter()
            .map(|d| match &d.tag {
                Some(tag) => format!("{tag} <- {}", d.rule),
                None => format!("manifest {} <- {}", d.freed, d.rule),
            })
            .collect();
        lines.join("\n") + "\n"
    }

    const RULES: &str = "
        # the issue's example policy
        keep releases newest 3 per minor
        keep releases newest 2 minors per major
        delete dev-* not pulled for 7d
        delete sha-* older than 30d unless release
        keep * pulled within 14d
        delete untagged older than 1d
        archive releases
    ";

    #[test]
    fn the_example_policy_on_a_realistic_history() {
        let mut h = History(vec![]);
        let mut age = 400;
        for (minor, patches) in [(0, 10), (1, 8), (2, 6)] {
            for patch in 0..patches {
                let tag = format!("v1.{minor}.{patch}");
                let mut tags = vec![tag.as_str()];
                if (minor, patch) == (0, 0) {
                    tags.push("sha-aaaaaaa");
                }
                if (minor, patch) == (2, 5) {
                    tags.extend(["v1.2", "v1"]);
                }
                // v1.0.1 is still pulled.
                let pulled = ((minor, patch) == (0, 1)).then_some(3);
                h.image(&tag, age, pulled, &tags);
                age -= 10;
            }
        }
        for (tag, extra) in [
            ("v2.0.0", &[][..]),
            ("v2.0.1", &[]),
            ("v2.1.0", &[]),
            ("v2.1.1", &["v2.1", "v2", "latest"]),
            ("v2.2.0-rc.1", &[]),
        ] {
            let mut tags = vec![tag];
            tags.extend_from_slice(extra);
            h.image(tag, age, None, &tags);
            age -= 10;
        }
        let signed = h.0[h.0.len() - 2].digest.clone();
        h.image("signature", 3, None, &[]);
        h.last().subject = Some(signed);
        h.image("dev-a", 20, Some(2), &["dev-a"]);
        h.image("dev-b", 10, None, &["dev-b"]);
        h.image("dev-c", 20, Some(8), &["dev-c"]);
        h.image("sha-b", 40, None, &["sha-bbbbbbb"]);
        h.image("sha-c", 5, None, &["sha-ccccccc"]);
        h.image("untagged-old", 3, None, &[]);
        h.image("untagged-new", 0, None, &[]);
        let children = vec![
            h.image("amd64", 10, None, &[]),
            h.image("arm64", 10, None, &[]),
        ];
        h.image("multi", 10, None, &["dev-multi"]);
        h.last().children = children;

        let rules = parse(RULES).unwrap();
        assert_eq!(rules.len(), 7);
        let plan = plan(&rules, &h.0, NOW);
        // Kept: v1.1 and v1.2 whole (newest two minor lines), v1.0.7 to v1.0.9 (newest three
        // of their line), v1.0.1 (pulled 3 days ago), the 2.x lines, dev-a (pulled 2 days
        // ago), dev-c (not pulled for 8 days, but within 14), sha-ccccccc (5 days old), and
        // sha-aaaaaaa, whose manifest carries the release v1.0.0.
        expect![[r#"
                        dev-b <- delete dev-* not pulled for 7d
                        dev-multi <- delete dev-* not pulled for 7d
                        sha-bbbbbbb <- delete sha-* older than 30d unless release
                        v1.0.0 <- archive releases
                        v1.0.2 <- archive releases
                        v1.0.3 <- archive releases
                        v1.0.4 <- archive releases
                        v1.0.5 <- archive releases
                        v1.0.6 <- archive releases
                        v2.2.0-rc.1 <- archive releases
                        manifest 1000 <- delete dev-* not pulled for 7d
                        manifest 1000 <- archive releases
                        manifest 1000 <- delete dev-* not pulled for 7d
                        manifest 1000 <- archive releases
                        manifest 1000 <- delete sha-* older than 30d unless release
                        manifest 1000 <- delete untagged older than 1d
                        manifest 1000 <- archive releases
                        manifest 1000 <- archive releases
                        manifest 1000 <- archive releases
                        manifest 1000 <- archive releases
                        manifest 1000 <- delete untagged older than 1d
                        manifest 1000 <- delete untagged older than 1d
                    "#]]
        .assert_eq(&decided(&plan));
        let archived: Vec<&str> = plan
            .iter()
            .filter(|d| d.archive)
            .filter_map(|d| d.tag.as_deref())
            .collect();
        assert_eq!(archived.len(), 7);
        // Manifests: dev-b's, dev-multi's index and its two children (untagged, and no
        // surviving index names them), sha-bbbbbbb's, those of v1.0.2 to v1.0.6, v2.2.0-rc.1's
        // and the old untagged one. v1.0.0's manifest keeps its sha tag, the signature's subject survives,
        // and the fresh untagged manifest is too young.
        let manifests: Vec<&Decision> = plan.iter().filter(|d| d.tag.is_none()).collect();
        assert_eq!(manifests.len(), 12, "{:#?}", decided(&plan));
        assert!(
            manifests[0].digest == h.0.last().unwrap().digest,
            "the index goes first"
        );
        let reasons: HashSet<&str> = manifests.iter().map(|d| d.rule.as_str()).collect();
        assert!(reasons.contains("delete untagged older than 1d"));
        let digest_of = |name: &str| Digest::of(Algorithm::Sha256, name.as_bytes());
        for spared in [
            "signature",
            "untagged-new",
            "v1.0.0",
            "dev-a",
            "dev-c",
            "sha-c",
        ] {
            assert!(
                !manifests.iter().any(|d| d.digest == digest_of(spared)),
                "{spared}"
            );
        }
    }

    #[test]
    fn aliases_go_with_their_last_release() {
        let mut h = History(vec![]);
        h.image("v0.7.0", 200, None, &["v0.7.0", "v0.7"]);
        h.image("v0.8.0", 150, None, &["v0.8.0", "v0.8", "v0"]);
        h.image("v0.9.0", 10, None, &["v0.9.0", "v0.9", "latest"]);
        // Aliases are never selected by a pattern or `releases`; `latest` keeps its manifest.
        let rules = parse("delete releases older than 100d\ndelete v0* older than 1000d").unwrap();
        expect![[r#"
            v0 <- alias of deleted v0.8.0, moves to v0.9.0
            v0.7 <- alias of deleted v0.7.0
            v0.7.0 <- delete releases older than 100d
            v0.8 <- alias of deleted v0.8.0
            v0.8.0 <- delete releases older than 100d
            manifest 1000 <- delete releases older than 100d
            manifest 1000 <- delete releases older than 100d
        "#]]
        .assert_eq(&decided(&plan(&rules, &h.0, NOW)));
    }

    #[test]
    fn an_alias_on_a_deleted_pre_release_moves_to_its_lines_newest_stable_release() {
        let mut h = History(vec![]);
        h.image("v1.3.0", 300, None, &["v1.3.0"]);
        let stable = h.image("v1.4.0", 300, None, &["v1.4.0"]);
        h.image("rc", 200, None, &["v1.5.0-rc.1", "v1"]);
        let rules = parse("delete v1.5.0-* older than 100d").unwrap();
        let plan = plan(&rules, &h.0, NOW);
        expect![[r#"
            v1 <- alias of deleted v1.5.0-rc.1, moves to v1.4.0
            v1.5.0-rc.1 <- delete v1.5.0-* older than 100d
            manifest 1000 <- delete v1.5.0-* older than 100d
        "#]]
        .assert_eq(&decided(&plan));
        assert_eq!(plan[0].moves_to, Some(stable));
    }

    #[test]
    fn children_of_kept_indexes_stay_and_rules_can_name_repositories() {
        let mut h = History(vec![]);
        let children = vec![
            h.image("amd64", 10, None, &[]),
            h.image("arm64", 10, None, &[]),
        ];
        h.image("multi", 10, None, &["v3.0.0"]);
        h.last().children = children;
        h.image("loose", 10, None, &[]);
        h.image("dev", 10, None, &["dev-x"]);
        let rules = parse("delete untagged older than 1d\ndelete dev-* in team/other*").unwrap();
        // Only the loose manifest goes: the index's children are named by a survivor, and
        // the dev rule is for other repositories.
        expect![[r#"
            manifest 1000 <- delete untagged older than 1d
        "#]]
        .assert_eq(&decided(&plan(&rules, &h.0, NOW)));
        let rules = parse("delete dev-* in team/app").unwrap();
        expect![[r#"
            dev-x <- delete dev-* in team/app
            manifest 1000 <- delete dev-* in team/app
        "#]]
        .assert_eq(&decided(&plan(&rules, &h.0, NOW)));
    }

    #[test]
    fn bad_rules_name_their_line() {
        for (text, error) in [
            (
                "keep releases\nremove dev-*",
                "line 2: \"remove\" is not an action",
            ),
            ("delete dev-* older than 7 days", "\"7\" is not a duration"),
            ("delete dev-* older than 7d or so", "cannot read \"or so\""),
            (
                "keep dev-* newest 3 per minor",
                "select among releases only",
            ),
            ("delete sha-* not pulled for 7x", "\"7x\" is not a duration"),
            ("keep", "a selector must follow"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.contains(error), "{text:?}: {err}");
        }
        assert_eq!(parse("# nothing\n\n").unwrap(), vec![]);
    }
}
