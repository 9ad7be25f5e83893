//! The `flow` command line: parses arguments ([`cli`]), runs one command
//! ([`commands`]), prints through the [`output`] printer in the user's language
//! ([`messages`]) and maps every error to an exit code ([`exit`]). Library crates do the
//! work: `fleetflow-config` (flow.kdl) → `fleetflow-build` (plan, engine) → report.

pub mod cli;
pub mod commands;
pub mod exit;
pub mod failure;
pub mod messages;
pub mod metadata;
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
            eprintln!("{}: {e}", messages.error_heading());
            return exit::Code::Other.into();
        }
    };
    let code = runtime.block_on(commands::dispatch(cli, &messages));
    code.into()
}
