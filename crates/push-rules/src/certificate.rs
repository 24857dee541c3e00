//! Registering a certificate on an account (spec server §1.3, R1.4).

use signet_common::UtcTime;
use signet_signature::{Certificate, oids};
use signet_trust::{ChainProblem, TrustStore, build_chain};

/// Largest `.cer` accepted (NuGet.org's limit).
pub const MAX_CERTIFICATE_SIZE: usize = 10_000;

/// A certificate accepted for registration, with what the account page lists.
#[derive(Clone, Debug)]
pub struct UploadedCertificate {
    /// SHA-256 of the uploaded bytes, lower-case hex (NuGet.org's thumbprint).
    pub fingerprint: String,
    /// Subject DN.
    pub subject: String,
    /// Issuer DN.
    pub issuer: String,
    /// notAfter.
    pub expires: UtcTime,
    /// Warnings (signet's lint; NuGet.org registers such certificates silently).
    pub warnings: Vec<CertificateLint>,
}

/// Something about a registered certificate that will make pushes signed with it fail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CertificateLint {
    /// No code-signing EKU.
    NotCodeSigning,
    /// Not RSA, or RSA under 2048 bits.
    WeakKey {
        /// Key size, when RSA.
        bits: Option<usize>,
    },
    /// Expired at upload.
    Expired,
    /// Not yet valid at upload.
    NotYetValid,
    /// Self-issued (NuGet.org treats it as an untrusted root).
    SelfIssued,
    /// Does not chain to the server's trusted roots.
    Untrusted {
        /// The chain problems.
        problems: Vec<String>,
    },
}

impl CertificateLint {
    /// The warning, with its consequence.
    pub fn message(&self) -> String {
        match self {
            Self::NotCodeSigning => "The certificate has no code-signing extended key usage (1.3.6.1.5.5.7.3.3): packages signed with it will be rejected (NU3018).".into(),
            Self::WeakKey { bits: Some(b) } => format!("The certificate's RSA key has {b} bits: packages signed with it will be rejected (NU3014); 2048 bits or more are required."),
            Self::WeakKey { bits: None } => "The certificate's key is not RSA: packages signed with it will be rejected (NU3014).".into(),
            Self::Expired => "The certificate has expired: new packages signed with it will be rejected (NU3037 without a timestamp inside its validity).".into(),
            Self::NotYetValid => "The certificate is not valid yet: packages signed with it will be rejected until it is (NU3017).".into(),
            Self::SelfIssued => "The certificate is self-issued: it cannot chain to a trusted root, so packages signed with it will be rejected (NU3018).".into(),
            Self::Untrusted { problems } => format!("The certificate does not chain to a root this server trusts ({}): packages signed with it will be rejected (NU3018).", problems.join(", ")),
        }
    }
}

/// NuGet.org's upload checks, exactly: a file name ending in `.cer`, 1 to 10,000 bytes, DER
/// whose outer SEQUENCE length covers exactly the rest of the file and whose content starts
/// with a SEQUENCE (PEM, PKCS#12 and trailing data are refused) — plus, beyond NuGet.org, the
/// certificate must parse, and signet's lint runs against `roots` at `now` (warnings only;
/// `intermediates` may complete the chain).
pub fn check_certificate_upload(
    file_name: &str,
    bytes: &[u8],
    roots: &TrustStore,
    intermediates: &[Certificate],
    now: UtcTime,
) -> Result<UploadedCertificate, String> {
    if !file_name.to_ascii_lowercase().ends_with(".cer") {
        return Err("The file extension must be .cer.".into());
    }
    if bytes.is_empty() {
        return Err("The file length is invalid.".into());
    }
    if bytes.len() > MAX_CERTIFICATE_SIZE {
        return Err(format!(
            "The file exceeds the size limit of {MAX_CERTIFICATE_SIZE} bytes."
        ));
    }
    if !der_sniff(bytes) {
        return Err("The file must be a DER encoded binary X.509 certificate.".into());
    }
    let cert = Certificate::from_der(bytes)
        .map_err(|e| format!("The file must be a DER encoded binary X.509 certificate ({e})."))?;
    let mut warnings = Vec::new();
    if !cert.allows_eku(&oids::EKU_CODE_SIGNING) {
        warnings.push(CertificateLint::NotCodeSigning);
    }
    match cert.rsa_key_bits() {
        Some(b) if b >= 2048 => {}
        bits => warnings.push(CertificateLint::WeakKey { bits }),
    }
    if cert.not_after() < now {
        warnings.push(CertificateLint::Expired);
    }
    if cert.not_before() > now {
        warnings.push(CertificateLint::NotYetValid);
    }
    if cert.is_self_issued() {
        warnings.push(CertificateLint::SelfIssued);
    } else {
        let chain = build_chain(
            &cert,
            intermediates,
            roots.code_signing(),
            &oids::EKU_CODE_SIGNING,
        );
        let problems: Vec<String> = chain
            .problems
            .iter()
            .filter(|p| {
                **p != ChainProblem::NotValidForUsage
                    || !warnings.contains(&CertificateLint::NotCodeSigning)
            })
            .map(|p| p.name().to_string())
            .collect();
        if !problems.is_empty() {
            warnings.push(CertificateLint::Untrusted { problems });
        }
    }
    Ok(UploadedCertificate {
        fingerprint: cert.sha256_hex().to_lowercase(),
        subject: cert.subject(),
        issuer: cert.issuer(),
        expires: cert.not_after(),
        warnings,
    })
}

/// NuGet.org's structural sniff: `30 <len>` where the length (short or long form) is exactly
/// the rest of the file, and the content starts with `30`.
fn der_sniff(bytes: &[u8]) -> bool {
    let mut it = bytes.iter().copied();
    if it.next() != Some(0x30) {
        return false;
    }
    let Some(first) = it.next() else {
        return false;
    };
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2usize)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return false;
        }
        let mut len = 0usize;
        for _ in 0..n {
            let Some(b) = it.next() else {
                return false;
            };
            len = (len << 8) | usize::from(b);
        }
        (len, 2 + n)
    };
    header.checked_add(len) == Some(bytes.len()) && bytes.get(header) == Some(&0x30)
}
