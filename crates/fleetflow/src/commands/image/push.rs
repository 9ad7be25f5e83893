//! `flow image push SOURCE DEST`: a tar or OCI layout (imported and uploaded at once),
//! or a cached image, to a registry.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use fleetflow_store::cache::CacheError;
use fleetflow_store::transfer::{self, TransferError};

use super::context::{Context, parse_destination, parse_ref};
use super::failure::ImageFailure;
use crate::exit::Code;

pub(super) async fn run(
    ctx: &Context,
    source: &str,
    destination: &str,
) -> Result<(), ImageFailure> {
    let dest = parse_destination(destination, "push")?;
    let path = Path::new(source);
    let from_archive = path.exists();
    let dest_name = dest.canonical();
    if ctx.common.dry_run {
        let shown = path.display().to_string();
        let cached = (!from_archive)
            .then(|| parse_ref(source).map(|r| r.canonical()))
            .transpose()?;
        let what = |m: &crate::messages::Messages| match &cached {
            None => m.image_would_push_archive(&shown, &dest_name),
            Some(c) => m.image_would_push_cached(c, &dest_name),
        };
        return ctx.dry_run(what, &[(&dest, true)]);
    }
    let started = Instant::now();
    let store = ctx.open_store()?;
    // A cached source is resolved before any registry is contacted.
    let cached = if from_archive {
        None
    } else {
        let key = parse_ref(source)?.canonical();
        match store.get_ref(&key) {
            Ok(e) => Some(e),
            Err(CacheError::Missing(_)) => {
                let (s1, s2) = (source.to_string(), source.to_string());
                return Err(ImageFailure::new(Code::NotFound, move |m| {
                    m.image_source_missing(&s1, &key)
                })
                .hint(move |m| m.image_pull_first_hint(&s2))
                .hint(|m| m.image_ls_hint().into()));
            }
            Err(e) => return Err(e.into()),
        }
    };
    let status = ctx.messages().image_pushing(source, &dest_name);
    ctx.printer.image_status(&status);
    let client = Arc::new(ctx.connect(&dest, true).await?);
    let t = ctx.transfer();
    let digest = match cached {
        Some(root) => transfer::push_cached(&client, &store, &dest, &root, &t).await?,
        None => {
            let opts = ctx.import_options();
            transfer::push_archive(&client, &store, path, &dest, &opts, &t)
                .await
                .map_err(several_images)?
        }
    };
    ctx.printer
        .image_done("pushed", &dest_name, &digest, started);
    Ok(())
}

/// An archive of several images cannot be pushed to one reference.
fn several_images(e: TransferError) -> ImageFailure {
    match e {
        TransferError::SeveralImages { path, count, names } => {
            let (path, names) = (path.display().to_string(), names.join(", "));
            ImageFailure::new(Code::Config, move |m| {
                m.image_push_one_by_name(&path, count, &names)
            })
        }
        e => e.into(),
    }
}
