//! `SignatureContent::parse`: the `Version:1 / <oid>-Hash:` text a primary signature signs
//! (spec §2.2). A parsed content must encode back to bytes that parse to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signet_signature::SignatureContent;

fuzz_target!(|data: &[u8]| {
    if let Ok(content) = SignatureContent::parse(data) {
        let again = SignatureContent::parse(&content.to_bytes());
        assert!(
            matches!(&again, Ok(c) if c.hash_algorithm() == content.hash_algorithm() && c.hash() == content.hash()),
            "signature content does not round-trip: {content:?} -> {again:?}"
        );
    }
});
