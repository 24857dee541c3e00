//! The whole verification pipeline (spec §5): `signet_trust::verify_package` with the verify
//! command's settings, offline revocation and a fixed instant, against the bundled trust
//! store. Every outcome is a report; the report must also serialize.
#![no_main]

use std::hint::black_box;
use std::io::Cursor;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use signet_common::UtcTime;
use signet_trust::{RevocationMode, TrustStore, VerifierSettings, VerifyOptions, verify_package};

/// 2026-11-18: inside the validity of the bundled roots, after every fixture was signed.
const NOW: UtcTime = UtcTime::from_unix_seconds(1_795_000_000);

fn trust() -> &'static TrustStore {
    static TRUST: OnceLock<TrustStore> = OnceLock::new();
    TRUST.get_or_init(|| match TrustStore::bundled() {
        Ok(t) => t,
        // Not input-dependent: the bundled snapshot is built into the library.
        Err(e) => panic!("bundled trust store: {e}"),
    })
}

fn options() -> &'static VerifyOptions {
    static OPTIONS: OnceLock<VerifyOptions> = OnceLock::new();
    OPTIONS.get_or_init(|| {
        VerifyOptions::new(
            VerifierSettings::verify_command(RevocationMode::Offline),
            NOW,
        )
    })
}

fuzz_target!(|data: &[u8]| {
    let report = verify_package(Cursor::new(data), trust(), options());
    black_box(report.error_count());
    black_box(report.warning_count());
    if let Some(proof) = report.verified() {
        black_box(proof.content_hash());
        black_box(proof.signed());
        black_box(proof.signer_fingerprints());
    }
    let json = serde_json::to_string(&report);
    assert!(json.is_ok(), "report does not serialize: {json:?}");
});
