//! `signet_signature::PrimarySignature::load` on a `.signature.p7s` (spec §2–§4): CMS
//! SignedData in DER or BER, NuGet's signed attributes, the RSA check over the signed-attribute
//! bytes as stored, timestamp tokens and the repository countersignature.
#![no_main]

use std::hint::black_box;

use libfuzzer_sys::fuzz_target;
use signet_signature::{Certificate, Limits, PrimarySignature, Timestamp};

fn exercise_certificate(cert: &Certificate) {
    black_box(cert.subject());
    black_box(cert.issuer());
    black_box(cert.serial_hex());
    black_box(cert.not_before().to_string());
    black_box(cert.not_after().to_string());
    black_box(cert.sha256_hex());
    let _ = black_box(cert.public_key());
    black_box(cert.rsa_key_bits());
    black_box(cert.extended_key_usages());
    black_box(cert.basic_constraints());
}

fn exercise_timestamp(ts: &Timestamp) {
    let info = ts.info();
    black_box(info.policy_string());
    black_box(info.effective_accuracy_micros());
    black_box(ts.lower_limit().to_string());
    black_box(ts.upper_limit().to_string());
    black_box(ts.to_der());
    exercise_certificate(ts.certificate());
    for c in ts.certificates() {
        exercise_certificate(c);
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(sig) = PrimarySignature::load(data, &Limits::default()) else {
        return;
    };
    black_box(sig.signature_type().name());
    black_box(sig.content().hash_algorithm());
    black_box(sig.content().to_bytes());
    black_box(sig.signing_time().map(|t| t.to_string()));
    black_box(sig.repository_info());
    let _ = black_box(sig.verify_signature_value());
    exercise_certificate(sig.certificate());
    for c in sig.certificates() {
        exercise_certificate(c);
    }
    black_box(sig.timestamp_tokens().len());
    if let Ok(Some(ts)) = sig.first_timestamp() {
        exercise_timestamp(&ts);
    }
    if let Ok(Some(counter)) = sig.repository_countersignature() {
        black_box(counter.signing_time().to_string());
        black_box(counter.repository_info());
        black_box(counter.signature_value());
        black_box(counter.timestamp_count());
        let _ = black_box(counter.verify_signature_value(&sig));
        if let Some(c) = counter.certificate() {
            exercise_certificate(c);
        }
        if let Ok(Some(ts)) = counter.first_timestamp() {
            exercise_timestamp(&ts);
        }
    }
    black_box(format!("{sig:?}"));
});
