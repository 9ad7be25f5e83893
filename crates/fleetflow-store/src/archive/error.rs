//! Why an archive cannot be imported.

use std::io;
use std::path::PathBuf;

use crate::cache::CacheError;
use fleetflow_oci::Digest;

/// Why an archive cannot be imported.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Reading the archive failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The archive.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The archive ends early.
    #[error("{}: truncated archive ({detail})", path.display())]
    Truncated {
        /// The archive.
        path: PathBuf,
        /// What was cut.
        detail: String,
    },
    /// An entry name or link that leaves the archive.
    #[error("{}: entry `{entry}` points outside the archive; refusing it", path.display())]
    PathEscape {
        /// The archive.
        path: PathBuf,
        /// The entry.
        entry: String,
    },
    /// Not a `docker save` or OCI layout archive, or inconsistent.
    #[error("{}: {message}", path.display())]
    Format {
        /// The archive.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A layer's content does not match the DiffID its config lists.
    #[error("{}: layer {index} (`{entry}`) has DiffID {actual}, but the image config lists {expected}", path.display())]
    DiffIdMismatch {
        /// The archive.
        path: PathBuf,
        /// Layer index (0 = base).
        index: usize,
        /// Entry name.
        entry: String,
        /// From the config.
        expected: Digest,
        /// Computed.
        actual: Digest,
    },
    /// The cache failed.
    #[error(transparent)]
    Cache(#[from] CacheError),
}
