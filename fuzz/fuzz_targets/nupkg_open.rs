//! `signet_nupkg::Package::open` and every read the package offers (spec §1.1–§1.7): the
//! signature entry checks (NU3005), the signature-stripped stream behind the package hash, Zip64
//! detection, the content hash and the bounded `.nuspec` read.
#![no_main]

use std::hint::black_box;
use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use signet_common::HashAlgorithm;
use signet_nupkg::{Limits, Package, normalize_version};

fuzz_target!(|data: &[u8]| {
    let Ok(mut pkg) = Package::open(Cursor::new(data), &Limits::default()) else {
        return;
    };
    black_box(pkg.has_signature_entry());
    black_box(pkg.total_entries());
    black_box(pkg.len());
    if let Ok(Some(sig)) = pkg.read_signature() {
        black_box(sig);
    }
    let mut streamed = 0usize;
    let _ = pkg.stream_stripped(&mut |chunk| streamed = streamed.wrapping_add(chunk.len()));
    black_box(streamed);
    let _ = black_box(pkg.is_zip64());
    let _ = black_box(pkg.package_hash(HashAlgorithm::Sha256));
    let _ = black_box(pkg.content_hash());
    if let Ok(nuspec) = pkg.nuspec() {
        // A normalized version normalizes to itself (NuGet's ToNormalizedString is a fixpoint).
        let again = normalize_version(&nuspec.version);
        assert_eq!(
            again.as_deref(),
            Some(nuspec.version.as_str()),
            "normalized version {:?} of {:?} is not a fixpoint",
            nuspec.version,
            nuspec.original_version
        );
        black_box(nuspec);
    }
    black_box(pkg.entry_names());
    black_box(format!("{pkg:?}"));
});
