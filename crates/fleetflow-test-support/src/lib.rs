//! `fleetflow-test-support` owns what flow's integration tests share, so that a test file
//! holds only its scenario and its assertions:
//!
//! - [`TestEnv`]: the real test environment of `scripts/testenv.sh`, read once from
//!   `DOCKER_HOST` and the `FLOW_TEST_*` variables into typed [`Engine`]s and
//!   [`Registry`]s (plain, basic, tls, tlsbasic, token, readonly) with their credentials
//!   and CAs. A missing variable is a panic that says to run `scripts/test.sh`, never a
//!   skip. New engines or registries are added there, not parsed again in a test.
//! - [`Context`]: one per test: its own temporary folder, project folder, `DOCKER_CONFIG`
//!   (with helpers that write `config.json` auths) and flow cache, and the `flow`
//!   commands (`flow build …` against the test engine, offline, or `flow image …` with no
//!   engine at all) with a hermetic environment. The test crate passes the binary in
//!   (`env!("CARGO_BIN_EXE_flow")` exists only in the binary's own tests).
//! - [`Project`]: `flow.kdl`, Dockerfiles `FROM` the environment's busybox and files.
//! - [`Run`]: exit code, stdout, stderr and the `--progress json` events, with finders.
//! - [`probe`]: what a registry holds (manifest digests and bodies, blobs), read with
//!   flow's own [`fleetflow_registry::RegistryClient`]; [`peer`]: the peer tools (skopeo,
//!   the docker CLI) for the tests that cross-check with them on purpose.
//! - [`FaultProxy`] (`tests/support/fault_proxy.py`), and the small helpers: unique
//!   names, files, git, base64, pinned digests, cache verification.
//!
//! Dev-only (`publish = false`): no production crate depends on it; it depends on
//! `fleetflow-oci` and `fleetflow-registry` for the probe, never the other way round.

mod context;
mod engine;
mod env;
mod fault_proxy;
pub mod peer;
pub mod probe;
mod project;
mod run;
mod util;

pub use context::{CLEARED, Context};
pub use engine::{SavedImage, saved_image};
pub use env::{Engine, EngineTls, Login, Registry, RegistryKind, TestEnv, TokenServer, registry};
pub use fault_proxy::FaultProxy;
pub use project::{Project, Service};
pub use run::{Run, RunExt};
pub use util::{
    assert_cache_verified, base64, copy_dir, digest_of, git, read_json, repo_root, unique,
    verify_blobs, write,
};
