//! The registry side of `flow build --push`, through our own distribution client: finding
//! the image an unchanged service can reuse, and moving tags (a manifest PUT of the exact
//! bytes the engine pushed, so every tag names the same digest).
//!
//! The engine pushes each image under its inputs tag only ([`crate::inputs::inputs_tag`]);
//! the user's tags are moved here afterwards, right away, or with `--atomic` once every
//! service has been pushed.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::OnceCell;

use fleetflow_oci::{Digest, Manifest, Reference};
use fleetflow_registry::{ClientOptions, Credentials, RegistryClient, RegistryError};

use crate::inputs::{INPUTS_LABEL, inputs_tag};
use crate::outcome::PushError;

/// Image configs are small; this bounds what a hostile registry can make us hold.
const MAX_CONFIG_BYTES: usize = 8 * 1024 * 1024;

/// A manifest already in the repository, ready to be tagged.
#[derive(Debug, Clone)]
pub struct StagedImage {
    /// Manifest digest.
    pub digest: Digest,
    /// The manifest, byte for byte.
    pub manifest: Vec<u8>,
    /// Its media type.
    pub media_type: String,
    /// The config digest (the engine's image ID).
    pub config: Digest,
}

/// Registry clients per registry host, made on first use.
pub struct Publisher {
    creds: Arc<HashMap<String, Credentials>>,
    options: ClientOptions,
    /// One client per registry, made once; a slow registry does not hold up the others.
    clients: std::sync::Mutex<HashMap<String, Arc<OnceCell<Arc<RegistryClient>>>>>,
}

/// A registry error as a push error of `reference`.
pub fn push_error(reference: &str, e: RegistryError) -> PushError {
    match e {
        RegistryError::Unauthorized { .. } | RegistryError::Denied { .. } => PushError::Auth {
            reference: reference.to_string(),
            message: e.to_string(),
        },
        e => PushError::Failed {
            reference: reference.to_string(),
            message: e.to_string(),
        },
    }
}

impl Publisher {
    /// A publisher with these credentials per registry host.
    pub fn new(creds: Arc<HashMap<String, Credentials>>) -> Publisher {
        Publisher::with_clients(creds, HashMap::new())
    }

    /// A publisher with these credentials per registry host that uses `clients` (already
    /// connected, e.g. by the pre-flight) for their registries instead of reconnecting.
    pub fn with_clients(
        creds: Arc<HashMap<String, Credentials>>,
        clients: HashMap<String, Arc<RegistryClient>>,
    ) -> Publisher {
        let clients = clients
            .into_iter()
            .map(|(registry, c)| (registry, Arc::new(OnceCell::new_with(Some(c)))))
            .collect();
        Publisher {
            creds,
            options: ClientOptions::default(),
            clients: std::sync::Mutex::new(clients),
        }
    }

    /// The credentials for `registry` (`None`: anonymous).
    pub fn credentials(&self, registry: &str) -> Option<&Credentials> {
        self.creds.get(registry)
    }

    async fn client(&self, registry: &str) -> Result<Arc<RegistryClient>, RegistryError> {
        let cell = self
            .clients
            .lock()
            .expect("clients lock")
            .entry(registry.to_string())
            .or_default()
            .clone();
        cell.get_or_try_init(|| async {
            let client = RegistryClient::connect(
                registry,
                self.creds.get(registry).cloned(),
                self.options.clone(),
            )
            .await?;
            Ok(Arc::new(client))
        })
        .await
        .cloned()
    }

    async fn fetch(&self, repo: &Reference, reference: &str) -> Result<StagedImage, RegistryError> {
        let client = self.client(repo.registry()).await?;
        let (manifest, ctype, digest) = client.get_manifest(&repo.path, reference).await?;
        let parsed =
            Manifest::parse(&manifest, ctype.as_deref()).map_err(|e| RegistryError::Protocol {
                registry: repo.registry().to_string(),
                message: format!("{}:{reference}: {e}", repo.path),
            })?;
        let Manifest::Image(image) = &parsed else {
            return Err(RegistryError::Protocol {
                registry: repo.registry().to_string(),
                message: format!("{}:{reference} is an index, not an image", repo.path),
            });
        };
        Ok(StagedImage {
            config: image.config.digest.clone(),
            media_type: parsed.media_type().to_string(),
            manifest,
            digest,
        })
    }

    /// The image recorded for `inputs` in `repo`, if there is one and its config carries
    /// the same input digest.
    pub async fn find_reusable(
        &self,
        repo: &Reference,
        inputs: &Digest,
    ) -> Result<Option<StagedImage>, RegistryError> {
        let image = match self.fetch(repo, &inputs_tag(inputs)).await {
            Ok(i) => i,
            Err(RegistryError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let client = self.client(repo.registry()).await?;
        let config = client
            .get_blob_bytes(&repo.path, &image.config, MAX_CONFIG_BYTES)
            .await?;
        let label = serde_json::from_slice::<serde_json::Value>(&config)
            .ok()
            .and_then(|c| {
                c.pointer("/config/Labels")?
                    .get(INPUTS_LABEL)?
                    .as_str()
                    .map(str::to_string)
            });
        Ok((label.as_deref() == Some(inputs.as_str())).then_some(image))
    }

    /// The manifest `digest` of `repo` (just pushed by the engine).
    pub async fn staged(
        &self,
        repo: &Reference,
        digest: &str,
    ) -> Result<StagedImage, RegistryError> {
        self.fetch(repo, digest).await
    }

    /// Point every tag of `tags` in `repo` at `image`; the registry must report the same
    /// digest for each.
    pub async fn tag(
        &self,
        repo: &Reference,
        image: &StagedImage,
        tags: &[String],
    ) -> Result<(), RegistryError> {
        let client = self.client(repo.registry()).await?;
        for tag in tags {
            client
                .put_manifest(&repo.path, tag, &image.manifest, &image.media_type)
                .await?;
        }
        Ok(())
    }
}
