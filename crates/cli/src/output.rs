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
    println!("{indent}Subject Name: {}", c.subject);
    if full {
        println!("{indent}SHA1 hash: {}", c.sha1);
    }
    println!("{indent}SHA256 hash: {}", c.sha256);
    if full {
        println!("{indent}Issued by: {}", c.issuer);
    }
    let from = c.valid_from().map(|t| t.to_string()).unwrap_or_default();
    let to = c.valid_to().map(|t| t.to_string()).unwrap_or_default();
    println!("{indent}Valid from: {from} to {to}");
}

/// A warning or error line, `warn : NU3027: …` / `error: NU3018: …` (dotnet's prefixes).
pub fn print_issue(i: &Issue) {
    let code = i.code.map(|c| format!("{c}: ")).unwrap_or_default();
    // Everything goes to stdout, in order, as NuGet's logger does.
    match i.severity {
        Severity::Error => println!("error: {code}{}", i.message),
        Severity::Warning => println!("warn : {code}{}", i.message),
        _ => println!("{code}{}", i.message),
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
    println!();
    if s.signature_type != SignatureType::Unknown {
        println!("Signature type: {}", s.signature_type.name());
    }
    if v >= Verbosity::Normal {
        if let Some(url) = &s.service_index {
            println!("Service index: {url}");
        }
        if !s.owners.is_empty() {
            println!("Owners: {}", s.owners.join(", "));
        }
        if let Some(cert) = &s.certificate {
            println!("Verifying the {} with certificate: ", s.friendly_name);
            print_certificate_block(cert, "  ", true);
            if v >= Verbosity::Detailed {
                print_chain(&s.chain);
            }
        }
        if let Some(ts) = &s.timestamp
            && ts.valid
        {
            println!(
                "Timestamp: {}",
                ts.time().map(|t| t.to_string()).unwrap_or_default()
            );
            println!(
                "Verifying {}'s timestamp with timestamping service certificate: ",
                s.friendly_name
            );
            print_certificate_block(&ts.certificate, "  ", true);
            if v >= Verbosity::Detailed {
                print_chain(&ts.chain);
            }
        }
    } else if let Some(cert) = &s.certificate {
        print_certificate_block(cert, "  ", false);
    }
}

/// Prints one package's result.
pub fn print_report(path: &str, r: &PackageReport, v: Verbosity) {
    let name = match (&r.id, &r.version) {
        (Some(id), Some(ver)) => format!("{id}.{ver}"),
        _ => path.to_string(),
    };
    println!();
    println!("Verifying {name}");
    if v >= Verbosity::Normal {
        println!("{path}");
        if let Some(hash) = &r.content_hash {
            println!("Content hash: {hash}");
        }
        for i in r
            .issues
            .iter()
            .filter(|i| !i.is_problem() && i.code.is_none())
        {
            println!("{}", i.message);
        }
    }
    // The primary first, then the countersignature, as NuGet prints them.
    for s in &r.signatures {
        print_signature(s, v);
    }
    if v >= Verbosity::Normal {
        let infos: Vec<&Issue> = r
            .issues
            .iter()
            .filter(|i| !i.is_problem() && i.code.is_some())
            .collect();
        if !infos.is_empty() && v >= Verbosity::Detailed {
            println!();
            infos.iter().for_each(|i| print_issue(i));
        }
    }
    let problems: Vec<&Issue> = r.issues.iter().filter(|i| i.is_problem()).collect();
    if !problems.is_empty() {
        println!();
        if v >= Verbosity::Normal {
            println!(
                "Finished with {} errors and {} warnings.",
                r.error_count(),
                r.warning_count()
            );
        }
        problems.iter().for_each(|i| print_issue(i));
    }
    println!();
    if r.valid {
        println!("Successfully verified package '{name}'.");
    } else {
        println!("Package signature validation failed.");
    }
}
