//! One layer into the cache: a layer already gzip or zstd is kept as it is (a decoder
//! computes its DiffID on the way); an uncompressed one is hashed while it is
//! compressed (parallel gzip, multi-threaded zstd, or stored as it is). The DiffID is
//! checked against the config before the blob is committed, and which blob a DiffID
//! became is recorded, so no layer is compressed twice.

use std::io::{self, Read, Write};

use super::error::ArchiveError;
use super::gzip::{gzip_blocks, read_full};
use super::options::{Compression, ImportOptions};
use super::source::Source;
use crate::cache::{BlobStore, CacheError};
use fleetflow_oci::manifest::{self, Descriptor};
use fleetflow_oci::{Digest, HashingWriter};

pub(super) fn import_layer(
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
                return Err(source.format_err(format!(
                    "layer `{name}` decompresses to more than {} bytes",
                    opts.max_layer_bytes
                )));
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
        return Err(source.format_err(format!(
            "layer `{name}` is {size} bytes, more than the limit"
        )));
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
