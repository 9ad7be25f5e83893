//! `flow image pull REF`: into the cache, recorded under its canonical name.

use std::time::Instant;

use fleetflow_store::transfer;

use super::context::{Context, parse_ref, platform_choice};
use super::failure::ImageFailure;
use crate::cli::PlatformArgs;

pub(super) async fn run(
    ctx: &Context,
    reference: &str,
    platforms: &PlatformArgs,
) -> Result<(), ImageFailure> {
    let r = parse_ref(reference)?;
    let choice = platform_choice(platforms)?;
    let name = r.canonical();
    if ctx.common.dry_run {
        return ctx.dry_run(|m| m.image_would_pull(&name), &[(&r, true)]);
    }
    let started = Instant::now();
    let store = ctx.open_store()?;
    ctx.printer
        .image_status(&ctx.messages().image_pulling(&name));
    let client = ctx.connect(&r, true).await?;
    let entry = transfer::pull_image(&client, &store, &r, &choice, &ctx.transfer()).await?;
    ctx.printer
        .image_done("pulled", &name, &entry.digest, started);
    Ok(())
}
