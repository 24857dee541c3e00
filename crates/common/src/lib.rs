//! Shared vocabulary of signet: NuGet's `NU3xxx` codes, issue severities, the hash algorithms
//! NuGet allows (SHA-256/384/512) and a UTC time type.
//!
//! Every library error and every verification issue carries its code as data (a [`NuCode`]),
//! never as text to be parsed. Libraries take the current time as a [`UtcTime`] argument.

mod code;
mod display;
mod hash;
mod secret;
mod time;

pub use code::{NuCode, Severity};
pub use display::{Untrusted, terminal_safe, terminal_safe_lines};
pub use hash::{HashAlgorithm, Hasher};
pub use secret::{BasicCredential, Secret};
pub use time::{Clock, SystemClock, UtcTime};
