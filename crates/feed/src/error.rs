//! The crate's one error type.

use signet_common::Untrusted;

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
    /// The source answered something that breaks the NuGet protocol. (URLs and messages can
    /// carry a feed's text: shown escaped, on one line.)
    #[error("{}: {}", Untrusted(source_url), Untrusted(message))]
    Protocol {
        /// The source or resource URL.
        source_url: String,
        /// What is wrong.
        message: String,
    },
    /// The transport failed.
    #[error("{}: {}", Untrusted(url), Untrusted(message))]
    Http {
        /// The URL.
        url: String,
        /// What failed.
        message: String,
    },
    /// A plain-http URL that the policy does not allow (NuGet: NU1302).
    #[error(
        "NU1302: '{}' uses plain http; signet needs https here (--allow-insecure-loopback allows plain http to a loopback address)",
        Untrusted(.0)
    )]
    InsecureUrl(String),
    /// The package is not on any source.
    #[error(
        "NU1101: unable to find package '{id}'{range} on {}",
        Untrusted(sources)
    )]
    NotFound {
        /// Package id.
        id: String,
        /// ` with version (range)` or empty.
        range: String,
        /// The sources searched.
        sources: String,
    },
    /// The package exists but no version satisfies what was asked (NuGet's NU1102, with the
    /// versions found and the nearest one). Boxed: the details are large and rare.
    #[error("{0}")]
    VersionNotFound(Box<VersionNotFound>),
    /// A package id from a feed, a manifest or the command line that breaks NuGet's id rules:
    /// it never names a file, a folder or a URL.
    #[error("'{id}' is not a valid package id: {reason}{context}")]
    InvalidId {
        /// The id, escaped for a terminal.
        id: String,
        /// Why.
        reason: signet_nupkg::IdError,
        /// ` (a dependency of X 1.0)` or empty.
        context: String,
    },
    /// A `<packageSourceMapping>` pattern that is not an id or an id prefix with `*`.
    #[error("packageSourceMapping: pattern '{pattern}' of source '{source_name}': {reason}")]
    Mapping {
        /// The pattern, escaped.
        pattern: String,
        /// The source it is listed under.
        source_name: String,
        /// Why.
        reason: &'static str,
    },
    /// Package source mapping leaves no source for an id (NuGet: NU1100).
    #[error(
        "NU1100: unable to resolve '{id}'{context}: {reason}. PackageSourceMapping is enabled; the following source(s) were not considered: {not_considered}"
    )]
    NotMapped {
        /// Package id.
        id: String,
        /// ` (required by X 1.0)` or empty.
        context: String,
        /// No pattern matches it, or the pattern names sources that are not configured.
        reason: String,
        /// The sources that were skipped.
        not_considered: String,
    },
    /// Resolution ran out of its work budget (a graph built to exhaust the resolver).
    #[error("the dependency graph of {id} exceeds the resolver's budget: more than {limit} {what}")]
    Budget {
        /// The root package.
        id: String,
        /// What was counted.
        what: &'static str,
        /// The limit.
        limit: u64,
    },
    /// A downloaded package that is not what was asked for, or cannot be read.
    #[error(
        "{}: {} {}: {}",
        Untrusted(source_url),
        Untrusted(id),
        Untrusted(version),
        Untrusted(message)
    )]
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

/// The details of [`Error::VersionNotFound`].
#[derive(Debug, thiserror::Error)]
#[error(
    "NU1102: unable to find package '{id}' with version {wanted}{context}: {found} version(s) on {}{}",
    Untrusted(sources),
    nearest.as_ref().map(|n| format!(" (nearest version: {n})")).unwrap_or_default()
)]
pub struct VersionNotFound {
    /// Package id.
    pub id: String,
    /// The version or ranges asked for.
    pub wanted: String,
    /// ` (required by X 1.0)` or empty.
    pub context: String,
    /// How many versions the sources list.
    pub found: usize,
    /// The listed version nearest to what was asked.
    pub nearest: Option<String>,
    /// The sources searched.
    pub sources: String,
}
