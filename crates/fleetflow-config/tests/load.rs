//! Loading real project layouts from temporary folders.
#![allow(clippy::result_large_err)]

use std::path::Path;

use fleetflow_config::{ConfigError, Project, ResolvedStage, SkipReason, discover};
use fleetflow_test_support::write;

fn load(
    root: &Path,
    stage: Option<&str>,
    env: &[(&str, &str)],
) -> Result<ResolvedStage, ConfigError> {
    let loc = discover(None, None, root)?;
    let project = Project::load(loc, stage)?;
    project.resolve_stage(
        stage,
        env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
    )
}

#[test]
fn layered_files_merge_field_by_field() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    write(r, "docker/api.Dockerfile", "FROM scratch\n");
    write(
        r,
        "flow.kdl",
        r#"project "shop"
service "api" {
    build { dockerfile "docker/api.Dockerfile"; target "dev"; args { A "1"; B "2" } }
}
stage "prod" { service "api" }
stage "dev" { service "api" }
"#,
    );
    write(
        r,
        "services/api.kdl",
        r#"service "api" { build_args { B "two" } }"#,
    );
    write(
        r,
        "flow.prod.kdl",
        r#"service "api" { target "production" }"#,
    );
    write(
        r,
        "flow.local.kdl",
        r#"service "api" { image "local/api" }"#,
    );

    let prod = load(r, Some("prod"), &[]).unwrap();
    let api = &prod.services[0];
    let spec = api.build.as_ref().unwrap();
    assert_eq!(
        spec.target.as_deref(),
        Some("production"),
        "flow.prod.kdl replaces only the target"
    );
    assert!(
        spec.dockerfile.ends_with("docker/api.Dockerfile"),
        "the build block is kept"
    );
    assert_eq!(
        spec.args,
        vec![("A".into(), "1".into()), ("B".into(), "two".into())]
    );
    assert_eq!(
        api.image.as_deref(),
        Some("local/api"),
        "flow.local.kdl applies last"
    );

    let dev = load(r, Some("dev"), &[]).unwrap();
    assert_eq!(
        dev.services[0].build.as_ref().unwrap().target.as_deref(),
        Some("dev")
    );
}

#[test]
fn stage_override_applies_to_its_stage_only() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    write(r, "services/api/Dockerfile", "FROM scratch\n");
    write(
        r,
        "flow.kdl",
        r#"service "api" { target "dev"; build_args { X "1" } }
stage "live" { service "api" { target "production" } }
stage "local" { service "api" }
"#,
    );
    let live = load(r, Some("live"), &[]).unwrap();
    let spec = live.services[0].build.as_ref().unwrap();
    assert_eq!(spec.target.as_deref(), Some("production"));
    assert_eq!(spec.args, vec![("X".into(), "1".into())]);
    let local = load(r, Some("local"), &[]).unwrap();
    assert_eq!(
        local.services[0].build.as_ref().unwrap().target.as_deref(),
        Some("dev")
    );
}

#[test]
fn variable_precedence() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    write(r, "Dockerfile.api", "FROM scratch\n");
    write(
        r,
        ".env",
        "FROM_DOTENV=dotenv\nSHADOWED=dotenv\nBOTH=dotenv\n",
    );
    write(r, ".env.prod", "BOTH=dotenv-stage\nSTAGE_FILE=yes\n");
    write(
        r,
        "flow.kdl",
        r#"variables { SHADOWED "top"; TOPV "top"; S "top" }
service "api" {
    image "{{ REG }}/api"
    build_args {
        A "{{ S }}-{{ TOPV }}-{{ SHADOWED }}-{{ BOTH }}-{{ FROM_DOTENV }}-{{ STAGE_FILE }}-{{ FLEET_STAGE }}"
        B "{ENV_ONLY}"
    }
}
stage "prod" { service "api"; variables { S "stage" } }
"#,
    );
    let st = load(
        r,
        Some("prod"),
        &[("REG", "env.io"), ("ENV_ONLY", "e"), ("BOTH", "env")],
    )
    .unwrap();
    let svc = &st.services[0];
    assert_eq!(svc.image.as_deref(), Some("env.io/api"));
    let args = &svc.build.as_ref().unwrap().args;
    assert_eq!(args[0].1, "stage-top-top-dotenv-stage-dotenv-yes-prod");
    assert_eq!(args[1].1, "e");
}

#[test]
fn undefined_variable_names_file_and_line() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    write(r, "flow.kdl", "stage \"dev\" { service \"api\" }\n");
    write(
        r,
        "services/api.kdl",
        "service \"api\" {\n    image \"x/{{ NOPE }}\"\n}\n",
    );
    let err = load(r, Some("dev"), &[]).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ConfigError::UndefinedVariable { ref name, .. } if name == "NOPE"));
    assert!(msg.contains("services/api.kdl:2:11"), "{msg}");
}

#[test]
fn syntax_and_type_errors_are_located() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    write(
        r,
        "flow.kdl",
        "service \"api\" {\n  image \"x\"\n  build {\n",
    );
    let err = load(r, None, &[]).unwrap_err();
    assert!(matches!(err, ConfigError::Syntax { .. }), "{err:?}");
    assert!(err.to_string().contains("flow.kdl:"), "{err}");

    write(
        r,
        "flow.kdl",
        "service \"api\" {\n  build {\n    no_cache \"yes\"\n  }\n}\n",
    );
    let err = load(r, None, &[]).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("flow.kdl:3:14") && msg.contains("no_cache"),
        "{msg}"
    );

    write(r, "flow.kdl", "service \"api\" {\n  image #true\n}\n");
    let msg = load(r, None, &[]).unwrap_err().to_string();
    assert!(
        msg.contains("flow.kdl:2:9") && msg.contains("expects a string"),
        "{msg}"
    );
}

#[test]
fn missing_dockerfile_unknown_stage_and_service() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    write(
        r,
        "flow.kdl",
        "service \"api\" {\n  dockerfile \"nope/Dockerfile\"\n}\nstage \"dev\" { service \"api\" }\n",
    );
    let err = load(r, Some("dev"), &[]).unwrap_err();
    assert!(matches!(err, ConfigError::MissingDockerfile { .. }));
    assert!(err.to_string().contains("flow.kdl:2:14"), "{err}");

    let err = load(r, Some("prod"), &[]).unwrap_err();
    assert!(matches!(err, ConfigError::UnknownStage { .. }));
    assert!(err.to_string().contains("flow.kdl"));

    write(
        r,
        "flow.kdl",
        "service \"api\"\nstage \"dev\" { service \"api\" }\n",
    );
    let mut st = load(r, Some("dev"), &[]).unwrap();
    assert!(matches!(
        st.select(&["nope".into()]),
        Err(ConfigError::UnknownService { .. })
    ));
}

#[test]
fn conventions_and_skips() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    write(r, "services/a/Dockerfile", "FROM scratch\n");
    write(r, "b/Dockerfile", "FROM scratch\n");
    write(r, "Dockerfile.c", "FROM scratch\n");
    write(
        r,
        "flow.kdl",
        "service \"a\"\nservice \"b\"\nservice \"c\"\nservice \"db\" { image \"postgres:16\" }\n",
    );
    let st = load(r, None, &[]).unwrap();
    let found: Vec<_> = st
        .services
        .iter()
        .map(|s| {
            s.build
                .as_ref()
                .map(|b| b.dockerfile.strip_prefix(&st.root).unwrap().to_path_buf())
        })
        .collect();
    assert_eq!(
        found[0].as_ref().unwrap(),
        Path::new("services/a/Dockerfile")
    );
    assert_eq!(found[1].as_ref().unwrap(), Path::new("b/Dockerfile"));
    assert_eq!(found[2].as_ref().unwrap(), Path::new("Dockerfile.c"));
    assert_eq!(found[3], Err(&SkipReason::NoBuildSettings));
}

/// FleetFlow's own example files (v0.4.7) load unchanged.
#[test]
fn real_fleetflow_files_with_run_only_services_load() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    write(
        r,
        "flow.kdl",
        r#"stage "local" {
    service "postgres"
    service "redis"
    service "app"
    variables {
        APP_ENV "development"
        DEBUG "true"
    }
}
service "postgres" {
    version "16"
    ports {
        port host=11432 container=5432
    }
    environment {
        POSTGRES_USER "flowuser"
    }
    volumes {
        volume "./data/postgres" "/var/lib/postgresql/data"
    }
    healthcheck {
        test "CMD-SHELL" "pg_isready"
        interval 30
        timeout 3
        retries 3
        start_period 10
    }
    restart "unless-stopped"
}
service "redis" {
    image "redis:7"
    command "redis-server --appendonly yes"
    wait_for
}
service "app" {
    image "myapp"
    version "latest"
    depends_on "postgres" "redis"
    env {
        NODE_ENV "production"
    }
}
"#,
    );
    let st = load(r, Some("local"), &[]).unwrap();
    assert_eq!(st.services.len(), 3);
    assert!(
        st.services
            .iter()
            .all(|s| s.build == Err(SkipReason::NoBuildSettings))
    );

    // .fleetflow/flow.kdl with KDL v1 booleans and per-stage run overrides.
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    write(
        r,
        ".fleetflow/flow.kdl",
        r#"project "fleetflow-services"
service "db" {
    image "surrealdb/surrealdb:v2"
    restart "unless-stopped"
    command "start --user root --pass root --bind [::]:8000 rocksdb:///data/database.db"
    volumes { volume "./data/surrealdb" "/data" read_only=true; }
}
stage "dev" {
    service "db" {
        ports { port host=50001 container=8000; }
        variables { DEBUG "true"; }
    }
}
"#,
    );
    let loc = discover(None, None, r).unwrap();
    assert_eq!(loc.root, r);
    let project = Project::load(loc, Some("dev")).unwrap();
    assert_eq!(project.project_name(), "fleetflow-services");
    let st = project.resolve_stage(Some("dev"), Vec::new()).unwrap();
    assert_eq!(
        st.services[0].image.as_deref(),
        Some("surrealdb/surrealdb:v2")
    );
}
