//! Signing with a key that never leaves a PKCS#11 token: SoftHSM 2 with RSA keys generated
//! on the token, certificates from a test CA, packages signed by `signet sign`, `signet
//! repo-sign` and a token-backed `signet tsa serve`, checked by `signet verify` and
//! independently by `openssl cms -verify` and `openssl ts -verify`; then each token error
//! with its message.
//!
//! SoftHSM is installed by `scripts/install-deps.sh`; these tests skip with a loud message
//! only when it cannot be installed, and fail under CI.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use signet_pkcs11::softhsm::{self, KeySpec, Profile, SoftHsm, TokenPki, pem};
use signet_test_support::PackageBuilder;

const PIN: &str = "9713-secret";
const PIN_VAR: &str = "SIGNET_TEST_TOKEN_PIN";

#[test]
fn softhsm_child() {
    softhsm::child_entry();
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A SoftHSM token set with one initialised token, a test CA and a work directory.
struct Token {
    hsm: SoftHsm,
    label: String,
    pki: TokenPki,
    dir: tempfile::TempDir,
    package: PathBuf,
}

impl Token {
    fn new(label: &str) -> Option<Self> {
        let hsm = SoftHsm::new()?;
        hsm.init_token(label, PIN);
        let dir = tempfile::tempdir().unwrap();
        let package = dir.path().join("Signet.Token.Test.1.0.0.nupkg");
        std::fs::write(
            &package,
            PackageBuilder::new("Signet.Token.Test", "1.0.0")
                .file("lib/net8.0/a.dll", b"binary")
                .build(),
        )
        .unwrap();
        let pki = TokenPki::new();
        std::fs::write(dir.path().join("root.pem"), pki.root_pem()).unwrap();
        Some(Self {
            hsm,
            label: label.into(),
            pki,
            dir,
            package,
        })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn root(&self) -> String {
        s(&self.path("root.pem")).to_owned()
    }

    /// Generates a key on the token and writes `<label>.chain.pem` (leaf, root) for it.
    fn key(&self, spec: KeySpec, profile: Profile) -> Vec<u8> {
        let public = self.hsm.generate_rsa(&spec);
        let cert = self
            .pki
            .issue(&public, &format!("token key {}", spec.label), profile);
        std::fs::write(
            self.path(&format!("{}.chain.pem", spec.label)),
            pem("CERTIFICATE", &cert) + &self.pki.root_pem(),
        )
        .unwrap();
        cert
    }

    fn spec(&self, label: &str, id: &[u8], bits: u64) -> KeySpec {
        KeySpec::rsa(&self.label, PIN, label, id, bits)
    }

    /// `signet` with this token set's SOFTHSM2_CONF, the PIN in PIN_VAR, offline revocation.
    fn signet(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_signet"));
        c.args(args)
            .env("SOFTHSM2_CONF", self.hsm.conf())
            .env(PIN_VAR, PIN)
            .env_remove("SIGNET_TRUST_ROOTS")
            .env_remove("SIGNET_REVOCATION_CACHE")
            .env("NUGET_CERT_REVOCATION_MODE", "offline");
        c
    }

    /// `--pkcs11-module M --pkcs11-token T --pkcs11-key K --pkcs11-pin-env VAR`.
    fn key_args(&self, key: &str) -> Vec<String> {
        vec![
            "--pkcs11-module".into(),
            s(self.hsm.module()).into(),
            "--pkcs11-token".into(),
            self.label.clone(),
            "--pkcs11-key".into(),
            key.into(),
            "--pkcs11-pin-env".into(),
            PIN_VAR.into(),
        ]
    }

    /// `signet sign <package> <token key> [--certificate-path <key>.chain.pem] --trust-roots`.
    fn sign(&self, key: &str, with_chain_file: bool, extra: &[&str]) -> Output {
        let mut args: Vec<String> = vec!["sign".into(), s(&self.package).into()];
        args.extend(self.key_args(key));
        if with_chain_file {
            args.push("--certificate-path".into());
            args.push(s(&self.path(&format!("{key}.chain.pem"))).into());
        }
        args.push("--trust-roots".into());
        args.push(self.root());
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.signet(&args)
    }

    fn verify(&self, package: &Path) -> Output {
        self.signet(&["verify", "--all", s(package), "--trust-roots", &self.root()])
    }

    /// `openssl cms -verify` of the package's signature against the test root.
    fn openssl_cms_verify(&self, package: &Path) -> String {
        let bytes = std::fs::read(package).unwrap();
        let mut pkg =
            signet_nupkg::Package::open(std::io::Cursor::new(bytes), &Default::default()).unwrap();
        let p7s = pkg
            .read_signature()
            .unwrap()
            .expect("the package is signed");
        let p7s_path = self.path("sig.p7s");
        std::fs::write(&p7s_path, p7s).unwrap();
        let o = Command::new("openssl")
            .args([
                "cms", "-verify", "-inform", "DER", "-binary", "-purpose", "any",
            ])
            .args(["-in", s(&p7s_path), "-CAfile", &self.root()])
            .args(["-out", s(&self.path("content.txt"))])
            .output()
            .unwrap();
        assert!(o.status.success(), "openssl cms -verify: {}", text(&o));
        text(&o)
    }
}

// --- signing through the token -------------------------------------------------------------

#[test]
fn sign_with_a_token_key_then_signet_verify_and_openssl_cms_agree() {
    let Some(t) = Token::new("author-token") else {
        return;
    };
    let cert = t.key(t.spec("author", &[0x0a, 0x01], 3072), Profile::CodeSigning);

    // PIN from an environment variable, chain from a file.
    let o = t.sign("author", true, &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains(PIN), "the PIN leaked: {}", text(&o));
    let o = t.verify(&t.package);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("Successfully verified package 'Signet.Token.Test.1.0.0'."),
        "{}",
        text(&o)
    );
    let out = t.openssl_cms_verify(&t.package);
    assert!(out.contains("Verification successful"), "{out}");

    // The signer certificate in the signature is the one issued for the token key.
    let o = t.signet(&[
        "verify",
        "--json",
        s(&t.package),
        "--trust-roots",
        &t.root(),
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let fingerprint: String = signet_common::HashAlgorithm::Sha256
        .digest(&cert)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    assert_eq!(
        v[0]["signatures"][0]["certificate"]["sha256"], fingerprint,
        "{v}"
    );

    // PIN from stdin, the key by id, the certificate read from the token, SHA-512.
    t.hsm
        .import_certificate(&t.label, PIN, "author", &[0x0a, 0x01], &cert);
    let mut args: Vec<String> = vec!["sign".into(), s(&t.package).into(), "--overwrite".into()];
    args.extend(t.key_args("id:0a01").into_iter().take(6));
    args.extend([
        "--pkcs11-pin-stdin".into(),
        "--hash-algorithm".into(),
        "SHA512".into(),
    ]);
    args.extend(["--trust-roots".into(), t.root()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut child = t
        .command(&args)
        .env_remove(PIN_VAR)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{PIN}\n").as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let o = t.verify(&t.package);
    assert!(o.status.success(), "{}", text(&o));
    t.openssl_cms_verify(&t.package);
}

#[test]
fn repo_sign_with_a_token_key() {
    let Some(t) = Token::new("repo-token") else {
        return;
    };
    t.key(t.spec("repository", &[0x02], 3072), Profile::CodeSigning);
    let mut args: Vec<String> = vec![
        "repo-sign".into(),
        s(&t.package).into(),
        "--service-index".into(),
        "https://packages.example.test/v3/index.json".into(),
        "--owners".into(),
        "alice;bob".into(),
    ];
    args.extend(t.key_args("repository"));
    args.extend([
        "--certificate-path".into(),
        s(&t.path("repository.chain.pem")).into(),
        "--trust-roots".into(),
        t.root(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = t.signet(&args);
    assert!(o.status.success(), "{}", text(&o));
    let o = t.signet(&[
        "verify",
        "--json",
        s(&t.package),
        "--trust-roots",
        &t.root(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["signatures"][0]["signatureType"], "Repository", "{v}");
    let out = t.openssl_cms_verify(&t.package);
    assert!(out.contains("Verification successful"), "{out}");
}

/// Sends one HTTP/1.1 POST on loopback and returns the body (the server answers with a
/// Content-Length).
fn post(url: &str, body: &[u8]) -> Vec<u8> {
    let authority = url.trim_start_matches("http://");
    let (host, path) = authority.split_once('/').unwrap_or((authority, ""));
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    write!(
        stream,
        "POST /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/timestamp-query\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("HTTP header end");
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    response[split + 4..].to_vec()
}

#[test]
fn tsa_serve_with_a_token_key_gives_tokens_openssl_ts_verifies() {
    let Some(t) = Token::new("tsa-token") else {
        return;
    };
    t.key(t.spec("tsa", &[0x03], 3072), Profile::Timestamping);

    let mut args: Vec<String> = vec!["tsa".into(), "serve".into()];
    args.extend(t.key_args("tsa"));
    args.extend([
        "--certificate-path".into(),
        s(&t.path("tsa.chain.pem")).into(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--serial-state".into(),
        s(&t.path("serial")).into(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut child = t
        .command(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .map(str::to_owned);
    let Some(url) = url else {
        let _ = child.kill();
        let o = child.wait_with_output().unwrap();
        panic!("tsa serve did not start: {line}{}", text(&o));
    };

    // openssl makes the request and checks the token against the test root.
    std::fs::write(t.path("data.bin"), b"a signature value").unwrap();
    let openssl = |args: &[&str]| {
        let o = Command::new("openssl")
            .current_dir(t.dir.path())
            .args(args)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "openssl {}: {}",
            args.join(" "),
            text(&o)
        );
        text(&o)
    };
    openssl(&[
        "ts", "-query", "-data", "data.bin", "-sha256", "-cert", "-out", "req.tsq",
    ]);
    let reply = post(&url, &std::fs::read(t.path("req.tsq")).unwrap());
    std::fs::write(t.path("resp.tsr"), reply).unwrap();
    let out = openssl(&[
        "ts",
        "-verify",
        "-in",
        "resp.tsr",
        "-queryfile",
        "req.tsq",
        "-CAfile",
        "root.pem",
    ]);
    assert!(out.contains("Verification: OK"), "{out}");

    // A package timestamped by the token-backed TSA verifies with a valid timestamp.
    let mut args: Vec<String> = vec!["sign".into(), s(&t.package).into()];
    let author = t.key(t.spec("author", &[0x04], 2048), Profile::CodeSigning);
    assert!(!author.is_empty());
    args.extend(t.key_args("author"));
    args.extend([
        "--certificate-path".into(),
        s(&t.path("author.chain.pem")).into(),
        "--trust-roots".into(),
        t.root(),
        "--timestamper".into(),
        url.clone(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = t.signet(&args);
    let _ = child.kill();
    let _ = child.wait();
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains("NU3002"), "{}", text(&o));
    let o = t.signet(&[
        "verify",
        "--json",
        s(&t.package),
        "--trust-roots",
        &t.root(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["signatures"][0]["timestamp"]["valid"], true, "{v}");
}

#[test]
fn tsa_serve_with_the_certificate_on_the_token_needs_a_serial_state_file() {
    let Some(t) = Token::new("tsa-state") else {
        return;
    };
    let mut args: Vec<String> = vec!["tsa".into(), "serve".into()];
    args.extend(t.key_args("tsa"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // The key is loaded before the serial state is decided, so it must exist.
    let cert = t.key(t.spec("tsa", &[0x05], 2048), Profile::Timestamping);
    t.hsm
        .import_certificate(&t.label, PIN, "tsa", &[0x05], &cert);
    let o = t.signet(&args);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("--serial-state is required when the certificate is read from a token"),
        "{}",
        text(&o)
    );
}

// --- errors --------------------------------------------------------------------------------

/// Signs with `key` and returns the failing output, which must not contain the PIN.
fn sign_fails(t: &Token, key: &str, with_chain_file: bool) -> String {
    let o = t.sign(key, with_chain_file, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = text(&o);
    assert!(!out.contains(PIN), "the PIN leaked: {out}");
    out
}

#[test]
fn error_module_not_loadable() {
    let Some(t) = Token::new("errors-module") else {
        return;
    };
    let missing = t.path("no-such-module.so");
    let not_a_library = t.path("not-a-library.so");
    std::fs::write(&not_a_library, b"not an ELF file").unwrap();
    for module in [&missing, &not_a_library] {
        let o = t.signet(&[
            "sign",
            s(&t.package),
            "--pkcs11-module",
            s(module),
            "--pkcs11-token",
            "x",
            "--pkcs11-key",
            "k",
            "--certificate-path",
            &t.root(),
        ]);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        let expected = format!(
            "error: NU3001: cannot load the PKCS#11 module {}:",
            s(module)
        );
        assert!(text(&o).contains(&expected), "{}", text(&o));
    }
}

#[test]
fn error_token_absent_lists_the_tokens_present() {
    let Some(t) = Token::new("errors-present") else {
        return;
    };
    let mut args: Vec<String> = vec!["sign".into(), s(&t.package).into()];
    args.extend(t.key_args("k"));
    args[5] = "no-such-token".into();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = t.signet(&args);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let expected = format!(
        "error: NU3001: no token labelled 'no-such-token' in {}; tokens present: 'errors-present'",
        s(t.hsm.module())
    );
    assert!(text(&o).contains(&expected), "{}", text(&o));
}

#[test]
fn error_wrong_pin_and_missing_pin() {
    let Some(t) = Token::new("errors-pin") else {
        return;
    };
    let mut args: Vec<String> = vec!["sign".into(), s(&t.package).into()];
    args.extend(t.key_args("k"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = t.command(&args).env(PIN_VAR, "000000").output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("error: NU3001: the PIN for token 'errors-pin' is incorrect"),
        "{}",
        text(&o)
    );
    assert!(!text(&o).contains("000000"), "the PIN leaked: {}", text(&o));

    // No PIN option at all.
    let o = t.signet(&args[..args.len() - 2]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("token 'errors-pin' requires a user PIN and none was given"),
        "{}",
        text(&o)
    );

    // The PIN's variable is not set.
    let o = t.command(&args).env_remove(PIN_VAR).output().unwrap();
    assert!(
        text(&o).contains(&format!("the environment variable {PIN_VAR} is not set")),
        "{}",
        text(&o)
    );
}

#[test]
fn error_key_not_found_lists_the_keys_present() {
    let Some(t) = Token::new("errors-key") else {
        return;
    };
    t.key(t.spec("present", &[0xbe, 0xef], 2048), Profile::CodeSigning);
    let out = sign_fails(&t, "absent", false);
    assert!(
        out.contains(
            "error: NU3001: no private key with label or id 'absent' on token 'errors-key'; private keys present: label 'present' (id beef)"
        ),
        "{out}"
    );
}

#[test]
fn error_key_certificate_mismatch() {
    let Some(t) = Token::new("errors-mismatch") else {
        return;
    };
    t.key(t.spec("one", &[0x01], 2048), Profile::CodeSigning);
    t.key(t.spec("two", &[0x02], 2048), Profile::CodeSigning);
    // Key "one" with the chain issued for key "two".
    std::fs::copy(t.path("two.chain.pem"), t.path("one.chain.pem")).unwrap();
    let out = sign_fails(&t, "one", true);
    assert!(
        out.contains("error: NU3001: key/certificate mismatch: the public key of 'label 'one' (id 01)' (RSA-2048, modulus "),
        "{out}"
    );
    assert!(
        out.contains("matches none of the 2 certificate(s) in the certificate file"),
        "{out}"
    );
}

#[test]
fn error_unsupported_mechanism() {
    let Some(t) = Token::new("errors-mech") else {
        return;
    };
    let mut spec = t.spec("pss-only", &[0x07], 2048);
    spec.allowed = Some(vec!["RSA_PKCS_PSS".into()]);
    t.key(spec, Profile::CodeSigning);
    let out = sign_fails(&t, "pss-only", true);
    assert!(
        out.contains("error: NU3001: unsupported mechanism: token 'errors-mech' cannot sign with key 'label 'pss-only' (id 07)' using CKM_SHA256_RSA_PKCS or CKM_RSA_PKCS; RSA signing mechanisms usable with this key: CKM_RSA_PKCS_PSS"),
        "{out}"
    );
}

#[test]
fn error_key_too_small_is_nu3014() {
    let Some(t) = Token::new("errors-small") else {
        return;
    };
    t.key(t.spec("small", &[0x08], 1024), Profile::CodeSigning);
    let out = sign_fails(&t, "small", true);
    assert!(
        out.contains("error: NU3014: the RSA key 'label 'small' (id 08)' is 1024 bits; keys shorter than 2048 bits cannot be used"),
        "{out}"
    );
}

#[test]
fn error_key_not_allowed_to_sign() {
    let Some(t) = Token::new("errors-nosign") else {
        return;
    };
    let mut spec = t.spec("decrypt-only", &[0x09], 2048);
    spec.sign = false;
    t.key(spec, Profile::CodeSigning);
    let out = sign_fails(&t, "decrypt-only", true);
    assert!(
        out.contains("error: NU3001: key 'label 'decrypt-only' (id 09)' is not allowed to sign (its CKA_SIGN attribute is false)"),
        "{out}"
    );
}

#[test]
fn error_no_certificate_on_the_token() {
    let Some(t) = Token::new("errors-nocert") else {
        return;
    };
    t.key(t.spec("bare", &[0x0b], 2048), Profile::CodeSigning);
    let out = sign_fails(&t, "bare", false);
    assert!(
        out.contains("error: NU3001: no certificate for key 'label 'bare' (id 0b)' on token 'errors-nocert' (none with its id or label); give the chain with --certificate-path"),
        "{out}"
    );
}

// --- the server's repository key on a token ------------------------------------------------

/// `signet serve` with `[signing] pkcs11_*`: every pushed package is repository-signed by the
/// token's key (the PIN from an environment variable), timestamped by `signet tsa serve`;
/// `signet verify` and `openssl cms -verify` accept what the feed serves.
#[test]
fn serve_repository_signs_with_a_token_key() {
    let Some(t) = Token::new("serve-token") else {
        return;
    };
    t.key(
        t.spec("feed-repository", &[0x07], 3072),
        Profile::CodeSigning,
    );
    let tsa = signet_test_support::TsaProcess::start(
        Path::new(env!("CARGO_BIN_EXE_signet")),
        t.dir.path(),
    );
    // One CA file for both chains: the token CA and the test PKI (the TSA's).
    let roots = t.path("roots.pem");
    std::fs::write(
        &roots,
        t.pki.root_pem() + &signet_test_support::pki().root.cert_pem(),
    )
    .unwrap();
    let config = t.path("signet-server.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"data\"\n[signing]\npkcs11_module = \"{module}\"\npkcs11_token = \"serve-token\"\n\
             pkcs11_key = \"feed-repository\"\npkcs11_pin_env = \"{PIN_VAR}\"\n\
             certificate_path = \"feed-repository.chain.pem\"\ntimestamp_url = \"{tsa}\"\n\
             trusted_roots = [\"roots.pem\"]\nbundled_roots = false\nrevocation_mode = \"offline\"\n\
             recheck_interval_seconds = 0\n",
            module = s(t.hsm.module()),
            tsa = tsa.url,
        ),
    )
    .unwrap();
    let mut server = t
        .command(&["serve", "--config", s(&config), "--listen", "127.0.0.1:0"])
        .env("SIGNET_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(server.stdout.take().unwrap()).lines();
    let mut index = String::new();
    let mut signing = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(u) = line.strip_prefix("service index: ") {
            index = u.to_owned();
        }
        if line.starts_with("repository signing:") {
            signing = line;
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let stop = |mut c: std::process::Child| {
        let _ = c.kill();
        let _ = c.wait();
    };
    if index.is_empty() {
        stop(server);
        panic!("signet serve did not start with the token key");
    }
    assert!(!signing.contains("DEVELOPMENT"), "{signing}");

    let mut create = t
        .command(&[
            "admin",
            "--config",
            s(&config),
            "create-user",
            "alice",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    create
        .stdin
        .take()
        .unwrap()
        .write_all(b"a long enough password\n")
        .unwrap();
    assert!(create.wait().unwrap().success());
    let o = t.signet(&["admin", "--config", s(&config), "create-api-key", "alice"]);
    assert!(o.status.success(), "{}", text(&o));
    let key = String::from_utf8_lossy(&o.stdout).trim().to_owned();
    let o = t.signet(&[
        "push",
        s(&t.package),
        "--source",
        &index,
        "--api-key",
        &key,
        "--allow-insecure-loopback",
    ]);
    let pushed = text(&o);
    let base = index.trim_end_matches("/v3/index.json").to_owned();
    let http = signet_feed::HttpClient::new(
        std::time::Duration::from_secs(30),
        signet_feed::HttpPolicy::LoopbackHttp,
    )
    .unwrap();
    let served = signet_feed::Http::get(
        &http,
        &format!("{base}/v3-flatcontainer/signet.token.test/1.0.0/signet.token.test.1.0.0.nupkg"),
        1 << 24,
    );
    stop(server);
    assert!(o.status.success(), "{pushed}");
    let served = served.unwrap().expect("the pushed package is served");
    let file = t.path("served.nupkg");
    std::fs::write(&file, &served).unwrap();
    let o = t.signet(&["verify", "--json", s(&file), "--trust-roots", s(&roots)]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["signatures"][0]["signatureType"], "Repository", "{v}");
    assert!(
        v[0]["signatures"][0]["certificate"]["subject"]
            .as_str()
            .unwrap()
            .contains("token key feed-repository"),
        "{v}"
    );
    // openssl, against both roots.
    let bytes = std::fs::read(&file).unwrap();
    let mut pkg =
        signet_nupkg::Package::open(std::io::Cursor::new(bytes), &Default::default()).unwrap();
    std::fs::write(t.path("served.p7s"), pkg.read_signature().unwrap().unwrap()).unwrap();
    let o = Command::new("openssl")
        .args([
            "cms", "-verify", "-inform", "DER", "-binary", "-purpose", "any",
        ])
        .args(["-in", s(&t.path("served.p7s")), "-CAfile", s(&roots)])
        .args(["-out", s(&t.path("served.content"))])
        .output()
        .unwrap();
    assert!(o.status.success(), "openssl cms -verify: {}", text(&o));
}

// --- the transparency log's key on a token --------------------------------------------------

/// `signet serve` with `[transparency_log] pkcs11_*`: the log's Ed25519 key is generated on
/// the token (never outside it); the server announces the verifier key of the token's public
/// key under the configured origin, and the checkpoint it publishes after a push verifies
/// with that key — checked by `signet-tlog` and, independently, as a raw Ed25519 signature
/// (aws-lc-rs) over the note text. A key that is not Ed25519 is refused at start-up.
#[test]
fn serve_signs_its_transparency_log_with_a_token_key() {
    use base64::Engine as _;
    let Some(t) = Token::new("tlog-token") else {
        return;
    };
    let point = t.hsm.generate_ed25519("tlog-token", PIN, "tlog", &[0x09]);
    let public: [u8; 32] = match point.as_slice() {
        [0x04, 0x20, rest @ ..] => rest.try_into().unwrap(),
        raw => raw.try_into().unwrap(),
    };
    let origin = "feed.test/tlog";
    let expected = signet_tlog::VerifierKey::new(origin, public).unwrap();
    let config_for = |key: &str| {
        let config = t.path(&format!("tlog-{key}.toml"));
        std::fs::write(
            &config,
            format!(
                "data_dir = \"data-{key}\"\n[transparency_log]\npkcs11_module = \"{module}\"\n\
                 pkcs11_token = \"tlog-token\"\npkcs11_key = \"{key}\"\n\
                 pkcs11_pin_env = \"{PIN_VAR}\"\norigin = \"{origin}\"\n\
                 checkpoint_interval_ms = 200\n",
                module = s(t.hsm.module()),
            ),
        )
        .unwrap();
        config
    };
    // An RSA key where the log needs Ed25519: refused, and the message says why.
    t.key(t.spec("not-ed25519", &[0x0A], 2048), Profile::CodeSigning);
    let o = t.signet(&[
        "serve",
        "--config",
        s(&config_for("not-ed25519")),
        "--listen",
        "127.0.0.1:0",
    ]);
    assert!(!o.status.success());
    assert!(text(&o).contains("is not an Ed25519 key"), "{}", text(&o));

    let config = config_for("tlog");
    let mut server = t
        .command(&["serve", "--config", s(&config), "--listen", "127.0.0.1:0"])
        .env("SIGNET_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(server.stdout.take().unwrap()).lines();
    let (mut index, mut announced) = (String::new(), String::new());
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(u) = line.strip_prefix("service index: ") {
            index = u.to_owned();
        }
        if let Some((_, vkey)) = line.split_once("verifier key ") {
            announced = vkey.trim().to_owned();
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let stop = |mut c: std::process::Child| {
        let _ = c.kill();
        let _ = c.wait();
    };
    if announced.is_empty() {
        stop(server);
        panic!("signet serve did not announce the token's log key");
    }
    let base = index.trim_end_matches("/v3/index.json").to_owned();
    let mut create = t
        .command(&[
            "admin",
            "--config",
            s(&config),
            "create-user",
            "alice",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    create
        .stdin
        .take()
        .unwrap()
        .write_all(b"a long enough password\n")
        .unwrap();
    assert!(create.wait().unwrap().success());
    let o = t.signet(&["admin", "--config", s(&config), "create-api-key", "alice"]);
    let key = String::from_utf8_lossy(&o.stdout).trim().to_owned();
    let pushed = t.signet(&[
        "push",
        s(&t.package),
        "--source",
        &index,
        "--api-key",
        &key,
        "--allow-insecure-loopback",
    ]);
    let http = signet_feed::HttpClient::new(
        std::time::Duration::from_secs(10),
        signet_feed::HttpPolicy::LoopbackHttp,
    )
    .unwrap();
    // The first checkpoint that holds the pushed version.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let checkpoint = loop {
        let body = signet_feed::Http::get(&http, &format!("{base}/tlog/checkpoint"), 1 << 16)
            .ok()
            .flatten();
        if let Some(body) = body
            && String::from_utf8_lossy(&body).lines().nth(1) == Some("1")
        {
            break Some(body);
        }
        if std::time::Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    stop(server);
    assert!(pushed.status.success(), "{}", text(&pushed));
    assert_eq!(
        announced,
        expected.to_string(),
        "the announced key is the token's"
    );
    let checkpoint = checkpoint.expect("a checkpoint with the pushed version");
    signet_tlog::SignedCheckpoint::verify(&checkpoint, &expected, &Default::default()).unwrap();
    // Independently: the signature line's Ed25519 signature over the note text.
    let note = String::from_utf8(checkpoint).unwrap();
    let (body, signatures) = note.split_once("\n\n").unwrap();
    let line = signatures
        .lines()
        .find(|l| l.starts_with(&format!("\u{2014} {origin} ")))
        .unwrap();
    let blob = base64::engine::general_purpose::STANDARD
        .decode(line.rsplit(' ').next().unwrap())
        .unwrap();
    assert_eq!(blob.len(), 4 + 64);
    aws_lc_rs::signature::UnparsedPublicKey::new(&aws_lc_rs::signature::ED25519, public)
        .verify(format!("{body}\n").as_bytes(), &blob[4..])
        .expect("the token's Ed25519 signature verifies over the checkpoint text");
}
