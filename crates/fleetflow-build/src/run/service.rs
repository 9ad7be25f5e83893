//! One service's way through a run: its input digest, the image to reuse (or its build),
//! its push under the inputs tag, and, unless `--atomic` defers it, its tags moving.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use fleetflow_oci::{Digest, Reference};
use fleetflow_registry::Credentials;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use super::{Staged, publish};
use crate::engine::Engine;
use crate::error::BuildError;
use crate::event::{Event, Reporter};
use crate::inputs::{INPUTS_LABEL, inputs_tag};
use crate::outcome::{BuiltImage, Outcome, PushError, PushedImage};
use crate::plan::ServiceBuild;
use crate::publish::{Publisher, StagedImage, push_error};

/// What a service's task returns: its place in the plan, its outcome, and (with
/// `--atomic`) what is left to publish.
pub(super) type Finished = (usize, Outcome, Option<Staged>);

/// Everything one service's task needs.
pub(super) struct ServiceRun {
    pub index: usize,
    pub job: ServiceBuild,
    pub engine: Engine,
    pub reporter: Arc<dyn Reporter>,
    pub cancel: watch::Receiver<bool>,
    pub cancel_tx: Arc<watch::Sender<bool>>,
    pub fail_fast: bool,
    pub publisher: Option<Arc<Publisher>>,
    pub reuse: bool,
    pub atomic: bool,
    pub base_credentials: Arc<HashMap<String, Credentials>>,
    pub push_slots: Arc<Semaphore>,
}

impl ServiceRun {
    fn outcome(
        &self,
        start: Instant,
        result: Result<BuiltImage, BuildError>,
        push: Option<Result<PushedImage, PushError>>,
        inputs: Option<Digest>,
    ) -> Outcome {
        Outcome {
            service: self.job.service.clone(),
            result,
            elapsed: start.elapsed(),
            push,
            inputs,
        }
    }

    fn fail(&self, start: Instant, e: BuildError, inputs: Option<Digest>) -> Finished {
        self.reporter
            .report(&self.job.service, Event::BuildFailed(&e));
        if self.fail_fast && !matches!(e, BuildError::Cancelled) {
            let _ = self.cancel_tx.send(true);
        }
        (self.index, self.outcome(start, Err(e), None, inputs), None)
    }

    fn push_failed(&self, e: &PushError) {
        self.reporter
            .report(&self.job.service, Event::PushFailed(e));
        if self.fail_fast {
            let _ = self.cancel_tx.send(true);
        }
    }

    /// The input digest (recorded as a label of the image) and the image to reuse; on
    /// failure, the error and the digest if it was known.
    async fn inputs(
        &mut self,
        publisher: &Publisher,
    ) -> Result<(Digest, Option<StagedImage>), (BuildError, Option<Digest>)> {
        let digest = tokio::select! {
            r = self.engine.input_digest(&self.job) => r.map_err(|e| (e, None))?,
            _ = self.cancel.wait_for(|c| *c) => return Err((BuildError::Cancelled, None)),
        };
        self.job
            .labels
            .insert(INPUTS_LABEL.to_string(), digest.to_string());
        if !self.reuse {
            return Ok((digest, None));
        }
        let lookup = tokio::select! {
            r = publisher.find_reusable(&self.job.repository, &digest) => r,
            _ = self.cancel.wait_for(|c| *c) => return Err((BuildError::Cancelled, Some(digest))),
        };
        match lookup {
            Ok(found) => Ok((digest, found)),
            // Reuse only saves time: on a registry error, build as usual (the push reports
            // the registry's problem if it lasts).
            Err(e) => {
                self.reporter.report(
                    &self.job.service,
                    Event::Output(&format!("not checking for an image to reuse: {e}")),
                );
                Ok((digest, None))
            }
        }
    }

    /// Push `built` through the engine under its inputs tag and read back what the
    /// registry holds; `None` when cancelled.
    async fn stage(
        &mut self,
        publisher: &Publisher,
        built: &BuiltImage,
        inputs: &Digest,
    ) -> Option<Result<StagedImage, PushError>> {
        let _push_slot = self
            .push_slots
            .acquire()
            .await
            .expect("semaphore is never closed");
        let job = &self.job;
        let staging = job.repository.with_tag(&inputs_tag(inputs));
        self.reporter.report(
            &job.service,
            Event::PushStarted(&job.references()[0].to_string()),
        );
        let registry = job.repository.registry().to_string();
        let pushed = async {
            // From the image ID: another service's build cannot have taken the name.
            self.engine
                .tag_local(&built.id, &staging)
                .await
                .map_err(|e| push_error_text(&staging, e))?;
            self.engine
                .push_reference(
                    &job.service,
                    &staging,
                    publisher.credentials(&registry),
                    self.reporter.as_ref(),
                )
                .await
        };
        let digest = if *self.cancel.borrow() {
            None
        } else {
            let mut cancel = self.cancel.clone();
            tokio::select! {
                r = pushed => Some(r),
                _ = cancel.wait_for(|c| *c) => None,
            }
        };
        // The inputs tag is for the registry; the local image keeps its own tags.
        self.engine.untag_local(&staging).await;
        match digest? {
            Ok(digest) => Some(
                publisher
                    .staged(&job.repository, &digest)
                    .await
                    .map_err(|e| push_error(&staging.to_string(), e)),
            ),
            Err(e) => Some(Err(e)),
        }
    }

    /// Run the service; `slot` is its build slot, freed when its build ends.
    pub(super) async fn run(mut self, slot: OwnedSemaphorePermit) -> Finished {
        let start = Instant::now();
        self.reporter.report(&self.job.service, Event::Started);
        let publisher = self.publisher.clone();
        let mut inputs = None;
        let mut found = None;
        if let Some(publisher) = &publisher {
            match self.inputs(publisher).await {
                Ok((digest, f)) => {
                    inputs = Some(digest);
                    found = f;
                }
                Err((e, digest)) => return self.fail(start, e, digest),
            }
        }
        let push_started;
        let (built, image) = if let Some(image) = found {
            let built = BuiltImage {
                id: image.config.to_string(),
                references: self.job.references(),
                elapsed: start.elapsed(),
                reused: true,
            };
            self.reporter
                .report(&self.job.service, Event::Built(&built));
            drop(slot);
            push_started = Instant::now();
            (built, Some(image))
        } else {
            let result = tokio::select! {
                r = self.engine.build(&self.job, &self.base_credentials, self.reporter.as_ref()) => r,
                _ = self.cancel.wait_for(|c| *c) => Err(BuildError::Cancelled),
            };
            let built = match result {
                Ok(b) => b,
                Err(e) => {
                    let out = self.fail(start, e, inputs);
                    drop(slot);
                    return out;
                }
            };
            // Freed only after a failure has set the cancel flag, so no new build slips in.
            drop(slot);
            self.reporter
                .report(&self.job.service, Event::Built(&built));
            push_started = Instant::now();
            let (Some(publisher), Some(input_digest)) = (&publisher, inputs.clone()) else {
                return (self.index, self.outcome(start, Ok(built), None, None), None);
            };
            match self.stage(publisher, &built, &input_digest).await {
                Some(Ok(image)) => (built, Some(image)),
                Some(Err(e)) => {
                    self.push_failed(&e);
                    let outcome = self.outcome(start, Ok(built), Some(Err(e)), inputs);
                    return (self.index, outcome, None);
                }
                None => (built, None),
            }
        };
        let Some(image) = image else {
            // Cancelled during the push.
            return (
                self.index,
                self.outcome(start, Ok(built), None, inputs),
                None,
            );
        };
        let staged = Staged {
            index: self.index,
            job: self.job.clone(),
            image,
            push_started,
        };
        // With --atomic the tags move later; after a --fail-fast cancel, never.
        let push = if self.atomic || *self.cancel.borrow() {
            None
        } else {
            let publisher = publisher.as_ref().expect("an image to push means pushing");
            let r = publish(publisher, &staged, self.reporter.as_ref()).await;
            if let Err(e) = &r {
                self.push_failed(e);
            }
            Some(r)
        };
        let outcome = self.outcome(start, Ok(built), push, inputs);
        (self.index, outcome, self.atomic.then_some(staged))
    }
}

fn push_error_text(reference: &Reference, e: BuildError) -> PushError {
    PushError::Failed {
        reference: reference.to_string(),
        message: e.to_string(),
    }
}
