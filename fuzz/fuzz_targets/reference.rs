//! Image references, tags and digests: parsing never panics, and a parsed reference
//! prints to a string that parses back to the same reference.
#![no_main]

use fleetflow_oci::{Digest, Reference, validate_tag};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };

    if let Ok(r) = Reference::parse(s) {
        let _ = r.canonical();
        let _ = r.api_path();
        let _ = r.target();
        let _ = r.repository();
        let _ = r.registry();
        let printed = r.to_string();
        let again = Reference::parse(&printed).unwrap_or_else(|e| {
            panic!("`{s}` parsed to {r:?}, printed as `{printed}`, which does not parse: {e}")
        });
        assert_eq!(again, r, "`{s}` printed as `{printed}` parses differently");
        if let Some(tag) = r.tag.as_deref() {
            validate_tag(tag).expect("a parsed tag is a valid tag");
        }
        let retagged = r.with_tag("v1").to_string();
        Reference::parse(&retagged)
            .unwrap_or_else(|e| panic!("`{retagged}` (from `{s}`) does not parse: {e}"));
    }

    if validate_tag(s).is_ok() {
        let name = format!("app:{s}");
        let r = Reference::parse(&name)
            .unwrap_or_else(|e| panic!("valid tag `{s}` but `{name}` does not parse: {e}"));
        assert_eq!(r.tag.as_deref(), Some(s));
    }

    if let Ok(d) = Digest::parse(s) {
        assert_eq!(d.as_str(), s);
        assert_eq!(d.hex().len(), 64);
        assert!(s.starts_with(d.short()));
        assert_eq!(Digest::parse(&d.to_string()).as_ref(), Ok(&d));
    }
});
