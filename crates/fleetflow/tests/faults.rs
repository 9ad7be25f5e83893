//! Fault injection: `flow image` through a proxy that resets connections, cuts bodies,
//! answers 503/429 and lies about digests, in front of the real plain registry; and
//! `kill -9` in the middle of a transfer. Every run either succeeds with verified
//! content or fails cleanly.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{
    FaultProxy, assert_cache_verified, digest_of, env, flow_image, registry_digest, run,
    saved_image, unique,
};

/// Does the registry (directly, not through the proxy) have `reference`?
fn exists(reference: &str) -> bool {
    std::process::Command::new("skopeo")
        .args([
            "inspect",
            "--tls-verify=false",
            &format!("docker://{reference}"),
        ])
        .output()
        .unwrap()
        .status
        .success()
}

#[test]
fn push_and_pull_survive_resets_cuts_and_503s() {
    let (_, tar) = saved_image();
    let plain = env("FLOW_TEST_REGISTRY_PLAIN");
    // Every 3rd request a 503, every 5th a reset, every 2nd large body cut in half.
    let proxy = FaultProxy::start(&plain, &["--status", "3:503", "--reset", "5", "--cut", "2"]);
    let repo = format!("faults/{}", unique("app"));
    let cache = tempfile::tempdir().unwrap();
    let mut c = flow_image(cache.path());
    c.args(["push", "-q", "--retry-attempts", "5"])
        .arg(tar)
        .arg(format!("{}/{repo}:v1", proxy.addr));
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{out}\n{err}\nfaults: {:?}", proxy.faults());
    let digest = digest_of(&out);
    assert_eq!(registry_digest(&format!("{plain}/{repo}:v1"), None), digest);

    let pulled = tempfile::tempdir().unwrap();
    let mut c = flow_image(pulled.path());
    c.args(["pull", "-q", "--retry-attempts", "5"])
        .arg(format!("{}/{repo}:v1", proxy.addr));
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{out}\n{err}\nfaults: {:?}", proxy.faults());
    assert_eq!(digest_of(&out), digest);
    assert_cache_verified(pulled.path());

    let faults = proxy.faults();
    for kind in ["status 503", "reset", "cut at"] {
        assert!(
            faults.iter().any(|f| f.contains(kind)),
            "no `{kind}` was injected: {faults:?}"
        );
    }
}

#[test]
fn retry_after_429_is_honoured() {
    let (_, tar) = saved_image();
    let plain = env("FLOW_TEST_REGISTRY_PLAIN");
    let proxy = FaultProxy::start(&plain, &["--status", "3:429"]);
    let cache = tempfile::tempdir().unwrap();
    let dest = format!("{}/faults/{}:v1", proxy.addr, unique("rate"));
    let mut c = flow_image(cache.path());
    // One blob at a time, so the waits add up.
    c.args(["push", "-q", "-j", "1", "--retry-attempts", "5"])
        .arg(tar)
        .arg(&dest);
    let started = std::time::Instant::now();
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{out}\n{err}");
    let n = proxy
        .faults()
        .iter()
        .filter(|f| f.contains("status 429"))
        .count();
    assert!(n >= 2, "{:?}", proxy.faults());
    // Each 429 said Retry-After: 1, and flow waited for it.
    assert!(
        started.elapsed() >= Duration::from_secs(n as u64),
        "{:?} for {n} 429s: {:?}",
        started.elapsed(),
        proxy.faults()
    );
}

#[test]
fn a_registry_that_keeps_failing_or_lies_fails_cleanly() {
    let (_, tar) = saved_image();
    let plain = env("FLOW_TEST_REGISTRY_PLAIN");

    // Every request 503: exit 5 after the retries, and no manifest in the registry.
    let proxy = FaultProxy::start(&plain, &["--status", "1:503"]);
    let repo = format!("faults/{}", unique("down"));
    let cache = tempfile::tempdir().unwrap();
    let mut c = flow_image(cache.path());
    c.args(["push", "--retry-attempts", "2"])
        .arg(tar)
        .arg(format!("{}/{repo}:v1", proxy.addr));
    let (code, _, err) = run(c);
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("503"), "{err}");
    assert!(!exists(&format!("{plain}/{repo}:v1")));

    // A wrong Docker-Content-Digest for the manifest: the push is not reported as done.
    let liar = FaultProxy::start(&plain, &["--wrong-digest"]);
    let mut c = flow_image(cache.path());
    c.args(["push"])
        .arg(tar)
        .arg(format!("{}/{repo}:v2", liar.addr));
    let (code, out, err) = run(c);
    assert_eq!(code, 7, "{out}\n{err}");
    assert!(
        err.contains("digest") && err.contains("sha256:0000"),
        "{err}"
    );
    assert!(
        !out.contains('@'),
        "no pinned reference for an unverified push: {out}"
    );
}

#[test]
fn kill_9_during_push_and_pull_then_rerun_succeeds() {
    let (_, tar) = saved_image();
    let plain = env("FLOW_TEST_REGISTRY_PLAIN");
    // Stall every 4th request for 30 s: the transfer hangs there and is killed.
    let proxy = FaultProxy::start(&plain, &["--stall", "4:30"]);
    let repo = format!("faults/{}", unique("kill"));
    for op in ["push", "pull"] {
        // Each operation with a cache of its own, so the pull has blobs to download.
        let cache = tempfile::tempdir().unwrap();
        let mut c = flow_image(cache.path());
        if op == "push" {
            c.args(["push", "-q"])
                .arg(tar)
                .arg(format!("{}/{repo}:v1", proxy.addr));
        } else {
            c.args(["pull", "-q", &format!("{}/{repo}:v1", proxy.addr)]);
        }
        let mut child = c
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !proxy.faults().iter().any(|f| f.contains("stall")) {
            assert!(
                std::time::Instant::now() < deadline,
                "{op}: no stall reached"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(200));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        std::fs::remove_file(&proxy.log).ok();

        // Rerun directly against the registry: it succeeds, and the cache is sound.
        let mut c = flow_image(cache.path());
        if op == "push" {
            c.args(["push", "-q"])
                .arg(tar)
                .arg(format!("{plain}/{repo}:v1"));
        } else {
            // Into the cache the killed pull used.
            c.args(["pull", "-q", &format!("{plain}/{repo}:v1")]);
        }
        let (code, out, err) = run(c);
        assert_eq!(code, 0, "{op} rerun: {out}\n{err}");
        assert_eq!(
            digest_of(&out),
            registry_digest(&format!("{plain}/{repo}:v1"), None)
        );
        assert_cache_verified(cache.path());
        let leftovers: Vec<_> = std::fs::read_dir(cache.path().join("tmp"))
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(
            leftovers.is_empty(),
            "{op}: temp files of the killed run: {leftovers:?}"
        );
    }
}

#[test]
fn hostile_manifests_from_a_registry_are_refused() {
    let plain = env("FLOW_TEST_REGISTRY_PLAIN");
    let dir = tempfile::tempdir().unwrap();
    let zero = format!("sha256:{}", "0".repeat(64));
    let cases: Vec<(&str, Vec<u8>, i32, &str)> = vec![
        ("not json", b"<html>surprise</html>".to_vec(), 5, "not JSON"),
        ("oversized", {
            let mut v = b"{\"schemaVersion\":2,\"x\":\"".to_vec();
            v.extend(std::iter::repeat_n(b'a', 5 << 20));
            v.extend(b"\"}");
            v
        }, 5, "larger than"),
        ("path in digest", br#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:../../../etc/passwd","size":2},"layers":[]}"#.to_vec(), 5, "invalid digest"),
        ("schema 1", br#"{"schemaVersion":1,"name":"x","fsLayers":[]}"#.to_vec(), 5, "schema 1"),
        ("other platform only", format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{zero}","size":2,"platform":{{"os":"plan9","architecture":"mips"}}}}]}}"#
        ).into_bytes(), 6, "plan9/mips"),
        ("blob missing from the registry", format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{zero}","size":2}},"layers":[]}}"#
        ).into_bytes(), 6, "not found"),
    ];
    for (what, body, want, needle) in cases {
        let file = dir.path().join("manifest");
        std::fs::write(&file, &body).unwrap();
        let proxy = FaultProxy::start(&plain, &["--manifest-body", file.to_str().unwrap()]);
        let cache = tempfile::tempdir().unwrap();
        let mut c = flow_image(cache.path());
        c.args([
            "pull",
            "--retry-attempts",
            "1",
            &format!("{}/hostile/x:1", proxy.addr),
        ]);
        let (code, _, err) = run(c);
        assert_eq!(code, want, "{what}: {err}");
        assert!(err.contains(needle), "{what}: {err}");
        assert!(
            proxy
                .faults()
                .iter()
                .any(|f| f.contains("hostile manifest")),
            "{what}"
        );
        let refs = std::fs::read_to_string(cache.path().join("refs.json")).unwrap_or_default();
        assert!(
            !refs.contains("hostile"),
            "{what}: a ref was recorded: {refs}"
        );
    }
}
