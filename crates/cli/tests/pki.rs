//! `signet pki init|serve|revoke` through the binary, and the README's quickstart end to end.

// Test helpers panic on purpose: a failed fixture is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::Path;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

const PASSWORD: &str = "quickstart-password";

fn signet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_signet"))
        .args(args)
        .env_remove("SIGNET_PKI_PASSWORD")
        .env_remove("SIGNET_CERTIFICATE_PASSWORD")
        .env_remove("NUGET_CERT_REVOCATION_MODE")
        .env_remove("SIGNET_REVOCATION_CACHE")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `signet pki serve DIR` as a child process, killed on drop.
struct Serve(Child);

impl Serve {
    fn start(dir: &Path, port: u16) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_signet"))
            .args(["pki", "serve", s(dir)])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "pki serve did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self(child)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn pki_commands_and_their_refusals() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("dev-pki");
    let port = free_port().to_string();

    let out = signet(&["pki", "init", s(&dir), "--port", &port]);
    assert!(out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("codesign.pfx password (shown once, not stored): "),
        "{t}"
    );
    assert!(
        t.contains(&format!("--timestamper http://127.0.0.1:{port}/tsa")),
        "{t}"
    );
    assert!(
        t.contains(&format!("signet pki serve {}", dir.display())),
        "{t}"
    );

    let again = signet(&["pki", "init", s(&dir)]);
    assert_eq!(again.status.code(), Some(2), "{}", text(&again));
    assert!(text(&again).contains("already holds a development PKI"));
    let forced = signet(&[
        "pki",
        "init",
        s(&dir),
        "--port",
        &port,
        "--force",
        "--password",
        PASSWORD,
    ]);
    assert!(forced.status.success(), "{}", text(&forced));
    assert!(
        !text(&forced).contains(PASSWORD),
        "a given password is not echoed"
    );

    let wide = signet(&["pki", "serve", s(&dir), "--listen", "0.0.0.0:8390"]);
    assert_eq!(wide.status.code(), Some(2));
    assert!(text(&wide).contains("loopback"), "{}", text(&wide));

    let bad = signet(&["pki", "revoke", s(&dir), "codesign", "--reason", "because"]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    let bad = signet(&[
        "pki",
        "revoke",
        s(&dir),
        "codesign",
        "--invalidity-date",
        "yesterday",
    ]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));

    let revoked = signet(&[
        "pki",
        "revoke",
        s(&dir),
        "repository",
        "--reason",
        "superseded",
        "--invalidity-date",
        "2026-01-31T12:00:00Z",
    ]);
    assert!(revoked.status.success(), "{}", text(&revoked));
    assert!(
        text(&revoked).contains("reason superseded"),
        "{}",
        text(&revoked)
    );
    let twice = signet(&["pki", "revoke", s(&dir), "repository"]);
    assert_eq!(twice.status.code(), Some(1), "{}", text(&twice));
    assert!(text(&twice).contains("already revoked"));
    let root = signet(&["pki", "revoke", s(&dir), "root"]);
    assert_eq!(root.status.code(), Some(2), "{}", text(&root));

    let no_pki = signet(&["pki", "serve", s(tmp.path())]);
    assert_eq!(no_pki.status.code(), Some(2), "{}", text(&no_pki));
}

/// The README's "Development PKI quickstart" up to a verified, timestamped package: the PKI
/// directory's parent, the server, the package and `root.pem`.
fn quickstart() -> (
    tempfile::TempDir,
    std::path::PathBuf,
    Serve,
    std::path::PathBuf,
) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("dev-pki");
    let port = free_port();
    let out = signet(&[
        "pki",
        "init",
        s(&dir),
        "--port",
        &port.to_string(),
        "--password",
        PASSWORD,
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let serve = Serve::start(&dir, port);

    let package = tmp.path().join("Signet.Quickstart.1.0.0.nupkg");
    std::fs::write(
        &package,
        signet_test_support::PackageBuilder::new("Signet.Quickstart", "1.0.0")
            .file("lib/net8.0/Signet.Quickstart.dll", b"not really a dll")
            .build(),
    )
    .unwrap();
    let root = dir.join("root.pem");
    let signed = signet(&[
        "sign",
        s(&package),
        "--certificate-path",
        s(&dir.join("codesign.pfx")),
        "--certificate-password",
        PASSWORD,
        "--timestamper",
        &format!("http://127.0.0.1:{port}/tsa"),
        "--trust-roots",
        s(&root),
    ]);
    assert!(signed.status.success(), "{}", text(&signed));
    assert!(
        !text(&signed).contains("NU3002"),
        "timestamped: {}",
        text(&signed)
    );
    assert!(
        !text(&signed).contains("NU3018"),
        "revocation checked online, status good: {}",
        text(&signed)
    );
    (tmp, dir, serve, package)
}

fn verify_online(package: &Path, dir: &Path) -> Output {
    signet(&[
        "verify",
        s(package),
        "--trust-roots",
        s(&dir.join("root.pem")),
        "--revocation-mode",
        "online",
    ])
}

/// init, serve, sign with a timestamp from the PKI's TSA, verify with `--trust-roots`.
#[test]
fn quickstart_sign_with_timestamp_and_verify() {
    let (_tmp, dir, _serve, package) = quickstart();
    let verified = verify_online(&package, &dir);
    assert!(verified.status.success(), "{}", text(&verified));
    let plain = signet(&[
        "verify",
        s(&package),
        "--trust-roots",
        s(&dir.join("root.pem")),
    ]);
    assert!(plain.status.success(), "{}", text(&plain));
    assert!(
        text(&plain).contains("signet development timestamping"),
        "the timestamp is shown: {}",
        text(&plain)
    );
}

/// ... then `pki revoke codesign --reason keyCompromise`: online verification fails, NU3012.
#[test]
fn quickstart_revoked_signer_fails_online_verify() {
    let (_tmp, dir, _serve, package) = quickstart();
    let before = verify_online(&package, &dir);
    assert!(before.status.success(), "{}", text(&before));
    let revoked = signet(&[
        "pki",
        "revoke",
        s(&dir),
        "codesign",
        "--reason",
        "keyCompromise",
    ]);
    assert!(revoked.status.success(), "{}", text(&revoked));
    let after = verify_online(&package, &dir);
    assert_eq!(after.status.code(), Some(1), "{}", text(&after));
    assert!(text(&after).contains("NU3012"), "{}", text(&after));
    // A revoked certificate cannot sign any more (NuGet's signer checks revocation online).
    let resign = signet(&[
        "sign",
        s(&package),
        "--overwrite",
        "-o",
        s(&dir.join("resigned")),
        "--certificate-path",
        s(&dir.join("codesign.pfx")),
        "--certificate-password",
        PASSWORD,
        "--trust-roots",
        s(&dir.join("root.pem")),
    ]);
    assert_eq!(resign.status.code(), Some(1), "{}", text(&resign));
    assert!(
        text(&resign).contains("NU3018") && text(&resign).contains("Revoked"),
        "{}",
        text(&resign)
    );
    assert!(
        !dir.join("resigned")
            .join(package.file_name().unwrap())
            .exists()
    );
}
