//! Shared helpers for the client tests, which run against the real registries of
//! scripts/testenv.sh. A missing variable is a failure with instructions, never a skip.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// A name unique to this test run.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
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

/// A fault-injecting proxy (tests/support/fault_proxy.py) in front of a registry;
/// stopped when dropped.
pub struct FaultProxy {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    log: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

impl FaultProxy {
    pub fn start(upstream: &str, faults: &[&str]) -> FaultProxy {
        let dir = tempfile::tempdir().unwrap();
        let port_file = dir.path().join("port");
        let log = dir.path().join("faults.log");
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/support/fault_proxy.py");
        let child = Command::new("python3")
            .arg(script)
            .args(["--upstream", upstream, "--port-file"])
            .arg(&port_file)
            .arg("--log")
            .arg(&log)
            .args(faults)
            .stdin(Stdio::null())
            .spawn()
            .expect("python3");
        let deadline = Instant::now() + Duration::from_secs(20);
        let port = loop {
            if let Ok(p) = std::fs::read_to_string(&port_file) {
                break p;
            }
            assert!(Instant::now() < deadline, "fault proxy did not start");
            std::thread::sleep(Duration::from_millis(50));
        };
        FaultProxy {
            addr: format!("127.0.0.1:{}", port.trim()),
            log,
            child,
            _dir: dir,
        }
    }

    /// The faults injected so far, one line each.
    pub fn faults(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
