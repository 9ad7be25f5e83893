//! Manifests: existence, byte-exact fetch (digest computed here and checked against the
//! requested digest and `Docker-Content-Digest`), and push.

use reqwest::{StatusCode, header};

use super::connection::{RegistryClient, pull_scope, push_scope};
use super::error::RegistryError;
use super::transport::read_limited;
use fleetflow_oci::Digest;
use fleetflow_oci::manifest::{MANIFEST_ACCEPT, MAX_MANIFEST_BYTES};

/// `Docker-Content-Digest`, if the answer has one.
pub(crate) fn claimed_digest(resp: &reqwest::Response) -> Option<String> {
    resp.headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

impl RegistryClient {
    /// Does the repository have manifest `digest`?
    pub async fn manifest_exists(
        &self,
        repo: &str,
        digest: &Digest,
    ) -> Result<bool, RegistryError> {
        let url = self
            .transport
            .url(&format!("/v2/{repo}/manifests/{digest}"));
        let resp = self
            .send(&[pull_scope(repo)], true, &|| {
                self.transport
                    .http
                    .head(&url)
                    .header(header::ACCEPT, MANIFEST_ACCEPT)
            })
            .await?;
        match resp.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(self.fail(repo, "HEAD manifest", resp).await),
        }
    }

    /// Fetch a manifest by tag or digest: its bytes, media type and digest (computed
    /// here, checked against the requested digest and `Docker-Content-Digest`).
    pub async fn get_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<(Vec<u8>, Option<String>, Digest), RegistryError> {
        let url = self
            .transport
            .url(&format!("/v2/{repo}/manifests/{reference}"));
        let resp = self
            .send(&[pull_scope(repo)], true, &|| {
                self.transport
                    .http
                    .get(&url)
                    .header(header::ACCEPT, MANIFEST_ACCEPT)
            })
            .await?;
        if !resp.status().is_success() {
            return Err(self
                .fail(repo, &format!("manifest {repo}:{reference}"), resp)
                .await);
        }
        let ctype = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let claimed = claimed_digest(&resp);
        let bytes = read_limited(resp, MAX_MANIFEST_BYTES)
            .await
            .map_err(|message| self.protocol(format!("manifest {repo}:{reference}: {message}")))?;
        let digest = Digest::of(&bytes);
        let expected = if reference.starts_with("sha256:") {
            Some(reference.to_string())
        } else {
            claimed
        };
        if let Some(e) = expected
            && e != digest.as_str()
        {
            return Err(RegistryError::DigestMismatch {
                registry: self.registry().to_string(),
                what: format!("manifest {repo}:{reference}"),
                expected: e,
                actual: digest.to_string(),
            });
        }
        Ok((bytes, ctype, digest))
    }

    /// Push manifest `bytes` (byte-exact) under `reference` (a tag or its digest);
    /// checks the digest the registry computed.
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<Digest, RegistryError> {
        let url = self
            .transport
            .url(&format!("/v2/{repo}/manifests/{reference}"));
        let body = bytes::Bytes::copy_from_slice(bytes);
        let resp = self
            .send(&[push_scope(repo)], true, &|| {
                self.transport
                    .http
                    .put(&url)
                    .header(header::CONTENT_TYPE, media_type)
                    .body(body.clone())
            })
            .await?;
        if !resp.status().is_success() {
            return Err(self
                .fail(repo, &format!("PUT manifest {repo}:{reference}"), resp)
                .await);
        }
        let digest = Digest::of(bytes);
        if let Some(claimed) = claimed_digest(&resp)
            && claimed != digest.as_str()
        {
            return Err(RegistryError::DigestMismatch {
                registry: self.registry().to_string(),
                what: format!("pushed manifest {repo}:{reference}"),
                expected: digest.to_string(),
                actual: claimed,
            });
        }
        Ok(digest)
    }
}
