//! The development PKI against the `openssl` CLI as oracle: chains verify, extensions are what
//! NuGet and RFC 3161 want, CRLs and OCSP answers follow `revoke` while `serve` runs.

// Test helpers panic on purpose: a failed fixture is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use signet_common::UtcTime;
use signet_pki::{
    CertName, CertSelector, Error, Existing, InitOptions, RevocationReason, ServeOptions,
};
use zeroize::Zeroizing;

const PASSWORD: &str = "dev-pki-test";

/// Runs openssl; returns (success, stdout + stderr).
fn openssl(args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("the openssl CLI must be on PATH");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A minute ago, so that openssl (which checks validity at its own now) accepts the leaves.
fn now() -> UtcTime {
    UtcTime::now().add_micros(-60_000_000)
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn options(port: u16) -> InitOptions {
    let mut o = InitOptions::new(Zeroizing::new(PASSWORD.to_owned()));
    o.port = port;
    o
}

fn init_pki(port: u16) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("dev-pki");
    signet_pki::init(&dir, &options(port), now()).unwrap();
    (tmp, dir)
}

#[test]
fn init_creates_valid_chains_and_files() {
    let port = 18390;
    let (_tmp, dir) = init_pki(port);
    let root = dir.join("root.pem");
    let intermediate = dir.join("intermediate.pem");

    for leaf in ["codesign", "tsa", "repository", "intermediate"] {
        let pem = dir.join(format!("{leaf}.pem"));
        let (ok, text) = openssl(&[
            "verify",
            "-CAfile",
            s(&root),
            "-untrusted",
            s(&intermediate),
            s(&pem),
        ]);
        assert!(ok, "{leaf}: {text}");
    }

    let text = |name: &str| {
        let (ok, text) = openssl(&["x509", "-noout", "-text", "-in", s(&dir.join(name))]);
        assert!(ok, "{text}");
        text
    };
    let tsa = text("tsa.pem");
    assert!(
        tsa.contains("X509v3 Extended Key Usage: critical\n                Time Stamping\n"),
        "{tsa}"
    );
    for (leaf, issuer) in [
        ("codesign.pem", "intermediate"),
        ("tsa.pem", "intermediate"),
        ("repository.pem", "intermediate"),
        ("intermediate.pem", "root"),
    ] {
        let t = text(leaf);
        assert!(
            t.contains(&format!("URI:http://127.0.0.1:{port}/crl/{issuer}.crl")),
            "{leaf}: {t}"
        );
        assert!(
            t.contains(&format!("OCSP - URI:http://127.0.0.1:{port}/ocsp")),
            "{leaf}: {t}"
        );
        assert!(
            t.contains(&format!(
                "CA Issuers - URI:http://127.0.0.1:{port}/ca/{issuer}.cer"
            )),
            "{leaf}: {t}"
        );
    }
    let codesign = text("codesign.pem");
    assert!(codesign.contains("Code Signing"), "{codesign}");
    assert!(codesign.contains("Public-Key: (2048 bit)"), "{codesign}");
    assert!(text("repository.pem").contains("CN = signet development repository signing"));
    let root_text = text("root.pem");
    assert!(root_text.contains("Public-Key: (3072 bit)"), "{root_text}");
    assert!(root_text.contains("CA:TRUE"), "{root_text}");

    // Private keys and the PFX are readable by the owner only.
    #[cfg(unix)]
    for name in CertName::ALL {
        use std::os::unix::fs::PermissionsExt;
        for file in [name.key_file(), "codesign.pfx".to_owned()] {
            let mode = std::fs::metadata(dir.join(&file))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{file}");
        }
    }

    // The PFX loads with signet's own loader, chain leaf → intermediate → root.
    let signer = signet_keys::load_signer(&dir.join("codesign.pfx"), Some(PASSWORD), None).unwrap();
    use signet_keys::Signer as _;
    assert_eq!(signer.certificate_chain().len(), 3);
    assert_eq!(signer.key_bits(), 2048);
    // And with openssl.
    let (ok, text) = openssl(&[
        "pkcs12",
        "-in",
        s(&dir.join("codesign.pfx")),
        "-passin",
        &format!("pass:{PASSWORD}"),
        "-nokeys",
        "-info",
    ]);
    assert!(ok, "{text}");
    // The PEM chain and key load too.
    signet_keys::load_signer(&dir.join("tsa.pem"), None, Some(&dir.join("tsa.key.pem"))).unwrap();

    // The CRLs written at init verify against their issuers and list nothing.
    for (crl, ca) in [
        ("root.crl", "root.pem"),
        ("intermediate.crl", "intermediate.pem"),
    ] {
        let (ok, text) = openssl(&[
            "crl",
            "-inform",
            "DER",
            "-in",
            s(&dir.join(crl)),
            "-CAfile",
            s(&dir.join(ca)),
            "-noout",
            "-text",
        ]);
        assert!(ok && text.contains("verify OK"), "{crl}: {text}");
        assert!(text.contains("No Revoked Certificates"), "{crl}: {text}");
    }

    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("state.json")).unwrap()).unwrap();
    assert_eq!(state["port"], port);
    assert_eq!(state["certificates"].as_array().unwrap().len(), 5);

    // A second init refuses; --force replaces.
    let err = signet_pki::init(&dir, &options(port), now()).unwrap_err();
    assert!(matches!(err, Error::AlreadyExists(_)), "{err}");
    let old_root = std::fs::read(&root).unwrap();
    let mut force = options(port);
    force.existing = Existing::Replace;
    signet_pki::init(&dir, &force, now()).unwrap();
    assert_ne!(std::fs::read(&root).unwrap(), old_root);
}

#[test]
fn init_rejects_bad_options() {
    let tmp = tempfile::tempdir().unwrap();
    let err = signet_pki::init(tmp.path(), &options(0), now()).unwrap_err();
    assert!(matches!(err, Error::PortZero), "{err}");
    let empty = InitOptions::new(Zeroizing::new(String::new()));
    let err = signet_pki::init(tmp.path(), &empty, now()).unwrap_err();
    assert!(matches!(err, Error::EmptyPassword), "{err}");
    let err = signet_pki::revoke(
        tmp.path(),
        &CertSelector::Name(CertName::CodeSigning),
        RevocationReason::KeyCompromise,
        now(),
        None,
    )
    .unwrap_err();
    assert!(matches!(err, Error::NotAPki(_)), "{err}");
}

/// A running `serve` on its own runtime thread, stopped on drop.
struct Server {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), Error>>>,
    base: String,
}

impl Server {
    fn start(dir: &Path, port: u16) -> Self {
        let dir = dir.to_owned();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let addr = format!("127.0.0.1:{port}").parse().unwrap();
                let listener = signet_pki::bind_loopback(addr).await?;
                ready_tx.send(()).unwrap();
                let options = ServeOptions::new(Arc::new(signet_pki::SystemClock));
                signet_pki::serve(&dir, listener, options, async {
                    let _ = stopped.await;
                })
                .await
            })
        });
        ready_rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("server started");
        Self {
            stop: Some(stop),
            thread: Some(thread),
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    fn post(&self, path: &str, content_type: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
        let resp = reqwest::blocking::Client::new()
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body)
            .send()
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.bytes().unwrap().to_vec())
    }

    fn get(&self, path: &str) -> (u16, Vec<u8>) {
        let resp = reqwest::blocking::get(format!("{}{path}", self.base)).unwrap();
        let status = resp.status().as_u16();
        (status, resp.bytes().unwrap().to_vec())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap().unwrap();
        }
    }
}

/// `openssl ocsp` for `leaf.pem` against the running server; returns its output.
fn ocsp_status(dir: &Path, leaf: &str, base: &str) -> String {
    let (ok, text) = openssl(&[
        "ocsp",
        "-issuer",
        s(&dir.join("intermediate.pem")),
        "-cert",
        s(&dir.join(format!("{leaf}.pem"))),
        "-url",
        &format!("{base}/ocsp"),
        "-CAfile",
        s(&dir.join("root.pem")),
        "-resp_text",
    ]);
    assert!(ok, "{text}");
    assert!(text.contains("Response verify OK"), "{text}");
    text
}

#[test]
fn serve_answers_crl_and_ocsp_and_follows_revoke() {
    let port = free_port();
    let (tmp, dir) = init_pki(port);
    let server = Server::start(&dir, port);

    assert_eq!(server.get("/health"), (200, b"ok\n".to_vec()));
    assert_eq!(server.get("/crl/codesign.crl").0, 404);
    assert_eq!(server.get("/ca/nothing.cer").0, 404);
    let (status, root_der) = server.get("/ca/root.cer");
    assert_eq!(status, 200);
    let root_pem = std::fs::read_to_string(dir.join("root.pem")).unwrap();
    assert!(root_pem.contains(&pem_body(&root_der)));

    // The TSA at /tsa answers `openssl ts -query`, and `openssl ts -verify` accepts the token.
    let data = tmp.path().join("data.txt");
    std::fs::write(&data, b"hello").unwrap();
    let tsq = tmp.path().join("req.tsq");
    let (ok, text) = openssl(&[
        "ts",
        "-query",
        "-data",
        s(&data),
        "-sha256",
        "-cert",
        "-out",
        s(&tsq),
    ]);
    assert!(ok, "{text}");
    let (status, tsr) = server.post(
        "/tsa",
        "application/timestamp-query",
        std::fs::read(&tsq).unwrap(),
    );
    assert_eq!(status, 200);
    let tsr_path = tmp.path().join("resp.tsr");
    std::fs::write(&tsr_path, tsr).unwrap();
    let (ok, text) = openssl(&[
        "ts",
        "-verify",
        "-in",
        s(&tsr_path),
        "-queryfile",
        s(&tsq),
        "-CAfile",
        s(&dir.join("root.pem")),
        "-untrusted",
        s(&dir.join("intermediate.pem")),
    ]);
    assert!(ok && text.contains("Verification: OK"), "{text}");

    // Before: good, and the CRL is empty.
    let before = ocsp_status(&dir, "codesign", &server.base);
    assert!(before.contains(": good"), "{before}");
    assert!(before.contains("Next Update:"), "{before}");
    let crl_text = |server: &Server| {
        let (status, der) = server.get("/crl/intermediate.crl");
        assert_eq!(status, 200);
        let path = tmp.path().join("fetched.crl");
        std::fs::write(&path, der).unwrap();
        let (ok, text) = openssl(&[
            "crl",
            "-inform",
            "DER",
            "-in",
            s(&path),
            "-CAfile",
            s(&dir.join("intermediate.pem")),
            "-noout",
            "-text",
        ]);
        assert!(ok && text.contains("verify OK"), "{text}");
        text
    };
    assert!(crl_text(&server).contains("No Revoked Certificates"));

    // Revoke while the server runs.
    let invalid_since = UtcTime::from_civil(2026, 1, 2, 3, 4, 5, 0).unwrap();
    let revoked = signet_pki::revoke(
        &dir,
        &CertSelector::parse("codesign").unwrap(),
        RevocationReason::KeyCompromise,
        UtcTime::now(),
        Some(invalid_since),
    )
    .unwrap();
    assert_eq!(revoked.issuer, CertName::Intermediate);

    let after = ocsp_status(&dir, "codesign", &server.base);
    assert!(after.contains(": revoked"), "{after}");
    assert!(after.contains("Reason: keyCompromise"), "{after}");
    assert!(after.contains("Invalidity Date"), "{after}");
    // The others stay good.
    assert!(ocsp_status(&dir, "tsa", &server.base).contains(": good"));

    let text = crl_text(&server);
    assert!(
        text.contains(&format!("Serial Number: {}", revoked.serial)),
        "{text}"
    );
    assert!(text.contains("Key Compromise"), "{text}");
    assert!(text.contains("Invalidity Date"), "{text}");
    // The CRL written to disk says the same.
    let (ok, disk) = openssl(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        s(&dir.join("intermediate.crl")),
        "-noout",
        "-text",
    ]);
    assert!(ok && disk.contains(&revoked.serial), "{disk}");

    // Revoking twice is refused; the root cannot be revoked; by serial and by file work.
    let err = signet_pki::revoke(
        &dir,
        &CertSelector::File(dir.join("codesign.pem")),
        RevocationReason::Superseded,
        UtcTime::now(),
        None,
    )
    .unwrap_err();
    assert!(matches!(err, Error::AlreadyRevoked { .. }), "{err}");
    let err = signet_pki::revoke(
        &dir,
        &CertSelector::Name(CertName::Root),
        RevocationReason::Superseded,
        UtcTime::now(),
        None,
    )
    .unwrap_err();
    assert!(matches!(err, Error::RevokeRoot), "{err}");
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("state.json")).unwrap()).unwrap();
    let intermediate_serial = state["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "intermediate")
        .unwrap()["serial"]
        .as_str()
        .unwrap()
        .to_owned();
    signet_pki::revoke(
        &dir,
        &CertSelector::parse(&intermediate_serial.to_lowercase()).unwrap(),
        RevocationReason::CaCompromise,
        UtcTime::now(),
        None,
    )
    .unwrap();
    let (status, der) = server.get("/crl/root.crl");
    assert_eq!(status, 200);
    let path = tmp.path().join("root-fetched.crl");
    std::fs::write(&path, der).unwrap();
    let (ok, text) = openssl(&["crl", "-inform", "DER", "-in", s(&path), "-noout", "-text"]);
    assert!(ok && text.contains(&intermediate_serial), "{text}");
    assert!(text.contains("CA Compromise"), "{text}");
    drop(server);
}

fn pem_body(der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    b64.get(..64).unwrap().to_owned()
}

#[test]
fn ocsp_over_get_with_nonce_and_unknown_serials() {
    use signet_signature::Certificate;
    use signet_trust::ocsp::{CertId, CertIdHash, CertStatus, OcspRequest, OcspResponse};

    let port = free_port();
    let (_tmp, dir) = init_pki(port);
    let responder = signet_pki::Responder::open(&dir).unwrap();
    let load = |name: &str| {
        Certificate::from_pem_bundle(&std::fs::read(dir.join(name)).unwrap())
            .unwrap()
            .remove(0)
    };
    let leaf = load("repository.pem");
    let intermediate = load("intermediate.pem");
    let limits = signet_trust::RevocationLimits::default();
    let at = UtcTime::from_civil(2027, 5, 6, 7, 8, 9, 0).unwrap();

    let mut id = CertId::new(&leaf, &intermediate, CertIdHash::Sha256).unwrap();
    let request = OcspRequest::new(vec![id.clone()], Some(b"0123456789abcdef"))
        .unwrap()
        .to_der_bytes()
        .unwrap();
    let answer = |request: &[u8]| {
        let response = OcspResponse::decode(&responder.ocsp(request, at), &limits).unwrap();
        response.basic(&limits).unwrap()
    };
    let basic = answer(&request);
    assert_eq!(basic.nonce().as_deref(), Some(&b"0123456789abcdef"[..]));
    let single = &basic.tbs_response_data.responses[0];
    assert_eq!(single.cert_status, CertStatus::good());
    assert_eq!(signet_trust::ocsp::utc_time(&single.this_update), at);
    assert_eq!(
        signet_trust::ocsp::utc_time(single.next_update.as_ref().unwrap()),
        at.add_micros(signet_pki::OCSP_VALIDITY_SECONDS * 1_000_000)
    );

    // A serial this CA never issued: unknown, still signed by the CA.
    id.serial_number = x509_cert::serial_number::SerialNumber::new(&[0x01, 0x02]).unwrap();
    let request = OcspRequest::new(vec![id], None)
        .unwrap()
        .to_der_bytes()
        .unwrap();
    assert_eq!(
        answer(&request).tbs_response_data.responses[0].cert_status,
        CertStatus::unknown()
    );

    // Garbage: malformedRequest.
    let response = OcspResponse::decode(&responder.ocsp(b"\x30\x00junk", at), &limits).unwrap();
    assert_eq!(
        response.response_status,
        signet_trust::ocsp::OcspResponseStatus::MalformedRequest
    );

    // Over HTTP GET, base64 in the path (RFC 6960 A.1).
    let server = Server::start(&dir, port);
    let id = CertId::new(&leaf, &intermediate, CertIdHash::Sha1).unwrap();
    let request = OcspRequest::new(vec![id], None)
        .unwrap()
        .to_der_bytes()
        .unwrap();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&request);
    let encoded = b64
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    let (status, body) = server.get(&format!("/ocsp/{encoded}"));
    assert_eq!(status, 200);
    let basic = OcspResponse::decode(&body, &limits)
        .unwrap()
        .basic(&limits)
        .unwrap();
    assert_eq!(
        basic.tbs_response_data.responses[0].cert_status,
        CertStatus::good()
    );
}

#[test]
fn serve_refuses_non_loopback_addresses() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for addr in ["0.0.0.0:0", "192.0.2.1:8390", "[::]:0"] {
        let err = rt
            .block_on(signet_pki::bind_loopback(addr.parse().unwrap()))
            .unwrap_err();
        assert!(matches!(err, Error::NotLoopback(_)), "{addr}: {err}");
        assert!(err.to_string().contains("loopback"));
    }
    let ok = rt.block_on(signet_pki::bind_loopback("127.0.0.1:0".parse().unwrap()));
    assert!(ok.is_ok());
}

/// Signs a small package with `codesign.pfx` (no timestamp) and verifies it online against
/// the running server, before and after `revoke codesign --reason keyCompromise`: the library
/// path that `signet sign` and `signet verify --revocation-mode online` take.
#[test]
fn revoked_signer_fails_online_verification_with_nu3012() {
    use std::io::Cursor;

    use signet_common::{HashAlgorithm, NuCode};
    use signet_nupkg::{Limits, Package, append_signature, dos_date_time};
    use signet_signature::{Certificate, SignatureKind, SignatureRequest, build_primary_signature};
    use signet_trust::{
        RevocationChecker, RevocationMode, RevocationSettings, TrustStore, VerifierSettings,
        VerifyOptions, verify_package,
    };

    let port = free_port();
    let (_tmp, dir) = init_pki(port);
    let server = Server::start(&dir, port);

    let signer = signet_keys::load_signer(&dir.join("codesign.pfx"), Some(PASSWORD), None).unwrap();
    let unsigned = signet_test_support::PackageBuilder::new("Signet.DevPki", "1.0.0")
        .file("lib/net8.0/Signet.DevPki.dll", b"not really a dll")
        .build();
    let package_hash = Package::open(Cursor::new(&unsigned), &Limits::default())
        .unwrap()
        .package_hash(HashAlgorithm::Sha256)
        .unwrap();
    let signature = build_primary_signature(
        &SignatureRequest {
            kind: SignatureKind::Author,
            hash_algorithm: HashAlgorithm::Sha256,
            package_hash,
            signing_time: UtcTime::now(),
        },
        &signer,
    )
    .unwrap();
    let mut signed = Vec::new();
    append_signature(
        Cursor::new(&unsigned),
        &signature,
        dos_date_time(2026, 11, 22, 12, 0, 0),
        &mut signed,
        &Limits::default(),
    )
    .unwrap();

    let mut store = TrustStore::empty();
    store.add_roots(
        Certificate::from_pem_bundle(&std::fs::read(dir.join("root.pem")).unwrap()).unwrap(),
        "dev-pki",
    );
    let verify = || {
        // A fresh checker each time: no cache carries the first answer into the second run.
        let mut options = VerifyOptions::new(
            VerifierSettings::verify_command(RevocationMode::Online),
            UtcTime::now(),
        );
        options.revocation = Some(Arc::new(
            RevocationChecker::http(RevocationSettings::default()).into_checker(),
        ));
        verify_package(Cursor::new(&signed), &store, &options)
    };
    let codes = |report: &signet_trust::PackageReport| -> Vec<(Option<NuCode>, String)> {
        report
            .issues
            .iter()
            .chain(report.signatures.iter().flat_map(|s| s.issues.iter()))
            .map(|i| (i.code, i.message.clone()))
            .collect()
    };

    let before = verify();
    assert!(before.valid, "{:?}", codes(&before));

    signet_pki::revoke(
        &dir,
        &CertSelector::Name(CertName::CodeSigning),
        RevocationReason::KeyCompromise,
        UtcTime::now(),
        None,
    )
    .unwrap();
    let after = verify();
    assert!(!after.valid, "{:?}", codes(&after));
    assert!(
        codes(&after)
            .iter()
            .any(|(code, message)| *code == Some(NuCode::NU3012) && message.contains("revoked")),
        "{:?}",
        codes(&after)
    );
    drop(server);
}

/// `serve` reissues a CRL once the one on disk is a day old: thisUpdate moves on by whole
/// days, the CRL number grows with it, nextUpdate stays seven days ahead.
#[test]
fn served_crls_are_reissued_daily_with_growing_numbers() {
    let (tmp, dir) = init_pki(18391);
    let responder = signet_pki::Responder::open(&dir).unwrap();
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("state.json")).unwrap()).unwrap();
    let issued =
        signet_pki::parse_rfc3339(state["crls"][1]["this_update"].as_str().unwrap()).unwrap();
    let number = state["crls"][1]["number"].as_u64().unwrap();
    let crl_fields = |now: UtcTime| {
        let path = tmp.path().join("served.crl");
        std::fs::write(&path, responder.crl(CertName::Intermediate, now).unwrap()).unwrap();
        let (ok, text) = openssl(&[
            "crl",
            "-inform",
            "DER",
            "-in",
            s(&path),
            "-noout",
            "-lastupdate",
            "-crlnumber",
        ]);
        assert!(ok, "{text}");
        text
    };
    // Within the first day: the CRL on disk.
    let same_day = crl_fields(issued.add_micros(3_600_000_000));
    assert_eq!(
        std::fs::read(dir.join("intermediate.crl")).unwrap(),
        responder.crl(CertName::Intermediate, issued).unwrap()
    );
    assert!(
        same_day.contains(&format!("crlNumber=0x{number:X}")),
        "{same_day}"
    );
    // Three and a half days later: reissued three days on.
    let later = crl_fields(issued.add_micros(84 * 3_600_000_000));
    let expected = number + 3 * 86_400;
    assert!(
        later.contains(&format!("crlNumber=0x{expected:X}")),
        "{later}"
    );
    assert!(responder.crl(CertName::CodeSigning, issued).is_err());
}

/// `RevocationChecker::http` returns the checker or a `Result` of it, depending on the
/// version of signet-trust beside this crate (it is becoming infallible); this takes either.
trait IntoChecker {
    fn into_checker(self) -> signet_trust::RevocationChecker;
}

impl IntoChecker for signet_trust::RevocationChecker {
    fn into_checker(self) -> signet_trust::RevocationChecker {
        self
    }
}

impl<E: std::fmt::Debug> IntoChecker for Result<signet_trust::RevocationChecker, E> {
    fn into_checker(self) -> signet_trust::RevocationChecker {
        self.unwrap()
    }
}
