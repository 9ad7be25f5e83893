//! Pull, push and copy between registries and the [`BlobStore`]: blobs move in parallel
//! (bounded by `jobs`), every manifest is written after all of its blobs, and a
//! multi-platform index after all of its manifests.

use std::collections::HashSet;
use std::sync::Arc;

use futures_util::{StreamExt as _, TryStreamExt as _};

use crate::cache::{BlobStore, CacheError, RefEntry};
use fleetflow_oci::{Descriptor, Digest, Manifest, Platform};
use fleetflow_registry::client::{BlobPush, ByteCounter};
use fleetflow_registry::{RegistryClient, RegistryError};

/// What happened to one blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobAction {
    /// Already in the destination registry.
    Exists,
    /// Mounted from another repository.
    Mounted,
    /// Uploaded.
    Uploaded,
    /// Downloaded into the cache.
    Downloaded,
    /// Already in the cache.
    Cached,
}

impl BlobAction {
    /// A word for output.
    pub fn as_str(self) -> &'static str {
        match self {
            BlobAction::Exists => "exists",
            BlobAction::Mounted => "mounted",
            BlobAction::Uploaded => "pushed",
            BlobAction::Downloaded => "downloaded",
            BlobAction::Cached => "cached",
        }
    }
}

/// Progress of a transfer.
#[derive(Debug, Clone)]
pub enum Event {
    /// A blob is done.
    Blob {
        /// Its digest.
        digest: Digest,
        /// Its size.
        size: u64,
        /// What happened.
        action: BlobAction,
    },
    /// A manifest was written to a registry.
    Manifest {
        /// Its digest.
        digest: Digest,
        /// Tag or digest it was written under.
        reference: String,
    },
}

/// How a transfer runs and reports.
#[derive(Clone)]
pub struct Transfer {
    /// Blobs at once.
    pub jobs: usize,
    /// Upload blobs even when the registry has them.
    pub force_upload: bool,
    /// Called on every event.
    pub observer: Arc<dyn Fn(Event) + Send + Sync>,
    /// Called with byte counts as blobs move.
    pub bytes: ByteCounter,
}

impl Default for Transfer {
    fn default() -> Self {
        Transfer {
            jobs: 8,
            force_upload: false,
            observer: Arc::new(|_| {}),
            bytes: Arc::new(|_| {}),
        }
    }
}

/// Which images of an index to pull.
#[derive(Debug, Clone)]
pub enum PlatformChoice {
    /// The one for this machine.
    Host,
    /// This one.
    One(Platform),
    /// All of them (the index is kept).
    All,
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn blobs_of(m: &Manifest) -> Vec<Descriptor> {
    match m {
        Manifest::Image(i) => {
            let mut v = vec![i.config.clone()];
            v.extend(i.layers.iter().cloned());
            v
        }
        Manifest::Index(_) => Vec::new(),
    }
}

/// Why a transfer failed: the registry, or the local cache.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// The registry failed or refused.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The local cache failed, or lacks what the transfer needs.
    #[error(transparent)]
    Cache(#[from] CacheError),
}

fn manifest_error(client: &RegistryClient, what: &str, e: impl std::fmt::Display) -> TransferError {
    TransferError::Registry(RegistryError::Protocol {
        registry: client.registry().to_string(),
        message: format!("{what}: {e}"),
    })
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
    let mut entry = RefEntry {
        digest: digest.clone(),
        media_type: root.media_type().to_string(),
        size: bytes.len() as u64,
        source: "pull".into(),
        updated: now(),
    };
    let mut blobs = blobs_of(&root);
    if let Manifest::Index(index) = &root {
        let wanted: Vec<&Descriptor> = match platform {
            PlatformChoice::All => index.manifests.iter().collect(),
            PlatformChoice::Host | PlatformChoice::One(_) => {
                let want = match platform {
                    PlatformChoice::One(p) => p.clone(),
                    _ => Platform::host(),
                };
                let hit = index
                    .manifests
                    .iter()
                    .find(|d| d.platform.as_ref().is_some_and(|p| want.matches(p)));
                match hit {
                    Some(d) => vec![d],
                    None => {
                        let have: Vec<String> = index
                            .manifests
                            .iter()
                            .filter_map(|d| d.platform.as_ref().map(|p| p.to_string()))
                            .collect();
                        return Err(RegistryError::NotFound {
                            registry: client.registry().to_string(),
                            what: format!(
                                "{repo}:{reference} for platform {want} (it has: {})",
                                have.join(", ")
                            ),
                        }
                        .into());
                    }
                }
            }
        };
        for d in wanted {
            let (child, ctype, child_digest) = client.get_manifest(repo, d.digest.as_str()).await?;
            let m = Manifest::parse(&child, ctype.as_deref().or(Some(&d.media_type)))
                .map_err(|e| manifest_error(client, &format!("manifest {}", d.digest), e))?;
            if matches!(m, Manifest::Index(_)) {
                return Err(manifest_error(
                    client,
                    &format!("manifest {}", d.digest),
                    "nested index",
                ));
            }
            store.put_bytes(&child, Some(&child_digest))?;
            blobs.extend(blobs_of(&m));
            if !matches!(platform, PlatformChoice::All) {
                entry = RefEntry {
                    digest: child_digest,
                    media_type: m.media_type().to_string(),
                    size: child.len() as u64,
                    source: "pull".into(),
                    updated: now(),
                };
            }
        }
    }
    let mut seen = HashSet::new();
    blobs.retain(|b| seen.insert(b.digest.clone()));
    futures_util::stream::iter(blobs.into_iter().map(|desc| {
        let store = Arc::clone(store);
        async move {
            if store.has(&desc.digest) {
                (t.observer)(Event::Blob {
                    digest: desc.digest.clone(),
                    size: desc.size,
                    action: BlobAction::Cached,
                });
                return Ok(());
            }
            let s2 = Arc::clone(&store);
            let d2 = desc.digest.clone();
            let partial = tokio::task::spawn_blocking(move || s2.partial(&d2))
                .await
                .expect("lock task")?;
            // Another process may have finished it while we waited for the lock.
            let action = if store.has(&desc.digest) {
                BlobAction::Cached
            } else {
                client
                    .download_blob(repo, &desc.digest, desc.size, &partial.path, &t.bytes)
                    .await?;
                partial.commit()?;
                BlobAction::Downloaded
            };
            (t.observer)(Event::Blob {
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
    Ok(entry)
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
            &t.bytes,
        )
        .await?;
    (t.observer)(Event::Blob {
        digest: desc.digest.clone(),
        size: desc.size,
        action: match how {
            BlobPush::Exists => BlobAction::Exists,
            BlobPush::Mounted => BlobAction::Mounted,
            BlobPush::Uploaded => BlobAction::Uploaded,
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
        (t.observer)(Event::Manifest {
            reference: digest.to_string(),
            digest,
        });
    }
    let reference = tag.map_or_else(|| root.digest.to_string(), str::to_string);
    let digest = client
        .put_manifest(repo, &reference, &bytes, parsed.media_type())
        .await?;
    (t.observer)(Event::Manifest {
        digest: digest.clone(),
        reference,
    });
    Ok(digest)
}
