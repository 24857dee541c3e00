//! Location of the real signed samples shared between signet and its interop checks.

use std::path::PathBuf;

/// Path to `../shared/interop` (real NuGet-signed packages and their `MANIFEST.md`), resolved
/// from this crate's manifest directory as `<manifest>/../../../shared/interop`.
///
/// # Panics
///
/// If the directory does not exist, with a message naming the path that was tried.
pub fn interop_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/interop");
    assert!(
        dir.is_dir(),
        "the shared interop samples were not found at {} (expected ../shared/interop next to \
         the workspace)",
        dir.display()
    );
    // Canonical so that error messages and snapshots do not carry `../..` chains.
    dir.canonicalize().unwrap_or(dir)
}
