//! Helpers of the two test files (auth_realm, image_lang) not yet moved onto
//! fleetflow-test-support; the other tests use that crate. Shared helpers for the CLI tests. Tests that need the engine read the environment
//! written by `scripts/testenv.sh` (through `scripts/test.sh`); a missing variable is a
//! failure with instructions, never a skip.
#![allow(dead_code)]

use fleetflow_test_support::RunExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A required test-environment variable.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests through scripts/test.sh, which starts dockerd and the registries")
    })
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

/// Variables of a developer's shell or a CI job that change what `flow` does: a test
/// sets the ones it means to.
fn without_ci_release_env(c: &mut Command) {
    for v in fleetflow_test_support::CLEARED {
        c.env_remove(v);
    }
}

/// Run and capture.
pub fn run(mut c: Command) -> (i32, String, String) {
    let r = c.run();
    (r.code, r.stdout, r.stderr)
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
    let r = c.run_with_stdin(input);
    (r.code, r.stdout, r.stderr)
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

pub fn json_lines(out: &str) -> Vec<serde_json::Value> {
    out.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[allow(unused_imports)] // image_lang uses none of them
pub use fleetflow_test_support::{base64, unique, write};

/// The shared test image as `(name, docker save tar)`.
pub fn saved_image() -> (String, PathBuf) {
    let s = fleetflow_test_support::saved_image();
    (s.name.clone(), s.tar.clone())
}
