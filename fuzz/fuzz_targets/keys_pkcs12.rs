//! Key loading: `SoftwareSigner::from_pkcs12` (PFX: legacy 3DES/RC2 and PBES2/AES, MAC check,
//! bags) and `SoftwareSigner::from_key_and_chain` with the same bytes as key and chain (PEM and
//! DER detection, PKCS#8/PKCS#1, chain splitting and leaf selection).
#![no_main]

use std::hint::black_box;

use libfuzzer_sys::fuzz_target;
use signet_keys::{Signer, SoftwareSigner};

fn exercise(signer: &SoftwareSigner) {
    black_box(signer.leaf_certificate());
    black_box(signer.certificate_chain().len());
    black_box(format!("{signer:?}"));
}

fuzz_target!(|data: &[u8]| {
    // The seeds are PFX files exported with this password.
    if let Ok(signer) = SoftwareSigner::from_pkcs12(data, "password") {
        exercise(&signer);
    }
    if let Ok(signer) = SoftwareSigner::from_key_and_chain(data, None, data) {
        exercise(&signer);
    }
});
