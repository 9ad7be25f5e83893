//! `flow build --push` against the real registries of scripts/testenv.sh: plain HTTP,
//! htpasswd basic auth (a password with `+`, `/` and `=`), bearer tokens, and the real
//! `pass` credential helper.

use std::path::Path;
use std::process::Command;

use fleetflow_test_support::RegistryKind::{Basic, Plain, ReadOnly, TlsBasic, Token};
use fleetflow_test_support::{
    Context, Login, Project, RunExt as _, Service, TestEnv, peer, probe, read_json, registry,
    unique, write,
};

fn ctx() -> Context {
    Context::new(env!("CARGO_BIN_EXE_flow"))
}

/// A project `pushy` with `services` in stage `ci`, each a small layer on the base image
/// then `extra` (Dockerfile lines), with input digests of its own.
fn pushy(services: &[&str], extra: &str) -> Project {
    services
        .iter()
        .fold(Project::new("pushy"), |p, s| {
            p.service(s, &format!("RUN echo {s} > /{s}.txt\n{extra}"))
        })
        .stage("ci", services)
        .unique_inputs()
}

/// `flow build --push --registry REGISTRY ARGS… ci`.
fn push(ctx: &Context, registry: &str, args: &[&str]) -> Command {
    let mut c = ctx.flow();
    c.args(["build", "--push", "--registry", registry])
        .args(args)
        .arg("ci");
    c
}

#[test]
fn push_plain_registry_every_tag_with_digest_and_metadata() {
    let ctx = ctx();
    ctx.project(&pushy(&["api", "worker"], ""));
    let reg = &registry(Plain).host;
    let (t1, t2) = (unique("a"), unique("b"));
    let meta = ctx.dir("out").join("meta.json");
    let r = push(
        &ctx,
        &format!("{reg}/team"),
        &["--progress", "plain", "--tag", &t1, "--tag", &t2],
    )
    .arg("--metadata-file")
    .arg(&meta)
    .run();
    r.assert_ok();
    let out = &r.stdout;
    assert!(
        out.contains("Pushing api...") && out.contains("Pushing worker..."),
        "{out}"
    );
    let meta = read_json(&meta);
    for svc in ["api", "worker"] {
        let entry = &meta["services"][svc];
        let digest = entry["digest"].as_str().unwrap();
        for tag in [&t1, &t2] {
            let reference = format!("{reg}/team/pushy-{svc}:{tag}");
            assert_eq!(probe::pushed_digest(&reference), digest, "{reference}");
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
    let ctx = ctx();
    ctx.project(&pushy(&["api"], ""));
    let basic = registry(Basic);
    let password = &basic.login().password;
    assert!(password.contains('+') && password.contains('/') && password.contains('='));
    ctx.login(&[basic]);
    let tag = unique("basic");
    let r = push(&ctx, &basic.host, &["--progress", "json", "--tag", &tag]).run();
    r.assert_ok();
    assert!(
        !r.output().contains(password.as_str()),
        "password must never be printed"
    );
    let pushed = r.event("pushed");
    assert_eq!(
        probe::pushed_digest(&basic.at(&format!("pushy-api:{tag}"))),
        pushed["digest"].as_str().unwrap()
    );
}

#[test]
fn wrong_password_fails_preflight_fast_before_building() {
    let ctx = ctx();
    ctx.project(&pushy(&["api"], ""));
    let reg = &registry(Basic).host;
    let wrong = Login {
        user: "flowtest".into(),
        password: "wr0ng+pass/word=".into(),
    };
    ctx.auths(&[(reg, &wrong)]);
    let started = std::time::Instant::now();
    let r = push(&ctx, reg, &["--progress", "plain"])
        .env("LANG", "ja_JP.UTF-8")
        .run();
    r.assert_code(3);
    assert!(started.elapsed().as_secs() < 10);
    assert!(!r.stdout.contains("Building"), "nothing is built: {r}");
    let err = &r.stderr;
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
    assert!(!r.output().contains(&wrong.password));
}

#[test]
fn ci_environment_variables_authenticate() {
    let ctx = ctx();
    ctx.project(&pushy(&["api"], ""));
    let basic = registry(Basic);
    let r = push(&ctx, &basic.host, &["-q", "--tag", &unique("env")])
        .env("DOCKER_USERNAME", &basic.login().user)
        .env("DOCKER_PASSWORD", &basic.login().password)
        .run();
    r.assert_ok();
    assert!(
        r.stdout
            .trim()
            .starts_with(&format!("{}/pushy-api@sha256:", basic.host)),
        "-q prints the pinned reference: {r}"
    );
}

#[test]
fn bearer_token_registry_with_and_without_credentials() {
    let ctx = ctx();
    ctx.project(&pushy(&["api"], ""));
    let token = registry(Token);
    // The context's config.json has no credentials yet.
    let r = push(&ctx, &token.host, &[]).run();
    assert_eq!(r.code, 3, "anonymous push must be refused: {r}");
    assert!(
        r.stderr.contains("authentication to the registry failed"),
        "{r}"
    );

    ctx.login(&[token]);
    let r = push(&ctx, &token.host, &["--progress", "json"])
        .args(["--tag", &unique("tok")])
        .run();
    r.assert_ok();
    assert!(!r.events("pushed").is_empty(), "{r}");
    let log = std::fs::read_to_string(&TestEnv::get().token_server.log).unwrap();
    assert!(
        !log.contains(&token.login().password),
        "token server log has no password"
    );
}

#[test]
fn no_registry_and_unreachable_registry() {
    let ctx = ctx();
    ctx.project(&pushy(&["api"], ""));
    let r = ctx.flow().args(["build", "--push", "ci"]).run();
    r.assert_code(2);
    assert!(
        r.stderr.contains("the image name has no registry")
            && r.stderr.contains("pushy-api:latest"),
        "{r}"
    );

    let r = push(&ctx, "127.0.0.1:9", &[]).run();
    r.assert_code(5);
    assert!(r.stderr.contains("cannot reach the registry"), "{r}");

    // A malformed config.json is an error naming it.
    ctx.write_docker_config("{ nope");
    let r = push(&ctx, "127.0.0.1:9", &[]).run();
    r.assert_code(3);
    assert!(
        r.stderr
            .contains(&ctx.docker_config_file().display().to_string()),
        "{r}"
    );
}

/// The real `pass` helper (golang-docker-credential-helpers) behind `credsStore`, and a
/// `credHelpers` entry whose helper runs once per registry however many services push.
#[test]
fn credential_helpers_pass_and_run_once_per_registry() {
    let ctx = ctx();
    let home = ctx.root();
    let basic = registry(Basic);
    let (reg, login) = (&basic.host, basic.login());
    let (user, password) = (&login.user, &login.password);
    let gnupg = ctx.dir("gnupg");
    std::fs::set_permissions(&gnupg, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let sh = |script: &str| {
        let r = Command::new("sh")
            .arg("-c")
            .arg(script)
            .env("GNUPGHOME", &gnupg)
            .env("PASSWORD_STORE_DIR", home.join("store"))
            .run();
        assert_eq!(r.code, 0, "{script}: {r}");
    };
    sh(
        "gpg --batch --passphrase '' --quick-gen-key 'flow test <flow@test.invalid>' default default never",
    );
    sh("pass init flow@test.invalid >/dev/null");
    sh(&format!(
        "printf '%s' '{{\"ServerURL\":\"{reg}\",\"Username\":\"{user}\",\"Secret\":\"{password}\"}}' | docker-credential-pass store"
    ));
    // A helper that counts its calls and asks the real `pass` helper.
    let bin = ctx.dir("bin");
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

    ctx.project(&pushy(&["api", "worker", "web"], ""));
    for (config, counted) in [
        (r#"{"credsStore": "pass"}"#.to_string(), false),
        (
            format!(r#"{{"credsStore": "nonexistent", "credHelpers": {{"{reg}": "counting"}}}}"#),
            true,
        ),
    ] {
        ctx.write_docker_config(&config);
        let r = push(
            &ctx,
            reg,
            &["--progress", "plain", "--tag", &unique("helper")],
        )
        .env("GNUPGHOME", &gnupg)
        .env("PASSWORD_STORE_DIR", home.join("store"))
        .env("PATH", &path)
        .run();
        assert_eq!(r.code, 0, "{config}\n{r}");
        assert!(!r.output().contains(password.as_str()));
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
    let ctx = ctx();
    let basic = registry(Basic);
    let base = basic.at(&format!("private/busybox:{}", unique("base")));
    peer::skopeo_copy_from_engine(ctx.engine(), &TestEnv::get().base_image, basic, &base);

    ctx.project(&Project::new("priv").with(Service::with_dockerfile(
        "app",
        &format!("ARG BASE={base}\nFROM $BASE\nRUN echo pulled > /ok\n"),
    )));
    // The context's config.json has no credentials yet.
    let r = ctx.flow().args(["build", "--progress", "plain"]).run();
    assert_eq!(r.code, 4, "without credentials the pull must fail: {r}");

    ctx.login(&[basic]);
    let r = ctx
        .flow()
        .args(["build", "--progress", "plain", "--tag", &unique("priv")])
        .run();
    r.assert_ok();
    assert!(!r.output().contains(&basic.login().password));
}

/// A registry that passes pre-flight but refuses uploads: the error inside the engine's
/// push stream becomes a push failure (exit 5), never a silent success, and no tag is
/// reported as pushed.
#[test]
fn failure_inside_the_push_stream_is_exit_5() {
    let ctx = ctx();
    ctx.project(&pushy(&["api"], ""));
    let meta = ctx.root().join("meta.json");
    let r = push(&ctx, &registry(ReadOnly).host, &["--progress", "json"])
        .arg("--metadata-file")
        .arg(&meta)
        .run();
    r.assert_code(5);
    let failed = r.event("push_failed");
    assert_eq!(failed["auth"], false);
    assert!(
        failed["error"].as_str().unwrap().contains("405"),
        "{failed}"
    );
    assert!(r.events("pushed").is_empty(), "{r}");
    let summary = r.last_event();
    assert_eq!(
        (summary["built"].as_u64(), summary["push_failed"].as_u64()),
        (Some(1), Some(1))
    );
    let meta = read_json(&meta);
    assert!(
        meta["services"]["api"]["digest"].is_null(),
        "no digest for a failed push: {meta}"
    );
}

/// The real `docker login` (docker CLI → test engine → registry) writes the credentials to a
/// fresh config.json; `flow build --push` with that config pushes to an htpasswd registry
/// over TLS whose self-signed CA is trusted only through /etc/docker/certs.d. The digest
/// is cross-checked with `skopeo inspect` trusting that folder only.
#[test]
fn docker_login_then_push_to_htpasswd_registry_over_tls() {
    let ctx = ctx();
    let tlsbasic = registry(TlsBasic);
    let reg = &tlsbasic.host;
    let cert_dir = tlsbasic.certs_d.clone().expect("tlsbasic's certs.d folder");
    assert_eq!(cert_dir, Path::new(&format!("/etc/docker/certs.d/{reg}")));
    assert!(
        cert_dir.join("ca.crt").is_file(),
        "the CA is where dockerd and flow look for it"
    );
    let login = tlsbasic.login();

    // With no `auths` entry at all (`{}`, `{"auths":{}}` or `{"credsStore":""}`), the docker
    // CLI picks the `pass` store by itself because docker-credential-pass is installed. One
    // unrelated entry keeps it on the file.
    ctx.write_docker_config(r#"{"auths": {"flow-test.invalid": {}}}"#);
    let l = peer::docker_login(ctx.engine(), &ctx.docker_config_dir(), reg, login);
    assert_eq!(l.code, 0, "docker login: {l}");
    assert!(l.stdout.contains("Login Succeeded"), "{l}");
    assert!(!l.output().contains(&login.password));
    let config = read_json(&ctx.docker_config_file());
    assert!(
        config.get("credsStore").is_none_or(|s| s == ""),
        "docker login must have used the file, not a credential store"
    );
    assert_eq!(
        config["auths"][reg]["auth"].as_str(),
        Some(login.auth().as_str()),
        "docker login wrote the credentials of {reg} to config.json"
    );

    ctx.project(&pushy(&["api"], ""));
    let tag = unique("login");
    let r = push(&ctx, reg, &["--progress", "json", "--tag", &tag]).run();
    r.assert_ok();
    assert!(
        !r.output().contains(&login.password),
        "password must never be printed"
    );
    let pushed = r.event("pushed");
    let reference = format!("{reg}/pushy-api:{tag}");
    assert_eq!(pushed["references"], serde_json::json!([reference]));
    let digest = pushed["digest"].as_str().unwrap();
    assert!(digest.starts_with("sha256:"), "{pushed}");
    assert_eq!(
        peer::skopeo_digest(&reference, Some(login), &cert_dir),
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
    let ctx = ctx();
    ctx.project(&pushy(
        &services,
        "RUN dd if=/dev/urandom of=/blob bs=1M count=20 2>/dev/null\n",
    ));
    let reg = registry(Plain).at("parallel");
    let started = std::time::Instant::now();

    let tag = unique("par");
    let r = push(&ctx, &reg, &["--progress", "json", "--tag", &tag]).run();
    r.assert_ok();
    let ms = |e: &serde_json::Value, k: &str| {
        e[k].as_u64()
            .unwrap_or_else(|| panic!("{k} (ms) missing: {e}"))
    };
    let mut intervals = Vec::new();
    let mut digests = Vec::new();
    for svc in services {
        let (begun, pushed) = (
            r.service_events("push_started", svc),
            r.service_events("pushed", svc),
        );
        assert_eq!((begun.len(), pushed.len()), (1, 1), "{svc}: {r}");
        let (begun, pushed) = (&begun[0], &pushed[0]);
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
        assert_eq!(probe::pushed_digest(&reference), digest, "{reference}");
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

    let summary = r.last_event();
    assert_eq!(summary["event"], "summary", "{r}");
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
    let r = push(&ctx, &reg, &["--progress", "plain", "--tag", &tag]).run();
    r.assert_ok();
    // The summary follows the last empty line.
    let summary: Vec<&str> = r
        .stdout
        .rsplit_once("\n\n")
        .map_or("", |(_, s)| s)
        .lines()
        .collect();
    assert_eq!(summary.len(), 3, "one summary line per service: {r}");
    for (svc, line) in services.iter().zip(&summary) {
        let reference = format!("{reg}/pushy-{svc}:{tag}");
        let digest = probe::pushed_digest(&reference);
        assert_eq!(
            *line,
            format!("✓ {svc}: {reference} ({digest}) [reused]"),
            "{r}"
        );
    }
    eprintln!("both runs took {:.1}s", started.elapsed().as_secs_f64());
}
