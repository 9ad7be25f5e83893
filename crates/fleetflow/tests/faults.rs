//! Fault injection: `flow image` through a proxy that resets connections, cuts bodies,
//! answers 503/429 and lies about digests, in front of the real plain registry; and
//! `kill -9` in the middle of a transfer. Every run either succeeds with verified
//! content or fails cleanly.

use std::process::Stdio;
use std::time::Duration;

use fleetflow_test_support::RegistryKind::Plain;
use fleetflow_test_support::{
    Context, FaultProxy, RunExt as _, assert_cache_verified, probe, registry, saved_image, unique,
};

fn ctx() -> Context {
    Context::new(env!("CARGO_BIN_EXE_flow"))
}

#[test]
fn push_and_pull_survive_resets_cuts_and_503s() {
    let ctx = ctx();
    let tar = &saved_image().tar;
    let plain = registry(Plain);
    // Every 3rd request a 503, every 5th a reset, every 2nd large body cut in half.
    let proxy = FaultProxy::start(
        &plain.host,
        &["--status", "3:503", "--reset", "5", "--cut", "2"],
    );
    let name = format!("faults/{}:v1", unique("app"));
    let r = ctx
        .image()
        .args(["push", "-q", "--retry-attempts", "5"])
        .arg(tar)
        .arg(proxy.at(&name))
        .run();
    assert_eq!(r.code, 0, "{r}\nfaults: {:?}", proxy.faults());
    let digest = r.pinned_digest();
    assert_eq!(probe::pushed_digest(&plain.at(&name)), digest);

    let pulled = ctx.dir("pulled");
    let r = ctx
        .image_with_cache(&pulled)
        .args(["pull", "-q", "--retry-attempts", "5", &proxy.at(&name)])
        .run();
    assert_eq!(r.code, 0, "{r}\nfaults: {:?}", proxy.faults());
    assert_eq!(r.pinned_digest(), digest);
    assert_cache_verified(&pulled);

    for kind in ["status 503", "reset", "cut at"] {
        assert!(
            proxy.count(kind) > 0,
            "no `{kind}` was injected: {:?}",
            proxy.faults()
        );
    }
}

#[test]
fn retry_after_429_is_honoured() {
    let ctx = ctx();
    let tar = &saved_image().tar;
    let proxy = FaultProxy::start(&registry(Plain).host, &["--status", "3:429"]);
    let dest = proxy.at(&format!("faults/{}:v1", unique("rate")));
    let started = std::time::Instant::now();
    // One blob at a time, so the waits add up.
    let r = ctx
        .image()
        .args(["push", "-q", "-j", "1", "--retry-attempts", "5"])
        .arg(tar)
        .arg(&dest)
        .run();
    r.assert_ok();
    let n = proxy.count("status 429");
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
    let ctx = ctx();
    let tar = &saved_image().tar;
    let plain = registry(Plain);

    // Every request 503: exit 5 after the retries, and no manifest in the registry.
    let proxy = FaultProxy::start(&plain.host, &["--status", "1:503"]);
    let repo = format!("faults/{}", unique("down"));
    let r = ctx
        .image()
        .args(["push", "--retry-attempts", "2"])
        .arg(tar)
        .arg(proxy.at(&format!("{repo}:v1")))
        .run();
    r.assert_code(5);
    assert!(r.stderr.contains("503"), "{r}");
    assert_eq!(probe::digest(&plain.at(&format!("{repo}:v1"))), None);

    // A wrong Docker-Content-Digest for the manifest: the push is not reported as done.
    let liar = FaultProxy::start(&plain.host, &["--wrong-digest"]);
    let r = ctx
        .image()
        .arg("push")
        .arg(tar)
        .arg(liar.at(&format!("{repo}:v2")))
        .run();
    r.assert_code(7);
    assert!(
        r.stderr.contains("digest") && r.stderr.contains("sha256:0000"),
        "{r}"
    );
    assert!(
        !r.stdout.contains('@'),
        "no pinned reference for an unverified push: {r}"
    );
}

#[test]
fn kill_9_during_push_and_pull_then_rerun_succeeds() {
    let ctx = ctx();
    let tar = &saved_image().tar;
    let plain = registry(Plain);
    // Stall every 4th request for 30 s: the transfer hangs there and is killed.
    let proxy = FaultProxy::start(&plain.host, &["--stall", "4:30"]);
    let name = format!("faults/{}:v1", unique("kill"));
    for op in ["push", "pull"] {
        // Each operation with a cache of its own, so the pull has blobs to download.
        let cache = ctx.dir(&format!("cache-{op}"));
        let mut c = ctx.image_with_cache(&cache);
        if op == "push" {
            c.args(["push", "-q"]).arg(tar).arg(proxy.at(&name));
        } else {
            c.args(["pull", "-q", &proxy.at(&name)]);
        }
        let mut child = c
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while proxy.count("stall") == 0 {
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
        let mut c = ctx.image_with_cache(&cache);
        if op == "push" {
            c.args(["push", "-q"]).arg(tar).arg(plain.at(&name));
        } else {
            // Into the cache the killed pull used.
            c.args(["pull", "-q", &plain.at(&name)]);
        }
        let r = c.run();
        assert_eq!(r.code, 0, "{op} rerun: {r}");
        assert_eq!(r.pinned_digest(), probe::pushed_digest(&plain.at(&name)));
        assert_cache_verified(&cache);
        let leftovers: Vec<_> = std::fs::read_dir(cache.join("tmp"))
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
    let ctx = ctx();
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
    let file = ctx.root().join("manifest");
    for (i, (what, body, want, needle)) in cases.into_iter().enumerate() {
        std::fs::write(&file, &body).unwrap();
        let proxy = FaultProxy::start(
            &registry(Plain).host,
            &["--manifest-body", file.to_str().unwrap()],
        );
        let cache = ctx.dir(&format!("cache-{i}"));
        let r = ctx
            .image_with_cache(&cache)
            .args(["pull", "--retry-attempts", "1", &proxy.at("hostile/x:1")])
            .run();
        assert_eq!(r.code, want, "{what}: {r}");
        assert!(r.stderr.contains(needle), "{what}: {r}");
        assert!(proxy.count("hostile manifest") > 0, "{what}");
        let refs = std::fs::read_to_string(cache.join("refs.json")).unwrap_or_default();
        assert!(
            !refs.contains("hostile"),
            "{what}: a ref was recorded: {refs}"
        );
    }
}
