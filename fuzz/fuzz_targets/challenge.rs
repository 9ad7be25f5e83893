//! `WWW-Authenticate` headers: parsing never panics.
#![no_main]

use fleetflow_registry::Challenge;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(c) = Challenge::parse(s) {
        assert!(!c.scheme.is_empty(), "a challenge has a scheme");
        for key in ["realm", "service", "scope", "error", ""] {
            let _ = c.param(key);
        }
        for (k, v) in &c.params {
            assert_eq!(c.param(k), Some(v.as_str()));
        }
    }
});
