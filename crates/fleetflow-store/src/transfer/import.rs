//! Import an archive into the cache and name its images there.

use std::path::Path;
use std::sync::Arc;

use super::error::TransferError;
use super::manifests::now;
use super::options::Transfer;
use super::report::{BlobAction, TransferEvent};
use crate::archive::{self, ImportOptions, ImportedImage};
use crate::cache::{BlobStore, CacheError, RefEntry};
use fleetflow_oci::Reference;

/// Import the archive at `path` (on a blocking thread, reporting each blob as
/// [`BlobAction::Cached`]) and record its images under their names, or under `tag` (the
/// archive must then hold one image). Returns every name recorded and its entry.
pub async fn import_archive(
    store: &Arc<BlobStore>,
    path: &Path,
    opts: &ImportOptions,
    tag: Option<&Reference>,
    t: &Transfer,
) -> Result<Vec<(String, RefEntry)>, TransferError> {
    let (s2, p2, o2, t2) = (
        Arc::clone(store),
        path.to_path_buf(),
        opts.clone(),
        t.clone(),
    );
    let images = tokio::task::spawn_blocking(move || {
        archive::import(&p2, &s2, &o2, &mut |d| {
            t2.report(TransferEvent::Blob {
                digest: d.digest.clone(),
                size: d.size,
                action: BlobAction::Cached,
            })
        })
    })
    .await
    .expect("import task")?;
    if tag.is_some() && images.len() > 1 {
        return Err(TransferError::SeveralImages {
            path: path.to_path_buf(),
            count: images.len(),
            names: images.into_iter().flat_map(|i| i.names).collect(),
        });
    }
    Ok(record_imported(store, &images, tag)?)
}

/// Name imported images in the cache: under `tag` if given, else under the names the
/// archive gives them (canonical; names that do not parse are skipped), else under their
/// digest. Returns every name recorded and its entry.
pub fn record_imported(
    store: &BlobStore,
    images: &[ImportedImage],
    tag: Option<&Reference>,
) -> Result<Vec<(String, RefEntry)>, CacheError> {
    let mut out = Vec::new();
    for img in images {
        let entry = RefEntry {
            digest: img.digest.clone(),
            media_type: img.media_type.clone(),
            size: img.size,
            source: "import".into(),
            updated: now(),
        };
        let mut names: Vec<String> = img
            .names
            .iter()
            .filter_map(|n| Reference::parse(n).ok().map(|r| r.canonical()))
            .collect();
        if let Some(t) = tag {
            names = vec![t.canonical()];
        }
        if names.is_empty() {
            names.push(img.digest.to_string());
        }
        for n in names {
            store.set_ref(&n, entry.clone())?;
            out.push((n, entry.clone()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleetflow_oci::Digest;

    fn image(names: &[&str]) -> ImportedImage {
        ImportedImage {
            digest: Digest::of(names.join(",").as_bytes()),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            size: 2,
            names: names.iter().map(|n| n.to_string()).collect(),
        }
    }

    #[test]
    fn imported_images_are_named_canonically_by_tag_or_by_digest() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let named = image(&["busybox", "Not A Name"]);
        let unnamed = image(&[]);
        let got = record_imported(&store, &[named.clone(), unnamed.clone()], None).unwrap();
        let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            vec!["docker.io/library/busybox:latest", unnamed.digest.as_str()]
        );
        assert_eq!(store.get_ref(names[0]).unwrap().digest, named.digest);
        assert_eq!(store.get_ref(names[1]).unwrap().source, "import");

        let tag = Reference::parse("localhost:5000/app:v1").unwrap();
        let got = record_imported(&store, std::slice::from_ref(&named), Some(&tag)).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, "localhost:5000/app:v1");
        assert_eq!(store.refs().unwrap().len(), 3);
    }
}
