//! CLI behaviour that needs no engine: help, configuration errors, exit codes.

use fleetflow_test_support::{Context, RunExt as _, repo_root};

/// A context with no engine.
fn offline() -> Context {
    Context::offline(env!("CARGO_BIN_EXE_flow"))
}

/// `flow ARGS…` offline in the shop example.
fn shop(ctx: &Context, args: &[&str]) -> std::process::Command {
    let mut c = ctx.flow_in(&repo_root().join("examples/shop"));
    c.args(args);
    c
}

#[test]
fn help_documents_every_option() {
    let ctx = offline();
    let r = ctx.flow_in(&repo_root()).args(["build", "--help"]).run();
    r.assert_ok();
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
        assert!(r.stdout.contains(flag), "help lacks {flag}:\n{r}");
    }
}

#[test]
fn unknown_stage_exits_2_naming_file_and_stages() {
    let ctx = offline();
    let r = shop(&ctx, &["build", "staging"]).run();
    r.assert_code(2);
    assert!(
        r.stderr.contains("flow.kdl: unknown stage `staging`"),
        "{r}"
    );
    assert!(
        r.stderr.contains("dev (flow.kdl:") && r.stderr.contains("prod (flow.kdl:"),
        "{r}"
    );
}

#[test]
fn broken_kdl_exits_2_with_file_line_and_snippet() {
    let ctx = offline();
    ctx.write(
        "flow.kdl",
        "project \"x\"\nservice \"api\" {\n    image \"a\" \"b\n}\n",
    );
    let r = ctx.flow().args(["build", "dev"]).run();
    r.assert_code(2);
    assert!(r.stderr.contains("flow.kdl:3:"), "{r}");
    assert!(r.stderr.contains("image \"a\""), "snippet shown: {r}");
}

#[test]
fn wrong_value_type_and_unknown_service_exit_2() {
    let ctx = offline();
    ctx.write(
        "flow.kdl",
        "service \"api\" {\n    build {\n        no_cache \"yes\"\n    }\n}\nstage \"dev\" { service \"api\" }\n",
    );
    let r = ctx.flow().args(["build", "dev"]).run();
    r.assert_code(2);
    assert!(
        r.stderr.contains("flow.kdl:3:18") && r.stderr.contains("no_cache"),
        "{r}"
    );

    let r = shop(&ctx, &["build", "nosuch", "dev"]).run();
    r.assert_code(2);
    assert!(
        r.stderr.contains("unknown service `nosuch` in stage `dev`"),
        "{r}"
    );
    assert!(
        r.stderr.contains("api, worker, web") || r.stderr.contains("db, api, worker, web"),
        "{r}"
    );
}

#[test]
fn invalid_tag_exits_2_before_anything_runs() {
    let ctx = offline();
    let r = shop(&ctx, &["build", "--tag", "-bad", "dev"]).run();
    r.assert_code(2);
    assert!(r.stderr.contains("-bad"), "{r}");

    let r = shop(&ctx, &["build", "--tag", "v1", "dev", "--tag=bad:tag"])
        .env("LANG", "ja_JP.UTF-8")
        .run();
    r.assert_code(2);
    assert!(
        r.stderr.contains("タグに使用できない文字が含まれています"),
        "{r}"
    );
}

#[test]
fn unreachable_engine_exits_1_with_hint() {
    let ctx = offline();
    let r = shop(&ctx, &["build", "dev"]).run();
    r.assert_code(1);
    assert!(
        r.stderr.contains("cannot connect to the Docker Engine")
            && r.stderr.contains("DOCKER_HOST"),
        "{r}"
    );
}

#[test]
fn dry_run_plans_names_tags_and_stage_flags() {
    let ctx = offline();
    let r = shop(
        &ctx,
        &[
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
        ],
    )
    .run();
    r.assert_ok();
    let events = r.all_events();
    let plan = &events[0];
    assert_eq!(plan["service"], "api");
    assert_eq!(plan["target"], "release");
    assert_eq!(
        plan["references"],
        serde_json::json!([
            "localhost:5000/shop/shop-api:v1.2.0",
            "localhost:5000/shop/shop-api:latest"
        ])
    );
    assert_eq!(r.events("plan").len(), 1, "only the selected service: {r}");
    // The registries' credential sources come last, never a secret.
    assert_eq!(r.last_event()["event"], "registry", "{r}");

    // FLEET_STAGE is used when no stage is written.
    let r = shop(&ctx, &["build", "--dry-run"])
        .env("FLEET_STAGE", "prod")
        .run();
    r.assert_ok();
    assert!(r.stdout.contains("Target: release"), "{r}");
}

#[test]
fn implicit_stage_loads_its_stage_file() {
    let ctx = offline();
    ctx.write("Dockerfile.api", "FROM scratch\n");
    ctx.write(
        "flow.kdl",
        "service \"api\" { target \"dev\" }\nstage \"live\" { service \"api\" }\n",
    );
    ctx.write(
        "flow.live.kdl",
        "service \"api\" { target \"production\" }\n",
    );
    let r = ctx.flow().args(["build", "--dry-run"]).run();
    r.assert_ok();
    assert!(
        r.stdout.contains("Target: production"),
        "the only stage's flow.live.kdl applies: {r}"
    );
}

#[test]
fn broken_dockerignore_and_push_without_registry_exit_2_before_building() {
    let ctx = offline();
    ctx.write("Dockerfile.api", "FROM scratch\n");
    ctx.write(
        "flow.kdl",
        "service \"api\"\nstage \"ci\" { service \"api\" }\n",
    );
    ctx.write(".dockerignore", "ok\n[z-a\n");
    let r = ctx.flow().args(["build", "--dry-run", "ci"]).run();
    r.assert_code(2);
    assert!(
        r.stderr.contains(".dockerignore") && r.stderr.contains("line 2"),
        "{r}"
    );

    std::fs::remove_file(ctx.project_dir().join(".dockerignore")).unwrap();
    let r = ctx
        .flow()
        .args(["build", "--dry-run", "--push", "ci"])
        .run();
    r.assert_code(2);
    assert!(r.stderr.contains("the image name has no registry"), "{r}");
}

#[test]
fn dry_run_json_lists_skipped_and_quiet_prints_references() {
    let ctx = offline();
    let r = shop(&ctx, &["build", "--dry-run", "--progress", "json", "dev"]).run();
    r.assert_ok();
    let events = r.all_events();
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

    let r = shop(&ctx, &["build", "--dry-run", "-q", "--tag", "v9", "dev"]).run();
    r.assert_ok();
    assert_eq!(r.stdout, "shop-api:v9\nshop-worker:v9\nshop-web:v9\n");
}
