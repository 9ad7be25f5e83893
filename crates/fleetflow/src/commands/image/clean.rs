//! `flow image clean [--all]`: remove unreferenced (or all) blobs and partial downloads.

use std::sync::Arc;

use super::context::Context;
use super::failure::ImageFailure;

pub(super) fn run(ctx: &Context, all: bool) -> Result<(), ImageFailure> {
    if ctx.common.dry_run {
        ctx.printer.image_would_clean(all);
        return Ok(());
    }
    let store = Arc::try_unwrap(ctx.open_store()?).expect("only owner");
    let report = store.clean(all)?;
    ctx.printer.image_cleaned(&report);
    Ok(())
}
