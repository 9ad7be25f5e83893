//! Parallel gzip: the input is cut into 1 MiB blocks, each compressed on a worker
//! thread into its own gzip member and written in order (concatenated members are valid
//! gzip), so the output, and the blob digest, depend only on the data, not on the
//! number of threads. A 16 KiB sample of each block is deflated first: a block that
//! does not shrink by 5 % is stored, not deflated.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex, mpsc};

use fleetflow_oci::{Digest, Hasher};

/// Read until `buf` is full or the input ends; returns the bytes read.
pub(super) fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
