//! Release metadata, tag templates, dry runs, reuse of unchanged services and atomic
//! publishing (issue #5), against the real engine and registry of scripts/testenv.sh.

use std::process::Command;

use fleetflow_test_support::RegistryKind::Plain;
use fleetflow_test_support::{
    Context, Login, Project, Run, RunExt as _, Service, TestEnv, copy_dir, git, probe, read_json,
    registry, repo_root, unique, write,
};
use serde_json::Value;

const FLOW: &str = env!("CARGO_BIN_EXE_flow");

/// A project `rel` with `services`, each `FROM` the test base image, built from its own
/// folder (so a change to one service's files changes only its inputs), in stage `prod`
/// with `stage_extra`; with input digests of its own.
fn rel(services: &[&str], stage_extra: &str) -> Project {
    services
        .iter()
        .fold(Project::new("rel"), |p, s| {
            p.with(Service::new(s, &format!("COPY {s}.txt /\n")).in_folder())
                .file(&format!("{s}/{s}.txt"), s)
        })
        .stage_with("prod", services, stage_extra)
        .unique_inputs()
}

/// The tags of each `plan` event.
fn plan_tags(r: &Run) -> Vec<Vec<String>> {
    r.events("plan")
        .iter()
        .map(|e| serde_json::from_value(e["tags"].clone()).unwrap())
        .collect()
}

/// The registry's digest for `repo:tag` in the plain registry, or `None` when it has no
/// such tag.
fn plain_digest(repo: &str, tag: &str) -> Option<String> {
    probe::digest(&registry(Plain).at(&format!("{repo}:{tag}")))
}

#[test]
fn templates_in_a_git_repository_tagged_v1_4_2_on_main() {
    let ctx = Context::offline(FLOW);
    let dir = &ctx.project_dir();
    ctx.project(&rel(
        &["api", "web"],
        "    tags \"{version}\" \"{version}-{sha}\" \"{branch}-{sha}\" \"latest\"\n    registry \"registry.example/acme\"\n",
    ));
    git(dir, &["init", "-q"]);
    git(dir, &["add", "."]);
    git(dir, &["commit", "-q", "-m", "first"]);
    git(dir, &["tag", "v1.4.2"]);
    let sha7: String = git(dir, &["rev-parse", "HEAD"]).chars().take(7).collect();
    let dry = |extra: &[&str], env: &[(&str, &str)]| {
        let mut c = ctx.flow();
        c.args(["build", "--dry-run", "--progress", "json"])
            .args(extra)
            .arg("prod");
        for (k, v) in env {
            c.env(k, v);
        }
        c.run()
    };
    let out = dry(&[], &[]);
    out.assert_ok();
    let expected = vec![
        "1.4.2".to_string(),
        format!("1.4.2-{sha7}"),
        format!("main-{sha7}"),
        "latest".to_string(),
    ];
    assert_eq!(plan_tags(&out), vec![expected.clone(), expected]);

    // --version, then FLOW_VERSION, win over the git tag; a pre-release gets no `latest`.
    let out = dry(&["--version", "2.0.0-rc.1"], &[("FLOW_VERSION", "9.9.9")]);
    assert_eq!(
        plan_tags(&out)[0],
        [
            "2.0.0-rc.1".to_string(),
            format!("2.0.0-rc.1-{sha7}"),
            format!("main-{sha7}")
        ]
    );
    let out = dry(&[], &[("FLOW_VERSION", "3.1.0")]);
    assert_eq!(plan_tags(&out)[0][0], "3.1.0");
    // --tag wins over templates.
    let out = dry(&["--tag", "hotfix"], &[]);
    assert_eq!(plan_tags(&out)[0], ["hotfix"]);
    // A release and its candidate on one commit: the release wins (and gets `latest`).
    git(dir, &["tag", "v1.4.2-rc.1"]);
    git(dir, &["tag", "v1.4.10"]);
    let out = dry(&[], &[]);
    assert_eq!(plan_tags(&out)[0][0], "1.4.10");
    assert_eq!(plan_tags(&out)[0][3], "latest");
    // In Actions, the tag that triggered the run.
    let out = dry(
        &[],
        &[("GITHUB_REF_TYPE", "tag"), ("GITHUB_REF_NAME", "v1.4.2")],
    );
    assert_eq!(plan_tags(&out)[0][0], "1.4.2");

    // A feature branch, lower-cased and made tag-safe; the commit is not tagged any more,
    // so {version} has no value: an error naming the template and where it is written.
    git(dir, &["checkout", "-q", "-b", "Feature/Auth"]);
    write(dir, "api/api.txt", "changed");
    git(dir, &["commit", "-q", "-am", "second"]);
    let sha7: String = git(dir, &["rev-parse", "HEAD"]).chars().take(7).collect();
    let r = dry(&[], &[]);
    r.assert_code(2);
    let err = &r.stderr;
    assert!(
        err.contains("flow.kdl:") && err.contains("`{version}`") && err.contains("--version"),
        "{err}"
    );
    let out = dry(&["--version", "1.5.0"], &[]);
    assert_eq!(plan_tags(&out)[0][2], format!("feature-auth-{sha7}"));
    // In GitHub Actions (detached HEAD), the branch comes from GITHUB_REF_NAME.
    git(dir, &["checkout", "-q", "--detach"]);
    let out = dry(
        &["--version", "1.5.0"],
        &[
            ("GITHUB_REF_TYPE", "branch"),
            ("GITHUB_REF_NAME", "release/2026.12"),
        ],
    );
    assert_eq!(plan_tags(&out)[0][2], format!("release-2026.12-{sha7}"));
}

#[test]
fn dry_run_pushes_nothing_and_prints_every_ref_and_credential_source() {
    let ctx = Context::new(FLOW);
    let reg = &registry(Plain).host;
    ctx.project(&rel(&["api", "worker"], ""));
    // Credentials for the registry (it needs none): the plan names the file, not the secret.
    let someone = Login {
        user: "someone".into(),
        password: "dry-run-secret-Zq9".into(),
    };
    ctx.auths(&[(reg, &someone)]);
    let tag = unique("dry");
    let r = ctx
        .flow()
        .args(["build", "--push", "--dry-run", "--registry", reg])
        .args(["--tag", &tag, "prod"])
        .run();
    r.assert_ok();
    for svc in ["api", "worker"] {
        assert!(r.stdout.contains(&format!("{reg}/rel-{svc}:{tag}")), "{r}");
        assert_eq!(plain_digest(&format!("rel-{svc}"), &tag), None);
    }
    assert!(
        r.stdout.contains(&format!(
            "{reg} (push): {}",
            ctx.docker_config_file().display()
        )),
        "{r}"
    );
    assert!(!r.output().contains(&someone.password) && !r.stdout.contains(&someone.auth()));
}

#[test]
fn metadata_github_outputs_and_reuse_of_unchanged_services() {
    let ctx = Context::new(FLOW);
    let dir = &ctx.project_dir();
    let reg = &registry(Plain).host;
    let services = ["api", "worker", "web"];
    ctx.project(&rel(&services, ""));
    // Outside the context: a file written into it would change the inputs.
    let records = ctx.dir("records");
    let push = |tag: &str, extra: &[&str]| {
        let meta = records.join(format!("meta-{tag}.json"));
        let outputs = records.join(format!("outputs-{tag}"));
        let summary = records.join(format!("summary-{tag}.md"));
        let started = std::time::Instant::now();
        let r = ctx
            .flow()
            .env("GITHUB_OUTPUT", &outputs)
            .env("GITHUB_STEP_SUMMARY", &summary)
            .args(["build", "--push", "--progress", "json", "--registry", reg])
            .args(["--tag", tag, "--metadata-file"])
            .arg(&meta)
            .args(extra)
            .arg("prod")
            .run();
        r.assert_ok();
        let outputs = std::fs::read_to_string(&outputs).unwrap();
        let summary = std::fs::read_to_string(&summary).unwrap();
        (read_json(&meta), outputs, summary, r, started.elapsed())
    };

    let first_tag = unique("first");
    let (meta, outputs, summary, _, first_time) = push(&first_tag, &[]);
    assert_eq!(meta["stage"], "prod");
    for svc in services {
        let m = &meta["services"][svc];
        let repo = format!("rel-{svc}");
        let digest = m["digest"].as_str().unwrap();
        // The digest is the registry's, for the pushed tag.
        assert_eq!(plain_digest(&repo, &first_tag).as_deref(), Some(digest));
        assert_eq!(m["status"], "pushed", "{m}");
        assert_eq!(m["image"], format!("{reg}/{repo}"));
        assert_eq!(m["tags"], serde_json::json!([first_tag]));
        assert_eq!(m["ref"], format!("{reg}/{repo}@{digest}"));
        assert!(m["duration_ms"].as_u64().unwrap() > 0);
        assert!(
            outputs.contains(&format!("\n{svc}-digest={digest}\n")),
            "{outputs}"
        );
        assert!(
            outputs.contains(&format!("\n{svc}-ref={reg}/{repo}@{digest}\n")),
            "{outputs}"
        );
        assert!(
            summary.contains(&format!(
                "| {svc} | pushed | `{reg}/{repo}` | `{first_tag}` | `{digest}` |"
            )),
            "{summary}"
        );
    }
    // The whole document is an output too.
    let doc = outputs
        .lines()
        .skip_while(|l| !l.starts_with("metadata<<"))
        .nth(1)
        .unwrap();
    assert_eq!(serde_json::from_str::<Value>(doc).unwrap(), meta);

    // Nothing changed: every service is reused, the new tag names the same digest, and
    // no layer is pushed.
    let second_tag = unique("second");
    let (meta2, _, _, r, second_time) = push(&second_tag, &[]);
    for svc in services {
        let m = &meta2["services"][svc];
        assert_eq!(m["status"], "reused", "{m}");
        assert_eq!(m["digest"], meta["services"][svc]["digest"]);
        assert_eq!(
            plain_digest(&format!("rel-{svc}"), &second_tag).as_deref(),
            Some(meta["services"][svc]["digest"].as_str().unwrap())
        );
        assert!(!r.has_event("push_started", svc), "{svc} pushed again: {r}");
    }
    eprintln!(
        "first run {:.2}s, unchanged rerun {:.2}s",
        first_time.as_secs_f64(),
        second_time.as_secs_f64()
    );

    // One service changed: it alone is built and pushed.
    write(dir, "worker/worker.txt", "worker v2");
    let third_tag = unique("third");
    let (meta3, _, _, _, _) = push(&third_tag, &[]);
    assert_eq!(meta3["services"]["worker"]["status"], "pushed");
    assert_ne!(
        meta3["services"]["worker"]["digest"],
        meta["services"]["worker"]["digest"]
    );
    for svc in ["api", "web"] {
        assert_eq!(meta3["services"][svc]["status"], "reused");
    }

    // --no-cache rebuilds and pushes even what is unchanged.
    let fourth_tag = unique("fourth");
    let (meta4, _, _, _, _) = push(&fourth_tag, &["--no-cache"]);
    for svc in services {
        assert_eq!(meta4["services"][svc]["status"], "pushed");
    }
}

#[test]
fn atomic_with_one_failing_service_leaves_every_tag_where_it_was() {
    let ctx = Context::new(FLOW);
    let dir = &ctx.project_dir();
    let reg = &registry(Plain).host;
    ctx.project(&rel(&["api", "worker"], ""));
    let stable = unique("stable");
    let meta = ctx.root().join("meta.json");
    let push = |extra: &[&str]| {
        let r = ctx
            .flow()
            .args(["build", "--push", "--progress", "plain", "--registry", reg])
            .args(["--tag", &stable, "--tag", "latest", "--metadata-file"])
            .arg(&meta)
            .args(extra)
            .arg("prod")
            .run();
        (r.code, r.to_string(), read_json(&meta))
    };
    let (code, out, _) = push(&[]);
    assert_eq!(code, 0, "{out}");
    let before = |svc: &str, tag: &str| plain_digest(&format!("rel-{svc}"), tag);
    let api_before = before("api", &stable).unwrap();
    let worker_before = before("worker", &stable).unwrap();
    let api_latest = before("api", "latest").unwrap();

    // api changes and builds; worker fails to build.
    write(dir, "api/api.txt", "api v2");
    let base = &TestEnv::get().base_image;
    write(
        dir,
        "worker/Dockerfile",
        &format!("FROM {base}\nRUN exit 3\n"),
    );
    let (code, out, meta) = push(&["--atomic"]);
    assert_eq!(code, 4, "a build failed: {out}");
    assert_eq!(before("api", &stable).unwrap(), api_before, "{out}");
    assert_eq!(before("api", "latest").unwrap(), api_latest, "{out}");
    assert_eq!(before("worker", &stable).unwrap(), worker_before, "{out}");
    assert!(out.contains("not tagged (--atomic"), "{out}");
    // api was pushed by digest only: the registry has it, under no tag of ours.
    let api = &meta["services"]["api"];
    assert_eq!(api["status"], "built", "{api}");
    assert_eq!(meta["services"]["worker"]["status"], "failed");

    // Without --atomic the same run moves api's tags: what the assertions above rule out.
    let (code, out, meta) = push(&[]);
    assert_eq!(code, 4, "{out}");
    let moved = before("api", &stable).unwrap();
    assert_ne!(moved, api_before);
    assert_eq!(
        meta["services"]["api"]["digest"].as_str(),
        Some(moved.as_str())
    );
    assert_eq!(before("worker", &stable).unwrap(), worker_before);

    // With worker fixed, --atomic moves both.
    write(
        dir,
        "worker/Dockerfile",
        &format!("FROM {base}\nCOPY worker.txt /\nRUN true\n"),
    );
    let (code, out, meta) = push(&["--atomic"]);
    assert_eq!(code, 0, "{out}");
    for svc in ["api", "worker"] {
        assert_eq!(
            before(svc, &stable).as_deref(),
            meta["services"][svc]["digest"].as_str(),
            "{out}"
        );
    }
    assert_ne!(before("worker", &stable).unwrap(), worker_before);
}

/// The `run:` command of each step of the example workflow that runs `flow build`, with
/// the step's `if:` condition.
fn workflow_flow_steps(yaml: &str) -> Vec<(String, String)> {
    let mut steps = Vec::new();
    let mut condition = String::new();
    for line in yaml.lines() {
        let l = line.trim();
        if l.starts_with("- ") {
            condition.clear();
        }
        if let Some(c) = l.strip_prefix("if: ") {
            condition = c.to_string();
        }
        if let Some(cmd) = l.strip_prefix("run: ")
            && cmd.starts_with("flow build")
        {
            steps.push((condition.clone(), cmd.to_string()));
        }
    }
    steps
}

#[test]
fn the_github_actions_example_works_as_written() {
    let example = repo_root().join("examples/github-actions");
    let yaml = std::fs::read_to_string(example.join(".github/workflows/images.yml")).unwrap();
    assert!(!yaml.contains("\t"), "YAML has no tabs");
    let steps = workflow_flow_steps(&yaml);
    assert_eq!(steps.len(), 3, "UC-1 to UC-3: {steps:?}");
    for (_, cmd) in &steps {
        assert!(!cmd.contains("${{"), "no expressions inside run: {cmd}");
    }
    let reg = &registry(Plain).host;
    let ctx = Context::new(FLOW);
    let dir = &ctx.project_dir();
    copy_dir(&example, dir);
    // Its own content, so that this run pushes for real.
    write(dir, "api/run-id", &unique("gha"));
    write(dir, "web/run-id", &unique("gha"));
    git(dir, &["init", "-q"]);
    git(dir, &["add", "."]);
    git(dir, &["commit", "-q", "-m", "first"]);
    let sha = git(dir, &["rev-parse", "HEAD"]);
    let sha7: String = sha.chars().take(7).collect();
    let bin = ctx.flow_binary().parent().unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let runner_temp = ctx.dir("runner-temp");
    let version = format!("1.2.{}", std::process::id());
    for (condition, cmd) in &steps {
        // The event each step is for: the checkout and variables Actions would give.
        let (ref_type, ref_name) = if condition.contains("refs/heads/main") {
            git(dir, &["checkout", "-q", "-B", "main"]);
            ("branch", "main".to_string())
        } else if condition.contains("refs/tags/v") {
            git(dir, &["tag", &format!("v{version}")]);
            git(dir, &["checkout", "-q", "--detach", &format!("v{version}")]);
            ("tag", format!("v{version}"))
        } else if condition.contains("refs/heads/feature/") {
            git(dir, &["checkout", "-q", "--detach"]);
            ("branch", "feature/login".to_string())
        } else {
            panic!("unexpected condition {condition:?}")
        };
        let outputs = runner_temp.join("github_output");
        let _ = std::fs::remove_file(&outputs);
        // Pushed to the test registry instead of ghcr.io: --registry beats flow.kdl's.
        let cmd = cmd.replacen(
            "flow build",
            &format!("flow build --registry {reg}/acme"),
            1,
        );
        // The context's config.json is `{}`.
        let mut c = ctx.flow();
        c.env("PATH", &path)
            .env("GITHUB_SHA", &sha)
            .env("GITHUB_REF_TYPE", ref_type)
            .env("GITHUB_REF_NAME", &ref_name)
            .env("RUNNER_TEMP", &runner_temp)
            .env("GITHUB_OUTPUT", &outputs);
        // The step's shell, with the environment the context gives `flow`.
        let mut c2 = Command::new("bash");
        c2.current_dir(dir);
        for (k, v) in c.get_envs() {
            match v {
                Some(v) => c2.env(k, v),
                None => c2.env_remove(k),
            };
        }
        c2.args(["-c", &cmd]);
        let r = c2.run();
        assert_eq!(r.code, 0, "{condition}: {cmd}\n{r}");
        let outputs = std::fs::read_to_string(&outputs).unwrap();
        let tags = outputs
            .lines()
            .find_map(|l| l.strip_prefix("api-tags="))
            .unwrap()
            .to_string();
        let expected = match ref_type {
            "tag" => format!("{version},{version}-{sha7},latest"),
            _ if ref_name == "main" => sha.clone(),
            _ => format!("feature-login-{sha7}"),
        };
        assert_eq!(tags, expected, "{cmd}");
        let api_ref = outputs
            .lines()
            .find_map(|l| l.strip_prefix("api-ref="))
            .unwrap();
        let digest = api_ref.split_once('@').unwrap().1;
        for tag in tags.split(',') {
            assert_eq!(
                plain_digest("acme/acme-api", tag).as_deref(),
                Some(digest),
                "{cmd}: {tag}"
            );
        }
    }
}
