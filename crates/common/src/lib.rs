//! Shared vocabulary of signet: NuGet's `NU3xxx` codes, issue severities and the hash
//! algorithms NuGet allows (SHA-256/384/512).
//!
//! Every library error and every verification issue carries its code as data (a [`NuCode`]),
//! never as text to be parsed.

mod code;
mod hash;

pub use code::{NuCode, Severity};
pub use hash::{HashAlgorithm, Hasher};
