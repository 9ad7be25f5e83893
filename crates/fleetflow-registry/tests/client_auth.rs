//! Authentication and the push pre-flight (`RegistryClient::check_push`) against the real
//! registries of scripts/testenv.sh: anonymous, htpasswd Basic, bearer tokens (with a
//! read-only user, and short-lived tokens), and a token realm on plain HTTP, to which
//! credentials must never be sent.

mod common;

use std::time::Duration;

use common::{basic, connect, env, records, token_user, unique};
use fleetflow_oci::Digest;
use fleetflow_registry::client::push_scope;
use fleetflow_registry::{Credentials, RegistryError, Secret};

#[tokio::test]
async fn plain_registry_allows_anonymous_push() {
    let client = connect(&env("FLOW_TEST_REGISTRY_PLAIN"), None)
        .await
        .unwrap();
    client.check_push("team/app").await.unwrap();
}

#[tokio::test]
async fn readonly_registry_passes_the_check_and_refuses_the_upload() {
    // GET /v2/ is 200 and no token says otherwise: what the pre-flight cannot see (the
    // push then fails inside its stream, exit 5; push::failure_inside_the_push_stream).
    let client = connect(&env("FLOW_TEST_REGISTRY_READONLY"), None)
        .await
        .unwrap();
    client.check_push("team/app").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (path, digest) = common::blob_file(dir.path(), "b", b"readonly");
    let (progress, _) = common::counter();
    let err = client
        .push_blob("team/app", &digest, 8, &path, None, false, &progress)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("405"), "{err}");
}

#[tokio::test]
async fn basic_auth_accepts_only_the_right_password() {
    let reg = env("FLOW_TEST_REGISTRY_BASIC");
    let user = env("FLOW_TEST_BASIC_USER");
    let good = basic(&user, &env("FLOW_TEST_BASIC_PASSWORD"));
    connect(&reg, Some(good))
        .await
        .unwrap()
        .check_push("app")
        .await
        .unwrap();

    let wrong = "wr0ng+pass/word=";
    let client = connect(&reg, Some(basic(&user, wrong))).await.unwrap();
    let err = client.check_push("app").await.unwrap_err();
    assert!(matches!(err, RegistryError::Unauthorized { .. }), "{err}");
    assert!(
        !err.to_string().contains(wrong) && !format!("{err:?}").contains(wrong),
        "the password never appears in an error"
    );
    assert!(!format!("{client:?}").contains(wrong));
    // Other calls fail the same way.
    let err = client
        .blob_exists("app", &Digest::of(b"x"))
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::Unauthorized { .. }), "{err}");

    let err = connect(&reg, None)
        .await
        .unwrap()
        .check_push("app")
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("the registry needs a user name and password; none found"),
        "{err}"
    );
}

#[tokio::test]
async fn token_auth_checks_the_push_grant() {
    let reg = env("FLOW_TEST_REGISTRY_TOKEN");
    let client = connect(&reg, Some(token_user())).await.unwrap();
    client.check_push("org/app").await.unwrap();

    let err = connect(&reg, None)
        .await
        .unwrap()
        .check_push("org/app")
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::Unauthorized { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("anonymous access may not push; no credentials found"),
        "{err}"
    );

    // The read-only user gets a token, but one that grants pull only.
    let reader = basic(
        &env("FLOW_TEST_TOKEN_READER"),
        &env("FLOW_TEST_TOKEN_PASSWORD"),
    );
    let err = connect(&reg, Some(reader))
        .await
        .unwrap()
        .check_push("org/app")
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::Denied { .. }), "{err}");
    assert!(err.to_string().contains("the token grants [pull]"), "{err}");

    let wrong = "t0k:wrong";
    let bad = basic(&env("FLOW_TEST_TOKEN_USER"), wrong);
    let err = connect(&reg, Some(bad))
        .await
        .unwrap()
        .check_push("org/app")
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::Unauthorized { .. }), "{err}");
    assert!(
        err.to_string().contains("token server answered 401"),
        "{err}"
    );
    assert!(!err.to_string().contains(wrong));
}

#[tokio::test]
async fn credentials_are_never_sent_to_a_plain_http_realm() {
    let reg = env("FLOW_TEST_REGISTRY_PLAINREALM");
    let realm = env("FLOW_TEST_PLAINREALM_REALM");
    let seen = env("FLOW_TEST_PLAINREALM_REQUESTS");
    let before = records(&seen).len();
    let refresh = "refresh-secret-do-not-send";
    for creds in [
        token_user(),
        Credentials::IdentityToken(Secret::new(refresh)),
    ] {
        // The registry itself is HTTPS, its CA in /etc/docker/certs.d (the default).
        let client = connect(&reg, Some(creds)).await.unwrap();
        assert!(client.base_url().starts_with("https://"));
        let err = client.check_push("leak/app").await.unwrap_err();
        assert!(matches!(err, RegistryError::Unauthorized { .. }), "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains("refusing to send credentials") && msg.contains(&realm),
            "{msg}"
        );
        assert!(!msg.contains(refresh) && !msg.contains(&env("FLOW_TEST_TOKEN_PASSWORD")));
        let err = client
            .blob_exists("leak/app", &Digest::of(b"x"))
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("refusing to send credentials"),
            "{err}"
        );
    }
    // Anonymous access has nothing to leak: its token request goes out (so the realm
    // is reachable under that name: the refusals above were not connection failures).
    let err = connect(&reg, None)
        .await
        .unwrap()
        .check_push("leak/app")
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("anonymous access may not push"),
        "{err}"
    );
    let after = records(&seen);
    assert!(
        after.len() > before,
        "the anonymous token request reached the realm"
    );
    assert!(
        after.iter().all(|r| r["authorization"] == false),
        "a request to the plain-HTTP realm carried credentials: {after:?}"
    );
}

#[tokio::test]
async fn expired_tokens_are_fetched_again() {
    let reg = env("FLOW_TEST_REGISTRY_SHORTTOKEN");
    let lifetime: u64 = env("FLOW_TEST_SHORTTOKEN_LIFETIME").parse().unwrap();
    let seen = env("FLOW_TEST_SHORTTOKEN_REQUESTS");
    let repo = unique("expiry/app");
    let issued = || {
        records(&seen)
            .iter()
            .filter(|r| {
                r["issued"] == true && r["scopes"] == serde_json::json!([push_scope(&repo)])
            })
            .count()
    };
    let client = connect(&reg, Some(token_user())).await.unwrap();
    client.check_push(&repo).await.unwrap();
    client.check_push(&repo).await.unwrap();
    assert_eq!(issued(), 1, "a fresh token is reused");
    tokio::time::sleep(Duration::from_millis(lifetime * 1000 + 300)).await;
    client.check_push(&repo).await.unwrap();
    assert_eq!(issued(), 2, "an expired token is replaced");
}
