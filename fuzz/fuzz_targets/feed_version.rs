//! What choosing versions and dependency groups parses (`signet_feed`): `NuGetVersion::parse`,
//! `VersionRange::parse` and `Framework::parse`, on the input as text and on each of its lines
//! (flat-container version lists and nuspec `version`/`targetFramework` attributes are short).
//!
//! Properties:
//! * a version re-parses from its normalized form (and from its lower-case form) to an equal
//!   version with the same normalized form, and compares equal to itself;
//! * a range re-parses from its text to an equal range; a bare version range contains that
//!   version, and an exact range `[v]` contains `v` and nothing else checked;
//! * a framework can use itself, and `nearest` picks its own group among one.
#![no_main]

use std::cmp::Ordering;
use std::hint::black_box;

use libfuzzer_sys::fuzz_target;
use signet_feed::framework::nearest;
use signet_feed::{Framework, NuGetVersion, VersionRange};

fn version(s: &str) {
    let Ok(v) = NuGetVersion::parse(s) else {
        return;
    };
    assert_eq!(v.cmp(&v), Ordering::Equal);
    let again = NuGetVersion::parse(v.normalized()).unwrap_or_else(|e| {
        panic!(
            "normalized {:?} of {s:?} does not re-parse: {e}",
            v.normalized()
        )
    });
    assert_eq!(again, v, "{s:?} and its normalized form differ");
    assert_eq!(
        again.normalized(),
        v.normalized(),
        "normalization of {s:?} is not a fixpoint"
    );
    let lower = NuGetVersion::parse(&v.lower())
        .unwrap_or_else(|e| panic!("lower-case {:?} of {s:?} does not re-parse: {e}", v.lower()));
    assert_eq!(lower, v, "{s:?} and its lower-case form compare unequal");
    assert_eq!(v.is_prerelease(), again.is_prerelease());
    black_box(v.to_string());
}

fn range(s: &str) {
    let Ok(r) = VersionRange::parse(s) else {
        return;
    };
    let text = r.to_string();
    let again = VersionRange::parse(&text)
        .unwrap_or_else(|e| panic!("range text {text:?} of {s:?} does not re-parse: {e}"));
    assert_eq!(again, r, "{s:?} and its text differ");
    black_box(r.allows_prerelease());
    let t = s.trim();
    if let Ok(v) = NuGetVersion::parse(t) {
        assert!(
            r.satisfies(&v),
            "bare version range {s:?} does not contain its version"
        );
    }
    if let Some(inner) = t.strip_prefix('[').and_then(|x| x.strip_suffix(']'))
        && !inner.contains(',')
        && let Ok(v) = NuGetVersion::parse(inner.trim())
    {
        assert!(
            r.satisfies(&v),
            "exact range {s:?} does not contain its version"
        );
    }
}

fn framework(s: &str) {
    let Some(f) = Framework::parse(s) else {
        return;
    };
    assert!(f.can_use(&f), "framework {s:?} ({f:?}) cannot use itself");
    let groups = [(Some(s), 1u8), (None, 0u8)];
    assert_eq!(
        nearest(&f, &groups),
        Some(&1),
        "nearest does not pick {s:?}'s own group"
    );
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for s in std::iter::once(text.as_ref()).chain(text.lines().take(64)) {
        version(s);
        range(s);
        framework(s);
    }
});
