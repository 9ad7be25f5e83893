//! `flow build` against the real Docker Engine started by scripts/testenv.sh: images are
//! built from the example projects and inspected from the inside.

mod common;

use common::{copy_dir, docker, env, flow, git, in_image, repo_root, run, unique, write};

/// The shop example in a fresh git repository (the OCI labels come from git).
fn shop_copy() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    copy_dir(&repo_root().join("examples/shop"), t.path());
    git(t.path(), &["init", "-q"]);
    git(t.path(), &["add", "-A"]);
    git(
        t.path(),
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
    t
}

#[test]
fn shop_dev_builds_every_feature() {
    let shop = shop_copy();
    let tag = unique("dev");
    let mut c = flow(shop.path());
    c.args(["build", "--progress", "plain", "--tag", &tag, "dev"])
        .env("BASE_IMAGE_UNUSED", env("FLOW_TEST_BASE_IMAGE"));
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");

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
    assert_eq!(in_image(&api, "cat /app/stage"), "dev");
    assert_eq!(in_image(&api, "cat /app/mode"), "development");
    assert_eq!(in_image(&api, "cat /app/greeting"), "hello");
    assert!(in_image(&api, "cat /app/src/main.sh").contains("api running"));

    // worker: its own folder is the context.
    let worker = format!("shop-worker:{tag}");
    assert_eq!(
        in_image(&worker, "ls /worker | tr '\\n' ' '"),
        "Dockerfile job.sh"
    );
    assert_eq!(
        in_image(&worker, "/worker/job.sh"),
        "worker: processing jobs"
    );

    // web: .dockerignore with ** and ! rules.
    let web = format!("shop-web:{tag}");
    let files = in_image(&web, "cd /site && find . -type f | sort");
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
    let labels = docker(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.Labels}}",
        &web,
    ]);
    let labels: serde_json::Value = serde_json::from_str(&labels).unwrap();
    assert_eq!(labels["org.example.team"], "storefront");
    assert_eq!(labels["org.opencontainers.image.version"], tag.as_str());
    // created = the commit time (reproducible), in RFC 3339.
    let commit_time: i64 = git(shop.path(), &["log", "-1", "--format=%ct"])
        .parse()
        .unwrap();
    let expected = std::process::Command::new("date")
        .args([
            "-u",
            "-d",
            &format!("@{commit_time}"),
            "+%Y-%m-%dT%H:%M:%SZ",
        ])
        .output()
        .unwrap();
    assert_eq!(
        labels["org.opencontainers.image.created"],
        String::from_utf8_lossy(&expected.stdout).trim()
    );
    assert_eq!(
        labels["org.opencontainers.image.revision"],
        git(shop.path(), &["rev-parse", "HEAD"]).as_str()
    );

    // Same commit, same labels: a second build is fully cached and gives the same image.
    let id_before = docker(&["image", "inspect", "--format", "{{.Id}}", &web]);
    let mut c = flow(shop.path());
    c.args([
        "build",
        "--progress",
        "plain",
        "--tag",
        &tag,
        "-s",
        "dev",
        "web",
    ]);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        docker(&["image", "inspect", "--format", "{{.Id}}", &web]),
        id_before,
        "{out}"
    );
}

#[test]
fn shop_prod_overrides_one_field_and_builds_selected_service() {
    let shop = shop_copy();
    let tag = unique("prod");
    let mut c = flow(shop.path());
    c.args(["build", "--progress", "plain", "--tag", &tag, "api", "prod"]);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(!out.contains("Building worker"), "only api: {out}");
    let api = format!("localhost:5000/shop/shop-api:{tag}");
    assert_eq!(
        in_image(&api, "cat /app/stage"),
        "release",
        "stage override of target"
    );
    assert_eq!(
        in_image(&api, "cat /app/mode"),
        "production",
        "build args kept, stage variable"
    );
    assert_eq!(
        in_image(&api, "cat /app/greeting"),
        "welcome",
        "{{NAME}} from stage variables"
    );
}

#[test]
fn failing_dockerfile_exits_4_with_full_log_and_others_still_build() {
    let t = tempfile::tempdir().unwrap();
    let base = env("FLOW_TEST_BASE_IMAGE");
    write(
        t.path(),
        "flow.kdl",
        "project \"fails\"\nservice \"good\"\nservice \"bad\"\nstage \"ci\" { service \"bad\"; service \"good\" }\n",
    );
    write(
        t.path(),
        "Dockerfile.good",
        &format!("FROM {base}\nRUN echo good > /ok\n"),
    );
    write(
        t.path(),
        "Dockerfile.bad",
        &format!("FROM {base}\nRUN echo first-step-output\nRUN echo boom-marker && exit 3\n"),
    );
    let tag = unique("fail");
    let mut c = flow(t.path());
    c.args([
        "build",
        "--progress",
        "plain",
        "--no-cache",
        "-j",
        "1",
        "--tag",
        &tag,
        "ci",
    ]);
    let (code, out, err) = run(c);
    assert_eq!(code, 4, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("✗ bad: failed"), "{out}");
    assert!(
        out.contains("✓ good: built"),
        "a failure does not stop the others: {out}"
    );
    assert!(err.contains("build log of bad"), "{err}");
    assert!(
        err.contains("first-step-output") && err.contains("boom-marker"),
        "full log: {err}"
    );
    assert!(err.contains("returned a non-zero code: 3"), "{err}");
    assert_eq!(in_image(&format!("fails-good:{tag}"), "cat /ok"), "good");
}

#[test]
fn fail_fast_cancels_waiting_builds() {
    let t = tempfile::tempdir().unwrap();
    let base = env("FLOW_TEST_BASE_IMAGE");
    write(
        t.path(),
        "flow.kdl",
        "project \"ff\"\nservice \"a\"\nservice \"b\"\nstage \"ci\" { service \"a\"; service \"b\" }\n",
    );
    write(
        t.path(),
        "Dockerfile.a",
        &format!("FROM {base}\nRUN exit 1\n"),
    );
    write(
        t.path(),
        "Dockerfile.b",
        &format!("FROM {base}\nRUN echo b > /b\n"),
    );
    let mut c = flow(t.path());
    c.args([
        "build",
        "--progress",
        "json",
        "--fail-fast",
        "-j",
        "1",
        "--no-cache",
        "ci",
    ]);
    let (code, out, _) = run(c);
    assert_eq!(code, 4);
    let events: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "failed" && e["service"] == "a"),
        "{out}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "cancelled" && e["service"] == "b"),
        "{out}"
    );
    let summary = events.last().unwrap();
    assert_eq!(
        (summary["failed"].as_u64(), summary["cancelled"].as_u64()),
        (Some(1), Some(1))
    );
}

#[test]
fn outside_dockerfile_multiple_tags_git_labels_and_json() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    let base = env("FLOW_TEST_BASE_IMAGE");
    write(
        r,
        "flow.kdl",
        "project \"Git Demo\"\nservice \"app\" {\n    dockerfile \"docker/app.Dockerfile\"\n    context \"app\"\n}\nstage \"ci\" { service \"app\" }\n",
    );
    write(
        r,
        "docker/app.Dockerfile",
        &format!("FROM {base}\nCOPY . /app/\n"),
    );
    write(r, "app/main.sh", "echo app\n");
    write(r, "app/secret.key", "k\n");
    let mode = |p: &str, m: u32| {
        std::fs::set_permissions(r.join(p), std::os::unix::fs::PermissionsExt::from_mode(m))
            .unwrap()
    };
    mode("app/secret.key", 0o600);
    mode("app/main.sh", 0o755);
    let git = |args: &[&str]| common::git(r, args);
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
    let mut c = flow(r);
    c.args([
        "build",
        "--progress",
        "json",
        "--tag",
        &t1,
        "--tag",
        &t2,
        "ci",
    ]);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        !out.contains("s3cr3t") && !err.contains("s3cr3t"),
        "no credentials in output"
    );
    let built: serde_json::Value = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["event"] == "built")
        .expect("a built event");
    let id = built["image_id"].as_str().unwrap().to_string();
    for tag in [&t1, &t2] {
        let image = format!("git-demo-app:{tag}");
        assert_eq!(
            docker(&["image", "inspect", "--format", "{{.Id}}", &image]),
            id,
            "{image}"
        );
    }
    let image = format!("git-demo-app:{t1}");
    assert_eq!(
        in_image(&image, "ls -A /app | tr '\\n' ' '"),
        "main.sh secret.key",
        "hidden Dockerfile is not copied"
    );
    assert_eq!(
        in_image(
            &image,
            "stat -c %a /app/main.sh /app/secret.key | tr '\\n' ' '"
        ),
        "755 600",
        "file modes survive"
    );
    let labels: serde_json::Value = serde_json::from_str(&docker(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.Labels}}",
        &image,
    ]))
    .unwrap();
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
    let t = tempfile::tempdir().unwrap();
    let base = env("FLOW_TEST_BASE_IMAGE");
    write(t.path(), "flow.kdl", "project \"tls\"\nservice \"app\"\n");
    write(
        t.path(),
        "Dockerfile.app",
        &format!("FROM {base}\nRUN echo over-tls > /how\n"),
    );
    let tag = unique("tls");
    let mut c = flow(t.path());
    c.env("DOCKER_HOST", env("FLOW_TEST_DOCKER_TLS_HOST"))
        .env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", env("FLOW_TEST_DOCKER_CERT_PATH"))
        .args(["build", "--progress", "plain", "--tag", &tag]);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(in_image(&format!("tls-app:{tag}"), "cat /how"), "over-tls");

    // Without the TLS settings the engine refuses us: a clear error, exit 1.
    let mut c = flow(t.path());
    c.env("DOCKER_HOST", env("FLOW_TEST_DOCKER_TLS_HOST"))
        .args(["build", "--tag", &tag]);
    let (code, _, err) = run(c);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("cannot connect to the Docker Engine at tcp://127.0.0.1:"),
        "{err}"
    );
}

/// A context file whose name is not UTF-8 (Latin-1 `café.txt`) reaches the image under
/// exactly its bytes, as with the docker CLI, and a `.dockerignore` still applies.
#[test]
fn non_utf8_file_names_in_the_context_keep_their_bytes() {
    use std::os::unix::ffi::OsStrExt as _;
    let t = tempfile::tempdir().unwrap();
    write(t.path(), "flow.kdl", "project \"bytes\"\nservice \"app\"\n");
    let base = env("FLOW_TEST_BASE_IMAGE");
    write(
        t.path(),
        "Dockerfile.app",
        &format!("FROM {base}\nCOPY . /ctx\n"),
    );
    write(t.path(), ".dockerignore", "*.skip\n");
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9.txt");
    std::fs::write(t.path().join(name), "latin-1 name").unwrap();
    std::fs::write(
        t.path().join(std::ffi::OsStr::from_bytes(b"x\xff.skip")),
        "ignored",
    )
    .unwrap();
    let tag = unique("bytes");
    let mut c = flow(t.path());
    c.args(["build", "-q", "--tag", &tag]);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains(&format!("bytes-app:{tag}")), "{out}\n{err}");
    let image = format!("bytes-app:{tag}");
    let hex = in_image(&image, "printf '%s/' /ctx/* | od -An -tx1 | tr -d ' \\n'");
    assert!(
        hex.contains("636166e92e747874"),
        "caf\\xe9.txt kept its bytes: {hex}"
    );
    assert!(
        !hex.contains("ff2e736b6970"),
        "the ignored file was sent: {hex}"
    );
    assert_eq!(in_image(&image, "cat /ctx/caf*.txt"), "latin-1 name");
}
