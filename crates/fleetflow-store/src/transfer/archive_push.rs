//! Push straight from an archive: the import runs on blocking threads and each blob is
//! uploaded as soon as it is in the cache, so compression of layer n+1 overlaps the
//! upload of layer n. The manifest follows once every upload has finished; if the import
//! fails (truncated tar, lying DiffIDs), no manifest is pushed.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use super::error::TransferError;
use super::options::Transfer;
use super::push::{push, push_blob};
use crate::archive::{self, ImportOptions, ImportedImage};
use crate::cache::{BlobStore, RefEntry};
use fleetflow_oci::{Digest, Reference};
use fleetflow_registry::RegistryClient;

/// Import the one image of the archive at `path` and push it to `dest` (its tag,
/// `latest` when it has none); returns the digest the registry reports.
pub async fn push_archive(
    client: &Arc<RegistryClient>,
    store: &Arc<BlobStore>,
    path: &Path,
    dest: &Reference,
    import: &ImportOptions,
    t: &Transfer,
) -> Result<Digest, TransferError> {
    let repo = dest.api_path();
    let (image, done) = import_and_upload(client, store, path, &repo, import, t).await?;
    let root = RefEntry {
        digest: image.digest,
        media_type: image.media_type,
        size: image.size,
        source: "import".into(),
        updated: 0,
    };
    let tag = dest.tag.as_deref().or(Some("latest"));
    push(client, store, &repo, tag, &root, None, &done, t).await
}

/// The import, with every blob uploaded as it arrives: the one image, and the blobs
/// now in the registry.
async fn import_and_upload(
    client: &Arc<RegistryClient>,
    store: &Arc<BlobStore>,
    path: &Path,
    repo: &str,
    import: &ImportOptions,
    t: &Transfer,
) -> Result<(ImportedImage, HashSet<Digest>), TransferError> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let (s2, p2, opts) = (Arc::clone(store), path.to_path_buf(), import.clone());
    let importer = tokio::task::spawn_blocking(move || {
        archive::import(&p2, &s2, &opts, &mut |d| {
            let _ = tx.send(d.clone());
        })
    });
    let mut done = HashSet::new();
    let mut uploads = tokio::task::JoinSet::new();
    let sem = Arc::new(tokio::sync::Semaphore::new(t.jobs.max(1)));
    while let Some(desc) = rx.recv().await {
        if !done.insert(desc.digest.clone()) {
            continue;
        }
        let (c, s, t, repo, sem) = (
            Arc::clone(client),
            Arc::clone(store),
            t.clone(),
            repo.to_string(),
            Arc::clone(&sem),
        );
        uploads.spawn(async move {
            let _permit = sem.acquire_owned().await.expect("semaphore");
            push_blob(&c, &s, &repo, &desc, None, &t).await
        });
    }
    let imported = importer.await.expect("import task");
    // Wait for the uploads in any case; an import error wins over upload errors.
    let mut upload_error = None;
    while let Some(r) = uploads.join_next().await {
        if let Err(e) = r.expect("upload task") {
            upload_error.get_or_insert(e);
        }
    }
    let images = imported?;
    if let Some(e) = upload_error {
        return Err(e);
    }
    match <[ImportedImage; 1]>::try_from(images) {
        Ok([one]) => Ok((one, done)),
        Err(many) => Err(TransferError::SeveralImages {
            path: path.to_path_buf(),
            count: many.len(),
            names: many.into_iter().flat_map(|i| i.names).collect(),
        }),
    }
}
