//! `fleetflow-registry` owns what is true of images and registries independent of any
//! engine: image [`Reference`]s and tag rules, Docker-compatible [`CredentialStore`]
//! lookup (config.json, credential helpers, CI variables), `WWW-Authenticate`
//! [`Challenge`] parsing and the push-access [`Preflight`]. The daemonless distribution
//! client and blob cache will live here too. This crate never depends on the Docker
//! Engine or on `flow.kdl`.

mod challenge;
mod credentials;
mod preflight;
mod reference;

pub use challenge::Challenge;
pub use credentials::{
    CredentialError, CredentialSource, CredentialStore, Credentials, DOCKER_HUB_KEY, Secret,
    docker_config_path,
};
pub use preflight::{Preflight, PreflightError, api_host};
pub use reference::{DOCKER_HUB, Reference, ReferenceError, validate_tag};
