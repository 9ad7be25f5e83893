//! Pushing one service's image through the Engine's `/images/{name}/push`, with
//! credentials sent as `X-Registry-Auth` (re-encoded URL-safe, see engine.rs).

use bollard::query_parameters::PushImageOptions;
use fleetflow_oci::Reference;
use fleetflow_registry::Credentials;
use futures_util::StreamExt;

use crate::auth::{docker_credentials, is_auth_message};
use crate::engine::Engine;
use crate::event::{Event, Reporter};
use crate::outcome::PushError;

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
}
