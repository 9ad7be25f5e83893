//! OCI image layouts (`index.json` and `blobs/sha256/`, also what Docker 25+ writes
//! beside `manifest.json`): every manifest, index and blob is copied as it is, each
//! verified against its digest.

use std::io;

use super::error::ArchiveError;
use super::options::ImportedImage;
use super::source::Source;
use crate::cache::{BlobStore, CacheError};
use fleetflow_oci::manifest::{self, Descriptor, Manifest};

pub(super) fn import(
    source: &Source,
    store: &BlobStore,
    on_blob: &mut dyn FnMut(&Descriptor),
) -> Result<Vec<ImportedImage>, ArchiveError> {
    let bytes = source.read_small("index.json", manifest::MAX_MANIFEST_BYTES as u64)?;
    let Manifest::Index(index) = Manifest::parse(&bytes, Some(manifest::OCI_INDEX))
        .map_err(|e| source.format_err(format!("index.json: {e}")))?
    else {
        return Err(source.format_err("index.json is not an image index".into()));
    };
    let mut out = Vec::new();
    for desc in &index.manifests {
        copy_tree(source, store, desc, on_blob, 0)?;
        let mut names = Vec::new();
        if let Some(a) = &desc.annotations {
            if let Some(n) = a.get("io.containerd.image.name") {
                names.push(n.clone());
            } else if let Some(n) = a.get("org.opencontainers.image.ref.name") {
                names.push(n.clone());
            }
        }
        out.push(ImportedImage {
            digest: desc.digest.clone(),
            media_type: desc.media_type.clone(),
            size: desc.size,
            names,
        });
    }
    Ok(out)
}

/// Copy a manifest or index and everything it references, verifying each digest.
fn copy_tree(
    source: &Source,
    store: &BlobStore,
    desc: &Descriptor,
    on_blob: &mut dyn FnMut(&Descriptor),
    depth: u32,
) -> Result<(), ArchiveError> {
    if depth > 4 {
        return Err(source.format_err("indexes nested too deep".into()));
    }
    let name = format!("blobs/sha256/{}", desc.digest.hex());
    let bytes = source.read_small(&name, manifest::MAX_MANIFEST_BYTES as u64)?;
    store
        .put_bytes(&bytes, Some(&desc.digest))
        .map_err(|e| match e {
            CacheError::DigestMismatch { actual, .. } => {
                source.format_err(format!("`{name}` hashes to {actual}"))
            }
            other => other.into(),
        })?;
    match Manifest::parse(&bytes, Some(&desc.media_type))
        .map_err(|e| source.format_err(format!("`{name}`: {e}")))?
    {
        Manifest::Index(i) => {
            for m in &i.manifests {
                copy_tree(source, store, m, on_blob, depth + 1)?;
            }
        }
        Manifest::Image(m) => {
            for blob in m.layers.iter().chain(std::iter::once(&m.config)) {
                if !store.has(&blob.digest) {
                    let name = format!("blobs/sha256/{}", blob.digest.hex());
                    let (mut r, _) = source.open(&name)?;
                    let mut w = store.writer()?;
                    io::copy(&mut r, &mut w).map_err(source.io())?;
                    w.commit(Some(&blob.digest), &name).map_err(|e| match e {
                        CacheError::DigestMismatch { actual, .. } => {
                            source.format_err(format!("`{name}` hashes to {actual}"))
                        }
                        other => other.into(),
                    })?;
                }
                on_blob(blob);
            }
        }
    }
    Ok(())
}
