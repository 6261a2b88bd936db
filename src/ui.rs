//! What govctl tells the person running it, on stderr.
//!
//! stdout carries data only, so that `govctl ... > report.csv` and pipes stay clean. Warnings
//! and the closing summary go to stderr; a progress bar is drawn only when stderr is a
//! terminal and neither `--quiet` nor `-v` is given, and never falls back to stdout.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

#[derive(Debug)]
pub struct Ui {
    quiet: bool,
    progress: bool,
    /// Put before every line, when several jobs share stderr (`sweep: layers: ...`).
    label: String,
    warned: Mutex<BTreeSet<String>>,
}

impl Ui {
    pub fn new(quiet: bool, verbose: u8) -> Self {
        Ui {
            quiet,
            progress: !quiet && verbose == 0 && std::io::stderr().is_terminal(),
            label: String::new(),
            warned: Mutex::new(BTreeSet::new()),
        }
    }

    /// A Ui for one of several jobs running at once: its lines carry `label`, and it draws
    /// no progress bar, since bars of concurrent jobs would overwrite each other.
    pub fn labelled(&self, label: &str) -> Ui {
        Ui {
            quiet: self.quiet,
            progress: false,
            label: format!("{}{label}: ", self.label),
            warned: Mutex::new(BTreeSet::new()),
        }
    }

    /// A warning, printed once however often it is raised.
    pub fn warn(&self, message: impl Into<String>) {
        let message = message.into();
        let first = self
            .warned
            .lock()
            .map(|mut seen| seen.insert(message.clone()))
            .unwrap_or(true);
        if first {
            eprintln!("warning: {}{message}", self.label);
        }
    }

    /// A status line such as the summary of a report; silent under `--quiet`.
    pub fn status(&self, message: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("{}{}", self.label, message.as_ref());
        }
    }

    /// A spinner with a message, for work whose size is unknown; hidden when not drawn.
    pub fn spinner(&self, message: impl Into<String>) -> ProgressBar {
        if !self.progress {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new_spinner().with_message(message.into());
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    }

    /// A bar counting `len` steps; hidden when not drawn.
    pub fn bar(&self, len: u64, message: impl Into<String>) -> ProgressBar {
        if !self.progress {
            return ProgressBar::hidden();
        }
        let style = ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        ProgressBar::new(len)
            .with_style(style)
            .with_message(message.into())
    }
}
