//! The archive importer: the input is a tar file (`docker save` or OCI layout) imported
//! into an empty blob cache. Errors are fine; panics, hangs and leaks are bugs.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use fleetflow_store::BlobStore;
use fleetflow_store::archive::{self, ImportOptions};
use libfuzzer_sys::fuzz_target;

fn work_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        tempfile::Builder::new()
            .prefix("flow-fuzz-archive-")
            .tempdir()
            .expect("temp dir")
            .keep()
    })
}

fuzz_target!(|data: &[u8]| {
    let dir = work_dir();
    let tar = dir.join("image.tar");
    std::fs::write(&tar, data).expect("write image.tar");
    // A fresh cache each run, so a run never depends on the ones before it.
    let cache = dir.join("cache");
    let _ = std::fs::remove_dir_all(&cache);
    let store = BlobStore::open(&cache).expect("open blob store");
    let opts = ImportOptions {
        threads: 1,
        max_layer_bytes: 16 << 20,
        ..Default::default()
    };
    if let Ok(images) = archive::import(&tar, &store, &opts, &mut |_| {}) {
        for image in images {
            assert!(
                store.has(&image.digest),
                "imported manifest is in the cache"
            );
        }
    }
});
