//! Trust anchors: the bundled Microsoft Trusted Root Program snapshot (code signing and
//! timestamping kept apart, as the .NET SDK does) plus user-supplied roots. The OS root store is
//! never consulted.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;

use signet_signature::{Certificate, index_der_certificates};

use crate::Error;

/// Which bundled snapshot this build carries (printed by `verify -v d`).
pub const SNAPSHOT: &str = "Microsoft Trusted Root Program bundles of the .NET SDK, \
     as in NuGet.Client fac35579 (2024-10-23): 299 code-signing roots, 310 timestamping roots";

static CODESIGN_DER: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/codesignctl.der"));
static TIMESTAMP_DER: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/timestampctl.der"));

struct Entry {
    der: Cow<'static, [u8]>,
    parsed: OnceLock<Option<Certificate>>,
}

/// A set of trust anchors indexed by subject, parsed lazily (a bundle has hundreds of roots and
/// a verification touches two or three).
#[derive(Default)]
pub struct RootSet {
    entries: Vec<Entry>,
    by_subject: HashMap<Vec<u8>, Vec<usize>>,
}

impl std::fmt::Debug for RootSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RootSet({} roots)", self.entries.len())
    }
}

impl RootSet {
    fn from_static(der: &'static [u8]) -> Result<Self, Error> {
        let mut set = Self::default();
        let index = index_der_certificates(der).map_err(Error::Roots)?;
        for (cert, subject) in index {
            set.push(Cow::Borrowed(cert), subject.to_vec(), None);
        }
        Ok(set)
    }

    fn push(&mut self, der: Cow<'static, [u8]>, subject: Vec<u8>, parsed: Option<Certificate>) {
        if self.by_subject.get(&subject).is_some_and(|ix| {
            ix.iter()
                .any(|i| self.entries.get(*i).is_some_and(|e| e.der == der))
        }) {
            return; // already present
        }
        let cell = OnceLock::new();
        if let Some(p) = parsed {
            let _ = cell.set(Some(p));
        }
        self.by_subject
            .entry(subject)
            .or_default()
            .push(self.entries.len());
        self.entries.push(Entry { der, parsed: cell });
    }

    /// Adds a root.
    pub fn add(&mut self, cert: Certificate) {
        let subject = cert.subject_der().to_vec();
        let der = Cow::Owned(cert.der().to_vec());
        self.push(der, subject, Some(cert));
    }

    /// Number of roots.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Roots whose subject is `subject` (DER Name).
    pub fn with_subject(&self, subject: &[u8]) -> Vec<&Certificate> {
        self.by_subject
            .get(subject)
            .map(|ix| {
                ix.iter()
                    .filter_map(|i| self.entries.get(*i))
                    .filter_map(|e| {
                        e.parsed
                            .get_or_init(|| Certificate::from_der(&e.der).ok())
                            .as_ref()
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether `cert` is one of the anchors (byte-identical).
    pub fn contains(&self, cert: &Certificate) -> bool {
        self.with_subject(cert.subject_der())
            .iter()
            .any(|r| r.der() == cert.der())
    }
}

/// The anchors for code signing (author and repository signers) and for timestamping.
#[derive(Debug)]
pub struct TrustStore {
    code_signing: RootSet,
    timestamping: RootSet,
    description: String,
}

impl TrustStore {
    /// The bundled snapshot.
    pub fn bundled() -> Result<Self, Error> {
        Ok(Self {
            code_signing: RootSet::from_static(CODESIGN_DER)?,
            timestamping: RootSet::from_static(TIMESTAMP_DER)?,
            description: format!("bundled: {SNAPSHOT}"),
        })
    }

    /// No anchors at all (replace mode: only user roots).
    pub fn empty() -> Self {
        Self {
            code_signing: RootSet::default(),
            timestamping: RootSet::default(),
            description: "no bundled roots".into(),
        }
    }

    /// Adds roots trusted for both code signing and timestamping (a test or enterprise CA).
    pub fn add_roots(&mut self, roots: Vec<Certificate>, source: &str) {
        let n = roots.len();
        for r in roots {
            self.code_signing.add(r.clone());
            self.timestamping.add(r);
        }
        self.description
            .push_str(&format!("; plus {n} root(s) from {source}"));
    }

    /// Anchors for code-signing chains.
    pub fn code_signing(&self) -> &RootSet {
        &self.code_signing
    }

    /// Anchors for timestamping chains.
    pub fn timestamping(&self) -> &RootSet {
        &self.timestamping
    }

    /// What this store holds, for `verify -v d`.
    pub fn description(&self) -> &str {
        &self.description
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_roots_index_and_parse() {
        let store = TrustStore::bundled().unwrap();
        assert_eq!(store.code_signing().len(), 299);
        assert_eq!(store.timestamping().len(), 310);
        let any = store.code_signing().entries.first().unwrap();
        let cert = Certificate::from_der(&any.der).unwrap();
        assert!(store.code_signing().contains(&cert));
        assert!(
            !store
                .code_signing()
                .with_subject(cert.subject_der())
                .is_empty()
        );
    }
}
