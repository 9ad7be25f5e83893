//! `fleetflow-config` owns `flow.kdl`: finding a project, layering its files, merging
//! services, choosing a stage and resolving variables into a [`ResolvedStage`].
//!
//! Data flows one way:
//! [`discover`] finds the [`ProjectLocation`]; [`Project::load`] reads every layered
//! file ([`SourceFile`]) and parses it into syntax-close definitions ([`ServiceDef`],
//! [`StageDef`]) that keep their source spans; [`Project::resolve_stage`] merges the
//! stage overrides, substitutes `{{ NAME }}` variables and finds Dockerfiles, giving the
//! build plan its input. Every error is a [`ConfigError`] that names the file, line and
//! column and carries the snippet for `miette`.

// Libraries report through values and reporter traits; only the CLI's printer writes.
#![deny(clippy::print_stdout, clippy::print_stderr)]
// Configuration errors carry the file text and span for miette snippets; they are built
// once, on the cold path, so their size does not matter (clippy::result_large_err).
#![allow(clippy::result_large_err)]

mod discovery;
mod error;
mod model;
mod parse;
mod resolve;
mod source;
mod vars;

pub use discovery::{ProjectLocation, discover};
pub use error::ConfigError;
pub use model::{Project, ServiceDef, Spanned, StageDef};
pub use resolve::{BuildSpec, ResolvedService, ResolvedStage, SkipReason, TagTemplate};
pub use source::{Location, SourceFile, Sources};
pub use vars::Variables;

/// Environment variable naming the project root (FleetFlow compatible).
pub const ENV_PROJECT_ROOT: &str = "FLEET_PROJECT_ROOT";
/// Environment variable naming the stage (FleetFlow compatible).
pub const ENV_STAGE: &str = "FLEET_STAGE";
