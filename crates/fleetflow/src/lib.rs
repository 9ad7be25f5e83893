//! The `flow` command line: parses arguments ([`cli`]), resolves settings ([`settings`]),
//! runs one thin command ([`commands`]), renders every library's events and results
//! through the one [`printer`] in the user's language ([`messages`]), and maps every
//! [`failure`] to an exit code ([`exit`]); [`metadata`] writes release metadata. Library
//! crates do the work: config (flow.kdl) → build (plan, engine) / store (daemonless
//! transfers) → registry → oci.

#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod cli;
pub mod commands;
pub mod exit;
pub mod failure;
pub mod messages;
pub mod metadata;
// The printer is the one module that writes to stdout and stderr.
#[allow(clippy::print_stdout, clippy::print_stderr)]
pub mod printer;
pub mod settings;

use clap::Parser;

/// Parse the command line, run, and return the process exit code.
pub fn run() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    let messages = messages::Messages::from_env();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            printer::Printer::new(printer::Mode::Plain, messages)
                .stderr(&format!("{}: {e}", messages.error_heading()));
            return exit::Code::Other.into();
        }
    };
    let code = runtime.block_on(commands::dispatch(cli, &messages));
    code.into()
}
