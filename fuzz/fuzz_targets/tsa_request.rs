//! The timestamp authority's side of RFC 3161: `TimeStampReq::from_der_bytes` and
//! `TimeStampResp::from_der_bytes` on the input, and `Authority::respond` on it with an
//! authority built once from the test PKI's TSA certificate at a fixed instant. `respond`
//! never fails, so its answer must always decode as a `TimeStampResp`; a granted answer must
//! carry a token and be for a request that decodes.
#![no_main]

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use signet_common::UtcTime;
use signet_keys::SoftwareSigner;
use signet_test_support::pki;
use signet_tsa::{Authority, AuthorityConfig, TimeStampReq, TimeStampResp};

/// 2026-05-01 12:00:00 UTC: inside the validity of every test PKI certificate.
const NOW: UtcTime = UtcTime::from_unix_seconds(1_777_636_800);

/// The serial-number state in the temporary directory. The authority locks its state file, so
/// a second fuzzer running at the same time falls back to a file of its own.
fn authority() -> &'static Authority {
    static AUTHORITY: OnceLock<Authority> = OnceLock::new();
    AUTHORITY.get_or_init(|| {
        let p = pki();
        let start = |state: PathBuf| {
            let signer = match SoftwareSigner::from_key_and_chain(
                p.timestamping.key_pem().as_bytes(),
                None,
                p.chain_pem(&p.timestamping).as_bytes(),
            ) {
                Ok(s) => s,
                Err(e) => panic!("TSA signer from the test PKI: {e}"),
            };
            Authority::new(Box::new(signer), AuthorityConfig::new(state))
        };
        let dir = std::env::temp_dir();
        start(dir.join("signet-fuzz-tsa.serial"))
            .or_else(|_| start(dir.join(format!("signet-fuzz-tsa-{}.serial", std::process::id()))))
            // Not input-dependent: the test PKI's TSA certificate and a fresh state file.
            .unwrap_or_else(|e| panic!("timestamp authority: {e}"))
    })
}

fuzz_target!(|data: &[u8]| {
    let authority = authority();
    let request = TimeStampReq::from_der_bytes(data);
    if let Ok(req) = &request {
        let _ = black_box(req.to_der_bytes());
    }
    if let Ok(resp) = TimeStampResp::from_der_bytes(data) {
        black_box(resp.status.status.is_granted());
        let _ = black_box(resp.to_der_bytes());
    }

    let answer = authority.respond(data, NOW);
    let resp = match TimeStampResp::from_der_bytes(&answer) {
        Ok(r) => r,
        Err(e) => panic!("Authority::respond wrote something that is no TimeStampResp: {e}"),
    };
    if resp.status.status.is_granted() {
        assert!(resp.token.is_some(), "a granted response without a token");
        assert!(
            request.is_ok(),
            "a request that does not decode was granted: {:?}",
            resp.status
        );
    } else {
        assert!(resp.token.is_none(), "a refused response with a token");
    }
});
