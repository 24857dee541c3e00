//! Human output in the shape of `nuget verify` / `dotnet nuget verify` (spec §7.1).

use signet_common::Severity;
use signet_trust::{CertificateInfo, Issue, PackageReport, SignatureReport, SignatureType};

/// Verbosity, as NuGet's `-v q|n|d` (`m` is accepted as quiet).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    Quiet,
    Normal,
    Detailed,
}

pub fn parse_verbosity(s: &str) -> Result<Verbosity, String> {
    match s.to_ascii_lowercase().as_str() {
        "q" | "quiet" | "m" | "minimal" => Ok(Verbosity::Quiet),
        "n" | "normal" => Ok(Verbosity::Normal),
        "d" | "detailed" | "diag" | "diagnostic" => Ok(Verbosity::Detailed),
        _ => Err(format!("'{s}' is not a verbosity (q, n, d)")),
    }
}

/// `Subject Name / SHA1 hash / SHA256 hash / Issued by / Valid from` block.
pub fn print_certificate_block(c: &CertificateInfo, indent: &str, full: bool) {
    out!("{indent}Subject Name: {}", c.subject);
    if full {
        out!("{indent}SHA1 hash: {}", c.sha1);
    }
    out!("{indent}SHA256 hash: {}", c.sha256);
    if full {
        out!("{indent}Issued by: {}", c.issuer);
    }
    let from = c.valid_from().map(|t| t.to_string()).unwrap_or_default();
    let to = c.valid_to().map(|t| t.to_string()).unwrap_or_default();
    out!("{indent}Valid from: {from} to {to}");
}

/// A warning or error line, `warn : NU3027: …` / `error: NU3018: …` (dotnet's prefixes).
pub fn print_issue(i: &Issue) {
    let code = i.code.map(|c| format!("{c}: ")).unwrap_or_default();
    // Everything goes to stdout, in order, as NuGet's logger does.
    match i.severity {
        Severity::Error => out!("error: {code}{}", i.message),
        Severity::Warning => out!("warn : {code}{}", i.message),
        _ => out!("{code}{}", i.message),
    }
}

fn print_chain(chain: &[CertificateInfo]) {
    let mut indent = String::from("      ");
    for c in chain.iter().skip(1) {
        print_certificate_block(c, &indent, true);
        indent.push_str("      ");
    }
}

fn print_signature(s: &SignatureReport, v: Verbosity) {
    out!();
    if s.signature_type != SignatureType::Unknown {
        out!("Signature type: {}", s.signature_type.name());
    }
    if v >= Verbosity::Normal {
        if let Some(url) = &s.service_index {
            out!("Service index: {}", signet_common::Untrusted(url));
        }
        if !s.owners.is_empty() {
            out!(
                "Owners: {}",
                s.owners
                    .iter()
                    .map(|o| signet_common::Untrusted(o).to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        if let Some(cert) = &s.certificate {
            out!("Verifying the {} with certificate: ", s.friendly_name);
            print_certificate_block(cert, "  ", true);
            if v >= Verbosity::Detailed {
                print_chain(&s.chain);
            }
        }
        if let Some(ts) = &s.timestamp
            && ts.valid
        {
            out!(
                "Timestamp: {}",
                ts.time().map(|t| t.to_string()).unwrap_or_default()
            );
            out!(
                "Verifying {}'s timestamp with timestamping service certificate: ",
                s.friendly_name
            );
            print_certificate_block(&ts.certificate, "  ", true);
            if v >= Verbosity::Detailed {
                print_chain(&ts.chain);
            }
        }
        if v >= Verbosity::Detailed {
            for i in s.issues.iter().filter(|i| !i.is_problem()) {
                print_issue(i);
            }
        }
    } else if let Some(cert) = &s.certificate {
        print_certificate_block(cert, "  ", false);
    }
}

/// Prints one package's result.
pub fn print_report(path: &str, r: &PackageReport, v: Verbosity) {
    let name = match (&r.id, &r.version) {
        (Some(id), Some(ver)) => format!(
            "{}.{}",
            signet_common::Untrusted(id),
            signet_common::Untrusted(ver)
        ),
        _ => signet_common::Untrusted(path).to_string(),
    };
    out!();
    out!("Verifying {name}");
    if v >= Verbosity::Normal {
        out!("{}", signet_common::Untrusted(path));
        if let Some(hash) = &r.content_hash {
            out!("Content hash: {hash}");
        }
        // Package-level information (the integrity provider's hash algorithm line).
        let in_signature = |i: &Issue| r.signatures.iter().any(|s| s.issues.contains(i));
        for i in r
            .issues
            .iter()
            .filter(|i| !i.is_problem() && !in_signature(i))
        {
            out!("{}", i.message);
        }
    }
    // The primary first, then the countersignature, as NuGet prints them.
    for s in &r.signatures {
        print_signature(s, v);
    }
    let problems: Vec<&Issue> = r.issues.iter().filter(|i| i.is_problem()).collect();
    if !problems.is_empty() {
        out!();
        if v >= Verbosity::Normal {
            out!(
                "Finished with {} errors and {} warnings.",
                r.error_count(),
                r.warning_count()
            );
        }
        problems.iter().for_each(|i| print_issue(i));
    }
    if let Some(identity) = &r.trusted_identity {
        out!();
        out!(
            "The author signature is trusted by identity '{}'.",
            signet_common::Untrusted(identity)
        );
    }
    out!();
    if r.valid {
        out!("Successfully verified package '{name}'.");
    } else {
        out!("Package signature validation failed.");
    }
}
