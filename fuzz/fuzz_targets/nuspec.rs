//! The `.nuspec` manifest through `signet_nupkg::Package::nuspec` (identity and the dependency
//! groups `install` resolves), then what the resolver does with it: `Framework::parse` of each
//! group's `targetFramework`, `nearest` group selection and `VersionRange::parse` of each
//! dependency. The input is stored (not deflated) as the root `fuzz.nuspec` of a minimal ZIP, so
//! mutations hit the XML; `nupkg_open` covers finding and inflating it inside real packages.
//!
//! Properties: the normalized version is a fixpoint of `normalize_version` and parses as a
//! `NuGetVersion` with that normalized form; the id and the version are trimmed.
#![no_main]

use std::hint::black_box;
use std::io::{Cursor, Write as _};

use libfuzzer_sys::fuzz_target;
use signet_feed::framework::nearest;
use signet_feed::{Framework, NuGetVersion, VersionRange};
use signet_nupkg::{Limits, Package, normalize_version};
use zip::write::SimpleFileOptions;

fn package(nuspec: &[u8]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let stored = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    w.start_file("fuzz.nuspec", stored).expect("start entry");
    w.write_all(nuspec).expect("write entry");
    w.start_file("lib/net8.0/Fuzz.dll", stored)
        .expect("start entry");
    w.write_all(b"MZ").expect("write entry");
    w.finish().expect("finish").into_inner()
}

fuzz_target!(|data: &[u8]| {
    let bytes = package(data);
    let mut pkg = Package::open(Cursor::new(bytes.as_slice()), &Limits::default())
        .expect("a two-entry stored ZIP opens");
    let Ok(nuspec) = pkg.nuspec() else {
        return;
    };
    assert_eq!(nuspec.id, nuspec.id.trim(), "id not trimmed");
    assert_eq!(
        nuspec.original_version,
        nuspec.original_version.trim(),
        "version not trimmed"
    );
    assert_eq!(
        normalize_version(&nuspec.version).as_deref(),
        Some(nuspec.version.as_str()),
        "normalized version {:?} of {:?} is not a fixpoint",
        nuspec.version,
        nuspec.original_version
    );
    let v = NuGetVersion::parse(&nuspec.version).unwrap_or_else(|e| {
        panic!(
            "normalized version {:?} is no NuGetVersion: {e}",
            nuspec.version
        )
    });
    assert_eq!(v.normalized(), nuspec.version);

    let groups: Vec<(Option<&str>, usize)> = nuspec
        .dependency_groups
        .iter()
        .enumerate()
        .map(|(i, g)| (g.target_framework.as_deref(), i))
        .collect();
    for target in ["net8.0", "netstandard2.0", "net472"] {
        if let Some(target) = Framework::parse(target) {
            black_box(nearest(&target, &groups));
        }
    }
    for group in &nuspec.dependency_groups {
        if let Some(tfm) = &group.target_framework {
            black_box(Framework::parse(tfm));
        }
        for dep in &group.dependencies {
            if let Some(range) = &dep.version_range {
                let _ = black_box(VersionRange::parse(range));
            }
        }
    }
});
