//! RFC 3161 timestamps (spec §3.6): `Timestamp::parse` on a whole token (SignedData over
//! TSTInfo, ESS checks, the TSA's signature) and `TstInfo::parse` on the same bytes, which
//! reaches the TSTInfo decoder directly: mutated tokens rarely keep a valid TSA signature.
#![no_main]

use std::hint::black_box;

use libfuzzer_sys::fuzz_target;
use signet_signature::{Limits, SignedData, Timestamp, TstInfo};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    if let Ok(ts) = Timestamp::parse(data, &limits) {
        black_box(ts.lower_limit().to_string());
        black_box(ts.upper_limit().to_string());
        black_box(ts.certificate().subject());
        black_box(ts.signer_info());
        black_box(ts.to_der());
    }
    if let Ok(info) = TstInfo::parse(data) {
        black_box(info.policy_string());
        black_box(info.effective_accuracy_micros());
        black_box(format!("{info:?}"));
    }
    if let Ok(sd) = SignedData::parse(data, &limits) {
        black_box(format!("{sd:?}"));
    }
});
