//! One module per subcommand; each resolves its settings, calls one library operation,
//! renders the result through the printer and returns an exit [`Code`].

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
