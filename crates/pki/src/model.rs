//! The vocabulary of the development PKI: which certificates it holds, revocation reasons,
//! and RFC 3339 times.

use std::fmt;
use std::str::FromStr;

use signet_common::UtcTime;

use crate::error::Error;

/// A certificate of the development PKI, by role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum CertName {
    /// The self-signed root CA (`root.pem`), what verifiers are given with `--trust-roots`.
    Root,
    /// The intermediate CA, issued by the root; it issues the three leaves.
    Intermediate,
    /// The author-signing certificate (EKU codeSigning), also written as `codesign.pfx`.
    CodeSigning,
    /// The timestamp-authority certificate (critical EKU timeStamping only).
    Tsa,
    /// The repository-signing certificate (EKU codeSigning).
    Repository,
}

impl CertName {
    /// Every certificate, issuers before the certificates they issue.
    pub const ALL: [CertName; 5] = [
        CertName::Root,
        CertName::Intermediate,
        CertName::CodeSigning,
        CertName::Tsa,
        CertName::Repository,
    ];

    /// The short name used in file names, the state file and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            CertName::Root => "root",
            CertName::Intermediate => "intermediate",
            CertName::CodeSigning => "codesign",
            CertName::Tsa => "tsa",
            CertName::Repository => "repository",
        }
    }

    /// The issuing CA (`None` for the self-signed root).
    pub fn issuer(self) -> Option<CertName> {
        match self {
            CertName::Root => None,
            CertName::Intermediate => Some(CertName::Root),
            CertName::CodeSigning | CertName::Tsa | CertName::Repository => {
                Some(CertName::Intermediate)
            }
        }
    }

    /// Whether this certificate is a CA (signs certificates, CRLs and OCSP responses).
    pub fn is_ca(self) -> bool {
        matches!(self, CertName::Root | CertName::Intermediate)
    }

    /// The certificate file: the certificate followed by its issuers (leaf, intermediate,
    /// root), so it can be given as a `--certificate-path` chain.
    pub fn cert_file(self) -> String {
        format!("{}.pem", self.as_str())
    }

    /// The private key file (unencrypted PKCS#8 PEM, mode 0600).
    pub fn key_file(self) -> String {
        format!("{}.key.pem", self.as_str())
    }

    /// The subject common name.
    pub(crate) fn common_name(self) -> &'static str {
        match self {
            CertName::Root => "signet development root CA",
            CertName::Intermediate => "signet development intermediate CA",
            CertName::CodeSigning => "signet development code signing",
            CertName::Tsa => "signet development timestamping",
            CertName::Repository => "signet development repository signing",
        }
    }
}

impl fmt::Display for CertName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CertName {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        CertName::ALL
            .into_iter()
            .find(|n| n.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| Error::UnknownCertificate(s.to_owned()))
    }
}

/// `CRLReason` (RFC 5280 §5.3.1), the reasons `revoke` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RevocationReason {
    /// unspecified (0): written as no reason code, as RFC 5280 §5.3.1 asks.
    Unspecified,
    /// keyCompromise (1).
    KeyCompromise,
    /// cACompromise (2).
    CaCompromise,
    /// affiliationChanged (3).
    AffiliationChanged,
    /// superseded (4).
    Superseded,
    /// cessationOfOperation (5).
    CessationOfOperation,
    /// certificateHold (6).
    CertificateHold,
    /// privilegeWithdrawn (9).
    PrivilegeWithdrawn,
}

impl RevocationReason {
    /// Every reason, in code order.
    pub const ALL: [RevocationReason; 8] = [
        RevocationReason::Unspecified,
        RevocationReason::KeyCompromise,
        RevocationReason::CaCompromise,
        RevocationReason::AffiliationChanged,
        RevocationReason::Superseded,
        RevocationReason::CessationOfOperation,
        RevocationReason::CertificateHold,
        RevocationReason::PrivilegeWithdrawn,
    ];

    /// The RFC 5280 name, e.g. `keyCompromise`.
    pub fn as_str(self) -> &'static str {
        match self {
            RevocationReason::Unspecified => "unspecified",
            RevocationReason::KeyCompromise => "keyCompromise",
            RevocationReason::CaCompromise => "cACompromise",
            RevocationReason::AffiliationChanged => "affiliationChanged",
            RevocationReason::Superseded => "superseded",
            RevocationReason::CessationOfOperation => "cessationOfOperation",
            RevocationReason::CertificateHold => "certificateHold",
            RevocationReason::PrivilegeWithdrawn => "privilegeWithdrawn",
        }
    }

    /// The `CRLReason` ENUMERATED value.
    pub fn code(self) -> u8 {
        match self {
            RevocationReason::Unspecified => 0,
            RevocationReason::KeyCompromise => 1,
            RevocationReason::CaCompromise => 2,
            RevocationReason::AffiliationChanged => 3,
            RevocationReason::Superseded => 4,
            RevocationReason::CessationOfOperation => 5,
            RevocationReason::CertificateHold => 6,
            RevocationReason::PrivilegeWithdrawn => 9,
        }
    }

    pub(crate) fn to_rcgen(self) -> rcgen::RevocationReason {
        use rcgen::RevocationReason as R;
        match self {
            RevocationReason::Unspecified => R::Unspecified,
            RevocationReason::KeyCompromise => R::KeyCompromise,
            RevocationReason::CaCompromise => R::CaCompromise,
            RevocationReason::AffiliationChanged => R::AffiliationChanged,
            RevocationReason::Superseded => R::Superseded,
            RevocationReason::CessationOfOperation => R::CessationOfOperation,
            RevocationReason::CertificateHold => R::CertificateHold,
            RevocationReason::PrivilegeWithdrawn => R::PrivilegeWithdrawn,
        }
    }
}

impl fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RevocationReason {
    type Err = Error;

    /// The RFC 5280 name, case-insensitively (`keycompromise` and `key-compromise` too).
    fn from_str(s: &str) -> Result<Self, Error> {
        let wanted: String = s
            .chars()
            .filter(|c| *c != '-' && *c != '_')
            .collect::<String>()
            .to_ascii_lowercase();
        RevocationReason::ALL
            .into_iter()
            .find(|r| r.as_str().to_ascii_lowercase() == wanted)
            .ok_or_else(|| Error::UnknownReason(s.to_owned()))
    }
}

/// Parses an RFC 3339 date-time: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` (a space or a
/// lowercase `t`/`z` also accepted, as RFC 3339 §5.6 allows).
pub fn parse_rfc3339(text: &str) -> Result<UtcTime, Error> {
    let bad = || Error::BadTime(text.to_owned());
    let s = text.trim();
    let b = s.as_bytes();
    let digits = |from: usize, len: usize| -> Result<i64, Error> {
        let part = s.get(from..from + len).ok_or_else(bad)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        part.parse::<i64>().map_err(|_| bad())
    };
    let at = |i: usize| b.get(i).copied();
    if at(4) != Some(b'-') || at(7) != Some(b'-') || at(13) != Some(b':') || at(16) != Some(b':') {
        return Err(bad());
    }
    if !matches!(at(10), Some(b'T' | b't' | b' ')) {
        return Err(bad());
    }
    let year = i32::try_from(digits(0, 4)?).map_err(|_| bad())?;
    let field = |from| digits(from, 2).and_then(|v| u8::try_from(v).map_err(|_| bad()));
    let (month, day, hour, minute, second) =
        (field(5)?, field(8)?, field(11)?, field(14)?, field(17)?);
    let mut i = 19;
    let mut micros: u32 = 0;
    if at(i) == Some(b'.') {
        i += 1;
        let start = i;
        while at(i).is_some_and(|c| c.is_ascii_digit()) {
            i += 1;
        }
        let frac = s.get(start..i).ok_or_else(bad)?;
        if frac.is_empty() {
            return Err(bad());
        }
        // Microsecond precision: further digits are truncated.
        let mut padded: String = frac.chars().take(6).collect();
        while padded.len() < 6 {
            padded.push('0');
        }
        micros = padded.parse().map_err(|_| bad())?;
    }
    let offset_seconds: i64 = match (at(i), s.get(i + 1..)) {
        (Some(b'Z' | b'z'), Some("")) => 0,
        (Some(sign @ (b'+' | b'-')), Some(rest))
            if rest.len() == 5 && rest.get(2..3) == Some(":") =>
        {
            let h = digits(i + 1, 2)?;
            let m = digits(i + 4, 2)?;
            if h > 23 || m > 59 {
                return Err(bad());
            }
            let total = h * 3600 + m * 60;
            if sign == b'+' { total } else { -total }
        }
        _ => return Err(bad()),
    };
    let local =
        UtcTime::from_civil(year, month, day, hour, minute, second, micros).ok_or_else(bad)?;
    Ok(local.add_micros(-offset_seconds * 1_000_000))
}

/// [`UtcTime`] to the `time` crate's type rcgen takes (whole seconds).
pub(crate) fn to_offset(t: UtcTime) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(t.unix_seconds())
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// One day in microseconds.
pub(crate) const DAY_MICROS: i64 = 86_400 * 1_000_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_forms() {
        let t = UtcTime::from_civil(2026, 1, 31, 12, 0, 0, 0).unwrap();
        assert_eq!(parse_rfc3339("2026-01-31T12:00:00Z").unwrap(), t);
        assert_eq!(parse_rfc3339("2026-01-31t12:00:00z").unwrap(), t);
        assert_eq!(parse_rfc3339("2026-01-31 13:30:00+01:30").unwrap(), t);
        assert_eq!(parse_rfc3339("2026-01-31T10:00:00-02:00").unwrap(), t);
        assert_eq!(
            parse_rfc3339("2026-01-31T12:00:00.5Z").unwrap(),
            t.add_micros(500_000)
        );
        for bad in [
            "",
            "2026-01-31",
            "2026-01-31T12:00:00",
            "2026-02-30T12:00:00Z",
            "2026-01-31T24:00:00Z",
            "2026-01-31T12:00:00.Z",
            "2026-01-31T12:00:00+0100",
            "+026-01-31T12:00:00Z",
            "2026-01-31T12:00:00Zjunk",
            "2026-01-31T12:00:00é",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_rfc3339(&t.rfc3339()).unwrap(), t);
    }

    #[test]
    fn names_and_reasons_round_trip() {
        for n in CertName::ALL {
            assert_eq!(n.as_str().parse::<CertName>().unwrap(), n);
        }
        for r in RevocationReason::ALL {
            assert_eq!(r.as_str().parse::<RevocationReason>().unwrap(), r);
        }
        assert_eq!(
            "key-compromise".parse::<RevocationReason>().unwrap(),
            RevocationReason::KeyCompromise
        );
        assert!("bogus".parse::<RevocationReason>().is_err());
    }
}
