//! Pre-flight against the real registries of scripts/testenv.sh.

use fleetflow_registry::{Credentials, Preflight, PreflightError, Secret};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run the tests through scripts/test.sh, which starts the registries"
        )
    })
}

fn basic(user: &str, password: &str) -> Credentials {
    Credentials::Basic {
        username: user.into(),
        password: Secret::new(password),
    }
}

#[tokio::test]
async fn plain_registry_allows_anonymous_push() {
    let p = Preflight::default();
    p.check_push(&env("FLOW_TEST_REGISTRY_PLAIN"), "team/app", None)
        .await
        .unwrap();
}

#[tokio::test]
async fn basic_auth_accepts_only_the_right_password() {
    let p = Preflight::default();
    let reg = env("FLOW_TEST_REGISTRY_BASIC");
    let good = basic(
        &env("FLOW_TEST_BASIC_USER"),
        &env("FLOW_TEST_BASIC_PASSWORD"),
    );
    p.check_push(&reg, "app", Some(&good)).await.unwrap();
    let bad = basic(&env("FLOW_TEST_BASIC_USER"), "nope");
    let err = p.check_push(&reg, "app", Some(&bad)).await.unwrap_err();
    assert!(matches!(err, PreflightError::Unauthorized { .. }), "{err}");
    assert!(!err.to_string().contains("nope"));
    let err = p.check_push(&reg, "app", None).await.unwrap_err();
    assert!(matches!(err, PreflightError::Unauthorized { .. }), "{err}");
}

#[tokio::test]
async fn token_auth_checks_the_push_grant() {
    let p = Preflight::default();
    let reg = env("FLOW_TEST_REGISTRY_TOKEN");
    let good = basic(
        &env("FLOW_TEST_TOKEN_USER"),
        &env("FLOW_TEST_TOKEN_PASSWORD"),
    );
    p.check_push(&reg, "org/app", Some(&good)).await.unwrap();
    let err = p.check_push(&reg, "org/app", None).await.unwrap_err();
    assert!(
        matches!(err, PreflightError::Unauthorized { .. }),
        "anonymous: {err}"
    );
    let bad = basic(&env("FLOW_TEST_TOKEN_USER"), "wrong");
    let err = p.check_push(&reg, "org/app", Some(&bad)).await.unwrap_err();
    assert!(
        err.to_string().contains("token server answered 401"),
        "{err}"
    );
}

#[tokio::test]
async fn tls_is_verified_with_dockers_per_registry_ca() {
    let reg = env("FLOW_TEST_REGISTRY_TLS");
    // Without the CA the self-signed certificate is refused (no silent downgrade to HTTP:
    // the registry only speaks HTTPS).
    let empty = tempfile::tempdir().unwrap();
    let err = Preflight::default()
        .with_certs_dir(empty.path())
        .check_push(&reg, "app", None)
        .await
        .unwrap_err();
    assert!(matches!(err, PreflightError::Unreachable { .. }), "{err}");
    // With /etc/docker/certs.d/<host>/ca.crt (here in a temporary certs.d) it is trusted.
    let certs = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(certs.path().join(&reg)).unwrap();
    std::fs::copy(
        env("FLOW_TEST_TLS_CA"),
        certs.path().join(&reg).join("ca.crt"),
    )
    .unwrap();
    Preflight::default()
        .with_certs_dir(certs.path())
        .check_push(&reg, "app", None)
        .await
        .unwrap();
}

#[tokio::test]
async fn closed_port_is_unreachable() {
    let err = Preflight::default()
        .check_push("127.0.0.1:9", "app", None)
        .await
        .unwrap_err();
    assert!(matches!(err, PreflightError::Unreachable { .. }), "{err}");
}
