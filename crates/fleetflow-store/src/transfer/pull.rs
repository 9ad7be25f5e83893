//! Pull: a manifest (an index resolved to the chosen platforms) and its blobs into the
//! cache, blobs in parallel, each downloaded under its lock and verified.

use std::collections::HashSet;
use std::sync::Arc;

use futures_util::{StreamExt as _, TryStreamExt as _};

use super::error::TransferError;
use super::manifests::{blobs_of, entry, manifest_error};
use super::options::{PlatformChoice, Transfer};
use super::report::{BlobAction, TransferEvent};
use crate::cache::{BlobStore, RefEntry};
use fleetflow_oci::{Descriptor, Manifest, Platform, Reference};
use fleetflow_registry::{RegistryClient, RegistryError};

/// Pull `r` into the cache and record it under its canonical name; returns what the
/// name now points at.
pub async fn pull_image(
    client: &RegistryClient,
    store: &Arc<BlobStore>,
    r: &Reference,
    platform: &PlatformChoice,
    t: &Transfer,
) -> Result<RefEntry, TransferError> {
    let entry = pull(client, store, &r.api_path(), r.target(), platform, t).await?;
    store.set_ref(&r.canonical(), entry.clone())?;
    Ok(entry)
}

/// Pull `reference` (tag or digest) of `repo` into the cache. Returns what the pulled
/// name should point at: the image for the chosen platform, or the whole index.
pub async fn pull(
    client: &RegistryClient,
    store: &Arc<BlobStore>,
    repo: &str,
    reference: &str,
    platform: &PlatformChoice,
    t: &Transfer,
) -> Result<RefEntry, TransferError> {
    let (bytes, ctype, digest) = client.get_manifest(repo, reference).await?;
    let root = Manifest::parse(&bytes, ctype.as_deref())
        .map_err(|e| manifest_error(client, &format!("manifest {repo}:{reference}"), e))?;
    store.put_bytes(&bytes, Some(&digest))?;
    let mut pulled = entry(digest, root.media_type(), bytes.len(), "pull");
    let mut blobs = blobs_of(&root);
    if let Manifest::Index(index) = &root {
        let wanted = choose(client, &index.manifests, repo, reference, platform)?;
        for d in wanted {
            let (child, ctype, child_digest) = client.get_manifest(repo, d.digest.as_str()).await?;
            let m = Manifest::parse(&child, ctype.as_deref().or(Some(&d.media_type)))
                .map_err(|e| manifest_error(client, &format!("manifest {}", d.digest), e))?;
            if matches!(m, Manifest::Index(_)) {
                let what = format!("manifest {}", d.digest);
                return Err(manifest_error(client, &what, "nested index").into());
            }
            store.put_bytes(&child, Some(&child_digest))?;
            blobs.extend(blobs_of(&m));
            if !matches!(platform, PlatformChoice::All) {
                pulled = entry(child_digest, m.media_type(), child.len(), "pull");
            }
        }
    }
    let mut seen = HashSet::new();
    blobs.retain(|b| seen.insert(b.digest.clone()));
    let bytes = t.byte_counter();
    futures_util::stream::iter(blobs.into_iter().map(|desc| {
        let store = Arc::clone(store);
        let bytes = &bytes;
        async move {
            let action = if store.has(&desc.digest) {
                BlobAction::Cached
            } else {
                download(client, &store, repo, &desc, bytes).await?
            };
            t.report(TransferEvent::Blob {
                digest: desc.digest.clone(),
                size: desc.size,
                action,
            });
            Ok::<(), TransferError>(())
        }
    }))
    .buffer_unordered(t.jobs.max(1))
    .try_collect::<Vec<()>>()
    .await?;
    Ok(pulled)
}

/// The manifests of an index to pull.
fn choose<'a>(
    client: &RegistryClient,
    manifests: &'a [Descriptor],
    repo: &str,
    reference: &str,
    platform: &PlatformChoice,
) -> Result<Vec<&'a Descriptor>, TransferError> {
    let want = match platform {
        PlatformChoice::All => return Ok(manifests.iter().collect()),
        PlatformChoice::One(p) => p.clone(),
        PlatformChoice::Host => Platform::host(),
    };
    let hit = manifests
        .iter()
        .find(|d| d.platform.as_ref().is_some_and(|p| want.matches(p)));
    match hit {
        Some(d) => Ok(vec![d]),
        None => {
            let have: Vec<String> = manifests
                .iter()
                .filter_map(|d| d.platform.as_ref().map(|p| p.to_string()))
                .collect();
            Err(RegistryError::NotFound {
                registry: client.registry().to_string(),
                what: format!(
                    "{repo}:{reference} for platform {want} (it has: {})",
                    have.join(", ")
                ),
            }
            .into())
        }
    }
}

/// Download one blob under its lock, unless another process finished it meanwhile.
async fn download(
    client: &RegistryClient,
    store: &Arc<BlobStore>,
    repo: &str,
    desc: &Descriptor,
    bytes: &fleetflow_registry::client::ByteCounter,
) -> Result<BlobAction, TransferError> {
    let s2 = Arc::clone(store);
    let d2 = desc.digest.clone();
    let partial = tokio::task::spawn_blocking(move || s2.partial(&d2))
        .await
        .expect("lock task")?;
    // Another process may have finished it while we waited for the lock.
    if store.has(&desc.digest) {
        return Ok(BlobAction::Cached);
    }
    client
        .download_blob(repo, &desc.digest, desc.size, &partial.path, bytes)
        .await?;
    partial.commit()?;
    Ok(BlobAction::Downloaded)
}
