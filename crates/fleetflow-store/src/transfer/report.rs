//! What a transfer tells its caller while it runs: a typed [`TransferEvent`] for every
//! blob done, every chunk of bytes moved and every manifest written, sent to a
//! [`TransferReporter`].

use fleetflow_oci::Digest;

/// What happened to one blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobAction {
    /// Already in the destination registry.
    Exists,
    /// Mounted from another repository.
    Mounted,
    /// Uploaded.
    Pushed,
    /// Downloaded into the cache.
    Downloaded,
    /// Already in the cache (or just imported into it).
    Cached,
}

impl BlobAction {
    /// The word for machine output (`--progress json`): the same in every language.
    pub fn as_str(self) -> &'static str {
        match self {
            BlobAction::Exists => "exists",
            BlobAction::Mounted => "mounted",
            BlobAction::Pushed => "pushed",
            BlobAction::Downloaded => "downloaded",
            BlobAction::Cached => "cached",
        }
    }
}

/// Progress of a transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferEvent {
    /// A blob is done.
    Blob {
        /// Its digest.
        digest: Digest,
        /// Its size.
        size: u64,
        /// What happened.
        action: BlobAction,
    },
    /// `count` more bytes of some blob moved (for progress bars and totals).
    Bytes {
        /// Bytes since the last event of this kind.
        count: u64,
    },
    /// A manifest was written to a registry.
    Manifest {
        /// Its digest.
        digest: Digest,
        /// Tag or digest it was written under.
        reference: String,
    },
}

/// Receives the events of a transfer. Called from any task or thread, in the order
/// things happen for one blob, interleaved across blobs.
pub trait TransferReporter: Send + Sync {
    /// One event.
    fn report(&self, event: TransferEvent);
}

/// A reporter that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoReporter;

impl TransferReporter for NoReporter {
    fn report(&self, _event: TransferEvent) {}
}
