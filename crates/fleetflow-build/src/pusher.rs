//! Pushing one service's image through the Engine's `/images/{name}/push`, with
//! credentials sent as `X-Registry-Auth` (re-encoded URL-safe, see engine.rs).

use std::time::Duration;

use bollard::auth::DockerCredentials;
use bollard::query_parameters::PushImageOptions;
use fleetflow_oci::{DOCKER_HUB, DOCKER_HUB_KEY, Reference, api_host};
use fleetflow_registry::Credentials;
use futures_util::StreamExt;

use crate::builder::{Event, Reporter};
use crate::engine::Engine;

/// A pushed image.
#[derive(Debug, Clone)]
pub struct PushedImage {
    /// Every `repository:tag` pushed.
    pub references: Vec<Reference>,
    /// The manifest digest the registry reported (`sha256:...`).
    pub digest: String,
    /// Wall time of the push.
    pub elapsed: Duration,
}

impl PushedImage {
    /// `repository@digest`, the exact reference a deploy step should use.
    pub fn pinned(&self) -> String {
        format!("{}@{}", self.references[0].repository(), self.digest)
    }
}

/// Why a push failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PushError {
    /// The registry refused our credentials or our right to push.
    #[error("{reference}: authentication failed: {message}")]
    Auth {
        /// What was being pushed.
        reference: String,
        /// The registry's message.
        message: String,
    },
    /// Pushed by digest, but its tags were not moved: `--atomic` and another service
    /// failed.
    #[error("{reference}: not tagged (--atomic: another service failed)")]
    Withheld {
        /// The first tag it would have had.
        reference: String,
    },
    /// Anything else: network, unknown blob, server errors.
    #[error("{reference}: push failed: {message}")]
    Failed {
        /// What was being pushed.
        reference: String,
        /// The registry's or engine's message.
        message: String,
    },
}

/// Does a registry/engine error message mean "authentication or authorisation"?
pub fn is_auth_message(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "unauthorized",
        "authentication required",
        "denied",
        "no basic auth credentials",
        "authorization failed",
        "incorrect username or password",
        "401",
        "403 forbidden",
    ]
    .iter()
    .any(|needle| m.contains(needle))
}

/// The header payload bollard sends for `creds` to `registry`.
pub fn docker_credentials(
    registry: &str,
    creds: Option<&Credentials>,
) -> Option<DockerCredentials> {
    let serveraddress = Some(if registry == DOCKER_HUB {
        DOCKER_HUB_KEY.to_string()
    } else {
        api_host(registry).to_string()
    });
    match creds? {
        Credentials::Basic { username, password } => Some(DockerCredentials {
            username: Some(username.clone()),
            password: Some(password.expose().to_string()),
            serveraddress,
            ..Default::default()
        }),
        Credentials::IdentityToken(t) => Some(DockerCredentials {
            identitytoken: Some(t.expose().to_string()),
            serveraddress,
            ..Default::default()
        }),
        Credentials::RegistryToken(t) => Some(DockerCredentials {
            registrytoken: Some(t.expose().to_string()),
            serveraddress,
            ..Default::default()
        }),
    }
}

fn digest_of(status: &str) -> Option<String> {
    let at = status.find("digest: sha256:")?;
    let d: String = status[at + "digest: ".len()..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    (d.len() == "sha256:".len() + 64).then_some(d)
}

impl Engine {
    /// Push `reference` (one tag of `service`'s image) through the engine, with `creds`
    /// for its registry; returns the manifest digest the registry reported. Progress goes
    /// to `reporter` as [`Event::PushLayers`].
    pub async fn push_reference(
        &self,
        service: &str,
        reference: &Reference,
        creds: Option<&Credentials>,
        reporter: &dyn Reporter,
    ) -> Result<String, PushError> {
        let shown = reference.to_string();
        let registry = reference.registry().to_string();
        let options = PushImageOptions {
            tag: reference.tag.clone(),
            ..Default::default()
        };
        let mut stream = self.docker.push_image(
            &reference.repository(),
            Some(options),
            docker_credentials(&registry, creds),
        );
        let (mut total, mut pushed, mut existed) = (0usize, 0usize, 0usize);
        let mut digest = None;
        let classify = |message: String| {
            if is_auth_message(&message) {
                PushError::Auth {
                    reference: shown.clone(),
                    message,
                }
            } else {
                PushError::Failed {
                    reference: shown.clone(),
                    message,
                }
            }
        };
        while let Some(item) = stream.next().await {
            let info = match item {
                Ok(info) => info,
                Err(bollard::errors::Error::DockerStreamError { error }) => {
                    return Err(classify(error));
                }
                Err(bollard::errors::Error::DockerResponseServerError { message, .. }) => {
                    return Err(classify(message));
                }
                Err(e) => return Err(classify(e.to_string())),
            };
            if let Some(detail) = info.error_detail {
                return Err(classify(
                    detail.message.unwrap_or_else(|| "unknown error".into()),
                ));
            }
            let Some(status) = info.status else { continue };
            match status.as_str() {
                "Preparing" => {
                    total += 1;
                    continue;
                }
                "Pushed" => pushed += 1,
                "Layer already exists" => existed += 1,
                s if s.starts_with("Mounted from") => existed += 1,
                s => {
                    if let Some(d) = digest_of(s) {
                        digest = Some(d);
                    }
                    continue;
                }
            }
            reporter.report(
                service,
                Event::PushLayers {
                    total,
                    pushed,
                    existed,
                },
            );
        }
        digest.ok_or_else(|| PushError::Failed {
            reference: shown,
            message: "the engine finished without reporting a digest".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_and_auth_messages() {
        let d = format!("v1: digest: sha256:{} size: 528", "a".repeat(64));
        assert_eq!(digest_of(&d), Some(format!("sha256:{}", "a".repeat(64))));
        assert_eq!(digest_of("Pushed"), None);
        assert!(is_auth_message("unauthorized: authentication required"));
        assert!(is_auth_message(
            "denied: requested access to the resource is denied"
        ));
        assert!(!is_auth_message("blob upload unknown"));
    }

    #[test]
    fn credentials_for_the_daemon() {
        let c = Credentials::Basic {
            username: "u".into(),
            password: fleetflow_registry::Secret::new("p"),
        };
        let d = docker_credentials("docker.io", Some(&c)).unwrap();
        assert_eq!(
            d.serveraddress.as_deref(),
            Some("https://index.docker.io/v1/")
        );
        assert_eq!(d.password.as_deref(), Some("p"));
        assert!(docker_credentials("ghcr.io", None).is_none());
    }
}
