//! Helpers of the two test files (auth_realm, image_lang) not yet moved onto
//! fleetflow-test-support; the other tests use that crate. Shared helpers for the CLI tests. Tests that need the engine read the environment
//! written by `scripts/testenv.sh` (through `scripts/test.sh`); a missing variable is a
//! failure with instructions, never a skip.
#![allow(dead_code)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// A required test-environment variable.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests through scripts/test.sh, which starts dockerd and the registries")
    })
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// `flow` with the test engine.
pub fn flow(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_flow"));
    c.current_dir(dir)
        .env("DOCKER_HOST", env("DOCKER_HOST"))
        .env_remove("FLEET_STAGE")
        .env("LANG", "C");
    c.env_remove("FLEET_PROJECT_ROOT")
        .env_remove("CI")
        .env_remove("NO_COLOR");
    without_ci_release_env(&mut c);
    c
}

/// Variables of a CI job that change what `flow build` tags and writes: a test sets the
/// ones it means to.
fn without_ci_release_env(c: &mut Command) {
    for v in [
        "FLOW_VERSION",
        "GITHUB_OUTPUT",
        "GITHUB_STEP_SUMMARY",
        "GITHUB_SHA",
        "GITHUB_REF_NAME",
        "GITHUB_REF_TYPE",
        "GITHUB_HEAD_REF",
        "SOURCE_DATE_EPOCH",
    ] {
        c.env_remove(v);
    }
}

/// `flow` without any engine (configuration tests).
pub fn flow_offline(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_flow"));
    c.current_dir(dir)
        .env_remove("FLEET_STAGE")
        .env_remove("FLEET_PROJECT_ROOT")
        .env("LANG", "C");
    c.env("DOCKER_HOST", "unix:///nonexistent/flow-test.sock");
    without_ci_release_env(&mut c);
    c
}

/// Run and capture.
pub fn run(mut c: Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = c.output().expect("spawn");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// The docker CLI against the test engine (used only to inspect results).
pub fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .env("DOCKER_HOST", env("DOCKER_HOST"))
        .output()
        .expect("docker CLI");
    assert!(
        out.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Run a shell command inside `image` and return its stdout.
pub fn in_image(image: &str, script: &str) -> String {
    docker(&[
        "run",
        "--rm",
        // Never a pull: nothing may leave this machine, a missing image is a failure.
        "--pull",
        "never",
        "--network",
        "none",
        image,
        "sh",
        "-c",
        script,
    ])
}

/// Copy a folder recursively.
pub fn copy_dir(from: &Path, to: &Path) {
    for entry in walk(from) {
        let rel = entry.strip_prefix(from).unwrap();
        let dest = to.join(rel);
        if entry.is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else {
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            std::fs::copy(&entry, &dest).unwrap();
        }
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Write a file, creating folders.
pub fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// A tag unique to this test run.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
            % 100_000
    )
}

/// `flow image ...` with its own cache dir and no engine at all.
pub fn flow_image(cache: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_flow"));
    c.env("FLOW_CACHE_DIR", cache)
        .env("DOCKER_HOST", "unix:///nonexistent/no-engine.sock")
        .env("DOCKER_CONFIG", cache.join("no-docker-config"))
        .env("LANG", "C")
        .env_remove("DOCKER_USERNAME")
        .env_remove("DOCKER_PASSWORD")
        .arg("image");
    c
}

/// Run with `input` on stdin.
pub fn run_stdin(mut c: Command, input: &str) -> (i32, String, String) {
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The test image (three layers: base, a RUN with text and 4 MiB of random bytes, a
/// second RUN) saved by the engine, built once per test binary.
pub fn saved_image() -> &'static (String, PathBuf) {
    static IMG: OnceLock<(String, PathBuf)> = OnceLock::new();
    IMG.get_or_init(|| {
        let dir = std::env::temp_dir().join(unique("flow-image-test"));
        std::fs::create_dir_all(&dir).unwrap();
        let base = env("FLOW_TEST_BASE_IMAGE");
        std::fs::write(
            dir.join("Dockerfile"),
            format!(
                "FROM {base}\nRUN echo made-by-flow-test > /hello && dd if=/dev/urandom of=/rand bs=1M count=4 2>/dev/null && sha256sum /rand > /rand.sum\nRUN echo second-layer > /second\n"
            ),
        )
        .unwrap();
        let name = format!("flow-image-test/app:{}", unique("t"));
        let out = Command::new("docker")
            .args(["build", "-q", "-t", &name])
            .arg(&dir)
            .env("DOCKER_HOST", env("DOCKER_HOST"))
            .env("DOCKER_BUILDKIT", "0")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let tar = dir.join("app.tar");
        docker(&["save", "-o", tar.to_str().unwrap(), &name]);
        (name, tar)
    })
}

/// The manifest digest the registry serves for `reference`.
pub fn registry_digest(reference: &str, creds: Option<(&str, &str)>) -> String {
    let mut c = Command::new("skopeo");
    c.args(["inspect", "--tls-verify=false", "--format", "{{.Digest}}"]);
    if let Some((u, p)) = creds {
        c.arg("--creds").arg(format!("{u}:{p}"));
    }
    let out = c.arg(format!("docker://{reference}")).output().unwrap();
    assert!(
        out.status.success(),
        "skopeo inspect {reference}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

pub fn digest_of(stdout: &str) -> String {
    let line = stdout.lines().last().unwrap_or_default();
    line.rsplit_once('@')
        .map(|(_, d)| d.to_string())
        .unwrap_or_else(|| panic!("no digest in {stdout:?}"))
}

pub fn json_lines(out: &str) -> Vec<serde_json::Value> {
    out.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Check that every blob in the cache hashes to its name; returns how many there are.
pub fn verify_blobs(cache: &Path) -> usize {
    let blobs = cache.join("blobs/sha256");
    let mut n = 0;
    for e in std::fs::read_dir(&blobs).unwrap() {
        let p = e.unwrap().path();
        let out = Command::new("sha256sum").arg(&p).output().unwrap();
        let sum = String::from_utf8(out.stdout).unwrap();
        assert_eq!(
            sum.split_whitespace().next().unwrap(),
            p.file_name().unwrap().to_str().unwrap()
        );
        n += 1;
    }
    n
}

/// Every blob in the cache hashes to its name, and there is at least one.
pub fn assert_cache_verified(cache: &Path) {
    assert!(verify_blobs(cache) > 0, "no blob in {}", cache.display());
}

/// A fault-injecting proxy (tests/support/fault_proxy.py) in front of a registry;
/// stopped when dropped.
pub struct FaultProxy {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// The proxy's log of injected faults.
    pub log: PathBuf,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl FaultProxy {
    /// Start one in front of `upstream` with the proxy's fault flags.
    pub fn start(upstream: &str, faults: &[&str]) -> FaultProxy {
        let dir = tempfile::tempdir().unwrap();
        let port_file = dir.path().join("port");
        let log = dir.path().join("faults.log");
        let child = Command::new("python3")
            .arg(repo_root().join("tests/support/fault_proxy.py"))
            .args(["--upstream", upstream, "--port-file"])
            .arg(&port_file)
            .arg("--log")
            .arg(&log)
            .args(faults)
            .stdin(Stdio::null())
            .spawn()
            .expect("python3");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let port = loop {
            if let Ok(p) = std::fs::read_to_string(&port_file) {
                break p;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "fault proxy did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
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

/// `git -C dir ARGS...` with a test identity, `main` as the first branch and no signing;
/// its trimmed stdout. A failing git command fails the test.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=flow test",
            "-c",
            "user.email=flow@test.invalid",
            "-c",
            "init.defaultBranch=main",
            "-c",
            "tag.gpgSign=false",
            "-c",
            "commit.gpgSign=false",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `s` in standard base64 (as `docker login` writes `auths` entries).
pub fn base64(s: &str) -> String {
    let mut child = Command::new("base64")
        .arg("-w0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap()
}
