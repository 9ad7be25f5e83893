//! The distribution (registry HTTP API v2) client: one [`RegistryClient`] per registry.
//!
//! One HTTP and auth stack, split by seam (each file uses only files listed before it):
//!
//! - `error`, `options`: [`RegistryError`]; [`ClientOptions`] and [`ByteCounter`].
//! - `retry`: the one retry driver every request path runs through: connection errors,
//!   5xx, 408 and 429 are retried with exponential backoff and jitter, capped, honouring
//!   `Retry-After` (seconds or HTTP date).
//! - `transport`: the HTTP clients (verified TLS, Docker's per-registry CAs), `-v` trace
//!   lines, bounded bodies, the rule for which token realms may receive credentials.
//! - `auth`: the session: the challenge, Basic, Bearer tokens per scope (cached, expiring,
//!   dropped on 401), identity tokens through the OAuth2 refresh grant; the one function
//!   that attaches credentials to a token realm request.
//! - `connection`: [`RegistryClient::connect`] (HTTPS, plain HTTP only for loopback
//!   registries as Docker allows, or with `insecure`; the `/v2/` ping) and the
//!   authenticated request path every call takes.
//! - `manifests`, `blob_upload`, `blob_download`: the API calls. Every digest a registry
//!   returns is checked; blob bodies stream from and to files, never held in memory.
//! - `check`: [`RegistryClient::check_push`], the push pre-flight.

mod auth;
mod blob_download;
mod blob_upload;
mod check;
mod connection;
mod error;
mod manifests;
mod options;
mod retry;
mod transport;

pub use blob_upload::BlobPush;
pub use connection::{RegistryClient, pull_scope, push_scope};
pub use error::RegistryError;
pub use options::{ByteCounter, ClientOptions, Tracer};
