//! X.509 certificates as signet reads them: `Certificate::from_der` and every accessor the
//! chain builder and the reports use, `Certificate::from_pem_bundle`, and the DER certificate
//! indexer used for trust-store files; and the server's certificate-upload check
//! (`signet_push_rules::check_certificate_upload`: framing sniff, parse, lint).
#![no_main]

use std::hint::black_box;

use libfuzzer_sys::fuzz_target;
use signet_common::HashAlgorithm;
use signet_signature::{Certificate, index_der_certificates, oids};

fn exercise(cert: &Certificate) {
    black_box(cert.subject());
    black_box(cert.issuer());
    black_box(cert.subject_der());
    black_box(cert.issuer_der());
    black_box(cert.serial_hex());
    black_box(cert.not_before().to_string());
    black_box(cert.not_after().to_string());
    black_box(cert.fingerprint(HashAlgorithm::Sha384));
    black_box(cert.sha1_hex());
    black_box(cert.signature_algorithm());
    black_box(cert.signature_value());
    let _ = black_box(cert.public_key());
    black_box(cert.rsa_key_bits());
    black_box(cert.extended_key_usages());
    black_box(cert.extended_key_usage_critical());
    black_box(cert.allows_eku(&oids::EKU_CODE_SIGNING));
    black_box(cert.subject_key_identifier());
    black_box(cert.authority_key_identifier());
    black_box(cert.basic_constraints());
    black_box(cert.key_usage_allows_cert_sign());
    black_box(cert.is_self_issued());
    black_box(cert.is_signed_by(cert));
    black_box(cert.issuer_name_reencoded());
}

fuzz_target!(|data: &[u8]| {
    if let Ok(cert) = Certificate::from_der(data) {
        exercise(&cert);
    }
    if let Ok(certs) = Certificate::from_pem_bundle(data) {
        for cert in &certs {
            exercise(cert);
        }
    }
    let _ = black_box(index_der_certificates(data));
    let roots = signet_trust::TrustStore::empty();
    let now = signet_common::UtcTime::from_unix_seconds(1_800_000_000);
    let _ = black_box(signet_push_rules::check_certificate_upload(
        "upload.cer",
        data,
        &roots,
        &[],
        now,
    ));
});
