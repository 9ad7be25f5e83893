//! What a running build reports while it runs: typed [`Event`]s per service, received by
//! a [`Reporter`] (the CLI's printer implements it for tty, plain and JSON output).

use crate::error::BuildError;
use crate::outcome::{BuiltImage, PushError, PushedImage};

/// Something a running build reports.
#[derive(Debug)]
pub enum Event<'a> {
    /// The build started (a job slot was free).
    Started,
    /// A Dockerfile step began, e.g. `Step 2/5 : RUN make`.
    Step(&'a str),
    /// A line of build output.
    Output(&'a str),
    /// The push of this reference began.
    PushStarted(&'a str),
    /// Layer counts of the push in progress.
    PushLayers {
        /// Layers the engine is pushing.
        total: usize,
        /// Layers uploaded.
        pushed: usize,
        /// Layers the registry already had (or mounted).
        existed: usize,
    },
    /// The build finished, or an image with the same inputs was found to reuse
    /// ([`BuiltImage::reused`]).
    Built(&'a BuiltImage),
    /// The build failed or was cancelled.
    BuildFailed(&'a BuildError),
    /// Every tag was pushed (the manifest is in the registry and its tags moved).
    Pushed(&'a PushedImage),
    /// The push failed, or its tags were withheld (`--atomic`).
    PushFailed(&'a PushError),
}

/// Receives progress from builds running in parallel.
pub trait Reporter: Send + Sync {
    /// `service` reported `event`.
    fn report(&self, service: &str, event: Event<'_>);
}

/// A reporter that drops every event (tests, library callers without output).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoReporter;

impl Reporter for NoReporter {
    fn report(&self, _service: &str, _event: Event<'_>) {}
}
