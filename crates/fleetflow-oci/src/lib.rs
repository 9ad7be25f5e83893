//! `fleetflow-oci` owns what is true of images whatever moves or builds them: image
//! [`Reference`]s and tag rules, content [`Digest`]s and hashing readers and writers,
//! media types and the [`manifest`] and index views (descriptors, [`Platform`]s), and
//! the registry [`host`] rules (Docker Hub's API host and credential key, loopback).
//!
//! It is the leaf of the workspace: no network, no engine, no compression, no files.

// Libraries report through values and reporter traits; only the CLI's printer writes.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod digest;
pub mod host;
pub mod manifest;
mod reference;

pub use digest::{Digest, DigestError, Hasher, HashingReader, HashingWriter};
pub use host::{DOCKER_HUB_KEY, api_host, is_docker_hub, is_loopback};
pub use manifest::{Descriptor, Manifest, ManifestError, Platform};
pub use reference::{DOCKER_HUB, Reference, ReferenceError, validate_tag};
