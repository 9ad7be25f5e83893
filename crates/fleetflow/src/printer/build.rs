//! Live build progress: the printer's side of the build crate's [`Reporter`]. A bar per
//! service on a terminal, `service | ...` lines in plain mode, JSON events per service.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fleetflow_build::{BuildError, Event, PushError, Reporter, ServiceBuild};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use super::{Mode, Printer};

/// What the printer keeps of a build in progress.
#[derive(Default)]
pub(super) struct BuildView {
    bars: Mutex<HashMap<String, ProgressBar>>,
    headers: HashMap<String, Vec<String>>,
    push: bool,
    /// When each service's push began (its first `push_started`).
    push_began: Mutex<HashMap<String, Instant>>,
}

impl Printer {
    /// Ready to show the build of `jobs` (their header lines), pushed when `push`.
    pub fn with_build(
        mut self,
        jobs: &[ServiceBuild],
        root: &std::path::Path,
        push: bool,
    ) -> Printer {
        self.build.headers = jobs
            .iter()
            .map(|j| (j.service.clone(), header_lines(j, root)))
            .collect();
        self.build.push = push;
        self
    }

    /// The run-clock interval of `service`'s push, ending now: (`started_ms`, `finished_ms`).
    fn push_interval(&self, service: &str) -> (u64, u64) {
        let now = Instant::now();
        let began = self
            .build
            .push_began
            .lock()
            .expect("push_began lock")
            .get(service)
            .copied()
            .unwrap_or(now);
        (self.ms(began), self.ms(now))
    }

    /// Finish the bar of `service` with `message`.
    fn finish(&self, service: &str, message: String) {
        if let Some(bar) = self.build.bars.lock().expect("bars lock").remove(service) {
            bar.finish_with_message(message);
        }
    }
}

fn header_lines(job: &ServiceBuild, root: &std::path::Path) -> Vec<String> {
    let rel = |p: &std::path::Path| match p.strip_prefix(root) {
        Ok(r) if r.as_os_str().is_empty() => ".".to_string(),
        Ok(r) => format!("./{}", r.display()),
        Err(_) => p.display().to_string(),
    };
    let mut lines = vec![
        format!("Building {}...", job.service),
        format!("  → Dockerfile: {}", rel(&job.spec.dockerfile)),
        format!("  → Context: {}", rel(&job.spec.context)),
    ];
    if let Some(t) = &job.spec.target {
        lines.push(format!("  → Target: {t}"));
    }
    lines.push(format!(
        "  → Image: {}",
        job.references()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    ));
    lines
}

impl Printer {
    /// A service's build or push ended: a JSON event, a plain line, or the bar's last word.
    fn ended(&self, service: &str, event: &Event<'_>) {
        let secs = |d: Duration| format!("{:.1}s", d.as_secs_f64());
        match event {
            Event::Built(img) => {
                let refs: Vec<String> = img.references.iter().map(ToString::to_string).collect();
                self.json(json!({
                    "event": if img.reused { "reused" } else { "built" },
                    "service": service, "image_id": img.id,
                    "references": refs, "seconds": img.elapsed.as_secs_f64(),
                }));
                let built = if img.reused {
                    self.messages.reused().to_string()
                } else {
                    self.messages.built_in(&secs(img.elapsed))
                };
                self.line_plain(&format!("  {service} | {built} ({})", img.id));
                if self.build.push {
                    self.bar_message(
                        service,
                        format!("{built}, {}", self.messages.waiting_to_push()),
                    );
                } else {
                    self.finish(service, format!("✓ {built}"));
                }
            }
            Event::BuildFailed(e) => {
                let (name, word, log) = match e {
                    BuildError::Cancelled => ("cancelled", self.messages.cancelled(), None),
                    BuildError::Failed { log, .. } => {
                        ("failed", self.messages.failed(), Some(log.as_str()))
                    }
                    _ => ("failed", self.messages.failed(), None),
                };
                self.json(
                    json!({"event": name, "service": service, "error": e.to_string(), "log": log}),
                );
                self.line_plain(&format!("  {service} | {word}: {e}"));
                self.finish(service, format!("✗ {word}"));
            }
            Event::Pushed(p) => {
                let (started_ms, finished_ms) = self.push_interval(service);
                self.json(json!({
                    "event": "pushed", "service": service, "digest": p.digest, "pinned": p.pinned(),
                    "references": p.references.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "seconds": p.elapsed.as_secs_f64(),
                    "started_ms": started_ms, "finished_ms": finished_ms,
                }));
                self.line_plain(&format!(
                    "  {service} | {} {}",
                    self.messages.pushed(),
                    p.pinned()
                ));
                self.finish(
                    service,
                    format!(
                        "✓ {} ({})",
                        self.messages.pushed_in(&secs(p.elapsed)),
                        p.digest
                    ),
                );
            }
            Event::PushFailed(e @ PushError::Withheld { .. }) => {
                self.json(json!({"event": "withheld", "service": service, "error": e.to_string()}));
                self.line_plain(&format!("  {service} | {e}"));
                self.finish(service, format!("- {e}"));
            }
            Event::PushFailed(e) => {
                let (started_ms, finished_ms) = self.push_interval(service);
                self.json(json!({
                    "event": "push_failed", "service": service, "error": e.to_string(),
                    "auth": matches!(e, PushError::Auth { .. }),
                    "started_ms": started_ms, "finished_ms": finished_ms,
                }));
                self.line_plain(&format!(
                    "  {service} | {}: {e}",
                    self.messages.push_failed()
                ));
                self.finish(service, format!("✗ {}", self.messages.push_failed()));
            }
            _ => {}
        }
    }

    fn line_plain(&self, text: &str) {
        if self.mode == Mode::Plain {
            self.line(text);
        }
    }

    fn bar_message(&self, service: &str, message: String) {
        if let Some(bar) = self.build.bars.lock().expect("bars lock").get(service) {
            bar.set_message(message);
        }
    }
}

impl Reporter for Printer {
    fn report(&self, service: &str, event: Event<'_>) {
        let now = Instant::now();
        if matches!(event, Event::PushStarted(_)) {
            self.build
                .push_began
                .lock()
                .expect("push_began lock")
                .entry(service.to_string())
                .or_insert(now);
        }
        if matches!(
            event,
            Event::Built(_) | Event::BuildFailed(_) | Event::Pushed(_) | Event::PushFailed(_)
        ) {
            if self.mode != Mode::Quiet {
                self.ended(service, &event);
            }
            return;
        }
        match (self.mode, event) {
            (Mode::Quiet, _) => {}
            (Mode::Json, Event::Started) => {
                self.json(json!({"event": "started", "service": service}))
            }
            (Mode::Json, Event::Step(s)) => {
                self.json(json!({"event": "step", "service": service, "step": s}))
            }
            (Mode::Json, Event::Output(_)) => {}
            (Mode::Plain, Event::Started) => {
                if let Some(lines) = self.build.headers.get(service) {
                    self.stdout(&lines.join("\n"));
                }
            }
            (Mode::Plain, Event::Step(s)) => self.line(&format!("  {service} | {s}")),
            (Mode::Plain, Event::Output(_)) => {}
            (Mode::Tty, Event::Started) => {
                for l in self.build.headers.get(service).into_iter().flatten() {
                    let _ = self.multi.println(l);
                }
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner:.cyan} {prefix:.bold} [{elapsed}] {wide_msg}",
                    )
                    .expect("valid template"),
                );
                bar.set_prefix(service.to_string());
                bar.set_message(self.messages.starting());
                bar.enable_steady_tick(Duration::from_millis(120));
                self.build
                    .bars
                    .lock()
                    .expect("bars lock")
                    .insert(service.to_string(), bar);
            }
            (Mode::Tty, Event::Step(s) | Event::Output(s)) => {
                if let Some(bar) = self.build.bars.lock().expect("bars lock").get(service) {
                    bar.set_message(s.to_string());
                }
            }
            (Mode::Json, Event::PushStarted(r)) => self.json(json!({
                "event": "push_started", "service": service, "reference": r,
                "started_ms": self.ms(now),
            })),
            (Mode::Json, Event::PushLayers { .. }) => {}
            (Mode::Plain, Event::PushStarted(r)) => {
                self.stdout(&format!("Pushing {service}...\n  → {r}"));
            }
            (
                Mode::Plain,
                Event::PushLayers {
                    total,
                    pushed,
                    existed,
                },
            ) => self.line(&format!(
                "  {service} | {}",
                self.messages.layers(total, pushed, existed)
            )),
            (Mode::Tty, Event::PushStarted(r)) => {
                let bars = self.build.bars.lock().expect("bars lock");
                let bar = match bars.get(service) {
                    Some(b) => b.clone(),
                    None => {
                        drop(bars);
                        let b = self.multi.add(ProgressBar::new(0));
                        b.set_prefix(service.to_string());
                        self.build
                            .bars
                            .lock()
                            .expect("bars lock")
                            .insert(service.to_string(), b.clone());
                        b
                    }
                };
                bar.reset();
                bar.set_style(
                    ProgressStyle::with_template(
                        "{prefix:.bold} [{bar:30.cyan/blue}] {pos}/{len} layers {wide_msg}",
                    )
                    .expect("valid template")
                    .progress_chars("#>-"),
                );
                bar.set_length(0);
                bar.set_message(self.messages.pushing(r));
            }
            (
                Mode::Tty,
                Event::PushLayers {
                    total,
                    pushed,
                    existed,
                },
            ) => {
                if let Some(bar) = self.build.bars.lock().expect("bars lock").get(service) {
                    bar.set_length(total as u64);
                    bar.set_position((pushed + existed) as u64);
                }
            }
            (
                _,
                Event::Built(_) | Event::BuildFailed(_) | Event::Pushed(_) | Event::PushFailed(_),
            ) => {}
        }
    }
}
