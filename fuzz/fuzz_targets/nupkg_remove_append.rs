//! `signet_nupkg::remove_signature` and `append_signature` (spec §1.4, §1.5): the two writers
//! that rewrite a package's central directory and EOCD. Both must refuse what they cannot
//! rewrite correctly and never panic. What they do write is checked against the reader, with
//! the properties the fixture tests (`crates/nupkg/tests/fixtures/roundtrip.rs`) check on real
//! packages:
//!
//! * signing appends: the signed package's signature-stripped stream (what a verifier hashes,
//!   §1.6) is the unsigned file byte for byte (what the signer hashed), and removing the
//!   signature again gives the unsigned file back;
//! * removing yields the bytes the package hash of the signed package covers.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use signet_nupkg::{Limits, Package, append_signature, dos_date_time, remove_signature};

fn stripped(package: &[u8], limits: &Limits) -> Result<Vec<u8>, signet_nupkg::Error> {
    let mut pkg = Package::open(Cursor::new(package), limits)?;
    let mut out = Vec::new();
    pkg.stream_stripped(&mut |chunk| out.extend_from_slice(chunk))?;
    Ok(out)
}

/// Where two byte strings first differ, and their lengths, for assertion messages.
fn difference(a: &[u8], b: &[u8]) -> String {
    let at = a
        .iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    format!(
        "lengths {} and {}, first difference at byte {at}",
        a.len(),
        b.len()
    )
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();

    let mut unsigned = Vec::new();
    if remove_signature(Cursor::new(data), &mut unsigned, &limits).is_ok() {
        let pkg = Package::open(Cursor::new(&unsigned[..]), &limits);
        assert!(
            matches!(&pkg, Ok(p) if !p.has_signature_entry()),
            "remove_signature wrote a package that does not open unsigned: {pkg:?}"
        );
        if let Ok(hashed) = stripped(data, &limits) {
            assert!(
                hashed == unsigned,
                "remove_signature output differs from the signature-stripped stream: {}",
                difference(&unsigned, &hashed)
            );
        }
    }

    // The input doubles as the signature bytes: the container takes any content.
    let signature = data.get(..data.len().min(4096)).unwrap_or_default();
    let time = dos_date_time(2026, 1, 2, 3, 4, 5);
    let mut signed = Vec::new();
    if append_signature(Cursor::new(data), signature, time, &mut signed, &limits).is_ok() {
        let read = Package::open(Cursor::new(&signed[..]), &limits)
            .map(|mut p| (p.has_signature_entry(), p.read_signature()));
        assert!(
            matches!(&read, Ok((true, Ok(Some(s)))) if s == signature),
            "append_signature wrote a package whose signature does not read back: {read:?}"
        );
        let hashed = stripped(&signed, &limits);
        assert!(
            hashed.as_deref().is_ok_and(|h| h == data),
            "the signed package's stripped stream is not the unsigned file: {}",
            match &hashed {
                Ok(h) => difference(data, h),
                Err(e) => format!("{e:?}"),
            }
        );
        let mut again = Vec::new();
        let removed = remove_signature(Cursor::new(&signed[..]), &mut again, &limits);
        assert!(
            removed.is_ok() && again == data,
            "removing the appended signature does not restore the unsigned file: {removed:?}"
        );
    }
});
