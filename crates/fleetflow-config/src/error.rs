//! Configuration errors. Each located error names `file:line:column` in its message and
//! carries the source and span so `miette` can show the offending snippet.

use std::path::PathBuf;
use std::sync::Arc;

use miette::{Diagnostic, NamedSource, SourceSpan};

use crate::source::Location;

/// Everything that can go wrong between finding `flow.kdl` and a resolved stage.
#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum ConfigError {
    /// No `flow.kdl` where we looked.
    #[error("no flow.kdl found ({})", describe_search(searched, how))]
    #[diagnostic(
        code(flow::config::not_found),
        help(
            "create flow.kdl in the project root, pass -f/--file PATH, or set FLEET_PROJECT_ROOT"
        )
    )]
    NotFound {
        /// The file or folder that was searched.
        searched: PathBuf,
        /// `--file`, `FLEET_PROJECT_ROOT` or `search`.
        how: &'static str,
    },

    /// A configuration file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    #[diagnostic(code(flow::config::read))]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },

    /// The file is not valid KDL.
    #[error("{location}: KDL syntax error: {message}")]
    #[diagnostic(code(flow::config::syntax))]
    Syntax {
        /// Where.
        location: Location,
        /// What the parser said.
        message: String,
        /// Parser hint, if any.
        #[help]
        help: Option<String>,
        /// The file.
        #[source_code]
        src: NamedSource<Arc<String>>,
        /// The offending text.
        #[label("here")]
        span: SourceSpan,
    },

    /// A node has a value of the wrong type or an impossible value.
    #[error("{location}: {message}")]
    #[diagnostic(code(flow::config::invalid))]
    Invalid {
        /// Where.
        location: Location,
        /// What is wrong.
        message: String,
        /// What to do.
        #[help]
        help: Option<String>,
        /// The file.
        #[source_code]
        src: NamedSource<Arc<String>>,
        /// The offending value.
        #[label("here")]
        span: SourceSpan,
    },

    /// `{{ NAME }}` or `{NAME}` names a variable nobody defined.
    #[error("{location}: undefined variable `{name}`")]
    #[diagnostic(
        code(flow::config::undefined_variable),
        help(
            "define it in a `variables {{ {name} \"...\" }}` block (top level or in the stage), in .env or .env.<stage>, or in the environment"
        )
    )]
    UndefinedVariable {
        /// Where.
        location: Location,
        /// The variable.
        name: String,
        /// The file.
        #[source_code]
        src: NamedSource<Arc<String>>,
        /// The value using it.
        #[label("uses `{name}`")]
        span: SourceSpan,
    },

    /// The Dockerfile named in the file does not exist.
    #[error("{location}: Dockerfile not found: {} (service `{service}`)", resolved.display())]
    #[diagnostic(
        code(flow::config::missing_dockerfile),
        help("paths are relative to the project root {}; fix the `dockerfile` value or create the file", root.display())
    )]
    MissingDockerfile {
        /// Where.
        location: Location,
        /// The service.
        service: String,
        /// The path we looked at.
        resolved: PathBuf,
        /// Project root.
        root: PathBuf,
        /// The file.
        #[source_code]
        src: NamedSource<Arc<String>>,
        /// The `dockerfile` value.
        #[label("no such file")]
        span: SourceSpan,
    },

    /// The stage asked for is not defined.
    #[error("{}: unknown stage `{name}`", file.display())]
    #[diagnostic(code(flow::config::unknown_stage), help("{}", stage_help(available)))]
    UnknownStage {
        /// The stage asked for.
        name: String,
        /// The main file.
        file: PathBuf,
        /// Defined stages with their locations.
        available: Vec<(String, Location)>,
    },

    /// No stage was given and the file does not make the choice obvious.
    #[error("{}: no stage given", file.display())]
    #[diagnostic(
        code(flow::config::no_stage),
        help(
            "{} (pass it as `flow build <STAGE>`, -s/--stage or FLEET_STAGE)",
            stage_help(available)
        )
    )]
    NoStage {
        /// The main file.
        file: PathBuf,
        /// Defined stages.
        available: Vec<(String, Location)>,
    },

    /// A service asked for on the command line is not in the stage.
    #[error("{}: unknown service `{name}` in stage `{stage}`", file.display())]
    #[diagnostic(code(flow::config::unknown_service), help("services in stage `{stage}`: {}", available.join(", ")))]
    UnknownService {
        /// The service asked for.
        name: String,
        /// The stage.
        stage: String,
        /// The main file.
        file: PathBuf,
        /// Services in the stage.
        available: Vec<String>,
    },
}

fn describe_search(searched: &std::path::Path, how: &str) -> String {
    match how {
        "search" => format!(
            "searched {} and its parents for flow.kdl and .fleetflow/flow.kdl",
            searched.display()
        ),
        "--file" => format!("--file {} does not exist", searched.display()),
        env => format!("{env}={} has no flow.kdl", searched.display()),
    }
}

fn stage_help(available: &[(String, Location)]) -> String {
    if available.is_empty() {
        return "the file defines no stages; add `stage \"name\" { service \"...\" }`".into();
    }
    let list: Vec<String> = available
        .iter()
        .map(|(n, l)| format!("{n} ({l})"))
        .collect();
    format!("defined stages: {}", list.join(", "))
}
