//! The distribution (registry HTTP API v2) client: one [`RegistryClient`] per registry.
//!
//! It picks the transport (verified HTTPS; plain HTTP only for loopback registries, as
//! Docker allows, or with `insecure`), answers auth challenges (Basic, and Bearer tokens
//! requested per scope, cached and refreshed on expiry or 401; identity tokens through
//! the OAuth2 refresh grant), retries connection errors, 5xx, 408 and 429 (honouring
//! `Retry-After`) with exponential backoff and jitter, and checks every digest a
//! registry returns. Blob bodies are streamed from and to files, never held in memory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use reqwest::{StatusCode, header};
use tokio::io::AsyncWriteExt as _;

use crate::challenge::Challenge;
use crate::credentials::Credentials;
use fleetflow_oci::manifest::{MANIFEST_ACCEPT, MAX_MANIFEST_BYTES};
use fleetflow_oci::{Digest, Hasher, api_host, is_loopback};

/// A registry operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Credentials refused, or none where some are needed.
    #[error("{registry}: authentication failed ({detail})")]
    Unauthorized {
        /// Registry host.
        registry: String,
        /// What the registry said (never a secret).
        detail: String,
    },
    /// Authenticated but not allowed.
    #[error("{registry}: access to {repository} denied ({detail})")]
    Denied {
        /// Registry host.
        registry: String,
        /// Repository.
        repository: String,
        /// What the registry said.
        detail: String,
    },
    /// The image, manifest or blob does not exist.
    #[error("{registry}: {what} not found")]
    NotFound {
        /// Registry host.
        registry: String,
        /// What was asked for.
        what: String,
    },
    /// The registry could not be reached (after retries).
    #[error("{registry}: {message}")]
    Unreachable {
        /// Registry host.
        registry: String,
        /// Why.
        message: String,
    },
    /// The registry answered something flow cannot accept.
    #[error("{registry}: {message}")]
    Protocol {
        /// Registry host.
        registry: String,
        /// What happened.
        message: String,
    },
    /// Content did not match its digest.
    #[error("{registry}: {what} has digest {actual}, expected {expected}")]
    DigestMismatch {
        /// Registry host.
        registry: String,
        /// What was checked.
        what: String,
        /// Expected digest.
        expected: String,
        /// What it was.
        actual: String,
    },
    /// A local file (a blob being sent or received) failed.
    #[error("{}: {source}", path.display())]
    Local {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// How to reach registries.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Allow plain HTTP and unverified TLS for every registry (`--insecure`).
    pub insecure: bool,
    /// Per-registry CA certificates: `<certs_dir>/<host>/*.crt` (Docker's layout).
    pub certs_dir: PathBuf,
    /// Retries after a failed attempt (connection error, 5xx, 408, 429).
    pub retry_attempts: u32,
    /// First backoff; doubles each retry (with jitter), at most 30 s.
    pub backoff: Duration,
    /// Send blobs in PATCH chunks of this many bytes instead of one PUT.
    pub chunk_size: Option<u64>,
    /// Print one line per HTTP request to stderr: method, URL without its query (upload
    /// URLs carry state tokens there), status. Never a header or a body.
    pub verbose: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            insecure: false,
            certs_dir: PathBuf::from("/etc/docker/certs.d"),
            retry_attempts: 3,
            backoff: Duration::from_millis(500),
            chunk_size: None,
            verbose: false,
        }
    }
}

/// Called with the number of bytes each time a blob makes progress.
pub type ByteCounter = std::sync::Arc<dyn Fn(u64) + Send + Sync>;

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

struct Token {
    value: String,
    expires: Instant,
}

#[derive(Default)]
struct AuthState {
    challenge: Option<Challenge>,
    tokens: HashMap<String, Token>,
}

/// A client for one registry.
pub struct RegistryClient {
    registry: String,
    base: String,
    http: reqwest::Client,
    creds: Option<Credentials>,
    auth: tokio::sync::Mutex<AuthState>,
    opts: ClientOptions,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient")
            .field("registry", &self.registry)
            .field("base", &self.base)
            .field("credentials", &self.creds.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Trust the CAs Docker would for `host`: every `<certs_dir>/<host>/*.crt`.
pub(crate) fn with_registry_cas(
    mut b: reqwest::ClientBuilder,
    certs_dir: &Path,
    host: &str,
) -> Result<reqwest::ClientBuilder, String> {
    if let Ok(entries) = std::fs::read_dir(certs_dir.join(host)) {
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "crt") {
                let pem = std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?;
                let cert = reqwest::Certificate::from_pem(&pem)
                    .map_err(|e| format!("{}: {e}", p.display()))?;
                b = b.add_root_certificate(cert);
            }
        }
    }
    Ok(b)
}

/// An error with its sources, `: `-separated.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// A response's status, or the error, for `-v` lines.
fn outcome(result: &Result<reqwest::Response, reqwest::Error>) -> String {
    match result {
        Ok(r) => r.status().to_string(),
        Err(e) => format!("error: {}", chain(e)),
    }
}

fn transient(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 429 | 500 | 502 | 503 | 504)
}

fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    let v = resp.headers().get(header::RETRY_AFTER)?.to_str().ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// `{"errors":[{"code","message"}]}` as one line (at most 64 KiB are read).
async fn error_text(resp: reqwest::Response) -> String {
    let status = resp.status();
    let body = read_limited(resp, 64 << 10).await.unwrap_or_default();
    let parsed = serde_json::from_slice::<serde_json::Value>(&body).ok();
    let errors: Vec<String> = parsed
        .as_ref()
        .and_then(|v| v.get("errors"))
        .and_then(|e| e.as_array())
        .map(|a| {
            a.iter()
                .map(|e| {
                    let code = e.get("code").and_then(|c| c.as_str()).unwrap_or("");
                    let msg = e.get("message").and_then(|c| c.as_str()).unwrap_or("");
                    format!("{code}: {msg}")
                })
                .collect()
        })
        .unwrap_or_default();
    if errors.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {}", errors.join("; "))
    }
}

async fn read_limited(mut resp: reqwest::Response, limit: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| chain(&e))? {
        if out.len() + chunk.len() > limit {
            return Err(format!("response body larger than {limit} bytes"));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

fn jitter(d: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |t| t.subsec_nanos());
    d + d.mul_f64(f64::from(nanos % 1000) / 4000.0)
}

/// The token scope to pull `repo`.
pub fn pull_scope(repo: &str) -> String {
    format!("repository:{repo}:pull")
}

/// The token scope to push `repo`.
pub fn push_scope(repo: &str) -> String {
    format!("repository:{repo}:pull,push")
}

impl RegistryClient {
    /// Connect to `registry` (a host as in a reference, `docker.io` for Docker Hub) and
    /// learn how it wants to be authenticated.
    pub async fn connect(
        registry: &str,
        creds: Option<Credentials>,
        opts: ClientOptions,
    ) -> Result<RegistryClient, RegistryError> {
        let host = api_host(registry).to_string();
        let unreachable = |message: String| RegistryError::Unreachable {
            registry: registry.to_string(),
            message,
        };
        let mut b = reqwest::Client::builder()
            .user_agent(concat!("flow/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(30))
            .read_timeout(Duration::from_secs(120))
            .pool_max_idle_per_host(32)
            .redirect(reqwest::redirect::Policy::limited(5));
        if opts.insecure {
            b = b.danger_accept_invalid_certs(true);
        }
        let b = with_registry_cas(b, &opts.certs_dir, &host).map_err(unreachable)?;
        let http = b.build().map_err(|e| unreachable(chain(&e)))?;
        let mut client = RegistryClient {
            registry: registry.to_string(),
            base: format!("https://{host}"),
            http,
            creds,
            auth: tokio::sync::Mutex::new(AuthState::default()),
            opts,
        };
        let plain_ok = client.opts.insecure || is_loopback(&host);
        let resp = match client.ping().await {
            Ok(r) => r,
            Err(tls) if plain_ok => {
                client.base = format!("http://{host}");
                let r = client.ping().await.map_err(|e| unreachable(chain(&e)))?;
                if r.status() == StatusCode::BAD_REQUEST {
                    // A TLS server refusing plain HTTP: the TLS error is the real one.
                    return Err(unreachable(format!(
                        "{}; if the registry uses its own CA, put it in {}/{host}/ca.crt (or pass --cert-dir; --insecure skips verification)",
                        chain(&tls),
                        client.opts.certs_dir.display()
                    )));
                }
                r
            }
            Err(e) => return Err(unreachable(chain(&e))),
        };
        match resp.status() {
            s if s.is_success() => {}
            StatusCode::UNAUTHORIZED => {
                let ch = resp
                    .headers()
                    .get(header::WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(Challenge::parse)
                    .ok_or_else(|| RegistryError::Protocol {
                        registry: registry.to_string(),
                        message: "401 without a WWW-Authenticate challenge".into(),
                    })?;
                client.auth.get_mut().challenge = Some(ch);
            }
            s => {
                return Err(RegistryError::Protocol {
                    registry: registry.to_string(),
                    message: format!("GET {}/v2/ answered {s}; is this a registry?", client.base),
                });
            }
        }
        Ok(client)
    }

    async fn ping(&self) -> Result<reqwest::Response, reqwest::Error> {
        let mut last = None;
        for attempt in 0..=self.opts.retry_attempts {
            let url = format!("{}/v2/", self.base);
            let sent = self.http.get(&url).send().await;
            self.trace("GET", &url, &outcome(&sent));
            match sent {
                Ok(r) if transient(r.status()) && attempt < self.opts.retry_attempts => {
                    tokio::time::sleep(self.backoff(attempt, retry_after(&r))).await;
                }
                Ok(r) => return Ok(r),
                // A TLS handshake against a plain-HTTP server will not get better.
                Err(e) if e.is_connect() && self.base.starts_with("https") => return Err(e),
                Err(e) => {
                    last = Some(e);
                    if attempt < self.opts.retry_attempts {
                        tokio::time::sleep(self.backoff(attempt, None)).await;
                    }
                }
            }
        }
        Err(last.expect("at least one attempt"))
    }

    /// The registry host this client talks to.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// `https://host` or `http://host`.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn backoff(&self, attempt: u32, hint: Option<Duration>) -> Duration {
        let exp = self.opts.backoff.saturating_mul(1 << attempt.min(6));
        hint.unwrap_or_else(|| jitter(exp))
            .min(Duration::from_secs(30))
    }

    fn trace(&self, method: &str, url: &str, outcome: &str) {
        if self.opts.verbose {
            let bare = url.split('?').next().unwrap_or(url);
            eprintln!("[http] {method} {bare} -> {outcome}");
        }
    }

    fn trace_result(
        &self,
        req: &reqwest::Request,
        result: &Result<reqwest::Response, reqwest::Error>,
    ) {
        self.trace(req.method().as_str(), req.url().as_str(), &outcome(result));
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn resolve_location(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_string()
        } else {
            format!("{}{location}", self.base)
        }
    }

    async fn authorization(&self, scopes: &[String]) -> Result<Option<String>, RegistryError> {
        let mut auth = self.auth.lock().await;
        let Some(ch) = auth.challenge.clone() else {
            return Ok(None);
        };
        match ch.scheme.as_str() {
            "basic" => match &self.creds {
                Some(Credentials::Basic { username, password }) => {
                    use base64::Engine as _;
                    let raw = format!("{username}:{}", password.expose());
                    Ok(Some(format!(
                        "Basic {}",
                        base64::engine::general_purpose::STANDARD.encode(raw)
                    )))
                }
                _ => Err(RegistryError::Unauthorized {
                    registry: self.registry.clone(),
                    detail: "the registry needs a user name and password; none found".into(),
                }),
            },
            "bearer" => {
                if let Some(Credentials::RegistryToken(t)) = &self.creds {
                    return Ok(Some(format!("Bearer {}", t.expose())));
                }
                let key = scopes.join(" ");
                if let Some(t) = auth.tokens.get(&key)
                    && t.expires > Instant::now()
                {
                    return Ok(Some(format!("Bearer {}", t.value)));
                }
                let token = self.fetch_token(&ch, scopes).await?;
                let header = format!("Bearer {}", token.value);
                auth.tokens.insert(key, token);
                Ok(Some(header))
            }
            other => Err(RegistryError::Protocol {
                registry: self.registry.clone(),
                message: format!("unsupported auth scheme `{other}`"),
            }),
        }
    }

    async fn fetch_token(&self, ch: &Challenge, scopes: &[String]) -> Result<Token, RegistryError> {
        let unauthorized = |detail: String| RegistryError::Unauthorized {
            registry: self.registry.clone(),
            detail,
        };
        let realm = ch.param("realm").ok_or_else(|| RegistryError::Protocol {
            registry: self.registry.clone(),
            message: "Bearer challenge without realm".into(),
        })?;
        let realm_url = url::Url::parse(realm).map_err(|_| RegistryError::Protocol {
            registry: self.registry.clone(),
            message: format!("token realm `{realm}` is not a URL"),
        })?;
        let realm_host = realm_url.host_str().unwrap_or_default();
        if realm_url.scheme() != "https"
            && !(realm_url.scheme() == "http"
                && (is_loopback(realm_host)
                    || self.opts.insecure
                    || self.base.starts_with("http:")))
        {
            return Err(RegistryError::Protocol {
                registry: self.registry.clone(),
                message: format!(
                    "refusing to send credentials to token realm `{realm}` without TLS"
                ),
            });
        }
        let service = ch.param("service").unwrap_or_default();
        let mut last = String::new();
        for attempt in 0..=self.opts.retry_attempts {
            let req = match &self.creds {
                Some(Credentials::IdentityToken(refresh)) => {
                    let mut form: Vec<(&str, &str)> = vec![
                        ("grant_type", "refresh_token"),
                        ("refresh_token", refresh.expose()),
                        ("service", service),
                        ("client_id", "flow"),
                    ];
                    let joined = scopes.join(" ");
                    form.push(("scope", &joined));
                    self.http.post(realm).form(&form)
                }
                creds => {
                    let mut q: Vec<(&str, &str)> = vec![("service", service)];
                    for s in scopes {
                        q.push(("scope", s));
                    }
                    let mut r = self.http.get(realm).query(&q);
                    if let Some(Credentials::Basic { username, password }) = creds {
                        r = r.basic_auth(username, Some(password.expose()));
                    }
                    r
                }
            };
            let sent = req.send().await;
            self.trace("token", realm, &outcome(&sent));
            let resp = match sent {
                Ok(r) => r,
                Err(e) => {
                    last = format!(
                        "token server {}: {}",
                        realm_url.origin().ascii_serialization(),
                        chain(&e)
                    );
                    if attempt < self.opts.retry_attempts {
                        tokio::time::sleep(self.backoff(attempt, None)).await;
                        continue;
                    }
                    break;
                }
            };
            let status = resp.status();
            if transient(status) && attempt < self.opts.retry_attempts {
                last = format!("token server answered {status}");
                tokio::time::sleep(self.backoff(attempt, retry_after(&resp))).await;
                continue;
            }
            if !status.is_success() {
                return Err(unauthorized(format!("the token server answered {status}")));
            }
            let body = read_limited(resp, 1 << 20)
                .await
                .map_err(|e| unauthorized(format!("reading the token: {e}")))?;
            let v: serde_json::Value = serde_json::from_slice(&body)
                .map_err(|_| unauthorized("the token server's answer is not JSON".into()))?;
            let value = v
                .get("token")
                .or_else(|| v.get("access_token"))
                .and_then(|t| t.as_str())
                .filter(|t| !t.is_empty())
                .ok_or_else(|| unauthorized("the token server returned no token".into()))?
                .to_string();
            let lifetime = v
                .get("expires_in")
                .and_then(|e| e.as_u64())
                .unwrap_or(60)
                .max(10);
            // Refresh a little before the registry would refuse it.
            let expires = Instant::now() + Duration::from_secs(lifetime) - Duration::from_secs(5);
            return Ok(Token { value, expires });
        }
        Err(RegistryError::Unreachable {
            registry: self.registry.clone(),
            message: last,
        })
    }

    /// Send a request made by `make` (called once per attempt), with auth for `scopes`.
    /// Transient failures are retried when `retry` is set; a 401 re-runs the challenge
    /// once. The response is returned whatever its status otherwise.
    async fn send(
        &self,
        scopes: &[String],
        retry: bool,
        make: &(dyn Fn() -> reqwest::RequestBuilder + Send + Sync),
    ) -> Result<reqwest::Response, RegistryError> {
        let max = if retry { self.opts.retry_attempts } else { 0 };
        let mut reauthed = false;
        let mut attempt = 0;
        loop {
            let mut req = make();
            if let Some(h) = self.authorization(scopes).await? {
                req = req.header(header::AUTHORIZATION, h);
            }
            let result = match req.build() {
                Ok(built) => {
                    // Kept for the `-v` line only; cloning costs nothing when it is off.
                    let probe = if self.opts.verbose {
                        built.try_clone()
                    } else {
                        None
                    };
                    let r = self.http.execute(built).await;
                    if let Some(p) = &probe {
                        self.trace_result(p, &r);
                    }
                    r
                }
                Err(e) => Err(e),
            };
            match result {
                Err(e) => {
                    if attempt < max {
                        tokio::time::sleep(self.backoff(attempt, None)).await;
                        attempt += 1;
                        continue;
                    }
                    return Err(RegistryError::Unreachable {
                        registry: self.registry.clone(),
                        message: chain(&e),
                    });
                }
                Ok(resp) if resp.status() == StatusCode::UNAUTHORIZED && !reauthed => {
                    reauthed = true;
                    let mut auth = self.auth.lock().await;
                    auth.tokens.remove(&scopes.join(" "));
                    if let Some(ch) = resp
                        .headers()
                        .get(header::WWW_AUTHENTICATE)
                        .and_then(|v| v.to_str().ok())
                        .and_then(Challenge::parse)
                    {
                        auth.challenge = Some(ch);
                    }
                }
                Ok(resp) if resp.status() == StatusCode::UNAUTHORIZED => {
                    return Err(RegistryError::Unauthorized {
                        registry: self.registry.clone(),
                        detail: error_text(resp).await,
                    });
                }
                Ok(resp) if transient(resp.status()) && attempt < max => {
                    tokio::time::sleep(self.backoff(attempt, retry_after(&resp))).await;
                    attempt += 1;
                }
                Ok(resp) => return Ok(resp),
            }
        }
    }

    async fn fail(&self, repo: &str, what: &str, resp: reqwest::Response) -> RegistryError {
        let status = resp.status();
        let text = error_text(resp).await;
        match status {
            StatusCode::NOT_FOUND => RegistryError::NotFound {
                registry: self.registry.clone(),
                what: format!("{what} ({text})"),
            },
            StatusCode::FORBIDDEN => RegistryError::Denied {
                registry: self.registry.clone(),
                repository: repo.to_string(),
                detail: text,
            },
            _ => RegistryError::Protocol {
                registry: self.registry.clone(),
                message: format!("{what}: {text}"),
            },
        }
    }

    /// Size of the blob if the repository has it.
    pub async fn blob_exists(
        &self,
        repo: &str,
        digest: &Digest,
    ) -> Result<Option<u64>, RegistryError> {
        let url = self.url(&format!("/v2/{repo}/blobs/{digest}"));
        let resp = self
            .send(&[pull_scope(repo)], true, &|| self.http.head(&url))
            .await?;
        match resp.status() {
            s if s.is_success() => Ok(Some(resp.content_length().unwrap_or(0))),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(self
                .fail(repo, &format!("HEAD blob {}", digest.short()), resp)
                .await),
        }
    }

    /// Does the repository have manifest `digest`?
    pub async fn manifest_exists(
        &self,
        repo: &str,
        digest: &Digest,
    ) -> Result<bool, RegistryError> {
        let url = self.url(&format!("/v2/{repo}/manifests/{digest}"));
        let resp = self
            .send(&[pull_scope(repo)], true, &|| {
                self.http.head(&url).header(header::ACCEPT, MANIFEST_ACCEPT)
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
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"));
        let resp = self
            .send(&[pull_scope(repo)], true, &|| {
                self.http.get(&url).header(header::ACCEPT, MANIFEST_ACCEPT)
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
        let claimed = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = read_limited(resp, MAX_MANIFEST_BYTES)
            .await
            .map_err(|message| RegistryError::Protocol {
                registry: self.registry.clone(),
                message: format!("manifest {repo}:{reference}: {message}"),
            })?;
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
                registry: self.registry.clone(),
                what: format!("manifest {repo}:{reference}"),
                expected: e,
                actual: digest.to_string(),
            });
        }
        Ok((bytes, ctype, digest))
    }

    /// Fetch a small blob (an image config) into memory, at most `limit` bytes, checking
    /// its digest.
    pub async fn get_blob_bytes(
        &self,
        repo: &str,
        digest: &Digest,
        limit: usize,
    ) -> Result<Vec<u8>, RegistryError> {
        let url = self.url(&format!("/v2/{repo}/blobs/{digest}"));
        let resp = self
            .send(&[pull_scope(repo)], true, &|| self.http.get(&url))
            .await?;
        if !resp.status().is_success() {
            return Err(self
                .fail(repo, &format!("blob {}", digest.short()), resp)
                .await);
        }
        let bytes = read_limited(resp, limit)
            .await
            .map_err(|message| RegistryError::Protocol {
                registry: self.registry.clone(),
                message: format!("blob {}: {message}", digest.short()),
            })?;
        let actual = Digest::of(&bytes);
        if &actual != digest {
            return Err(RegistryError::DigestMismatch {
                registry: self.registry.clone(),
                what: format!("blob {repo}@{digest}"),
                expected: digest.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(bytes)
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
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"));
        let body = bytes::Bytes::copy_from_slice(bytes);
        let resp = self
            .send(&[push_scope(repo)], true, &|| {
                self.http
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
        if let Some(claimed) = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            && claimed != digest.as_str()
        {
            return Err(RegistryError::DigestMismatch {
                registry: self.registry.clone(),
                what: format!("pushed manifest {repo}:{reference}"),
                expected: digest.to_string(),
                actual: claimed.to_string(),
            });
        }
        Ok(digest)
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
        let mut last = None;
        for attempt in 0..=self.opts.retry_attempts {
            if attempt > 0 {
                tokio::time::sleep(self.backoff(attempt - 1, None)).await;
            }
            let location = match self.start_upload(repo, digest, mount_from).await? {
                Upload::Mounted => return Ok(BlobPush::Mounted),
                Upload::Session(l) => l,
            };
            let result = match self.opts.chunk_size {
                Some(chunk) => {
                    self.upload_chunked(repo, &location, digest, size, path, chunk, progress)
                        .await
                }
                None => {
                    self.upload_whole(repo, &location, digest, size, path, progress)
                        .await
                }
            };
            match result {
                Ok(()) => return Ok(BlobPush::Uploaded),
                // The registry's answer is final unless it is a transient one.
                Err(UploadError::Final(e)) => return Err(e),
                Err(UploadError::Retry(e)) => last = Some(e),
            }
        }
        Err(last.expect("at least one attempt"))
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
                self.url(&format!(
                    "/v2/{repo}/blobs/uploads/?mount={digest}&from={from}"
                ))
            }
            None => self.url(&format!("/v2/{repo}/blobs/uploads/")),
        };
        let resp = self
            .send(&scopes, true, &|| {
                self.http.post(&url).header(header::CONTENT_LENGTH, "0")
            })
            .await?;
        match resp.status() {
            StatusCode::CREATED if mount_from.is_some() => Ok(Upload::Mounted),
            StatusCode::ACCEPTED => {
                let loc = resp
                    .headers()
                    .get(header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| RegistryError::Protocol {
                        registry: self.registry.clone(),
                        message: "upload started without a Location".into(),
                    })?;
                Ok(Upload::Session(self.resolve_location(loc)))
            }
            _ => Err(self.fail(repo, "start blob upload", resp).await),
        }
    }

    fn with_digest(location: &str, digest: &Digest) -> String {
        let sep = if location.contains('?') { '&' } else { '?' };
        format!("{location}{sep}digest={digest}")
    }

    async fn upload_whole(
        &self,
        repo: &str,
        location: &str,
        digest: &Digest,
        size: u64,
        path: &Path,
        progress: &ByteCounter,
    ) -> Result<(), UploadError> {
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| UploadError::Final(local(path, e)))?;
        let counter = progress.clone();
        let stream =
            tokio_util::io::ReaderStream::with_capacity(file, 256 << 10).map(move |chunk| {
                if let Ok(c) = &chunk {
                    counter(c.len() as u64);
                }
                chunk
            });
        let url = Self::with_digest(location, digest);
        let mut req = self
            .http
            .put(&url)
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .header(header::CONTENT_LENGTH, size)
            .body(reqwest::Body::wrap_stream(stream));
        if let Some(h) = self
            .authorization(&[push_scope(repo)])
            .await
            .map_err(UploadError::Final)?
        {
            req = req.header(header::AUTHORIZATION, h);
        }
        let resp = req.send().await;
        self.trace("PUT", &url, &outcome(&resp));
        self.finish_upload(repo, digest, resp).await
    }

    async fn finish_upload(
        &self,
        repo: &str,
        digest: &Digest,
        resp: Result<reqwest::Response, reqwest::Error>,
    ) -> Result<(), UploadError> {
        let resp = resp.map_err(|e| {
            UploadError::Retry(RegistryError::Unreachable {
                registry: self.registry.clone(),
                message: format!("uploading {}: {}", digest.short(), chain(&e)),
            })
        })?;
        let status = resp.status();
        if status == StatusCode::CREATED || status.is_success() {
            if let Some(claimed) = resp
                .headers()
                .get("docker-content-digest")
                .and_then(|v| v.to_str().ok())
                && claimed != digest.as_str()
            {
                return Err(UploadError::Final(RegistryError::DigestMismatch {
                    registry: self.registry.clone(),
                    what: format!("uploaded blob {}", digest.short()),
                    expected: digest.to_string(),
                    actual: claimed.to_string(),
                }));
            }
            return Ok(());
        }
        let retry = transient(status)
            || status == StatusCode::NOT_FOUND
            || status == StatusCode::UNAUTHORIZED;
        if let Some(wait) = retry_after(&resp) {
            // The registry said when to come back; the new session waits for it.
            tokio::time::sleep(wait.min(Duration::from_secs(30))).await;
        }
        let e = self
            .fail(repo, &format!("upload blob {}", digest.short()), resp)
            .await;
        Err(if retry {
            UploadError::Retry(e)
        } else {
            UploadError::Final(e)
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn upload_chunked(
        &self,
        repo: &str,
        location: &str,
        digest: &Digest,
        size: u64,
        path: &Path,
        chunk: u64,
        progress: &ByteCounter,
    ) -> Result<(), UploadError> {
        use tokio::io::AsyncReadExt as _;
        let mut file = tokio::fs::File::open(path)
            .await
            .map_err(|e| UploadError::Final(local(path, e)))?;
        let mut location = location.to_string();
        let mut offset = 0u64;
        let chunk = chunk.max(1);
        while offset < size {
            let len = chunk.min(size - offset);
            let mut buf = vec![0u8; len as usize];
            file.read_exact(&mut buf)
                .await
                .map_err(|e| UploadError::Final(local(path, e)))?;
            let body = bytes::Bytes::from(buf);
            let end = offset + len - 1;
            let loc = location.clone();
            let resp = self
                .send(&[push_scope(repo)], false, &|| {
                    self.http
                        .patch(&loc)
                        .header(header::CONTENT_TYPE, "application/octet-stream")
                        .header(header::CONTENT_RANGE, format!("{offset}-{end}"))
                        .header(header::CONTENT_LENGTH, len)
                        .body(body.clone())
                })
                .await
                .map_err(UploadError::Retry)?;
            if resp.status() != StatusCode::ACCEPTED {
                let retry = transient(resp.status());
                let e = self
                    .fail(repo, &format!("PATCH chunk of {}", digest.short()), resp)
                    .await;
                return Err(if retry {
                    UploadError::Retry(e)
                } else {
                    UploadError::Final(e)
                });
            }
            if let Some(l) = resp
                .headers()
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
            {
                location = self.resolve_location(l);
            }
            progress(len);
            offset += len;
        }
        let url = Self::with_digest(&location, digest);
        let resp = self
            .send(&[push_scope(repo)], false, &|| {
                self.http.put(&url).header(header::CONTENT_LENGTH, "0")
            })
            .await
            .map_err(UploadError::Retry)?;
        self.finish_upload(repo, digest, Ok(resp)).await
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
        let url = self.url(&format!("/v2/{repo}/blobs/{digest}"));
        let mut last = None;
        for attempt in 0..=self.opts.retry_attempts {
            if attempt > 0 {
                tokio::time::sleep(self.backoff(attempt - 1, None)).await;
            }
            match self
                .download_attempt(repo, &url, digest, size, partial, progress)
                .await
            {
                Ok(()) => return Ok(()),
                Err(UploadError::Final(e)) => {
                    let _ = std::fs::remove_file(partial);
                    return Err(e);
                }
                Err(UploadError::Retry(e)) => last = Some(e),
            }
        }
        Err(last.expect("at least one attempt"))
    }

    async fn download_attempt(
        &self,
        repo: &str,
        url: &str,
        digest: &Digest,
        size: u64,
        path: &Path,
        progress: &ByteCounter,
    ) -> Result<(), UploadError> {
        // Hash what an earlier attempt (or killed process) left, then ask for the rest.
        let mut hasher = Hasher::new();
        let mut have = 0u64;
        if let Ok(mut f) = std::fs::File::open(path) {
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = std::io::Read::read(&mut f, &mut buf)
                    .map_err(|e| UploadError::Final(local(path, e)))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                have += n as u64;
            }
            if have > size {
                // Not a prefix of this blob: start again.
                hasher = Hasher::new();
                have = 0;
            }
        }
        let resp = self
            .send(&[pull_scope(repo)], true, &|| {
                let r = self.http.get(url);
                if have > 0 && have < size {
                    r.header(header::RANGE, format!("bytes={have}-"))
                } else {
                    r
                }
            })
            .await
            .map_err(|e| match e {
                RegistryError::Unreachable { .. } => UploadError::Retry(e),
                other => UploadError::Final(other),
            })?;
        let status = resp.status();
        let append = match status {
            StatusCode::PARTIAL_CONTENT => {
                let ok = resp
                    .headers()
                    .get(header::CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.starts_with(&format!("bytes {have}-")));
                if !ok {
                    let _ = std::fs::remove_file(path);
                    return Err(UploadError::Retry(RegistryError::Protocol {
                        registry: self.registry.clone(),
                        message: format!(
                            "blob {}: wrong Content-Range for a resumed download",
                            digest.short()
                        ),
                    }));
                }
                true
            }
            s if s.is_success() => false,
            _ => {
                return Err(UploadError::Final(
                    self.fail(repo, &format!("blob {}", digest.short()), resp)
                        .await,
                ));
            }
        };
        if !append {
            hasher = Hasher::new();
            have = 0;
        } else {
            progress(have);
        }
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(path)
            .await
            .map_err(|e| UploadError::Final(local(path, e)))?;
        let mut stream = resp.bytes_stream();
        let mut cut = None;
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(c) => {
                    have += c.len() as u64;
                    if have > size {
                        drop(file);
                        let _ = std::fs::remove_file(path);
                        return Err(UploadError::Final(RegistryError::Protocol {
                            registry: self.registry.clone(),
                            message: format!(
                                "blob {} is larger than its descriptor's {size} bytes",
                                digest.short()
                            ),
                        }));
                    }
                    hasher.update(&c);
                    file.write_all(&c)
                        .await
                        .map_err(|e| UploadError::Final(local(path, e)))?;
                    progress(c.len() as u64);
                }
                Err(e) => {
                    cut = Some(chain(&e));
                    break;
                }
            }
        }
        file.flush()
            .await
            .map_err(|e| UploadError::Final(local(path, e)))?;
        drop(file);
        if let Some(message) = cut {
            return Err(UploadError::Retry(RegistryError::Unreachable {
                registry: self.registry.clone(),
                message: format!(
                    "blob {} cut off after {have} of {size} bytes: {message}",
                    digest.short()
                ),
            }));
        }
        if have < size {
            return Err(UploadError::Retry(RegistryError::Unreachable {
                registry: self.registry.clone(),
                message: format!("blob {} ended after {have} of {size} bytes", digest.short()),
            }));
        }
        let actual = hasher.finish();
        if actual != *digest {
            let _ = std::fs::remove_file(path);
            return Err(UploadError::Retry(RegistryError::DigestMismatch {
                registry: self.registry.clone(),
                what: format!("blob of {repo}"),
                expected: digest.to_string(),
                actual: actual.to_string(),
            }));
        }
        Ok(())
    }
}

enum Upload {
    Mounted,
    Session(String),
}

enum UploadError {
    Retry(RegistryError),
    Final(RegistryError),
}

fn local(path: &Path, source: std::io::Error) -> RegistryError {
    RegistryError::Local {
        path: path.to_path_buf(),
        source,
    }
}
