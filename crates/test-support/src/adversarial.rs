//! The adversarial package corpus of issue 7 at the level of whole packages, for tests that
//! sign them and push them through verify, extract or install: unsigned package bytes per case
//! (ZIP parser differentials, hostile entry names, hostile manifests, names that collide with
//! the files an install writes itself) and NuGet's signature appender, which signs layouts
//! signet's own signer refuses, so skewed packages reach the verifier as an attacker ships them.
//!
//! The byte-level corpus with every ZIP trick lives in `crates/nupkg/tests/fixtures/`; this one
//! is the subset that survives being signed (the same cases as `crates/trust/tests/extract.rs`,
//! plus the install-layout collisions).

use std::collections::BTreeMap;

use crate::PackageBuilder;

/// The large entry every case carries (stored, 3000 bytes of `M`).
pub const ADVERSARIAL_DLL: &str = "lib/net8.0/Adv.dll";
/// The small entry every case carries (`bbbb`). Not under `content/`: `signet install` does not
/// yet install a package with a root `content/` folder (the name of its staging folder), which
/// `crates/install/tests/adversarial.rs` shows on its own.
const SMALL: &str = "tools/b.txt";

/// What an install of a case, once signed by a trusted signer, must end as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AdversarialExpect {
    /// Installed (the extracted files must then be exactly the hashed entries).
    Installs,
    /// Refused by verification, extraction or the manifest read, leaving nothing behind.
    Refused,
    /// Either, depending on the layer that looks at it; the invariant holds either way.
    Either,
}

/// One case: a name saying what it is, the unsigned package, and the outcome expected.
#[derive(Clone, Debug)]
pub struct AdversarialCase {
    /// What the case is.
    pub name: &'static str,
    /// The package before signing.
    pub unsigned: Vec<u8>,
    /// The outcome expected from an install.
    pub expect: AdversarialExpect,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().expect("two bytes"))
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("four bytes"))
}

fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn last_eocd(b: &[u8]) -> usize {
    b.windows(4)
        .rposition(|w| w == b"PK\x05\x06")
        .expect("an end record")
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

/// Central-directory record position and local-header offset, by entry name.
type Records = BTreeMap<String, (usize, usize)>;

/// Central-directory record positions and the local-header offsets they give, by name.
fn records(b: &[u8]) -> Records {
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

/// NuGet's signer (spec §1.4 of `../shared/spec/nuget-signatures.md`), literally: insert the
/// `.signature.p7s` local entry (stored) before the first central-directory record the EOCD
/// names, its record after the last one, and fix the EOCD found at the end of that walk. No
/// layout checks, as in NuGet. `signature` must sign the hash of all of `unsigned`.
pub fn nuget_append_signature(unsigned: &[u8], signature: &[u8]) -> Vec<u8> {
    let eocd = last_eocd(unsigned);
    let cd_offset = u32_at(unsigned, eocd + 16) as usize;
    let mut cd_end = cd_offset;
    while cd_end + 46 <= unsigned.len() && u32_at(unsigned, cd_end) == 0x0201_4b50 {
        cd_end += 46
            + u16_at(unsigned, cd_end + 28) as usize
            + u16_at(unsigned, cd_end + 30) as usize
            + u16_at(unsigned, cd_end + 32) as usize;
    }
    let crc = crc32(signature);
    let n = u32::try_from(signature.len()).expect("a small signature");
    let dos = 0x5B75_6000u32;
    let mut out = unsigned[..cd_offset].to_vec();
    out.extend_from_slice(b"PK\x03\x04\x14\0\0\0\0\0");
    for v in [dos, crc, n, n] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&[14, 0, 0, 0]);
    out.extend_from_slice(b".signature.p7s");
    out.extend_from_slice(signature);
    out.extend_from_slice(&unsigned[cd_offset..cd_end]);
    out.extend_from_slice(b"PK\x01\x02\x14\0\x14\0\0\0\0\0");
    for v in [dos, crc, n, n] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&[14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&u32::try_from(cd_offset).expect("small").to_le_bytes());
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

/// The corpus for a package `id` version 1.0.0 (stored entries, so that patches find their
/// bytes). Every case is a package with that id, so each can be published under its own id.
pub fn adversarial_packages(id: &str) -> Vec<AdversarialCase> {
    use AdversarialExpect::*;
    let lid = id.to_lowercase();
    let builder = || {
        PackageBuilder::new(id, "1.0.0")
            .file(ADVERSARIAL_DLL, &[0x4D; 3000])
            .file(SMALL, b"bbbb")
            .stored(true)
    };
    let base = || builder().build();
    let patched = |f: &dyn Fn(&mut Vec<u8>, &Records)| {
        let mut b = base();
        let r = records(&b);
        f(&mut b, &r);
        b
    };
    let with_file = |name: &str| builder().file(name, b"payload").build();
    let nuspec_with = |xml: &[u8]| builder().nuspec(xml).build();
    let deep = {
        let mut v = format!("<package><metadata><id>{id}</id><version>1.0.0</version><authors>a</authors><description>d</description>").into_bytes();
        v.extend(std::iter::repeat_n(&b"<x>"[..], 50_000).flatten());
        v.extend(std::iter::repeat_n(&b"</x>"[..], 50_000).flatten());
        v.extend_from_slice(b"</metadata></package>");
        v
    };
    let entity = format!(
        r#"<?xml version="1.0"?><!DOCTYPE p [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><package><metadata><id>{id}&b;</id><version>1.0.0</version></metadata></package>"#
    );
    vec![
        AdversarialCase {
            name: "plain",
            unsigned: base(),
            expect: Installs,
        },
        AdversarialCase {
            name: "percent-escaped name",
            unsigned: with_file("tools/a%20b.txt"),
            expect: Installs,
        },
        AdversarialCase {
            name: "deeply nested nuspec",
            unsigned: nuspec_with(&deep),
            expect: Either,
        },
        AdversarialCase {
            name: "entity-expanding nuspec",
            unsigned: nuspec_with(entity.as_bytes()),
            expect: Refused,
        },
        AdversarialCase {
            name: "../ in a name",
            unsigned: with_file("../evil.txt"),
            expect: Refused,
        },
        AdversarialCase {
            name: "escaped ../",
            unsigned: with_file("%2e%2e/evil.txt"),
            expect: Refused,
        },
        AdversarialCase {
            name: "absolute path",
            unsigned: with_file("/tmp/evil.txt"),
            expect: Refused,
        },
        AdversarialCase {
            name: "backslashes",
            unsigned: with_file("..\\evil.txt"),
            expect: Refused,
        },
        AdversarialCase {
            name: "drive letter",
            unsigned: with_file("C:/evil.txt"),
            expect: Refused,
        },
        AdversarialCase {
            name: "NUL",
            unsigned: with_file("tools/a\0.txt"),
            expect: Refused,
        },
        AdversarialCase {
            name: "case-only twins",
            unsigned: builder().file(&SMALL.to_uppercase(), b"other").build(),
            expect: Refused,
        },
        AdversarialCase {
            name: "normalisation twins",
            unsigned: builder()
                .file("tools/caf\u{e9}", b"1")
                .file("tools/cafe\u{301}", b"2")
                .build(),
            expect: Refused,
        },
        AdversarialCase {
            name: "duplicate names",
            unsigned: {
                // tools/b.txt renamed tools/a.txt in both headers: two entries, one name.
                let mut b = builder().file("tools/a.txt", b"first").build();
                let r = records(&b);
                let (cd, lfh) = r[SMALL];
                let at = SMALL.find("b.txt").expect("the file name");
                b[cd + 46 + at] = b'a';
                b[lfh + 30 + at] = b'a';
                b
            },
            expect: Refused,
        },
        AdversarialCase {
            name: "local header names the entry differently",
            unsigned: patched(&|b, r| {
                let (_, lfh) = r[ADVERSARIAL_DLL];
                b[lfh + 30] = b'L';
            }),
            expect: Refused,
        },
        AdversarialCase {
            name: "local header size differs",
            unsigned: patched(&|b, r| {
                let (_, lfh) = r[ADVERSARIAL_DLL];
                put32(b, lfh + 22, 2999);
            }),
            expect: Refused,
        },
        AdversarialCase {
            name: "local header method differs",
            unsigned: patched(&|b, r| {
                let (_, lfh) = r[ADVERSARIAL_DLL];
                put16(b, lfh + 8, 8);
            }),
            expect: Refused,
        },
        AdversarialCase {
            name: "central directory offset points at another entry",
            unsigned: patched(&|b, r| {
                let (cd, _) = r[SMALL];
                let (_, dll) = r[ADVERSARIAL_DLL];
                put32(b, cd + 42, u32::try_from(dll).expect("small"));
            }),
            expect: Refused,
        },
        AdversarialCase {
            name: "overlapping entries",
            unsigned: patched(&|b, r| {
                let (cd, lfh) = r[ADVERSARIAL_DLL];
                for at in [lfh + 18, lfh + 22, cd + 20, cd + 24] {
                    put32(b, at, 3000 + 40);
                }
            }),
            expect: Refused,
        },
        AdversarialCase {
            name: "bytes before the first entry",
            unsigned: {
                let mut b = vec![b'M'; 32];
                b.extend_from_slice(&base());
                b
            },
            expect: Refused,
        },
        AdversarialCase {
            name: "bytes after the end record",
            unsigned: {
                let mut b = base();
                b.extend_from_slice(b"trailing");
                b
            },
            expect: Refused,
        },
        AdversarialCase {
            name: "two end records",
            unsigned: {
                let mut b = base();
                let e = b[last_eocd(&b)..].to_vec();
                b.extend_from_slice(&e);
                b
            },
            expect: Refused,
        },
        AdversarialCase {
            name: "Zip64 placeholder sizes (a 10 GB declaration)",
            unsigned: patched(&|b, r| {
                let (cd, lfh) = r[ADVERSARIAL_DLL];
                for at in [lfh + 18, lfh + 22, cd + 20, cd + 24] {
                    put32(b, at, u32::MAX);
                }
            }),
            expect: Refused,
        },
        AdversarialCase {
            name: "declared size of 3.75 GB",
            unsigned: patched(&|b, r| {
                let (cd, lfh) = r[ADVERSARIAL_DLL];
                for at in [lfh + 22, cd + 24] {
                    put32(b, at, 0xF000_0000);
                }
            }),
            expect: Refused,
        },
        AdversarialCase {
            name: "a second root manifest",
            unsigned: builder().file("Other.NUSPEC", b"<package/>").build(),
            expect: Refused,
        },
        AdversarialCase {
            name: "a root entry named like the lower-case manifest",
            unsigned: builder()
                .file(&format!("{lid}.nuspec.txt"), b"near miss")
                .build(),
            expect: Installs,
        },
    ]
}

/// Packages with entries named like the files an install writes next to the extracted ones
/// (`{id}.{version}.nupkg`, `.nupkg.metadata`, the receipt; `*.nupkg.sha512` is a packaging
/// file NuGet never extracts) or like the renamed manifest: an install must refuse them, or
/// keep its own files and the package's apart — never let an entry stand in for the verified
/// `.nupkg`, its hash, its metadata or the receipt. Apart from [`adversarial_packages`]
/// because they concern the packages-folder layout, not the archive.
pub fn install_layout_collisions(id: &str) -> Vec<AdversarialCase> {
    use AdversarialExpect::*;
    let lid = id.to_lowercase();
    let builder = || {
        PackageBuilder::new(id, "1.0.0")
            .file(ADVERSARIAL_DLL, &[0x4D; 3000])
            .file(SMALL, b"bbbb")
            .stored(true)
    };
    vec![
        AdversarialCase {
            name: "an entry named like the installed .nupkg",
            unsigned: builder()
                .file(&format!("{lid}.1.0.0.nupkg"), b"not the package")
                .build(),
            expect: Either,
        },
        AdversarialCase {
            name: "an entry named like the .nupkg.sha512",
            unsigned: builder()
                .file(&format!("{lid}.1.0.0.nupkg.sha512"), b"AAAA")
                .build(),
            expect: Either,
        },
        AdversarialCase {
            name: "an entry named .nupkg.metadata",
            unsigned: builder()
                .file(
                    ".nupkg.metadata",
                    br#"{"version":2,"contentHash":"x","source":"evil"}"#,
                )
                .build(),
            expect: Either,
        },
        AdversarialCase {
            name: "an entry named .signet.receipt.json",
            unsigned: builder().file(".signet.receipt.json", b"{}").build(),
            expect: Either,
        },
        AdversarialCase {
            name: "a root folder named like a manifest",
            unsigned: builder().file("Other.nuspec/readme.txt", b"folder").build(),
            expect: Either,
        },
    ]
}

/// The files NuGet extracts from a package, read with the `zip` crate — a parser independent of
/// signet's — as `name → bytes`: entry names percent-decoded (`Uri.UnescapeDataString`), NuGet's
/// packaging files (`_rels/`, `package/`, `[Content_Types].xml`, `*.nupkg.sha512`, ASCII
/// case-insensitively) and directory entries left out. Pass the bytes the package hash covers
/// (for a verified NuGet-appended signature: the unsigned package). `None` when the `zip` crate
/// cannot read the archive, an entry's name is not UTF-8, or two entries decode to one name.
pub fn nuget_extractable_entries(zip_bytes: &[u8]) -> Option<BTreeMap<String, Vec<u8>>> {
    use std::io::Read as _;

    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes)).ok()?;
    let mut out = BTreeMap::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).ok()?;
        let name = percent_decode(std::str::from_utf8(f.name_raw()).ok()?)?;
        let lower = name.to_ascii_lowercase();
        if name.ends_with('/')
            || lower.starts_with("_rels/")
            || lower.starts_with("package/")
            || lower.starts_with("[content_types].xml")
            || lower.ends_with(".nupkg.sha512")
            || name == ".signature.p7s"
        {
            continue;
        }
        let mut data = Vec::new();
        f.read_to_end(&mut data).ok()?;
        if out.insert(name, data).is_some() {
            return None;
        }
    }
    Some(out)
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}
