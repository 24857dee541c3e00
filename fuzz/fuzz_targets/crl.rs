//! Certificate revocation lists (RFC 5280 §5): `Crl::decode` and its accessors, then
//! `Crl::status_of` for the test PKI's code-signing leaf (a fixed serial) with the intermediate
//! as issuer, at a fixed instant.
//!
//! The test PKI's keys are generated afresh in each process, so no stored input carries a valid
//! issuer signature: the currency and scope checks and the entry walk after the signature check
//! are out of reach here (the crate's unit tests cover them).
#![no_main]

use std::hint::black_box;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use signet_common::UtcTime;
use signet_signature::Certificate;
use signet_test_support::pki;
use signet_trust::{Crl, RevocationLimits};

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

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let Ok(crl) = Crl::decode(data, &f.limits) else {
        return;
    };
    assert_eq!(
        crl.der(),
        data,
        "a decoded CRL keeps the bytes it was decoded from"
    );
    black_box(crl.this_update().to_string());
    black_box(crl.next_update().map(|t| t.to_string()));
    black_box(crl.expires().to_string());
    black_box(crl.issuer_der());
    for (certificate, issuer) in [(&f.certificate, &f.issuer), (&f.issuer, &f.issuer)] {
        if let Ok(status) = crl.status_of(certificate, issuer, NOW) {
            black_box(format!("{status:?}"));
        }
    }
});
