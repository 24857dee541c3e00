//! Trust anchors: the bundled Microsoft Trusted Root Program snapshot (code signing and
//! timestamping kept apart, as the .NET SDK does) plus user-supplied roots. The OS root store is
//! never consulted.

use signet_common::HashAlgorithm;
use std::borrow::Cow;
use std::sync::OnceLock;

use signet_signature::{Certificate, index_der_certificates};

use crate::Error;

/// Which bundled snapshot this build carries (printed by `verify -v d`).
pub const SNAPSHOT: &str = "Microsoft Trusted Root Program bundles of the .NET SDK, \
     as in NuGet.Client fac35579 (2024-10-23): 299 code-signing roots, 310 timestamping roots";

static CODESIGN_DER: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/codesignctl.der"));
static TIMESTAMP_DER: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/timestampctl.der"));

/// A set of trust anchors indexed by subject, parsed lazily (a bundle has hundreds of roots and
/// a verification touches two or three). Building the index walks only each certificate's
/// outer TLVs; lookups are binary searches over the sorted subjects.
#[derive(Default)]
pub struct RootSet {
    ders: Vec<Cow<'static, [u8]>>,
    parsed: Vec<OnceLock<Option<Box<Certificate>>>>,
    /// (subject start, subject end, index into `ders`), sorted by subject bytes.
    by_subject: Vec<(usize, usize, usize)>,
    /// Chains built against this set (see [`crate::build_chain`]), by a hash of their inputs.
    /// Chain building ignores validity periods, so a result holds for every verification time.
    pub(crate) chains: std::sync::Mutex<std::collections::HashMap<Vec<u8>, crate::Chain>>,
}

/// Most chains remembered per root set (each is a few certificates).
const MAX_MEMOISED_CHAINS: usize = 4096;

impl std::fmt::Debug for RootSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RootSet({} roots)", self.ders.len())
    }
}

impl RootSet {
    fn from_static(der: &'static [u8]) -> Result<Self, Error> {
        let index = index_der_certificates(der).map_err(Error::Roots)?;
        let mut set = Self {
            ders: Vec::with_capacity(index.len()),
            parsed: Vec::with_capacity(index.len()),
            by_subject: Vec::with_capacity(index.len()),
            chains: Default::default(),
        };
        for (cert, subject) in index {
            let start = subject.as_ptr() as usize - cert.as_ptr() as usize;
            set.by_subject
                .push((start, start + subject.len(), set.ders.len()));
            set.ders.push(Cow::Borrowed(cert));
            set.parsed.push(OnceLock::new());
        }
        set.sort();
        Ok(set)
    }

    fn subject_of(&self, entry: &(usize, usize, usize)) -> &[u8] {
        self.ders
            .get(entry.2)
            .and_then(|d| d.get(entry.0..entry.1))
            .unwrap_or_default()
    }

    fn sort(&mut self) {
        let mut index = std::mem::take(&mut self.by_subject);
        index.sort_by(|a, b| self.subject_of(a).cmp(self.subject_of(b)));
        self.by_subject = index;
    }

    /// Indexes into `ders` of the roots whose subject is `subject`.
    fn indexes<'s>(&'s self, subject: &'s [u8]) -> impl Iterator<Item = usize> + 's {
        let first = self
            .by_subject
            .partition_point(|e| self.subject_of(e) < subject);
        self.by_subject
            .get(first..)
            .unwrap_or_default()
            .iter()
            .take_while(move |e| self.subject_of(e) == subject)
            .map(|e| e.2)
    }

    /// A remembered chain for `key`.
    pub(crate) fn memoised_chain(&self, key: &[u8]) -> Option<crate::Chain> {
        self.chains.lock().ok()?.get(key).cloned()
    }

    /// Remembers `chain` for `key` (the memo is emptied when it is full).
    pub(crate) fn memoise_chain(&self, key: Vec<u8>, chain: &crate::Chain) {
        if let Ok(mut m) = self.chains.lock() {
            if m.len() >= MAX_MEMOISED_CHAINS {
                m.clear();
            }
            m.insert(key, chain.clone());
        }
    }

    /// Adds a root (ignored if already present).
    pub fn add(&mut self, cert: Certificate) {
        if self.contains(&cert) {
            return;
        }
        if let Ok(m) = self.chains.get_mut() {
            m.clear();
        }
        let der = cert.der().to_vec();
        let subject_len = cert.subject_der().len();
        let Some(start) = der
            .windows(subject_len)
            .position(|w| w == cert.subject_der())
        else {
            return;
        };
        let subject = (start, start + subject_len);
        let cell = OnceLock::new();
        let _ = cell.set(Some(Box::new(cert)));
        self.by_subject
            .push((subject.0, subject.1, self.ders.len()));
        self.ders.push(Cow::Owned(der));
        self.parsed.push(cell);
        self.sort();
    }

    /// Number of roots.
    pub fn len(&self) -> usize {
        self.ders.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.ders.is_empty()
    }

    /// Roots whose subject is `subject` (DER Name).
    pub fn with_subject(&self, subject: &[u8]) -> Vec<&Certificate> {
        self.indexes(subject)
            .filter_map(|i| {
                let der = self.ders.get(i)?;
                self.parsed
                    .get(i)?
                    .get_or_init(|| Certificate::from_der(der).ok().map(Box::new))
                    .as_deref()
            })
            .collect()
    }

    /// Whether `cert` is one of the anchors (byte-identical).
    pub fn contains(&self, cert: &Certificate) -> bool {
        self.indexes(cert.subject_der())
            .any(|i| self.ders.get(i).is_some_and(|d| d.as_ref() == cert.der()))
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

    /// Upper-case hex SHA-256 over every anchor (code-signing set, then timestamping set, each
    /// in insertion order, each certificate prefixed by its length): stores with the same
    /// fingerprint trust the same roots. Verification receipts are keyed by it.
    pub fn fingerprint(&self) -> String {
        let mut h = HashAlgorithm::Sha256.hasher();
        for set in [&self.code_signing, &self.timestamping] {
            h.update(&(set.ders.len() as u64).to_be_bytes());
            for d in &set.ders {
                h.update(&(d.len() as u64).to_be_bytes());
                h.update(d);
            }
        }
        signet_signature::hex_upper(&h.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bundled_root_parses() {
        let store = TrustStore::bundled().unwrap();
        for set in [store.code_signing(), store.timestamping()] {
            for der in &set.ders {
                Certificate::from_der(der).unwrap();
            }
        }
    }

    #[test]
    fn bundled_roots_index_and_parse() {
        let store = TrustStore::bundled().unwrap();
        assert_eq!(store.code_signing().len(), 299);
        assert_eq!(store.timestamping().len(), 310);
        let any = store.code_signing().ders.first().unwrap();
        let cert = Certificate::from_der(any).unwrap();
        assert!(store.code_signing().contains(&cert));
        assert!(
            !store
                .code_signing()
                .with_subject(cert.subject_der())
                .is_empty()
        );
    }
}
