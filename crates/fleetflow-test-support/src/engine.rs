//! The docker CLI against a test engine: to make inputs and to inspect results from the
//! outside, never to do what a test asks flow to do.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use crate::env::{Engine, TestEnv};
use crate::util::unique;

impl Engine {
    /// The docker CLI aimed at this engine (and only at it).
    pub fn cli(&self) -> Command {
        let mut c = Command::new("docker");
        c.env("DOCKER_HOST", &self.host)
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH");
        c
    }

    /// `docker ARGS…` against this engine: its trimmed stdout. A failure fails the test.
    pub fn docker(&self, args: &[&str]) -> String {
        let out = self.cli().args(args).output().expect("docker CLI");
        assert!(
            out.status.success(),
            "docker {args:?} on the {} engine failed: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Run a shell `script` inside `image` (never pulled, no network): its stdout.
    pub fn in_image(&self, image: &str, script: &str) -> String {
        self.docker(&[
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

    /// `docker image inspect --format FORMAT image`.
    pub fn inspect(&self, image: &str, format: &str) -> String {
        self.docker(&["image", "inspect", "--format", format, image])
    }

    /// The labels of `image`.
    pub fn labels(&self, image: &str) -> serde_json::Value {
        serde_json::from_str(&self.inspect(image, "{{json .Config.Labels}}"))
            .expect("labels are JSON")
    }
}

/// A test image saved by the engine with `docker save`.
#[derive(Debug)]
pub struct SavedImage {
    /// Its name in the engine.
    pub name: String,
    /// The `docker save` archive.
    pub tar: PathBuf,
}

/// The test image (three layers: the base, a RUN writing `/hello` and 4 MiB of random
/// bytes with their checksum in `/rand.sum`, a second RUN writing `/second`) built by the
/// default engine and saved, once per test binary.
pub fn saved_image() -> &'static SavedImage {
    static IMG: OnceLock<SavedImage> = OnceLock::new();
    IMG.get_or_init(|| {
        let env = TestEnv::get();
        let dir = std::env::temp_dir().join(unique("flow-image-test"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("Dockerfile"),
            format!(
                "FROM {}\nRUN echo made-by-flow-test > /hello && dd if=/dev/urandom of=/rand bs=1M count=4 2>/dev/null && sha256sum /rand > /rand.sum\nRUN echo second-layer > /second\n",
                env.base_image
            ),
        )
        .unwrap();
        let name = format!("flow-image-test/app:{}", unique("t"));
        let engine = env.engine();
        let out = engine
            .cli()
            .args(["build", "-q", "-t", &name])
            .arg(&dir)
            .env("DOCKER_BUILDKIT", "0")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let tar = dir.join("app.tar");
        engine.docker(&["save", "-o", tar.to_str().unwrap(), &name]);
        SavedImage { name, tar }
    })
}
