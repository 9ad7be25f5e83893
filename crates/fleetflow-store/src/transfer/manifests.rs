//! Small helpers the operations share: the blobs of a manifest, a parse error as a
//! registry protocol error, a cache entry stamped now.

use crate::cache::RefEntry;
use fleetflow_oci::{Descriptor, Digest, Manifest};
use fleetflow_registry::{RegistryClient, RegistryError};

/// The config and layers of an image manifest (none for an index).
pub(super) fn blobs_of(m: &Manifest) -> Vec<Descriptor> {
    match m {
        Manifest::Image(i) => {
            let mut v = vec![i.config.clone()];
            v.extend(i.layers.iter().cloned());
            v
        }
        Manifest::Index(_) => Vec::new(),
    }
}

/// A manifest the registry (or the cache) gave that flow cannot accept.
pub(super) fn manifest_error(
    client: &RegistryClient,
    what: &str,
    e: impl std::fmt::Display,
) -> RegistryError {
    RegistryError::Protocol {
        registry: client.registry().to_string(),
        message: format!("{what}: {e}"),
    }
}

/// A cache entry for `digest`, recorded now.
pub(super) fn entry(digest: Digest, media_type: &str, size: usize, source: &str) -> RefEntry {
    RefEntry {
        digest,
        media_type: media_type.to_string(),
        size: size as u64,
        source: source.to_string(),
        updated: now(),
    }
}

/// Seconds since the epoch.
pub(super) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
