//! Loading a signer from the files named on the command line.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use zeroize::Zeroizing;

use crate::MAX_FILE_LEN;
use crate::error::{Error, FileKind};
use crate::signer::SoftwareSigner;

/// Loads a signer from files, the way the CLI options work:
/// `--certificate-path FILE [--certificate-password PW] [--certificate-key FILE]`.
///
/// - `key_path` is `None`: `cert_path` is a PKCS#12 file; `password` is its password
///   (`None` means none, tried as `""`).
/// - `key_path` is `Some`: `cert_path` is a PEM/DER certificate chain and `key_path` a
///   PEM/DER private key; `password` is used only if the key is encrypted.
///
/// Files larger than [`MAX_FILE_LEN`] are refused.
pub fn load_signer(
    cert_path: &Path,
    password: Option<&str>,
    key_path: Option<&Path>,
) -> Result<SoftwareSigner, Error> {
    let cert_file = read_file(cert_path, FileKind::Certificate)?;
    match key_path {
        None => SoftwareSigner::from_pkcs12(&cert_file, password.unwrap_or("")),
        Some(key_path) => {
            let key_file = read_file(key_path, FileKind::PrivateKey)?;
            SoftwareSigner::from_key_and_chain(&key_file, password, &cert_file)
        }
    }
}

/// Reads a whole file into a buffer that is wiped on drop (key files hold secrets).
fn read_file(path: &Path, kind: FileKind) -> Result<Zeroizing<Vec<u8>>, Error> {
    let read_error = |source| Error::ReadFile {
        kind,
        path: path.to_owned(),
        source,
    };
    let too_large = || Error::FileTooLarge {
        kind,
        path: path.to_owned(),
        limit: MAX_FILE_LEN,
    };
    let file = File::open(path).map_err(read_error)?;
    let len = file.metadata().map_err(read_error)?.len();
    if len > MAX_FILE_LEN {
        return Err(too_large());
    }
    // Sized from the metadata so the buffer does not reallocate (leaving unwiped copies)
    // unless the file grew meanwhile; `take` bounds the read either way.
    let capacity = usize::try_from(len).unwrap_or_default().saturating_add(1);
    let mut buf = Zeroizing::new(Vec::with_capacity(capacity));
    file.take(MAX_FILE_LEN + 1)
        .read_to_end(&mut buf)
        .map_err(read_error)?;
    if buf.len() as u64 > MAX_FILE_LEN {
        return Err(too_large());
    }
    Ok(buf)
}
