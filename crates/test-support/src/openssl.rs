//! Running the `openssl` command-line tool, for the few fixtures `rcgen` cannot make.

use std::ffi::OsStr;
use std::process::Command;

/// Runs `openssl <args>` and returns its standard output.
///
/// # Panics
///
/// If `openssl` cannot be started or exits unsuccessfully; the message carries its stderr.
pub(crate) fn openssl<I, S>(args: I) -> Vec<u8>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let output = Command::new("openssl")
        .args(&args)
        .output()
        .unwrap_or_else(|e| {
            panic!("could not run the openssl CLI (signet-test-support needs it on PATH): {e}")
        });
    assert!(
        output.status.success(),
        "openssl {:?} failed ({}): {}",
        args,
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}
