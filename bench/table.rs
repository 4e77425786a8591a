//! The table of rows: medians of the rounds, berth against Distribution and against the row's
//! ceiling (what the machine does at all, `ceilings.rs`) as ratios.

use super::*;

/// One row of the table: the samples of each target over the rounds.
pub(crate) struct Row {
    pub(crate) name: String,
    pub(crate) unit: &'static str,
    pub(crate) higher_is_better: bool,
    pub(crate) berth: Vec<f64>,
    pub(crate) distribution: Vec<f64>,
    /// Samples of the ceiling, and what it is.
    pub(crate) ceiling: Vec<f64>,
    pub(crate) ceiling_what: Option<&'static str>,
}

pub(crate) fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

#[derive(Default)]
pub(crate) struct Table {
    pub(crate) rows: Vec<Row>,
}

impl Table {
    pub(crate) fn add(
        &mut self,
        row: &str,
        target: &str,
        value: f64,
        unit: &'static str,
        higher_is_better: bool,
    ) {
        let index = match self.rows.iter().position(|r| r.name == row) {
            Some(index) => index,
            None => {
                let name = row.to_owned();
                self.rows.push(Row {
                    name,
                    unit,
                    higher_is_better,
                    berth: vec![],
                    distribution: vec![],
                    ceiling: vec![],
                    ceiling_what: None,
                });
                self.rows.len() - 1
            }
        };
        let entry = &mut self.rows[index];
        match target {
            "berth" => entry.berth.push(value),
            "ceiling" => entry.ceiling.push(value),
            _ => entry.distribution.push(value),
        }
    }

    /// Adds a sample of the ceiling of `row` (which must exist), measured by `what`.
    pub(crate) fn add_ceiling(&mut self, row: &str, what: &'static str, value: f64) {
        let entry = self
            .rows
            .iter_mut()
            .find(|r| r.name == row)
            .unwrap_or_else(|| panic!("no row {row:?} for a ceiling"));
        entry.ceiling.push(value);
        entry.ceiling_what = Some(what);
    }

    /// Adds the rate of one 256 MiB transfer that took `elapsed`.
    pub(crate) fn add_transfer(&mut self, row: &str, target: &str, elapsed: Duration) {
        self.add(
            row,
            target,
            mib_per_second(BIG_BLOB, elapsed),
            "MiB/s",
            true,
        );
    }

    /// Adds the throughput and the p99 latency of a load run.
    pub(crate) fn add_load(&mut self, row: &str, target: &str, load: &Load) {
        let per_second = format!("{row}, {LOAD_CONNECTIONS} connections");
        self.add(&per_second, target, load.per_second, "req/s", true);
        let p99 = load.p99.as_secs_f64() * 1000.0;
        self.add(&format!("{row}, p99"), target, p99, "ms", false);
    }

    /// Adds the ceiling of a load row and of its p99 row.
    pub(crate) fn add_load_ceiling(&mut self, row: &str, what: &'static str, load: &Load) {
        let per_second = format!("{row}, {LOAD_CONNECTIONS} connections");
        self.add_ceiling(&per_second, what, load.per_second);
        let p99 = load.p99.as_secs_f64() * 1000.0;
        self.add_ceiling(&format!("{row}, p99"), what, p99);
    }

    pub(crate) fn render(&self) -> String {
        let range = |values: &[f64]| {
            let min = values.iter().copied().fold(f64::INFINITY, f64::min);
            let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            format!("{min:.2}–{max:.2}")
        };
        let mut out = String::new();
        out.push_str("| row | unit | berth | distribution | berth/distribution | ceiling | berth/ceiling | berth range | distribution range |\n");
        out.push_str("|---|---|---:|---:|---:|---|---:|---|---|\n");
        for row in self
            .rows
            .iter()
            .filter(|row| !row.berth.is_empty() && !row.distribution.is_empty())
        {
            let (b, d) = (median(&row.berth), median(&row.distribution));
            let better = if row.higher_is_better {
                "higher is better"
            } else {
                "lower is better"
            };
            let (name, unit) = (&row.name, row.unit);
            let (b_range, d_range) = (range(&row.berth), range(&row.distribution));
            let (ceiling, share) = match (row.ceiling.is_empty(), row.ceiling_what) {
                (false, Some(what)) => {
                    let c = median(&row.ceiling);
                    (format!("{c:.2} ({what})"), format!("{:.2}", b / c))
                }
                _ => ("–".to_owned(), "–".to_owned()),
            };
            writeln!(
                out,
                "| {name} | {unit} ({better}) | {b:.2} | {d:.2} | {:.2}x | {ceiling} | {share} | {b_range} | {d_range} |",
                b / d
            )
            .unwrap();
        }
        out
    }
}

/// The single-core SHA-256 rate in MiB/s from `openssl speed -evp sha256` (16 KiB blocks).
pub(crate) fn openssl_sha256_rate() -> Option<f64> {
    let output = Command::new("openssl")
        .args([
            "speed", "-seconds", "2", "-bytes", "16384", "-evp", "sha256",
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.to_ascii_lowercase().starts_with("sha256"))?;
    let last = line.split_whitespace().last()?.trim_end_matches('k');
    Some(last.parse::<f64>().ok()? * 1000.0 / MIB as f64)
}
