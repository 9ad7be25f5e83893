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
    /// Move images without a Docker daemon: pull, import, push, copy; list and clean the
    /// local blob cache.
    Image(ImageArgs),
}

/// `flow image`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  flow image pull 127.0.0.1:5000/app:v1\n  flow image import app.tar --tag registry.example.com/app:v1\n  flow image push app.tar ghcr.io/org/app:v1          (a docker save tar)\n  flow image push ghcr.io/org/app:v1 mirror.local/app:v1   (from the cache)\n  flow image copy ghcr.io/org/app:v1 mirror.local/org/app:v1\n  flow image ls\n  flow image clean --all\n\nCredentials: -u/--password-stdin, else docker login's config.json, credential helpers,\nDOCKER_USERNAME/DOCKER_PASSWORD. Cache: --cache-dir, else FLOW_CACHE_DIR, else the user cache dir.\n\nExit codes: 0 success, 1 other failure, 2 usage error, 3 authentication failure,\n5 registry failure, 6 image not found, 7 invalid archive or content."
)]
pub struct ImageArgs {
    /// The operation.
    #[command(subcommand)]
    pub command: ImageCommand,
    /// Options for every operation.
    #[command(flatten)]
    pub common: ImageCommon,
}

/// `flow image` operations.
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Pull an image from a registry into the cache.
    Pull {
        /// Image reference, e.g. ghcr.io/org/app:v1 or app@sha256:...
        reference: String,
        /// Which images of a multi-platform index.
        #[command(flatten)]
        platforms: PlatformArgs,
    },
    /// Import a `docker save` tar (or an OCI layout tar or directory) into the cache.
    #[command(visible_alias = "extract")]
    Import {
        /// The archive.
        archive: PathBuf,
        /// Name to record the image under (default: the names in the archive).
        #[arg(short = 't', long = "tag", value_name = "REF")]
        tag: Option<String>,
    },
    /// Push a tar, an OCI layout directory or a cached image to a registry.
    Push {
        /// A `docker save` tar, an OCI layout (tar or directory), or a cached reference.
        source: String,
        /// Destination reference, e.g. ghcr.io/org/app:v1.
        destination: String,
    },
    /// Copy an image from one registry to another (a cross-repository mount when both
    /// are on the same registry).
    Copy {
        /// Source reference.
        source: String,
        /// Destination reference.
        destination: String,
        /// Which images of a multi-platform index.
        #[command(flatten)]
        platforms: PlatformArgs,
    },
    /// List the images in the cache.
    Ls {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Forget images in the cache (their blobs go at the next `clean`).
    Rm {
        /// References, as `ls` shows them or as written for pull.
        #[arg(required = true)]
        references: Vec<String>,
    },
    /// Remove blobs no cached image uses, and partial downloads; report the bytes freed.
    Clean {
        /// Remove every image and blob.
        #[arg(long)]
        all: bool,
    },
}

/// Which images of a multi-platform index `pull` and `copy` take.
#[derive(Debug, Args)]
pub struct PlatformArgs {
    /// Platform to take from a multi-platform index (default: this machine's).
    #[arg(
        long,
        value_name = "OS/ARCH[/VARIANT]",
        conflicts_with = "all_platforms"
    )]
    pub platform: Option<String>,
    /// Keep the whole index and every platform's image.
    #[arg(long)]
    pub all_platforms: bool,
}

/// Layer compression for images made from archives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompressionArg {
    /// gzip, parallel, stored blocks for data that does not compress.
    Gzip,
    /// zstd (OCI media types; Docker Engine 23+ and containerd pull it, 20.10 cannot).
    Zstd,
    /// Uncompressed layers (fastest to push, largest).
    None,
}

/// Options shared by every `flow image` operation.
#[derive(Debug, Args)]
pub struct ImageCommon {
    /// Blob cache directory [default: FLOW_CACHE_DIR, else <user cache dir>/flow/images].
    #[arg(long, global = true, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Blobs transferred at once.
    #[arg(short = 'j', long, visible_alias = "max-concurrent", global = true, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: u16,

    /// Retries after a failed request (connection error, 5xx, 408, 429).
    #[arg(long, global = true, value_name = "N", default_value_t = 3)]
    pub retry_attempts: u32,

    /// Upload blobs even when the registry already has them.
    #[arg(long, global = true)]
    pub force_upload: bool,

    /// Allow plain HTTP and unverified TLS for every registry (loopback registries may
    /// use plain HTTP without it).
    #[arg(long, visible_alias = "skip-tls", global = true)]
    pub insecure: bool,

    /// Per-registry CA certificates, as <DIR>/<host[:port]>/*.crt.
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        default_value = "/etc/docker/certs.d"
    )]
    pub cert_dir: PathBuf,

    /// User name for the destination registry (the source for pull); the password is
    /// read from standard input with --password-stdin.
    #[arg(short = 'u', long, global = true, value_name = "USER")]
    pub username: Option<String>,

    /// Read the password (or token) for --username from standard input.
    #[arg(long, global = true)]
    pub password_stdin: bool,

    /// Password on the command line (visible to other users; prefer --password-stdin).
    #[arg(
        short = 'p',
        long,
        global = true,
        value_name = "PASSWORD",
        hide_env_values = true
    )]
    pub password: Option<String>,

    /// Layer compression for images made from archives.
    #[arg(long, global = true, value_enum, default_value_t = CompressionArg::Gzip, value_name = "gzip|zstd|none")]
    pub compression: CompressionArg,

    /// Upload blobs in PATCH chunks of this many bytes (for registries that cap request
    /// bodies) instead of one streaming PUT.
    #[arg(long, global = true, value_name = "BYTES")]
    pub chunk_size: Option<u64>,

    /// Progress output.
    #[arg(long, global = true, value_enum, default_value_t = Progress::Auto, value_name = "MODE")]
    pub progress: Progress,

    /// Say what would be done, transfer nothing.
    #[arg(long, global = true)]
    pub dry_run: bool,

    /// Print only errors and the resulting references.
    #[arg(short = 'q', long, global = true)]
    pub quiet: bool,

    /// Print every HTTP request (method, URL without its query, status) to stderr; never
    /// a header, token or password.
    #[arg(short = 'v', long, global = true)]
    pub verbose: bool,
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
    after_help = "Examples:\n  flow build prod                      build every service of stage prod\n  flow build api worker prod           build two services\n  flow build --tag v1.2.0 prod         tag every image v1.2.0\n  flow build --push --tag v1.2.0 prod  build, then push every image\n  flow build -s prod -n api            FleetFlow's flag form\n\nExit codes: 0 success, 1 other failure, 2 usage or configuration error,\n3 authentication failure, 4 build failed, 5 push or registry failure.",
    disable_version_flag = true
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

    /// The release version for `{version}` in `tags` templates (default: FLOW_VERSION, else
    /// the git tag at HEAD without its `v`).
    #[arg(long, value_name = "VERSION")]
    pub version: Option<String>,

    /// Publish all or nothing: push every service's blobs and manifest by digest first,
    /// and move the tags only when every service built and pushed.
    #[arg(long, requires = "push")]
    pub atomic: bool,

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

    /// Write what happened to every service (image, tags, digest, ref, status, duration)
    /// as JSON to PATH. With GITHUB_OUTPUT / GITHUB_STEP_SUMMARY set, the same goes to the
    /// step's outputs and summary.
    #[arg(long, value_name = "PATH")]
    pub metadata_file: Option<PathBuf>,

    /// Do not use the build cache, and rebuild services whose inputs are unchanged
    /// (instead of reusing the image already in the registry).
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

    /// Show the plan (images, Dockerfiles, contexts, tags, credential sources) without
    /// building or pushing anything.
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
