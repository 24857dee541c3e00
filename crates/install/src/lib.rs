//! Installing NuGet packages the way a security-minded client should: resolve the graph,
//! verify **every** package under its source's policy, and only then extract — atomically,
//! into a global-packages-folder layout (`id/version/` in lower case, with the `.nupkg`,
//! `.nupkg.sha512` and `.nupkg.metadata` NuGet writes). A package that fails leaves nothing of
//! itself behind.
//!
//! Beyond NuGet: a verification receipt next to each installed package, and
//! [`audit`] — re-verifying a whole packages folder in parallel, skipping what has not changed
//! since the last audit under the same trust roots and policy.

mod audit;
mod error;
mod install;
pub mod tlog;

pub use audit::{
    AuditEntry, AuditLog, AuditOptions, AuditSummary, LogLookup, audit, audit_cache_file,
};
pub use error::Error;
pub use install::{
    ConfiguredSource, Event, InstallRequest, Installed, RECEIPT_FILE, Receipt, Staged,
    TrustContext, extract_verified, install, stage_verified,
};
