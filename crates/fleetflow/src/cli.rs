//! Command-line definition (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Build and ship the container images of a FleetFlow project.
#[derive(Debug, Parser)]
#[command(name = "flow", version, about, propagate_version = true)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// `flow` subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build the images of a stage's services through the Docker Engine.
    Build(BuildArgs),
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Progress {
    /// `tty` on a terminal, `plain` otherwise (pipes, CI).
    Auto,
    /// Live progress bars, one per service.
    Tty,
    /// Plain lines, one per event, safe for logs.
    Plain,
    /// One JSON object per line on stdout.
    Json,
}

/// `flow build`.
#[derive(Debug, Args)]
#[command(
    override_usage = "flow build [OPTIONS] [SERVICE]... <STAGE>\n       flow build [OPTIONS] -s <STAGE> [-n <SERVICE>]...",
    after_help = "Examples:\n  flow build prod                      build every service of stage prod\n  flow build api worker prod           build two services\n  flow build --tag v1.2.0 prod         tag every image v1.2.0\n  flow build --push --tag v1.2.0 prod  build, then push every image\n  flow build -s prod -n api            FleetFlow's flag form\n\nExit codes: 0 success, 1 other failure, 2 usage or configuration error,\n3 authentication failure, 4 build failed, 5 push or registry failure."
)]
pub struct BuildArgs {
    /// Services to build (default: all in the stage), then the stage. With -s/--stage, every
    /// positional argument is a service.
    #[arg(value_name = "SERVICE|STAGE")]
    pub targets: Vec<String>,

    /// Stage to build (instead of the last positional argument). With no stage at all,
    /// FLEET_STAGE is used [env: FLEET_STAGE=]
    #[arg(short = 's', long, value_name = "STAGE")]
    pub stage: Option<String>,

    /// Service to build; repeatable (FleetFlow's flag form).
    #[arg(short = 'n', long = "service", value_name = "SERVICE")]
    pub services: Vec<String>,

    /// Project file or folder (default: FLEET_PROJECT_ROOT, else search upward for flow.kdl
    /// and .fleetflow/flow.kdl).
    #[arg(short = 'f', long = "file", value_name = "PATH")]
    pub file: Option<PathBuf>,

    /// Image tag; repeatable, every image gets every tag. Overrides the tag in `image`
    /// and `version`.
    #[arg(
        short = 't',
        long = "tag",
        value_name = "TAG",
        allow_hyphen_values = true
    )]
    pub tags: Vec<String>,

    /// Registry prefix for images without a registry host (e.g. ghcr.io/org); overrides
    /// the service, stage and top-level `registry`.
    #[arg(long, value_name = "REGISTRY")]
    pub registry: Option<String>,

    /// Extra build argument for every service; repeatable; wins over flow.kdl.
    #[arg(long = "build-arg", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub build_args: Vec<(String, String)>,

    /// Push every built image (every tag) to its registry, with the credentials of
    /// `docker login` / credential helpers / DOCKER_USERNAME+DOCKER_PASSWORD.
    #[arg(long)]
    pub push: bool,

    /// Write the built (and pushed) images of every service, with digests, as JSON to PATH.
    #[arg(long, value_name = "PATH")]
    pub metadata_file: Option<PathBuf>,

    /// Do not use the build cache.
    #[arg(long)]
    pub no_cache: bool,

    /// Always pull newer versions of base images (not done by default).
    #[arg(long)]
    pub pull: bool,

    /// Builds (and pushes) to run at once (default: 16).
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,

    /// Stop all builds at the first failure.
    #[arg(long)]
    pub fail_fast: bool,

    /// Show the plan (images, Dockerfiles, contexts, tags) without building.
    #[arg(long)]
    pub dry_run: bool,

    /// Progress output.
    #[arg(long, value_enum, default_value_t = Progress::Auto, value_name = "MODE")]
    pub progress: Progress,

    /// Print only errors and, on stdout, the image references built.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("`{s}` is not KEY=VALUE")),
    }
}

impl BuildArgs {
    /// Split positionals into (services, stage) as the spec writes it:
    /// `[SERVICE]... <STAGE>`, or all services when `-s` is given.
    pub fn services_and_stage(&self) -> (Vec<String>, Option<String>) {
        let mut services = self.services.clone();
        let mut targets = self.targets.clone();
        let stage = match &self.stage {
            Some(s) => Some(s.clone()),
            None => targets.pop().or_else(|| {
                std::env::var(fleetflow_config::ENV_STAGE)
                    .ok()
                    .filter(|s| !s.is_empty())
            }),
        };
        services.extend(targets);
        (services, stage)
    }
}
