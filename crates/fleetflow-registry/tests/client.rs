//! The registry client against the real registries of scripts/testenv.sh: transport
//! (TLS trust), the retry driver (through tests/support/fault_proxy.py), blob uploads
//! (whole and chunked) and downloads (resumed, verified), manifests.

mod common;

use std::time::{Duration, Instant};

use common::{FaultProxy, blob_file, bytes, connect, counter, env, quick, unique};
use fleetflow_oci::Digest;
use fleetflow_registry::client::BlobPush;
use fleetflow_registry::{ClientOptions, RegistryClient, RegistryError};

#[tokio::test]
async fn tls_is_verified_with_dockers_per_registry_ca() {
    let reg = env("FLOW_TEST_REGISTRY_TLS");
    // Without the CA the self-signed certificate is refused (no silent downgrade to HTTP:
    // the registry only speaks HTTPS).
    let empty = tempfile::tempdir().unwrap();
    let opts = |certs_dir: &std::path::Path| ClientOptions {
        certs_dir: certs_dir.to_path_buf(),
        ..quick()
    };
    let err = RegistryClient::connect(&reg, None, opts(empty.path()))
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::Unreachable { .. }), "{err}");
    assert!(
        err.to_string().contains("ca.crt"),
        "the hint names the CA file: {err}"
    );
    // With <certs.d>/<host>/ca.crt (here in a temporary certs.d) it is trusted.
    let certs = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(certs.path().join(&reg)).unwrap();
    std::fs::copy(
        env("FLOW_TEST_TLS_CA"),
        certs.path().join(&reg).join("ca.crt"),
    )
    .unwrap();
    let client = RegistryClient::connect(&reg, None, opts(certs.path()))
        .await
        .unwrap();
    assert_eq!(client.base_url(), format!("https://{reg}"));
    client.check_push("app").await.unwrap();
}

#[tokio::test]
async fn closed_port_is_unreachable() {
    let err = connect("127.0.0.1:9", None).await.unwrap_err();
    assert!(matches!(err, RegistryError::Unreachable { .. }), "{err}");
}

#[tokio::test]
async fn retry_after_in_seconds_and_as_an_http_date_is_honoured() {
    let plain = env("FLOW_TEST_REGISTRY_PLAIN");
    // Request 1 is the ping; request 2 (the check) gets a 503, its retry goes through.
    for (retry_after, at_least) in [("2", 1.9), ("date:3", 1.5)] {
        let proxy = FaultProxy::start(&plain, &["--status", "2:503", "--retry-after", retry_after]);
        let client = connect(&proxy.addr, None).await.unwrap();
        let started = Instant::now();
        client.check_push("retry/app").await.unwrap();
        let waited = started.elapsed().as_secs_f64();
        assert!(
            (at_least..10.0).contains(&waited),
            "Retry-After: {retry_after}: waited {waited:.2}s"
        );
        let faults = proxy.faults();
        assert_eq!(faults.len(), 1, "{faults:?}");
        assert!(faults[0].contains("status 503"), "{faults:?}");
    }
    // Without Retry-After the backoff (10 ms here) is all the wait.
    let proxy = FaultProxy::start(&plain, &["--status", "2:503"]);
    let client = connect(&proxy.addr, None).await.unwrap();
    let started = Instant::now();
    client.check_push("retry/app").await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(1500));
    assert_eq!(proxy.faults().len(), 1);
}

#[tokio::test]
async fn resets_are_retried_and_attempts_are_capped() {
    let plain = env("FLOW_TEST_REGISTRY_PLAIN");
    let proxy = FaultProxy::start(&plain, &["--reset", "2"]);
    let client = connect(&proxy.addr, None).await.unwrap();
    client.check_push("retry/app").await.unwrap();
    assert!(
        proxy.faults().iter().any(|f| f.contains("reset")),
        "{:?}",
        proxy.faults()
    );

    // A registry that always fails: 1 attempt + retry_attempts, then its answer.
    let proxy = FaultProxy::start(&plain, &["--status", "1:503"]);
    let opts = ClientOptions {
        retry_attempts: 2,
        ..quick()
    };
    let err = RegistryClient::connect(&proxy.addr, None, opts)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("503"), "{err}");
    assert_eq!(proxy.faults().len(), 3, "{:?}", proxy.faults());
}

/// Upload `data` to a fresh repository of the plain registry with `opts`; check it
/// arrived byte for byte.
async fn upload_round_trip(opts: ClientOptions, size: usize, seed: u64) -> Vec<u64> {
    let dir = tempfile::tempdir().unwrap();
    let data = bytes(size, seed);
    let (path, digest) = blob_file(dir.path(), "blob", &data);
    let repo = unique("upload/app");
    let client = RegistryClient::connect(&env("FLOW_TEST_REGISTRY_PLAIN"), None, opts)
        .await
        .unwrap();
    let (progress, calls) = counter();
    let how = client
        .push_blob(&repo, &digest, size as u64, &path, None, false, &progress)
        .await
        .unwrap();
    assert_eq!(how, BlobPush::Uploaded);
    assert_eq!(
        client.blob_exists(&repo, &digest).await.unwrap(),
        Some(size as u64)
    );
    let back = client.get_blob_bytes(&repo, &digest, size).await.unwrap();
    assert!(back == data, "the registry serves what was uploaded");
    // Again: it is there already; and another repository mounts it.
    let again = client
        .push_blob(&repo, &digest, size as u64, &path, None, false, &progress)
        .await
        .unwrap();
    assert_eq!(again, BlobPush::Exists);
    let other = unique("upload/other");
    let mounted = client
        .push_blob(
            &other,
            &digest,
            size as u64,
            &path,
            Some(&repo),
            false,
            &progress,
        )
        .await
        .unwrap();
    assert_eq!(mounted, BlobPush::Mounted);
    let calls = calls.lock().unwrap().clone();
    assert_eq!(
        calls.iter().sum::<u64>(),
        size as u64,
        "progress adds up to the blob"
    );
    calls
}

#[tokio::test]
async fn blobs_upload_whole_and_in_chunks() {
    let calls = upload_round_trip(quick(), 700_001, 1).await;
    assert!(calls.iter().all(|n| *n <= 256 << 10), "{calls:?}");
    let chunked = ClientOptions {
        chunk_size: Some(64 << 10),
        ..quick()
    };
    let calls = upload_round_trip(chunked, 300_000, 2).await;
    // One PATCH per 64 KiB: 4 whole chunks and the rest.
    assert_eq!(calls.len(), 5, "{calls:?}");
    assert_eq!(calls[..4], [65536; 4]);
}

#[tokio::test]
async fn an_upload_under_the_wrong_digest_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = blob_file(dir.path(), "blob", &bytes(10_000, 3));
    let wrong = Digest::of(b"something else");
    let repo = unique("upload/wrong");
    let client = connect(&env("FLOW_TEST_REGISTRY_PLAIN"), None)
        .await
        .unwrap();
    let (progress, _) = counter();
    let err = client
        .push_blob(&repo, &wrong, 10_000, &path, None, false, &progress)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("DIGEST_INVALID"), "{err}");
    assert_eq!(client.blob_exists(&repo, &wrong).await.unwrap(), None);
}

#[tokio::test]
async fn downloads_resume_with_range_and_refuse_a_wrong_digest() {
    let dir = tempfile::tempdir().unwrap();
    let data = bytes(1_048_699, 4);
    let (path, digest) = blob_file(dir.path(), "blob", &data);
    let size = data.len() as u64;
    let repo = unique("download/app");
    let plain = env("FLOW_TEST_REGISTRY_PLAIN");
    let client = connect(&plain, None).await.unwrap();
    let (progress, _) = counter();
    client
        .push_blob(&repo, &digest, size, &path, None, false, &progress)
        .await
        .unwrap();

    // Half of it is there: only the rest is asked for (206), and the result is exact.
    let partial = dir.path().join("partial");
    std::fs::write(&partial, &data[..400_000]).unwrap();
    let (progress, calls) = counter();
    client
        .download_blob(&repo, &digest, size, &partial, &progress)
        .await
        .unwrap();
    assert!(std::fs::read(&partial).unwrap() == data);
    let calls = calls.lock().unwrap().clone();
    assert_eq!(calls[0], 400_000, "resumed after the bytes already there");
    assert_eq!(calls.iter().sum::<u64>(), size);

    // A corrupt start: the digest does not match; without retries that is the error
    // and the partial file is gone...
    let mut corrupt = data[..400_000].to_vec();
    corrupt[1234] ^= 0xff;
    std::fs::write(&partial, &corrupt).unwrap();
    let once = ClientOptions {
        retry_attempts: 0,
        ..quick()
    };
    let strict = RegistryClient::connect(&plain, None, once).await.unwrap();
    let err = strict
        .download_blob(&repo, &digest, size, &partial, &progress)
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::DigestMismatch { .. }), "{err}");
    assert!(!partial.exists(), "a file that does not match is not kept");
    // ...and with retries the next attempt starts over and gets it right.
    std::fs::write(&partial, &corrupt).unwrap();
    client
        .download_blob(&repo, &digest, size, &partial, &progress)
        .await
        .unwrap();
    assert!(std::fs::read(&partial).unwrap() == data);
}

#[tokio::test]
async fn manifests_round_trip_and_a_wrong_manifest_is_refused() {
    let plain = env("FLOW_TEST_REGISTRY_PLAIN");
    let client = connect(&plain, None).await.unwrap();
    let repo = unique("manifest/app");
    let dir = tempfile::tempdir().unwrap();
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let (path, config_digest) = blob_file(dir.path(), "config", config);
    let (progress, _) = counter();
    client
        .push_blob(
            &repo,
            &config_digest,
            config.len() as u64,
            &path,
            None,
            false,
            &progress,
        )
        .await
        .unwrap();
    let media = "application/vnd.oci.image.manifest.v1+json";
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{media}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":{}}},"layers":[]}}"#,
        config.len()
    );
    let digest = client
        .put_manifest(&repo, "v1", manifest.as_bytes(), media)
        .await
        .unwrap();
    assert_eq!(digest, Digest::of(manifest.as_bytes()));
    assert!(client.manifest_exists(&repo, &digest).await.unwrap());
    let (bytes, ctype, got) = client.get_manifest(&repo, "v1").await.unwrap();
    assert_eq!(
        (bytes, ctype.as_deref(), got),
        (manifest.clone().into_bytes(), Some(media), digest.clone())
    );
    let err = client.get_manifest(&repo, "nope").await.unwrap_err();
    assert!(matches!(err, RegistryError::NotFound { .. }), "{err}");

    // A registry (here a proxy) that answers other bytes than the digest asked for.
    let hostile = dir.path().join("hostile.json");
    std::fs::write(&hostile, manifest.replace("amd64", "arm64") + " ").unwrap();
    let proxy = FaultProxy::start(&plain, &["--manifest-body", hostile.to_str().unwrap()]);
    let lying = connect(&proxy.addr, None).await.unwrap();
    let err = lying
        .get_manifest(&repo, digest.as_str())
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::DigestMismatch { .. }), "{err}");
}
