//! Writing files atomically with the right permissions.

use std::io::Write;
use std::path::Path;

use crate::error::Error;

/// Who may read a file the PKI writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// Certificates, CRLs, the state file: 0644.
    Public,
    /// Private keys and the PFX: 0600 from the moment the file exists.
    Secret,
}

/// Writes `contents` to `dir/name` atomically: a temporary file in `dir` (created 0600 by
/// `tempfile`), permissions set, data synced, then renamed over the destination. A reader
/// sees the old file or the new one, never a partial one.
pub(crate) fn write_atomic(
    dir: &Path,
    name: &str,
    contents: &[u8],
    access: Access,
) -> Result<(), Error> {
    let path = dir.join(name);
    let err = |source| Error::io("cannot write", &path, source);
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = match access {
            Access::Public => 0o644,
            Access::Secret => 0o600,
        };
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(err)?;
    }
    #[cfg(not(unix))]
    let _ = access;
    tmp.write_all(contents).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(&path).map_err(|e| err(e.error))?;
    Ok(())
}

/// Reads a whole file, with the path in the error.
pub(crate) fn read(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| Error::io("cannot read", path, e))
}

/// Reads a whole UTF-8 file (PEM), with the path in the error.
pub(crate) fn read_to_string(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|e| Error::io("cannot read", path, e))
}
