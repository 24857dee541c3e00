//! The crate's one error type.

/// Why a feed operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A version or version range that NuGet would not parse.
    #[error("'{0}' is not a valid NuGet version")]
    Version(String),
    /// A version range that NuGet would not parse (floating ranges are not supported).
    #[error("'{0}' is not a valid NuGet version range")]
    Range(String),
    /// The source answered something that breaks the NuGet protocol.
    #[error("{source_url}: {message}")]
    Protocol {
        /// The source or resource URL.
        source_url: String,
        /// What is wrong.
        message: String,
    },
    /// The transport failed.
    #[error("{url}: {message}")]
    Http {
        /// The URL.
        url: String,
        /// What failed.
        message: String,
    },
    /// A plain-http URL that the policy does not allow (NuGet: NU1302).
    #[error(
        "NU1302: '{0}' uses plain http; signet needs https here (see --allow-insecure-connections)"
    )]
    InsecureUrl(String),
    /// The package is not on any source.
    #[error("NU1101: unable to find package '{id}'{range} on {sources}")]
    NotFound {
        /// Package id.
        id: String,
        /// ` with version (range)` or empty.
        range: String,
        /// The sources searched.
        sources: String,
    },
    /// A downloaded package that is not what was asked for, or cannot be read.
    #[error("{source_url}: {id} {version}: {message}")]
    BadPackage {
        /// Where it came from.
        source_url: String,
        /// Package id asked for.
        id: String,
        /// Version asked for.
        version: String,
        /// What is wrong.
        message: String,
    },
    /// A dependency graph that cannot be resolved (cycle, too deep, too large).
    #[error("{0}")]
    Graph(String),
    /// A local file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
}
