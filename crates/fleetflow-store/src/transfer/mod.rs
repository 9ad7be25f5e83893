//! Images on the move between registries, archives and the [`BlobStore`](crate::BlobStore):
//! pull, push, copy, push straight from an archive, and import. Blobs move in parallel
//! (bounded by `jobs`), every manifest is written after all of its blobs, and a
//! multi-platform index after all of its manifests. Progress goes to a
//! [`TransferReporter`] as typed [`TransferEvent`]s.
//!
//! `options` (how a transfer runs), `report` (events, the reporter trait) and `error`
//! are shared by the operations: `pull`, `push` (from the cache), `copy` (mounts within
//! one registry), `archive_push` (import and upload pipelined) and `import` (archive
//! into the cache, with names).

mod archive_push;
mod copy;
mod error;
mod import;
mod manifests;
mod options;
mod pull;
mod push;
mod report;

pub use archive_push::push_archive;
pub use copy::copy;
pub use error::TransferError;
pub use import::{import_archive, record_imported};
pub use options::{PlatformChoice, Transfer};
pub use pull::{pull, pull_image};
pub use push::{push, push_blob, push_cached};
pub use report::{BlobAction, NoReporter, TransferEvent, TransferReporter};
