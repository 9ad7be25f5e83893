//! `flow build [--push]`: settings → plan → push access → engine → report.

use std::sync::Arc;

use fleetflow_build::auth::{base_credentials, check_registries, push_access};
use fleetflow_build::{Engine, RunOptions, RunSummary, build_all};
use fleetflow_registry::CredentialStore;

use crate::cli::BuildArgs;
use crate::exit::Code;
use crate::failure::{self, Failure};
use crate::messages::Messages;
use crate::printer::{Mode, Printer};
use crate::{metadata, settings};

/// Run `flow build`.
pub async fn run(args: BuildArgs, messages: &Messages) -> Code {
    let mode = Mode::choose(args.progress, args.quiet);
    let printer = Printer::new(mode, *messages);
    let mut stage = match settings::load_stage(&args, &printer) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let plan = match settings::plan(&args, &mut stage, &printer) {
        Ok(p) => p,
        Err(f) => return fail(&printer, &f),
    };
    let printer = Arc::new(printer.with_build(&plan.builds, &plan.root, args.push));
    // One store for the whole run, so each credential helper runs at most once per registry.
    let store = CredentialStore::from_env();
    if args.dry_run {
        if args.push
            && let Err(e) = check_registries(&plan)
        {
            return fail(&printer, &failure::push_access(messages, e));
        }
        printer.build_plan(&plan, store.as_ref(), args.push);
        return Code::Success;
    }
    if plan.builds.is_empty() {
        printer.nothing_to_build(&plan);
        return Code::Success;
    }
    let (push, push_clients) = if args.push {
        match push_access(&plan, store.as_ref()).await {
            Ok(a) => (Some(Arc::new(a.credentials)), a.clients),
            Err(e) => return fail(&printer, &failure::push_access(messages, e)),
        }
    } else {
        (None, Default::default())
    };
    let engine = match Engine::connect().await {
        Ok(e) => e,
        Err(e) => {
            let f = Failure::new(Code::Other, messages.engine_unreachable())
                .target(e.to_string())
                .hint(messages.engine_hint());
            return fail(&printer, &f);
        }
    };
    let (base, warnings) = base_credentials(&plan, store.as_ref());
    for e in warnings {
        printer.warning(&format!("{}: {e}", messages.credentials_unreadable()));
    }
    let run_options = RunOptions {
        jobs: args
            .jobs
            .map_or_else(fleetflow_build::default_jobs, usize::from),
        fail_fast: args.fail_fast,
        push,
        push_clients,
        base_credentials: Arc::new(base),
        // --pull asks for newer base images, which the input digest cannot know about.
        reuse: !args.no_cache && !args.pull,
        atomic: args.atomic,
    };
    let outcomes = build_all(&engine, &plan, &run_options, printer.clone()).await;
    let summary = RunSummary::new(&plan, outcomes, args.push);
    printer.run_summary(&summary);
    let mut code = Code::from(summary.exit_class());
    for (path, result) in metadata::write_all(&summary, args.metadata_file.as_deref()) {
        if let Err(e) = result {
            printer.failure(&Failure::new(
                Code::Other,
                format!("{}: {e}", path.display()),
            ));
            if code == Code::Success {
                code = Code::Other;
            }
        }
    }
    code
}

fn fail(printer: &Printer, f: &Failure) -> Code {
    printer.failure(f);
    f.code
}
