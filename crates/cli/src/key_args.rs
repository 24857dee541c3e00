//! The signing-key options shared by every command that signs (`sign`, `repo-sign`,
//! `tsa serve`): one place decides where a key comes from.

use std::path::PathBuf;

use clap::Args;
use signet_keys::Signer;

/// Where the signing key and its certificate chain come from.
#[derive(Args, Debug, Clone)]
pub struct KeyArgs {
    /// PKCS#12 (.pfx/.p12) file, or a PEM/DER certificate chain when --certificate-key is given.
    #[arg(long = "certificate-path", value_name = "FILE")]
    pub certificate_path: PathBuf,
    /// Password of the PKCS#12 file or of an encrypted private key. Also read from
    /// SIGNET_CERTIFICATE_PASSWORD, which keeps it out of the process list.
    #[arg(
        long = "certificate-password",
        env = "SIGNET_CERTIFICATE_PASSWORD",
        hide_env_values = true
    )]
    pub certificate_password: Option<String>,
    /// PEM/DER private key matching the certificate (with a PEM chain in --certificate-path).
    #[arg(long = "certificate-key", value_name = "FILE")]
    pub certificate_key: Option<PathBuf>,
}

impl KeyArgs {
    /// Loads the signer; the error is ready to print (it names the file, never a secret).
    pub fn load(&self) -> Result<Box<dyn Signer>, signet_keys::Error> {
        let signer = signet_keys::load_signer(
            &self.certificate_path,
            self.certificate_password.as_deref(),
            self.certificate_key.as_deref(),
        )?;
        Ok(Box::new(signer))
    }
}
