//! `flow image ...`: the daemonless operations. Each subcommand resolves its settings
//! (references, credentials, options: [`context`]), calls one operation of
//! `fleetflow-store`, and renders through the image printer; a [`failure`] becomes an
//! exit code.

mod clean;
mod context;
mod copy;
mod failure;
mod import;
mod ls;
mod pull;
mod push;
mod rm;

use std::sync::Arc;

use context::Context;
use failure::ImageFailure;

use crate::cli::{ImageArgs, ImageCommand};
use crate::exit::Code;
use crate::messages::Messages;
use crate::printer::{Mode, Printer};

/// Run `flow image ...`.
pub async fn run(args: ImageArgs, messages: &Messages) -> Code {
    let mode = Mode::choose(args.common.progress, args.common.quiet);
    let printer = Arc::new(Printer::new(mode, *messages));
    let registries = needs_registries(&args.command);
    let result = match Context::new(args.common, Arc::clone(&printer), registries) {
        Ok(ctx) => dispatch(&ctx, args.command).await,
        Err(f) => Err(f),
    };
    printer.clear();
    match result {
        Ok(()) => Code::Success,
        Err(f) => {
            let english = f.message(&Messages::english());
            printer.image_failure(&f.render(messages), &english);
            f.code
        }
    }
}

/// Does the operation talk to registries (and so need Docker's credentials)?
fn needs_registries(command: &ImageCommand) -> bool {
    matches!(
        command,
        ImageCommand::Pull { .. } | ImageCommand::Push { .. } | ImageCommand::Copy { .. }
    )
}

async fn dispatch(ctx: &Context, command: ImageCommand) -> Result<(), ImageFailure> {
    match command {
        ImageCommand::Pull {
            reference,
            platforms,
        } => pull::run(ctx, &reference, &platforms).await,
        ImageCommand::Import { archive, tag } => import::run(ctx, &archive, tag.as_deref()).await,
        ImageCommand::Push {
            source,
            destination,
        } => push::run(ctx, &source, &destination).await,
        ImageCommand::Copy {
            source,
            destination,
            platforms,
        } => copy::run(ctx, &source, &destination, &platforms).await,
        ImageCommand::Ls { json } => ls::run(ctx, json),
        ImageCommand::Rm { references } => rm::run(ctx, &references),
        ImageCommand::Clean { all } => clean::run(ctx, all),
    }
}
