//! `docker save` archives: `manifest.json` lists each image's config and layers (and its
//! `RepoTags`); the config's DiffIDs are checked layer by layer, and the manifest is
//! made here, in the media-type family the layers allow.

use std::collections::HashMap;

use serde::Deserialize;

use super::error::ArchiveError;
use super::layer::import_layer;
use super::options::{Compression, ImportOptions, ImportedImage};
use super::source::{Source, normalize};
use crate::cache::BlobStore;
use fleetflow_oci::Digest;
use fleetflow_oci::manifest::{self, Descriptor, ImageManifest};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SaveEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

#[derive(Deserialize)]
struct ConfigRootfs {
    rootfs: Rootfs,
}

#[derive(Deserialize)]
struct Rootfs {
    diff_ids: Vec<Digest>,
}

const MAX_CONFIG_BYTES: u64 = 16 << 20;

pub(super) fn import(
    source: &Source,
    store: &BlobStore,
    opts: &ImportOptions,
    on_blob: &mut dyn FnMut(&Descriptor),
) -> Result<Vec<ImportedImage>, ArchiveError> {
    let bytes = source.read_small("manifest.json", MAX_CONFIG_BYTES)?;
    let images: Vec<SaveEntry> = serde_json::from_slice(&bytes).map_err(|e| {
        source.format_err(format!("manifest.json is not a docker save manifest: {e}"))
    })?;
    if images.is_empty() {
        return Err(source.format_err("manifest.json lists no image".into()));
    }
    let (family_manifest, family_config, layer_type) = match opts.compression {
        Compression::Gzip => (
            manifest::DOCKER_MANIFEST,
            manifest::DOCKER_CONFIG,
            manifest::DOCKER_LAYER_GZIP,
        ),
        Compression::None => (
            manifest::OCI_MANIFEST,
            manifest::OCI_CONFIG,
            manifest::OCI_LAYER_TAR,
        ),
        Compression::Zstd => (
            manifest::OCI_MANIFEST,
            manifest::OCI_CONFIG,
            manifest::OCI_LAYER_ZSTD,
        ),
    };
    let mut done: HashMap<(String, Digest), Descriptor> = HashMap::new();
    let mut out = Vec::new();
    for image in images {
        let config = source.read_small(&image.config, MAX_CONFIG_BYTES)?;
        let parsed: ConfigRootfs = serde_json::from_slice(&config).map_err(|e| {
            source.format_err(format!(
                "`{}` is not an image config with rootfs.diff_ids: {e}",
                image.config
            ))
        })?;
        if parsed.rootfs.diff_ids.len() != image.layers.len() {
            return Err(source.format_err(format!(
                "manifest.json lists {} layers for `{}`, its config lists {} DiffIDs",
                image.layers.len(),
                image.config,
                parsed.rootfs.diff_ids.len()
            )));
        }
        let mut layers = Vec::new();
        for (index, (name, diff_id)) in image.layers.iter().zip(&parsed.rootfs.diff_ids).enumerate()
        {
            let key = (normalize(name).unwrap_or_default(), diff_id.clone());
            if let Some(d) = done.get(&key) {
                layers.push(d.clone());
                continue;
            }
            let desc = import_layer(source, store, opts, name, index, diff_id, layer_type)?;
            on_blob(&desc);
            done.insert(key, desc.clone());
            layers.push(desc);
        }
        // A kept zstd layer cannot sit in a Docker manifest: then all is OCI.
        let oci = layers
            .iter()
            .any(|l| l.media_type.starts_with("application/vnd.oci."));
        let (family_manifest, family_config) = if oci {
            for l in &mut layers {
                if l.media_type == manifest::DOCKER_LAYER_GZIP {
                    l.media_type = manifest::OCI_LAYER_GZIP.to_string();
                }
            }
            (manifest::OCI_MANIFEST, manifest::OCI_CONFIG)
        } else {
            (family_manifest, family_config)
        };
        let config_digest = store.put_bytes(&config, None)?;
        let config_desc = Descriptor::new(family_config, config_digest, config.len() as u64);
        on_blob(&config_desc);
        let m = ImageManifest {
            schema_version: 2,
            media_type: Some(family_manifest.to_string()),
            artifact_type: None,
            config: config_desc,
            layers,
            subject: None,
            annotations: None,
        };
        let bytes = serde_json::to_vec_pretty(&m).expect("serialisable");
        let digest = store.put_bytes(&bytes, None)?;
        out.push(ImportedImage {
            digest,
            media_type: family_manifest.to_string(),
            size: bytes.len() as u64,
            names: image.repo_tags.unwrap_or_default(),
        });
    }
    Ok(out)
}
