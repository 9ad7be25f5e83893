//! `flow image`: the daemonless commands against the real registries of the test
//! environment, with images made and run by the real engine.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use fleetflow_test_support::RegistryKind::{Basic, Plain, Tls, Token};
use fleetflow_test_support::probe::{self, Probe};
use fleetflow_test_support::{
    Context, Login, RunExt as _, assert_cache_verified, registry, saved_image, unique, verify_blobs,
};

fn ctx() -> Context {
    Context::new(env!("CARGO_BIN_EXE_flow"))
}

#[test]
fn docker_save_tar_pushed_then_pulled_and_run_by_the_engine() {
    let ctx = ctx();
    let tar = &saved_image().tar;
    let plain = registry(Plain);
    let repo = format!("image-test/{}", unique("app"));
    let dest = plain.at(&format!("{repo}:v1"));
    let push = || {
        let r = ctx
            .image()
            .args(["push", "--progress", "json"])
            .arg(tar)
            .arg(&dest)
            .run();
        r.assert_ok();
        r
    };
    let r = push();
    let digest = r.event("done")["digest"].as_str().unwrap().to_string();
    assert_eq!(
        probe::pushed_digest(&dest),
        digest,
        "flow reports the registry's digest"
    );
    let blobs = r.events("blob");
    let pushed = blobs.iter().filter(|e| e["action"] == "pushed").count();
    assert_eq!(pushed, 4, "three layers and the config: {r}");
    // Every blob the manifest names is in the registry.
    let manifest = probe::manifest(&dest).unwrap();
    let layers = manifest["layers"].as_array().unwrap();
    let held = Probe::connect(plain);
    for blob in layers.iter().chain([&manifest["config"]]) {
        let blob = blob["digest"].as_str().unwrap();
        assert!(held.has_blob(&repo, blob), "{blob} missing");
    }

    // The engine pulls it and the content is right.
    ctx.docker(&["pull", "-q", &dest]);
    let got = ctx.in_image(&dest, "cat /hello /second && sha256sum -c /rand.sum");
    assert_eq!(got, "made-by-flow-test\nsecond-layer\n/rand: OK");

    // Again: every blob exists, no layer is compressed twice, the digest is the same.
    let r = push();
    assert!(
        r.events("blob").iter().all(|e| e["action"] == "exists"),
        "{r}"
    );
    assert_eq!(r.event("done")["digest"], digest.as_str());
    assert_cache_verified(&ctx.cache_dir());
}

#[test]
fn pulled_image_keeps_its_digest_through_push_and_copy_with_auth() {
    let ctx = ctx();
    let tar = &saved_image().tar;
    let plain = &registry(Plain).host;
    let src = format!("{plain}/image-test/src:{}", unique("v"));
    let r = ctx.image().args(["push", "-q"]).arg(tar).arg(&src).run();
    r.assert_ok();
    let digest = r.pinned_digest();

    // Pull into a fresh cache, then push from the cache to the basic-auth registry.
    let cache2 = ctx.dir("cache2");
    let r = ctx
        .image_with_cache(&cache2)
        .args(["pull", "-q", &src])
        .run();
    r.assert_ok();
    assert_eq!(r.pinned_digest(), digest);
    assert_cache_verified(&cache2);

    let basic = registry(Basic);
    let login = basic.login();
    let mirror = basic.at(&format!("image-test/mirror:{}", unique("v")));
    let r = ctx
        .image_with_cache(&cache2)
        .env("RUST_LOG", "trace")
        .args(["push", "--progress", "plain", &src, &mirror])
        .args(["-u", &login.user, "--password-stdin"])
        .run_with_stdin(&format!("{}\n", login.password));
    r.assert_ok();
    assert_eq!(r.pinned_digest(), digest);
    assert!(!r.output().contains(&login.password), "the password leaked");
    assert_eq!(probe::pushed_digest(&mirror), digest);

    // Without credentials: exit 3, naming the registry and docker login.
    let r = ctx
        .image_with_cache(&cache2)
        .args(["push", &src, &mirror])
        .run();
    r.assert_code(3);
    assert!(r.stderr.contains("docker login"), "{r}");

    // copy, registry to registry, to the token registry (credentials from config.json).
    let token = registry(Token);
    ctx.login(&[token]);
    let dest = token.at(&format!("image-test/copied:{}", unique("v")));
    let cache3 = ctx.dir("cache3");
    let r = ctx
        .image_with_cache(&cache3)
        .args(["copy", "-q", &src, &dest])
        .run();
    r.assert_ok();
    assert_eq!(r.pinned_digest(), digest);
    assert_eq!(probe::pushed_digest(&dest), digest);

    // copy within one registry mounts every blob.
    let same = format!("{plain}/image-test/mounted:{}", unique("v"));
    let r = ctx
        .image_with_cache(&cache3)
        .args(["copy", "--progress", "json", &src, &same])
        .run();
    r.assert_ok();
    let mounted = r
        .all_events()
        .iter()
        .filter(|e| e["action"] == "mounted")
        .count();
    assert_eq!(mounted, 4, "{r}");
    assert_eq!(probe::pushed_digest(&same), digest);
}

#[test]
fn tls_registry_needs_its_ca_and_missing_images_are_not_found() {
    let ctx = ctx();
    let tar = &saved_image().tar;
    let tls = registry(Tls);
    let dest = tls.at(&format!("image-test/tls:{}", unique("v")));
    let certs = ctx.dir("certs");

    // Without the CA: verification fails, exit 5, and the message says where the CA goes.
    let r = ctx
        .image()
        .args(["push", "--cert-dir"])
        .arg(&certs)
        .arg(tar)
        .arg(&dest)
        .run();
    r.assert_code(5);
    assert!(r.stderr.contains("ca.crt"), "{r}");

    std::fs::create_dir_all(certs.join(&tls.host)).unwrap();
    std::fs::copy(
        tls.ca.as_ref().expect("the tls registry's CA"),
        certs.join(&tls.host).join("ca.crt"),
    )
    .unwrap();
    let pushed = ctx
        .image()
        .args(["push", "-q", "--cert-dir"])
        .arg(&certs)
        .arg(tar)
        .arg(&dest)
        .run();
    pushed.assert_ok();
    let r = ctx
        .image()
        .args(["pull", "-q", "--cert-dir"])
        .arg(&certs)
        .arg(&dest)
        .run();
    r.assert_ok();
    assert_eq!(r.pinned_digest(), pushed.pinned_digest());

    // A tag that does not exist: exit 6, "not found".
    let missing = registry(Plain).at("image-test/none:nope");
    let r = ctx.image().args(["pull", &missing]).run();
    r.assert_code(6);
    assert!(r.stderr.contains("not found"), "{r}");
    // Pushing a reference that is neither a file nor cached: exit 6 with a hint.
    let r = ctx.image().args(["push", &missing, &dest]).run();
    r.assert_code(6);
    assert!(r.stderr.contains("flow image pull"), "{r}");
    // A stopped registry: exit 5.
    let r = ctx
        .image()
        .args(["pull", "--retry-attempts", "0", "127.0.0.1:1/none:x"])
        .run();
    r.assert_code(5);
}

#[test]
fn import_ls_rm_and_clean() {
    let ctx = ctx();
    let image = saved_image();
    let r = ctx.image().args(["import", "-q"]).arg(&image.tar).run();
    r.assert_ok();
    let canonical = format!("docker.io/{}", image.name);
    assert!(r.stdout.contains(&canonical), "{r}");
    ctx.image()
        .args(["extract", "-q", "--tag", "mirror.local/app:imported"])
        .arg(&image.tar)
        .run()
        .assert_ok();

    let r = ctx.image().args(["ls", "--json"]).run();
    r.assert_ok();
    let list = r.json();
    let refs: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["ref"].as_str().unwrap())
        .collect();
    assert_eq!(refs.len(), 2, "{r}");
    assert!(
        refs.contains(&canonical.as_str()) && refs.contains(&"mirror.local/app:imported"),
        "{r}"
    );
    let cache = ctx.cache_dir();
    assert_cache_verified(&cache);

    // rm one name, then clean: nothing is freed while the other name uses the blobs.
    let rm = || ctx.image().args(["rm", "mirror.local/app:imported"]).run();
    assert_eq!(rm().code, 0);
    assert_eq!(rm().code, 6, "a second rm finds nothing");
    let r = ctx.image().args(["clean", "--progress", "json"]).run();
    assert_eq!(r.all_events()[0]["blobs"], 0, "{r}");
    let r = ctx.image().args(["clean", "--all"]).run();
    r.assert_ok();
    assert!(r.stdout.contains("freed"), "{r}");
    assert_eq!(
        std::fs::read_dir(cache.join("blobs/sha256"))
            .unwrap()
            .count(),
        0
    );
    assert_eq!(ctx.image().args(["ls", "--json"]).run().stdout.trim(), "[]");
}

/// Rewrite a `docker save` tar with python's tarfile: `edit` gets the members as
/// (name, bytes) pairs to change.
fn rewrite_tar(src: &Path, dest: &Path, script: &str) {
    let py = format!(
        "import tarfile, json, io, sys\nsrc = tarfile.open(sys.argv[1])\nmembers = [(m, src.extractfile(m).read() if m.isfile() else None) for m in src.getmembers()]\nout = tarfile.open(sys.argv[2], 'w')\ndef add(name, data):\n    ti = tarfile.TarInfo(name); ti.size = len(data); out.addfile(ti, io.BytesIO(data))\n{script}\nout.close()\n"
    );
    let r = Command::new("python3")
        .arg("-c")
        .arg(py)
        .arg(src)
        .arg(dest)
        .run();
    r.assert_ok();
}

#[test]
fn hostile_archives_fail_cleanly_and_push_no_manifest() {
    let ctx = ctx();
    let tar = &saved_image().tar;
    let dir = ctx.dir("archives");
    let cases: Vec<(&str, PathBuf, &str)> = {
        // Truncated in the middle of a layer.
        let truncated = dir.join("truncated.tar");
        let bytes = std::fs::read(tar).unwrap();
        std::fs::write(&truncated, &bytes[..bytes.len() * 2 / 3]).unwrap();
        // The config's DiffIDs lie (first one swapped for another layer's).
        let lying = dir.join("lying.tar");
        rewrite_tar(
            tar,
            &lying,
            "\
for m, data in members:
    if m.isfile() and m.name.endswith('.json') and m.name != 'manifest.json' and '/' not in m.name:
        cfg = json.loads(data); d = cfg['rootfs']['diff_ids']; d[0], d[1] = d[1], d[0]
        data = json.dumps(cfg).encode()
    if data is None: out.addfile(m)
    else: m.size = len(data); out.addfile(m, io.BytesIO(data))
",
        );
        // An entry and a symlinked layer that point outside the archive.
        let escape = dir.join("escape.tar");
        rewrite_tar(
            tar,
            &escape,
            "\
for m, data in members:
    if data is None: out.addfile(m)
    else: out.addfile(m, io.BytesIO(data))
add('../../evil', b'x')
",
        );
        let link = dir.join("link.tar");
        rewrite_tar(tar, &link, "\
for m, data in members:
    if m.name.endswith('layer.tar'):
        ti = tarfile.TarInfo(m.name); ti.type = tarfile.SYMTYPE; ti.linkname = '../../../etc/passwd'; out.addfile(ti)
    elif data is None: out.addfile(m)
    else: out.addfile(m, io.BytesIO(data))
");
        vec![
            ("truncated", truncated, "truncated"),
            ("lying", lying, "DiffID"),
            ("escape", escape, "outside the archive"),
            ("link", link, "outside the archive"),
        ]
    };
    for (what, path, needle) in cases {
        let cache = ctx.dir(&format!("cache-{what}"));
        let dest = registry(Plain).at(&format!("image-test/hostile-{what}:{}", unique("v")));
        let r = ctx
            .image_with_cache(&cache)
            .args(["push", "--progress", "plain"])
            .arg(&path)
            .arg(&dest)
            .run();
        assert_eq!(r.code, 7, "{what}: {r}");
        assert!(r.stderr.contains(needle), "{what}: {r}");
        assert_eq!(probe::digest(&dest), None, "{what}: a manifest was pushed");
        // The cache holds no unverified blob and no temp file.
        if cache.join("blobs/sha256").exists() {
            verify_blobs(&cache);
            let tmp: Vec<_> = std::fs::read_dir(cache.join("tmp")).unwrap().collect();
            assert!(tmp.is_empty(), "{what}: temp files left: {tmp:?}");
        }
    }
}

#[test]
fn two_concurrent_pulls_into_one_cache_both_succeed() {
    let ctx = ctx();
    let tar = &saved_image().tar;
    let src = registry(Plain).at(&format!("image-test/concurrent:{}", unique("v")));
    let seed = ctx.dir("seed");
    ctx.image_with_cache(&seed)
        .args(["push", "-q"])
        .arg(tar)
        .arg(&src)
        .run()
        .assert_ok();
    let spawn = || {
        ctx.image()
            .args(["pull", "-q", &src])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let cache = ctx.cache_dir();
    assert_cache_verified(&cache);
    assert_eq!(
        std::fs::read_dir(cache.join("blobs/sha256"))
            .unwrap()
            .count(),
        5
    );
}

#[test]
fn verbose_output_of_every_auth_path_shows_no_secret() {
    let ctx = ctx();
    let tar = saved_image().tar.display().to_string();
    let (basic, token) = (registry(Basic), registry(Token));
    let (bl, tl) = (basic.login(), token.login());
    ctx.login(&[token, basic]);
    let secrets = [
        bl.password.clone(),
        tl.password.clone(),
        tl.auth(),
        bl.auth(),
        "eyJ".to_string(), // any JWT (the token server's tokens)
        "Bearer ".to_string(),
        "_state=".to_string(), // upload session state in Location queries
    ];
    let (token, basic) = (&token.host, &basic.host);
    // `push TAR DEST -u USER --password-stdin`, with `password` on stdin.
    let with_stdin = |dest: &str, login: &Login, password: &str| {
        let args = ["push", &tar, dest, "-u", &login.user, "--password-stdin"];
        (args.map(String::from).to_vec(), Some(password.to_string()))
    };
    let runs: Vec<(Vec<String>, Option<String>)> = vec![
        // config.json → bearer token (push, pull, copy between the two)
        (
            vec![
                "push".into(),
                tar.clone(),
                format!("{token}/secrets/app:v1"),
            ],
            None,
        ),
        (vec!["pull".into(), format!("{token}/secrets/app:v1")], None),
        (
            vec![
                "copy".into(),
                format!("{token}/secrets/app:v1"),
                format!("{basic}/secrets/app:v1"),
            ],
            None,
        ),
        // --password-stdin → basic, and → token server
        with_stdin(&format!("{basic}/secrets/app:v2"), bl, &bl.password),
        with_stdin(&format!("{token}/secrets/app:v2"), tl, &tl.password),
        // A wrong password: the error path.
        with_stdin(
            &format!("{basic}/secrets/app:v3"),
            bl,
            &format!("{}x", bl.password),
        ),
    ];
    for (i, (args, stdin)) in runs.iter().enumerate() {
        let r = ctx
            .image()
            .env("RUST_LOG", "trace")
            .args(["-v", "--progress", "plain"])
            .args(args)
            .run_with_stdin(stdin.as_deref().unwrap_or(""));
        let all = r.output();
        assert_eq!(r.code, if i == 5 { 3 } else { 0 }, "{args:?}: {all}");
        assert!(
            all.contains("[http] "),
            "{args:?}: -v prints requests: {all}"
        );
        for s in &secrets {
            assert!(
                !all.contains(s.as_str()),
                "{args:?}: `{s}` appears in the output:\n{all}"
            );
        }
    }
}

#[test]
fn zstd_and_uncompressed_pushes_round_trip() {
    let ctx = ctx();
    let tar = &saved_image().tar;
    for compression in ["zstd", "none"] {
        let cache = ctx.dir(&format!("cache-{compression}"));
        let dest = registry(Plain).at(&format!("image-test/{}:v1", unique(compression)));
        let r = ctx
            .image_with_cache(&cache)
            .args(["push", "-q", "--compression", compression])
            .arg(tar)
            .arg(&dest)
            .run();
        assert_eq!(r.code, 0, "{compression}: {r}");
        let digest = r.pinned_digest();
        let manifest = probe::manifest(&dest).expect("the pushed manifest");
        assert_eq!(
            manifest["mediaType"],
            "application/vnd.oci.image.manifest.v1+json"
        );
        let want = if compression == "zstd" {
            "application/vnd.oci.image.layer.v1.tar+zstd"
        } else {
            "application/vnd.oci.image.layer.v1.tar"
        };
        assert!(
            manifest["layers"]
                .as_array()
                .unwrap()
                .iter()
                .all(|l| l["mediaType"] == want),
            "{manifest}"
        );
        let pulled = ctx.dir(&format!("pulled-{compression}"));
        let r = ctx
            .image_with_cache(&pulled)
            .args(["pull", "-q", &dest])
            .run();
        r.assert_ok();
        assert_eq!(r.pinned_digest(), digest);
        if compression == "none" {
            // Debian's Docker 20.10 runs OCI images with uncompressed layers (not zstd).
            ctx.docker(&["pull", "-q", &dest]);
            assert_eq!(ctx.in_image(&dest, "cat /second"), "second-layer");
        }
    }
}
