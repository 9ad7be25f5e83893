//! Shared helpers for the client tests, which run against the real registries of
//! scripts/testenv.sh. A missing variable is a failure with instructions, never a skip.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fleetflow_oci::Digest;
use fleetflow_registry::client::ByteCounter;
use fleetflow_registry::{ClientOptions, Credentials, RegistryClient, RegistryError, Secret};

/// A required test-environment variable.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run the tests through scripts/test.sh, which starts the registries"
        )
    })
}

pub fn basic(user: &str, password: &str) -> Credentials {
    Credentials::Basic {
        username: user.into(),
        password: Secret::new(password),
    }
}

/// The token server's user, with its password.
pub fn token_user() -> Credentials {
    basic(
        &env("FLOW_TEST_TOKEN_USER"),
        &env("FLOW_TEST_TOKEN_PASSWORD"),
    )
}

/// Options for tests: quick backoff, so retries do not slow the suite down.
pub fn quick() -> ClientOptions {
    ClientOptions {
        backoff: Duration::from_millis(10),
        ..ClientOptions::default()
    }
}

pub async fn connect(
    registry: &str,
    creds: Option<Credentials>,
) -> Result<RegistryClient, RegistryError> {
    RegistryClient::connect(registry, creds, quick()).await
}

/// `size` pseudo-random bytes (different for each `seed`).
pub fn bytes(size: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// `data` written to `dir/name`, with its digest.
pub fn blob_file(dir: &Path, name: &str, data: &[u8]) -> (PathBuf, Digest) {
    let path = dir.join(name);
    std::fs::write(&path, data).unwrap();
    (path, Digest::of(data))
}

/// A progress callback that records every call.
pub fn counter() -> (ByteCounter, Arc<Mutex<Vec<u64>>>) {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let c = calls.clone();
    (Arc::new(move |n| c.lock().unwrap().push(n)), calls)
}

/// The JSON lines a token server recorded (`--record`).
pub fn records(path: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The fault proxy and unique names are the workspace's (fleetflow-test-support).
#[allow(unused_imports)] // each test file uses a part
pub use fleetflow_test_support::{FaultProxy, unique};
