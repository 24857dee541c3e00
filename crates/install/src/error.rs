//! The crate's one error type.

use signet_trust::Issue;

/// Why an install stopped. Nothing of the failing package is left in the packages folder.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Resolving or downloading failed.
    #[error(transparent)]
    Feed(#[from] signet_feed::Error),
    /// A package was refused by its source's policy (nothing was extracted).
    #[error("{}", blocked_message(.id, .version, .source_url, .issues))]
    Blocked {
        /// Package id.
        id: String,
        /// Version.
        version: String,
        /// The source it came from.
        source_url: String,
        /// Why (the errors of the verification).
        issues: Vec<Issue>,
        /// The signatures as evaluated (signer certificates, timestamps, repository
        /// service index and owners): what a prompt shows to decide whether to trust them.
        signatures: Vec<signet_trust::SignatureReport>,
    },
    /// A package is not provably in its source's pinned transparency log, or the log showed
    /// this client a history that is not the one it showed before (nothing was extracted).
    #[error(
        "Package '{id} {version}' from source '{source_url}' was refused: transparency log: {failure}"
    )]
    TransparencyLog {
        /// Package id.
        id: String,
        /// Version.
        version: String,
        /// The source it came from.
        source_url: String,
        /// What failed, and where the evidence is.
        failure: Box<crate::tlog::LogFailure>,
    },
    /// A package could not be extracted.
    #[error("{id} {version}: {source}")]
    Extract {
        /// Package id.
        id: String,
        /// Version.
        version: String,
        /// The cause.
        source: signet_nupkg::Error,
    },
    /// A package that cannot be placed in the packages folder as it is (an entry named like
    /// one of the folder's metadata files).
    #[error("{id} {version}: {reason}")]
    Unplaceable {
        /// Package id.
        id: String,
        /// Version.
        version: String,
        /// Why.
        reason: String,
    },
    /// A local file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
}

fn blocked_message(id: &str, version: &str, source: &str, issues: &[Issue]) -> String {
    let mut s = format!("Package '{id} {version}' from source '{source}' was refused:");
    if issues.is_empty() {
        s.push_str(" the signature verification failed");
    }
    for i in issues {
        match i.code {
            Some(code) => s.push_str(&format!("\n  {code}: {}", i.message)),
            None => s.push_str(&format!("\n  {}", i.message)),
        }
    }
    s
}

impl Error {
    /// The NU code of the first blocking issue, if any.
    pub fn code(&self) -> Option<signet_common::NuCode> {
        match self {
            Self::Blocked { issues, .. } => issues.iter().find_map(|i| i.code),
            Self::Extract { source, .. } => source.code(),
            _ => None,
        }
    }
}
