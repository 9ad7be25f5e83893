//! Settings of `flow build`, resolved from the command line, the environment and
//! `flow.kdl`: the stage (with its services selected) and the build plan.

use fleetflow_build::{BuildPlan, PlanOptions, TagValues, oci_labels};
use fleetflow_config::{ConfigError, Project, ResolvedStage, discover};

use crate::cli::BuildArgs;
use crate::exit::Code;
use crate::failure::{self, Failure};
use crate::printer::Printer;

/// The stage the arguments name, resolved, with the services they name selected. A
/// configuration error is printed with its snippet (exit 2).
pub fn load_stage(args: &BuildArgs, printer: &Printer) -> Result<ResolvedStage, Code> {
    let m = printer.messages();
    load(args, printer).map_err(|e| {
        printer.diagnostic(m.config_invalid(), e.as_ref());
        Code::Config
    })
}

fn load(args: &BuildArgs, printer: &Printer) -> Result<ResolvedStage, Box<ConfigError>> {
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
        printer.warning(&w.to_string());
    }
    let mut resolved = project.resolve_stage(stage.as_deref(), std::env::vars())?;
    resolved.select(&services)?;
    Ok(resolved)
}

/// The build plan: `--build-arg`s over the file's, tags from `--tag`, templates or the
/// file, OCI labels from git.
pub fn plan(
    args: &BuildArgs,
    stage: &mut ResolvedStage,
    printer: &Printer,
) -> Result<BuildPlan, Failure> {
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
    BuildPlan::new(stage, &options).map_err(|e| failure::plan(printer.messages(), e))
}
