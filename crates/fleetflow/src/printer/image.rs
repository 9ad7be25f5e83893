//! `flow image` output: the printer's side of the store's [`TransferReporter`] (a live
//! byte counter on a terminal, a line per blob and manifest in plain mode, JSON events),
//! and the results: `REF@digest` on stdout, done lines, dry-run plans, `ls`, `rm` and
//! `clean` output, failures. Human text goes through the messages (en/ja); JSON events
//! and `REF@digest` lines are the same in every language. Progress goes to stderr.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use fleetflow_oci::Digest;
use fleetflow_store::cache::{CleanReport, RefEntry};
use fleetflow_store::transfer::{TransferEvent, TransferReporter};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use super::{Mode, Printer};
use crate::failure::Failure;

/// What the printer keeps of a transfer in progress.
pub(super) struct ImageView {
    mode: Mode,
    /// The byte counter on a terminal, made when the first image line needs it.
    bar: OnceLock<ProgressBar>,
    /// Bytes moved so far (for the done line).
    bytes: AtomicU64,
}

impl ImageView {
    pub(super) fn new(mode: Mode) -> ImageView {
        ImageView {
            mode,
            bar: OnceLock::new(),
            bytes: AtomicU64::new(0),
        }
    }

    /// The terminal's byte counter (tty mode only).
    fn bar(&self) -> Option<&ProgressBar> {
        (self.mode == Mode::Tty).then(|| {
            self.bar.get_or_init(|| {
                let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
                b.set_style(
                    ProgressStyle::with_template(
                        "{spinner} {msg} {bytes} ({binary_bytes_per_sec})",
                    )
                    .expect("template"),
                );
                b.enable_steady_tick(std::time::Duration::from_millis(120));
                b
            })
        })
    }

    pub(super) fn finish(&self) {
        if let Some(b) = self.bar.get() {
            b.finish_and_clear();
        }
    }
}

impl Printer {
    /// A progress line on stderr: above the counter on a terminal, plain mode only else.
    fn image_line(&self, text: &str) {
        match (self.image.bar(), self.mode) {
            (Some(b), _) => b.println(text),
            (None, Mode::Plain) => self.stderr(text),
            _ => {}
        }
    }

    /// What the command is doing now (the counter's message on a terminal).
    pub fn image_status(&self, text: &str) {
        if let Some(b) = self.image.bar() {
            b.set_message(text.to_string());
        } else if self.mode == Mode::Plain {
            self.stderr(text);
        }
    }

    /// An image moved: `operation` (`pulled`, `imported`, `pushed`, `copied`) of `name`,
    /// now `digest`; `REF@digest` on stdout.
    pub fn image_done(&self, operation: &str, name: &str, digest: &Digest, started: Instant) {
        let secs = started.elapsed().as_secs_f64();
        let bytes = self.image.bytes.load(Ordering::Relaxed);
        self.json(json!({"event": "done", "operation": operation, "ref": name, "digest": digest, "bytes": bytes, "seconds": secs}));
        if self.mode != Mode::Json {
            if self.mode != Mode::Quiet {
                let (size, secs) = (human(bytes), format!("{secs:.1}"));
                let line = self.messages.image_done(operation, name, &size, &secs);
                self.stderr(&line);
            }
            self.stdout(&format!(
                "{}@{digest}",
                name.split('@').next().unwrap_or(name)
            ));
        }
    }

    /// A dry run's plan: `english` in a JSON event, else `lines` on stdout.
    pub fn image_plan(&self, english: Vec<String>, lines: Vec<String>) {
        if self.mode == Mode::Json {
            self.json(json!({"event": "plan", "plan": english}));
        } else {
            for l in lines {
                self.stdout(&l);
            }
        }
    }

    /// `rm --dry-run`: a name that would be removed.
    pub fn image_would_remove(&self, name: &str) {
        self.stdout(&self.messages.image_would_remove(name));
    }

    /// `rm`: a name removed.
    pub fn image_removed(&self, name: &str) {
        self.json(json!({"event": "removed", "ref": name}));
        if self.mode != Mode::Json {
            self.stdout(&self.messages.image_removed(name));
        }
    }

    /// `clean --dry-run`.
    pub fn image_would_clean(&self, all: bool) {
        self.stdout(&self.messages.image_would_clean(all));
    }

    /// `clean`: what was removed.
    pub fn image_cleaned(&self, report: &CleanReport) {
        self.json(json!({"event": "cleaned", "blobs": report.blobs, "bytes": report.bytes}));
        if self.mode != Mode::Json {
            let freed = human(report.bytes);
            self.stdout(&self.messages.image_cleaned(report.blobs, &freed));
        }
    }

    /// `ls`: the cached names, as a table or (`as_json`) a JSON array.
    pub fn image_list(&self, refs: &BTreeMap<String, RefEntry>, as_json: bool) {
        if as_json {
            let list: Vec<serde_json::Value> = refs
                .iter()
                .map(|(n, e)| json!({"ref": n, "digest": e.digest, "media_type": e.media_type, "size": e.size, "source": e.source, "updated": e.updated}))
                .collect();
            self.stdout(&serde_json::to_string_pretty(&list).expect("json"));
            return;
        }
        let width = refs.keys().map(String::len).max().unwrap_or(9).max(9);
        self.stdout(&format!("{:width$}  {:19}  SOURCE", "REFERENCE", "DIGEST"));
        for (n, e) in refs {
            self.stdout(&format!("{n:width$}  {}  {}", e.digest.short(), e.source));
        }
    }

    /// A failed image command: a JSON `error` event (with the English `message_en`),
    /// then the failure on stderr.
    pub fn image_failure(&self, f: &Failure, message_en: &str) {
        self.json(json!({"event": "error", "message": message_en, "exit_code": f.code as u8}));
        self.failure(f);
    }
}

impl TransferReporter for Printer {
    fn report(&self, event: TransferEvent) {
        match event {
            TransferEvent::Blob {
                digest,
                size,
                action,
            } => {
                let word = self.messages.image_blob_action(action.as_str());
                self.image_line(&format!("  {} {:>10}  {word}", digest.short(), human(size)));
                self.json(json!({"event": "blob", "digest": digest, "size": size, "action": action.as_str()}));
            }
            TransferEvent::Bytes { count } => {
                self.image.bytes.fetch_add(count, Ordering::Relaxed);
                if let Some(b) = self.image.bar() {
                    b.inc(count);
                }
            }
            TransferEvent::Manifest { digest, reference } => {
                let line = self
                    .messages
                    .image_manifest_written(digest.short(), &reference);
                self.image_line(&line);
                self.json(json!({"event": "manifest", "digest": digest, "reference": reference}));
            }
        }
    }
}

/// `1.5 MiB`.
fn human(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i < units.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", units[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::Messages;

    #[test]
    fn sizes_are_binary_units_with_one_decimal() {
        assert_eq!(human(0), "0 B");
        assert_eq!(human(1023), "1023 B");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(5 << 30), "5.0 GiB");
    }

    #[test]
    fn bytes_events_add_up_for_the_done_line() {
        let p = Printer::new(Mode::Quiet, Messages::english());
        p.report(TransferEvent::Bytes { count: 3 });
        p.report(TransferEvent::Bytes { count: 4 });
        assert_eq!(p.image.bytes.load(Ordering::Relaxed), 7);
    }
}
