//! The log entry of one package version, and entry bundles (tlog-tiles: big-endian uint16
//! length-prefixed entries).
//!
//! Entry v1, canonical binary (one encoding per value; parsing refuses anything else):
//!
//! ```text
//! 0x01                       format version
//! u8 len, id                 package id, ASCII lower case, 1..=100 bytes, [a-z0-9._-]
//! u8 len, version            normalised version, ASCII lower case, 1..=64 bytes, [a-z0-9.-]
//! 64 bytes                   NuGet content hash: SHA-512 of the package without its signature
//! 0x00 | 0x01 + 32 bytes     author signer certificate SHA-256 (0x00: unsigned)
//! 0x00 | 0x01 + 32 bytes     repository certificate SHA-256 (0x00: not repository-signed)
//! u64 big-endian             time the version was accepted, milliseconds since the Unix epoch
//! ```
//!
//! The content hash ignores the signature, so re-signing and mirroring do not change it.

use crate::error::malformed;
use crate::{Error, Limits};

const VERSION: u8 = 0x01;
/// NuGet's id length limit.
const MAX_ID: usize = 100;
/// The server's version length limit.
const MAX_VERSION: usize = 64;

/// One package version in the log.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Entry {
    /// Package id, lower case.
    pub id: String,
    /// Normalised version, lower case.
    pub version: String,
    /// SHA-512 content hash.
    pub content_hash: [u8; 64],
    /// Author signer certificate SHA-256, if author-signed.
    pub author: Option<[u8; 32]>,
    /// Repository certificate SHA-256, if repository-signed.
    pub repository: Option<[u8; 32]>,
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
}

fn check_text(what: &'static str, s: &str, max: usize, extra: &[u8]) -> Result<(), Error> {
    if s.is_empty() || s.len() > max {
        return Err(malformed("log entry", format!("{what} length {}", s.len())));
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || extra.contains(&b))
    {
        return Err(malformed(
            "log entry",
            format!(
                "{what} {s:?} is not lower-case [a-z0-9{}]",
                String::from_utf8_lossy(extra)
            ),
        ));
    }
    Ok(())
}

impl Entry {
    /// A checked entry (lower-cases the id and version).
    pub fn new(
        id: &str,
        version: &str,
        content_hash: [u8; 64],
        author: Option<[u8; 32]>,
        repository: Option<[u8; 32]>,
        time_ms: u64,
    ) -> Result<Self, Error> {
        let e = Entry {
            id: id.to_ascii_lowercase(),
            version: version.to_ascii_lowercase(),
            content_hash,
            author,
            repository,
            time_ms,
        };
        check_text("id", &e.id, MAX_ID, b"._-")?;
        check_text("version", &e.version, MAX_VERSION, b".-")?;
        Ok(e)
    }

    /// The canonical bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        out.push(VERSION);
        // Lengths are bounded by `new`/`decode` (≤ 100), so they fit a byte.
        out.push(u8::try_from(self.id.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(self.id.as_bytes());
        out.push(u8::try_from(self.version.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(self.version.as_bytes());
        out.extend_from_slice(&self.content_hash);
        for fp in [&self.author, &self.repository] {
            match fp {
                None => out.push(0),
                Some(h) => {
                    out.push(1);
                    out.extend_from_slice(h);
                }
            }
        }
        out.extend_from_slice(&self.time_ms.to_be_bytes());
        out
    }

    /// Parses the canonical bytes; trailing bytes, other versions and non-canonical text are
    /// refused.
    pub fn decode(bytes: &[u8]) -> Result<Entry, Error> {
        let mut r = Reader(bytes);
        if r.byte()? != VERSION {
            return Err(malformed("log entry", "unknown entry format version"));
        }
        let id = r.text()?;
        let version = r.text()?;
        let content_hash = r.array::<64>()?;
        let author = r.fingerprint()?;
        let repository = r.fingerprint()?;
        let time_ms = u64::from_be_bytes(r.array::<8>()?);
        if !r.0.is_empty() {
            return Err(malformed(
                "log entry",
                format!("{} trailing bytes", r.0.len()),
            ));
        }
        let e = Entry::new(&id, &version, content_hash, author, repository, time_ms)?;
        if e.id != id || e.version != version {
            return Err(malformed("log entry", "id or version not lower case"));
        }
        Ok(e)
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], Error> {
        if self.0.len() < n {
            return Err(malformed("log entry", "truncated"));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn byte(&mut self) -> Result<u8, Error> {
        Ok(self.take(1)?.first().copied().unwrap_or_default())
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        <[u8; N]>::try_from(self.take(N)?).map_err(|_| malformed("log entry", "truncated"))
    }
    fn text(&mut self) -> Result<String, Error> {
        let n = usize::from(self.byte()?);
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| malformed("log entry", "not UTF-8"))
    }
    fn fingerprint(&mut self) -> Result<Option<[u8; 32]>, Error> {
        match self.byte()? {
            0 => Ok(None),
            1 => Ok(Some(self.array::<32>()?)),
            t => Err(malformed("log entry", format!("fingerprint tag {t}"))),
        }
    }
}

/// Encodes an entry bundle.
pub fn encode_bundle<'a>(entries: impl IntoIterator<Item = &'a [u8]>) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    for e in entries {
        let n = u16::try_from(e.len()).map_err(|_| Error::TooLarge {
            what: "log entry",
            limit: usize::from(u16::MAX),
        })?;
        out.extend_from_slice(&n.to_be_bytes());
        out.extend_from_slice(e);
    }
    Ok(out)
}

/// Splits an entry bundle into its entries (at most 256, each within the entry size limit).
pub fn parse_bundle<'a>(bytes: &'a [u8], limits: &Limits) -> Result<Vec<&'a [u8]>, Error> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        if out.len() >= 256 {
            return Err(Error::TooLarge {
                what: "entries in a bundle",
                limit: 256,
            });
        }
        let (len, tail) = rest
            .split_first_chunk::<2>()
            .ok_or_else(|| malformed("entry bundle", "truncated length"))?;
        let n = usize::from(u16::from_be_bytes(*len));
        if n > limits.max_entry_size {
            return Err(Error::TooLarge {
                what: "log entry",
                limit: limits.max_entry_size,
            });
        }
        if tail.len() < n {
            return Err(malformed("entry bundle", "truncated entry"));
        }
        let (e, t) = tail.split_at(n);
        out.push(e);
        rest = t;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trip_and_canonical() {
        let e = Entry::new(
            "Contoso.Lib",
            "1.0.0-Beta",
            [3; 64],
            Some([4; 32]),
            None,
            1_700_000_000_000,
        )
        .unwrap();
        assert_eq!(e.id, "contoso.lib");
        let b = e.encode();
        assert_eq!(Entry::decode(&b).unwrap(), e);
        let mut trailing = b.clone();
        trailing.push(0);
        assert!(Entry::decode(&trailing).is_err());
        let upper = Entry {
            id: "Contoso.Lib".into(),
            ..e.clone()
        }
        .encode();
        assert!(Entry::decode(&upper).is_err());
        assert!(Entry::new("a b", "1.0.0", [0; 64], None, None, 0).is_err());
        assert!(Entry::new(&"a".repeat(101), "1.0.0", [0; 64], None, None, 0).is_err());
    }

    proptest! {
        #[test]
        fn bundles_round_trip(entries in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..20)) {
            let b = encode_bundle(entries.iter().map(Vec::as_slice)).unwrap();
            let parsed = parse_bundle(&b, &Limits::default()).unwrap();
            prop_assert_eq!(parsed, entries.iter().map(Vec::as_slice).collect::<Vec<_>>());
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            if let Ok(e) = Entry::decode(&bytes) {
                prop_assert_eq!(e.encode(), bytes);
            }
        }
    }
}
