//! Small helpers: names, files, git, base64, digests, cache checks.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// A name unique to this test run: `prefix-PID-MILLIS` (a valid tag).
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

/// Write `root/rel`, creating its folders.
pub fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
}

/// Read the JSON file at `path`.
pub fn read_json(path: &Path) -> serde_json::Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Copy the folder `from` into `to`, recursively.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        }
    }
}

/// `git -C dir ARGS…` with a test identity, `main` as the first branch and no signing;
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

/// `s` in standard base64 with padding (as `docker login` writes `auths` entries).
pub fn base64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// The digest of the pinned reference (`repo@sha256:…`) on the last line of `stdout`.
pub fn digest_of(stdout: &str) -> String {
    let line = stdout.lines().last().unwrap_or_default();
    line.rsplit_once('@')
        .map(|(_, d)| d.to_string())
        .unwrap_or_else(|| panic!("no digest in {stdout:?}"))
}

/// Check that every blob of the flow cache `cache` hashes to its name; how many there are.
pub fn verify_blobs(cache: &Path) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(cache.join("blobs/sha256")).unwrap() {
        let p = e.unwrap().path();
        let mut file = std::fs::File::open(&p).unwrap();
        let mut hasher = fleetflow_oci::Hasher::new();
        let mut buf = vec![0; 1 << 16];
        loop {
            let read = file.read(&mut buf).unwrap();
            if read == 0 {
                break;
            }
            hasher.update(&buf[..read]);
        }
        assert_eq!(
            hasher.finish().hex(),
            p.file_name().unwrap().to_str().unwrap(),
            "a blob of {} does not hash to its name",
            cache.display()
        );
        n += 1;
    }
    n
}

/// Every blob in the cache hashes to its name, and there is at least one.
pub fn assert_cache_verified(cache: &Path) {
    assert!(verify_blobs(cache) > 0, "no blob in {}", cache.display());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_standard_with_padding_and_pinned_digests_are_found() {
        // The basic registry's password: `+`, `/` and `=` must survive as docker writes them.
        assert_eq!(
            base64("flowtest:p+ss/w=rd+/==??????"),
            "Zmxvd3Rlc3Q6cCtzcy93PXJkKy89PT8/Pz8/Pw=="
        );
        assert_eq!(
            digest_of("127.0.0.1:5000/app:v1\n127.0.0.1:5000/app@sha256:abc\n"),
            "sha256:abc"
        );
    }

    #[test]
    fn verify_blobs_counts_good_blobs_and_refuses_a_bad_one() {
        let cache = tempfile::tempdir().unwrap();
        let digest = fleetflow_oci::Digest::of(b"blob");
        write(
            cache.path(),
            &format!("blobs/sha256/{}", digest.hex()),
            "blob",
        );
        assert_eq!(verify_blobs(cache.path()), 1);
        write(
            cache.path(),
            &format!("blobs/sha256/{}", "0".repeat(64)),
            "x",
        );
        let refused = std::panic::catch_unwind(|| verify_blobs(cache.path()));
        assert!(refused.is_err(), "a blob that is not its digest passed");
    }
}
