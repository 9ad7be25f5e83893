//! Image archives into the cache: `docker save` tars of every kind (legacy, with
//! symlinked duplicate layers; Docker 25+ with an OCI layout beside `manifest.json`;
//! several images by `RepoTags`), OCI layout tars, and the same laid out as
//! directories.
//!
//! `source` indexes a tar by its headers and reads members by offset; `docker_save`
//! and `oci_layout` read the two formats; `layer` imports one layer (DiffID check, keep
//! or compress, zstd); `gzip` is the parallel block compressor.
//! Nothing is written outside the cache: entry names are only looked up, never used as
//! paths.

mod docker_save;
mod error;
mod gzip;
mod layer;
mod oci_layout;
mod options;
mod source;

use std::path::Path;

pub use error::ArchiveError;
pub use gzip::{GZIP_BLOCK, gzip_blocks};
pub use options::{Compression, ImportOptions, ImportedImage};

use crate::cache::BlobStore;
use fleetflow_oci::Descriptor;
use source::Source;

/// Import the archive (tar file or directory) at `path` into `store`. `on_blob` is
/// called with each blob as soon as it is in the cache (layers in order, then the
/// config), so a caller can start uploading it while the next layer is compressed.
pub fn import(
    path: &Path,
    store: &BlobStore,
    opts: &ImportOptions,
    on_blob: &mut dyn FnMut(&Descriptor),
) -> Result<Vec<ImportedImage>, ArchiveError> {
    let source = Source::new(path)?;
    if source.exists("manifest.json") {
        docker_save::import(&source, store, opts, on_blob)
    } else if source.exists("index.json") {
        oci_layout::import(&source, store, on_blob)
    } else {
        Err(ArchiveError::Format {
            path: path.to_path_buf(),
            message: "neither a `docker save` archive (no manifest.json) nor an OCI layout (no index.json)".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleetflow_oci::Digest;
    use fleetflow_oci::manifest::{self, Manifest};

    /// A `docker save` laid out as a directory with one layer (as given) and a config
    /// that lists `diff_id`.
    fn save_dir(layer: &[u8], diff_id: &Digest) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("layer.bin"), layer).unwrap();
        std::fs::write(
            d.path().join("config.json"),
            format!(r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{diff_id}"]}}}}"#),
        )
        .unwrap();
        std::fs::write(
            d.path().join("manifest.json"),
            r#"[{"Config":"config.json","RepoTags":["t/x:1"],"Layers":["layer.bin"]}]"#,
        )
        .unwrap();
        d
    }

    #[test]
    fn gzip_layers_are_kept_bombs_are_refused_and_diffids_checked() {
        let raw = vec![0u8; 8 << 20];
        let mut gz = Vec::new();
        gzip_blocks(&raw[..], &mut gz, 1).unwrap();
        let diff_id = Digest::of(&raw);
        let cache = tempfile::tempdir().unwrap();
        let store = BlobStore::open(cache.path()).unwrap();

        // Kept as it is: the blob is the gzip stream, the DiffID checked inside it.
        let dir = save_dir(&gz, &diff_id);
        let images = import(dir.path(), &store, &ImportOptions::default(), &mut |_| {}).unwrap();
        assert_eq!(images[0].names, vec!["t/x:1".to_string()]);
        assert!(store.has(&Digest::of(&gz)));

        // 8 MiB of zeros is 8 KiB of gzip: with a 1 MiB limit it is a bomb.
        let small = ImportOptions {
            max_layer_bytes: 1 << 20,
            ..ImportOptions::default()
        };
        let err = import(dir.path(), &store, &small, &mut |_| {}).unwrap_err();
        assert!(
            err.to_string().contains("decompresses to more than"),
            "{err}"
        );

        // A config that lies about the DiffID, compressed and uncompressed input alike.
        let other = Digest::of(b"something else");
        for layer in [&gz[..], &raw[..]] {
            let dir = save_dir(layer, &other);
            let err =
                import(dir.path(), &store, &ImportOptions::default(), &mut |_| {}).unwrap_err();
            assert!(matches!(err, ArchiveError::DiffIdMismatch { .. }), "{err}");
        }
        // Nothing half-written is left in the cache.
        assert_eq!(
            std::fs::read_dir(cache.path().join("tmp")).unwrap().count(),
            0
        );
    }

    #[test]
    fn zstd_output_and_kept_zstd_input_make_oci_manifests() {
        let mut raw = Vec::new();
        for i in 0..200_000u32 {
            raw.extend_from_slice(format!("line {i}\n").as_bytes());
        }
        let diff_id = Digest::of(&raw);
        let cache = tempfile::tempdir().unwrap();
        let store = BlobStore::open(cache.path()).unwrap();
        let zstd_opts = ImportOptions {
            compression: Compression::Zstd,
            ..ImportOptions::default()
        };
        let manifest_of = |img: &ImportedImage| match Manifest::parse(
            &store.read_bytes(&img.digest).unwrap(),
            None,
        )
        .unwrap()
        {
            Manifest::Image(m) => m,
            Manifest::Index(_) => panic!("index"),
        };
        // Uncompressed input, zstd output.
        let dir = save_dir(&raw, &diff_id);
        let img = &import(dir.path(), &store, &zstd_opts, &mut |_| {}).unwrap()[0];
        let m = manifest_of(img);
        assert_eq!(m.media_type.as_deref(), Some(manifest::OCI_MANIFEST));
        assert_eq!(m.layers[0].media_type, manifest::OCI_LAYER_ZSTD);
        let blob = std::fs::read(store.blob_path(&m.layers[0].digest)).unwrap();
        assert_eq!(zstd::decode_all(&blob[..]).unwrap(), raw);
        assert!(blob.len() < raw.len() / 3);
        // zstd input under the gzip default: kept as it is, so the manifest is OCI too.
        let dir = save_dir(&blob, &diff_id);
        let img = &import(dir.path(), &store, &ImportOptions::default(), &mut |_| {}).unwrap()[0];
        let m = manifest_of(img);
        assert_eq!(m.layers[0].digest, Digest::of(&blob));
        assert_eq!(m.config.media_type, manifest::OCI_CONFIG);
    }
}
