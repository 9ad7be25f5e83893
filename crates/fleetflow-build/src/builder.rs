//! Building one service through the Engine's `/build` (the classic builder, which the
//! Debian 20.10 engine and current engines all offer through bollard).

use std::collections::HashMap;
use std::time::Instant;

use bollard::query_parameters::{BuildImageOptions, TagImageOptions};
use futures_util::StreamExt;
use tokio_stream_shim::ReceiverStream;

use crate::context::{self, ContextSpec};
use crate::engine::Engine;
use crate::error::BuildError;
use crate::event::{Event, Reporter};
use crate::outcome::BuiltImage;
use crate::plan::ServiceBuild;
use fleetflow_oci::Reference;

/// Minimal `Stream` over an mpsc receiver (keeps `tokio-stream` out of the tree).
mod tokio_stream_shim {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use tokio::sync::mpsc::Receiver;

    pub struct ReceiverStream<T>(pub Receiver<T>);

    impl<T> futures_util::Stream for ReceiverStream<T> {
        type Item = T;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
            self.0.poll_recv(cx)
        }
    }
}

impl Engine {
    /// Build `job`, tag it with every tag, and report progress to `reporter`.
    /// `base_credentials` (per registry host) go to the engine for the registries of the
    /// job's base images, as `X-Registry-Config`, the way the docker CLI sends them.
    pub async fn build(
        &self,
        job: &ServiceBuild,
        base_credentials: &HashMap<String, fleetflow_registry::Credentials>,
        reporter: &dyn Reporter,
    ) -> Result<BuiltImage, BuildError> {
        let started = Instant::now();
        let service = job.service.as_str();
        let refs = job.references();
        // Labels go into the Dockerfile as one LABEL step when it can be rewritten safely
        // (see dockerfile.rs); otherwise through the API, one step per label.
        let original =
            std::fs::read(&job.spec.dockerfile).map_err(|source| BuildError::Context {
                path: job.spec.dockerfile.clone(),
                source,
            })?;
        let rewritten = String::from_utf8(original).ok().and_then(|text| {
            crate::dockerfile::with_labels(&text, job.spec.target.as_deref(), &job.labels)
        });
        let api_labels = if rewritten.is_some() {
            HashMap::new()
        } else {
            job.labels.clone().into_iter().collect()
        };
        let ctx = context::stream(&ContextSpec {
            context: job.spec.context.clone(),
            dockerfile: job.spec.dockerfile.clone(),
            dockerfile_text: rewritten.filter(|_| !job.labels.is_empty()),
        })?;
        let options = BuildImageOptions {
            dockerfile: ctx.dockerfile_in_tar.clone(),
            t: Some(refs[0].to_string()),
            nocache: job.no_cache,
            pull: job.pull.then(|| "1".to_string()),
            rm: true,
            forcerm: true,
            buildargs: Some(job.spec.args.iter().cloned().collect::<HashMap<_, _>>()),
            labels: Some(api_labels),
            target: job.spec.target.clone().unwrap_or_default(),
            ..Default::default()
        };
        let body = bollard::body_try_stream(ReceiverStream(ctx.chunks));
        let registry_config = crate::auth::registry_config(&job.base_registries, base_credentials);
        let mut stream = self
            .docker
            .build_image(options, registry_config, Some(body));
        let mut log = String::new();
        let mut id = None;
        let mut pending = String::new();
        let fail = |message: String, log: &str| BuildError::Failed {
            service: service.to_string(),
            message: message.trim().to_string(),
            log: log.to_string(),
        };
        while let Some(item) = stream.next().await {
            let info = match item {
                Ok(info) => info,
                Err(bollard::errors::Error::DockerStreamError { error }) => {
                    return Err(fail(error, &log));
                }
                Err(bollard::errors::Error::DockerResponseServerError { message, .. }) => {
                    return Err(fail(message, &log));
                }
                Err(e) => return Err(fail(e.to_string(), &log)),
            };
            if let Some(detail) = info.error_detail {
                return Err(fail(detail.message.unwrap_or_default(), &log));
            }
            if let Some(aux) = info.aux.and_then(|a| a.id) {
                id = Some(aux);
            }
            let text = info.stream.or(info.status).unwrap_or_default();
            log.push_str(&text);
            if !text.ends_with('\n') && !text.is_empty() && info.progress_detail.is_none() {
                log.push('\n');
            }
            pending.push_str(&text);
            while let Some(nl) = pending.find('\n') {
                let line: String = pending.drain(..=nl).collect();
                let line = line.trim_end();
                if line.starts_with("Step ") {
                    reporter.report(service, Event::Step(line));
                } else if !line.is_empty() {
                    reporter.report(service, Event::Output(line));
                }
            }
        }
        let first = refs[0].to_string();
        let id = match id {
            Some(id) => id,
            None => self
                .docker
                .inspect_image(&first)
                .await?
                .id
                .unwrap_or_default(),
        };
        for r in &refs[1..] {
            let options = TagImageOptions {
                repo: Some(r.repository()),
                tag: r.tag.clone(),
            };
            self.docker.tag_image(&first, Some(options)).await?;
        }
        Ok(BuiltImage {
            id,
            references: refs,
            elapsed: started.elapsed(),
            reused: false,
        })
    }
}

impl Engine {
    /// Give the local image `source` (a name or an image ID) the extra name `target`.
    pub(crate) async fn tag_local(
        &self,
        source: &str,
        target: &Reference,
    ) -> Result<(), BuildError> {
        let options = TagImageOptions {
            repo: Some(target.repository()),
            tag: target.tag.clone(),
        };
        self.docker.tag_image(source, Some(options)).await?;
        Ok(())
    }

    /// Remove the local name `reference` (the image keeps its other names). Best effort.
    pub(crate) async fn untag_local(&self, reference: &Reference) {
        let options = bollard::query_parameters::RemoveImageOptions {
            force: false,
            noprune: true,
            ..Default::default()
        };
        let _ = self
            .docker
            .remove_image(&reference.to_string(), Some(options), None)
            .await;
    }
}
