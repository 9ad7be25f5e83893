//! How a transfer runs: concurrency, forced uploads, where its events go, which
//! platforms of an index it takes.

use std::sync::Arc;

use super::report::{NoReporter, TransferEvent, TransferReporter};
use fleetflow_oci::Platform;
use fleetflow_registry::client::ByteCounter;

/// How a transfer runs and reports.
#[derive(Clone)]
pub struct Transfer {
    /// Blobs at once.
    pub jobs: usize,
    /// Upload blobs even when the registry has them.
    pub force_upload: bool,
    /// Receives every event.
    pub reporter: Arc<dyn TransferReporter>,
}

impl Default for Transfer {
    fn default() -> Self {
        Transfer {
            jobs: 8,
            force_upload: false,
            reporter: Arc::new(NoReporter),
        }
    }
}

impl Transfer {
    /// Report `event`.
    pub fn report(&self, event: TransferEvent) {
        self.reporter.report(event);
    }

    /// The registry client's byte callback, reporting [`TransferEvent::Bytes`].
    pub(crate) fn byte_counter(&self) -> ByteCounter {
        let reporter = Arc::clone(&self.reporter);
        Arc::new(move |count| reporter.report(TransferEvent::Bytes { count }))
    }
}

/// Which images of an index to pull.
#[derive(Debug, Clone)]
pub enum PlatformChoice {
    /// The one for this machine.
    Host,
    /// This one.
    One(Platform),
    /// All of them (the index is kept).
    All,
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Default)]
    struct Collect(Mutex<Vec<TransferEvent>>);

    impl TransferReporter for Collect {
        fn report(&self, event: TransferEvent) {
            self.0.lock().unwrap().push(event);
        }
    }

    #[test]
    fn the_byte_counter_reports_bytes_events_to_the_reporter() {
        let collect = Arc::new(Collect::default());
        let t = Transfer {
            reporter: Arc::clone(&collect) as Arc<dyn TransferReporter>,
            ..Transfer::default()
        };
        let counter = t.byte_counter();
        counter(10);
        counter(32);
        assert_eq!(
            *collect.0.lock().unwrap(),
            vec![
                TransferEvent::Bytes { count: 10 },
                TransferEvent::Bytes { count: 32 }
            ]
        );
        // The default reporter takes events and does nothing.
        Transfer::default().byte_counter()(5);
    }
}
