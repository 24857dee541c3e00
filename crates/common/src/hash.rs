use std::fmt;

use aws_lc_rs::digest;

/// The hash algorithms NuGet accepts for package hashes, signing-certificate hashes and
/// timestamp imprints: SHA-256, SHA-384 and SHA-512 (spec §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[non_exhaustive]
pub enum HashAlgorithm {
    /// SHA-256, OID 2.16.840.1.101.3.4.2.1 (NuGet's default).
    Sha256,
    /// SHA-384, OID 2.16.840.1.101.3.4.2.2.
    Sha384,
    /// SHA-512, OID 2.16.840.1.101.3.4.2.3.
    Sha512,
}

impl HashAlgorithm {
    /// All supported algorithms, strongest last.
    pub const ALL: [HashAlgorithm; 3] = [Self::Sha256, Self::Sha384, Self::Sha512];

    /// Dotted OID text, as it appears in the signature content (`<oid>-Hash:`).
    pub fn oid_str(self) -> &'static str {
        match self {
            Self::Sha256 => "2.16.840.1.101.3.4.2.1",
            Self::Sha384 => "2.16.840.1.101.3.4.2.2",
            Self::Sha512 => "2.16.840.1.101.3.4.2.3",
        }
    }

    /// The algorithm for a dotted OID, if NuGet allows it.
    pub fn from_oid_str(oid: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.oid_str() == oid)
    }

    /// NuGet's name (`SHA256`), as printed by `verify` and written to `nuget.config`.
    pub fn nuget_name(self) -> &'static str {
        match self {
            Self::Sha256 => "SHA256",
            Self::Sha384 => "SHA384",
            Self::Sha512 => "SHA512",
        }
    }

    /// Parses NuGet's name, case-insensitively (`sha256`, `SHA384`, ...).
    pub fn from_nuget_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.nuget_name().eq_ignore_ascii_case(name))
    }

    /// Digest length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    fn aws(self) -> &'static digest::Algorithm {
        match self {
            Self::Sha256 => &digest::SHA256,
            Self::Sha384 => &digest::SHA384,
            Self::Sha512 => &digest::SHA512,
        }
    }

    /// One-shot digest of `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        digest::digest(self.aws(), data).as_ref().to_vec()
    }

    /// A streaming hasher.
    pub fn hasher(self) -> Hasher {
        Hasher(digest::Context::new(self.aws()))
    }
}

impl fmt::Display for HashAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.nuget_name())
    }
}

/// A streaming hash context (SHA-NI accelerated where the CPU has it).
#[derive(Clone)]
pub struct Hasher(digest::Context);

impl Hasher {
    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// Finishes and returns the digest.
    pub fn finish(self) -> Vec<u8> {
        self.0.finish().as_ref().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_oids_round_trip() {
        for a in HashAlgorithm::ALL {
            assert_eq!(HashAlgorithm::from_oid_str(a.oid_str()), Some(a));
            assert_eq!(
                HashAlgorithm::from_nuget_name(&a.nuget_name().to_lowercase()),
                Some(a)
            );
            assert_eq!(a.digest(b"abc").len(), a.output_len());
        }
        assert_eq!(HashAlgorithm::from_oid_str("1.3.14.3.2.26"), None);
    }

    #[test]
    fn streaming_equals_one_shot() {
        let mut h = HashAlgorithm::Sha256.hasher();
        h.update(b"ab");
        h.update(b"c");
        assert_eq!(h.finish(), HashAlgorithm::Sha256.digest(b"abc"));
    }
}
