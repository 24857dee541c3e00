//! Verify, then extract: the install path's two steps over the adversarial corpus of issue 7,
//! each package signed for real with the test PKI (so "verify accepts" means a valid author
//! signature over exactly these bytes), each case with its expected outcome.
//!
//! The property that matters: whenever `verify_package` accepts a package and
//! `Package::extract_to` writes it, the files written are exactly the entries whose bytes the
//! package hash covers (read back here with the `zip` crate, an unrelated parser, from the
//! signature-stripped stream), byte for byte. Signatures are appended the way NuGet's signer
//! does it (spec §1.4 of `../shared/spec/nuget-signatures.md`), including for layouts signet's
//! own signer refuses, so skewed packages reach the verifier as an attacker would ship them.
//! The byte-level corpus with every ZIP trick lives in `crates/nupkg/tests/fixtures/`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::io::{Cursor, Read as _};
use std::path::Path;

use signet_common::{HashAlgorithm, UtcTime};
use signet_keys::SoftwareSigner;
use signet_nupkg::{Limits, Package, append_signature, dos_date_time};
use signet_signature::{Certificate, SignatureKind, SignatureRequest, build_primary_signature};
use signet_test_support::{PackageBuilder, pki};
use signet_trust::{RevocationMode, TrustStore, VerifierSettings, VerifyOptions, verify_package};

fn now() -> UtcTime {
    UtcTime::from_civil(2026, 11, 22, 0, 0, 0, 0).unwrap()
}

fn store() -> TrustStore {
    let mut store = TrustStore::empty();
    store.add_roots(
        vec![Certificate::from_der(&pki().root.cert_der).unwrap()],
        "test",
    );
    store
}

fn signer() -> SoftwareSigner {
    let cert = &pki().code_signing;
    SoftwareSigner::from_key_and_chain(
        cert.key_pem().as_bytes(),
        None,
        pki().chain_pem(cert).as_bytes(),
    )
    .unwrap()
}

/// NuGet's signer (spec §1.4), literally: hash the whole unsigned file, insert the signature's
/// local entry before the first central-directory record found from the EOCD, its record
/// after the last one, and fix the EOCD found at the end of the walk. No layout checks, as in
/// NuGet, so skewed packages get signed as NuGet would sign them.
fn nuget_sign(unsigned: &[u8]) -> Vec<u8> {
    let hash = HashAlgorithm::Sha256.digest(unsigned);
    let sig = build_primary_signature(
        &SignatureRequest {
            kind: SignatureKind::Author,
            hash_algorithm: HashAlgorithm::Sha256,
            package_hash: hash,
            signing_time: UtcTime::from_civil(2026, 11, 21, 12, 0, 0, 0).unwrap(),
        },
        &signer(),
    )
    .unwrap();
    let eocd = last_eocd(unsigned);
    let cd_offset = u32_at(unsigned, eocd + 16) as usize;
    let mut cd_end = cd_offset;
    while cd_end + 46 <= unsigned.len() && u32_at(unsigned, cd_end) == 0x0201_4b50 {
        cd_end += 46
            + u16_at(unsigned, cd_end + 28) as usize
            + u16_at(unsigned, cd_end + 30) as usize
            + u16_at(unsigned, cd_end + 32) as usize;
    }
    let crc = crc32(&sig);
    let n = sig.len() as u32;
    let dos = 0x5B75_6000u32;
    let mut out = unsigned[..cd_offset].to_vec();
    out.extend_from_slice(b"PK\x03\x04\x14\0\0\0\0\0");
    for v in [dos, crc, n, n] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&[14, 0, 0, 0]);
    out.extend_from_slice(b".signature.p7s");
    out.extend_from_slice(&sig);
    out.extend_from_slice(&unsigned[cd_offset..cd_end]);
    out.extend_from_slice(b"PK\x01\x02\x14\0\x14\0\0\0\0\0");
    for v in [dos, crc, n, n] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&[14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&(cd_offset as u32).to_le_bytes());
    out.extend_from_slice(b".signature.p7s");
    let e = cd_end;
    out.extend_from_slice(&unsigned[e..e + 8]);
    let add16 = |at: usize| u16_at(unsigned, at).wrapping_add(1);
    out.extend_from_slice(&add16(e + 8).to_le_bytes());
    out.extend_from_slice(&add16(e + 10).to_le_bytes());
    out.extend_from_slice(&u32_at(unsigned, e + 12).wrapping_add(60).to_le_bytes());
    out.extend_from_slice(&u32_at(unsigned, e + 16).wrapping_add(44 + n).to_le_bytes());
    out.extend_from_slice(&unsigned[e + 20..]);
    out
}

fn crc32(d: &[u8]) -> u32 {
    let mut h = 0xFFFF_FFFFu32;
    for &b in d {
        h ^= u32::from(b);
        for _ in 0..8 {
            h = if h & 1 != 0 {
                0xEDB8_8320 ^ (h >> 1)
            } else {
                h >> 1
            };
        }
    }
    !h
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().unwrap())
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn last_eocd(b: &[u8]) -> usize {
    b.windows(4).rposition(|w| w == b"PK\x05\x06").unwrap()
}

/// Central-directory record positions and the local-header offsets they give, by name.
fn records(b: &[u8]) -> BTreeMap<String, (usize, usize)> {
    let eocd = last_eocd(b);
    let mut at = u32_at(b, eocd + 16) as usize;
    let mut out = BTreeMap::new();
    while u32_at(b, at) == 0x0201_4b50 {
        let n = u16_at(b, at + 28) as usize;
        let name = String::from_utf8_lossy(&b[at + 46..at + 46 + n]).into_owned();
        out.insert(name, (at, u32_at(b, at + 42) as usize));
        at += 46 + n + u16_at(b, at + 30) as usize + u16_at(b, at + 32) as usize;
    }
    out
}

const DLL: &str = "lib/net8.0/Adv.dll";

fn builder() -> PackageBuilder {
    PackageBuilder::new("Adv", "1.0.0")
        .file(DLL, &[0x4D; 3000])
        .file("content/b.txt", b"bbbb")
        .stored(true)
}

fn base() -> Vec<u8> {
    builder().build()
}

/// What a case must end as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// Verified and extracted (the invariant is then checked).
    Installs,
    /// The signature verifies (the bytes are exactly what was signed) and extraction refuses.
    ExtractionRefuses,
    /// Verification or extraction refuses; which one depends on NuGet's hash quirks.
    Refused,
}

struct Case {
    name: &'static str,
    unsigned: Vec<u8>,
    expect: Expect,
}

fn patched(f: impl FnOnce(&mut Vec<u8>, &BTreeMap<String, (usize, usize)>)) -> Vec<u8> {
    let mut b = base();
    let r = records(&b);
    f(&mut b, &r);
    b
}

fn corpus() -> Vec<Case> {
    use Expect::*;
    let with_file = |name: &str| builder().file(name, b"payload").build();
    let nuspec_with = |xml: &[u8]| builder().nuspec(xml).build();
    let deep = {
        let mut v = b"<package><metadata><id>Adv</id><version>1.0.0</version><authors>a</authors><description>d</description>".to_vec();
        v.extend(std::iter::repeat_n(&b"<x>"[..], 50_000).flatten());
        v.extend(std::iter::repeat_n(&b"</x>"[..], 50_000).flatten());
        v.extend_from_slice(b"</metadata></package>");
        v
    };
    vec![
        Case { name: "plain", unsigned: base(), expect: Installs },
        Case { name: "percent-escaped name", unsigned: with_file("content/a%20b.txt"), expect: Installs },
        Case { name: "deeply nested nuspec", unsigned: nuspec_with(&deep), expect: Installs },
        Case { name: "../ in a name", unsigned: with_file("../evil.txt"), expect: ExtractionRefuses },
        Case { name: "escaped ../", unsigned: with_file("%2e%2e/evil.txt"), expect: ExtractionRefuses },
        Case { name: "absolute path", unsigned: with_file("/tmp/evil.txt"), expect: ExtractionRefuses },
        Case { name: "backslashes", unsigned: with_file("..\\evil.txt"), expect: ExtractionRefuses },
        Case { name: "drive letter", unsigned: with_file("C:/evil.txt"), expect: ExtractionRefuses },
        Case { name: "NUL", unsigned: with_file("content/a\0.txt"), expect: ExtractionRefuses },
        Case {
            name: "case-only twins",
            unsigned: builder().file("content/B.TXT", b"other").build(),
            expect: ExtractionRefuses,
        },
        Case {
            name: "normalisation twins",
            unsigned: builder()
                .file("content/caf\u{e9}", b"1")
                .file("content/cafe\u{301}", b"2")
                .build(),
            expect: ExtractionRefuses,
        },
        Case {
            name: "duplicate names",
            unsigned: {
                // content/b.txt renamed content/a.txt in both headers: two entries, one name.
                let mut b = builder().file("content/a.txt", b"first").build();
                let r = records(&b);
                let (cd, lfh) = r["content/b.txt"];
                b[cd + 46 + 8] = b'a';
                b[lfh + 30 + 8] = b'a';
                b
            },
            expect: ExtractionRefuses,
        },
        Case {
            name: "local header names the entry differently",
            unsigned: patched(|b, r| {
                let (_, lfh) = r[DLL];
                b[lfh + 30] = b'L';
            }),
            expect: ExtractionRefuses,
        },
        Case {
            name: "local header size differs",
            unsigned: patched(|b, r| {
                let (_, lfh) = r[DLL];
                put32(b, lfh + 22, 2999);
            }),
            expect: ExtractionRefuses,
        },
        Case {
            name: "local header method differs",
            unsigned: patched(|b, r| {
                let (_, lfh) = r[DLL];
                put16(b, lfh + 8, 8);
            }),
            expect: ExtractionRefuses,
        },
        Case {
            name: "central directory offset points at another entry",
            unsigned: patched(|b, r| {
                let (cd, _) = r["content/b.txt"];
                let (_, dll) = r[DLL];
                put32(b, cd + 42, dll as u32);
            }),
            expect: Refused,
        },
        Case {
            name: "overlapping entries",
            unsigned: patched(|b, r| {
                let (cd, lfh) = r[DLL];
                for at in [lfh + 18, lfh + 22, cd + 20, cd + 24] {
                    put32(b, at, 3000 + 40);
                }
            }),
            expect: Refused,
        },
        Case {
            name: "bytes before the first entry",
            unsigned: {
                let mut b = vec![b'M'; 32];
                b.extend_from_slice(&base());
                b
            },
            expect: Refused,
        },
        Case {
            name: "bytes after the end record",
            unsigned: {
                let mut b = base();
                b.extend_from_slice(b"trailing");
                b
            },
            expect: ExtractionRefuses,
        },
        Case {
            name: "two end records",
            unsigned: {
                let mut b = base();
                let e = b[last_eocd(&b)..].to_vec();
                b.extend_from_slice(&e);
                b
            },
            expect: Refused,
        },
        Case {
            name: "Zip64 placeholder sizes (a 10 GB declaration)",
            unsigned: patched(|b, r| {
                let (cd, lfh) = r[DLL];
                for at in [lfh + 18, lfh + 22, cd + 20, cd + 24] {
                    put32(b, at, u32::MAX);
                }
            }),
            expect: ExtractionRefuses,
        },
        Case {
            name: "declared size of 3.75 GB",
            unsigned: patched(|b, r| {
                let (cd, lfh) = r[DLL];
                for at in [lfh + 22, cd + 24] {
                    put32(b, at, 0xF000_0000);
                }
            }),
            expect: ExtractionRefuses,
        },
        Case {
            name: "entity-expanding nuspec",
            unsigned: nuspec_with(br#"<?xml version="1.0"?><!DOCTYPE p [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><package><metadata><id>&b;</id><version>1.0.0</version></metadata></package>"#),
            expect: Installs,
        },
    ]
}

#[test]
fn signed_corpus_verifies_then_extracts_only_hashed_bytes() {
    let store = store();
    let options = VerifyOptions::new(
        VerifierSettings::verify_command(RevocationMode::Offline),
        now(),
    );
    let mut summary = Vec::new();
    for case in corpus() {
        let signed = nuget_sign(&case.unsigned);
        let report = verify_package(Cursor::new(&signed[..]), &store, &options);
        let dir = tempfile::tempdir().unwrap();
        let extracted = Package::open(Cursor::new(&signed[..]), &Limits::default())
            .and_then(|mut p| p.extract_to(dir.path()));
        let on_disk = walk(dir.path());
        if case.name == "entity-expanding nuspec" {
            // Installs as bytes; whoever reads the manifest gets a refusal, never an expansion.
            let err = Package::open(Cursor::new(&signed[..]), &Limits::default())
                .unwrap()
                .nuspec()
                .unwrap_err();
            assert!(err.to_string().contains("document type"), "{err}");
        }
        let outcome = match (&extracted, report.valid) {
            (Ok(_), true) => {
                // The invariant.
                assert_eq!(
                    on_disk,
                    hashed_files(&signed),
                    "{}: extracted != hashed",
                    case.name
                );
                Expect::Installs
            }
            (Err(e), true) => {
                assert!(on_disk.is_empty(), "{}: {e} left files behind", case.name);
                Expect::ExtractionRefuses
            }
            (_, false) => Expect::Refused,
        };
        summary.push(format!(
            "{:<48} verify {:<5} extract {}",
            case.name,
            report.valid,
            match &extracted {
                Ok(x) => format!("ok ({} files)", x.files.len()),
                Err(e) => format!("refused: {e}"),
            }
        ));
        let as_expected = match case.expect {
            Expect::Refused => outcome != Expect::Installs,
            e => outcome == e,
        };
        assert!(
            as_expected,
            "{}: expected {:?}, got {outcome:?}\nverify issues: {:?}\nextract: {:?}",
            case.name,
            case.expect,
            report.issues.iter().map(|i| &i.message).collect::<Vec<_>>(),
            extracted.as_ref().err()
        );
    }
    println!("{}", summary.join("\n"));
}

#[test]
fn the_test_appender_is_nugets_for_normal_packages() {
    // Sanity check of `nuget_sign` against signet's own appender on a well-formed package.
    let unsigned = base();
    let signed = nuget_sign(&unsigned);
    let sig = Package::open(Cursor::new(&signed[..]), &Limits::default())
        .unwrap()
        .read_signature()
        .unwrap()
        .unwrap();
    let mut expected = Vec::new();
    append_signature(
        Cursor::new(&unsigned[..]),
        &sig,
        dos_date_time(2026, 11, 21, 12, 0, 0),
        &mut expected,
        &Limits::default(),
    )
    .unwrap();
    // Only the DOS time fields may differ.
    assert_eq!(signed.len(), expected.len());
    let diff: Vec<usize> = (0..signed.len())
        .filter(|&i| signed[i] != expected[i])
        .collect();
    assert!(diff.len() <= 16, "{diff:?}");
}

/// The NuGet-extractable files of the signature-stripped stream, read with the `zip` crate.
fn hashed_files(signed: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut stripped = Vec::new();
    Package::open(Cursor::new(signed), &Limits::default())
        .unwrap()
        .stream_stripped(&mut |b| stripped.extend_from_slice(b))
        .unwrap();
    let mut zip = zip::ZipArchive::new(Cursor::new(stripped)).unwrap();
    let mut out = BTreeMap::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).unwrap();
        let name = String::from_utf8(f.name_raw().to_vec())
            .unwrap()
            .replace("%20", " ");
        let lower = name.to_ascii_lowercase();
        if name.ends_with('/')
            || lower.starts_with("_rels/")
            || lower.starts_with("package/")
            || lower.starts_with("[content_types].xml")
        {
            continue;
        }
        let mut data = Vec::new();
        f.read_to_end(&mut data).unwrap();
        out.insert(name, data);
    }
    out
}

fn walk(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn go(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let t = e.file_type().unwrap();
            if t.is_dir() {
                go(root, &e.path(), out);
            } else {
                assert!(t.is_file());
                let rel = e
                    .path()
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, std::fs::read(e.path()).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    go(root, root, &mut out);
    out
}
