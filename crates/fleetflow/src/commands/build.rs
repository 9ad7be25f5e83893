//! `flow build`: flow.kdl → plan → engine → report.

use std::sync::Arc;
use std::time::Duration;

use fleetflow_build::{
    BuildError, BuildPlan, Engine, PlanOptions, RunOptions, build_all, oci_labels,
};
use fleetflow_config::{ConfigError, Project, ResolvedStage, SkipReason, discover};
use serde_json::json;

use super::{print_diagnostic, print_error};
use crate::cli::BuildArgs;
use crate::exit::Code;
use crate::messages::Messages;
use crate::output::{Mode, Printer};

fn load_stage(args: &BuildArgs, messages: &Messages) -> Result<ResolvedStage, Box<ConfigError>> {
    let (services, stage) = args.services_and_stage();
    let cwd = std::env::current_dir().map_err(|source| ConfigError::Read {
        path: ".".into(),
        source,
    })?;
    let env_root =
        std::env::var_os(fleetflow_config::ENV_PROJECT_ROOT).map(std::path::PathBuf::from);
    let location = discover(args.file.as_deref(), env_root.as_deref(), &cwd)?;
    let project = Project::load(location, stage.as_deref())?;
    for w in &project.warnings {
        eprintln!("{}: {w}", messages.warning_heading());
    }
    let mut resolved = project.resolve_stage(stage.as_deref(), std::env::vars())?;
    resolved.select(&services)?;
    Ok(resolved)
}

fn seconds(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// Run `flow build`.
pub async fn run(args: BuildArgs, messages: &Messages) -> Code {
    let mode = Mode::choose(args.progress, args.quiet);
    let mut stage = match load_stage(&args, messages) {
        Ok(s) => s,
        Err(e) => {
            print_diagnostic(messages, messages.config_invalid(), e.as_ref());
            return Code::Config;
        }
    };
    for svc in &mut stage.services {
        if let Ok(spec) = &mut svc.build {
            for (k, v) in &args.build_args {
                spec.args.retain(|(key, _)| key != k);
                spec.args.push((k.clone(), v.clone()));
            }
        }
    }
    let options = PlanOptions {
        tags: args.tags.clone(),
        registry: args.registry.clone(),
        no_cache: args.no_cache,
        pull: args.pull,
        labels: oci_labels(&stage.root, args.tags.first().map(String::as_str)),
    };
    let plan = match BuildPlan::new(&stage, &options) {
        Ok(p) => p,
        Err(BuildError::InvalidTag(e)) => {
            print_error(
                messages,
                messages.invalid_tag(),
                Some(&e.to_string()),
                &[messages.invalid_tag_hint()],
            );
            return Code::Config;
        }
        Err(e) => {
            print_error(
                messages,
                messages.invalid_image(),
                Some(&e.to_string()),
                &[messages.invalid_image_hint()],
            );
            return Code::Config;
        }
    };
    let printer = Arc::new(Printer::new(mode, &plan.builds, &plan.root));

    if args.dry_run {
        print_plan(&plan, &printer, mode);
        return Code::Success;
    }
    if plan.builds.is_empty() {
        print_skipped(&plan, &printer, messages);
        printer.line(messages.nothing_to_build());
        return Code::Success;
    }

    let engine = match Engine::connect().await {
        Ok(e) => e,
        Err(e) => {
            print_error(
                messages,
                messages.engine_unreachable(),
                Some(&e.to_string()),
                &[messages.engine_hint()],
            );
            return Code::Other;
        }
    };
    let run_options = RunOptions {
        jobs: args
            .jobs
            .map_or_else(fleetflow_build::default_jobs, usize::from),
        fail_fast: args.fail_fast,
    };
    let outcomes = build_all(&engine, &plan, &run_options, printer.clone()).await;

    let mut failed = Vec::new();
    for o in &outcomes {
        match &o.result {
            Ok(img) => {
                let refs: Vec<String> = img.references.iter().map(ToString::to_string).collect();
                printer.finish(
                    &o.service,
                    format!("{} {}", messages.built(), seconds(o.elapsed)),
                );
                printer.json(json!({
                    "event": "built", "service": o.service, "image_id": img.id,
                    "references": refs, "seconds": o.elapsed.as_secs_f64(),
                }));
            }
            Err(e) => {
                printer.finish(&o.service, messages.failed().to_string());
                let log = match e {
                    BuildError::Failed { log, .. } => Some(log.as_str()),
                    _ => None,
                };
                printer.json(json!({
                    "event": if matches!(e, BuildError::Cancelled) { "cancelled" } else { "failed" },
                    "service": o.service, "error": e.to_string(), "log": log,
                }));
                failed.push(o);
            }
        }
    }
    printer.clear();

    // Summary: one line per service.
    printer.line("");
    for o in &outcomes {
        match &o.result {
            Ok(img) => {
                let refs: Vec<String> = img.references.iter().map(ToString::to_string).collect();
                if mode == Mode::Quiet {
                    for r in &refs {
                        println!("{r}");
                    }
                }
                printer.line(&format!(
                    "{} {}: {} {} ({}) {}",
                    printer.paint("32", "✓"),
                    o.service,
                    messages.built(),
                    seconds(o.elapsed),
                    short_id(&img.id),
                    refs.join(", ")
                ));
            }
            Err(BuildError::Cancelled) => printer.line(&format!(
                "{} {}: {}",
                printer.paint("33", "-"),
                o.service,
                messages.cancelled()
            )),
            Err(e) => printer.line(&format!(
                "{} {}: {} {} — {e}",
                printer.paint("31", "✗"),
                o.service,
                messages.failed(),
                seconds(o.elapsed)
            )),
        }
    }
    print_skipped(&plan, &printer, messages);

    let real_failures: Vec<_> = failed
        .iter()
        .filter(|o| !matches!(o.result, Err(BuildError::Cancelled)))
        .collect();
    for o in &real_failures {
        if let Err(BuildError::Failed { log, message, .. }) = &o.result {
            if mode != Mode::Json {
                eprintln!(
                    "\n----- {} {} -----\n{}",
                    messages.build_log_of(),
                    o.service,
                    log.trim_end()
                );
                eprintln!("----- {} -----", message);
            }
        } else if let Err(e) = &o.result {
            if mode != Mode::Json {
                eprintln!("{}: {}: {e}", messages.error_heading(), o.service);
            }
        }
    }
    printer.json(json!({
        "event": "summary",
        "built": outcomes.iter().filter(|o| o.result.is_ok()).count(),
        "failed": real_failures.len(),
        "cancelled": failed.len() - real_failures.len(),
        "skipped": plan.skipped.len(),
    }));
    if failed.is_empty() {
        Code::Success
    } else {
        if mode != Mode::Json {
            eprintln!("{}: {}", messages.error_heading(), messages.builds_failed());
        }
        Code::BuildFailed
    }
}

fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}

fn print_skipped(plan: &BuildPlan, printer: &Printer, messages: &Messages) {
    for (name, reason) in &plan.skipped {
        let why = match reason {
            SkipReason::NoBuildSettings => messages.skipped_no_build(),
        };
        printer.line(&format!("- {name}: {} ({why})", messages.skipped()));
        printer.json(json!({"event": "skipped", "service": name, "reason": why}));
    }
}

fn print_plan(plan: &BuildPlan, printer: &Printer, mode: Mode) {
    for b in &plan.builds {
        let refs: Vec<String> = b.references().iter().map(ToString::to_string).collect();
        if mode == Mode::Json {
            printer.json(json!({
                "event": "plan", "service": b.service, "references": refs,
                "dockerfile": b.spec.dockerfile, "context": b.spec.context,
                "target": b.spec.target, "build_args": b.spec.args.iter().map(|(k, _)| k).collect::<Vec<_>>(),
                "no_cache": b.no_cache,
            }));
        } else {
            printer.line(&format!("{}: {}", b.service, refs.join(", ")));
            printer.line(&format!("  → Dockerfile: {}", b.spec.dockerfile.display()));
            printer.line(&format!("  → Context: {}", b.spec.context.display()));
            if let Some(t) = &b.spec.target {
                printer.line(&format!("  → Target: {t}"));
            }
        }
    }
    for (name, _) in &plan.skipped {
        printer.line(&format!("{name}: skipped"));
    }
}
