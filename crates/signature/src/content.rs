//! The signature content: the text the primary signature encapsulates (spec §2).

use base64::Engine;
use signet_common::HashAlgorithm;

use crate::Error;

/// `Version:1` + the package hash, as NuGet writes and reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureContent {
    hash_algorithm: HashAlgorithm,
    hash: Vec<u8>,
}

impl SignatureContent {
    /// Content for a package hash.
    pub fn new(hash_algorithm: HashAlgorithm, hash: Vec<u8>) -> Self {
        Self {
            hash_algorithm,
            hash,
        }
    }

    /// The algorithm of the package hash.
    pub fn hash_algorithm(&self) -> HashAlgorithm {
        self.hash_algorithm
    }

    /// The package hash.
    pub fn hash(&self) -> &[u8] {
        &self.hash
    }

    /// The exact bytes NuGet writes: `Version:1\n\n<oid>-Hash:<base64>\n\n` (UTF-8, no BOM).
    pub fn to_bytes(&self) -> Vec<u8> {
        format!(
            "Version:1\n\n{}-Hash:{}\n\n",
            self.hash_algorithm.oid_str(),
            base64::engine::general_purpose::STANDARD.encode(&self.hash)
        )
        .into_bytes()
    }

    /// Parses with NuGet's rules: sections of `key:value` lines each ended by an empty line; the
    /// first section holds `Version` (must be `1`, else NU3007); the first allowed `<oid>-Hash`
    /// key of the second section gives the hash; later sections are ignored.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let text = std::str::from_utf8(bytes).map_err(|_| Error::Content("not UTF-8".into()))?;
        let sections = sections(text)?;
        let first = sections
            .first()
            .ok_or_else(|| Error::Content("no sections".into()))?;
        let version = first
            .iter()
            .find(|(k, _)| *k == "Version")
            .ok_or_else(|| Error::Content("missing Version".into()))?;
        if version.1 != "1" {
            return Err(Error::UnsupportedVersion);
        }
        let second = sections
            .get(1)
            .ok_or_else(|| Error::Content("missing hash section".into()))?;
        for (k, v) in second {
            let Some(oid) = k.strip_suffix("-Hash") else {
                continue;
            };
            let Some(alg) = HashAlgorithm::from_oid_str(oid) else {
                continue;
            };
            let hash =
                dotnet_base64(v).ok_or_else(|| Error::Content("invalid base64 hash".into()))?;
            return Ok(Self::new(alg, hash));
        }
        Err(Error::Content("no supported package hash".into()))
    }
}

type Section<'a> = Vec<(&'a str, &'a str)>;

fn sections(text: &str) -> Result<Vec<Section<'_>>, Error> {
    let mut out = Vec::new();
    let mut current: Section<'_> = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        // .NET ReadLine: "\n", "\r" or "\r\n" end a line.
        let end = rest.find(['\n', '\r']).unwrap_or(rest.len());
        let line = rest.get(..end).unwrap_or_default();
        let mut next = end;
        if rest.get(end..).is_some_and(|r| r.starts_with("\r\n")) {
            next += 2;
        } else if end < rest.len() {
            next += 1;
        }
        rest = rest.get(next..).unwrap_or_default();
        if line.is_empty() {
            if current.is_empty() {
                return Err(Error::Content("empty section".into()));
            }
            out.push(std::mem::take(&mut current));
            continue;
        }
        let (k, v) = line
            .split_once(':')
            .ok_or_else(|| Error::Content("line without ':'".into()))?;
        if k.is_empty()
            || !k
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"./-".contains(&b))
            || v.is_empty()
        {
            return Err(Error::Content(format!("invalid line '{line}'")));
        }
        if current.iter().any(|(ck, _)| *ck == k) {
            return Err(Error::Content(format!("duplicate key '{k}'")));
        }
        current.push((k, v));
    }
    if !current.is_empty() {
        return Err(Error::Content(
            "section not terminated by an empty line".into(),
        ));
    }
    Ok(out)
}

/// .NET `Convert.FromBase64String`: standard alphabet, padding required, whitespace ignored.
fn dotnet_base64(s: &str) -> Option<Vec<u8>> {
    let cleaned: String = s
        .chars()
        .filter(|c| !matches!(c, ' ' | '\t' | '\r' | '\n'))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(cleaned)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &[u8] =
        b"Version:1\n\n2.16.840.1.101.3.4.2.1-Hash:Pz1Pwq70/Wi/TK54HrteweLnyuQL88HF9lT8MTSwsCo=\n\n";

    #[test]
    fn parses_nuget_sample_and_round_trips() {
        let c = SignatureContent::parse(SAMPLE).unwrap();
        assert_eq!(c.hash_algorithm(), HashAlgorithm::Sha256);
        assert_eq!(c.hash().len(), 32);
        assert_eq!(c.to_bytes(), SAMPLE);
    }

    #[test]
    fn version_other_than_one_is_nu3007() {
        let e = SignatureContent::parse(b"Version:2\n\n2.16.840.1.101.3.4.2.1-Hash:AA==\n\n")
            .unwrap_err();
        assert_eq!(e.code(), signet_common::NuCode::NU3007);
    }

    #[test]
    fn malformed_contents_are_nu3000() {
        for bad in [
            &b""[..],
            b"Version:1\n\n2.16.840.1.101.3.4.2.1-Hash:AA==\n",
            b"Version:1\n2.16.840.1.101.3.4.2.1-Hash:AA==\n\n",
            b"\xef\xbb\xbfVersion:1\n\n2.16.840.1.101.3.4.2.1-Hash:AA==\n\n",
            b"Version:1\n\n1.3.14.3.2.26-Hash:AA==\n\n",
            b"Version:1\nVersion:1\n\n2.16.840.1.101.3.4.2.1-Hash:AA==\n\n",
            b"Version:1\n\n2.16.840.1.101.3.4.2.1-Hash:\n\n",
            b"Version:1\n\n2.16.840.1.101.3.4.2.1-Hash:@@@\n\n",
        ] {
            let e = SignatureContent::parse(bad).unwrap_err();
            assert_eq!(e.code(), signet_common::NuCode::NU3000, "{bad:?}");
        }
    }

    #[test]
    fn a_whitespace_hash_parses_empty_as_in_nuget() {
        // .NET's Convert.FromBase64String("  ") is empty; the integrity check then fails
        // (NU3008). Found by the signature_content fuzz target (fuzz/regressions/).
        let c =
            SignatureContent::parse(b"Version:1\n\n2.16.840.1.101.3.4.2.1-Hash: \t\n\n").unwrap();
        assert!(c.hash().is_empty());
    }

    #[test]
    fn crlf_and_unknown_keys_are_tolerated() {
        let c = SignatureContent::parse(
            b"Version:1\r\nOther:x\r\n\r\n9.9-Hash:AA==\r\n2.16.840.1.101.3.4.2.3-Hash:AAAA\r\n\r\nZ:1\n\n",
        )
        .unwrap();
        assert_eq!(c.hash_algorithm(), HashAlgorithm::Sha512);
        assert_eq!(c.hash(), &[0, 0, 0]);
    }
}
