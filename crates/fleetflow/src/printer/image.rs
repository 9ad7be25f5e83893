//! Progress of `flow image` transfers (placeholder until the store's reporter lands).

use super::Mode;

/// What the printer keeps of a transfer in progress.
pub(super) struct ImageView {
    _mode: Mode,
}

impl ImageView {
    pub(super) fn new(mode: Mode) -> ImageView {
        ImageView { _mode: mode }
    }

    pub(super) fn finish(&self) {}
}
