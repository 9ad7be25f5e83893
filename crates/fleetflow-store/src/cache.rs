//! The content-addressed blob cache: `blobs/sha256/<hex>` plus an index of
//! registry-qualified references (`refs.json`) and a record of which compressed blob
//! each uncompressed layer (DiffID) became (`diffids.json`).
//!
//! Every blob enters through a [`BlobWriter`]: a temp file in `tmp/` that is hashed
//! while written, checked against the expected digest, fsynced and renamed into place,
//! so a blob under its name always hashes to that name. Processes share the cache: each
//! holds a shared lock on `lock` while it works and `clean` takes it exclusively;
//! `refs.json` and `diffids.json` are rewritten atomically under `index.lock`; a blob
//! being downloaded is guarded by `tmp/<hex>.lock`. Leftovers of killed runs (temp files
//! of dead processes) are removed when the cache is opened.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use fleetflow_oci::Manifest;
use fleetflow_oci::manifest::MAX_MANIFEST_BYTES;
use fleetflow_oci::{Digest, HashingWriter};

/// A cache problem.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// File-system error on a path.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// Content did not hash to the digest it was expected to have.
    #[error("{what}: content is {actual}, expected {expected}")]
    DigestMismatch {
        /// What was being stored.
        what: String,
        /// The digest expected.
        expected: Digest,
        /// The digest computed.
        actual: Digest,
    },
    /// A reference or blob that is not in the cache.
    #[error("{0} is not in the cache")]
    Missing(String),
    /// A cache file that cannot be read.
    #[error("{}: {message}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> CacheError + '_ {
    move |source| CacheError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Open (creating) a lock file.
fn lock_file(path: &Path) -> Result<File, CacheError> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(io_err(path))
}

/// What a cached reference points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefEntry {
    /// Digest of the manifest or index.
    pub digest: Digest,
    /// Its media type.
    pub media_type: String,
    /// Its size.
    pub size: u64,
    /// Where it came from: `pull`, `import` or `push`.
    pub source: String,
    /// Seconds since the epoch when it was recorded.
    pub updated: u64,
}

/// The blob cache.
#[derive(Debug)]
pub struct BlobStore {
    root: PathBuf,
    _shared: File,
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl BlobStore {
    /// The default cache directory: `$FLOW_CACHE_DIR`, else `<user cache dir>/flow/images`.
    pub fn default_dir() -> PathBuf {
        std::env::var_os("FLOW_CACHE_DIR")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                dirs::cache_dir()
                    .unwrap_or_else(std::env::temp_dir)
                    .join("flow")
                    .join("images")
            })
    }

    /// Open (creating) the cache at `root`, take a shared lock for this process's work and
    /// remove temp files that dead processes left.
    pub fn open(root: impl Into<PathBuf>) -> Result<BlobStore, CacheError> {
        let root = root.into();
        for d in ["blobs/sha256", "tmp"] {
            let p = root.join(d);
            fs::create_dir_all(&p).map_err(io_err(&p))?;
        }
        let lock_path = root.join("lock");
        let lock = lock_file(&lock_path)?;
        lock.lock_shared().map_err(io_err(&lock_path))?;
        let store = BlobStore {
            root,
            _shared: lock,
        };
        store.remove_dead_temp_files();
        Ok(store)
    }

    /// The cache directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn remove_dead_temp_files(&self) {
        let Ok(entries) = fs::read_dir(self.root.join("tmp")) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            // `<pid>-<n>.tmp`: a writer's temp file; its process is gone if /proc says so.
            if let Some(pid) = name
                .strip_suffix(".tmp")
                .and_then(|s| s.split('-').next())
                .and_then(|p| p.parse::<u32>().ok())
                && !Path::new(&format!("/proc/{pid}")).exists()
            {
                let _ = fs::remove_file(e.path());
            }
        }
    }

    /// Where the blob `digest` lives (whether or not it is there).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    /// Is the blob present?
    pub fn has(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Size of a present blob.
    pub fn size(&self, digest: &Digest) -> Option<u64> {
        fs::metadata(self.blob_path(digest)).ok().map(|m| m.len())
    }

    /// Start writing a new blob.
    pub fn writer(&self) -> Result<BlobWriter, CacheError> {
        let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = self
            .root
            .join("tmp")
            .join(format!("{}-{n}.tmp", std::process::id()));
        let file = File::create(&path).map_err(io_err(&path))?;
        Ok(BlobWriter {
            inner: Some(HashingWriter::new(io::BufWriter::with_capacity(
                1 << 20,
                file,
            ))),
            path,
            blobs: self.root.join("blobs/sha256"),
        })
    }

    /// Store `bytes` (a manifest or config), checking them against `expected` if given.
    pub fn put_bytes(&self, bytes: &[u8], expected: Option<&Digest>) -> Result<Digest, CacheError> {
        let digest = Digest::of(bytes);
        if let Some(e) = expected
            && *e != digest
        {
            return Err(CacheError::DigestMismatch {
                what: "document".into(),
                expected: e.clone(),
                actual: digest,
            });
        }
        if self.has(&digest) {
            return Ok(digest);
        }
        let mut w = self.writer()?;
        w.write_all(bytes).map_err(io_err(&w.path))?;
        w.commit(Some(&digest), "document")
    }

    /// Read a small blob (manifest, config), verifying that it hashes to its name.
    pub fn read_bytes(&self, digest: &Digest) -> Result<Vec<u8>, CacheError> {
        let path = self.blob_path(digest);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(CacheError::Missing(format!("blob {digest}")));
            }
            Err(e) => return Err(io_err(&path)(e)),
        };
        let mut bytes = Vec::new();
        file.take(MAX_MANIFEST_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(io_err(&path))?;
        let actual = Digest::of(&bytes);
        if actual != *digest {
            return Err(CacheError::DigestMismatch {
                what: path.display().to_string(),
                expected: digest.clone(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// Verify a (large) blob on disk hashes to its name.
    pub fn verify(&self, digest: &Digest) -> Result<(), CacheError> {
        let path = self.blob_path(digest);
        let mut f = File::open(&path).map_err(io_err(&path))?;
        let mut w = HashingWriter::new(io::sink());
        io::copy(&mut f, &mut w).map_err(io_err(&path))?;
        let (_, actual, _) = w.finish();
        if actual == *digest {
            Ok(())
        } else {
            Err(CacheError::DigestMismatch {
                what: path.display().to_string(),
                expected: digest.clone(),
                actual,
            })
        }
    }

    /// A lock for downloading one blob, held until dropped; with it, the partial file.
    pub fn partial(&self, digest: &Digest) -> Result<PartialBlob, CacheError> {
        let lock_path = self.root.join("tmp").join(format!("{}.lock", digest.hex()));
        let lock = lock_file(&lock_path)?;
        lock.lock().map_err(io_err(&lock_path))?;
        Ok(PartialBlob {
            path: self
                .root
                .join("tmp")
                .join(format!("{}.partial", digest.hex())),
            _lock: lock,
            lock_path,
            final_path: self.blob_path(digest),
            digest: digest.clone(),
        })
    }

    fn index_lock(&self) -> Result<File, CacheError> {
        let p = self.root.join("index.lock");
        let f = lock_file(&p)?;
        f.lock().map_err(io_err(&p))?;
        Ok(f)
    }

    fn read_json<T: for<'de> Deserialize<'de> + Default>(
        &self,
        name: &str,
    ) -> Result<T, CacheError> {
        let p = self.root.join(name);
        match fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| CacheError::Corrupt {
                path: p,
                message: format!("{e}; delete the file to start a fresh index"),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(T::default()),
            Err(e) => Err(io_err(&p)(e)),
        }
    }

    fn write_json<T: Serialize>(&self, name: &str, value: &T) -> Result<(), CacheError> {
        let p = self.root.join(name);
        let tmp = self.root.join(format!("{name}.{}.tmp", std::process::id()));
        let bytes = serde_json::to_vec_pretty(value).expect("serialisable");
        let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
        f.write_all(&bytes).map_err(io_err(&tmp))?;
        f.sync_all().map_err(io_err(&tmp))?;
        fs::rename(&tmp, &p).map_err(io_err(&p))
    }

    /// Every cached reference.
    pub fn refs(&self) -> Result<BTreeMap<String, RefEntry>, CacheError> {
        self.read_json("refs.json")
    }

    /// The entry for `name` (a normalised reference).
    pub fn get_ref(&self, name: &str) -> Result<RefEntry, CacheError> {
        self.refs()?
            .remove(name)
            .ok_or_else(|| CacheError::Missing(name.to_string()))
    }

    /// Record `name` → `entry`.
    pub fn set_ref(&self, name: &str, entry: RefEntry) -> Result<(), CacheError> {
        let _g = self.index_lock()?;
        let mut refs = self.refs()?;
        refs.insert(name.to_string(), entry);
        self.write_json("refs.json", &refs)
    }

    /// Forget `name`; false if it was not there.
    pub fn remove_ref(&self, name: &str) -> Result<bool, CacheError> {
        let _g = self.index_lock()?;
        let mut refs = self.refs()?;
        let had = refs.remove(name).is_some();
        if had {
            self.write_json("refs.json", &refs)?;
        }
        Ok(had)
    }

    /// The compressed blob recorded for a DiffID with a compression, if it is still
    /// present.
    pub fn compressed_for(&self, diff_id: &Digest, compression: &str) -> Option<(Digest, u64)> {
        let map: BTreeMap<String, Digest> = self.read_json("diffids.json").ok()?;
        let d = map.get(&format!("{compression}:{diff_id}"))?.clone();
        let size = self.size(&d)?;
        Some((d, size))
    }

    /// Record that `diff_id`, compressed with `compression`, is blob `blob`.
    pub fn record_compressed(
        &self,
        diff_id: &Digest,
        compression: &str,
        blob: &Digest,
    ) -> Result<(), CacheError> {
        let _g = self.index_lock()?;
        let mut map: BTreeMap<String, Digest> = self.read_json("diffids.json")?;
        map.insert(format!("{compression}:{diff_id}"), blob.clone());
        self.write_json("diffids.json", &map)
    }

    /// Remove every blob no reference reaches (every blob with `all`), and unlocked
    /// partial downloads. Waits for other processes using the cache to finish.
    pub fn clean(self, all: bool) -> Result<CleanReport, CacheError> {
        let root = self.root.clone();
        drop(self);
        let lock_path = root.join("lock");
        let lock = lock_file(&lock_path)?;
        lock.lock().map_err(io_err(&lock_path))?;
        let store = BlobStore {
            root: root.clone(),
            _shared: lock,
        };
        let mut keep = BTreeSet::new();
        if all {
            let _g = store.index_lock()?;
            store.write_json("refs.json", &BTreeMap::<String, RefEntry>::new())?;
            store.write_json("diffids.json", &BTreeMap::<String, Digest>::new())?;
        } else {
            for entry in store.refs()?.values() {
                store.mark(&entry.digest, &mut keep);
            }
        }
        let mut report = CleanReport::default();
        let blobs = root.join("blobs/sha256");
        for e in fs::read_dir(&blobs).map_err(io_err(&blobs))?.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !keep.contains(&name) {
                let len = e.metadata().map(|m| m.len()).unwrap_or(0);
                fs::remove_file(e.path()).map_err(io_err(&e.path()))?;
                report.blobs += 1;
                report.bytes += len;
            }
        }
        let tmp = root.join("tmp");
        for e in fs::read_dir(&tmp).map_err(io_err(&tmp))?.flatten() {
            let len = e.metadata().map(|m| m.len()).unwrap_or(0);
            if fs::remove_file(e.path()).is_ok() {
                report.bytes += len;
            }
        }
        Ok(report)
    }

    /// Mark `digest` and everything it references as kept.
    fn mark(&self, digest: &Digest, keep: &mut BTreeSet<String>) {
        if !keep.insert(digest.hex().to_string()) {
            return;
        }
        let Ok(bytes) = self.read_bytes(digest) else {
            return;
        };
        match Manifest::parse(&bytes, None) {
            Ok(Manifest::Image(m)) => {
                keep.insert(m.config.digest.hex().to_string());
                for l in m.layers {
                    keep.insert(l.digest.hex().to_string());
                }
            }
            Ok(Manifest::Index(i)) => {
                for m in i.manifests {
                    self.mark(&m.digest, keep);
                }
            }
            Err(_) => {}
        }
    }
}

/// What `clean` removed.
#[derive(Debug, Default, Clone, Copy)]
pub struct CleanReport {
    /// Blobs removed.
    pub blobs: u64,
    /// Bytes freed.
    pub bytes: u64,
}

/// A blob being written: hashed as it goes, renamed into place by [`BlobWriter::commit`],
/// removed if dropped uncommitted.
pub struct BlobWriter {
    inner: Option<HashingWriter<io::BufWriter<File>>>,
    path: PathBuf,
    blobs: PathBuf,
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.as_mut().expect("open writer").write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.as_mut().expect("open writer").flush()
    }
}

impl BlobWriter {
    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.inner.as_ref().map_or(0, |w| w.count_so_far())
    }

    /// Finish: check the digest against `expected` (if given), fsync, rename into
    /// `blobs/sha256/`. `what` names the content in errors.
    pub fn commit(mut self, expected: Option<&Digest>, what: &str) -> Result<Digest, CacheError> {
        let (buf, digest, _) = self.inner.take().expect("open writer").finish();
        let file = buf
            .into_inner()
            .map_err(|e| io_err(&self.path)(e.into_error()))?;
        if let Some(e) = expected
            && *e != digest
        {
            let _ = fs::remove_file(&self.path);
            return Err(CacheError::DigestMismatch {
                what: what.to_string(),
                expected: e.clone(),
                actual: digest,
            });
        }
        file.sync_all().map_err(io_err(&self.path))?;
        let dest = self.blobs.join(digest.hex());
        fs::rename(&self.path, &dest).map_err(io_err(&dest))?;
        Ok(digest)
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if self.inner.is_some() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// A download in progress: `tmp/<hex>.partial`, owned by whoever holds `tmp/<hex>.lock`.
pub struct PartialBlob {
    /// The partial file (may hold bytes of an earlier, interrupted download).
    pub path: PathBuf,
    /// Where the verified blob goes.
    pub final_path: PathBuf,
    /// The blob's digest.
    pub digest: Digest,
    lock_path: PathBuf,
    _lock: File,
}

impl PartialBlob {
    /// Move the verified partial file into place.
    pub fn commit(self) -> Result<(), CacheError> {
        let f = File::open(&self.path).map_err(io_err(&self.path))?;
        f.sync_all().map_err(io_err(&self.path))?;
        fs::rename(&self.path, &self.final_path).map_err(io_err(&self.final_path))?;
        let _ = fs::remove_file(&self.lock_path);
        Ok(())
    }
}
