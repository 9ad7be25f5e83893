//! `fleetflow-registry` owns what is true of images independent of any engine:
//! image [`Reference`]s (parsing, normalising, the Docker Hub rules) and tag validation.
//! The daemonless distribution client and blob cache will live here too; this crate never
//! depends on the Docker Engine or on `flow.kdl`.

mod reference;

pub use reference::{DOCKER_HUB, Reference, ReferenceError, validate_tag};
