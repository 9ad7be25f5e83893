//! Blob uploads: existence check, cross-repository mount, and the upload itself, whole
//! (one streamed PUT) or in PATCH chunks. A failed upload is restarted from a new session
//! through the retry driver; the digest the registry reports is checked.

use std::path::Path;

use futures_util::StreamExt as _;
use reqwest::{StatusCode, header};

use super::auth::challenge_of;
use super::connection::{RegistryClient, pull_scope, push_scope};
use super::error::{RegistryError, chain, local};
use super::manifests::claimed_digest;
use super::options::ByteCounter;
use super::retry::{Failure, retry_after, transient};
use fleetflow_oci::Digest;

/// How a blob got to the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobPush {
    /// It was there already.
    Exists,
    /// Mounted from another repository of the same registry.
    Mounted,
    /// Uploaded.
    Uploaded,
}

enum Upload {
    Mounted,
    Session(String),
}

fn with_digest(location: &str, digest: &Digest) -> String {
    let sep = if location.contains('?') { '&' } else { '?' };
    format!("{location}{sep}digest={digest}")
}

impl RegistryClient {
    /// Size of the blob if the repository has it.
    pub async fn blob_exists(
        &self,
        repo: &str,
        digest: &Digest,
    ) -> Result<Option<u64>, RegistryError> {
        let url = self.transport.url(&format!("/v2/{repo}/blobs/{digest}"));
        let resp = self
            .send(&[pull_scope(repo)], true, &|| {
                self.transport.http.head(&url)
            })
            .await?;
        match resp.status() {
            // The header, not `content_length()`: a HEAD answer's body is empty.
            s if s.is_success() => Ok(Some(
                resp.headers()
                    .get(header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok()?.parse().ok())
                    .unwrap_or(0),
            )),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(self
                .fail(repo, &format!("HEAD blob {}", digest.short()), resp)
                .await),
        }
    }

    /// Push the blob in file `path` (`digest`, `size` bytes) to `repo`: skip it if it
    /// exists (unless `force`), try a mount from `mount_from`, else upload it. A failed
    /// upload is restarted from a new session, up to the retry limit.
    #[allow(clippy::too_many_arguments)] // each is a separate, named input of one upload
    pub async fn push_blob(
        &self,
        repo: &str,
        digest: &Digest,
        size: u64,
        path: &Path,
        mount_from: Option<&str>,
        force: bool,
        progress: &ByteCounter,
    ) -> Result<BlobPush, RegistryError> {
        if !force && self.blob_exists(repo, digest).await?.is_some() {
            return Ok(BlobPush::Exists);
        }
        self.retry
            .run(|_| async move {
                let attempt = async {
                    let location = match self.start_upload(repo, digest, mount_from).await {
                        Ok(Upload::Mounted) => return Ok(BlobPush::Mounted),
                        Ok(Upload::Session(l)) => l,
                        Err(e) => return Err(Failure::Final(e)),
                    };
                    match self.opts.chunk_size {
                        Some(chunk) => {
                            let whole = (path, size, chunk);
                            self.upload_chunked(repo, &location, digest, whole, progress)
                                .await?;
                        }
                        None => {
                            self.upload_whole(repo, &location, digest, size, path, progress)
                                .await?;
                        }
                    }
                    Ok(BlobPush::Uploaded)
                };
                attempt.await.into()
            })
            .await
    }

    /// Make blob `digest` present in `repo` without uploading: true if it was there or
    /// a cross-repository mount from `from` worked.
    pub async fn push_blob_mount_only(
        &self,
        repo: &str,
        digest: &Digest,
        from: &str,
    ) -> Result<bool, RegistryError> {
        if self.blob_exists(repo, digest).await?.is_some() {
            return Ok(true);
        }
        Ok(matches!(
            self.start_upload(repo, digest, Some(from)).await?,
            Upload::Mounted
        ))
    }

    async fn start_upload(
        &self,
        repo: &str,
        digest: &Digest,
        mount_from: Option<&str>,
    ) -> Result<Upload, RegistryError> {
        let mut scopes = vec![push_scope(repo)];
        let url = match mount_from.filter(|from| *from != repo) {
            Some(from) => {
                scopes.push(pull_scope(from));
                self.transport.url(&format!(
                    "/v2/{repo}/blobs/uploads/?mount={digest}&from={from}"
                ))
            }
            None => self.transport.url(&format!("/v2/{repo}/blobs/uploads/")),
        };
        let resp = self
            .send(&scopes, true, &|| {
                self.transport
                    .http
                    .post(&url)
                    .header(header::CONTENT_LENGTH, "0")
            })
            .await?;
        match resp.status() {
            StatusCode::CREATED if mount_from.is_some() => Ok(Upload::Mounted),
            StatusCode::ACCEPTED => {
                let loc = resp
                    .headers()
                    .get(header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| self.protocol("upload started without a Location".into()))?;
                Ok(Upload::Session(self.transport.resolve_location(loc)))
            }
            _ => Err(self.fail(repo, "start blob upload", resp).await),
        }
    }

    async fn upload_whole(
        &self,
        repo: &str,
        location: &str,
        digest: &Digest,
        size: u64,
        path: &Path,
        progress: &ByteCounter,
    ) -> Result<(), Failure<RegistryError>> {
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| Failure::Final(local(path, e)))?;
        let counter = progress.clone();
        let stream =
            tokio_util::io::ReaderStream::with_capacity(file, 256 << 10).map(move |chunk| {
                if let Ok(c) = &chunk {
                    counter(c.len() as u64);
                }
                chunk
            });
        let url = with_digest(location, digest);
        let mut req = self
            .transport
            .http
            .put(&url)
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .header(header::CONTENT_LENGTH, size)
            .body(reqwest::Body::wrap_stream(stream));
        let scopes = [push_scope(repo)];
        let auth = self
            .session
            .authorization(&self.transport, &self.retry, &scopes)
            .await
            .map_err(Failure::Final)?;
        if let Some(h) = auth {
            req = req.header(header::AUTHORIZATION, h);
        }
        let resp = self.transport.execute(None, req).await.map_err(|e| {
            let message = format!("uploading {}: {}", digest.short(), chain(&e));
            Failure::Transient(self.unreachable(message), None)
        })?;
        self.finish_upload(repo, digest, resp).await
    }

    async fn finish_upload(
        &self,
        repo: &str,
        digest: &Digest,
        resp: reqwest::Response,
    ) -> Result<(), Failure<RegistryError>> {
        let status = resp.status();
        if status.is_success() {
            if let Some(claimed) = claimed_digest(&resp)
                && claimed != digest.as_str()
            {
                return Err(Failure::Final(RegistryError::DigestMismatch {
                    registry: self.registry().to_string(),
                    what: format!("uploaded blob {}", digest.short()),
                    expected: digest.to_string(),
                    actual: claimed,
                }));
            }
            return Ok(());
        }
        if status == StatusCode::UNAUTHORIZED {
            // The token expired mid-upload, say: the next session gets a new one.
            self.session
                .refused(&[push_scope(repo)], challenge_of(&resp))
                .await;
        }
        let retry = transient(status)
            || status == StatusCode::NOT_FOUND
            || status == StatusCode::UNAUTHORIZED;
        // The registry said when to come back: the new session waits for it.
        let hint = retry_after(resp.headers());
        let e = self
            .fail(repo, &format!("upload blob {}", digest.short()), resp)
            .await;
        Err(if retry {
            Failure::Transient(e, hint)
        } else {
            Failure::Final(e)
        })
    }

    /// Upload `(path, size, chunk)`: the file in PATCH requests of `chunk` bytes.
    async fn upload_chunked(
        &self,
        repo: &str,
        location: &str,
        digest: &Digest,
        (path, size, chunk): (&Path, u64, u64),
        progress: &ByteCounter,
    ) -> Result<(), Failure<RegistryError>> {
        use tokio::io::AsyncReadExt as _;
        let mut file = tokio::fs::File::open(path)
            .await
            .map_err(|e| Failure::Final(local(path, e)))?;
        let scopes = [push_scope(repo)];
        let mut location = location.to_string();
        let mut offset = 0u64;
        let chunk = chunk.max(1);
        while offset < size {
            let len = chunk.min(size - offset);
            let mut buf = vec![0u8; len as usize];
            file.read_exact(&mut buf)
                .await
                .map_err(|e| Failure::Final(local(path, e)))?;
            let body = bytes::Bytes::from(buf);
            let end = offset + len - 1;
            let loc = location.clone();
            let resp = self
                .send(&scopes, false, &|| {
                    self.transport
                        .http
                        .patch(&loc)
                        .header(header::CONTENT_TYPE, "application/octet-stream")
                        .header(header::CONTENT_RANGE, format!("{offset}-{end}"))
                        .header(header::CONTENT_LENGTH, len)
                        .body(body.clone())
                })
                .await
                .map_err(|e| Failure::Transient(e, None))?;
            if resp.status() != StatusCode::ACCEPTED {
                let status = resp.status();
                let hint = retry_after(resp.headers());
                let e = self
                    .fail(repo, &format!("PATCH chunk of {}", digest.short()), resp)
                    .await;
                return Err(if transient(status) {
                    Failure::Transient(e, hint)
                } else {
                    Failure::Final(e)
                });
            }
            if let Some(l) = resp
                .headers()
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
            {
                location = self.transport.resolve_location(l);
            }
            progress(len);
            offset += len;
        }
        let url = with_digest(&location, digest);
        let resp = self
            .send(&scopes, false, &|| {
                self.transport
                    .http
                    .put(&url)
                    .header(header::CONTENT_LENGTH, "0")
            })
            .await
            .map_err(|e| Failure::Transient(e, None))?;
        self.finish_upload(repo, digest, resp).await
    }
}
