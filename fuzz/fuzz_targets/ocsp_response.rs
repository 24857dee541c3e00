//! OCSP (RFC 6960) as the revocation checker reads it: `OcspResponse::decode` and its basic
//! response, `BasicOcspResponse::decode` on the same bytes (mutated responses rarely keep a
//! well-formed outer wrapper), and `check_response` for the test PKI's code-signing leaf with
//! the intermediate as issuer at a fixed instant, with and without a nonce; then
//! `OcspRequest::decode` on the same bytes, as the development PKI's responder reads requests.
//!
//! The test PKI's keys are generated afresh in each process, so no stored input carries a valid
//! responder signature: everything after the signature check is out of reach here.
#![no_main]

use std::hint::black_box;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use signet_common::UtcTime;
use signet_signature::Certificate;
use signet_test_support::pki;
use signet_trust::RevocationLimits;
use signet_trust::ocsp::{BasicOcspResponse, OcspRequest, OcspResponse, check_response, utc_time};

/// 2026-05-01 12:00:00 UTC: inside the validity of every test PKI certificate.
const NOW: UtcTime = UtcTime::from_unix_seconds(1_777_636_800);

struct Fixture {
    certificate: Certificate,
    issuer: Certificate,
    limits: RevocationLimits,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let p = pki();
        // Not input-dependent: the test PKI's own certificates.
        let cert = |der: &[u8]| match Certificate::from_der(der) {
            Ok(c) => c,
            Err(e) => panic!("test PKI certificate: {e}"),
        };
        Fixture {
            certificate: cert(&p.code_signing.cert_der),
            issuer: cert(&p.intermediate.cert_der),
            limits: RevocationLimits::default(),
        }
    })
}

fn exercise_basic(basic: &BasicOcspResponse, f: &Fixture) {
    black_box(basic.nonce());
    let data = &basic.tbs_response_data;
    black_box(data.responder_id.identifies(&f.issuer));
    black_box(data.responder_id.identifies(&f.certificate));
    black_box(utc_time(&data.produced_at));
    for single in &data.responses {
        black_box(single.cert_id.matches(&f.certificate, &f.issuer));
        let _ = black_box(single.cert_id.to_der_bytes());
        black_box(utc_time(&single.this_update));
        black_box(single.next_update.as_ref().map(utc_time));
    }
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    if let Ok(response) = OcspResponse::decode(data, &f.limits) {
        black_box(response.response_status.name());
        let _ = black_box(response.to_der_bytes());
        if let Ok(basic) = response.basic(&f.limits) {
            exercise_basic(&basic, f);
        }
    }
    if let Ok(basic) = BasicOcspResponse::decode(data, &f.limits) {
        exercise_basic(&basic, f);
    }
    for nonce in [None, Some(&[0x5a; 16][..])] {
        if let Ok(answer) = check_response(data, &f.certificate, &f.issuer, NOW, nonce, &f.limits) {
            black_box(answer.expires());
            black_box(format!("{answer:?}"));
        }
    }
    if let Ok(request) = OcspRequest::decode(data, &f.limits) {
        black_box(request.nonce());
        let _ = black_box(request.to_der_bytes());
        for r in &request.tbs_request.request_list {
            black_box(r.req_cert.matches(&f.certificate, &f.issuer));
        }
    }
});
