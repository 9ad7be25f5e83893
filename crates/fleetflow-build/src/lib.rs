//! `fleetflow-build` owns turning a resolved stage into images in a Docker Engine:
//! the [`BuildPlan`] (image names, tags, labels), the build context ([`context`], streamed,
//! with [`DockerIgnore`]), the [`Engine`] connection and its builder, and [`build_all`],
//! which runs a plan in parallel (building, then pushing each image through the engine
//! as soon as it is built) and reports through a [`Reporter`].
//!
//! Flow: `ResolvedStage` → [`BuildPlan::new`] → [`build_all`] → [`Outcome`]s.

// Libraries report through values and reporter traits; only the CLI's printer writes.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod auth;
mod builder;
pub mod context;
mod dockerfile;
mod dockerignore;
mod engine;
mod error;
mod event;
mod git;
pub mod inputs;
mod outcome;
mod plan;
pub mod publish;
mod pusher;
mod run;
mod summary;
pub mod tags;

pub use dockerignore::{DockerIgnore, PatternError};
pub use engine::{DEFAULT_HOST, Engine, registry_auth_header};
pub use error::BuildError;
pub use event::{Event, NoReporter, Reporter};
pub use git::{oci_labels, public_source_url};
pub use outcome::{BuiltImage, ExitClass, Outcome, PushError, PushedImage, Status, exit_class};
pub use plan::{BuildPlan, PlanOptions, ServiceBuild};
pub use run::{RunOptions, build_all, default_jobs};
pub use summary::{Counts, RunSummary, ServiceSummary};
pub use tags::{TagTemplateError, TagValues};
