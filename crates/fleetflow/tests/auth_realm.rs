//! Token auth edge cases through the `flow` binary, against the registries of
//! scripts/testenv.sh: a registry whose token realm is plain HTTP under a name that
//! resolves to loopback (credentials must never reach it), and one whose tokens live two
//! seconds (a long push must re-authenticate).

mod common;

use std::path::Path;

use common::{
    env, flow, flow_image, json_lines, registry_digest, run, run_stdin, saved_image, unique, write,
};

/// The JSON lines a token server recorded (`token_server.py --record`).
fn records(path: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// No request the plain-HTTP realm ever received carried credentials.
fn assert_realm_saw_no_credentials() {
    let seen = records(&env("FLOW_TEST_PLAINREALM_REQUESTS"));
    assert!(
        seen.iter().all(|r| r["authorization"] == false),
        "the plain-HTTP token realm received credentials: {seen:?}"
    );
}

/// A Docker config folder whose config.json has `user:password` for `registry`.
fn docker_config(registry: &str, user: &str, password: &str) -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let auth = common::base64(&format!("{user}:{password}"));
    std::fs::write(
        t.path().join("config.json"),
        format!(r#"{{"auths": {{"{registry}": {{"auth": "{auth}"}}}}}}"#),
    )
    .unwrap();
    t
}

fn project(dir: &Path) {
    let base = env("FLOW_TEST_BASE_IMAGE");
    write(
        dir,
        "flow.kdl",
        "project \"realm\"\nservice \"api\"\nstage \"ci\" {\n    service \"api\"\n}\n",
    );
    write(
        dir,
        "Dockerfile.api",
        &format!("FROM {base}\nRUN echo api > /api.txt\n"),
    );
}

#[test]
fn build_push_never_sends_credentials_to_a_plain_http_token_realm() {
    let t = tempfile::tempdir().unwrap();
    project(t.path());
    let reg = env("FLOW_TEST_REGISTRY_PLAINREALM");
    let (user, password) = (env("FLOW_TEST_TOKEN_USER"), env("FLOW_TEST_TOKEN_PASSWORD"));
    let cfg = docker_config(&reg, &user, &password);
    let mut c = flow(t.path());
    c.env("DOCKER_CONFIG", cfg.path()).args([
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
    assert!(
        err.contains("authentication to the registry failed"),
        "{err}"
    );
    assert!(
        err.contains("refusing to send credentials to token realm")
            && err.contains(&env("FLOW_TEST_PLAINREALM_REALM"))
            && err.contains("without TLS"),
        "stderr says why: {err}"
    );
    assert!(err.contains(&format!("{reg}/realm-api:latest")), "{err}");
    assert!(!out.contains("Building"), "nothing is built: {out}");
    assert!(!err.contains(&password) && !out.contains(&password));
    assert_realm_saw_no_credentials();
}

/// `flow image push` of the test image to `destination` as the token user, with `args`;
/// returns the exit code, stdout, stderr and the password (to check it never shows).
fn image_push(destination: &str, args: &[&str]) -> (i32, String, String, String) {
    let (_, tar) = saved_image();
    let cache = tempfile::tempdir().unwrap();
    let (user, password) = (env("FLOW_TEST_TOKEN_USER"), env("FLOW_TEST_TOKEN_PASSWORD"));
    let mut c = flow_image(cache.path());
    c.args(["push", "--progress", "plain"])
        .args(args)
        .arg(tar)
        .arg(destination)
        .args(["-u", &user, "--password-stdin"]);
    let (code, out, err) = run_stdin(c, &format!("{password}\n"));
    (code, out, err, password)
}

#[test]
fn image_push_never_sends_credentials_to_a_plain_http_token_realm() {
    let reg = env("FLOW_TEST_REGISTRY_PLAINREALM");
    let (code, out, err, password) = image_push(&format!("{reg}/realm/app:v1"), &[]);
    assert_eq!(code, 3, "{out}\n{err}");
    assert!(
        err.contains("refusing to send credentials to token realm"),
        "{err}"
    );
    assert!(!err.contains(&password) && !out.contains(&password));
    assert_realm_saw_no_credentials();
}

#[test]
fn a_push_longer_than_the_token_lifetime_re_authenticates() {
    let (_, tar) = saved_image();
    let cache = tempfile::tempdir().unwrap();
    let reg = env("FLOW_TEST_REGISTRY_SHORTTOKEN");
    let lifetime: f64 = env("FLOW_TEST_SHORTTOKEN_LIFETIME").parse().unwrap();
    let (user, password) = (env("FLOW_TEST_TOKEN_USER"), env("FLOW_TEST_TOKEN_PASSWORD"));
    let cfg = docker_config(&reg, &user, &password);
    let repo = unique("expiry/app");
    let dest = format!("{reg}/{repo}:v1");
    // One blob at a time in 4 KiB PATCH requests: the 4 MiB random layer alone is over a
    // thousand requests, each authorised with the token current at that moment.
    let started = std::time::Instant::now();
    let mut c = flow_image(cache.path());
    c.env("DOCKER_CONFIG", cfg.path())
        .args([
            "push",
            "--progress",
            "json",
            "--jobs",
            "1",
            "--chunk-size",
            "4096",
        ])
        .arg(tar)
        .arg(&dest);
    let (code, out, err) = run(c);
    let took = started.elapsed().as_secs_f64();
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        took > lifetime,
        "the push ({took:.1}s) must outlast a token ({lifetime}s)"
    );
    let done = json_lines(&out)
        .into_iter()
        .find(|e| e["event"] == "done")
        .expect("done event");
    assert_eq!(
        registry_digest(&dest, Some((&user, &password))),
        done["digest"].as_str().unwrap()
    );
    let push_scope = serde_json::json!([format!("repository:{repo}:pull,push")]);
    let issued = records(&env("FLOW_TEST_SHORTTOKEN_REQUESTS"))
        .iter()
        .filter(|r| r["issued"] == true && r["scopes"] == push_scope)
        .count();
    assert!(
        issued > 1,
        "{issued} push token(s) in {took:.1}s: the expired token was not replaced"
    );
}
