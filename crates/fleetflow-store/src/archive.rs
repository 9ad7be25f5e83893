//! Image archives into the cache: `docker save` tars of every kind (legacy, with
//! symlinked duplicate layers; Docker 25+ with an OCI layout beside `manifest.json`;
//! several images by `RepoTags`), OCI layout tars, and the same laid out as
//! directories.
//!
//! A tar is first indexed by its headers alone (entries are skipped with seeks), then
//! each layer is read once: an uncompressed layer is hashed (its DiffID, checked against
//! the config) while it is compressed in 1 MiB blocks on every core, each block its own
//! gzip member (valid gzip; blocks that do not compress are stored), so the output, and
//! the blob digest, do not depend on the number of threads. Which blob a DiffID became is
//! recorded, so no layer is compressed twice. Layer order is kept. Nothing is written
//! outside the cache: entry names are only looked up, never used as paths.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};

use serde::Deserialize;

use crate::cache::{BlobStore, CacheError};
use fleetflow_oci::manifest::{self, Descriptor, ImageManifest, Manifest};
use fleetflow_oci::{Digest, Hasher, HashingWriter};

/// How layers are stored in the image made from an archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// gzip (what every engine pulls).
    Gzip,
    /// zstd (OCI `…layer.v1.tar+zstd`): faster and smaller than gzip; Docker Engine 23+
    /// and containerd 1.5+ pull it, older engines cannot.
    Zstd,
    /// Uncompressed (`…layer.v1.tar`): fastest, largest.
    None,
}

impl Compression {
    /// `gzip` or `none`.
    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::None => "none",
        }
    }
}

/// Import settings.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Layer compression.
    pub compression: Compression,
    /// Threads for compression.
    pub threads: usize,
    /// Largest uncompressed size accepted for one layer (a decompression-bomb limit).
    pub max_layer_bytes: u64,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            compression: Compression::Gzip,
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            max_layer_bytes: 64 << 30,
        }
    }
}

/// An image now in the cache.
#[derive(Debug, Clone)]
pub struct ImportedImage {
    /// Manifest digest.
    pub digest: Digest,
    /// Manifest media type.
    pub media_type: String,
    /// Manifest size.
    pub size: u64,
    /// Names the archive gives it (`RepoTags`, ref-name annotations).
    pub names: Vec<String>,
}

/// Why an archive cannot be imported.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Reading the archive failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The archive.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The archive ends early.
    #[error("{}: truncated archive ({detail})", path.display())]
    Truncated {
        /// The archive.
        path: PathBuf,
        /// What was cut.
        detail: String,
    },
    /// An entry name or link that leaves the archive.
    #[error("{}: entry `{entry}` points outside the archive; refusing it", path.display())]
    PathEscape {
        /// The archive.
        path: PathBuf,
        /// The entry.
        entry: String,
    },
    /// Not a `docker save` or OCI layout archive, or inconsistent.
    #[error("{}: {message}", path.display())]
    Format {
        /// The archive.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A layer's content does not match the DiffID its config lists.
    #[error("{}: layer {index} (`{entry}`) has DiffID {actual}, but the image config lists {expected}", path.display())]
    DiffIdMismatch {
        /// The archive.
        path: PathBuf,
        /// Layer index (0 = base).
        index: usize,
        /// Entry name.
        entry: String,
        /// From the config.
        expected: Digest,
        /// Computed.
        actual: Digest,
    },
    /// The cache failed.
    #[error(transparent)]
    Cache(#[from] CacheError),
}

enum Node {
    File { offset: u64, size: u64 },
    Link(String),
}

/// Where archive members come from: a tar file or a directory.
enum Source {
    Tar {
        path: PathBuf,
        entries: HashMap<String, Node>,
    },
    Dir {
        path: PathBuf,
    },
}

/// Normalise an entry name, rejecting absolute names and `..` that leave the root.
fn normalize(name: &str) -> Option<String> {
    if name.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    Some(parts.join("/"))
}

impl Source {
    fn path(&self) -> &Path {
        match self {
            Source::Tar { path, .. } | Source::Dir { path } => path,
        }
    }

    fn io(&self) -> impl FnOnce(io::Error) -> ArchiveError + '_ {
        move |source| ArchiveError::Io {
            path: self.path().to_path_buf(),
            source,
        }
    }

    fn index_tar(path: &Path) -> Result<Source, ArchiveError> {
        let io_err = |source| ArchiveError::Io {
            path: path.to_path_buf(),
            source,
        };
        let truncated = |detail: String| ArchiveError::Truncated {
            path: path.to_path_buf(),
            detail,
        };
        let file = File::open(path).map_err(io_err)?;
        let len = file.metadata().map_err(io_err)?.len();
        let mut archive = tar::Archive::new(file);
        let mut entries = HashMap::new();
        let iter = archive
            .entries_with_seek()
            .map_err(|e| truncated(e.to_string()))?;
        for entry in iter {
            let entry = entry.map_err(|e| truncated(format!("bad tar header: {e}")))?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let escape = || ArchiveError::PathEscape {
                path: path.to_path_buf(),
                entry: raw.clone(),
            };
            let name = normalize(&raw).ok_or_else(escape)?;
            let kind = entry.header().entry_type();
            let node = if kind.is_file() {
                let offset = entry.raw_file_position();
                let size = entry.size();
                if offset + size > len {
                    return Err(truncated(format!(
                        "`{raw}` needs {size} bytes at offset {offset}, the file has {len}"
                    )));
                }
                Node::File { offset, size }
            } else if kind.is_symlink() || kind.is_hard_link() {
                let target = entry
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                let joined = if kind.is_symlink() {
                    match name.rsplit_once('/') {
                        Some((dir, _)) => format!("{dir}/{target}"),
                        None => target.clone(),
                    }
                } else {
                    target.clone()
                };
                Node::Link(normalize(&joined).ok_or_else(|| ArchiveError::PathEscape {
                    path: path.to_path_buf(),
                    entry: format!("{raw} -> {target}"),
                })?)
            } else {
                continue;
            };
            entries.insert(name, node);
        }
        if entries.is_empty() {
            return Err(ArchiveError::Format {
                path: path.to_path_buf(),
                message: "not a tar archive, or an empty one".into(),
            });
        }
        Ok(Source::Tar {
            path: path.to_path_buf(),
            entries,
        })
    }

    /// Offset and size of a member, following links.
    fn locate(&self, name: &str) -> Option<(u64, u64)> {
        let Source::Tar { entries, .. } = self else {
            return None;
        };
        let mut name = normalize(name)?;
        for _ in 0..16 {
            match entries.get(&name)? {
                Node::File { offset, size } => return Some((*offset, *size)),
                Node::Link(t) => name = t.clone(),
            }
        }
        None
    }

    fn exists(&self, name: &str) -> bool {
        match self {
            Source::Tar { .. } => self.locate(name).is_some(),
            Source::Dir { path } => normalize(name).is_some_and(|n| path.join(n).is_file()),
        }
    }

    /// Open a member: a reader over exactly its bytes, and its size.
    fn open(&self, name: &str) -> Result<(Box<dyn Read + Send>, u64), ArchiveError> {
        let missing = || ArchiveError::Format {
            path: self.path().to_path_buf(),
            message: format!("`{name}` is listed but not in the archive"),
        };
        match self {
            Source::Tar { path, .. } => {
                let (offset, size) = self.locate(name).ok_or_else(missing)?;
                let mut f = File::open(path).map_err(self.io())?;
                f.seek(SeekFrom::Start(offset)).map_err(self.io())?;
                Ok((Box::new(f.take(size)), size))
            }
            Source::Dir { path } => {
                let n = normalize(name).ok_or_else(|| ArchiveError::PathEscape {
                    path: path.clone(),
                    entry: name.to_string(),
                })?;
                let p = path.join(n);
                let f = File::open(&p).map_err(|_| missing())?;
                let size = f.metadata().map_err(self.io())?.len();
                Ok((Box::new(f), size))
            }
        }
    }

    fn read_small(&self, name: &str, limit: u64) -> Result<Vec<u8>, ArchiveError> {
        let (r, size) = self.open(name)?;
        if size > limit {
            return Err(ArchiveError::Format {
                path: self.path().to_path_buf(),
                message: format!("`{name}` is {size} bytes, more than the {limit}-byte limit"),
            });
        }
        let mut buf = Vec::with_capacity(size as usize);
        r.take(limit).read_to_end(&mut buf).map_err(self.io())?;
        Ok(buf)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SaveEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

#[derive(Deserialize)]
struct ConfigRootfs {
    rootfs: Rootfs,
}

#[derive(Deserialize)]
struct Rootfs {
    diff_ids: Vec<Digest>,
}

const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// Import the archive (tar file or directory) at `path` into `store`. `on_blob` is
/// called with each blob as soon as it is in the cache (layers in order, then the
/// config), so a caller can start uploading it while the next layer is compressed.
pub fn import(
    path: &Path,
    store: &BlobStore,
    opts: &ImportOptions,
    on_blob: &mut dyn FnMut(&Descriptor),
) -> Result<Vec<ImportedImage>, ArchiveError> {
    let source = if path.is_dir() {
        Source::Dir {
            path: path.to_path_buf(),
        }
    } else {
        Source::index_tar(path)?
    };
    if source.exists("manifest.json") {
        import_docker_save(&source, store, opts, on_blob)
    } else if source.exists("index.json") {
        import_oci_layout(&source, store, on_blob)
    } else {
        Err(ArchiveError::Format {
            path: path.to_path_buf(),
            message: "neither a `docker save` archive (no manifest.json) nor an OCI layout (no index.json)".into(),
        })
    }
}

fn format_err(source: &Source, message: String) -> ArchiveError {
    ArchiveError::Format {
        path: source.path().to_path_buf(),
        message,
    }
}

fn import_docker_save(
    source: &Source,
    store: &BlobStore,
    opts: &ImportOptions,
    on_blob: &mut dyn FnMut(&Descriptor),
) -> Result<Vec<ImportedImage>, ArchiveError> {
    let bytes = source.read_small("manifest.json", MAX_CONFIG_BYTES)?;
    let images: Vec<SaveEntry> = serde_json::from_slice(&bytes).map_err(|e| {
        format_err(
            source,
            format!("manifest.json is not a docker save manifest: {e}"),
        )
    })?;
    if images.is_empty() {
        return Err(format_err(source, "manifest.json lists no image".into()));
    }
    let (family_manifest, family_config, layer_type) = match opts.compression {
        Compression::Gzip => (
            manifest::DOCKER_MANIFEST,
            manifest::DOCKER_CONFIG,
            manifest::DOCKER_LAYER_GZIP,
        ),
        Compression::None => (
            manifest::OCI_MANIFEST,
            manifest::OCI_CONFIG,
            manifest::OCI_LAYER_TAR,
        ),
        Compression::Zstd => (
            manifest::OCI_MANIFEST,
            manifest::OCI_CONFIG,
            manifest::OCI_LAYER_ZSTD,
        ),
    };
    let mut done: HashMap<(String, Digest), Descriptor> = HashMap::new();
    let mut out = Vec::new();
    for image in images {
        let config = source.read_small(&image.config, MAX_CONFIG_BYTES)?;
        let parsed: ConfigRootfs = serde_json::from_slice(&config).map_err(|e| {
            format_err(
                source,
                format!(
                    "`{}` is not an image config with rootfs.diff_ids: {e}",
                    image.config
                ),
            )
        })?;
        if parsed.rootfs.diff_ids.len() != image.layers.len() {
            return Err(format_err(
                source,
                format!(
                    "manifest.json lists {} layers for `{}`, its config lists {} DiffIDs",
                    image.layers.len(),
                    image.config,
                    parsed.rootfs.diff_ids.len()
                ),
            ));
        }
        let mut layers = Vec::new();
        for (index, (name, diff_id)) in image.layers.iter().zip(&parsed.rootfs.diff_ids).enumerate()
        {
            let key = (normalize(name).unwrap_or_default(), diff_id.clone());
            if let Some(d) = done.get(&key) {
                layers.push(d.clone());
                continue;
            }
            let desc = import_layer(source, store, opts, name, index, diff_id, layer_type)?;
            on_blob(&desc);
            done.insert(key, desc.clone());
            layers.push(desc);
        }
        // A kept zstd layer cannot sit in a Docker manifest: then all is OCI.
        let oci = layers
            .iter()
            .any(|l| l.media_type.starts_with("application/vnd.oci."));
        let (family_manifest, family_config) = if oci {
            for l in &mut layers {
                if l.media_type == manifest::DOCKER_LAYER_GZIP {
                    l.media_type = manifest::OCI_LAYER_GZIP.to_string();
                }
            }
            (manifest::OCI_MANIFEST, manifest::OCI_CONFIG)
        } else {
            (family_manifest, family_config)
        };
        let config_digest = store.put_bytes(&config, None)?;
        let config_desc = Descriptor::new(family_config, config_digest, config.len() as u64);
        on_blob(&config_desc);
        let m = ImageManifest {
            schema_version: 2,
            media_type: Some(family_manifest.to_string()),
            artifact_type: None,
            config: config_desc,
            layers,
            subject: None,
            annotations: None,
        };
        let bytes = serde_json::to_vec_pretty(&m).expect("serialisable");
        let digest = store.put_bytes(&bytes, None)?;
        out.push(ImportedImage {
            digest,
            media_type: family_manifest.to_string(),
            size: bytes.len() as u64,
            names: image.repo_tags.unwrap_or_default(),
        });
    }
    Ok(out)
}

fn import_layer(
    source: &Source,
    store: &BlobStore,
    opts: &ImportOptions,
    name: &str,
    index: usize,
    diff_id: &Digest,
    layer_type: &str,
) -> Result<Descriptor, ArchiveError> {
    let (mut reader, size) = source.open(name)?;
    let mut magic = [0u8; 4];
    let n = read_full(&mut reader, &mut magic).map_err(source.io())?;
    let head = &magic[..n];
    let reader = io::Cursor::new(head.to_vec()).chain(reader);
    let mismatch = |actual: Digest| ArchiveError::DiffIdMismatch {
        path: source.path().to_path_buf(),
        index,
        entry: name.to_string(),
        expected: diff_id.clone(),
        actual,
    };
    let descriptor =
        |media_type: &str, digest: Digest, size: u64| Descriptor::new(media_type, digest, size);
    let truncated = |e: io::Error| ArchiveError::Truncated {
        path: source.path().to_path_buf(),
        detail: format!("layer `{name}`: {e}"),
    };
    let kept = if head.starts_with(&[0x1f, 0x8b]) {
        let gzip_type = if layer_type == manifest::DOCKER_LAYER_GZIP {
            manifest::DOCKER_LAYER_GZIP
        } else {
            manifest::OCI_LAYER_GZIP
        };
        let d = flate2::write::MultiGzDecoder::new(HashingWriter::new(io::sink()));
        Some((gzip_type, Decoder::Gzip(Box::new(d))))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let d = zstd::stream::write::Decoder::new(HashingWriter::new(io::sink()))
            .map_err(source.io())?;
        Some((manifest::OCI_LAYER_ZSTD, Decoder::Zstd(d)))
    } else {
        None
    };
    if let Some((media_type, mut diff)) = kept {
        // Already compressed (containerd image store): keep the blob, check the DiffID
        // of what it decompresses to.
        let mut w = store.writer()?;
        let mut reader = reader;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = reader.read(&mut buf).map_err(truncated)?;
            if n == 0 {
                break;
            }
            w.write_all(&buf[..n]).map_err(source.io())?;
            diff.write_all(&buf[..n]).map_err(truncated)?;
            if diff.decoded() > opts.max_layer_bytes {
                return Err(format_err(
                    source,
                    format!(
                        "layer `{name}` decompresses to more than {} bytes",
                        opts.max_layer_bytes
                    ),
                ));
            }
        }
        let actual = diff.finish().map_err(truncated)?;
        if actual != *diff_id {
            return Err(mismatch(actual));
        }
        let written = w.written();
        let digest = w.commit(None, name)?;
        return Ok(descriptor(media_type, digest, written));
    }
    if size > opts.max_layer_bytes {
        return Err(format_err(
            source,
            format!("layer `{name}` is {size} bytes, more than the limit"),
        ));
    }
    match opts.compression {
        Compression::None => {
            let mut w = store.writer()?;
            let mut reader = reader;
            io::copy(&mut reader, &mut w).map_err(truncated)?;
            let written = w.written();
            // Uncompressed: the blob digest is the DiffID, checked by commit.
            let digest = w.commit(Some(diff_id), name).map_err(|e| match e {
                CacheError::DigestMismatch { actual, .. } => mismatch(actual),
                other => other.into(),
            })?;
            Ok(descriptor(layer_type, digest, written))
        }
        Compression::Gzip | Compression::Zstd => {
            let kind = opts.compression.name();
            if let Some((blob, blob_size)) = store.compressed_for(diff_id, kind) {
                // Compressed before: only prove the layer is the same.
                let mut h = HashingWriter::new(io::sink());
                let mut reader = reader;
                io::copy(&mut reader, &mut h).map_err(truncated)?;
                let (_, actual, _) = h.finish();
                if actual != *diff_id {
                    return Err(mismatch(actual));
                }
                return Ok(descriptor(layer_type, blob, blob_size));
            }
            let mut w = store.writer()?;
            let (actual, _) = if opts.compression == Compression::Gzip {
                gzip_blocks(reader, &mut w, opts.threads).map_err(truncated)?
            } else {
                zstd_layer(reader, &mut w, opts.threads).map_err(truncated)?
            };
            if actual != *diff_id {
                return Err(mismatch(actual));
            }
            let written = w.written();
            let digest = w.commit(None, name)?;
            store.record_compressed(diff_id, kind, &digest)?;
            Ok(descriptor(layer_type, digest, written))
        }
    }
}

/// A decompressor that hashes what it decompresses (the DiffID).
enum Decoder {
    Gzip(Box<flate2::write::MultiGzDecoder<HashingWriter<io::Sink>>>),
    Zstd(zstd::stream::write::Decoder<'static, HashingWriter<io::Sink>>),
}

impl Decoder {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Decoder::Gzip(d) => d.write_all(buf),
            Decoder::Zstd(d) => d.write_all(buf),
        }
    }
    fn decoded(&self) -> u64 {
        match self {
            Decoder::Gzip(d) => d.get_ref().count_so_far(),
            Decoder::Zstd(d) => d.get_ref().count_so_far(),
        }
    }
    fn finish(self) -> io::Result<Digest> {
        let inner = match self {
            Decoder::Gzip(d) => (*d).finish()?,
            Decoder::Zstd(mut d) => {
                d.flush()?;
                d.into_inner()
            }
        };
        Ok(inner.finish().1)
    }
}

/// zstd level 3 on `threads` workers (zstd's multi-threaded output does not depend on
/// the number of workers). Returns the digest and size of the uncompressed input.
fn zstd_layer(input: impl Read, out: &mut impl Write, threads: usize) -> io::Result<(Digest, u64)> {
    let mut enc = zstd::stream::write::Encoder::new(out, 3)?;
    enc.multithread(threads.max(1) as u32)?;
    let mut reader = fleetflow_oci::HashingReader::new(input);
    io::copy(&mut reader, &mut enc)?;
    enc.finish()?;
    Ok(reader.finish())
}

fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Block size for parallel gzip.
pub const GZIP_BLOCK: usize = 1 << 20;

fn gzip_block(buf: &[u8]) -> io::Result<Vec<u8>> {
    // A 16 KiB sample decides: data that does not shrink is stored, not deflated.
    let sample = &buf[..buf.len().min(16 << 10)];
    let mut probe = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    probe.write_all(sample)?;
    let probed = probe.finish()?.len();
    let level = if probed as f64 > sample.len() as f64 * 0.95 {
        flate2::Compression::none()
    } else {
        flate2::Compression::fast()
    };
    let mut enc = flate2::GzBuilder::new().write(Vec::with_capacity(buf.len() / 2 + 64), level);
    enc.write_all(buf)?;
    enc.finish()
}

/// gzip `input` into `out` as independent members of [`GZIP_BLOCK`] bytes compressed
/// on `threads` threads, in order. Returns the digest and size of the uncompressed input.
pub fn gzip_blocks(
    mut input: impl Read + Send,
    out: &mut (impl Write + Send),
    threads: usize,
) -> io::Result<(Digest, u64)> {
    let threads = threads.max(1);
    std::thread::scope(|s| {
        let (work_tx, work_rx) = mpsc::sync_channel::<(u64, Vec<u8>)>(threads);
        let work_rx = Arc::new(Mutex::new(work_rx));
        let (done_tx, done_rx) = mpsc::sync_channel::<(u64, io::Result<Vec<u8>>)>(threads * 2);
        for _ in 0..threads {
            let rx = Arc::clone(&work_rx);
            let tx = done_tx.clone();
            s.spawn(move || {
                loop {
                    let job = rx.lock().expect("work queue").recv();
                    let Ok((i, buf)) = job else { break };
                    if tx.send((i, gzip_block(&buf))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);
        drop(work_rx);
        let reader = s.spawn(move || -> io::Result<(Digest, u64, u64)> {
            let mut hasher = Hasher::new();
            let mut total = 0u64;
            let mut blocks = 0u64;
            loop {
                let mut buf = vec![0u8; GZIP_BLOCK];
                let n = read_full(&mut input, &mut buf)?;
                if n == 0 {
                    break;
                }
                buf.truncate(n);
                hasher.update(&buf);
                total += n as u64;
                if work_tx.send((blocks, buf)).is_err() {
                    break;
                }
                blocks += 1;
            }
            Ok((hasher.finish(), total, blocks))
        });
        let mut pending = BTreeMap::new();
        let mut next = 0u64;
        let mut failed = None;
        for (i, block) in done_rx {
            match block {
                Ok(b) => {
                    pending.insert(i, b);
                }
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
            while let Some(b) = pending.remove(&next) {
                if let Err(e) = out.write_all(&b) {
                    failed = Some(e);
                    break;
                }
                next += 1;
            }
            if failed.is_some() {
                break;
            }
        }
        let read = reader.join().expect("reader thread");
        if let Some(e) = failed {
            return Err(e);
        }
        let (digest, total, blocks) = read?;
        if blocks == 0 {
            out.write_all(&gzip_block(&[])?)?;
        }
        Ok((digest, total))
    })
}

fn import_oci_layout(
    source: &Source,
    store: &BlobStore,
    on_blob: &mut dyn FnMut(&Descriptor),
) -> Result<Vec<ImportedImage>, ArchiveError> {
    let bytes = source.read_small("index.json", manifest::MAX_MANIFEST_BYTES as u64)?;
    let Manifest::Index(index) = Manifest::parse(&bytes, Some(manifest::OCI_INDEX))
        .map_err(|e| format_err(source, format!("index.json: {e}")))?
    else {
        return Err(format_err(
            source,
            "index.json is not an image index".into(),
        ));
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
        return Err(format_err(source, "indexes nested too deep".into()));
    }
    let name = format!("blobs/sha256/{}", desc.digest.hex());
    let bytes = source.read_small(&name, manifest::MAX_MANIFEST_BYTES as u64)?;
    store
        .put_bytes(&bytes, Some(&desc.digest))
        .map_err(|e| match e {
            CacheError::DigestMismatch { actual, .. } => {
                format_err(source, format!("`{name}` hashes to {actual}"))
            }
            other => other.into(),
        })?;
    match Manifest::parse(&bytes, Some(&desc.media_type))
        .map_err(|e| format_err(source, format!("`{name}`: {e}")))?
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
                            format_err(source, format!("`{name}` hashes to {actual}"))
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn normalize_rejects_escapes() {
        assert_eq!(normalize("./a/b/../c").as_deref(), Some("a/c"));
        assert_eq!(normalize("/etc/passwd"), None);
        assert_eq!(normalize("a/../../x"), None);
    }

    #[test]
    fn parallel_gzip_is_valid_and_independent_of_threads() {
        let mut data = Vec::new();
        for i in 0..(3 * GZIP_BLOCK / 8 + 17) {
            data.extend_from_slice(&(i as u64 % 1000).to_le_bytes());
        }
        // Some incompressible bytes too (stored blocks).
        let mut x = 1u64;
        for _ in 0..GZIP_BLOCK {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            data.push(x as u8);
        }
        let mut one = Vec::new();
        let (d1, n1) = gzip_blocks(&data[..], &mut one, 1).unwrap();
        let mut two = Vec::new();
        let (d2, _) = gzip_blocks(&data[..], &mut two, 3).unwrap();
        assert_eq!(one, two, "output must not depend on the thread count");
        assert_eq!((d1.clone(), n1), (Digest::of(&data), data.len() as u64));
        assert_eq!(d2, d1);
        let mut back = Vec::new();
        flate2::read::MultiGzDecoder::new(&one[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
        let mut empty = Vec::new();
        gzip_blocks(&[][..], &mut empty, 2).unwrap();
        let mut back = Vec::new();
        flate2::read::MultiGzDecoder::new(&empty[..])
            .read_to_end(&mut back)
            .unwrap();
        assert!(back.is_empty() && !empty.is_empty());
    }
}
