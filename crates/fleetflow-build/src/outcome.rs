//! What a run produced: per service a [`BuiltImage`] (or why not), its [`PushedImage`]
//! (or [`PushError`]), gathered in an [`Outcome`] that knows its own [`Status`] and
//! [`ExitClass`].

use std::time::Duration;

use fleetflow_oci::{Digest, Reference};

use crate::error::BuildError;

/// A finished image.
#[derive(Debug, Clone)]
pub struct BuiltImage {
    /// Image ID (`sha256:...`).
    pub id: String,
    /// Every `repository:tag` it carries.
    pub references: Vec<Reference>,
    /// Wall time of the build (or of finding the image to reuse).
    pub elapsed: Duration,
    /// Not built: the registry already has an image with the same inputs.
    pub reused: bool,
}

/// A pushed image.
#[derive(Debug, Clone)]
pub struct PushedImage {
    /// Every `repository:tag` pushed.
    pub references: Vec<Reference>,
    /// The manifest digest the registry reported (`sha256:...`).
    pub digest: String,
    /// Wall time of the push.
    pub elapsed: Duration,
}

impl PushedImage {
    /// `repository@digest`, the exact reference a deploy step should use.
    pub fn pinned(&self) -> String {
        format!("{}@{}", self.references[0].repository(), self.digest)
    }
}

/// Why a push failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PushError {
    /// The registry refused our credentials or our right to push.
    #[error("{reference}: authentication failed: {message}")]
    Auth {
        /// What was being pushed.
        reference: String,
        /// The registry's message.
        message: String,
    },
    /// Pushed by digest, but its tags were not moved: `--atomic` and another service
    /// failed.
    #[error("{reference}: not tagged (--atomic: another service failed)")]
    Withheld {
        /// The first tag it would have had.
        reference: String,
    },
    /// Anything else: network, unknown blob, server errors.
    #[error("{reference}: push failed: {message}")]
    Failed {
        /// What was being pushed.
        reference: String,
        /// The registry's or engine's message.
        message: String,
    },
}

/// What happened to one service.
#[derive(Debug)]
pub struct Outcome {
    /// Service name.
    pub service: String,
    /// The image (built, or reused from the registry), or why not.
    pub result: Result<BuiltImage, BuildError>,
    /// Time from the start of its build to the end of its push (zero if it never started).
    pub elapsed: Duration,
    /// The push, when pushing was asked for and the build succeeded.
    pub push: Option<Result<PushedImage, PushError>>,
    /// The input digest (computed when pushing).
    pub inputs: Option<Digest>,
}

/// What happened to a service, as summaries and release metadata name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Built, and pushed with every tag.
    Pushed,
    /// Not built: the image with the same inputs got the new tags.
    Reused,
    /// Built (not pushed: no `--push`, or its tags were withheld by `--atomic`).
    Built,
    /// Not built or not pushed: cancelled (`--fail-fast`), or no build settings.
    Skipped,
    /// The build or the push failed.
    Failed,
}

impl Status {
    /// The word used in metadata, outputs and summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pushed => "pushed",
            Status::Reused => "reused",
            Status::Built => "built",
            Status::Skipped => "skipped",
            Status::Failed => "failed",
        }
    }
}

/// Which class of failure an outcome is, for the exit code (the worst class wins:
/// a failed build over an authentication failure over another push failure).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExitClass {
    /// Nothing failed.
    Success,
    /// A push failed for another reason than authentication.
    Push,
    /// The registry refused our credentials.
    Auth,
    /// A build failed (or was cancelled).
    BuildFailed,
}

impl Outcome {
    /// Its status; `pushing`: `--push` was given.
    pub fn status(&self, pushing: bool) -> Status {
        match (&self.result, &self.push) {
            (Err(BuildError::Cancelled), _) => Status::Skipped,
            (Err(_), _) => Status::Failed,
            (Ok(_), Some(Err(PushError::Withheld { .. }))) => Status::Built,
            (Ok(_), Some(Err(_))) => Status::Failed,
            (Ok(img), Some(Ok(_))) if img.reused => Status::Reused,
            (Ok(_), Some(Ok(_))) => Status::Pushed,
            // Pushing, but neither pushed nor failed: cancelled by --fail-fast.
            (Ok(_), None) if pushing => Status::Skipped,
            (Ok(_), None) => Status::Built,
        }
    }

    /// The build's failure (not a cancellation).
    pub fn build_failure(&self) -> Option<&BuildError> {
        self.result
            .as_ref()
            .err()
            .filter(|e| !matches!(e, BuildError::Cancelled))
    }

    /// Was it cancelled before its build ended?
    pub fn cancelled(&self) -> bool {
        matches!(self.result, Err(BuildError::Cancelled))
    }

    /// The push's failure (not a withheld tag move).
    pub fn push_failure(&self) -> Option<&PushError> {
        self.push
            .as_ref()?
            .as_ref()
            .err()
            .filter(|e| !matches!(e, PushError::Withheld { .. }))
    }

    /// The push, when it succeeded.
    pub fn pushed(&self) -> Option<&PushedImage> {
        self.push.as_ref()?.as_ref().ok()
    }

    /// Its tags were withheld (`--atomic`).
    pub fn withheld(&self) -> bool {
        matches!(self.push, Some(Err(PushError::Withheld { .. })))
    }

    /// Its references when its image exists (built or reused).
    pub fn references(&self) -> Vec<String> {
        match &self.result {
            Ok(img) => img.references.iter().map(ToString::to_string).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Its failure class on its own (a cancellation counts with failed builds only when
    /// nothing else failed: see [`exit_class`]).
    fn own_class(&self) -> ExitClass {
        if self.build_failure().is_some() {
            ExitClass::BuildFailed
        } else {
            match self.push_failure() {
                Some(PushError::Auth { .. }) => ExitClass::Auth,
                Some(_) => ExitClass::Push,
                None => ExitClass::Success,
            }
        }
    }
}

/// The failure class of a whole run: a failed build wins, then authentication, then any
/// other push failure; services cancelled by `--fail-fast` make a failed build only when
/// no push failed (the push failure is what cancelled them).
pub fn exit_class(outcomes: &[Outcome]) -> ExitClass {
    let worst = outcomes
        .iter()
        .map(Outcome::own_class)
        .max()
        .unwrap_or(ExitClass::Success);
    let any_push_failed = outcomes.iter().any(|o| o.push_failure().is_some());
    if worst < ExitClass::BuildFailed && !any_push_failed && outcomes.iter().any(Outcome::cancelled)
    {
        ExitClass::BuildFailed
    } else {
        worst
    }
}
