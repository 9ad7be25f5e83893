//! `flow build [--push]`: flow.kdl → plan → (pre-flight) → engine → report.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use fleetflow_build::{
    BuildError, BuildPlan, Engine, Outcome, PlanOptions, PushError, RunOptions, TagValues,
    build_all, oci_labels,
};
use fleetflow_config::{ConfigError, Project, ResolvedStage, SkipReason, discover};
use fleetflow_oci::ReferenceError;
use fleetflow_registry::{
    ClientOptions, CredentialError, CredentialStore, Credentials, RegistryClient, RegistryError,
};
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
    let mut project = Project::load(location.clone(), stage.as_deref())?;
    if stage.is_none() {
        // The stage is chosen by the file itself: load its flow.{stage}.kdl too.
        if let Some(implicit) = project.implicit_stage().map(str::to_string) {
            project = Project::load(location, Some(&implicit))?;
        }
    }
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

fn make_plan(
    args: &BuildArgs,
    stage: &mut ResolvedStage,
    messages: &Messages,
) -> Result<BuildPlan, Code> {
    for svc in &mut stage.services {
        if let Ok(spec) = &mut svc.build {
            for (k, v) in &args.build_args {
                spec.args.retain(|(key, _)| key != k);
                spec.args.push((k.clone(), v.clone()));
            }
        }
    }
    let tag_values = TagValues::discover(&stage.root, args.version.as_deref());
    let version_label = args
        .tags
        .first()
        .cloned()
        .or_else(|| tag_values.version.clone());
    let options = PlanOptions {
        tags: args.tags.clone(),
        registry: args.registry.clone(),
        no_cache: args.no_cache,
        pull: args.pull,
        labels: oci_labels(&stage.root, version_label.as_deref()),
        tag_values,
    };
    match BuildPlan::new(stage, &options) {
        Ok(p) => Ok(p),
        Err(BuildError::InvalidTag(e)) => {
            print_error(
                messages,
                messages.invalid_tag(),
                Some(&e.to_string()),
                &[messages.invalid_tag_hint()],
            );
            Err(Code::Config)
        }
        Err(
            e @ BuildError::Reference {
                source: ReferenceError::InvalidTag { .. },
                ..
            },
        ) => {
            print_error(
                messages,
                messages.invalid_tag(),
                Some(&e.to_string()),
                &[
                    messages.invalid_tag_hint(),
                    messages.invalid_tag_in_file_hint(),
                ],
            );
            Err(Code::Config)
        }
        Err(e @ BuildError::Reference { .. }) => {
            print_error(
                messages,
                messages.invalid_image(),
                Some(&e.to_string()),
                &[messages.invalid_image_hint()],
            );
            Err(Code::Config)
        }
        Err(e @ (BuildError::TagTemplate(_) | BuildError::NoTemplateTag { .. })) => {
            print_error(
                messages,
                messages.invalid_tag(),
                Some(&e.to_string()),
                &[messages.tag_template_hint()],
            );
            Err(Code::Config)
        }
        Err(e) => {
            print_error(
                messages,
                messages.config_invalid(),
                Some(&e.to_string()),
                &[],
            );
            Err(Code::Config)
        }
    }
}

fn print_auth_error(messages: &Messages, registry: &str, target: &str, detail: &str) {
    let login = messages.auth_hint_login(registry);
    print_error(
        messages,
        &format!(
            "{}\n{}: {detail}",
            messages.auth_failed(),
            messages.detail_label()
        ),
        Some(target),
        &[&login, messages.auth_hint_ci()],
    );
}

/// Every image must name a registry (or at least a namespace) to be pushed.
fn check_registries(plan: &BuildPlan, messages: &Messages) -> Result<(), Code> {
    for b in &plan.builds {
        if b.repository.domain.is_none() && !b.repository.path.contains('/') {
            print_error(
                messages,
                messages.no_registry(),
                Some(&format!("{} ({})", b.references()[0], b.service)),
                &[messages.no_registry_hint()],
            );
            return Err(Code::Config);
        }
    }
    Ok(())
}

/// Credentials and connected clients per registry, from the pre-flight, for the push.
type PushAccess = (
    HashMap<String, Credentials>,
    HashMap<String, Arc<RegistryClient>>,
);

/// A pre-flight failure for `target`: refused credentials are exit 3, anything else 5.
fn preflight_failed(messages: &Messages, registry: &str, target: &str, e: RegistryError) -> Code {
    match e {
        RegistryError::Unauthorized { .. } | RegistryError::Denied { .. } => {
            print_auth_error(messages, registry, target, &e.to_string());
            Code::Auth
        }
        e => {
            let message = match e {
                RegistryError::Unreachable { message, .. } => message,
                e => e.to_string(),
            };
            print_error(
                messages,
                messages.registry_unreachable(),
                Some(target),
                &[&message],
            );
            Code::Push
        }
    }
}

/// Before anything is built: every image has a registry, credentials are readable, and
/// every target registry accepts them for push. Returns the credentials and the
/// connected client per registry.
async fn prepare_push(
    plan: &BuildPlan,
    store: Result<&CredentialStore, &CredentialError>,
    messages: &Messages,
) -> Result<PushAccess, Code> {
    check_registries(plan, messages)?;
    let unreadable = |e: &CredentialError| {
        print_error(
            messages,
            messages.credentials_unreadable(),
            Some(&e.to_string()),
            &[],
        );
        Code::Auth
    };
    let store = store.map_err(unreadable)?;
    // One check per repository (push rights are per repository), credentials per registry.
    let mut creds = HashMap::new();
    let mut checks = BTreeMap::new();
    for b in &plan.builds {
        let registry = b.repository.registry().to_string();
        if !creds.contains_key(&registry) {
            let found = store.get(&registry).map_err(|e| unreadable(&e))?;
            creds.insert(registry.clone(), found.map(|(c, _)| c));
        }
        checks
            .entry((registry, b.repository.path.clone()))
            .or_insert_with(|| b.references()[0].to_string());
    }
    // One client per registry (the push reuses it), one check per repository.
    let mut registries: Vec<&String> = creds.keys().collect();
    registries.sort();
    let connected = futures_util::future::join_all(
        registries
            .iter()
            .map(|r| RegistryClient::connect(r, creds[*r].clone(), ClientOptions::default())),
    )
    .await;
    let mut clients = HashMap::new();
    for (registry, result) in registries.into_iter().zip(connected) {
        match result {
            Ok(c) => {
                clients.insert(registry.clone(), Arc::new(c));
            }
            Err(e) => {
                let target = checks.iter().find(|((r, _), _)| r == registry);
                let target = target.map_or(registry.as_str(), |(_, t)| t.as_str());
                return Err(preflight_failed(messages, registry, target, e));
            }
        }
    }
    let results = futures_util::future::join_all(
        checks
            .keys()
            .map(|(registry, path)| clients[registry].check_push(path)),
    )
    .await;
    for (((registry, _), target), result) in checks.iter().zip(results) {
        if let Err(e) = result {
            return Err(preflight_failed(messages, registry, target, e));
        }
    }
    let creds = creds
        .into_iter()
        .filter_map(|(r, c)| Some((r, c?)))
        .collect();
    Ok((creds, clients))
}

/// Credentials for the registries of the base images (`FROM`), sent with each build so
/// that private base images can be pulled. Problems here are warnings: most base images
/// need no credentials, and the engine reports a real pull failure itself.
fn base_credentials(
    plan: &BuildPlan,
    store: Result<&CredentialStore, &CredentialError>,
    messages: &Messages,
) -> HashMap<String, Credentials> {
    let mut out = HashMap::new();
    let mut registries: Vec<&String> = plan
        .builds
        .iter()
        .flat_map(|b| &b.base_registries)
        .collect();
    registries.sort();
    registries.dedup();
    if registries.is_empty() {
        return out;
    }
    let store = match store {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "{}: {}: {e}",
                messages.warning_heading(),
                messages.credentials_unreadable()
            );
            return out;
        }
    };
    for registry in registries {
        match store.get(registry) {
            Ok(Some((c, _))) => {
                out.insert(registry.clone(), c);
            }
            Ok(None) => {}
            Err(e) => eprintln!(
                "{}: {}: {e}",
                messages.warning_heading(),
                messages.credentials_unreadable()
            ),
        }
    }
    out
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
    let plan = match make_plan(&args, &mut stage, messages) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let printer = Arc::new(Printer::new(
        mode,
        &plan.builds,
        &plan.root,
        args.push,
        *messages,
    ));

    if args.dry_run {
        if args.push
            && let Err(code) = check_registries(&plan, messages)
        {
            return code;
        }
        let store = CredentialStore::from_env();
        print_plan(&plan, &printer, mode, messages, store.as_ref(), args.push);
        return Code::Success;
    }
    if plan.builds.is_empty() {
        print_skipped(&plan, &printer, messages);
        printer.line(messages.nothing_to_build());
        printer.json(json!({
            "event": "summary", "built": 0, "pushed": 0, "failed": 0, "push_failed": 0,
            "cancelled": 0, "skipped": plan.skipped.len(),
        }));
        return Code::Success;
    }
    // One store for the whole run, so each credential helper runs at most once per registry.
    let store = CredentialStore::from_env();
    let (push, push_clients) = if args.push {
        match prepare_push(&plan, store.as_ref(), messages).await {
            Ok((creds, clients)) => (Some(Arc::new(creds)), clients),
            Err(code) => return code,
        }
    } else {
        (None, HashMap::new())
    };

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
        push,
        push_clients,
        base_credentials: Arc::new(base_credentials(&plan, store.as_ref(), messages)),
        // --pull asks for newer base images, which the input digest cannot know about.
        reuse: !args.no_cache && !args.pull,
        atomic: args.atomic,
    };
    let outcomes = build_all(&engine, &plan, &run_options, printer.clone()).await;
    let code = report(&args, &plan, &outcomes, &printer, messages, mode);
    let doc = crate::metadata::document(&plan, &outcomes, args.push);
    let mut written = Vec::new();
    if let Some(path) = &args.metadata_file {
        written.push((path.clone(), crate::metadata::write_file(path, &doc)));
    }
    if let Some(path) = std::env::var_os("GITHUB_OUTPUT").filter(|p| !p.is_empty()) {
        let path = std::path::PathBuf::from(path);
        written.push((path.clone(), crate::metadata::append_outputs(&path, &doc)));
    }
    if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
        let path = std::path::PathBuf::from(path);
        written.push((path.clone(), crate::metadata::append_summary(&path, &doc)));
    }
    let mut code = code;
    for (path, result) in written {
        if let Err(e) = result {
            print_error(messages, &format!("{}: {e}", path.display()), None, &[]);
            if code == Code::Success {
                code = Code::Other;
            }
        }
    }
    code
}

fn refs_of(o: &Outcome) -> Vec<String> {
    match &o.result {
        Ok(img) => img.references.iter().map(ToString::to_string).collect(),
        Err(_) => Vec::new(),
    }
}

fn report(
    args: &BuildArgs,
    plan: &BuildPlan,
    outcomes: &[Outcome],
    printer: &Printer,
    messages: &Messages,
    mode: Mode,
) -> Code {
    // Per-service events (built, failed, pushed) were reported live; this is the summary.
    printer.clear();

    // Summary: one line per service.
    printer.line("");
    for o in outcomes {
        let refs = refs_of(o);
        match (&o.result, &o.push) {
            (Ok(img), Some(Ok(p))) => {
                if mode == Mode::Quiet {
                    println!("{}", p.pinned());
                }
                let reused = if img.reused {
                    format!(" [{}]", messages.reused())
                } else {
                    String::new()
                };
                printer.line(&format!(
                    "{} {}: {} ({}){reused}",
                    printer.paint("32", "✓"),
                    o.service,
                    refs.join(", "),
                    p.digest
                ));
            }
            (Ok(_), Some(Err(e @ PushError::Withheld { .. }))) => {
                printer.line(&format!("{} {}: {e}", printer.paint("33", "-"), o.service,))
            }
            (Ok(img), Some(Err(e))) => printer.line(&format!(
                "{} {}: {} {} ({}), {} — {e}",
                printer.paint("31", "✗"),
                o.service,
                messages.built(),
                seconds(o.elapsed),
                short_id(&img.id),
                messages.push_failed()
            )),
            (Ok(img), None) => {
                if mode == Mode::Quiet && !args.push {
                    for r in &refs {
                        println!("{r}");
                    }
                }
                let cancelled = if args.push {
                    format!(", {}", messages.cancelled())
                } else {
                    String::new()
                };
                printer.line(&format!(
                    "{} {}: {} {} ({}) {}{cancelled}",
                    printer.paint("32", "✓"),
                    o.service,
                    messages.built(),
                    seconds(o.elapsed),
                    short_id(&img.id),
                    refs.join(", ")
                ));
            }
            (Err(BuildError::Cancelled), _) => printer.line(&format!(
                "{} {}: {}",
                printer.paint("33", "-"),
                o.service,
                messages.cancelled()
            )),
            (Err(e), _) => printer.line(&format!(
                "{} {}: {} {} — {e}",
                printer.paint("31", "✗"),
                o.service,
                messages.failed(),
                seconds(o.elapsed)
            )),
        }
    }
    print_skipped(plan, printer, messages);

    let build_failures: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| matches!(&o.result, Err(e) if !matches!(e, BuildError::Cancelled)))
        .collect();
    let cancelled = outcomes
        .iter()
        .filter(|o| matches!(o.result, Err(BuildError::Cancelled)))
        .count();
    let push_errors: Vec<&PushError> = outcomes
        .iter()
        .filter_map(|o| o.push.as_ref()?.as_ref().err())
        .filter(|e| !matches!(e, PushError::Withheld { .. }))
        .collect();
    if mode != Mode::Json {
        for o in &build_failures {
            match &o.result {
                Err(BuildError::Failed { log, message, .. }) => {
                    eprintln!(
                        "\n----- {} {} -----\n{}",
                        messages.build_log_of(),
                        o.service,
                        log.trim_end()
                    );
                    eprintln!("----- {message} -----");
                }
                Err(e) => eprintln!("{}: {}: {e}", messages.error_heading(), o.service),
                Ok(_) => {}
            }
        }
        for e in &push_errors {
            match e {
                PushError::Auth { reference, message } => {
                    let registry = fleetflow_oci::Reference::parse(reference)
                        .map(|r| r.registry().to_string())
                        .unwrap_or_default();
                    print_auth_error(messages, &registry, reference, message);
                }
                PushError::Withheld { .. } => {}
                PushError::Failed { reference, message } => print_error(
                    messages,
                    &format!(
                        "{}\n{}: {message}",
                        messages.push_failed(),
                        messages.detail_label()
                    ),
                    Some(reference),
                    &[messages.push_failed_hint()],
                ),
            }
        }
    }
    // Every built service with its references, and its digest when it was pushed: the
    // same as the summary lines.
    let images: Vec<serde_json::Value> = outcomes
        .iter()
        .filter(|o| o.result.is_ok())
        .map(|o| {
            let pushed = o.push.as_ref().and_then(|p| p.as_ref().ok());
            json!({
                "service": o.service,
                "references": refs_of(o),
                "digest": pushed.map(|p| p.digest.clone()),
                "pinned": pushed.map(|p| p.pinned()),
                "reused": o.result.as_ref().is_ok_and(|i| i.reused),
            })
        })
        .collect();
    printer.json(json!({
        "event": "summary",
        "images": images,
        "built": outcomes.iter().filter(|o| o.result.is_ok()).count(),
        "pushed": outcomes.iter().filter(|o| matches!(o.push, Some(Ok(_)))).count(),
        "reused": outcomes.iter().filter(|o| o.result.as_ref().is_ok_and(|i| i.reused)).count(),
        "withheld": outcomes.iter().filter(|o| matches!(o.push, Some(Err(PushError::Withheld { .. })))).count(),
        "failed": build_failures.len(),
        "push_failed": push_errors.len(),
        "cancelled": cancelled,
        "skipped": plan.skipped.len(),
    }));
    if !build_failures.is_empty() || (cancelled > 0 && push_errors.is_empty()) {
        if mode != Mode::Json {
            eprintln!("{}: {}", messages.error_heading(), messages.builds_failed());
        }
        Code::BuildFailed
    } else if push_errors
        .iter()
        .any(|e| matches!(e, PushError::Auth { .. }))
    {
        Code::Auth
    } else if !push_errors.is_empty() {
        Code::Push
    } else {
        Code::Success
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

fn print_plan(
    plan: &BuildPlan,
    printer: &Printer,
    mode: Mode,
    messages: &Messages,
    store: Result<&CredentialStore, &CredentialError>,
    push: bool,
) {
    for b in &plan.builds {
        let refs: Vec<String> = b.references().iter().map(ToString::to_string).collect();
        if mode == Mode::Quiet {
            for r in &refs {
                println!("{r}");
            }
        } else if mode == Mode::Json {
            printer.json(json!({
                "event": "plan", "service": b.service, "references": refs,
                "image": b.repository.to_string(), "tags": b.tags,
                "dockerfile": b.spec.dockerfile, "context": b.spec.context,
                "target": b.spec.target, "build_args": b.spec.args.iter().map(|(k, _)| k).collect::<Vec<_>>(),
                "no_cache": b.no_cache, "base_registries": b.base_registries,
            }));
        } else {
            printer.line(&format!("{}: {}", b.service, refs.join(", ")));
            printer.line(&format!("  → Dockerfile: {}", b.spec.dockerfile.display()));
            printer.line(&format!("  → Context: {}", b.spec.context.display()));
            if let Some(t) = &b.spec.target {
                printer.line(&format!("  → Target: {t}"));
            }
            if !b.spec.args.is_empty() {
                let keys: Vec<&str> = b.spec.args.iter().map(|(k, _)| k.as_str()).collect();
                printer.line(&format!("  → Build args: {}", keys.join(", ")));
            }
        }
    }
    print_skipped(plan, printer, messages);
    // Which credentials each registry would get: the source, never the secret.
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
    if registries.is_empty() || mode == Mode::Quiet {
        return;
    }
    printer.line("Registries:");
    for (registry, use_) in registries {
        let source = match store {
            Ok(store) => match store.get(&registry) {
                Ok(Some((_, source))) => Ok(Some(source.to_string())),
                Ok(None) => Ok(None),
                Err(e) => Err(e.to_string()),
            },
            Err(e) => Err(e.to_string()),
        };
        printer.json(json!({
            "event": "registry", "registry": registry, "use": use_,
            "credentials": source.as_ref().ok().cloned().flatten(),
            "error": source.as_ref().err(),
        }));
        let text = match &source {
            Ok(Some(s)) => s.clone(),
            Ok(None) => "no credentials (anonymous)".to_string(),
            Err(e) => format!("credentials unreadable: {e}"),
        };
        printer.line(&format!("  {registry} ({use_}): {text}"));
    }
}
