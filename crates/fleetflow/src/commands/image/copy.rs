//! `flow image copy SRC DEST`: registry to registry (mounted within one registry).

use std::time::Instant;

use fleetflow_store::transfer;

use super::context::{Context, parse_destination, parse_ref, platform_choice};
use super::failure::ImageFailure;
use crate::cli::PlatformArgs;

pub(super) async fn run(
    ctx: &Context,
    source: &str,
    destination: &str,
    platforms: &PlatformArgs,
) -> Result<(), ImageFailure> {
    let src = parse_ref(source)?;
    let dest = parse_destination(destination, "copy")?;
    let choice = platform_choice(platforms)?;
    let (src_name, dest_name) = (src.canonical(), dest.canonical());
    if ctx.common.dry_run {
        let what = |m: &crate::messages::Messages| m.image_would_copy(&src_name, &dest_name);
        return ctx.dry_run(what, &[(&src, false), (&dest, true)]);
    }
    let started = Instant::now();
    let store = ctx.open_store()?;
    let status = ctx.messages().image_copying(&src_name, &dest_name);
    ctx.printer.image_status(&status);
    let src_client = ctx.connect(&src, false).await?;
    let dest_client = ctx.connect(&dest, true).await?;
    let t = ctx.transfer();
    let digest =
        transfer::copy(&src_client, &dest_client, &store, &src, &dest, &choice, &t).await?;
    ctx.printer
        .image_done("copied", &dest_name, &digest, started);
    Ok(())
}
