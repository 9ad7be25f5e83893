//! CLI behaviour that needs no engine: help, configuration errors, exit codes.

mod common;

use common::{flow_offline, repo_root, run, write};

#[test]
fn help_documents_every_option() {
    let mut c = flow_offline(&repo_root());
    c.args(["build", "--help"]);
    let (code, out, _) = run(c);
    assert_eq!(code, 0);
    for flag in [
        "--stage",
        "--service",
        "--file",
        "--tag",
        "--registry",
        "--build-arg",
        "--no-cache",
        "--pull",
        "--jobs",
        "--fail-fast",
        "--dry-run",
        "--progress",
        "--quiet",
        "[SERVICE]... <STAGE>",
        "Exit codes",
        "FLEET_STAGE",
        "--push",
        "--metadata-file",
    ] {
        assert!(out.contains(flag), "help lacks {flag}:\n{out}");
    }
}

#[test]
fn unknown_stage_exits_2_naming_file_and_stages() {
    let shop = repo_root().join("examples/shop");
    let mut c = flow_offline(&shop);
    c.args(["build", "staging"]);
    let (code, _, err) = run(c);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("flow.kdl: unknown stage `staging`"), "{err}");
    assert!(
        err.contains("dev (flow.kdl:") && err.contains("prod (flow.kdl:"),
        "{err}"
    );
}

#[test]
fn broken_kdl_exits_2_with_file_line_and_snippet() {
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        "flow.kdl",
        "project \"x\"\nservice \"api\" {\n    image \"a\" \"b\n}\n",
    );
    let mut c = flow_offline(t.path());
    c.args(["build", "dev"]);
    let (code, _, err) = run(c);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("flow.kdl:3:"), "{err}");
    assert!(err.contains("image \"a\""), "snippet shown: {err}");
}

#[test]
fn wrong_value_type_and_unknown_service_exit_2() {
    let t = tempfile::tempdir().unwrap();
    write(
        t.path(),
        "flow.kdl",
        "service \"api\" {\n    build {\n        no_cache \"yes\"\n    }\n}\nstage \"dev\" { service \"api\" }\n",
    );
    let mut c = flow_offline(t.path());
    c.args(["build", "dev"]);
    let (code, _, err) = run(c);
    assert_eq!(code, 2);
    assert!(
        err.contains("flow.kdl:3:18") && err.contains("no_cache"),
        "{err}"
    );

    let shop = repo_root().join("examples/shop");
    let mut c = flow_offline(&shop);
    c.args(["build", "nosuch", "dev"]);
    let (code, _, err) = run(c);
    assert_eq!(code, 2);
    assert!(
        err.contains("unknown service `nosuch` in stage `dev`"),
        "{err}"
    );
    assert!(
        err.contains("api, worker, web") || err.contains("db, api, worker, web"),
        "{err}"
    );
}

#[test]
fn invalid_tag_exits_2_before_anything_runs() {
    let shop = repo_root().join("examples/shop");
    let mut c = flow_offline(&shop);
    c.args(["build", "--tag", "-bad", "dev"]);
    let (code, _, err) = run(c);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("-bad"), "{err}");

    let mut c = flow_offline(&shop);
    c.args(["build", "--tag", "v1", "dev"])
        .env("LANG", "ja_JP.UTF-8");
    c.arg("--tag=bad:tag");
    let (code, _, err) = run(c);
    assert_eq!(code, 2);
    assert!(
        err.contains("タグに使用できない文字が含まれています"),
        "{err}"
    );
}

#[test]
fn unreachable_engine_exits_1_with_hint() {
    let shop = repo_root().join("examples/shop");
    let mut c = flow_offline(&shop);
    c.args(["build", "dev"]);
    let (code, _, err) = run(c);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("cannot connect to the Docker Engine") && err.contains("DOCKER_HOST"),
        "{err}"
    );
}

#[test]
fn dry_run_plans_names_tags_and_stage_flags() {
    let shop = repo_root().join("examples/shop");
    let mut c = flow_offline(&shop);
    c.args([
        "build",
        "--dry-run",
        "--progress",
        "json",
        "-s",
        "prod",
        "-n",
        "api",
        "--tag",
        "v1.2.0",
        "--tag",
        "latest",
    ]);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{err}");
    let plan: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(plan["service"], "api");
    assert_eq!(plan["target"], "release");
    assert_eq!(
        plan["references"],
        serde_json::json!([
            "localhost:5000/shop/shop-api:v1.2.0",
            "localhost:5000/shop/shop-api:latest"
        ])
    );
    let plans = out.lines().filter(|l| l.contains(r#""event":"plan""#));
    assert_eq!(plans.count(), 1, "only the selected service: {out}");
    // The registries' credential sources come last, never a secret.
    let last: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(last["event"], "registry", "{out}");

    // FLEET_STAGE is used when no stage is written.
    let mut c = flow_offline(&shop);
    c.args(["build", "--dry-run"]).env("FLEET_STAGE", "prod");
    let (code, out, _) = run(c);
    assert_eq!(code, 0);
    assert!(out.contains("Target: release"), "{out}");
}

#[test]
fn implicit_stage_loads_its_stage_file() {
    let t = tempfile::tempdir().unwrap();
    write(t.path(), "Dockerfile.api", "FROM scratch\n");
    write(
        t.path(),
        "flow.kdl",
        "service \"api\" { target \"dev\" }\nstage \"live\" { service \"api\" }\n",
    );
    write(
        t.path(),
        "flow.live.kdl",
        "service \"api\" { target \"production\" }\n",
    );
    let mut c = flow_offline(t.path());
    c.args(["build", "--dry-run"]);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("Target: production"),
        "the only stage's flow.live.kdl applies: {out}"
    );
}

#[test]
fn broken_dockerignore_and_push_without_registry_exit_2_before_building() {
    let t = tempfile::tempdir().unwrap();
    write(t.path(), "Dockerfile.api", "FROM scratch\n");
    write(
        t.path(),
        "flow.kdl",
        "service \"api\"\nstage \"ci\" { service \"api\" }\n",
    );
    write(t.path(), ".dockerignore", "ok\n[z-a\n");
    let mut c = flow_offline(t.path());
    c.args(["build", "--dry-run", "ci"]);
    let (code, _, err) = run(c);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(".dockerignore") && err.contains("line 2"),
        "{err}"
    );

    std::fs::remove_file(t.path().join(".dockerignore")).unwrap();
    let mut c = flow_offline(t.path());
    c.args(["build", "--dry-run", "--push", "ci"]);
    let (code, _, err) = run(c);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("the image name has no registry"), "{err}");
}

#[test]
fn dry_run_json_lists_skipped_and_quiet_prints_references() {
    let shop = repo_root().join("examples/shop");
    let mut c = flow_offline(&shop);
    c.args(["build", "--dry-run", "--progress", "json", "dev"]);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{err}");
    let events: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| e["event"] != "registry")
        .map(|e| (e["event"].as_str().unwrap(), e["service"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("plan", "api"),
            ("plan", "worker"),
            ("plan", "web"),
            ("skipped", "db")
        ]
    );

    let mut c = flow_offline(&shop);
    c.args(["build", "--dry-run", "-q", "--tag", "v9", "dev"]);
    let (code, out, _) = run(c);
    assert_eq!(code, 0);
    assert_eq!(out, "shop-api:v9\nshop-worker:v9\nshop-web:v9\n");
}
