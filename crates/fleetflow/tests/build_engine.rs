//! `flow build` against the real Docker Engine started by scripts/testenv.sh: images are
//! built from the example projects and inspected from the inside.

use fleetflow_test_support::{
    Context, Project, RunExt as _, Service, TestEnv, copy_dir, git, repo_root, unique,
};

fn ctx() -> Context {
    Context::new(env!("CARGO_BIN_EXE_flow"))
}

/// A context whose project is the shop example in a fresh git repository (the OCI
/// labels come from git).
fn shop_copy() -> Context {
    let ctx = ctx();
    let dir = ctx.project_dir();
    copy_dir(&repo_root().join("examples/shop"), &dir);
    git(&dir, &["init", "-q"]);
    git(&dir, &["add", "-A"]);
    git(
        &dir,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@e",
            "commit",
            "-qm",
            "shop",
        ],
    );
    ctx
}

#[test]
fn shop_dev_builds_every_feature() {
    let shop = shop_copy();
    let tag = unique("dev");
    let r = shop
        .flow()
        .args(["build", "--progress", "plain", "--tag", &tag, "dev"])
        .env("BASE_IMAGE_UNUSED", &TestEnv::get().base_image)
        .run();
    r.assert_ok();
    let out = &r.stdout;

    // The spec's plain layout.
    assert!(out.contains("Building api...\n  → Dockerfile: ./services/api/Dockerfile\n  → Context: .\n  → Target: dev"), "{out}");
    assert!(
        out.contains(
            "Building worker...\n  → Dockerfile: ./worker/Dockerfile\n  → Context: ./worker"
        ),
        "{out}"
    );
    assert!(out.contains("- db: skipped"), "{out}");
    for svc in ["api", "worker", "web"] {
        assert!(out.contains(&format!("✓ {svc}: built")), "{out}");
    }

    // api: multi-stage target `dev`, build args from stage and top-level variables.
    let api = format!("shop-api:{tag}");
    assert_eq!(shop.in_image(&api, "cat /app/stage"), "dev");
    assert_eq!(shop.in_image(&api, "cat /app/mode"), "development");
    assert_eq!(shop.in_image(&api, "cat /app/greeting"), "hello");
    assert!(
        shop.in_image(&api, "cat /app/src/main.sh")
            .contains("api running")
    );

    // worker: its own folder is the context.
    let worker = format!("shop-worker:{tag}");
    assert_eq!(
        shop.in_image(&worker, "ls /worker | tr '\\n' ' '"),
        "Dockerfile job.sh"
    );
    assert_eq!(
        shop.in_image(&worker, "/worker/job.sh"),
        "worker: processing jobs"
    );

    // web: .dockerignore with ** and ! rules.
    let web = format!("shop-web:{tag}");
    let files = shop.in_image(&web, "cd /site && find . -type f | sort");
    for present in [
        "./docs/public/index.html",
        "./flow.kdl",
        "./services/api/src/main.sh",
        "./.dockerignore",
    ] {
        assert!(
            files.lines().any(|l| l == present),
            "{present} missing from:\n{files}"
        );
    }
    for absent in ["plan.md", "secrets.env", ".log", "node_modules", "data/"] {
        assert!(
            !files.contains(absent),
            "{absent} should be ignored:\n{files}"
        );
    }

    // Labels: from flow.kdl and the OCI set.
    let labels = shop.engine().labels(&web);
    assert_eq!(labels["org.example.team"], "storefront");
    assert_eq!(labels["org.opencontainers.image.version"], tag.as_str());
    // created = the commit time (reproducible), in RFC 3339.
    let dir = shop.project_dir();
    let commit_time: i64 = git(&dir, &["log", "-1", "--format=%ct"]).parse().unwrap();
    let expected = std::process::Command::new("date")
        .args([
            "-u",
            "-d",
            &format!("@{commit_time}"),
            "+%Y-%m-%dT%H:%M:%SZ",
        ])
        .run();
    assert_eq!(
        labels["org.opencontainers.image.created"],
        expected.stdout.trim()
    );
    assert_eq!(
        labels["org.opencontainers.image.revision"],
        git(&dir, &["rev-parse", "HEAD"]).as_str()
    );

    // Same commit, same labels: a second build is fully cached and gives the same image.
    let id_before = shop.engine().inspect(&web, "{{.Id}}");
    let r = shop
        .flow()
        .args([
            "build",
            "--progress",
            "plain",
            "--tag",
            &tag,
            "-s",
            "dev",
            "web",
        ])
        .run();
    r.assert_ok();
    assert_eq!(shop.engine().inspect(&web, "{{.Id}}"), id_before, "{r}");
}

#[test]
fn shop_prod_overrides_one_field_and_builds_selected_service() {
    let shop = shop_copy();
    let tag = unique("prod");
    let r = shop
        .flow()
        .args(["build", "--progress", "plain", "--tag", &tag, "api", "prod"])
        .run();
    r.assert_ok();
    assert!(!r.stdout.contains("Building worker"), "only api: {r}");
    let api = format!("localhost:5000/shop/shop-api:{tag}");
    assert_eq!(
        shop.in_image(&api, "cat /app/stage"),
        "release",
        "stage override of target"
    );
    assert_eq!(
        shop.in_image(&api, "cat /app/mode"),
        "production",
        "build args kept, stage variable"
    );
    assert_eq!(
        shop.in_image(&api, "cat /app/greeting"),
        "welcome",
        "{{NAME}} from stage variables"
    );
}

#[test]
fn failing_dockerfile_exits_4_with_full_log_and_others_still_build() {
    let ctx = ctx();
    ctx.project(
        &Project::new("fails")
            .service("good", "RUN echo good > /ok\n")
            .service(
                "bad",
                "RUN echo first-step-output\nRUN echo boom-marker && exit 3\n",
            )
            .stage("ci", &["bad", "good"]),
    );
    let tag = unique("fail");
    let r = ctx
        .flow()
        .args(["build", "--progress", "plain", "--no-cache", "-j", "1"])
        .args(["--tag", &tag, "ci"])
        .run();
    r.assert_code(4);
    assert!(r.stdout.contains("✗ bad: failed"), "{r}");
    assert!(
        r.stdout.contains("✓ good: built"),
        "a failure does not stop the others: {r}"
    );
    let err = &r.stderr;
    assert!(err.contains("build log of bad"), "{err}");
    assert!(
        err.contains("first-step-output") && err.contains("boom-marker"),
        "full log: {err}"
    );
    assert!(err.contains("returned a non-zero code: 3"), "{err}");
    assert_eq!(
        ctx.in_image(&format!("fails-good:{tag}"), "cat /ok"),
        "good"
    );
}

#[test]
fn fail_fast_cancels_waiting_builds() {
    let ctx = ctx();
    ctx.project(
        &Project::new("ff")
            .service("a", "RUN exit 1\n")
            .service("b", "RUN echo b > /b\n")
            .stage("ci", &["a", "b"]),
    );
    let r = ctx
        .flow()
        .args(["build", "--progress", "json", "--fail-fast", "-j", "1"])
        .args(["--no-cache", "ci"])
        .run();
    r.assert_code(4);
    assert!(r.has_event("failed", "a"), "{r}");
    assert!(r.has_event("cancelled", "b"), "{r}");
    let summary = r.last_event();
    assert_eq!(
        (summary["failed"].as_u64(), summary["cancelled"].as_u64()),
        (Some(1), Some(1))
    );
}

#[test]
fn outside_dockerfile_multiple_tags_git_labels_and_json() {
    let ctx = ctx();
    let r = ctx.project_dir();
    ctx.project(
        &Project::new("Git Demo")
            .with(Service::new("app", "COPY . /app/\n").at("docker/app.Dockerfile", "app"))
            .stage("ci", &["app"])
            .file("app/main.sh", "echo app\n")
            .file("app/secret.key", "k\n"),
    );
    let mode = |p: &str, m: u32| {
        std::fs::set_permissions(r.join(p), std::os::unix::fs::PermissionsExt::from_mode(m))
            .unwrap()
    };
    mode("app/secret.key", 0o600);
    mode("app/main.sh", 0o755);
    let git = |args: &[&str]| git(&r, args);
    git(&["init", "-q"]);
    git(&["-c", "user.name=t", "-c", "user.email=t@e", "add", "."]);
    git(&[
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@e",
        "commit",
        "-qm",
        "init",
    ]);
    git(&[
        "remote",
        "add",
        "origin",
        "https://bot:s3cr3t-token@github.com/acme/git-demo.git",
    ]);
    let head = git(&["rev-parse", "HEAD"]);

    let (t1, t2) = (unique("one"), unique("two"));
    let run = ctx
        .flow()
        .args([
            "build",
            "--progress",
            "json",
            "--tag",
            &t1,
            "--tag",
            &t2,
            "ci",
        ])
        .run();
    run.assert_ok();
    assert!(!run.output().contains("s3cr3t"), "no credentials in output");
    let built = run.event("built");
    let id = built["image_id"].as_str().unwrap().to_string();
    for tag in [&t1, &t2] {
        let image = format!("git-demo-app:{tag}");
        assert_eq!(ctx.engine().inspect(&image, "{{.Id}}"), id, "{image}");
    }
    let image = format!("git-demo-app:{t1}");
    assert_eq!(
        ctx.in_image(&image, "ls -A /app | tr '\\n' ' '"),
        "main.sh secret.key",
        "hidden Dockerfile is not copied"
    );
    assert_eq!(
        ctx.in_image(
            &image,
            "stat -c %a /app/main.sh /app/secret.key | tr '\\n' ' '"
        ),
        "755 600",
        "file modes survive"
    );
    let labels = ctx.engine().labels(&image);
    assert_eq!(labels["org.opencontainers.image.revision"], head.as_str());
    assert_eq!(
        labels["org.opencontainers.image.source"],
        "https://github.com/acme/git-demo"
    );
}

/// DOCKER_HOST=tcp:// with mutual TLS (DOCKER_TLS_VERIFY + DOCKER_CERT_PATH), as the
/// docker CLI reads it; the same engine, reached over its TCP+TLS endpoint.
#[test]
fn docker_host_tcp_with_tls() {
    let ctx = ctx();
    let tls = ctx
        .engine()
        .tls
        .clone()
        .expect("the engine's TCP+TLS endpoint");
    ctx.project(&Project::new("tls").service("app", "RUN echo over-tls > /how\n"));
    let tag = unique("tls");
    let r = ctx
        .flow()
        .env("DOCKER_HOST", &tls.host)
        .env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", &tls.cert_path)
        .args(["build", "--progress", "plain", "--tag", &tag])
        .run();
    r.assert_ok();
    assert_eq!(
        ctx.in_image(&format!("tls-app:{tag}"), "cat /how"),
        "over-tls"
    );

    // Without the TLS settings the engine refuses us: a clear error, exit 1.
    let r = ctx
        .flow()
        .env("DOCKER_HOST", &tls.host)
        .args(["build", "--tag", &tag])
        .run();
    r.assert_code(1);
    assert!(
        r.stderr
            .contains("cannot connect to the Docker Engine at tcp://127.0.0.1:"),
        "{r}"
    );
}

/// A context file whose name is not UTF-8 (Latin-1 `café.txt`) reaches the image under
/// exactly its bytes, as with the docker CLI, and a `.dockerignore` still applies.
#[test]
fn non_utf8_file_names_in_the_context_keep_their_bytes() {
    use std::os::unix::ffi::OsStrExt as _;
    let ctx = ctx();
    ctx.project(
        &Project::new("bytes")
            .service("app", "COPY . /ctx\n")
            .file(".dockerignore", "*.skip\n"),
    );
    let dir = ctx.project_dir();
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9.txt");
    std::fs::write(dir.join(name), "latin-1 name").unwrap();
    std::fs::write(
        dir.join(std::ffi::OsStr::from_bytes(b"x\xff.skip")),
        "ignored",
    )
    .unwrap();
    let tag = unique("bytes");
    let r = ctx.flow().args(["build", "-q", "--tag", &tag]).run();
    r.assert_ok();
    assert!(r.stdout.contains(&format!("bytes-app:{tag}")), "{r}");
    let image = format!("bytes-app:{tag}");
    let hex = ctx.in_image(&image, "printf '%s/' /ctx/* | od -An -tx1 | tr -d ' \\n'");
    assert!(
        hex.contains("636166e92e747874"),
        "caf\\xe9.txt kept its bytes: {hex}"
    );
    assert!(
        !hex.contains("ff2e736b6970"),
        "the ignored file was sent: {hex}"
    );
    assert_eq!(ctx.in_image(&image, "cat /ctx/caf*.txt"), "latin-1 name");
}
