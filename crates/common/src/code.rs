use std::fmt;

/// A NuGet log code (`NU3000`–`NU3043` for signing), as data.
///
/// The numeric value is the one NuGet prints; see `../shared/spec/nuget-signatures.md` §6.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(into = "String")]
pub struct NuCode(u16);

macro_rules! codes {
    ($($name:ident = $n:literal : $doc:literal),* $(,)?) => {
        impl NuCode {
            $(#[doc = $doc] pub const $name: NuCode = NuCode($n);)*
        }
    };
}

codes! {
    NU3000 = 3000: "Generic signing or verification error (invalid content, conflicting types).",
    NU3001 = 3001: "Invalid input to signing (already signed, bad certificate or key file).",
    NU3002 = 3002: "No timestamper was given when signing.",
    NU3003 = 3003: "The signature is invalid or cannot be decoded.",
    NU3004 = 3004: "The package is not signed.",
    NU3005 = 3005: "The signature file entry in the ZIP is invalid.",
    NU3006 = 3006: "Signed Zip64 packages are not supported.",
    NU3007 = 3007: "The signature format version is not supported.",
    NU3008 = 3008: "The package integrity check failed.",
    NU3009 = 3009: "The signature does not have exactly one primary signature.",
    NU3010 = 3010: "The primary signature has no signing certificate.",
    NU3011 = 3011: "The primary signature is invalid (signing-certificate or signing-time).",
    NU3012 = 3012: "Signature validation failed (bad signature, chain problem, revoked).",
    NU3013 = 3013: "The signing certificate has an unsupported signature algorithm.",
    NU3014 = 3014: "The signing certificate's public key is too short.",
    NU3015 = 3015: "The signing certificate has the lifetime-signing EKU.",
    NU3016 = 3016: "Unsupported package hash algorithm.",
    NU3017 = 3017: "The signing certificate is not yet valid.",
    NU3018 = 3018: "The signing certificate chain is not trusted or its revocation is unknown.",
    NU3019 = 3019: "The timestamp does not match the signature (imprint mismatch).",
    NU3020 = 3020: "The timestamp has no signing certificate.",
    NU3021 = 3021: "The timestamp signature is invalid.",
    NU3022 = 3022: "The timestamp certificate has an unsupported signature algorithm.",
    NU3023 = 3023: "The timestamp certificate's public key is too short.",
    NU3024 = 3024: "The timestamp signature has an unsupported digest algorithm.",
    NU3025 = 3025: "The timestamp certificate is not yet valid.",
    NU3026 = 3026: "The timestamp response nonce does not match the request.",
    NU3027 = 3027: "The signature should be timestamped.",
    NU3028 = 3028: "The timestamp certificate chain has a problem.",
    NU3029 = 3029: "The timestamp has no certificates.",
    NU3030 = 3030: "The timestamp imprint uses an unsupported hash algorithm.",
    NU3031 = 3031: "The repository countersignature is invalid.",
    NU3032 = 3032: "The package has more than one repository countersignature.",
    NU3033 = 3033: "A repository primary signature must not have a repository countersignature.",
    NU3034 = 3034: "The signing certificate is not in the allow list.",
    NU3035 = 3035: "The countersignature certificate chain has a problem.",
    NU3036 = 3036: "The timestamp generation time is outside the timestamp certificate's validity.",
    NU3037 = 3037: "The signature validity period has expired.",
    NU3038 = 3038: "A repository countersignature is required but absent.",
    NU3039 = 3039: "The package has too many entries to be signed without Zip64.",
    NU3040 = 3040: "Conflicting allowUntrustedRoot settings for one certificate.",
    NU3042 = 3042: "The root certificate is not in the certificate bundle.",
    NU3043 = 3043: "SHA-1 certificate fingerprints are not supported.",
}

impl NuCode {
    /// The numeric part (`3008` for `NU3008`).
    pub fn number(self) -> u16 {
        self.0
    }

    /// Parses the printed form (`NU3008`), as stored in caches and reports.
    pub fn parse(s: &str) -> Option<Self> {
        let digits = s.strip_prefix("NU")?;
        if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok().map(NuCode)
    }
}

impl fmt::Display for NuCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NU{}", self.0)
    }
}

impl From<NuCode> for String {
    fn from(c: NuCode) -> String {
        c.to_string()
    }
}

/// How serious a verification issue is, in NuGet's log levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Severity {
    /// Shown at detailed verbosity only.
    Verbose,
    /// Informational (NuGet `LogLevel.Information`).
    Information,
    /// A warning; does not fail verification by itself.
    Warning,
    /// An error; the package is not valid.
    Error,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_nuget_form() {
        assert_eq!(NuCode::NU3008.to_string(), "NU3008");
        assert_eq!(NuCode::NU3043.number(), 3043);
    }
}
