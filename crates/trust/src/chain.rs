//! Certificate path building with NuGet's (that is, .NET `X509Chain`'s) semantics.
//!
//! Written on `x509-cert` + aws-lc-rs rather than `rustls-webpki` because NuGet builds chains
//! with `IgnoreNotTimeValid` (expiry is judged separately against the timestamp, NU3037) and
//! distinguishes chain statuses — untrusted root, partial chain, bad signature, wrong usage —
//! that map to different NU codes and severities; webpki enforces validity at one instant and
//! reports only the first failure.

use const_oid::ObjectIdentifier;
use signet_signature::Certificate;

use crate::roots::RootSet;

/// Longest chain considered (leaf included).
const MAX_DEPTH: usize = 10;
/// Most signature verifications one chain build may spend (bounds adversarial certificate sets).
const MAX_SIGNATURE_CHECKS: usize = 64;

/// A chain status NuGet distinguishes (names follow .NET `X509ChainStatusFlags`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[non_exhaustive]
pub enum ChainProblem {
    /// The chain ends in a self-signed certificate that is not a trust anchor.
    UntrustedRoot,
    /// No issuer could be found for some certificate.
    PartialChain,
    /// An issuer's signature on a certificate does not verify.
    NotSignatureValid,
    /// A certificate's EKU does not allow the required usage.
    NotValidForUsage,
    /// An issuer is not a CA, or a path length constraint is exceeded.
    InvalidBasicConstraints,
    /// A certificate is revoked.
    Revoked,
}

impl ChainProblem {
    /// .NET's message for the status, as NuGet prints it after the status name.
    pub fn message(self) -> &'static str {
        match self {
            Self::UntrustedRoot => {
                "A certificate chain processed, but terminated in a root certificate which is not trusted by the trust provider."
            }
            Self::PartialChain => {
                "A certificate chain could not be built to a trusted root authority."
            }
            Self::NotSignatureValid => "The signature of the certificate cannot be verified.",
            Self::NotValidForUsage => "The certificate is not valid for the requested usage.",
            Self::InvalidBasicConstraints => {
                "The basic constraints of the certificate are not valid."
            }
            Self::Revoked => "The certificate is revoked.",
        }
    }

    /// The status name (`UntrustedRoot`).
    pub fn name(self) -> &'static str {
        match self {
            Self::UntrustedRoot => "UntrustedRoot",
            Self::PartialChain => "PartialChain",
            Self::NotSignatureValid => "NotSignatureValid",
            Self::NotValidForUsage => "NotValidForUsage",
            Self::InvalidBasicConstraints => "InvalidBasicConstraints",
            Self::Revoked => "Revoked",
        }
    }
}

/// The result of building a chain: the best path found (leaf first) and its problems. Empty
/// problems means the path ends at a trust anchor and every link verified.
#[derive(Clone, Debug)]
pub struct Chain {
    /// Leaf first, anchor (or last certificate reached) last.
    pub certificates: Vec<Certificate>,
    /// Problems of that path.
    pub problems: Vec<ChainProblem>,
}

impl Chain {
    /// Whether the path ends at a trust anchor with no problems.
    pub fn is_trusted(&self) -> bool {
        self.problems.is_empty()
    }

    /// The last certificate of the path (the root, trusted or not).
    pub fn root(&self) -> Option<&Certificate> {
        self.certificates.last()
    }
}

struct Search<'a> {
    extra: &'a [Certificate],
    roots: &'a RootSet,
    budget: usize,
}

struct Candidate {
    path: Vec<Certificate>,
    anchored: bool,
    end: Option<ChainProblem>,
}

impl Search<'_> {
    fn explore(&mut self, path: Vec<Certificate>, out: &mut Vec<Candidate>) {
        let Some(current) = path.last().cloned() else {
            return;
        };
        if self.roots.contains(&current) {
            out.push(Candidate {
                path,
                anchored: true,
                end: None,
            });
            return;
        }
        let self_signed = current.is_self_issued() && {
            self.budget = self.budget.saturating_sub(1);
            current.is_signed_by(&current)
        };
        if self_signed {
            out.push(Candidate {
                path,
                anchored: false,
                end: Some(ChainProblem::UntrustedRoot),
            });
            return;
        }
        if path.len() >= MAX_DEPTH {
            out.push(Candidate {
                path,
                anchored: false,
                end: Some(ChainProblem::PartialChain),
            });
            return;
        }
        // Anchors first, then the certificates that came with the signature.
        let mut issuers: Vec<Certificate> = self
            .roots
            .with_subject(current.issuer_der())
            .into_iter()
            .cloned()
            .collect();
        for c in self.extra {
            if c.subject_der() == current.issuer_der() && !issuers.contains(c) {
                issuers.push(c.clone());
            }
        }
        issuers.retain(|c| !path.contains(c));
        if let (Some(aki), true) = (current.authority_key_identifier(), issuers.len() > 1) {
            // Prefer issuers whose key identifier matches; keep the others as fallbacks.
            issuers.sort_by_key(|c| c.subject_key_identifier().as_deref() != Some(aki.as_slice()));
        }
        let mut found_any = false;
        let mut bad_signature = false;
        for issuer in issuers {
            if self.budget == 0 {
                break;
            }
            self.budget -= 1;
            if !current.is_signed_by(&issuer) {
                bad_signature = true;
                continue;
            }
            found_any = true;
            let mut next = path.clone();
            next.push(issuer);
            self.explore(next, out);
            if out.iter().any(|c| c.anchored) {
                return;
            }
        }
        if !found_any {
            let problem = if bad_signature {
                ChainProblem::NotSignatureValid
            } else {
                ChainProblem::PartialChain
            };
            out.push(Candidate {
                path,
                anchored: false,
                end: Some(problem),
            });
        }
    }
}

/// Builds the chain of `leaf` to an anchor in `roots`, using `extra` for intermediates, and
/// checks that every certificate below the anchor allows `eku` (a certificate without an EKU
/// extension allows every usage). Validity periods are ignored, as NuGet asks .NET to do.
pub fn build_chain(
    leaf: &Certificate,
    extra: &[Certificate],
    roots: &RootSet,
    eku: &ObjectIdentifier,
) -> Chain {
    // Memoised per root set: NuGet rebuilds the same signer and TSA chains for every package
    // (NuGet/Home#12672); the inputs fully determine the result, since validity periods are
    // not part of it.
    let mut h = signet_common::HashAlgorithm::Sha256.hasher();
    for c in std::iter::once(leaf).chain(extra) {
        h.update(&(c.der().len() as u64).to_be_bytes());
        h.update(c.der());
    }
    h.update(eku.as_bytes());
    let key = h.finish();
    if let Some(chain) = roots.memoised_chain(&key) {
        return chain;
    }
    let chain = build_chain_uncached(leaf, extra, roots, eku);
    roots.memoise_chain(key, &chain);
    chain
}

fn build_chain_uncached(
    leaf: &Certificate,
    extra: &[Certificate],
    roots: &RootSet,
    eku: &ObjectIdentifier,
) -> Chain {
    let mut search = Search {
        extra,
        roots,
        budget: MAX_SIGNATURE_CHECKS,
    };
    let mut candidates = Vec::new();
    search.explore(vec![leaf.clone()], &mut candidates);
    // Best: anchored; then an untrusted self-signed root; then the longest partial path.
    let best = candidates.into_iter().max_by_key(|c| {
        let rank = match (c.anchored, c.end) {
            (true, _) => 3,
            (false, Some(ChainProblem::UntrustedRoot)) => 2,
            (false, Some(ChainProblem::NotSignatureValid)) => 1,
            _ => 0,
        };
        (rank, c.path.len())
    });
    let Some(best) = best else {
        return Chain {
            certificates: vec![leaf.clone()],
            problems: vec![ChainProblem::PartialChain],
        };
    };
    let mut problems: Vec<ChainProblem> = best.end.into_iter().collect();
    let anchor_index = if best.anchored {
        best.path.len() - 1
    } else {
        best.path.len()
    };
    for (i, cert) in best.path.iter().enumerate() {
        // The anchor's own extensions are not judged, but the leaf always is (a user may trust
        // a self-signed leaf directly).
        if i >= anchor_index && i > 0 {
            break;
        }
        if !cert.allows_eku(eku) && !problems.contains(&ChainProblem::NotValidForUsage) {
            problems.push(ChainProblem::NotValidForUsage);
        }
        if i > 0
            && !issuer_constraints_ok(cert, i - 1)
            && !problems.contains(&ChainProblem::InvalidBasicConstraints)
        {
            problems.push(ChainProblem::InvalidBasicConstraints);
        }
    }
    Chain {
        certificates: best.path,
        problems,
    }
}

/// An intermediate must be a CA (version 1 certificates without extensions are tolerated, as
/// Windows does), allow `below` intermediates under it, and have keyCertSign in its key usage
/// when it has one.
fn issuer_constraints_ok(cert: &Certificate, below: usize) -> bool {
    // A key usage extension, when present, must allow certificate signing.
    if !cert.key_usage_allows_cert_sign() {
        return false;
    }
    match cert.basic_constraints() {
        Some((true, None)) => true,
        Some((true, Some(max))) => below <= usize::from(max),
        Some((false, _)) => false,
        None => cert.x509().tbs_certificate().extensions().is_none(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::TrustStore;

    #[test]
    fn chains_are_memoised_per_root_set_and_forgotten_when_roots_change() {
        let p = signet_test_support::pki();
        let leaf = Certificate::from_der(&p.code_signing.cert_der).unwrap();
        let extra = vec![Certificate::from_der(&p.intermediate.cert_der).unwrap()];
        let mut store = TrustStore::empty();
        let first = build_chain(
            &leaf,
            &extra,
            store.code_signing(),
            &signet_signature::oids::EKU_CODE_SIGNING,
        );
        assert!(
            first.problems.contains(&ChainProblem::UntrustedRoot)
                || first.problems.contains(&ChainProblem::PartialChain)
        );
        assert_eq!(store.code_signing().chains.lock().unwrap().len(), 1);
        let again = build_chain(
            &leaf,
            &extra,
            store.code_signing(),
            &signet_signature::oids::EKU_CODE_SIGNING,
        );
        assert_eq!(again.problems, first.problems);
        // Adding the root forgets the memo; the chain is now trusted.
        store.add_roots(
            vec![Certificate::from_der(&p.root.cert_der).unwrap()],
            "test",
        );
        assert_eq!(store.code_signing().chains.lock().unwrap().len(), 0);
        let trusted = build_chain(
            &leaf,
            &extra,
            store.code_signing(),
            &signet_signature::oids::EKU_CODE_SIGNING,
        );
        assert!(trusted.problems.is_empty(), "{:?}", trusted.problems);
    }
}
