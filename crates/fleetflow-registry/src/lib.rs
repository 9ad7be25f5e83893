//! `fleetflow-registry` owns talking to registries: the distribution [`RegistryClient`]
//! (the one HTTP and auth stack: transport, retries, auth challenges and tokens,
//! manifests, blob uploads and resumable downloads, and the push pre-flight
//! [`RegistryClient::check_push`]), Docker-compatible [`CredentialStore`] lookup
//! (config.json, credential helpers, CI variables) and `WWW-Authenticate` [`Challenge`]
//! parsing. It never depends on the Docker Engine, on `flow.kdl`, on the local cache or on
//! compression: what an image is comes from `fleetflow-oci`.

// Libraries report through values and reporter traits; only the CLI's printer writes.
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod challenge;
pub mod client;
mod credentials;

pub use challenge::Challenge;
pub use client::{ClientOptions, RegistryClient, RegistryError};
pub use credentials::{
    CredentialError, CredentialSource, CredentialStore, Credentials, Secret, docker_config_path,
};
