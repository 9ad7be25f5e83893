//! The fault-injecting proxy `tests/support/fault_proxy.py`, started per test.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A fault-injecting proxy in front of a registry, on 127.0.0.1; stopped when dropped.
#[derive(Debug)]
pub struct FaultProxy {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// The proxy's log of injected faults.
    pub log: PathBuf,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl FaultProxy {
    /// Start one in front of `upstream` (`127.0.0.1:PORT`) with the proxy's fault flags
    /// (`--status 3:503`, `--reset 5`, `--cut 2`, `--stall 4:30`, `--wrong-digest`,
    /// `--manifest-body FILE`; see the script).
    pub fn start(upstream: &str, faults: &[&str]) -> FaultProxy {
        let dir = tempfile::tempdir().unwrap();
        let port_file = dir.path().join("port");
        let log = dir.path().join("faults.log");
        let mut child = Command::new("python3")
            .arg(crate::util::repo_root().join("tests/support/fault_proxy.py"))
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
            if let Ok(p) = std::fs::read_to_string(&port_file)
                && !p.trim().is_empty()
            {
                break p;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("the fault proxy exited ({status}) before it listened");
            }
            assert!(Instant::now() < deadline, "the fault proxy did not start");
            std::thread::sleep(Duration::from_millis(50));
        };
        FaultProxy {
            addr: format!("127.0.0.1:{}", port.trim()),
            log,
            child,
            _dir: dir,
        }
    }

    /// `addr/path`: a reference through the proxy.
    pub fn at(&self, path: &str) -> String {
        format!("{}/{path}", self.addr)
    }

    /// The faults injected so far, one line each.
    pub fn faults(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// How many faults so far contain `kind` (`status 503`, `reset`, `cut at`, `stall`, …).
    pub fn count(&self, kind: &str) -> usize {
        self.faults().iter().filter(|f| f.contains(kind)).count()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
