//! What an import is asked to do and what it yields.

use fleetflow_oci::Digest;

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
