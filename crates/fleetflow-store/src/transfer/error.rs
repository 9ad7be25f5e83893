//! Why a transfer failed.

use std::path::PathBuf;

use crate::archive::ArchiveError;
use crate::cache::CacheError;
use fleetflow_registry::RegistryError;

/// Why a transfer failed: the registry, the local cache, the archive, or what the
/// source holds.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// The registry failed or refused.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The local cache failed, or lacks what the transfer needs.
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// The archive cannot be imported.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// The source's manifest cannot be read.
    #[error("{reference}: {message}")]
    Manifest {
        /// The source reference.
        reference: String,
        /// What is wrong with it.
        message: String,
    },
    /// The archive holds several images where one is needed.
    #[error("{} holds {count} images ({})", path.display(), names.join(", "))]
    SeveralImages {
        /// The archive.
        path: PathBuf,
        /// How many images.
        count: usize,
        /// The names the archive gives them.
        names: Vec<String>,
    },
}
