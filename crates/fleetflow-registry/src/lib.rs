//! `fleetflow-registry` owns what is true of images and registries independent of any
//! engine: image [`Reference`]s and tag rules, Docker-compatible [`CredentialStore`]
//! lookup (config.json, credential helpers, CI variables), `WWW-Authenticate`
//! [`Challenge`] parsing and the push-access [`Preflight`]. This crate never depends on the Docker
//! Engine or on `flow.kdl`.
//!
//! The daemonless half: a distribution [`RegistryClient`] (auth, retries, streaming
//! uploads and resumable downloads), the content-addressed [`BlobStore`], image
//! [`archive`] import (`docker save`, OCI layouts) and the [`transfer`] operations
//! (pull, push, copy) that `flow image` runs on them.

pub mod archive;
pub mod cache;
mod challenge;
pub mod client;
mod credentials;
pub mod digest;
pub mod manifest;
mod preflight;
mod reference;
pub mod transfer;

pub use cache::BlobStore;
pub use challenge::Challenge;
pub use client::{ClientOptions, RegistryClient, RegistryError};
pub use credentials::{
    CredentialError, CredentialSource, CredentialStore, Credentials, DOCKER_HUB_KEY, Secret,
    docker_config_path,
};
pub use digest::Digest;
pub use preflight::{Preflight, PreflightError, api_host};
pub use reference::{DOCKER_HUB, Reference, ReferenceError, validate_tag};
