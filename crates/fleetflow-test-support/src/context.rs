//! One test's own folder, Docker config, flow cache and `flow` commands.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::env::{Engine, Login, Registry, TestEnv};
use crate::project::Project;

/// Where the engine is said to be when a command must not reach one.
const NO_ENGINE: &str = "unix:///nonexistent/flow-test-no-engine.sock";

/// Variables of the developer's shell or of a CI job that would change what `flow` does:
/// a test sets the ones it means to.
pub const CLEARED: &[&str] = &[
    // Stage and project selection, output modes, language.
    "FLEET_STAGE",
    "FLEET_PROJECT_ROOT",
    "CI",
    "NO_COLOR",
    "LC_ALL",
    "LC_MESSAGES",
    // Release metadata of a CI job.
    "FLOW_VERSION",
    "GITHUB_OUTPUT",
    "GITHUB_STEP_SUMMARY",
    "GITHUB_SHA",
    "GITHUB_REF_NAME",
    "GITHUB_REF_TYPE",
    "GITHUB_HEAD_REF",
    "SOURCE_DATE_EPOCH",
    // Credentials from the environment.
    "DOCKER_USERNAME",
    "DOCKER_PASSWORD",
    "GITHUB_ACTOR",
    "GITHUB_TOKEN",
    // Another engine.
    "DOCKER_CONTEXT",
    "DOCKER_TLS_VERIFY",
    "DOCKER_CERT_PATH",
];

/// A test's own world, removed when dropped: a temporary folder holding `project/` (where
/// `flow` runs), `docker-config/` (its `DOCKER_CONFIG`, `{}` to begin with) and `cache/`
/// (its `FLOW_CACHE_DIR`), and the engine its `flow build` commands use (none for
/// [`Context::offline`]).
#[derive(Debug)]
pub struct Context {
    dir: tempfile::TempDir,
    flow: PathBuf,
    engine: Option<Engine>,
}

impl Context {
    /// A context on the default engine of the [`TestEnv`]. `flow` is the binary under
    /// test: `env!("CARGO_BIN_EXE_flow")` in the binary's own tests.
    pub fn new(flow: impl Into<PathBuf>) -> Context {
        Context::make(flow.into(), Some(TestEnv::get().engine().clone()))
    }

    /// A context with no engine: `DOCKER_HOST` names a socket that does not exist, so no
    /// host engine can be reached by accident. Needs no test environment.
    pub fn offline(flow: impl Into<PathBuf>) -> Context {
        Context::make(flow.into(), None)
    }

    fn make(flow: PathBuf, engine: Option<Engine>) -> Context {
        let dir = tempfile::Builder::new()
            .prefix("flow-test-")
            .tempdir()
            .unwrap();
        let ctx = Context { dir, flow, engine };
        std::fs::create_dir_all(ctx.project_dir()).unwrap();
        std::fs::create_dir_all(ctx.cache_dir()).unwrap();
        ctx.write_docker_config("{}");
        ctx
    }

    /// The test's temporary folder.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// `root/name`, created: a folder of the test's own (records, certs, other caches).
    pub fn dir(&self, name: &str) -> PathBuf {
        let p = self.root().join(name);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    /// The folder `flow` runs in by default.
    pub fn project_dir(&self) -> PathBuf {
        self.root().join("project")
    }

    /// The test's flow cache (`FLOW_CACHE_DIR`).
    pub fn cache_dir(&self) -> PathBuf {
        self.root().join("cache")
    }

    /// The test's `DOCKER_CONFIG` folder.
    pub fn docker_config_dir(&self) -> PathBuf {
        self.root().join("docker-config")
    }

    /// Its `config.json`.
    pub fn docker_config_file(&self) -> PathBuf {
        self.docker_config_dir().join("config.json")
    }

    /// Replace `config.json` with `json`.
    pub fn write_docker_config(&self, json: &str) {
        crate::util::write(&self.docker_config_dir(), "config.json", json);
    }

    /// Write a `config.json` with an `auths` entry for each of `registries`, with its
    /// account (as `docker login` writes them).
    pub fn login(&self, registries: &[&Registry]) {
        let auths: Vec<(&str, &Login)> = registries
            .iter()
            .map(|r| (r.host.as_str(), r.login()))
            .collect();
        self.auths(&auths);
    }

    /// Write a `config.json` whose `auths` give each host its login.
    pub fn auths(&self, auths: &[(&str, &Login)]) {
        let auths: serde_json::Map<String, serde_json::Value> = auths
            .iter()
            .map(|(host, login)| {
                (
                    host.to_string(),
                    serde_json::json!({ "auth": login.auth() }),
                )
            })
            .collect();
        self.write_docker_config(&serde_json::json!({ "auths": auths }).to_string());
    }

    /// Write `rel` (with its folders) in the project folder.
    pub fn write(&self, rel: &str, text: &str) {
        crate::util::write(&self.project_dir(), rel, text);
    }

    /// Write `project` into the project folder.
    pub fn project(&self, project: &Project) {
        project.write(&self.project_dir());
    }

    /// The binary under test.
    pub fn flow_binary(&self) -> &Path {
        &self.flow
    }

    /// The engine of this context; a failure for an offline one.
    pub fn engine(&self) -> &Engine {
        self.engine
            .as_ref()
            .expect("an offline context has no engine: use Context::new")
    }

    /// `docker ARGS…` on this context's engine: its trimmed stdout.
    pub fn docker(&self, args: &[&str]) -> String {
        self.engine().docker(args)
    }

    /// A shell `script` run inside `image` on this context's engine: its stdout.
    pub fn in_image(&self, image: &str, script: &str) -> String {
        self.engine().in_image(image, script)
    }

    /// `flow` in the project folder (see [`Context::flow_in`]).
    pub fn flow(&self) -> Command {
        self.flow_in(&self.project_dir())
    }

    /// `flow` in `dir`, with this context's engine (none for an offline context), its
    /// `DOCKER_CONFIG` and cache, `LANG=C`, and none of the [`CLEARED`] variables.
    pub fn flow_in(&self, dir: &Path) -> Command {
        let host = self.engine.as_ref().map_or(NO_ENGINE, |e| e.host.as_str());
        let mut c = self.command(host);
        c.current_dir(dir);
        c
    }

    /// `flow image` with the test's cache and no engine at all (the commands are
    /// daemonless).
    pub fn image(&self) -> Command {
        self.image_with_cache(&self.cache_dir())
    }

    /// `flow image` with `cache` as its cache.
    pub fn image_with_cache(&self, cache: &Path) -> Command {
        let mut c = self.command(NO_ENGINE);
        c.current_dir(self.root())
            .env("FLOW_CACHE_DIR", cache)
            .arg("image");
        c
    }

    fn command(&self, docker_host: &str) -> Command {
        let mut c = Command::new(&self.flow);
        for v in CLEARED {
            c.env_remove(v);
        }
        c.env("LANG", "C")
            .env("DOCKER_HOST", docker_host)
            .env("DOCKER_CONFIG", self.docker_config_dir())
            .env("FLOW_CACHE_DIR", self.cache_dir());
        c
    }
}
