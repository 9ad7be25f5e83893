//! The input digest of a service: one SHA-256 over everything that decides what its image
//! is, so that an unchanged service can reuse the image already in its repository
//! (design/build.md, "Reusing unchanged services").
//!
//! It covers the Dockerfile (its bytes and its name in the context), every context entry
//! left after `.dockerignore` (name, kind, permission bits, size, content or link
//! target; not mtimes, which a checkout does not keep), the build args, the target, the
//! engine's platform, the labels except the ones that change with every commit or tag
//! (`created`, `revision`, `version`), and the engine's image ID of every base image
//! (`FROM`), so a rebuilt base image changes it too.
//!
//! The digest is recorded twice: as the image label [`INPUTS_LABEL`], and as the tag
//! [`inputs_tag`] in the image's repository, which is also where the engine pushes the
//! image before its real tags are moved.

use std::io::{self, Read};
use std::path::Path;

use fleetflow_oci::Digest;
use fleetflow_oci::Hasher;

use crate::engine::Engine;
use crate::error::BuildError;
use crate::plan::ServiceBuild;

/// The label holding the input digest.
pub const INPUTS_LABEL: &str = "dev.fleetflow.inputs";

/// Labels left out of the input digest: they change with every commit or tag without
/// changing what is built.
pub const VOLATILE_LABELS: &[&str] = &[
    "org.opencontainers.image.created",
    "org.opencontainers.image.revision",
    "org.opencontainers.image.version",
];

/// The tag that records an input digest in a repository (cosign's `sha256-<hex>.sig` style).
pub fn inputs_tag(inputs: &Digest) -> String {
    format!("sha256-{}.inputs", inputs.hex())
}

/// Length-prefixed fields, so no two different inputs hash the same stream.
struct Fields(Hasher);

impl Fields {
    fn field(&mut self, name: &str, value: &[u8]) {
        self.0.update(name.as_bytes());
        self.0.update(&(value.len() as u64).to_le_bytes());
        self.0.update(value);
    }
}

#[cfg(unix)]
fn name_bytes(p: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    p.as_os_str().as_bytes().to_vec()
}

#[cfg(not(unix))]
fn name_bytes(p: &Path) -> Vec<u8> {
    p.to_string_lossy().as_bytes().to_vec()
}

#[cfg(unix)]
fn mode_of(meta: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o7777
}

#[cfg(not(unix))]
fn mode_of(meta: &std::fs::Metadata) -> u32 {
    if meta.permissions().readonly() {
        0o444
    } else {
        0o644
    }
}

fn file_digest(path: &Path) -> io::Result<Digest> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Hasher::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finish())
}

/// Hash the inputs of `job`; `bases` are the base images with the engine's image ID
/// (`None`: not present in the engine). Reads the whole context: call it off the runtime.
pub fn hash_inputs(
    job: &ServiceBuild,
    bases: &[(String, Option<String>)],
    platform: &str,
) -> Result<Digest, BuildError> {
    let context = &job.spec.context;
    let ctx_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BuildError::Context { path, source }
    };
    let mut f = Fields(Hasher::new());
    f.field("format", b"flow-inputs/1");
    let dockerfile = std::fs::read(&job.spec.dockerfile).map_err(ctx_err(&job.spec.dockerfile))?;
    let dockerfile_name = job
        .spec
        .dockerfile
        .strip_prefix(context)
        .map(name_bytes)
        .unwrap_or_else(|_| b"<outside the context>".to_vec());
    f.field("dockerfile-name", &dockerfile_name);
    f.field("dockerfile", &dockerfile);
    f.field(
        "target",
        job.spec.target.as_deref().unwrap_or("").as_bytes(),
    );
    f.field("platform", platform.as_bytes());
    let mut args = job.spec.args.clone();
    args.sort();
    for (k, v) in &args {
        f.field("arg", format!("{k}={v}").as_bytes());
    }
    for (k, v) in &job.labels {
        if !VOLATILE_LABELS.contains(&k.as_str()) && k != INPUTS_LABEL {
            f.field("label", format!("{k}={v}").as_bytes());
        }
    }
    for (image, id) in bases {
        f.field("base", image.as_bytes());
        f.field("base-id", id.as_deref().unwrap_or("absent").as_bytes());
    }
    let ignore = crate::context::load_ignore(context)?;
    crate::context::walk(context, &ignore, &mut |_, abs| {
        let meta = std::fs::symlink_metadata(abs)?;
        let rel = abs.strip_prefix(context).unwrap_or(abs);
        f.field("entry", &name_bytes(rel));
        f.field("mode", &mode_of(&meta).to_le_bytes());
        let kind = meta.file_type();
        if kind.is_symlink() {
            f.field("symlink", &name_bytes(&std::fs::read_link(abs)?));
        } else if kind.is_dir() {
            f.field("dir", b"");
        } else if kind.is_file() {
            f.field("size", &meta.len().to_le_bytes());
            f.field("file", file_digest(abs)?.as_str().as_bytes());
        }
        Ok(())
    })
    .map_err(ctx_err(context))?;
    Ok(f.0.finish())
}

impl Engine {
    /// The input digest of `job` (see the module documentation).
    pub async fn input_digest(&self, job: &ServiceBuild) -> Result<Digest, BuildError> {
        let mut bases = Vec::new();
        for image in &job.base_images {
            let id = self
                .docker
                .inspect_image(image)
                .await
                .ok()
                .and_then(|i| i.id);
            bases.push((image.clone(), id));
        }
        let job = job.clone();
        let platform = self.platform().to_string();
        tokio::task::spawn_blocking(move || hash_inputs(&job, &bases, &platform))
            .await
            .map_err(|e| BuildError::Context {
                path: ".".into(),
                source: io::Error::other(e.to_string()),
            })?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleetflow_config::BuildSpec;

    fn job(dir: &Path) -> ServiceBuild {
        ServiceBuild {
            service: "api".into(),
            repository: fleetflow_oci::Reference::parse("r.io/o/api").unwrap(),
            tags: vec!["v1".into()],
            spec: BuildSpec {
                dockerfile: dir.join("Dockerfile"),
                context: dir.to_path_buf(),
                target: None,
                args: vec![("A".into(), "1".into())],
                no_cache: false,
                image_tag: None,
                labels: vec![],
            },
            labels: Default::default(),
            no_cache: false,
            pull: false,
            base_images: vec![],
            base_registries: vec![],
        }
    }

    #[test]
    fn changes_with_what_is_built_and_only_with_it() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("Dockerfile"), "FROM scratch\nCOPY a /\n").unwrap();
        std::fs::write(t.path().join("a"), "one").unwrap();
        std::fs::write(t.path().join("notes.md"), "x").unwrap();
        std::fs::write(t.path().join(".dockerignore"), "*.md\n").unwrap();
        let mut j = job(t.path());
        let base = hash_inputs(&j, &[], "linux/amd64").unwrap();
        assert_eq!(base, hash_inputs(&j, &[], "linux/amd64").unwrap());
        // Ignored files, mtimes and time-stamped labels do not count.
        std::fs::write(t.path().join("notes.md"), "changed").unwrap();
        j.labels
            .insert("org.opencontainers.image.revision".into(), "abc".into());
        j.labels
            .insert("org.opencontainers.image.created".into(), "now".into());
        assert_eq!(base, hash_inputs(&j, &[], "linux/amd64").unwrap());
        // Everything else does.
        let changed = |j: &ServiceBuild, bases: &[(String, Option<String>)], p: &str| {
            assert_ne!(base, hash_inputs(j, bases, p).unwrap());
        };
        changed(&j, &[], "linux/arm64");
        changed(
            &j,
            &[("busybox".into(), Some("sha256:1".into()))],
            "linux/amd64",
        );
        let mut k = j.clone();
        k.spec.args[0].1 = "2".into();
        changed(&k, &[], "linux/amd64");
        let mut k = j.clone();
        k.spec.target = Some("prod".into());
        changed(&k, &[], "linux/amd64");
        let mut k = j.clone();
        k.labels.insert("team".into(), "a".into());
        changed(&k, &[], "linux/amd64");
        std::fs::write(t.path().join("a"), "two").unwrap();
        changed(&j, &[], "linux/amd64");
        std::fs::write(t.path().join("a"), "one").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let a = t.path().join("a");
            std::fs::set_permissions(&a, std::fs::Permissions::from_mode(0o755)).unwrap();
            changed(&j, &[], "linux/amd64");
        }
        assert_eq!(
            inputs_tag(&base).len(),
            "sha256-".len() + 64 + ".inputs".len()
        );
        fleetflow_oci::validate_tag(&inputs_tag(&base)).unwrap();
    }
}
