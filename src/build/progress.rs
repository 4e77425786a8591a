//! What a build reports while it runs: bars on a terminal, plain lines otherwise.

use super::*;

/// Progress lines: indicatif bars on a terminal, plain lines otherwise.
pub struct Progress {
    bars: Option<indicatif::MultiProgress>,
}

impl Progress {
    pub fn new() -> Progress {
        let terminal = std::io::stderr().is_terminal();
        Progress {
            bars: terminal.then(indicatif::MultiProgress::new),
        }
    }

    pub fn line(&self, message: &str) {
        match &self.bars {
            Some(bars) => {
                let _ = bars.println(message);
            }
            None => eprintln!("{message}"),
        }
    }

    /// A byte bar for one upload (hidden off a terminal).
    pub(super) fn upload(&self, label: &str, size: u64) -> indicatif::ProgressBar {
        let Some(bars) = &self.bars else {
            return indicatif::ProgressBar::hidden();
        };
        let bar = bars.add(indicatif::ProgressBar::new(size));
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg:20} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
            )
            .expect("the template is valid")
            .progress_chars("=> "),
        );
        bar.set_message(label.to_owned());
        bar
    }
}

impl Default for Progress {
    fn default() -> Progress {
        Progress::new()
    }
}
