//! Peer tools, for the tests that cross-check flow with them on purpose (what flow
//! pushed as another client sees it, credentials as the docker CLI writes them, images
//! the engine puts in a registry). Reading a registry otherwise goes through [`probe`].
//!
//! [`probe`]: crate::probe

use std::path::Path;
use std::process::Command;

use crate::env::{Engine, Login, Registry};
use crate::run::{Run, RunExt as _};

/// The manifest digest `skopeo inspect` reads for `reference` (`host/repo:tag`) with
/// `login`, over TLS verified with only the CAs in `cert_dir`.
pub fn skopeo_digest(reference: &str, login: Option<&Login>, cert_dir: &Path) -> String {
    let mut c = Command::new("skopeo");
    c.args(["inspect", "--tls-verify=true", "--cert-dir"])
        .arg(cert_dir)
        .args(["--format", "{{.Digest}}"]);
    if let Some(l) = login {
        c.arg(format!("--creds={}:{}", l.user, l.password));
    }
    let r = c.arg(format!("docker://{reference}")).run();
    assert_eq!(r.code, 0, "skopeo inspect {reference}: {}", r.stderr);
    r.stdout.trim().to_string()
}

/// `skopeo copy` of `image` from `engine` to `dest` in `registry` (with its account, TLS
/// unverified): an image put there by another client.
pub fn skopeo_copy_from_engine(engine: &Engine, image: &str, registry: &Registry, dest: &str) {
    let mut c = Command::new("skopeo");
    c.args(["copy", "--quiet", "--src-daemon-host", &engine.host])
        .arg("--dest-tls-verify=false");
    if let Some(l) = &registry.login {
        c.arg(format!("--dest-creds={}:{}", l.user, l.password));
    }
    let r = c
        .arg(format!("docker-daemon:{image}"))
        .arg(format!("docker://{dest}"))
        .run();
    assert_eq!(r.code, 0, "skopeo copy {image} {dest}: {}", r.stderr);
}

/// The real `docker login` (docker CLI → `engine` → registry) of `login` to `registry`,
/// with `docker_config` as its `DOCKER_CONFIG` and the password on stdin.
pub fn docker_login(engine: &Engine, docker_config: &Path, registry: &str, login: &Login) -> Run {
    engine
        .cli()
        .env("DOCKER_CONFIG", docker_config)
        .args(["login", registry, "-u", &login.user, "--password-stdin"])
        .run_with_stdin(&login.password)
}
