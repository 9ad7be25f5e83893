//! What callers choose about a client: transport trust, retries, chunking, tracing; and
//! the progress callback blob transfers report to.

use std::path::PathBuf;
use std::time::Duration;

/// How to reach registries.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Allow plain HTTP and unverified TLS for every registry (`--insecure`); this also
    /// lets credentials go to a plain-HTTP token realm.
    pub insecure: bool,
    /// Per-registry CA certificates: `<certs_dir>/<host>/*.crt` (Docker's layout).
    pub certs_dir: PathBuf,
    /// Retries after a failed attempt (connection error, 5xx, 408, 429).
    pub retry_attempts: u32,
    /// First backoff; doubles each retry (with jitter), at most 30 s.
    pub backoff: Duration,
    /// Send blobs in PATCH chunks of this many bytes instead of one PUT.
    pub chunk_size: Option<u64>,
    /// Called with one line per HTTP request (`-v`): method, URL without its query
    /// (upload URLs carry state tokens there), status. Never a header or a body. The
    /// library writes nothing itself; the caller decides where the line goes.
    pub trace: Option<Tracer>,
}

/// Receives the `-v` lines of a client.
#[derive(Clone)]
pub struct Tracer(pub std::sync::Arc<dyn Fn(&str) + Send + Sync>);

impl std::fmt::Debug for Tracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tracer")
    }
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            insecure: false,
            certs_dir: PathBuf::from("/etc/docker/certs.d"),
            retry_attempts: 3,
            backoff: Duration::from_millis(500),
            chunk_size: None,
            trace: None,
        }
    }
}

/// Called with the number of bytes each time a blob makes progress.
pub type ByteCounter = std::sync::Arc<dyn Fn(u64) + Send + Sync>;
