//! Copy registry to registry. Within one registry every blob is mounted
//! (`POST ?mount=&from=`) and only the manifest passes through the cache; a blob that
//! cannot be mounted, a multi-platform index, or another registry: the image goes
//! through the cache (pull, then push).

use std::collections::HashSet;
use std::sync::Arc;

use super::error::TransferError;
use super::options::{PlatformChoice, Transfer};
use super::pull::pull;
use super::push::push;
use super::report::{BlobAction, TransferEvent};
use crate::cache::{BlobStore, RefEntry};
use fleetflow_oci::{Digest, Manifest, Reference};
use fleetflow_registry::RegistryClient;

/// Copy `src` to `dest` (its tag, `latest` when it has none); returns the digest the
/// destination reports.
#[allow(clippy::too_many_arguments)] // each is a separate, named input of one copy
pub async fn copy(
    src_client: &RegistryClient,
    dest_client: &RegistryClient,
    store: &Arc<BlobStore>,
    src: &Reference,
    dest: &Reference,
    platform: &PlatformChoice,
    t: &Transfer,
) -> Result<Digest, TransferError> {
    let same_registry = src.registry() == dest.registry();
    let src_repo = src.api_path();
    let dest_repo = dest.api_path();
    // Blobs mounted here are not asked about again by the push below.
    let mut mounted = HashSet::new();
    let entry = if same_registry {
        // Only the manifest is needed locally: blobs are mounted.
        let (bytes, ctype, digest) = src_client.get_manifest(&src_repo, src.target()).await?;
        let parsed =
            Manifest::parse(&bytes, ctype.as_deref()).map_err(|e| TransferError::Manifest {
                reference: src.canonical(),
                message: e.to_string(),
            })?;
        let media_type = parsed.media_type().to_string();
        match parsed {
            Manifest::Index(_) => {
                pull(src_client, store, &src_repo, src.target(), platform, t).await?
            }
            Manifest::Image(m) => {
                store.put_bytes(&bytes, Some(&digest))?;
                for d in std::iter::once(&m.config).chain(&m.layers) {
                    if !dest_client
                        .push_blob_mount_only(&dest_repo, &d.digest, &src_repo)
                        .await?
                    {
                        // Not mountable: bring the rest through the cache.
                        pull(src_client, store, &src_repo, src.target(), platform, t).await?;
                        break;
                    }
                    mounted.insert(d.digest.clone());
                    t.report(TransferEvent::Blob {
                        digest: d.digest.clone(),
                        size: d.size,
                        action: BlobAction::Mounted,
                    });
                }
                RefEntry {
                    digest,
                    media_type,
                    size: bytes.len() as u64,
                    source: "pull".into(),
                    updated: 0,
                }
            }
        }
    } else {
        pull(src_client, store, &src_repo, src.target(), platform, t).await?
    };
    let mount_from = same_registry.then_some(src_repo.as_str());
    let tag = dest.tag.as_deref().or(Some("latest"));
    push(
        dest_client,
        store,
        &dest_repo,
        tag,
        &entry,
        mount_from,
        &mounted,
        t,
    )
    .await
}
