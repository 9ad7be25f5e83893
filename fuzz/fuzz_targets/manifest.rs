//! Manifests, indexes and platform strings: parsing never panics, platforms round-trip.
#![no_main]

use fleetflow_oci::manifest::{self, Manifest, Platform};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for content_type in [
        None,
        Some(manifest::OCI_INDEX),
        Some("text/plain; charset=x"),
    ] {
        if let Ok(m) = Manifest::parse(data, content_type) {
            let _ = m.media_type();
        }
    }

    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(p) = Platform::parse(s) {
        let printed = p.to_string();
        assert_eq!(
            Platform::parse(&printed).as_ref(),
            Some(&p),
            "`{s}` -> `{printed}`"
        );
        let _ = p.matches(&Platform::host());
    }
});
