//! `flow image import ARCHIVE [--tag REF]`: an archive into the cache, named.

use std::path::Path;
use std::time::Instant;

use fleetflow_store::transfer::{self, TransferError};

use super::context::{Context, parse_ref};
use super::failure::ImageFailure;
use crate::exit::Code;

pub(super) async fn run(ctx: &Context, path: &Path, tag: Option<&str>) -> Result<(), ImageFailure> {
    let tag = tag.map(parse_ref).transpose()?;
    let shown = path.display().to_string();
    if ctx.common.dry_run {
        return ctx.dry_run(|m| m.image_would_import(&shown), &[]);
    }
    let started = Instant::now();
    let store = ctx.open_store()?;
    ctx.printer
        .image_status(&ctx.messages().image_importing(&shown));
    let opts = ctx.import_options();
    let named = transfer::import_archive(&store, path, &opts, tag.as_ref(), &ctx.transfer())
        .await
        .map_err(|e| match e {
            TransferError::SeveralImages { path, count, .. } => {
                let path = path.display().to_string();
                ImageFailure::new(Code::Config, move |m| m.image_tag_names_one(&path, count))
            }
            e => e.into(),
        })?;
    for (name, entry) in named {
        ctx.printer
            .image_done("imported", &name, &entry.digest, started);
    }
    Ok(())
}
