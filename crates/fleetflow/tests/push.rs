//! `flow build --push` against the real registries of scripts/testenv.sh: plain HTTP,
//! htpasswd basic auth (a password with `+`, `/` and `=`), bearer tokens, and the real
//! `pass` credential helper.

mod common;

use std::path::Path;
use std::process::Command;

use common::{env, flow, run, unique, write};

/// A project `pushy` with `services` in stage `ci`, each a small layer on the base image.
fn project(dir: &Path, services: &[&str]) {
    project_with(dir, services, "");
}

/// [`project`] with `extra` (Dockerfile lines) after each service's own step.
fn project_with(dir: &Path, services: &[&str], extra: &str) {
    let base = env("FLOW_TEST_BASE_IMAGE");
    let mut kdl = String::from("project \"pushy\"\n");
    for s in services {
        kdl.push_str(&format!("service \"{s}\"\n"));
        write(
            dir,
            &format!("Dockerfile.{s}"),
            &format!("FROM {base}\nRUN echo {s} > /{s}.txt\n{extra}"),
        );
    }
    kdl.push_str("stage \"ci\" {\n");
    for s in services {
        kdl.push_str(&format!("    service \"{s}\"\n"));
    }
    kdl.push_str("}\n");
    write(dir, "flow.kdl", &kdl);
    // A context file of its own gives each project its own input digests, so a test
    // pushes for real instead of reusing what another test pushed (the images still
    // share their layers).
    write(dir, "test-run-id", &unique("run"));
}

/// A Docker config folder with `json` as config.json.
fn docker_config(json: &str) -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("config.json"), json).unwrap();
    t
}

fn auth_b64(user: &str, password: &str) -> String {
    common::base64(&format!("{user}:{password}"))
}

/// The manifest digest of a pushed image, as `skopeo inspect` reads it from the registry.
fn skopeo_digest(reference: &str, creds: Option<(&str, &str)>) -> String {
    skopeo_digest_with(reference, creds, None)
}

/// [`skopeo_digest`] over verified TLS, trusting the CA in `cert_dir`, if given.
fn skopeo_digest_with(
    reference: &str,
    creds: Option<(&str, &str)>,
    cert_dir: Option<&str>,
) -> String {
    let mut c = Command::new("skopeo");
    c.arg("inspect");
    match cert_dir {
        Some(dir) => c.args(["--tls-verify=true", "--cert-dir", dir]),
        None => c.arg("--tls-verify=false"),
    };
    c.args(["--format", "{{.Digest}}"]);
    if let Some((u, p)) = creds {
        c.arg(format!("--creds={u}:{p}"));
    }
    let out = c.arg(format!("docker://{reference}")).output().unwrap();
    assert!(
        out.status.success(),
        "skopeo inspect {reference}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn json_events(out: &str) -> Vec<serde_json::Value> {
    out.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[test]
fn push_plain_registry_every_tag_with_digest_and_metadata() {
    let t = tempfile::tempdir().unwrap();
    project(t.path(), &["api", "worker"]);
    let cfg = docker_config("{}");
    let reg = env("FLOW_TEST_REGISTRY_PLAIN");
    let (t1, t2) = (unique("a"), unique("b"));
    let meta = t.path().join("out/meta.json");
    std::fs::create_dir_all(meta.parent().unwrap()).unwrap();
    let mut c = flow(t.path());
    c.env("DOCKER_CONFIG", cfg.path()).args([
        "build",
        "--push",
        "--progress",
        "plain",
        "--registry",
    ]);
    c.arg(format!("{reg}/team"))
        .args(["--tag", &t1, "--tag", &t2, "--metadata-file"])
        .arg(&meta)
        .arg("ci");
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("Pushing api...") && out.contains("Pushing worker..."),
        "{out}"
    );
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    for svc in ["api", "worker"] {
        let entry = &meta["services"][svc];
        let digest = entry["digest"].as_str().unwrap();
        for tag in [&t1, &t2] {
            let reference = format!("{reg}/team/pushy-{svc}:{tag}");
            assert_eq!(skopeo_digest(&reference, None), digest, "{reference}");
            assert!(out.contains(&reference), "{out}");
        }
        assert_eq!(entry["ref"], format!("{reg}/team/pushy-{svc}@{digest}"));
        assert_eq!(entry["image"], format!("{reg}/team/pushy-{svc}"));
        assert_eq!(entry["tags"], serde_json::json!([t1, t2]));
        assert_eq!(entry["status"], "pushed");
        assert!(entry["duration_ms"].as_u64().unwrap() > 0, "{entry}");
        assert!(
            out.contains(&format!("✓ {svc}: {reg}/team/pushy-{svc}:{t1}, ")),
            "{out}"
        );
        assert!(out.contains(digest), "digest in the summary: {out}");
    }
}

#[test]
fn basic_auth_password_with_plus_slash_equals_from_config_json() {
    let t = tempfile::tempdir().unwrap();
    project(t.path(), &["api"]);
    let reg = env("FLOW_TEST_REGISTRY_BASIC");
    let (user, password) = (env("FLOW_TEST_BASIC_USER"), env("FLOW_TEST_BASIC_PASSWORD"));
    assert!(password.contains('+') && password.contains('/') && password.contains('='));
    let cfg = docker_config(&format!(
        r#"{{"auths": {{"{reg}": {{"auth": "{}"}}}}}}"#,
        auth_b64(&user, &password)
    ));
    let tag = unique("basic");
    let mut c = flow(t.path());
    c.env("DOCKER_CONFIG", cfg.path()).args([
        "build",
        "--push",
        "--progress",
        "json",
        "--registry",
        &reg,
    ]);
    c.args(["--tag", &tag, "ci"]);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        !out.contains(&password) && !err.contains(&password),
        "password must never be printed"
    );
    let pushed = json_events(&out)
        .into_iter()
        .find(|e| e["event"] == "pushed")
        .expect("pushed event");
    let reference = format!("{reg}/pushy-api:{tag}");
    assert_eq!(
        skopeo_digest(&reference, Some((&user, &password))),
        pushed["digest"].as_str().unwrap()
    );
}

#[test]
fn wrong_password_fails_preflight_fast_before_building() {
    let t = tempfile::tempdir().unwrap();
    project(t.path(), &["api"]);
    let reg = env("FLOW_TEST_REGISTRY_BASIC");
    let wrong = "wr0ng+pass/word=";
    let cfg = docker_config(&format!(
        r#"{{"auths": {{"{reg}": {{"auth": "{}"}}}}}}"#,
        auth_b64("flowtest", wrong)
    ));
    let started = std::time::Instant::now();
    let mut c = flow(t.path());
    c.env("DOCKER_CONFIG", cfg.path())
        .env("LANG", "ja_JP.UTF-8");
    c.args([
        "build",
        "--push",
        "--progress",
        "plain",
        "--registry",
        &reg,
        "ci",
    ]);
    let (code, out, err) = run(c);
    assert_eq!(code, 3, "{out}\n{err}");
    assert!(started.elapsed().as_secs() < 10);
    assert!(!out.contains("Building"), "nothing is built: {out}");
    assert!(
        err.contains("エラー: レジストリへの認証に失敗しました"),
        "{err}"
    );
    assert!(
        err.contains(&format!("対象: {reg}/pushy-api:latest")),
        "{err}"
    );
    assert!(
        err.contains(&format!("• docker login {reg} を実行してください")),
        "{err}"
    );
    assert!(
        err.contains("• CIの場合は DOCKER_USERNAME, DOCKER_PASSWORD を設定してください"),
        "{err}"
    );
    assert!(!err.contains(wrong) && !out.contains(wrong));
}

#[test]
fn ci_environment_variables_authenticate() {
    let t = tempfile::tempdir().unwrap();
    project(t.path(), &["api"]);
    let reg = env("FLOW_TEST_REGISTRY_BASIC");
    let cfg = docker_config("{}");
    let mut c = flow(t.path());
    c.env("DOCKER_CONFIG", cfg.path())
        .env("DOCKER_USERNAME", env("FLOW_TEST_BASIC_USER"))
        .env("DOCKER_PASSWORD", env("FLOW_TEST_BASIC_PASSWORD"));
    c.args([
        "build",
        "--push",
        "-q",
        "--registry",
        &reg,
        "--tag",
        &unique("env"),
        "ci",
    ]);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.trim().starts_with(&format!("{reg}/pushy-api@sha256:")),
        "-q prints the pinned reference: {out}"
    );
}

#[test]
fn bearer_token_registry_with_and_without_credentials() {
    let t = tempfile::tempdir().unwrap();
    project(t.path(), &["api"]);
    let reg = env("FLOW_TEST_REGISTRY_TOKEN");
    let anonymous = docker_config("{}");
    let mut c = flow(t.path());
    c.env("DOCKER_CONFIG", anonymous.path())
        .args(["build", "--push", "--registry", &reg, "ci"]);
    let (code, out, err) = run(c);
    assert_eq!(code, 3, "anonymous push must be refused: {out}\n{err}");
    assert!(
        err.contains("authentication to the registry failed"),
        "{err}"
    );

    let (user, password) = (env("FLOW_TEST_TOKEN_USER"), env("FLOW_TEST_TOKEN_PASSWORD"));
    let cfg = docker_config(&format!(
        r#"{{"auths": {{"{reg}": {{"auth": "{}"}}}}}}"#,
        auth_b64(&user, &password)
    ));
    let mut c = flow(t.path());
    c.env("DOCKER_CONFIG", cfg.path()).args([
        "build",
        "--push",
        "--progress",
        "json",
        "--registry",
        &reg,
    ]);
    c.args(["--tag", &unique("tok"), "ci"]);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        json_events(&out).iter().any(|e| e["event"] == "pushed"),
        "{out}"
    );
    let log = std::fs::read_to_string(env("FLOW_TEST_TOKEN_SERVER_LOG")).unwrap();
    assert!(!log.contains(&password), "token server log has no password");
}

#[test]
fn no_registry_and_unreachable_registry() {
    let t = tempfile::tempdir().unwrap();
    project(t.path(), &["api"]);
    let mut c = flow(t.path());
    c.args(["build", "--push", "ci"]);
    let (code, _, err) = run(c);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("the image name has no registry") && err.contains("pushy-api:latest"),
        "{err}"
    );

    let cfg = docker_config("{}");
    let mut c = flow(t.path());
    c.env("DOCKER_CONFIG", cfg.path())
        .args(["build", "--push", "--registry", "127.0.0.1:9", "ci"]);
    let (code, _, err) = run(c);
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("cannot reach the registry"), "{err}");

    // A malformed config.json is an error naming it.
    let bad = docker_config("{ nope");
    let mut c = flow(t.path());
    c.env("DOCKER_CONFIG", bad.path())
        .args(["build", "--push", "--registry", "127.0.0.1:9", "ci"]);
    let (code, _, err) = run(c);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains(&bad.path().join("config.json").display().to_string()),
        "{err}"
    );
}

/// The real `pass` helper (golang-docker-credential-helpers) behind `credsStore`, and a
/// `credHelpers` entry whose helper runs once per registry however many services push.
#[test]
fn credential_helpers_pass_and_run_once_per_registry() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path();
    let reg = env("FLOW_TEST_REGISTRY_BASIC");
    let (user, password) = (env("FLOW_TEST_BASIC_USER"), env("FLOW_TEST_BASIC_PASSWORD"));
    let gnupg = home.join("gnupg");
    std::fs::create_dir_all(&gnupg).unwrap();
    std::fs::set_permissions(&gnupg, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let sh = |script: &str| {
        let out = Command::new("sh")
            .arg("-c")
            .arg(script)
            .env("GNUPGHOME", &gnupg)
            .env("PASSWORD_STORE_DIR", home.join("store"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    sh(
        "gpg --batch --passphrase '' --quick-gen-key 'flow test <flow@test.invalid>' default default never",
    );
    sh("pass init flow@test.invalid >/dev/null");
    sh(&format!(
        "printf '%s' '{{\"ServerURL\":\"{reg}\",\"Username\":\"{user}\",\"Secret\":\"{password}\"}}' | docker-credential-pass store"
    ));
    // A helper that counts its calls and asks the real `pass` helper.
    let bin = home.join("bin");
    write(
        &bin,
        "docker-credential-counting",
        &format!(
            "#!/bin/sh\necho call >> {}\nexec docker-credential-pass \"$@\"\n",
            home.join("calls").display()
        ),
    );
    std::fs::set_permissions(
        bin.join("docker-credential-counting"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());

    let proj = home.join("proj");
    project(&proj, &["api", "worker", "web"]);
    for (config, counted) in [
        (r#"{"credsStore": "pass"}"#.to_string(), false),
        (
            format!(r#"{{"credsStore": "nonexistent", "credHelpers": {{"{reg}": "counting"}}}}"#),
            true,
        ),
    ] {
        let cfg = docker_config(&config);
        let mut c = flow(&proj);
        c.env("DOCKER_CONFIG", cfg.path())
            .env("GNUPGHOME", &gnupg)
            .env("PASSWORD_STORE_DIR", home.join("store"))
            .env("PATH", &path);
        c.args([
            "build",
            "--push",
            "--progress",
            "plain",
            "--registry",
            &reg,
            "--tag",
            &unique("helper"),
            "ci",
        ]);
        let (code, out, err) = run(c);
        assert_eq!(code, 0, "{config}\n{out}\n{err}");
        assert!(!out.contains(&password) && !err.contains(&password));
        if counted {
            let calls = std::fs::read_to_string(home.join("calls")).unwrap();
            assert_eq!(
                calls.lines().count(),
                1,
                "helper runs once per registry for three services"
            );
        }
    }
    let _ = Command::new("gpgconf")
        .args(["--kill", "gpg-agent"])
        .env("GNUPGHOME", &gnupg)
        .status();
}

/// A private base image (`FROM` a registry that needs a password): the build sends the
/// credentials of config.json to the engine, as the docker CLI does.
#[test]
fn private_base_image_is_pulled_with_docker_credentials() {
    let reg = env("FLOW_TEST_REGISTRY_BASIC");
    let (user, password) = (env("FLOW_TEST_BASIC_USER"), env("FLOW_TEST_BASIC_PASSWORD"));
    let base = format!("{reg}/private/busybox:{}", unique("base"));
    let docker_host = env("DOCKER_HOST");
    let out = Command::new("skopeo")
        .args([
            "copy",
            "--quiet",
            "--src-daemon-host",
            &docker_host,
            "--dest-tls-verify=false",
        ])
        .arg(format!("--dest-creds={user}:{password}"))
        .arg(format!("docker-daemon:{}", env("FLOW_TEST_BASE_IMAGE")))
        .arg(format!("docker://{base}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let t = tempfile::tempdir().unwrap();
    write(t.path(), "flow.kdl", "project \"priv\"\nservice \"app\"\n");
    write(
        t.path(),
        "Dockerfile.app",
        &format!("ARG BASE={base}\nFROM $BASE\nRUN echo pulled > /ok\n"),
    );
    let anonymous = docker_config("{}");
    let mut c = flow(t.path());
    c.env("DOCKER_CONFIG", anonymous.path())
        .args(["build", "--progress", "plain"]);
    let (code, out, err) = run(c);
    assert_eq!(
        code, 4,
        "without credentials the pull must fail: {out}\n{err}"
    );

    let cfg = docker_config(&format!(
        r#"{{"auths": {{"{reg}": {{"auth": "{}"}}}}}}"#,
        auth_b64(&user, &password)
    ));
    let mut c = flow(t.path());
    c.env("DOCKER_CONFIG", cfg.path()).args([
        "build",
        "--progress",
        "plain",
        "--tag",
        &unique("priv"),
    ]);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(!out.contains(&password) && !err.contains(&password));
}

/// A registry that passes pre-flight but refuses uploads: the error inside the engine's
/// push stream becomes a push failure (exit 5), never a silent success, and no tag is
/// reported as pushed.
#[test]
fn failure_inside_the_push_stream_is_exit_5() {
    let t = tempfile::tempdir().unwrap();
    project(t.path(), &["api"]);
    let reg = env("FLOW_TEST_REGISTRY_READONLY");
    let cfg = docker_config("{}");
    let meta = t.path().join("meta.json");
    let mut c = flow(t.path());
    c.env("DOCKER_CONFIG", cfg.path())
        .args([
            "build",
            "--push",
            "--progress",
            "json",
            "--registry",
            &reg,
            "--metadata-file",
        ])
        .arg(&meta)
        .arg("ci");
    let (code, out, err) = run(c);
    assert_eq!(code, 5, "{out}\n{err}");
    let events = json_events(&out);
    let failed = events
        .iter()
        .find(|e| e["event"] == "push_failed")
        .expect("push_failed event");
    assert_eq!(failed["auth"], false);
    assert!(
        failed["error"].as_str().unwrap().contains("405"),
        "{failed}"
    );
    assert!(!events.iter().any(|e| e["event"] == "pushed"), "{out}");
    let summary = events.last().unwrap();
    assert_eq!(
        (summary["built"].as_u64(), summary["push_failed"].as_u64()),
        (Some(1), Some(1))
    );
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    assert!(
        meta["services"]["api"]["digest"].is_null(),
        "no digest for a failed push: {meta}"
    );
}

/// The real `docker login` (docker CLI → test engine → registry) writes the credentials to a
/// fresh config.json; `flow build --push` with that config pushes to an htpasswd registry
/// over TLS whose self-signed CA is trusted only through /etc/docker/certs.d.
#[test]
fn docker_login_then_push_to_htpasswd_registry_over_tls() {
    let reg = env("FLOW_TEST_REGISTRY_TLSBASIC");
    let cert_dir = env("FLOW_TEST_TLSBASIC_CERT_DIR");
    assert_eq!(cert_dir, format!("/etc/docker/certs.d/{reg}"));
    assert!(
        Path::new(&cert_dir).join("ca.crt").is_file(),
        "the CA is where dockerd and flow look for it"
    );
    let (user, password) = (env("FLOW_TEST_BASIC_USER"), env("FLOW_TEST_BASIC_PASSWORD"));

    // With no `auths` entry at all (`{}`, `{"auths":{}}` or `{"credsStore":""}`), the docker
    // CLI picks the `pass` store by itself because docker-credential-pass is installed. One
    // unrelated entry keeps it on the file.
    let cfg = docker_config(r#"{"auths": {"flow-test.invalid": {}}}"#);
    let mut login = Command::new("docker");
    login
        .env("DOCKER_HOST", env("DOCKER_HOST"))
        .env("DOCKER_CONFIG", cfg.path())
        .args(["login", &reg, "-u", &user, "--password-stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = login.spawn().expect("docker CLI");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(password.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let (lout, lerr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "docker login: {lout}\n{lerr}");
    assert!(lout.contains("Login Succeeded"), "{lout}");
    assert!(!lout.contains(&password) && !lerr.contains(&password));
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cfg.path().join("config.json")).unwrap()).unwrap();
    assert!(
        config.get("credsStore").is_none_or(|s| s == ""),
        "docker login must have used the file, not a credential store"
    );
    assert_eq!(
        config["auths"][&reg]["auth"].as_str(),
        Some(auth_b64(&user, &password).as_str()),
        "docker login wrote the credentials of {reg} to config.json"
    );

    let t = tempfile::tempdir().unwrap();
    project(t.path(), &["api"]);
    let tag = unique("login");
    let mut c = flow(t.path());
    c.env("DOCKER_CONFIG", cfg.path()).args([
        "build",
        "--push",
        "--progress",
        "json",
        "--registry",
        &reg,
        "--tag",
        &tag,
        "ci",
    ]);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        !out.contains(&password) && !err.contains(&password),
        "password must never be printed"
    );
    let pushed = json_events(&out)
        .into_iter()
        .find(|e| e["event"] == "pushed")
        .expect("pushed event");
    let reference = format!("{reg}/pushy-api:{tag}");
    assert_eq!(pushed["references"], serde_json::json!([reference]));
    let digest = pushed["digest"].as_str().unwrap();
    assert!(digest.starts_with("sha256:"), "{pushed}");
    assert_eq!(
        skopeo_digest_with(&reference, Some((&user, &password)), Some(&cert_dir)),
        digest
    );
}

/// Three services, each with a 20 MB layer of random bytes, pushed to the plain registry:
/// the push intervals flow reports (`started_ms`/`finished_ms`) overlap, and the summary,
/// in JSON and in plain mode, lists each service's reference with the digest the registry
/// has for it.
#[test]
fn three_services_push_in_parallel_and_summary_lists_refs_and_digests() {
    let services = ["api", "worker", "web"];
    let t = tempfile::tempdir().unwrap();
    project_with(
        t.path(),
        &services,
        "RUN dd if=/dev/urandom of=/blob bs=1M count=20 2>/dev/null\n",
    );
    let cfg = docker_config("{}");
    let reg = format!("{}/parallel", env("FLOW_TEST_REGISTRY_PLAIN"));
    let started = std::time::Instant::now();

    let tag = unique("par");
    let mut c = flow(t.path());
    c.env("DOCKER_CONFIG", cfg.path()).args([
        "build",
        "--push",
        "--progress",
        "json",
        "--registry",
        &reg,
        "--tag",
        &tag,
        "ci",
    ]);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{out}\n{err}");
    let events = json_events(&out);
    let ms = |e: &serde_json::Value, k: &str| {
        e[k].as_u64()
            .unwrap_or_else(|| panic!("{k} (ms) missing: {e}"))
    };
    let mut intervals = Vec::new();
    let mut digests = Vec::new();
    for svc in services {
        let of = |name: &str| {
            events
                .iter()
                .filter(|e| e["event"] == name && e["service"] == svc)
                .collect::<Vec<_>>()
        };
        let (begun, pushed) = (of("push_started"), of("pushed"));
        assert_eq!((begun.len(), pushed.len()), (1, 1), "{svc}: {out}");
        let (begun, pushed) = (begun[0], pushed[0]);
        let reference = format!("{reg}/pushy-{svc}:{tag}");
        assert_eq!(begun["reference"], reference);
        let (start, end) = (ms(pushed, "started_ms"), ms(pushed, "finished_ms"));
        assert_eq!(start, ms(begun, "started_ms"), "{svc}: {begun} {pushed}");
        assert!(start < end, "{svc}: a 20 MB push takes time: {pushed}");
        let seconds = pushed["seconds"].as_f64().unwrap();
        assert!(
            (seconds * 1000.0 - (end - start) as f64).abs() < 250.0,
            "{svc}: the interval agrees with `seconds`: {pushed}"
        );
        let digest = pushed["digest"].as_str().unwrap().to_string();
        assert_eq!(skopeo_digest(&reference, None), digest, "{reference}");
        intervals.push((svc, start, end));
        digests.push((svc, reference, digest));
    }
    // Two pushes overlap when each began before the other ended.
    let overlapping: Vec<(&str, &str)> = intervals
        .iter()
        .enumerate()
        .flat_map(|(i, a)| intervals[i + 1..].iter().map(move |b| (a, b)))
        .filter(|(a, b)| a.1 < b.2 && b.1 < a.2)
        .map(|(a, b)| (a.0, b.0))
        .collect();
    assert!(
        !overlapping.is_empty(),
        "no two pushes overlapped in time: {intervals:?}"
    );
    eprintln!("push intervals (ms): {intervals:?}; overlapping: {overlapping:?}");

    let summary = events.last().unwrap();
    assert_eq!(summary["event"], "summary", "{out}");
    assert_eq!(
        (summary["built"].as_u64(), summary["pushed"].as_u64()),
        (Some(3), Some(3)),
        "{summary}"
    );
    let images = summary["images"].as_array().expect("images in the summary");
    assert_eq!(images.len(), 3, "{summary}");
    for ((svc, reference, digest), image) in digests.iter().zip(images) {
        assert_eq!(image["service"], *svc, "plan order: {summary}");
        assert_eq!(image["references"], serde_json::json!([reference]));
        assert_eq!(image["digest"], *digest, "{summary}");
        assert_eq!(
            image["pinned"],
            format!("{reg}/pushy-{svc}@{digest}"),
            "{summary}"
        );
    }

    // Plain mode, another tag: one summary line per service, `✓ svc: ref (digest)`; nothing
    // changed, so every image is reused.
    let tag = unique("parplain");
    let mut c = flow(t.path());
    c.env("DOCKER_CONFIG", cfg.path()).args([
        "build",
        "--push",
        "--progress",
        "plain",
        "--registry",
        &reg,
        "--tag",
        &tag,
        "ci",
    ]);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{out}\n{err}");
    // The summary follows the last empty line.
    let summary: Vec<&str> = out
        .rsplit_once("\n\n")
        .map_or("", |(_, s)| s)
        .lines()
        .collect();
    assert_eq!(summary.len(), 3, "one summary line per service: {out}");
    for (svc, line) in services.iter().zip(&summary) {
        let reference = format!("{reg}/pushy-{svc}:{tag}");
        let digest = skopeo_digest(&reference, None);
        assert_eq!(
            *line,
            format!("✓ {svc}: {reference} ({digest}) [reused]"),
            "{out}"
        );
    }
    eprintln!("both runs took {:.1}s", started.elapsed().as_secs_f64());
}
