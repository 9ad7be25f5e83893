//! Blob downloads: small blobs into memory (bounded), large ones into a file, resumed with
//! `Range` after a cut, size and digest verified.

use std::path::Path;

use futures_util::StreamExt as _;
use reqwest::{StatusCode, header};
use tokio::io::AsyncWriteExt as _;

use super::connection::{RegistryClient, pull_scope};
use super::error::{RegistryError, chain, local};
use super::options::ByteCounter;
use super::retry::{Attempt, Failure};
use super::transport::read_limited;
use fleetflow_oci::{Digest, Hasher};

impl RegistryClient {
    /// Fetch a small blob (an image config) into memory, at most `limit` bytes, checking
    /// its digest.
    pub async fn get_blob_bytes(
        &self,
        repo: &str,
        digest: &Digest,
        limit: usize,
    ) -> Result<Vec<u8>, RegistryError> {
        let url = self.transport.url(&format!("/v2/{repo}/blobs/{digest}"));
        let resp = self
            .send(&[pull_scope(repo)], true, &|| self.transport.http.get(&url))
            .await?;
        if !resp.status().is_success() {
            return Err(self
                .fail(repo, &format!("blob {}", digest.short()), resp)
                .await);
        }
        let bytes = read_limited(resp, limit)
            .await
            .map_err(|message| self.protocol(format!("blob {}: {message}", digest.short())))?;
        let actual = Digest::of(&bytes);
        if &actual != digest {
            return Err(RegistryError::DigestMismatch {
                registry: self.registry().to_string(),
                what: format!("blob {repo}@{digest}"),
                expected: digest.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(bytes)
    }

    /// Download blob `digest` (`size` bytes) of `repo` into the file `partial`, resuming
    /// bytes an earlier attempt left there with `Range`, verifying size and digest. On
    /// success the file holds exactly the blob; the caller moves it into place.
    pub async fn download_blob(
        &self,
        repo: &str,
        digest: &Digest,
        size: u64,
        partial: &Path,
        progress: &ByteCounter,
    ) -> Result<(), RegistryError> {
        let url = &self.transport.url(&format!("/v2/{repo}/blobs/{digest}"));
        self.retry
            .run(|_| async move {
                let r = self
                    .download_attempt(repo, url, digest, size, partial, progress)
                    .await;
                if let Err(Failure::Final(_)) = &r {
                    let _ = std::fs::remove_file(partial);
                }
                Attempt::from(r)
            })
            .await
    }

    async fn download_attempt(
        &self,
        repo: &str,
        url: &str,
        digest: &Digest,
        size: u64,
        path: &Path,
        progress: &ByteCounter,
    ) -> Result<(), Failure<RegistryError>> {
        let fin = |e| Failure::Final(local(path, e));
        let retry = |e| Failure::Transient(e, None);
        // Hash what an earlier attempt (or killed process) left, then ask for the rest.
        let (mut hasher, mut have) = hash_prefix(path, size).map_err(fin)?;
        let resp = self
            .send(&[pull_scope(repo)], true, &|| {
                let r = self.transport.http.get(url);
                if have > 0 && have < size {
                    r.header(header::RANGE, format!("bytes={have}-"))
                } else {
                    r
                }
            })
            .await
            .map_err(|e| match e {
                RegistryError::Unreachable { .. } => retry(e),
                other => Failure::Final(other),
            })?;
        let append = match resp.status() {
            StatusCode::PARTIAL_CONTENT => {
                let ok = resp
                    .headers()
                    .get(header::CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.starts_with(&format!("bytes {have}-")));
                if !ok {
                    let _ = std::fs::remove_file(path);
                    return Err(retry(self.protocol(format!(
                        "blob {}: wrong Content-Range for a resumed download",
                        digest.short()
                    ))));
                }
                true
            }
            s if s.is_success() => false,
            _ => {
                let what = format!("blob {}", digest.short());
                return Err(Failure::Final(self.fail(repo, &what, resp).await));
            }
        };
        if append {
            progress(have);
        } else {
            hasher = Hasher::new();
            have = 0;
        }
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(path)
            .await
            .map_err(fin)?;
        let mut stream = resp.bytes_stream();
        let mut cut = None;
        while let Some(chunk) = stream.next().await {
            let c = match chunk {
                Ok(c) => c,
                Err(e) => {
                    cut = Some(chain(&e));
                    break;
                }
            };
            have += c.len() as u64;
            if have > size {
                drop(file);
                let _ = std::fs::remove_file(path);
                return Err(Failure::Final(self.protocol(format!(
                    "blob {} is larger than its descriptor's {size} bytes",
                    digest.short()
                ))));
            }
            hasher.update(&c);
            file.write_all(&c).await.map_err(fin)?;
            progress(c.len() as u64);
        }
        file.flush().await.map_err(fin)?;
        drop(file);
        if let Some(message) = cut {
            return Err(retry(self.unreachable(format!(
                "blob {} cut off after {have} of {size} bytes: {message}",
                digest.short()
            ))));
        }
        if have < size {
            return Err(retry(self.unreachable(format!(
                "blob {} ended after {have} of {size} bytes",
                digest.short()
            ))));
        }
        let actual = hasher.finish();
        if actual != *digest {
            let _ = std::fs::remove_file(path);
            return Err(retry(RegistryError::DigestMismatch {
                registry: self.registry().to_string(),
                what: format!("blob of {repo}"),
                expected: digest.to_string(),
                actual: actual.to_string(),
            }));
        }
        Ok(())
    }
}

/// The hash and length of what `path` already holds, if it can be the start of a blob of
/// `size` bytes (else: nothing, start again).
fn hash_prefix(path: &Path, size: u64) -> Result<(Hasher, u64), std::io::Error> {
    let mut hasher = Hasher::new();
    let mut have = 0u64;
    if let Ok(mut f) = std::fs::File::open(path) {
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = std::io::Read::read(&mut f, &mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            have += n as u64;
        }
    }
    if have > size {
        return Ok((Hasher::new(), 0));
    }
    Ok((hasher, have))
}
