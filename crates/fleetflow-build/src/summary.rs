//! One [`RunSummary`] per run: the plan and what happened to each of its services. The
//! CLI's summary lines, its JSON `summary` event, the metadata file, the GitHub step
//! outputs and the job summary are all rendered from it, so they cannot disagree.

use crate::outcome::{ExitClass, Outcome, Status, exit_class};
use crate::plan::BuildPlan;

/// A run, finished.
#[derive(Debug)]
pub struct RunSummary<'a> {
    /// What was planned.
    pub plan: &'a BuildPlan,
    /// One outcome per planned build, in plan order.
    pub outcomes: Vec<Outcome>,
    /// `--push` was given.
    pub pushing: bool,
}

/// One planned service, as the summary and the metadata show it.
#[derive(Debug, Clone)]
pub struct ServiceSummary<'a> {
    /// Its outcome.
    pub outcome: &'a Outcome,
    /// Repository, without tag.
    pub image: String,
    /// Its tags.
    pub tags: &'a [String],
    /// Every planned `repository:tag`.
    pub references: Vec<String>,
    /// The manifest digest, when pushed.
    pub digest: Option<String>,
    /// `repository@digest`, when pushed.
    pub pinned: Option<String>,
    /// What happened.
    pub status: Status,
    /// Why it failed or was skipped, when it was.
    pub error: Option<String>,
}

/// How many services ended which way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Images that exist (built or reused).
    pub built: usize,
    /// Pushed with their tags.
    pub pushed: usize,
    /// Reused instead of built.
    pub reused: usize,
    /// Pushed by digest, tags withheld (`--atomic`).
    pub withheld: usize,
    /// Builds that failed.
    pub failed: usize,
    /// Pushes that failed.
    pub push_failed: usize,
    /// Builds cancelled (`--fail-fast`).
    pub cancelled: usize,
    /// Services without build settings.
    pub skipped: usize,
}

impl<'a> RunSummary<'a> {
    /// The summary of `outcomes` (one per `plan.builds`, in order).
    pub fn new(plan: &'a BuildPlan, outcomes: Vec<Outcome>, pushing: bool) -> RunSummary<'a> {
        RunSummary {
            plan,
            outcomes,
            pushing,
        }
    }

    /// Every planned service with its outcome, in plan order.
    pub fn services(&self) -> impl Iterator<Item = ServiceSummary<'_>> {
        self.plan.builds.iter().zip(&self.outcomes).map(|(b, o)| {
            let image = b.repository.to_string();
            let digest = o.pushed().map(|p| p.digest.clone());
            let error = match (&o.result, &o.push) {
                (Err(e), _) => Some(e.to_string()),
                (Ok(_), Some(Err(e))) => Some(e.to_string()),
                (Ok(_), None) if self.pushing => Some(crate::BuildError::Cancelled.to_string()),
                _ => None,
            };
            ServiceSummary {
                outcome: o,
                pinned: digest.as_ref().map(|d| format!("{image}@{d}")),
                image,
                tags: &b.tags,
                references: b.references().iter().map(ToString::to_string).collect(),
                digest,
                status: o.status(self.pushing),
                error,
            }
        })
    }

    /// The counts.
    pub fn counts(&self) -> Counts {
        let count = |f: &dyn Fn(&Outcome) -> bool| self.outcomes.iter().filter(|o| f(o)).count();
        Counts {
            built: count(&|o| o.result.is_ok()),
            pushed: count(&|o| o.pushed().is_some()),
            reused: count(&|o| o.result.as_ref().is_ok_and(|i| i.reused)),
            withheld: count(&|o| o.withheld()),
            failed: count(&|o| o.build_failure().is_some()),
            push_failed: count(&|o| o.push_failure().is_some()),
            cancelled: count(&Outcome::cancelled),
            skipped: self.plan.skipped.len(),
        }
    }

    /// The run's failure class.
    pub fn exit_class(&self) -> ExitClass {
        exit_class(&self.outcomes)
    }
}
