//! Keeping a `signet` child process away from the developer's own configuration.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

/// An empty directory that lives as long as the test process.
fn empty_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("temp dir"))
        .path()
}

/// Points the nuget.config hierarchy of `cmd` at an empty directory: `HOME` (user config,
/// default packages folder), `NUGET_COMMON_APPLICATION_DATA` (machine-wide configs) and the
/// working directory (the walk up for `nuget.config`), and clears the variables that change
/// verdicts (`SIGNET_TRUST_ROOTS`, `SIGNET_REVOCATION_CACHE`, `NUGET_PACKAGES`) or move caches
/// (`XDG_CACHE_HOME`, `XDG_STATE_HOME`: the audit cache and the transparency-log checkpoints
/// then live under the empty `HOME`).
pub fn isolate_config(cmd: &mut Command) -> &mut Command {
    let dir = empty_dir();
    cmd.env("HOME", dir)
        .env("NUGET_COMMON_APPLICATION_DATA", dir)
        .env_remove("SIGNET_TRUST_ROOTS")
        .env_remove("SIGNET_REVOCATION_CACHE")
        .env_remove("NUGET_PACKAGES")
        .env_remove("XDG_CACHE_HOME")
        .env_remove("XDG_STATE_HOME")
        .current_dir(dir)
}
