//! What a registry of the test environment holds, read with flow's own
//! [`RegistryClient`] (the registry's account and CA come from the [`TestEnv`]): the
//! manifest a tag names and its digest, and whether a blob is there.
//!
//! ```no_run
//! # use fleetflow_test_support::probe;
//! let digest = probe::digest("127.0.0.1:5000/team/app:v1"); // None: no such tag
//! ```

use fleetflow_oci::{Digest, Reference};
use fleetflow_registry::{ClientOptions, RegistryClient, RegistryError};

use crate::env::{Registry, TestEnv};

/// A connection to one registry of the test environment.
pub struct Probe {
    runtime: tokio::runtime::Runtime,
    client: RegistryClient,
    // The certs dir the client trusts (the registry's CA); kept while the client lives.
    _certs: tempfile::TempDir,
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probe")
            .field("registry", &self.client.registry())
            .finish()
    }
}

impl Probe {
    /// Connect to `registry` with its account (if it has one), trusting its CA only.
    pub fn connect(registry: &Registry) -> Probe {
        let certs = tempfile::tempdir().unwrap();
        if let Some(ca) = &registry.ca {
            let dir = certs.path().join(&registry.host);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::copy(ca, dir.join("ca.crt"))
                .unwrap_or_else(|e| panic!("{}: {e}", ca.display()));
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let opts = ClientOptions {
            certs_dir: certs.path().to_path_buf(),
            ..ClientOptions::default()
        };
        let creds = registry.login.as_ref().map(|l| l.credentials());
        let client = runtime
            .block_on(RegistryClient::connect(&registry.host, creds, opts))
            .unwrap_or_else(|e| panic!("probe of the {:?} registry: {e}", registry.kind));
        Probe {
            runtime,
            client,
            _certs: certs,
        }
    }

    /// The manifest `repo:reference` (a tag or digest) as the registry serves it (its
    /// digest checked against `Docker-Content-Digest`), or `None` if there is none.
    pub fn manifest(&self, repo: &str, reference: &str) -> Option<(Vec<u8>, Digest)> {
        match self
            .runtime
            .block_on(self.client.get_manifest(repo, reference))
        {
            Ok((bytes, _, digest)) => Some((bytes, digest)),
            Err(RegistryError::NotFound { .. }) => None,
            Err(e) => panic!("manifest {repo}:{reference}: {e}"),
        }
    }

    /// The digest of the manifest `repo:reference`, or `None`.
    pub fn digest(&self, repo: &str, reference: &str) -> Option<String> {
        self.manifest(repo, reference)
            .map(|(_, d)| d.as_str().to_string())
    }

    /// Does `repo` have the blob `digest`?
    pub fn has_blob(&self, repo: &str, digest: &str) -> bool {
        let digest = Digest::parse(digest).unwrap_or_else(|e| panic!("{digest}: {e:?}"));
        self.runtime
            .block_on(self.client.blob_exists(repo, &digest))
            .unwrap_or_else(|e| panic!("blob {repo}@{digest}: {e}"))
            .is_some()
    }
}

/// The test-environment registry `reference` names, and the reference parsed.
fn locate(reference: &str) -> (&'static Registry, Reference) {
    let parsed = Reference::parse(reference).unwrap_or_else(|e| panic!("{reference}: {e}"));
    let host = parsed.registry().to_string();
    let registry = TestEnv::get()
        .registry_at(&host)
        .unwrap_or_else(|| panic!("{reference}: {host} is not a registry of the test environment"));
    (registry, parsed)
}

/// The digest of the manifest `reference` (`host/repo:tag` or `host/repo@digest`) names
/// in its test-environment registry, or `None` if there is no such manifest.
pub fn digest(reference: &str) -> Option<String> {
    let (registry, r) = locate(reference);
    Probe::connect(registry).digest(&r.path, r.target())
}

/// The manifest `reference` names, parsed, or `None`.
pub fn manifest(reference: &str) -> Option<serde_json::Value> {
    let (registry, r) = locate(reference);
    Probe::connect(registry)
        .manifest(&r.path, r.target())
        .map(|(bytes, _)| serde_json::from_slice(&bytes).expect("the manifest is JSON"))
}

/// The digest `reference` names; a failure if the registry has no such manifest.
pub fn pushed_digest(reference: &str) -> String {
    digest(reference).unwrap_or_else(|| panic!("the registry has no {reference}"))
}
