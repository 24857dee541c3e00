//! `signet_nupkg::Package::extract_to` (issue 7): any input either is refused, leaving the
//! destination empty, or extracts exactly the entries whose bytes the package hash covers —
//! checked against the `zip` crate reading the signature-stripped stream, an independent
//! parser. A disagreement is a ZIP parser differential and fails the run.
#![no_main]

use std::collections::BTreeMap;
use std::io::{Cursor, Read as _};
use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use signet_nupkg::{Limits, Package};

/// One scratch directory per process; each input extracts into a fresh `out` inside it.
fn scratch() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("scratch directory"))
        .path()
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
    for e in std::fs::read_dir(dir).expect("read_dir") {
        let e = e.expect("dir entry");
        let t = e.file_type().expect("file type");
        assert!(!t.is_symlink(), "a symbolic link was created");
        if t.is_dir() {
            walk(root, &e.path(), out);
        } else {
            let rel = e.path().strip_prefix(root).expect("prefix").to_string_lossy().into_owned();
            out.insert(rel, std::fs::read(e.path()).expect("read"));
        }
    }
}

/// What NuGet would extract from the hashed stream, per the `zip` crate.
fn hashed_files(data: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut pkg = Package::open(Cursor::new(data), &Limits::default()).expect("reopen");
    let mut stripped = Vec::new();
    pkg.stream_stripped(&mut |b| stripped.extend_from_slice(b))
        .expect("an extracted package has a stripped stream");
    let mut zip = zip::ZipArchive::new(Cursor::new(stripped))
        .expect("the zip crate reads what signet extracted");
    let mut out = BTreeMap::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).expect("entry");
        let name = percent_decode(f.name_raw());
        let lower = name.to_ascii_lowercase();
        if name.ends_with('/')
            || lower.starts_with("_rels/")
            || lower.starts_with("package/")
            || lower.starts_with("[content_types].xml")
            || lower.ends_with(".nupkg.sha512")
        {
            continue;
        }
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes).expect("the zip crate inflates what signet extracted");
        assert!(out.insert(name, bytes).is_none(), "duplicate extracted name");
    }
    out
}

fn percent_decode(b: &[u8]) -> String {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .filter(|h| h.bytes().all(|x| x.is_ascii_hexdigit()))
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (c, hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fuzz_target!(|data: &[u8]| {
    // Small limits keep each run fast; they are checked like the defaults.
    let limits = Limits {
        max_extracted_size: 8 << 20,
        ..Limits::default()
    };
    let Ok(mut pkg) = Package::open(Cursor::new(data), &limits) else {
        return;
    };
    let dest = scratch().join("out");
    let _ = std::fs::remove_dir_all(&dest);
    std::fs::create_dir(&dest).expect("create out");
    let result = pkg.extract_to(&dest);
    let mut on_disk = BTreeMap::new();
    walk(&dest, &dest, &mut on_disk);
    match result {
        Ok(extracted) => {
            let listed: BTreeMap<&str, u64> =
                extracted.files.iter().map(|f| (f.path.as_str(), f.size)).collect();
            let written: BTreeMap<&str, u64> =
                on_disk.iter().map(|(p, d)| (p.as_str(), d.len() as u64)).collect();
            assert_eq!(listed, written, "Extracted::files differs from the disk");
            assert_eq!(on_disk, hashed_files(data), "extracted bytes differ from the hashed entries");
        }
        Err(e) => {
            assert!(on_disk.is_empty(), "{e} left files behind");
            let _ = e.code();
        }
    }
});
