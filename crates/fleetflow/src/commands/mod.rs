//! One module per subcommand; each returns an exit [`Code`].

mod build;
mod image;

use crate::cli::{Cli, Command};
use crate::exit::Code;
use crate::messages::Messages;

/// Run the parsed command.
pub async fn dispatch(cli: Cli, messages: &Messages) -> Code {
    match cli.command {
        Command::Build(args) => build::run(args, messages).await,
        Command::Image(args) => image::run(args, messages).await,
    }
}

/// Print a diagnostic with its snippet (for config errors) to stderr.
pub(crate) fn print_diagnostic(messages: &Messages, heading: &str, diag: &dyn miette::Diagnostic) {
    use std::io::IsTerminal;
    let color = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let theme = if color {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let mut out = String::new();
    let handler = miette::GraphicalReportHandler::new_themed(theme);
    if handler.render_report(&mut out, diag).is_err() {
        out = diag.to_string();
    }
    eprintln!("{}: {heading}\n{out}", messages.error_heading());
}

/// Print a plain error with an optional target and remedies, in the spec's layout:
/// `Error: ...` / `Target: ...` / `How to fix:` / `  • ...`.
pub(crate) fn print_error(
    messages: &Messages,
    message: &str,
    target: Option<&str>,
    remedies: &[&str],
) {
    let mut text = format!("{}: {message}\n", messages.error_heading());
    if let Some(t) = target {
        text.push_str(&format!("\n{}: {t}\n", messages.target_label()));
    }
    if !remedies.is_empty() {
        text.push_str(&format!("\n{}:\n", messages.remedy_label()));
        for r in remedies {
            text.push_str(&format!("  • {r}\n"));
        }
    }
    eprint!("{text}");
}
