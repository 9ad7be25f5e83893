//! The printer: the only code of `flow` that writes to stdout and stderr. Live bars on a
//! terminal, plain lines in pipes and CI, JSON lines for machines, errors only with `-q`.
//! It implements every library's reporter (the build crate's [`fleetflow_build::Reporter`]
//! in [`build`], the store's transfer reporter in [`image`]) and renders run summaries
//! ([`summary`]) and failures, in the user's language.

mod build;
pub mod image;
mod summary;

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Instant;

use indicatif::{MultiProgress, ProgressDrawTarget};

use crate::cli::Progress;
use crate::failure::Failure;
use crate::messages::Messages;

/// The chosen output mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// indicatif bars.
    Tty,
    /// Plain lines.
    Plain,
    /// JSON lines.
    Json,
    /// Errors only.
    Quiet,
}

impl Mode {
    /// Resolve `--progress auto` and `-q`.
    pub fn choose(progress: Progress, quiet: bool) -> Mode {
        match (progress, quiet) {
            (Progress::Json, _) => Mode::Json,
            (_, true) => Mode::Quiet,
            (Progress::Tty, _) => Mode::Tty,
            (Progress::Plain, _) => Mode::Plain,
            (Progress::Auto, _) => {
                let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
                if std::io::stderr().is_terminal() && !ci {
                    Mode::Tty
                } else {
                    Mode::Plain
                }
            }
        }
    }
}

/// Colours only on a terminal and without `NO_COLOR`.
fn use_color(mode: Mode) -> bool {
    mode == Mode::Tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Writes everything `flow` shows.
pub struct Printer {
    mode: Mode,
    color: bool,
    messages: Messages,
    multi: MultiProgress,
    lock: Mutex<()>,
    /// When the run started: JSON events give their times relative to it.
    started: Instant,
    build: build::BuildView,
    image: image::ImageView,
}

impl Printer {
    /// A printer for `mode` in the language of `messages`. The run's clock starts here.
    pub fn new(mode: Mode, messages: Messages) -> Printer {
        let multi = MultiProgress::with_draw_target(if mode == Mode::Tty {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        Printer {
            mode,
            color: use_color(mode),
            messages,
            multi,
            lock: Mutex::new(()),
            started: Instant::now(),
            build: build::BuildView::default(),
            image: image::ImageView::new(mode),
        }
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The message catalogue.
    pub fn messages(&self) -> &Messages {
        &self.messages
    }

    /// A progress line on stdout (tty and plain modes), above any live bars.
    pub fn line(&self, text: &str) {
        match self.mode {
            Mode::Tty => self.multi.suspend(|| self.stdout(text)),
            Mode::Plain => self.stdout(text),
            Mode::Json | Mode::Quiet => {}
        }
    }

    /// A JSON event on stdout (JSON mode only).
    pub fn json(&self, value: serde_json::Value) {
        if self.mode == Mode::Json {
            self.stdout(&value.to_string());
        }
    }

    /// A result line on stdout in every mode (references with `-q`, listings, plans).
    pub fn stdout(&self, text: &str) {
        let _g = self.lock.lock();
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{text}");
    }

    /// A line on stderr in every mode.
    pub fn stderr(&self, text: &str) {
        let _g = self.lock.lock();
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{text}");
    }

    /// Wrap `text` in an ANSI colour when colours are on.
    pub fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// Remove all bars (before a summary or a failure).
    pub fn clear(&self) {
        let _ = self.multi.clear();
        self.image.finish();
    }

    /// `warning: TEXT` on stderr.
    pub fn warning(&self, text: &str) {
        self.stderr(&format!("{}: {text}", self.messages.warning_heading()));
    }

    /// A failure in the specification's layout on stderr:
    /// `Error: ...` / `Target: ...` / `How to fix:` / `  • ...`.
    pub fn failure(&self, f: &Failure) {
        let m = &self.messages;
        let mut text = format!("{}: {}\n", m.error_heading(), f.message);
        if let Some(t) = &f.target {
            text.push_str(&format!("\n{}: {t}\n", m.target_label()));
        }
        if !f.remedies.is_empty() {
            text.push_str(&format!("\n{}:\n", m.remedy_label()));
            for r in &f.remedies {
                text.push_str(&format!("  • {r}\n"));
            }
        }
        let _g = self.lock.lock();
        let _ = write!(std::io::stderr().lock(), "{text}");
    }

    /// A diagnostic with its snippet (configuration errors) on stderr.
    pub fn diagnostic(&self, heading: &str, diag: &dyn miette::Diagnostic) {
        let color = std::io::stderr().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        let theme = if color {
            miette::GraphicalTheme::unicode()
        } else {
            miette::GraphicalTheme::unicode_nocolor()
        };
        let mut out = String::new();
        let handler = miette::GraphicalReportHandler::new_themed(theme);
        if handler.render_report(&mut out, diag).is_err() {
            out = diag.to_string();
        }
        self.stderr(&format!(
            "{}: {heading}\n{out}",
            self.messages.error_heading()
        ));
    }

    /// Milliseconds from the start of the run to `at`.
    fn ms(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.started).as_millis()).unwrap_or(u64::MAX)
    }
}
