//! The end of a build: one line per service, the failure logs and errors, the JSON
//! `summary` event, and the `--dry-run` plan. Everything comes from the [`RunSummary`].

use std::time::Duration;

use fleetflow_build::{BuildError, BuildPlan, PushError, RunSummary};
use fleetflow_config::SkipReason;
use fleetflow_registry::{CredentialError, CredentialStore};
use serde_json::json;

use super::{Mode, Printer};
use crate::failure::Failure;

fn seconds(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// `text()` when `on`, else nothing.
fn when(on: bool, text: impl FnOnce() -> String) -> String {
    if on { text() } else { String::new() }
}

fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}

impl Printer {
    /// The summary of a finished run: a line per service, skipped services, failure
    /// logs and errors (stderr), the JSON `summary` event, and the closing error line.
    pub fn run_summary(&self, run: &RunSummary<'_>) {
        let m = *self.messages();
        // Per-service events were reported live; this is the summary.
        self.clear();
        self.line("");
        for s in run.services() {
            let o = s.outcome;
            let refs = o.references();
            match (&o.result, &o.push) {
                (Ok(img), Some(Ok(p))) => {
                    if self.mode == Mode::Quiet {
                        self.stdout(&p.pinned());
                    }
                    let reused = when(img.reused, || format!(" [{}]", m.reused()));
                    self.line(&format!(
                        "{} {}: {} ({}){reused}",
                        self.paint("32", "✓"),
                        o.service,
                        refs.join(", "),
                        p.digest
                    ));
                }
                (Ok(_), Some(Err(e @ PushError::Withheld { .. }))) => {
                    self.line(&format!("{} {}: {e}", self.paint("33", "-"), o.service))
                }
                (Ok(img), Some(Err(e))) => self.line(&format!(
                    "{} {}: {} {} ({}), {} — {e}",
                    self.paint("31", "✗"),
                    o.service,
                    m.built(),
                    seconds(o.elapsed),
                    short_id(&img.id),
                    m.push_failed()
                )),
                (Ok(img), None) => {
                    if self.mode == Mode::Quiet && !run.pushing {
                        for r in &refs {
                            self.stdout(r);
                        }
                    }
                    let cancelled = when(run.pushing, || format!(", {}", m.cancelled()));
                    self.line(&format!(
                        "{} {}: {} {} ({}) {}{cancelled}",
                        self.paint("32", "✓"),
                        o.service,
                        m.built(),
                        seconds(o.elapsed),
                        short_id(&img.id),
                        refs.join(", ")
                    ));
                }
                (Err(BuildError::Cancelled), _) => self.line(&format!(
                    "{} {}: {}",
                    self.paint("33", "-"),
                    o.service,
                    m.cancelled()
                )),
                (Err(e), _) => self.line(&format!(
                    "{} {}: {} {} — {e}",
                    self.paint("31", "✗"),
                    o.service,
                    m.failed(),
                    seconds(o.elapsed)
                )),
            }
        }
        self.skipped(run.plan);
        if self.mode != Mode::Json {
            self.failures(run);
        }
        let counts = run.counts();
        let images: Vec<serde_json::Value> = run
            .services()
            .filter(|s| s.outcome.result.is_ok())
            .map(|s| {
                let pushed = s.outcome.pushed();
                json!({
                    "service": s.outcome.service,
                    "references": s.outcome.references(),
                    "digest": pushed.map(|p| p.digest.clone()),
                    "pinned": pushed.map(|p| p.pinned()),
                    "reused": s.outcome.result.as_ref().is_ok_and(|i| i.reused),
                })
            })
            .collect();
        self.json(json!({
            "event": "summary",
            "images": images,
            "built": counts.built,
            "pushed": counts.pushed,
            "reused": counts.reused,
            "withheld": counts.withheld,
            "failed": counts.failed,
            "push_failed": counts.push_failed,
            "cancelled": counts.cancelled,
            "skipped": counts.skipped,
        }));
        if run.exit_class() == fleetflow_build::ExitClass::BuildFailed && self.mode != Mode::Json {
            self.stderr(&format!("{}: {}", m.error_heading(), m.builds_failed()));
        }
    }

    /// Failed builds' logs and push errors, on stderr.
    fn failures(&self, run: &RunSummary<'_>) {
        let m = *self.messages();
        for o in &run.outcomes {
            match o.build_failure() {
                Some(BuildError::Failed { log, message, .. }) => {
                    self.stderr(&format!(
                        "\n----- {} {} -----\n{}",
                        m.build_log_of(),
                        o.service,
                        log.trim_end()
                    ));
                    self.stderr(&format!("----- {message} -----"));
                }
                Some(e) => self.stderr(&format!("{}: {}: {e}", m.error_heading(), o.service)),
                None => {}
            }
        }
        for e in run.outcomes.iter().filter_map(|o| o.push_failure()) {
            match e {
                PushError::Auth { reference, message } => {
                    let registry = fleetflow_oci::Reference::parse(reference)
                        .map(|r| r.registry().to_string())
                        .unwrap_or_default();
                    self.failure(&crate::failure::auth(&m, &registry, reference, message));
                }
                PushError::Withheld { .. } => {}
                PushError::Failed { reference, message } => self.failure(
                    &Failure::new(
                        crate::exit::Code::Push,
                        format!("{}\n{}: {message}", m.push_failed(), m.detail_label()),
                    )
                    .target(reference.clone())
                    .hint(m.push_failed_hint()),
                ),
            }
        }
    }

    /// Services without anything to build.
    pub fn skipped(&self, plan: &BuildPlan) {
        let m = self.messages();
        for (name, reason) in &plan.skipped {
            let why = match reason {
                SkipReason::NoBuildSettings => m.skipped_no_build(),
            };
            self.line(&format!("- {name}: {} ({why})", m.skipped()));
            self.json(json!({"event": "skipped", "service": name, "reason": why}));
        }
    }

    /// A stage with nothing to build.
    pub fn nothing_to_build(&self, plan: &BuildPlan) {
        self.skipped(plan);
        self.line(self.messages().nothing_to_build());
        self.json(json!({
            "event": "summary", "built": 0, "pushed": 0, "failed": 0, "push_failed": 0,
            "cancelled": 0, "skipped": plan.skipped.len(),
        }));
    }

    /// `--dry-run`: every service's references, Dockerfile, context, target and build-arg
    /// names, then each registry's credential source (never the secret).
    pub fn build_plan(
        &self,
        plan: &BuildPlan,
        store: Result<&CredentialStore, &CredentialError>,
        push: bool,
    ) {
        for b in &plan.builds {
            let refs: Vec<String> = b.references().iter().map(ToString::to_string).collect();
            if self.mode == Mode::Quiet {
                for r in &refs {
                    self.stdout(r);
                }
            } else if self.mode == Mode::Json {
                self.json(json!({
                    "event": "plan", "service": b.service, "references": refs,
                    "image": b.repository.to_string(), "tags": b.tags,
                    "dockerfile": b.spec.dockerfile, "context": b.spec.context,
                    "target": b.spec.target, "build_args": b.spec.args.iter().map(|(k, _)| k).collect::<Vec<_>>(),
                    "no_cache": b.no_cache, "base_registries": b.base_registries,
                }));
            } else {
                self.line(&format!("{}: {}", b.service, refs.join(", ")));
                self.line(&format!("  → Dockerfile: {}", b.spec.dockerfile.display()));
                self.line(&format!("  → Context: {}", b.spec.context.display()));
                if let Some(t) = &b.spec.target {
                    self.line(&format!("  → Target: {t}"));
                }
                if !b.spec.args.is_empty() {
                    let keys: Vec<&str> = b.spec.args.iter().map(|(k, _)| k.as_str()).collect();
                    self.line(&format!("  → Build args: {}", keys.join(", ")));
                }
            }
        }
        self.skipped(plan);
        self.credential_sources(plan, store, push);
    }

    fn credential_sources(
        &self,
        plan: &BuildPlan,
        store: Result<&CredentialStore, &CredentialError>,
        push: bool,
    ) {
        let mut registries: Vec<(String, &str)> = Vec::new();
        for b in &plan.builds {
            let target = b.repository.registry().to_string();
            if push && !registries.iter().any(|(r, _)| *r == target) {
                registries.push((target, "push"));
            }
            for base in &b.base_registries {
                if !registries.iter().any(|(r, _)| r == base) {
                    registries.push((base.clone(), "pull"));
                }
            }
        }
        if registries.is_empty() || self.mode == Mode::Quiet {
            return;
        }
        self.line("Registries:");
        for (registry, use_) in registries {
            let source = match store {
                Ok(store) => match store.get(&registry) {
                    Ok(Some((_, source))) => Ok(Some(source.to_string())),
                    Ok(None) => Ok(None),
                    Err(e) => Err(e.to_string()),
                },
                Err(e) => Err(e.to_string()),
            };
            self.json(json!({
                "event": "registry", "registry": registry, "use": use_,
                "credentials": source.as_ref().ok().cloned().flatten(),
                "error": source.as_ref().err(),
            }));
            let text = match &source {
                Ok(Some(s)) => s.clone(),
                Ok(None) => "no credentials (anonymous)".to_string(),
                Err(e) => format!("credentials unreadable: {e}"),
            };
            self.line(&format!("  {registry} ({use_}): {text}"));
        }
    }
}
