//! `fleetflow-store` owns images at rest and on the move without a daemon: the
//! content-addressed [`BlobStore`] (blobs, references, DiffID records, locks, GC), image
//! [`archive`] import (`docker save` tars, OCI layouts, layer compression) and the
//! [`transfer`] operations `flow image` runs on a registry client: pull, push, copy,
//! push straight from an archive, and import with names; they report progress to a
//! [`transfer::TransferReporter`].

// Libraries report through values and reporter traits; only the CLI's printer writes.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod archive;
pub mod cache;
pub mod transfer;

pub use cache::BlobStore;
pub use transfer::TransferError;
