//! `flow image`: the daemonless commands against the real registries of the test
//! environment, with images made and run by the real engine.

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{
    assert_cache_verified, digest_of, docker, env, flow_image, json_lines, registry_digest, run,
    run_stdin, saved_image, unique, verify_blobs,
};

#[test]
fn docker_save_tar_pushed_then_pulled_and_run_by_the_engine() {
    let (_, tar) = saved_image();
    let cache = tempfile::tempdir().unwrap();
    let reg = env("FLOW_TEST_REGISTRY_PLAIN");
    let dest = format!("{reg}/image-test/{}:v1", unique("app"));
    let mut c = flow_image(cache.path());
    c.args(["push", "--progress", "json"]).arg(tar).arg(&dest);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{out}\n{err}");
    let events = json_lines(&out);
    let done = events
        .iter()
        .find(|e| e["event"] == "done")
        .expect("done event");
    let digest = done["digest"].as_str().unwrap().to_string();
    assert_eq!(
        registry_digest(&dest, None),
        digest,
        "flow reports the registry's digest"
    );
    let pushed = events
        .iter()
        .filter(|e| e["event"] == "blob" && e["action"] == "pushed")
        .count();
    assert_eq!(pushed, 4, "three layers and the config: {out}");

    // The engine pulls it and the content is right.
    docker(&["pull", "-q", &dest]);
    let got = common::in_image(&dest, "cat /hello /second && sha256sum -c /rand.sum");
    assert_eq!(got, "made-by-flow-test\nsecond-layer\n/rand: OK");

    // Again: every blob exists, no layer is compressed twice, the digest is the same.
    let mut c = flow_image(cache.path());
    c.args(["push", "--progress", "json"]).arg(tar).arg(&dest);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{out}\n{err}");
    let events = json_lines(&out);
    assert!(
        events
            .iter()
            .filter(|e| e["event"] == "blob")
            .all(|e| e["action"] == "exists"),
        "{out}"
    );
    assert_eq!(
        events.iter().find(|e| e["event"] == "done").unwrap()["digest"],
        digest.as_str()
    );
    assert_cache_verified(cache.path());
}

#[test]
fn pulled_image_keeps_its_digest_through_push_and_copy_with_auth() {
    let (_, tar) = saved_image();
    let cache = tempfile::tempdir().unwrap();
    let plain = env("FLOW_TEST_REGISTRY_PLAIN");
    let src = format!("{plain}/image-test/src:{}", unique("v"));
    let mut c = flow_image(cache.path());
    c.args(["push", "-q"]).arg(tar).arg(&src);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{out}\n{err}");
    let digest = digest_of(&out);

    // Pull into a fresh cache, then push from the cache to the basic-auth registry.
    let cache2 = tempfile::tempdir().unwrap();
    let mut c = flow_image(cache2.path());
    c.args(["pull", "-q", &src]);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(digest_of(&out), digest);
    assert_cache_verified(cache2.path());

    let (user, pass) = (env("FLOW_TEST_BASIC_USER"), env("FLOW_TEST_BASIC_PASSWORD"));
    let basic = format!(
        "{}/image-test/mirror:{}",
        env("FLOW_TEST_REGISTRY_BASIC"),
        unique("v")
    );
    let mut c = flow_image(cache2.path());
    c.env("RUST_LOG", "trace").args([
        "push",
        "--progress",
        "plain",
        &src,
        &basic,
        "-u",
        &user,
        "--password-stdin",
    ]);
    let (code, out, err) = run_stdin(c, &format!("{pass}\n"));
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(digest_of(&out), digest);
    assert!(
        !format!("{out}{err}").contains(&pass),
        "the password leaked"
    );
    assert_eq!(registry_digest(&basic, Some((&user, &pass))), digest);

    // Without credentials: exit 3, naming the registry and docker login.
    let mut c = flow_image(cache2.path());
    c.args(["push", &src, &basic]);
    let (code, _, err) = run(c);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("docker login"), "{err}");

    // copy, registry to registry, to the token registry (credentials from config.json).
    let cfg = tempfile::tempdir().unwrap();
    let (tu, tp) = (env("FLOW_TEST_TOKEN_USER"), env("FLOW_TEST_TOKEN_PASSWORD"));
    let token_reg = env("FLOW_TEST_REGISTRY_TOKEN");
    std::fs::write(
        cfg.path().join("config.json"),
        format!(
            r#"{{"auths":{{"{token_reg}":{{"auth":"{}"}}}}}}"#,
            base64_encode(&format!("{tu}:{tp}"))
        ),
    )
    .unwrap();
    let dest = format!("{token_reg}/image-test/copied:{}", unique("v"));
    let cache3 = tempfile::tempdir().unwrap();
    let mut c = flow_image(cache3.path());
    c.env("DOCKER_CONFIG", cfg.path())
        .args(["copy", "-q", &src, &dest]);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(digest_of(&out), digest);
    assert_eq!(registry_digest(&dest, Some((&tu, &tp))), digest);

    // copy within one registry mounts every blob.
    let same = format!("{plain}/image-test/mounted:{}", unique("v"));
    let mut c = flow_image(cache3.path());
    c.args(["copy", "--progress", "json", &src, &same]);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{out}\n{err}");
    let events = json_lines(&out);
    let mounted = events.iter().filter(|e| e["action"] == "mounted").count();
    assert_eq!(mounted, 4, "{out}");
    assert_eq!(registry_digest(&same, None), digest);
}

fn base64_encode(s: &str) -> String {
    let out = Command::new("base64")
        .arg("-w0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = out;
    child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap()
}

#[test]
fn tls_registry_needs_its_ca_and_missing_images_are_not_found() {
    let (_, tar) = saved_image();
    let cache = tempfile::tempdir().unwrap();
    let tls = env("FLOW_TEST_REGISTRY_TLS");
    let dest = format!("{tls}/image-test/tls:{}", unique("v"));
    let certs = tempfile::tempdir().unwrap();

    // Without the CA: verification fails, exit 5, and the message says where the CA goes.
    let mut c = flow_image(cache.path());
    c.args(["push", "--cert-dir"])
        .arg(certs.path())
        .arg(tar)
        .arg(&dest);
    let (code, _, err) = run(c);
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("ca.crt"), "{err}");

    std::fs::create_dir_all(certs.path().join(&tls)).unwrap();
    std::fs::copy(
        env("FLOW_TEST_TLS_CA"),
        certs.path().join(&tls).join("ca.crt"),
    )
    .unwrap();
    let mut c = flow_image(cache.path());
    c.args(["push", "-q", "--cert-dir"])
        .arg(certs.path())
        .arg(tar)
        .arg(&dest);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{out}\n{err}");
    let mut c = flow_image(cache.path());
    c.args(["pull", "-q", "--cert-dir"])
        .arg(certs.path())
        .arg(&dest);
    let (code, pulled, err) = run(c);
    assert_eq!(code, 0, "{err}");
    assert_eq!(digest_of(&pulled), digest_of(&out));

    // A tag that does not exist: exit 6, "not found".
    let missing = format!("{}/image-test/none:nope", env("FLOW_TEST_REGISTRY_PLAIN"));
    let mut c = flow_image(cache.path());
    c.args(["pull", &missing]);
    let (code, _, err) = run(c);
    assert_eq!(code, 6, "{err}");
    assert!(err.contains("not found"), "{err}");
    // Pushing a reference that is neither a file nor cached: exit 6 with a hint.
    let mut c = flow_image(cache.path());
    c.args(["push", &missing, &dest]);
    let (code, _, err) = run(c);
    assert_eq!(code, 6, "{err}");
    assert!(err.contains("flow image pull"), "{err}");
    // A stopped registry: exit 5.
    let mut c = flow_image(cache.path());
    c.args(["pull", "--retry-attempts", "0", "127.0.0.1:1/none:x"]);
    let (code, _, err) = run(c);
    assert_eq!(code, 5, "{err}");
}

#[test]
fn import_ls_rm_and_clean() {
    let (name, tar) = saved_image();
    let cache = tempfile::tempdir().unwrap();
    let mut c = flow_image(cache.path());
    c.args(["import", "-q"]).arg(tar);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{out}\n{err}");
    let canonical = format!("docker.io/{name}");
    assert!(out.contains(&canonical), "{out}");
    let mut c = flow_image(cache.path());
    c.args(["extract", "-q", "--tag", "mirror.local/app:imported"])
        .arg(tar);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{out}\n{err}");

    let mut c = flow_image(cache.path());
    c.args(["ls", "--json"]);
    let (code, out, _) = run(c);
    assert_eq!(code, 0);
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    let refs: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["ref"].as_str().unwrap())
        .collect();
    assert_eq!(refs.len(), 2, "{out}");
    assert!(
        refs.contains(&canonical.as_str()) && refs.contains(&"mirror.local/app:imported"),
        "{out}"
    );
    assert_cache_verified(cache.path());

    // rm one name, then clean: nothing is freed while the other name uses the blobs.
    let mut c = flow_image(cache.path());
    c.args(["rm", "mirror.local/app:imported"]);
    assert_eq!(run(c).0, 0);
    let mut c = flow_image(cache.path());
    c.args(["rm", "mirror.local/app:imported"]);
    assert_eq!(run(c).0, 6, "a second rm finds nothing");
    let mut c = flow_image(cache.path());
    c.args(["clean", "--progress", "json"]);
    let (_, out, _) = run(c);
    assert_eq!(json_lines(&out)[0]["blobs"], 0, "{out}");
    let mut c = flow_image(cache.path());
    c.args(["clean", "--all"]);
    let (code, out, _) = run(c);
    assert_eq!(code, 0);
    assert!(out.contains("freed"), "{out}");
    assert_eq!(
        std::fs::read_dir(cache.path().join("blobs/sha256"))
            .unwrap()
            .count(),
        0
    );
    let mut c = flow_image(cache.path());
    c.args(["ls", "--json"]);
    assert_eq!(run(c).1.trim(), "[]");
}

/// Rewrite a `docker save` tar with python's tarfile: `edit` gets the members as
/// (name, bytes) pairs to change.
fn rewrite_tar(src: &Path, dest: &Path, script: &str) {
    let py = format!(
        "import tarfile, json, io, sys\nsrc = tarfile.open(sys.argv[1])\nmembers = [(m, src.extractfile(m).read() if m.isfile() else None) for m in src.getmembers()]\nout = tarfile.open(sys.argv[2], 'w')\ndef add(name, data):\n    ti = tarfile.TarInfo(name); ti.size = len(data); out.addfile(ti, io.BytesIO(data))\n{script}\nout.close()\n"
    );
    let st = Command::new("python3")
        .arg("-c")
        .arg(py)
        .arg(src)
        .arg(dest)
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn hostile_archives_fail_cleanly_and_push_no_manifest() {
    let (_, tar) = saved_image();
    let dir = tempfile::tempdir().unwrap();
    let reg = env("FLOW_TEST_REGISTRY_PLAIN");
    let cases: Vec<(&str, PathBuf, &str)> = {
        // Truncated in the middle of a layer.
        let truncated = dir.path().join("truncated.tar");
        let bytes = std::fs::read(tar).unwrap();
        std::fs::write(&truncated, &bytes[..bytes.len() * 2 / 3]).unwrap();
        // The config's DiffIDs lie (first one swapped for another layer's).
        let lying = dir.path().join("lying.tar");
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
        let escape = dir.path().join("escape.tar");
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
        let link = dir.path().join("link.tar");
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
        let cache = tempfile::tempdir().unwrap();
        let dest = format!("{reg}/image-test/hostile-{what}:{}", unique("v"));
        let mut c = flow_image(cache.path());
        c.args(["push", "--progress", "plain"])
            .arg(&path)
            .arg(&dest);
        let (code, out, err) = run(c);
        assert_eq!(code, 7, "{what}: {out}\n{err}");
        assert!(err.contains(needle), "{what}: {err}");
        // No manifest was pushed.
        let st = Command::new("skopeo")
            .args(["inspect", "--tls-verify=false", &format!("docker://{dest}")])
            .output()
            .unwrap();
        assert!(!st.status.success(), "{what}: a manifest was pushed");
        // The cache holds no unverified blob and no temp file.
        if cache.path().join("blobs/sha256").exists() {
            verify_blobs(cache.path());
            let tmp: Vec<_> = std::fs::read_dir(cache.path().join("tmp"))
                .unwrap()
                .collect();
            assert!(tmp.is_empty(), "{what}: temp files left: {tmp:?}");
        }
    }
}

#[test]
fn two_concurrent_pulls_into_one_cache_both_succeed() {
    let (_, tar) = saved_image();
    let reg = env("FLOW_TEST_REGISTRY_PLAIN");
    let src = format!("{reg}/image-test/concurrent:{}", unique("v"));
    let seed = tempfile::tempdir().unwrap();
    let mut c = flow_image(seed.path());
    c.args(["push", "-q"]).arg(tar).arg(&src);
    assert_eq!(run(c).0, 0);
    let cache = tempfile::tempdir().unwrap();
    let spawn = || {
        let mut c = flow_image(cache.path());
        c.args(["pull", "-q", &src])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c.spawn().unwrap()
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
    assert_cache_verified(cache.path());
    assert_eq!(
        std::fs::read_dir(cache.path().join("blobs/sha256"))
            .unwrap()
            .count(),
        5
    );
}

#[test]
fn verbose_output_of_every_auth_path_shows_no_secret() {
    let (_, tar) = saved_image();
    let (bu, bp) = (env("FLOW_TEST_BASIC_USER"), env("FLOW_TEST_BASIC_PASSWORD"));
    let (tu, tp) = (env("FLOW_TEST_TOKEN_USER"), env("FLOW_TEST_TOKEN_PASSWORD"));
    let basic = env("FLOW_TEST_REGISTRY_BASIC");
    let token = env("FLOW_TEST_REGISTRY_TOKEN");
    let cfg = tempfile::tempdir().unwrap();
    std::fs::write(
        cfg.path().join("config.json"),
        format!(
            r#"{{"auths":{{"{token}":{{"auth":"{}"}},"{basic}":{{"auth":"{}"}}}}}}"#,
            base64_encode(&format!("{tu}:{tp}")),
            base64_encode(&format!("{bu}:{bp}"))
        ),
    )
    .unwrap();
    let secrets = [
        bp.clone(),
        tp.clone(),
        base64_encode(&format!("{tu}:{tp}")),
        base64_encode(&format!("{bu}:{bp}")),
        "eyJ".to_string(), // any JWT (the token server's tokens)
        "Bearer ".to_string(),
        "_state=".to_string(), // upload session state in Location queries
    ];
    let cache = tempfile::tempdir().unwrap();
    let runs: Vec<(Vec<String>, Option<String>)> = vec![
        // config.json → bearer token (push, pull, copy between the two)
        (
            vec![
                "push".into(),
                tar.display().to_string(),
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
        (
            vec![
                "push".into(),
                tar.display().to_string(),
                format!("{basic}/secrets/app:v2"),
                "-u".into(),
                bu.clone(),
                "--password-stdin".into(),
            ],
            Some(bp.clone()),
        ),
        (
            vec![
                "push".into(),
                tar.display().to_string(),
                format!("{token}/secrets/app:v2"),
                "-u".into(),
                tu.clone(),
                "--password-stdin".into(),
            ],
            Some(tp.clone()),
        ),
        // A wrong password: the error path.
        (
            vec![
                "push".into(),
                tar.display().to_string(),
                format!("{basic}/secrets/app:v3"),
                "-u".into(),
                bu.clone(),
                "--password-stdin".into(),
            ],
            Some(format!("{bp}x")),
        ),
    ];
    for (i, (args, stdin)) in runs.iter().enumerate() {
        let mut c = flow_image(cache.path());
        c.env("DOCKER_CONFIG", cfg.path())
            .env("RUST_LOG", "trace")
            .args(["-v", "--progress", "plain"])
            .args(args);
        let (code, out, err) = run_stdin(c, stdin.as_deref().unwrap_or(""));
        let all = format!("{out}{err}");
        assert_eq!(code, if i == 5 { 3 } else { 0 }, "{args:?}: {all}");
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
    let (_, tar) = saved_image();
    let reg = env("FLOW_TEST_REGISTRY_PLAIN");
    for compression in ["zstd", "none"] {
        let cache = tempfile::tempdir().unwrap();
        let dest = format!("{reg}/image-test/{}:v1", unique(compression));
        let mut c = flow_image(cache.path());
        c.args(["push", "-q", "--compression", compression])
            .arg(tar)
            .arg(&dest);
        let (code, out, err) = run(c);
        assert_eq!(code, 0, "{compression}: {out}\n{err}");
        let digest = digest_of(&out);
        let raw = Command::new("skopeo")
            .args([
                "inspect",
                "--raw",
                "--tls-verify=false",
                &format!("docker://{dest}"),
            ])
            .output()
            .unwrap();
        let manifest: serde_json::Value = serde_json::from_slice(&raw.stdout).unwrap();
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
        let pulled = tempfile::tempdir().unwrap();
        let mut c = flow_image(pulled.path());
        c.args(["pull", "-q", &dest]);
        let (code, out, err) = run(c);
        assert_eq!(code, 0, "{err}");
        assert_eq!(digest_of(&out), digest);
        if compression == "none" {
            // Debian's Docker 20.10 runs OCI images with uncompressed layers (not zstd).
            docker(&["pull", "-q", &dest]);
            assert_eq!(common::in_image(&dest, "cat /second"), "second-layer");
        }
    }
}
