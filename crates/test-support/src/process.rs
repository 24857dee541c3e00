//! Running `signet` child processes in tests: output as text, and `signet tsa serve` on a free
//! loopback port, stopped when dropped.

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use crate::files::write_cert_files;
use crate::pki::pki;

/// Standard output then standard error, as text (for assertions and failure messages).
pub fn output_text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A `signet tsa serve` child process with the test PKI's timestamping certificate; killed
/// and reaped when dropped.
pub struct TsaProcess {
    child: Child,
    /// Its URL (`http://127.0.0.1:PORT/`).
    pub url: String,
}

impl TsaProcess {
    /// Starts `signet_bin tsa serve` with its certificate files and serial state in `dir`.
    pub fn start(signet_bin: &Path, dir: &Path) -> Self {
        let tsa = write_cert_files(&pki().timestamping, dir, "tsa");
        let mut child = Command::new(signet_bin)
            .args(["tsa", "serve", "--listen", "127.0.0.1:0"])
            .arg("--certificate-path")
            .arg(&tsa.chain_pem)
            .arg("--certificate-key")
            .arg(&tsa.key_pem)
            .arg("--serial-state")
            .arg(dir.join("tsa.serial"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start signet tsa serve");
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = std::io::BufReader::new(out).read_line(&mut line);
        }
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .map(str::to_owned);
        let Some(url) = url else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("signet tsa serve did not print its URL: {line:?}");
        };
        Self { child, url }
    }
}

impl Drop for TsaProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
