//! Manifest, index and descriptor types with the media types flow reads and writes.
//!
//! Our own small serde types rather than `oci-spec`'s: flow must accept Docker schema 2
//! and OCI documents alike, keep unknown fields out of its way, and never re-serialise a
//! manifest it did not make (manifests are stored and pushed byte-exact). What it does
//! write (archive imports, and the indexes and signatures to come) must serialise the
//! same way every time, and `oci-spec` keeps annotations in a `HashMap`, whose order
//! changes between runs, which would change the digest. The OCI 1.1 fields that
//! referrers, signatures and indexes need (`artifactType`, `subject`, `annotations`,
//! `platform`) are here; the tests hold these types against `oci-spec`'s (design/image.md).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;

/// Docker image manifest (schema 2).
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// OCI image config.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Docker gzip layer.
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// OCI gzip layer.
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// OCI zstd layer.
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// OCI uncompressed layer.
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// The `Accept` header for manifest requests: every type flow understands.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// Largest manifest or config flow reads (containers/image uses 4 MiB).
pub const MAX_MANIFEST_BYTES: usize = 4 << 20;

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type.
    pub media_type: String,
    /// Digest of the content.
    pub digest: Digest,
    /// Size in bytes.
    pub size: u64,
    /// Platform (index entries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Foreign URLs (non-distributable layers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// The artifact's type (OCI 1.1: descriptors of artifacts in an index or referrers list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

impl Descriptor {
    /// A descriptor of `size` bytes of `media_type` content with `digest`.
    pub fn new(media_type: impl Into<String>, digest: Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.into(),
            digest,
            size,
            platform: None,
            urls: None,
            annotations: None,
            artifact_type: None,
        }
    }
}

/// An image platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// CPU architecture (`amd64`, `arm64`, ...).
    pub architecture: String,
    /// Operating system.
    pub os: String,
    /// CPU variant (`v8`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// Parse `os/arch[/variant]`.
    pub fn parse(s: &str) -> Option<Platform> {
        let mut it = s.split('/');
        let os = it.next().filter(|x| !x.is_empty())?.to_string();
        let architecture = it.next().filter(|x| !x.is_empty())?.to_string();
        let variant = it.next().map(str::to_string);
        if it.next().is_some() {
            return None;
        }
        Some(Platform {
            architecture,
            os,
            variant,
        })
    }

    /// The platform this program runs on, in Go's names.
    pub fn host() -> Platform {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            other => other,
        };
        Platform {
            architecture: architecture.to_string(),
            os: "linux".to_string(),
            variant: (architecture == "arm64").then(|| "v8".to_string()),
        }
    }

    /// Does an index entry's platform satisfy this wanted one? (A missing variant on
    /// either side matches, as containerd's matcher does for arm64.)
    pub fn matches(&self, other: &Platform) -> bool {
        self.os == other.os
            && self.architecture == other.architecture
            && match (&self.variant, &other.variant) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// An image manifest (Docker schema 2 or OCI).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// Always 2.
    pub schema_version: u32,
    /// Media type, when written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The artifact's type (OCI 1.1), when it is an artifact, e.g. a signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The config blob.
    pub config: Descriptor,
    /// Layers, base first.
    pub layers: Vec<Descriptor>,
    /// The manifest this one refers to (OCI 1.1 referrers: signatures, attestations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Box<Descriptor>>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// An image index or Docker manifest list.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    /// Always 2.
    pub schema_version: u32,
    /// Media type, when written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The artifact's type (OCI 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The manifests.
    pub manifests: Vec<Descriptor>,
    /// The manifest this index refers to (OCI 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Box<Descriptor>>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// A parsed manifest document.
// One per manifest read, never held in bulk: boxing the image variant would only add
// an allocation (clippy::large_enum_variant).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Manifest {
    /// A single image.
    Image(ImageManifest),
    /// An index of images.
    Index(ImageIndex),
}

/// A manifest that cannot be used.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct ManifestError(pub String);

impl Manifest {
    /// Parse `bytes`; `content_type` is the registry's `Content-Type`, if any.
    pub fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<Manifest, ManifestError> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(ManifestError(format!(
                "manifest is {} bytes, more than the {MAX_MANIFEST_BYTES}-byte limit",
                bytes.len()
            )));
        }
        let value: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| ManifestError(format!("manifest is not JSON: {e}")))?;
        let media_type = value
            .get("mediaType")
            .and_then(|m| m.as_str())
            .map(str::to_string)
            .or_else(|| content_type.map(|c| c.split(';').next().unwrap_or(c).trim().to_string()));
        if value.get("schemaVersion").and_then(|v| v.as_u64()) == Some(1)
            || media_type
                .as_deref()
                .is_some_and(|m| m.contains("v1+prettyjws"))
        {
            return Err(ManifestError(
                "schema 1 manifests are signed and not content-addressable; not supported".into(),
            ));
        }
        let is_index = value.get("manifests").is_some()
            || matches!(
                media_type.as_deref(),
                Some(OCI_INDEX | DOCKER_MANIFEST_LIST)
            );
        let err = |e: serde_json::Error| ManifestError(format!("malformed manifest: {e}"));
        if is_index {
            Ok(Manifest::Index(serde_json::from_value(value).map_err(err)?))
        } else {
            Ok(Manifest::Image(serde_json::from_value(value).map_err(err)?))
        }
    }

    /// The media type to send in `Content-Type` when pushing `bytes` of this manifest.
    pub fn media_type(&self) -> &str {
        match self {
            Manifest::Image(m) => m.media_type.as_deref().unwrap_or(OCI_MANIFEST),
            Manifest::Index(i) => i.media_type.as_deref().unwrap_or(OCI_INDEX),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_image_and_index_and_refuses_schema1() {
        let img = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;
        let m = Manifest::parse(img, None).unwrap();
        assert_eq!(m.media_type(), DOCKER_MANIFEST);
        let idx = br#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2,"platform":{"os":"linux","architecture":"arm64","variant":"v8"}}]}"#;
        let Manifest::Index(i) = Manifest::parse(idx, None).unwrap() else {
            panic!("index")
        };
        let p = i.manifests[0].platform.clone().unwrap();
        assert!(Platform::parse("linux/arm64").unwrap().matches(&p));
        assert!(!Platform::parse("linux/amd64").unwrap().matches(&p));
        assert!(Manifest::parse(br#"{"schemaVersion":1,"fsLayers":[]}"#, None).is_err());
        let bad_digest = br#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:../x","size":2},"layers":[]}"#;
        assert!(Manifest::parse(bad_digest, None).is_err());
    }

    fn sample_index() -> ImageIndex {
        let d =
            |hex: char| Digest::parse(&format!("sha256:{}", hex.to_string().repeat(64))).unwrap();
        let mut amd = Descriptor::new(OCI_MANIFEST, d('a'), 500);
        amd.platform = Platform::parse("linux/amd64");
        let mut arm = Descriptor::new(OCI_MANIFEST, d('b'), 501);
        arm.platform = Platform::parse("linux/arm64/v8");
        arm.annotations = Some(BTreeMap::from([
            (
                "org.opencontainers.image.ref.name".to_string(),
                "v1".to_string(),
            ),
            ("a.first".to_string(), "1".to_string()),
        ]));
        ImageIndex {
            schema_version: 2,
            media_type: Some(OCI_INDEX.to_string()),
            artifact_type: None,
            manifests: vec![amd, arm],
            subject: Some(Box::new(Descriptor::new(OCI_MANIFEST, d('c'), 7))),
            annotations: Some(BTreeMap::from([("b".to_string(), "2".to_string())])),
        }
    }

    #[test]
    fn what_we_write_is_what_oci_spec_reads() {
        let index = sample_index();
        let bytes = serde_json::to_vec(&index).unwrap();
        // Deterministic: annotations are sorted, so the digest of the same index is stable.
        assert_eq!(bytes, serde_json::to_vec(&sample_index()).unwrap());
        let theirs: oci_spec::image::ImageIndex = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(theirs.manifests().len(), 2);
        let arm = &theirs.manifests()[1];
        assert_eq!(
            arm.digest().to_string(),
            index.manifests[1].digest.to_string()
        );
        assert_eq!(arm.size(), 501);
        let p = arm.platform().as_ref().unwrap();
        assert_eq!(p.architecture().to_string(), "arm64");
        assert_eq!(p.variant().as_deref(), Some("v8"));
        assert_eq!(
            arm.annotations().as_ref().unwrap()["org.opencontainers.image.ref.name"],
            "v1"
        );
        assert_eq!(
            theirs.subject().as_ref().unwrap().digest().to_string(),
            format!("sha256:{}", "c".repeat(64))
        );
    }

    #[test]
    fn what_oci_spec_writes_is_what_we_read() {
        use oci_spec::image::{DescriptorBuilder, ImageManifestBuilder, MediaType};
        let digest: oci_spec::image::Digest = format!("sha256:{}", "d".repeat(64)).parse().unwrap();
        let config = DescriptorBuilder::default()
            .media_type(MediaType::EmptyJSON)
            .digest(digest.clone())
            .size(2u64)
            .build()
            .unwrap();
        let subject = DescriptorBuilder::default()
            .media_type(MediaType::ImageManifest)
            .digest(digest)
            .size(9u64)
            .build()
            .unwrap();
        let theirs = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .artifact_type(MediaType::Other(
                "application/vnd.dev.cosign.artifact.sig.v1+json".into(),
            ))
            .config(config)
            .layers(vec![])
            .subject(subject)
            .build()
            .unwrap();
        let bytes = serde_json::to_vec(&theirs).unwrap();
        let Manifest::Image(ours) = Manifest::parse(&bytes, None).unwrap() else {
            panic!("an image manifest")
        };
        assert_eq!(ours.subject.as_ref().map(|s| s.size), Some(9));
        assert_eq!(
            ours.artifact_type.as_deref(),
            Some("application/vnd.dev.cosign.artifact.sig.v1+json")
        );
        assert_eq!(ours.config.media_type, "application/vnd.oci.empty.v1+json");
    }
}
