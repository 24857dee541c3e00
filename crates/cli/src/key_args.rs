//! The signing-key options shared by every command that signs (`sign`, `repo-sign`,
//! `tsa serve`): one place decides where a key comes from — a PKCS#12 file, a PEM/DER key
//! file, or a PKCS#11 token (HSM, smart card, SoftHSM).

use std::fmt;
use std::io::{BufRead, Read};
use std::path::PathBuf;

use clap::Args;
use signet_common::NuCode;
use signet_keys::Signer;
use signet_pkcs11::{CertificateSource, KeySelector, Pin, Pkcs11Signer, TokenKey};
use zeroize::Zeroizing;

/// Longest PIN read from stdin or the environment (PKCS#11 tokens allow far less).
const MAX_PIN_LEN: usize = 1024;

/// Where the signing key and its certificate chain come from.
#[derive(Args, Debug, Clone)]
pub struct KeyArgs {
    /// PKCS#12 (.pfx/.p12) file, or a PEM/DER certificate chain when --certificate-key or
    /// --pkcs11-module is given. With --pkcs11-module it may be left out: the certificate is
    /// then read from the token.
    #[arg(
        long = "certificate-path",
        value_name = "FILE",
        required_unless_present = "pkcs11_module"
    )]
    pub certificate_path: Option<PathBuf>,
    /// Password of the PKCS#12 file or of an encrypted private key. Also read from
    /// SIGNET_CERTIFICATE_PASSWORD, which keeps it out of the process list.
    #[arg(
        long = "certificate-password",
        env = "SIGNET_CERTIFICATE_PASSWORD",
        hide_env_values = true
    )]
    pub certificate_password: Option<String>,
    /// PEM/DER private key matching the certificate (with a PEM chain in --certificate-path).
    #[arg(
        long = "certificate-key",
        value_name = "FILE",
        conflicts_with = "pkcs11_module"
    )]
    pub certificate_key: Option<PathBuf>,
    /// PKCS#11 module (shared library) of the token or HSM, e.g. libsofthsm2.so,
    /// opensc-pkcs11.so or a vendor's library. The private key never leaves the token.
    #[arg(
        long = "pkcs11-module",
        value_name = "PATH",
        requires_all = ["pkcs11_token", "pkcs11_key"]
    )]
    pub pkcs11_module: Option<PathBuf>,
    /// Label of the token holding the key.
    #[arg(
        long = "pkcs11-token",
        value_name = "LABEL",
        requires = "pkcs11_module"
    )]
    pub pkcs11_token: Option<String>,
    /// The private key: its label, or its id in hex; `label:TEXT` or `id:HEX` to say which.
    #[arg(
        long = "pkcs11-key",
        value_name = "LABEL|ID",
        requires = "pkcs11_module"
    )]
    pub pkcs11_key: Option<String>,
    /// Name of an environment variable holding the token's user PIN (the PIN itself is
    /// never an argument).
    #[arg(
        long = "pkcs11-pin-env",
        value_name = "VAR",
        requires = "pkcs11_module",
        conflicts_with = "pkcs11_pin_stdin"
    )]
    pub pkcs11_pin_env: Option<String>,
    /// Read the token's user PIN from the first line of standard input.
    #[arg(long = "pkcs11-pin-stdin", requires = "pkcs11_module")]
    pub pkcs11_pin_stdin: bool,
}

/// Why the signing key could not be loaded; printable as is (never contains a secret).
#[derive(Debug)]
pub enum KeyError {
    /// A key file (PKCS#12, PEM/DER).
    File(signet_keys::Error),
    /// A PKCS#11 token.
    Token(signet_pkcs11::Error),
    /// The options are inconsistent or the PIN could not be read.
    Usage(String),
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(e) => e.fmt(f),
            Self::Token(e) => e.fmt(f),
            Self::Usage(m) => f.write_str(m),
        }
    }
}

impl KeyError {
    /// NuGet's code for the failure (`NU3001` invalid signing input, `NU3014` short key).
    pub fn code(&self) -> Option<NuCode> {
        match self {
            Self::File(e) => e.code(),
            Self::Token(e) => Some(e.code()),
            Self::Usage(_) => Some(NuCode::NU3001),
        }
    }
}

impl KeyArgs {
    /// Loads the signer; the error is ready to print (it names the file or token, never a
    /// secret).
    pub fn load(&self) -> Result<Box<dyn Signer>, KeyError> {
        if let Some(module) = &self.pkcs11_module {
            return self.load_token(module);
        }
        let path = self.certificate_path.as_ref().ok_or_else(|| {
            KeyError::Usage("--certificate-path or --pkcs11-module is required".into())
        })?;
        // A PEM certificate needs its key beside it; say so instead of "not a PKCS#12 file".
        if self.certificate_key.is_none() && starts_with_pem(path) {
            return Err(KeyError::Usage(format!(
                "{} is a PEM file: give its private key with --certificate-key KEY.pem (a .pfx/.p12 file holds both)",
                path.display()
            )));
        }
        let signer = signet_keys::load_signer(
            path,
            self.certificate_password.as_deref(),
            self.certificate_key.as_deref(),
        )
        .map_err(|e| match e {
            // No password given: the file most likely needs one (nuget.exe would ask).
            signet_keys::Error::Pkcs12Password if self.certificate_password.is_none() => {
                KeyError::Usage(format!(
                    "{} needs a password: give --certificate-password, or set SIGNET_CERTIFICATE_PASSWORD (which keeps it out of the process list)",
                    path.display()
                ))
            }
            // A password was given and is wrong (or empty: an unset variable in a script).
            signet_keys::Error::Pkcs12Password => KeyError::Usage(format!(
                "{}: the password is wrong or the file is corrupt{}",
                path.display(),
                if self.certificate_password.as_deref() == Some("") {
                    " (the password given is empty: is the variable that holds it set?)"
                } else {
                    ""
                }
            )),
            e => KeyError::File(e),
        })?;
        Ok(Box::new(signer))
    }

    /// A file name stem for state kept beside the key (the TSA's serial state): the
    /// certificate path, or `None` when the certificate comes from a token.
    pub fn state_stem(&self) -> Option<&PathBuf> {
        self.certificate_path.as_ref()
    }

    fn load_token(&self, module: &std::path::Path) -> Result<Box<dyn Signer>, KeyError> {
        let (Some(token), Some(key)) = (&self.pkcs11_token, &self.pkcs11_key) else {
            return Err(KeyError::Usage(
                "--pkcs11-module needs --pkcs11-token and --pkcs11-key".into(),
            ));
        };
        let key =
            KeySelector::parse(key).map_err(|e| KeyError::Usage(format!("--pkcs11-key: {e}")))?;
        let pin = self.pin()?;
        let certificates = match &self.certificate_path {
            Some(path) => CertificateSource::File(path.clone()),
            None => CertificateSource::Token,
        };
        let signer = Pkcs11Signer::open(
            &TokenKey {
                module: module.to_owned(),
                token: token.clone(),
                key,
            },
            pin,
            &certificates,
        )
        .map_err(KeyError::Token)?;
        Ok(Box::new(signer))
    }

    fn pin(&self) -> Result<Option<Pin>, KeyError> {
        if let Some(var) = &self.pkcs11_pin_env {
            let value = std::env::var_os(var).ok_or_else(|| {
                KeyError::Usage(format!(
                    "--pkcs11-pin-env: the environment variable {var} is not set"
                ))
            })?;
            let value = Zeroizing::new(value.into_string().map_err(|_| {
                KeyError::Usage(format!("--pkcs11-pin-env: {var} is not valid UTF-8"))
            })?);
            if value.is_empty() || value.len() > MAX_PIN_LEN {
                return Err(KeyError::Usage(format!(
                    "--pkcs11-pin-env: {var} is empty or longer than {MAX_PIN_LEN} bytes"
                )));
            }
            return Ok(Some(Pin::new(String::clone(&value))));
        }
        if self.pkcs11_pin_stdin {
            let mut raw = Zeroizing::new(Vec::with_capacity(64));
            std::io::stdin()
                .lock()
                .take(MAX_PIN_LEN as u64 + 2)
                .read_until(b'\n', &mut raw)
                .map_err(|e| {
                    KeyError::Usage(format!(
                        "--pkcs11-pin-stdin: cannot read standard input: {e}"
                    ))
                })?;
            let line_end = raw.iter().position(|&b| b == b'\n').unwrap_or(raw.len());
            let line = raw.get(..line_end).unwrap_or_default();
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() || line.len() > MAX_PIN_LEN {
                return Err(KeyError::Usage(format!(
                    "--pkcs11-pin-stdin: no PIN on standard input, or longer than {MAX_PIN_LEN} bytes"
                )));
            }
            let text = std::str::from_utf8(line).map_err(|_| {
                KeyError::Usage("--pkcs11-pin-stdin: the PIN is not valid UTF-8".into())
            })?;
            return Ok(Some(Pin::new(text.to_owned())));
        }
        Ok(None)
    }
}

/// Whether the file starts (after whitespace) like PEM text.
fn starts_with_pem(path: &std::path::Path) -> bool {
    use std::io::Read as _;
    let mut head = [0u8; 64];
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let n = f.read(&mut head).unwrap_or(0);
    let text = String::from_utf8_lossy(head.get(..n).unwrap_or_default());
    text.trim_start().starts_with("-----BEGIN")
}
