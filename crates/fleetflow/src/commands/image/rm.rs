//! `flow image rm REF...`: forget cached names (their blobs go at the next `clean`).

use super::context::{Context, parse_ref};
use super::failure::ImageFailure;
use crate::exit::Code;

pub(super) fn run(ctx: &Context, references: &[String]) -> Result<(), ImageFailure> {
    let store = ctx.open_store()?;
    let mut missing = Vec::new();
    for r in references {
        // As `ls` shows it, or as written for pull.
        let key = match store.refs()?.contains_key(r.as_str()) {
            true => r.clone(),
            false => parse_ref(r)?.canonical(),
        };
        if ctx.common.dry_run {
            ctx.printer.image_would_remove(&key);
        } else if store.remove_ref(&key)? {
            ctx.printer.image_removed(&key);
        } else {
            missing.push(key);
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let missing = missing.join(", ");
    Err(
        ImageFailure::new(Code::NotFound, move |m| m.image_not_in_cache(&missing))
            .hint(|m| m.image_ls_hint().into()),
    )
}
