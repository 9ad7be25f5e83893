//! `flow image ls [--json]`: the cached names.

use super::context::Context;
use super::failure::ImageFailure;

pub(super) fn run(ctx: &Context, as_json: bool) -> Result<(), ImageFailure> {
    let store = ctx.open_store()?;
    ctx.printer.image_list(&store.refs()?, as_json);
    Ok(())
}
