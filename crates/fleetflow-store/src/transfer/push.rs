//! Push from the cache: blobs first (in parallel, each skipped when the registry has
//! it, mounted when it can be), then the manifests of an index, the root manifest
//! (under its tag) last.

use std::collections::HashSet;

use futures_util::{StreamExt as _, TryStreamExt as _};

use super::error::TransferError;
use super::manifests::{blobs_of, manifest_error};
use super::options::Transfer;
use super::report::{BlobAction, TransferEvent};
use crate::cache::{BlobStore, CacheError, RefEntry};
use fleetflow_oci::{Descriptor, Digest, Manifest, Reference};
use fleetflow_registry::RegistryClient;
use fleetflow_registry::client::BlobPush;

/// Push the cached image or index `root` to `dest` (its tag, `latest` when it has
/// none); returns the digest the registry reports.
pub async fn push_cached(
    client: &RegistryClient,
    store: &BlobStore,
    dest: &Reference,
    root: &RefEntry,
    t: &Transfer,
) -> Result<Digest, TransferError> {
    let tag = dest.tag.as_deref().or(Some("latest"));
    let done = HashSet::new();
    push(client, store, &dest.api_path(), tag, root, None, &done, t).await
}

/// Upload one cached blob.
pub async fn push_blob(
    client: &RegistryClient,
    store: &BlobStore,
    repo: &str,
    desc: &Descriptor,
    mount_from: Option<&str>,
    t: &Transfer,
) -> Result<(), TransferError> {
    let path = store.blob_path(&desc.digest);
    if !path.is_file() {
        return Err(CacheError::Missing(format!("blob {}", desc.digest)).into());
    }
    let how = client
        .push_blob(
            repo,
            &desc.digest,
            desc.size,
            &path,
            mount_from,
            t.force_upload,
            &t.byte_counter(),
        )
        .await?;
    t.report(TransferEvent::Blob {
        digest: desc.digest.clone(),
        size: desc.size,
        action: match how {
            BlobPush::Exists => BlobAction::Exists,
            BlobPush::Mounted => BlobAction::Mounted,
            BlobPush::Uploaded => BlobAction::Pushed,
        },
    });
    Ok(())
}

/// Push the cached image or index `root` to `repo` under `tag` (or by digest when
/// `None`): blobs first (skipping `done`, already pushed), then manifests, the tag last.
#[allow(clippy::too_many_arguments)] // each is a separate, named input of one upload
pub async fn push(
    client: &RegistryClient,
    store: &BlobStore,
    repo: &str,
    tag: Option<&str>,
    root: &RefEntry,
    mount_from: Option<&str>,
    done: &HashSet<Digest>,
    t: &Transfer,
) -> Result<Digest, TransferError> {
    let bytes = store.read_bytes(&root.digest)?;
    let parsed = Manifest::parse(&bytes, Some(&root.media_type))
        .map_err(|e| manifest_error(client, &format!("cached manifest {}", root.digest), e))?;
    let mut children = Vec::new();
    let mut blobs = blobs_of(&parsed);
    if let Manifest::Index(index) = &parsed {
        for d in &index.manifests {
            let child = store.read_bytes(&d.digest).map_err(|e| match e {
                CacheError::Missing(_) => TransferError::Cache(CacheError::Missing(format!(
                    "manifest {} ({}) of the index; pull the image with --all-platforms",
                    d.digest,
                    d.platform
                        .as_ref()
                        .map_or("no platform".into(), |p| p.to_string())
                ))),
                other => other.into(),
            })?;
            let m = Manifest::parse(&child, Some(&d.media_type))
                .map_err(|e| manifest_error(client, &format!("cached manifest {}", d.digest), e))?;
            blobs.extend(blobs_of(&m));
            children.push((d.digest.clone(), child, m.media_type().to_string()));
        }
    }
    let mut seen = done.clone();
    blobs.retain(|b| seen.insert(b.digest.clone()));
    futures_util::stream::iter(
        blobs
            .iter()
            .map(|desc| push_blob(client, store, repo, desc, mount_from, t)),
    )
    .buffer_unordered(t.jobs.max(1))
    .try_collect::<Vec<()>>()
    .await?;
    for (digest, child, media_type) in children {
        client
            .put_manifest(repo, digest.as_str(), &child, &media_type)
            .await?;
        t.report(TransferEvent::Manifest {
            reference: digest.to_string(),
            digest,
        });
    }
    let reference = tag.map_or_else(|| root.digest.to_string(), str::to_string);
    let digest = client
        .put_manifest(repo, &reference, &bytes, parsed.media_type())
        .await?;
    t.report(TransferEvent::Manifest {
        digest: digest.clone(),
        reference,
    });
    Ok(digest)
}
