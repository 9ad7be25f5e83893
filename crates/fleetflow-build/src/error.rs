//! Errors of planning and building.

use std::path::PathBuf;

use fleetflow_oci::ReferenceError;

/// What can go wrong turning a resolved stage into images.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A tag or image name is invalid (checked before anything is built).
    #[error("{service}: {source}")]
    Reference {
        /// The service.
        service: String,
        /// What is wrong.
        #[source]
        source: ReferenceError,
    },

    /// A `tags` template cannot be expanded.
    #[error(transparent)]
    TagTemplate(#[from] crate::tags::TagTemplateError),

    /// Every `tags` template was skipped (only `latest`, and no release version).
    #[error(
        "{location}: the tag templates give no tag (`latest` is applied only to a release version)"
    )]
    NoTemplateTag {
        /// Where the templates are.
        location: String,
    },

    /// A `--tag` is invalid.
    #[error(transparent)]
    InvalidTag(ReferenceError),

    /// The Docker Engine could not be reached.
    #[error("cannot connect to the Docker Engine at {host}: {message}")]
    EngineUnreachable {
        /// `DOCKER_HOST` or the default socket.
        host: String,
        /// Why.
        message: String,
    },

    /// Reading the build context failed.
    #[error("build context {}: {source}", path.display())]
    Context {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },

    /// A `.dockerignore` pattern does not compile.
    #[error("{}: {message}", path.display())]
    DockerIgnore {
        /// The `.dockerignore`.
        path: PathBuf,
        /// Line and pattern.
        message: String,
    },

    /// The engine reported a failed build (a RUN step failed, a base image is missing...).
    #[error("build of `{service}` failed: {message}")]
    Failed {
        /// The service.
        service: String,
        /// The engine's error.
        message: String,
        /// The whole build log.
        log: String,
    },

    /// An Engine API call failed outside the build stream.
    #[error("Docker Engine: {0}")]
    Engine(#[from] bollard::errors::Error),

    /// Cancelled because another service failed and `--fail-fast` was given.
    #[error("cancelled (--fail-fast: another service failed)")]
    Cancelled,
}
