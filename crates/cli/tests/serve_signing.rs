//! Signed packages through real processes: `signet serve` configured with a repository
//! certificate and `signet tsa serve` as its timestamp authority; packages signed with
//! `signet sign`, pushed with `signet push`, checked with `signet verify`, the feed trusted
//! with `signet trust source` and installed with `signet install` in secure mode.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use signet_test_support::{
    PackageBuilder, isolate_config, output_text as text, pki, write_cert_files,
};

fn signet() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_signet"));
    isolate_config(&mut c);
    c.env("NUGET_CERT_REVOCATION_MODE", "offline");
    c
}

fn run(args: &[&str]) -> Output {
    signet().args(args).output().unwrap()
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{}", text(o));
    text(o)
}

/// Runs openssl and asserts success.
fn openssl(args: &[&str]) -> String {
    let o = Command::new("openssl").args(args).output().unwrap();
    assert!(o.status.success(), "openssl {args:?}: {}", text(&o));
    text(&o)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A browser-like HTTP client for the server's pages: one cookie jar, no redirects followed.
struct Web {
    base: String,
    agent: ureq::Agent,
    cookies: std::collections::BTreeMap<String, String>,
}

impl Web {
    fn new(base: &str) -> Web {
        Web {
            base: base.to_owned(),
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .max_redirects(0)
                .build()
                .into(),
            cookies: Default::default(),
        }
    }

    fn take(&mut self, r: ureq::http::Response<ureq::Body>) -> (u16, String) {
        for c in r.headers().get_all("set-cookie") {
            let c = c.to_str().unwrap();
            let pair = c.split(';').next().unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            if c.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
        }
        let status = r.status().as_u16();
        (status, r.into_body().read_to_string().unwrap_or_default())
    }

    fn cookie(&self) -> String {
        let pairs: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        pairs.join("; ")
    }

    fn get(&mut self, path: &str) -> (u16, String) {
        let r = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("Cookie", &self.cookie())
            .call()
            .unwrap();
        self.take(r)
    }

    fn post(&mut self, path: &str, form: &[(&str, &str)]) -> (u16, String) {
        let r = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Cookie", &self.cookie())
            .send_form(form.iter().copied())
            .unwrap();
        self.take(r)
    }

    /// A multipart upload as a browser sends the certificate form (`csrf`, `uploadFile`).
    fn upload(&mut self, path: &str, page: &str, file: &[u8]) -> (u16, String) {
        let csrf = csrf_of(page);
        let mut body = format!(
            "--b0undary\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n\
             --b0undary\r\nContent-Disposition: form-data; name=\"uploadFile\"; filename=\"author.cer\"\r\n\
             Content-Type: application/pkix-cert\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(file);
        body.extend_from_slice(b"\r\n--b0undary--\r\n");
        let r = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Cookie", &self.cookie())
            .header("Content-Type", "multipart/form-data; boundary=b0undary")
            .send(&body[..])
            .unwrap();
        self.take(r)
    }

    fn sign_in(&mut self, name: &str, password: &str) {
        let page = self.get("/signin");
        let csrf = csrf_of(&page.1);
        let r = self.post(
            "/signin",
            &[("csrf", &csrf), ("name", name), ("password", password)],
        );
        assert_eq!(r.0, 303, "{}", r.1);
    }

    /// Turns on TOTP two-factor sign-in; the confirming session counts as a 2FA sign-in.
    fn enrol_totp(&mut self) {
        let page = self.get("/account/2fa");
        let csrf = csrf_of(&page.1);
        let r = self.post("/account/2fa/setup", &[("csrf", &csrf)]);
        assert_eq!(r.0, 303, "{}", r.1);
        let setup = self.get("/account/2fa");
        assert_eq!(setup.0, 200, "{}", setup.1);
        let marker = "id=\"totp-secret\">";
        let at = setup.1.find(marker).expect("the secret is shown") + marker.len();
        let secret = setup.1[at..].split('<').next().unwrap().to_owned();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let code = totp_rs::Builder::new()
            .with_secret(totp_rs::Secret::try_from_base32(&secret).unwrap())
            .build()
            .unwrap()
            .generate(now)
            .to_string();
        let r = self.post("/account/2fa/confirm", &[("csrf", &csrf), ("code", &code)]);
        assert_eq!(r.0, 303, "{}", r.1);
        let r = self.get("/account/2fa");
        assert_eq!(r.0, 200, "{}", r.1);
        assert!(r.1.contains("is <strong>on</strong>"), "{}", r.1);
    }
}

/// The first form's CSRF token on a page.
fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let at = html.find(marker).expect("the page has a CSRF field") + marker.len();
    html[at..].split('"').next().unwrap().to_owned()
}

/// A `signet serve` child, killed when dropped.
struct Serve {
    child: Child,
    index: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(config: &Path) -> Serve {
    let mut child = signet()
        .args(["serve", "--config", s(config), "--listen", "127.0.0.1:0"])
        .env("SIGNET_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut index = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(u) = line.strip_prefix("service index: ") {
            index = Some(u.to_owned());
        }
        if line.starts_with("repository signing:") {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    Serve {
        child,
        index: index.expect("signet serve printed its service index"),
    }
}

fn get(url: &str) -> Vec<u8> {
    let http = signet_feed::HttpClient::new(
        Duration::from_secs(30),
        signet_feed::HttpPolicy::LoopbackHttp,
    )
    .unwrap();
    signet_feed::Http::get(&http, url, 64 << 20)
        .unwrap()
        .unwrap_or_else(|| panic!("{url}: 404"))
}

/// A GET that answered 200, or None (refused, an error status, not listening yet).
fn try_get(url: &str) -> Option<Vec<u8>> {
    let http = signet_feed::HttpClient::new(
        Duration::from_secs(5),
        signet_feed::HttpPolicy::LoopbackHttp,
    )
    .ok()?;
    signet_feed::Http::get(&http, url, 1 << 20).ok().flatten()
}

struct Kit {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    root: PathBuf,
    _tsa: signet_test_support::TsaProcess,
    tsa_url: String,
    server: Serve,
    nuget_config: PathBuf,
}

fn kit() -> Kit {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let author = write_cert_files(&pki().code_signing, &dir, "author");
    write_cert_files(&pki().code_signing_no_ski, &dir, "other");
    write_cert_files(&pki().repository, &dir, "repo");
    let tsa = signet_test_support::TsaProcess::start(Path::new(env!("CARGO_BIN_EXE_signet")), &dir);
    let config = dir.join("signet-server.toml");
    std::fs::write(
        &config,
        format!(
            r#"data_dir = "data"
[signing]
certificate_path = "repo.chain.pem"
key_path = "repo.key.pem"
timestamp_url = "{tsa}"
trusted_roots = ["author.root.pem"]
bundled_roots = false
revocation_mode = "offline"
recheck_interval_seconds = 0
announce_repository_signatures_over_http = true
"#,
            tsa = tsa.url
        ),
    )
    .unwrap();
    let nuget_config = dir.join("nuget.config");
    std::fs::write(
        &nuget_config,
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<configuration>\n</configuration>\n",
    )
    .unwrap();
    let server = serve(&config);
    Kit {
        _tmp: tmp,
        root: author.root_pem,
        tsa_url: tsa.url.clone(),
        _tsa: tsa,
        server,
        nuget_config,
        dir,
    }
}

impl Kit {
    fn admin(&self, args: &[&str]) -> Output {
        let config = self.dir.join("signet-server.toml");
        let mut all = vec!["admin", "--config", s(&config)];
        all.extend_from_slice(args);
        run(&all)
    }

    fn package(&self, id: &str, version: &str, signer: Option<&str>) -> PathBuf {
        let p = self.dir.join(format!("{id}.{version}.nupkg"));
        std::fs::write(
            &p,
            PackageBuilder::new(id, version)
                .file("lib/net8.0/x.dll", b"the payload")
                .stored(true)
                .build(),
        )
        .unwrap();
        if let Some(who) = signer {
            ok(&run(&[
                "sign",
                s(&p),
                "--certificate-path",
                s(&self.dir.join(format!("{who}.chain.pem"))),
                "--certificate-key",
                s(&self.dir.join(format!("{who}.key.pem"))),
                "--trust-roots",
                s(&self.root),
                "--timestamper",
                &self.tsa_url,
            ]));
        }
        p
    }

    fn push(&self, package: &Path, key: &str, extra: &[&str]) -> Output {
        let mut args = vec![
            "push",
            s(package),
            "--source",
            &self.server.index,
            "--api-key",
            key,
            "--allow-insecure-loopback",
        ];
        args.extend_from_slice(extra);
        run(&args)
    }
}

#[test]
fn signed_push_flow_end_to_end() {
    let k = kit();
    let base = k.server.index.trim_end_matches("/v3/index.json").to_owned();

    // An account and its API key.
    let mut create = signet()
        .args(["admin", "--config", s(&k.dir.join("signet-server.toml"))])
        .args(["create-user", "alice", "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    create
        .stdin
        .take()
        .unwrap()
        .write_all(b"correct horse battery staple\n")
        .unwrap();
    assert!(create.wait().unwrap().success());
    let key = ok(&k.admin(&["create-api-key", "alice"]))
        .lines()
        .next()
        .unwrap()
        .trim()
        .to_owned();

    // On the web: sign in; managing certificates needs two-factor authentication, so enrol
    // (TOTP), then register the author certificate (DER .cer, NuGet.org's upload field). From
    // then on alice's packages must be signed with it.
    let mut web = Web::new(&base);
    web.sign_in("alice", "correct horse battery staple");
    let page = web.get("/account/certificates");
    assert!(page.1.contains("needs a sign-in with") && !page.1.contains("cert-upload"));
    let cer = pki().code_signing.cert_der.clone();
    let refused = web.upload("/account/certificates/upload", &page.1, &cer);
    assert_eq!(refused.0, 403, "{}", refused.1);
    assert!(refused.1.contains("two-factor"), "{}", refused.1);
    web.enrol_totp();
    let page = web.get("/account/certificates");
    let uploaded = web.upload("/account/certificates/upload", &page.1, &cer);
    // Post/redirect/get: the list page names the new certificate once; a reload does not.
    assert_eq!(uploaded.0, 303, "{}", uploaded.1);
    let author_fp = pki().code_signing.sha256_fingerprint_hex().to_lowercase();
    let shown = web.get("/account/certificates");
    assert!(shown.1.contains("id=\"registered\""), "{}", shown.1);
    assert!(shown.1.to_lowercase().contains(&author_fp), "{}", shown.1);
    let again = web.get("/account/certificates");
    assert!(!again.1.contains("id=\"registered\""), "{}", again.1);
    let listed = ok(&k.admin(&["list-certificates", "alice"]));
    assert!(
        listed.contains(&author_fp.to_uppercase()) && listed.contains("Active"),
        "{listed}"
    );

    // Unsigned: rejected, signing required — and a dry run says so without taking anything.
    let unsigned = k.package("Contoso.Signed", "1.0.0", None);
    let o = k.push(&unsigned, &key, &["--dry-run"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("must be signed with a registered certificate"),
        "{}",
        text(&o)
    );
    let o = k.push(&unsigned, &key, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("400"), "{}", text(&o));
    assert!(
        text(&o).contains("must be signed with a registered certificate"),
        "{}",
        text(&o)
    );

    // Signed with a certificate nobody registered: rejected, naming its fingerprint.
    let other = k.package("Contoso.Signed", "1.0.0", Some("other"));
    let o = k.push(&other, &key, &[]);
    assert_eq!(o.status.code(), Some(1));
    let other_fp = pki()
        .code_signing_no_ski
        .sha256_fingerprint_hex()
        .to_lowercase();
    assert!(text(&o).contains(&other_fp), "{}", text(&o));

    // Signed with the registered certificate but not timestamped: NuGet.org requires exactly
    // one timestamp, so the dry run and the push refuse it, naming NU3027 (issue 13).
    let untimestamped = k.dir.join("untimestamped.nupkg");
    std::fs::write(
        &untimestamped,
        PackageBuilder::new("Contoso.Signed", "1.0.0")
            .file("lib/net8.0/x.dll", b"the payload")
            .stored(true)
            .build(),
    )
    .unwrap();
    ok(&run(&[
        "sign",
        s(&untimestamped),
        "--certificate-path",
        s(&k.dir.join("author.chain.pem")),
        "--certificate-key",
        s(&k.dir.join("author.key.pem")),
        "--trust-roots",
        s(&k.root),
    ]));
    for extra in [&["--dry-run"][..], &[]] {
        let o = k.push(&untimestamped, &key, extra);
        assert_eq!(o.status.code(), Some(1), "{extra:?}: {}", text(&o));
        assert!(text(&o).contains("NU3027"), "{extra:?}: {}", text(&o));
    }

    // Signed with the registered certificate: the dry run accepts it, then the push (201).
    let signed = k.package("Contoso.Signed", "1.0.0", Some("author"));
    let o = ok(&k.push(&signed, &key, &["--dry-run"]));
    assert!(
        o.contains("would be accepted") && o.contains(&author_fp),
        "{o}"
    );
    assert!(o.contains("would repository-sign"), "{o}");
    let o = ok(&k.push(&signed, &key, &[]));
    assert!(o.contains("Created (201)"), "{o}");
    let o = k.push(&signed, &key, &[]);
    assert!(text(&o).contains("409"), "{}", text(&o));

    // Download it: an author signature and a repository countersignature by the certificate
    // the service index announces.
    let served = k.dir.join("served.nupkg");
    std::fs::write(
        &served,
        get(&format!(
            "{base}/v3-flatcontainer/contoso.signed/1.0.0/contoso.signed.1.0.0.nupkg"
        )),
    )
    .unwrap();
    let report = ok(&run(&[
        "verify",
        "--all",
        s(&served),
        "--trust-roots",
        s(&k.root),
        "--trust-roots-only",
    ]));
    let repo_fp = pki().repository.sha256_fingerprint_hex().to_lowercase();
    assert!(report.contains("Signature type: Author"), "{report}");
    assert!(report.contains("Signature type: Repository"), "{report}");
    assert!(report.to_lowercase().contains(&repo_fp), "{report}");
    assert!(report.contains("alice"), "owners: {report}");
    let index: serde_json::Value = serde_json::from_slice(&get(&k.server.index)).unwrap();
    let sigs_url = index["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["@type"] == "RepositorySignatures/5.0.0")
        .expect("RepositorySignatures/5.0.0 announced")["@id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sigs: serde_json::Value = serde_json::from_slice(&get(&sigs_url)).unwrap();
    assert_eq!(sigs["allRepositorySigned"], true);
    assert_eq!(
        sigs["signingCertificates"][0]["fingerprints"]["2.16.840.1.101.3.4.2.1"],
        repo_fp.as_str()
    );
    let cert = get(sigs["signingCertificates"][0]["contentUrl"]
        .as_str()
        .unwrap());
    assert_eq!(cert, pki().repository.cert_der);
    // The signature record of the version.
    let record: serde_json::Value = serde_json::from_slice(&get(&format!(
        "{base}/api/signet/packages/Contoso.Signed/1.0.0/signature"
    )))
    .unwrap();
    assert_eq!(record["author"]["fingerprint"], author_fp.as_str());
    assert_eq!(record["repository"]["fingerprint"], repo_fp.as_str());

    // An unsigned package of an account without certificates: accepted, and served with the
    // server's repository primary signature, which openssl verifies independently, as well as
    // its timestamp token.
    let bob = {
        let mut c = signet()
            .args(["admin", "--config", s(&k.dir.join("signet-server.toml"))])
            .args(["create-user", "bob", "--password-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        c.stdin
            .take()
            .unwrap()
            .write_all(b"a long enough password\n")
            .unwrap();
        assert!(c.wait().unwrap().success());
        ok(&k.admin(&["create-api-key", "bob"]))
            .lines()
            .next()
            .unwrap()
            .trim()
            .to_owned()
    };
    ok(&k.push(&k.package("Bob.Unsigned", "1.0.0", None), &bob, &[]));
    let bytes = get(&format!(
        "{base}/v3-flatcontainer/bob.unsigned/1.0.0/bob.unsigned.1.0.0.nupkg"
    ));
    let mut pkg =
        signet_nupkg::Package::open(std::io::Cursor::new(bytes), &Default::default()).unwrap();
    let p7s_bytes = pkg.read_signature().unwrap().unwrap();
    let primary =
        signet_signature::PrimarySignature::load(&p7s_bytes, &Default::default()).unwrap();
    assert_eq!(
        primary.signature_type(),
        signet_signature::SignatureType::Repository
    );
    let info = primary.repository_info().unwrap();
    assert_eq!(info.owners, vec!["bob".to_owned()]);
    assert!(
        info.service_index.starts_with("https://"),
        "{}",
        info.service_index
    );
    let p7s = k.dir.join("bob.p7s");
    std::fs::write(&p7s, &p7s_bytes).unwrap();
    openssl(&[
        "cms",
        "-verify",
        "-inform",
        "DER",
        "-binary",
        "-purpose",
        "any",
        "-in",
        s(&p7s),
        "-CAfile",
        s(&k.root),
        "-out",
        s(&k.dir.join("content.txt")),
    ]);
    // The token's imprint covers the signature value (NuGet's timestamp, spec §4.1).
    let token = k.dir.join("bob.tst");
    std::fs::write(&token, primary.timestamp_tokens()[0]).unwrap();
    let value = k.dir.join("bob.sigvalue");
    std::fs::write(&value, primary.signature_value()).unwrap();
    openssl(&[
        "ts",
        "-verify",
        "-token_in",
        "-in",
        s(&token),
        "-data",
        s(&value),
        "-CAfile",
        s(&k.root),
    ]);

    // Trust the feed as a repository (from its RepositorySignatures) and install in secure
    // mode: accepted.
    let cfg = s(&k.nuget_config);
    ok(&run(&[
        "trust",
        "source",
        "contoso-feed",
        "--source-url",
        &k.server.index,
        "--allow-insecure-loopback",
        "--configfile",
        cfg,
    ]));
    let install = |source: &str, packages: &Path| {
        run(&[
            "install",
            "Contoso.Signed",
            "--source",
            source,
            "--policy",
            "secure",
            "--packages",
            s(packages),
            "--configfile",
            cfg,
            "--trust-roots",
            s(&k.root),
            "--trust-roots-only",
            "--allow-insecure-loopback",
        ])
    };
    let packages = k.dir.join("packages");
    ok(&install(&k.server.index, &packages));
    assert!(
        packages
            .join("contoso.signed/1.0.0/lib/net8.0/x.dll")
            .is_file()
    );

    // A tampered copy (one byte of the payload changed) in a folder feed: blocked, nothing
    // extracted.
    let mut bytes = std::fs::read(&served).unwrap();
    let at = bytes
        .windows(b"the payload".len())
        .position(|w| w == b"the payload")
        .expect("stored payload");
    bytes[at] ^= 0x20;
    let folder = k.dir.join("tampered-feed");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("contoso.signed.1.0.0.nupkg"), &bytes).unwrap();
    let elsewhere = k.dir.join("packages-tampered");
    let o = install(s(&folder), &elsewhere);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("NU3008"), "{}", text(&o));
    assert!(!elsewhere.join("contoso.signed").exists());
}

/// The README's one-command start: `signet serve --data-dir D` with no configuration creates a
/// development PKI, repository-signs with it and serves its timestamp authority at `/dev/tsa`;
/// a package signed with the development code-signing certificate and that authority, once
/// the certificate is registered, is accepted and served with both signatures.
#[test]
fn development_feed_signs_with_no_configuration() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("feed");
    let mut child = signet()
        .args(["serve", "--data-dir", s(&data), "--listen", "127.0.0.1:0"])
        .env("SIGNET_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut index, mut banner, mut tsa) = (String::new(), String::new(), String::new());
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(u) = line.strip_prefix("service index: ") {
            index = u.to_owned();
        } else if line.starts_with("repository signing:") {
            banner = line;
        } else if let Some(u) = line.strip_prefix("development timestamp authority: ") {
            tsa = u.to_owned();
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let server = Serve { child, index };
    assert!(banner.contains("DEVELOPMENT"), "{banner}");
    assert!(!tsa.is_empty());
    let pki_dir = data.join("dev-pki");

    let mut create = signet()
        .args([
            "admin",
            "--data-dir",
            s(&data),
            "create-user",
            "dev",
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
    let key = ok(&run(&[
        "admin",
        "--data-dir",
        s(&data),
        "create-api-key",
        "dev",
    ]))
    .lines()
    .next()
    .unwrap()
    .trim()
    .to_owned();
    ok(&run(&[
        "admin",
        "--data-dir",
        s(&data),
        "register-certificate",
        "dev",
        s(&pki_dir.join("codesign.pem")),
    ]));
    let package = tmp.path().join("Dev.Flow.1.0.0.nupkg");
    std::fs::write(&package, PackageBuilder::new("Dev.Flow", "1.0.0").build()).unwrap();
    let root = pki_dir.join("root.pem");
    ok(&run(&[
        "sign",
        s(&package),
        "--certificate-path",
        s(&pki_dir.join("codesign.pem")),
        "--certificate-key",
        s(&pki_dir.join("codesign.key.pem")),
        "--trust-roots",
        s(&root),
        "--timestamper",
        &tsa,
    ]));
    ok(&run(&[
        "push",
        s(&package),
        "--source",
        &server.index,
        "--api-key",
        &key,
        "--allow-insecure-loopback",
    ]));
    // Issue 17: the owner's monitor sees the version with its author certificate's
    // fingerprint; --expect-signer passes it for that certificate and flags it for another.
    let fingerprint = openssl(&[
        "x509",
        "-noout",
        "-fingerprint",
        "-sha256",
        "-in",
        s(&pki_dir.join("codesign.pem")),
    ]);
    let fingerprint = fingerprint
        .trim()
        .rsplit('=')
        .next()
        .unwrap()
        .replace(':', "")
        .to_ascii_lowercase();
    let checkpoint = format!(
        "{}/tlog/checkpoint",
        server.index.trim_end_matches("/v3/index.json")
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while String::from_utf8_lossy(&get(&checkpoint)).lines().nth(1) == Some("0") {
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint covers the push"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let state = tmp.path().join("monitor.state");
    let monitor = |expect: &str| {
        let o = run(&[
            "log",
            "monitor",
            "--source",
            &server.index,
            "--id",
            "Dev.*",
            "--state",
            s(&state),
            "--allow-insecure-loopback",
            "--expect-signer",
            expect,
        ]);
        let _ = std::fs::remove_file(&state);
        (o.status.code(), text(&o))
    };
    let (code, out) = monitor(&fingerprint);
    assert_eq!(code, Some(10), "{out}");
    assert!(
        out.contains(&format!(
            "new version dev.flow 1.0.0 (entry 0, author {fingerprint}"
        )),
        "{out}"
    );
    assert!(!out.contains("UNEXPECTED SIGNER"), "{out}");
    let (code, out) = monitor(&"cd".repeat(32));
    assert_eq!(code, Some(11), "{out}");
    assert!(
        out.contains("UNEXPECTED SIGNER: new version dev.flow 1.0.0"),
        "{out}"
    );

    let base = server.index.trim_end_matches("/v3/index.json");
    let served = tmp.path().join("served.nupkg");
    std::fs::write(
        &served,
        get(&format!(
            "{base}/v3-flatcontainer/dev.flow/1.0.0/dev.flow.1.0.0.nupkg"
        )),
    )
    .unwrap();
    let report = ok(&run(&[
        "verify",
        "--all",
        s(&served),
        "--trust-roots",
        s(&root),
    ]));
    assert!(report.contains("Signature type: Author"), "{report}");
    assert!(report.contains("Signature type: Repository"), "{report}");
    assert!(
        report.contains("signet development repository signing"),
        "{report}"
    );
    // Online, as a user would run it: the development PKI's CRLs and OCSP are answered by the
    // server itself (`/dev/pki`), so the happy path prints no revocation warning.
    let online = |args: &[&str]| {
        signet()
            .env_remove("NUGET_CERT_REVOCATION_MODE")
            .args(args)
            .output()
            .unwrap()
    };
    let second = tmp.path().join("Dev.Flow.2.0.0.nupkg");
    std::fs::write(&second, PackageBuilder::new("Dev.Flow", "2.0.0").build()).unwrap();
    let out = ok(&online(&[
        "sign",
        s(&second),
        "--certificate-path",
        s(&pki_dir.join("codesign.pem")),
        "--certificate-key",
        s(&pki_dir.join("codesign.key.pem")),
        "--trust-roots",
        s(&root),
        "--timestamper",
        &tsa,
    ]));
    assert!(!out.contains("warn"), "{out}");
    let out = ok(&online(&[
        "verify",
        "--all",
        s(&served),
        "--trust-roots",
        s(&root),
    ]));
    assert!(!out.contains("NU3018") && !out.contains("NU3028"), "{out}");
    assert!(!out.contains("warn"), "{out}");
}

/// A loopback port that is free now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A "CA" that accepts connections and never answers, counting them, until stopped.
struct SilentCa {
    count: Arc<std::sync::atomic::AtomicUsize>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    port: u16,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SilentCa {
    fn start(port: u16) -> Self {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (c, st) = (Arc::clone(&count), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            for conn in listener.incoming() {
                if st.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                held.push(conn);
            }
        });
        Self {
            count,
            stop,
            port,
            thread: Some(thread),
        }
    }

    fn connections(&self) -> usize {
        self.count.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Stops listening (the port is free again when this returns).
    fn stop(mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A `signet pki serve` child, killed when dropped (also when the test panics).
struct PkiServe(Child);

impl Drop for PkiServe {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn pki_serve(pki: &Path, port: u16) -> PkiServe {
    let mut child = signet()
        .args(["pki", "serve", s(pki)])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return PkiServe(child);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("signet pki serve did not listen on {port}");
}

/// Stapled revocation status (issue "Restores that never wait on a CA"): `signet serve`
/// fetches OCSP responses for every chain of what it serves while the CA answers; then, with
/// every CRL/OCSP URL of the PKI a responder that never answers, `signet install --policy
/// secure` of a graph of 20 signed packages checks revocation from the staples and opens no
/// connection to the CA. Without staples the same packages wait on the dead CA. A revocation
/// reaches the staples, refuses the install (NU3012) and flags the versions on the server.
#[test]
fn stapled_revocation_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let port = free_port();
    let pki = dir.join("pki");
    ok(&run(&[
        "pki",
        "init",
        s(&pki),
        "--port",
        &port.to_string(),
        "--password",
        "pki password",
    ]));
    let ca = pki_serve(&pki, port);
    let tsa = format!("http://127.0.0.1:{port}/tsa");
    let config = dir.join("signet-server.toml");
    std::fs::write(
        &config,
        format!(
            r#"data_dir = "data"
[signing]
certificate_path = "{pki}/repository.pem"
key_path = "{pki}/repository.key.pem"
timestamp_url = "{tsa}"
trusted_roots = ["{pki}/root.pem"]
bundled_roots = false
revocation_mode = "online"
recheck_interval_seconds = 0
staple_refresh_seconds = 86400
announce_repository_signatures_over_http = true
"#,
            pki = pki.display()
        ),
    )
    .unwrap();
    let server = serve(&config);
    let admin = |args: &[&str]| {
        let mut all = vec!["admin", "--config", s(&config)];
        all.extend_from_slice(args);
        run(&all)
    };
    let mut create = signet()
        .args([
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
        .write_all(b"correct horse battery staple\n")
        .unwrap();
    assert!(create.wait().unwrap().success());
    let key = ok(&admin(&["create-api-key", "alice"]))
        .lines()
        .next()
        .unwrap()
        .trim()
        .to_owned();
    ok(&admin(&[
        "register-certificate",
        "alice",
        s(&pki.join("codesign.pem")),
    ]));

    // 20 packages: Stapled.Top depends on the 19 others.
    let root = pki.join("root.pem");
    let folder = dir.join("folder");
    std::fs::create_dir_all(&folder).unwrap();
    let ids: Vec<String> = (1..20).map(|i| format!("Stapled.P{i:02}")).collect();
    let mut all = vec!["Stapled.Top".to_string()];
    all.extend(ids.iter().cloned());
    for id in &all {
        let mut b = PackageBuilder::new(id, "1.0.0").file("lib/net8.0/x.dll", id.as_bytes());
        if id == "Stapled.Top" {
            for d in &ids {
                b = b.dependency(None, d, Some("1.0.0"));
            }
        }
        let p = dir.join(format!("{id}.1.0.0.nupkg"));
        std::fs::write(&p, b.build()).unwrap();
        ok(&run(&[
            "sign",
            s(&p),
            "--certificate-path",
            s(&pki.join("codesign.pem")),
            "--certificate-key",
            s(&pki.join("codesign.key.pem")),
            "--trust-roots",
            s(&root),
            "--timestamper",
            &tsa,
        ]));
        ok(&run(&[
            "push",
            s(&p),
            "--source",
            &server.index,
            "--api-key",
            &key,
            "--allow-insecure-loopback",
        ]));
    }
    // The service index announces the resource; every version's document carries staples
    // (author, timestamp and repository chains), fetched while the CA answers.
    let index = String::from_utf8(get(&server.index)).unwrap();
    assert!(index.contains("signet/RevocationStatus/1.0.0"), "{index}");
    let base = server.index.trim_end_matches("/v3/index.json").to_owned();
    for id in &all {
        let doc: serde_json::Value = serde_json::from_slice(&get(&format!(
            "{base}/api/signet/revocation/{}/1.0.0",
            id.to_lowercase()
        )))
        .unwrap();
        let n = doc["ocspResponses"].as_array().map_or(0, Vec::len);
        assert!(n >= 3, "{id}: {doc}");
        // The served copy, for the run without staples.
        std::fs::write(
            folder.join(format!("{}.1.0.0.nupkg", id.to_lowercase())),
            get(&format!(
                "{base}/v3-flatcontainer/{0}/1.0.0/{0}.1.0.0.nupkg",
                id.to_lowercase()
            )),
        )
        .unwrap();
    }

    // The CA goes silent: every OCSP/CRL URL of the PKI now accepts and never answers.
    drop(ca);
    let silent = SilentCa::start(port);
    let nuget_config = dir.join("nuget.config");
    std::fs::write(&nuget_config, "<configuration>\n</configuration>\n").unwrap();
    ok(&run(&[
        "trust",
        "source",
        "feed",
        "--source-url",
        &server.index,
        "--allow-insecure-loopback",
        "--configfile",
        s(&nuget_config),
    ]));
    let install = |source: &str, packages: &Path, policy: &str| {
        let started = std::time::Instant::now();
        let o = signet()
            .env_remove("NUGET_CERT_REVOCATION_MODE")
            .env("XDG_CACHE_HOME", dir.join("cache"))
            .args([
                "install",
                "Stapled.Top",
                "--source",
                source,
                "--policy",
                policy,
                "--packages",
                s(packages),
                "--configfile",
                s(&nuget_config),
                "--trust-roots",
                s(&root),
                "--trust-roots-only",
                "--allow-insecure-loopback",
            ])
            .output()
            .unwrap();
        (o, started.elapsed())
    };
    let (o, stapled_time) = install(&server.index, &dir.join("p1"), "secure");
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("Installed 20 package(s)"), "{out}");
    // How the test knows revocation was checked: every certificate status came from a staple
    // (author, author TSA, repository, repository TSA chains, per package), and no NU3018.
    let line = out
        .lines()
        .find(|l| l.starts_with("Revocation: "))
        .unwrap_or_else(|| panic!("{out}"));
    let answered: usize = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(answered >= 20 * 3, "{line}");
    assert!(!out.contains("NU3018"), "{out}");
    assert_eq!(silent.connections(), 0, "the install contacted the CA");
    eprintln!(
        "stapled install of 20 packages with a dead CA: {stapled_time:?}, {answered} stapled statuses, 0 CA connections"
    );

    // The audit of that packages folder checks revocation with the staples the install kept.
    let o = signet()
        .env_remove("NUGET_CERT_REVOCATION_MODE")
        .args([
            "verify",
            "--packages-folder",
            s(&dir.join("p1")),
            "--no-cache",
            "--policy",
            "secure",
            "--configfile",
            s(&nuget_config),
            "--trust-roots",
            s(&root),
            "--trust-roots-only",
            // The feed's log is pinned (`trust source`): the audit checks it, over loopback
            // http as the install did.
            "--allow-insecure-loopback",
        ])
        .output()
        .unwrap();
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("20 checked, 20 passed, 0 refused"), "{out}");
    assert!(
        out.contains("20 package(s) checked against their source's transparency log."),
        "{out}"
    );
    assert!(!out.contains("NU3018"), "{out}");
    assert_eq!(silent.connections(), 0, "the audit contacted the CA: {out}");

    // A copy of the feed (static files) that announces stapled status: it keeps the staple
    // documents served now (all "good"), and can withhold them.
    let mut copy = signet_test_support::V3Feed::new();
    let mut old_docs = Vec::new();
    for id in &all {
        let lid = id.to_lowercase();
        copy.add(
            id,
            "1.0.0",
            &std::fs::read(folder.join(format!("{lid}.1.0.0.nupkg"))).unwrap(),
        );
        old_docs.push((
            lid.clone(),
            get(&format!("{base}/api/signet/revocation/{lid}/1.0.0")),
        ));
    }
    std::fs::write(
        copy.root().join("v3/index.json"),
        format!(
            r#"{{"version":"3.0.0","resources":[{{"@id":"{0}/flat/","@type":"PackageBaseAddress/3.0.0"}},{{"@id":"{0}/staples/","@type":"signet/RevocationStatus/1.0.0"}}]}}"#,
            copy.server.base
        ),
    )
    .unwrap();
    let stapled_install = |packages: &Path| {
        signet()
            .env("XDG_CACHE_HOME", dir.join("cache"))
            .args(["install", "Stapled.Top", "--source", &copy.index_url()])
            .args(["--policy", "default", "--revocation-mode", "stapled"])
            .args(["--packages", s(packages), "--configfile", s(&nuget_config)])
            .args([
                "--trust-roots",
                s(&root),
                "--trust-roots-only",
                "--allow-insecure-loopback",
            ])
            .output()
            .unwrap()
    };
    // Withheld (no documents): stapled-only mode says revocation was not checked, even under
    // a policy that does not report unknown status.
    let o = stapled_install(&dir.join("p-withheld"));
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("revocation was not checked"), "{out}");
    assert_eq!(silent.connections(), 0, "{out}");

    // Without staples (a folder of the same packages): the install waits on the dead CA.
    let (o, unstapled_time) = install(s(&folder), &dir.join("p2"), "secure");
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("NU3018"), "{out}");
    assert!(silent.connections() > 0, "{out}");
    eprintln!("the same install without staples: {unstapled_time:?}");

    // The CA revokes the author certificate (key compromise, from an hour ago): the refreshed
    // staples say so, the install is refused (NU3012), and the server flags the versions.
    silent.stop();
    let ca = pki_serve(&pki, port);
    let hour_ago = signet_common::UtcTime::now()
        .add_micros(-3_600_000_000)
        .rfc3339();
    ok(&run(&[
        "pki",
        "revoke",
        s(&pki),
        "codesign",
        "--reason",
        "keyCompromise",
        "--invalidity-date",
        &hour_ago,
    ]));
    let out = ok(&admin(&["refresh-staples"]));
    assert!(!out.contains(" 0 revoked"), "{out}");
    let (o, _) = install(&server.index, &dir.join("p3"), "secure");
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("NU3012"), "{out}");
    assert!(!dir.join("p3/stapled.top").exists(), "{out}");
    // The copy now replays the older "good" staples: the revocation seen by the refused
    // install above is remembered, and the replay is refused too.
    for (lid, doc) in &old_docs {
        let d = copy.root().join("staples").join(lid);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("1.0.0"), doc).unwrap();
    }
    let o = stapled_install(&dir.join("p-replayed"));
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("NU3012"), "{out}");
    let sig: serde_json::Value = serde_json::from_slice(&get(&format!(
        "{base}/api/signet/packages/stapled.top/1.0.0/signature"
    )))
    .unwrap();
    assert!(
        sig["flag"].as_str().is_some_and(|f| f.contains("revoked")),
        "{sig}"
    );
    assert_eq!(
        sig["revocationStatus"].as_str(),
        Some(format!("{base}/api/signet/revocation/stapled.top/1.0.0").as_str()),
        "{sig}"
    );
    drop(ca);
}

/// Runs `signet` in a pseudo-terminal (util-linux `script`), typing each of `lines` after a
/// pause (so that each is typed after its prompt turned echo off, as a person would).
fn signet_on_a_terminal(args: &[&str], lines: &[&str]) -> Output {
    let quoted: Vec<String> = std::iter::once(env!("CARGO_BIN_EXE_signet").to_string())
        .chain(args.iter().map(|a| a.to_string()))
        .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
        .collect();
    let mut cmd = Command::new("script");
    isolate_config(&mut cmd);
    let mut child = cmd
        .args(["-qec", &quoted.join(" "), "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        for line in lines {
            std::thread::sleep(Duration::from_millis(1200));
            stdin.write_all(line.as_bytes()).unwrap();
            stdin.flush().unwrap();
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    child.wait_with_output().unwrap()
}

/// `signet admin create-user` without `--password-stdin` asks for the password on a terminal,
/// hidden and twice (issue "A new user's first hour"): a mismatch asks again, the password is
/// never echoed, and the user then signs in with it on the web. Without a terminal and
/// without `--password-stdin` the refusal names the option.
#[test]
fn admin_create_user_asks_for_the_password_on_a_terminal() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: no util-linux script for a pseudo-terminal");
        return;
    }
    let k = kit();
    let config = k.dir.join("signet-server.toml");
    // Not a terminal, no --password-stdin: a clear refusal, nobody created.
    let o = signet()
        .args(["admin", "--config", s(&config), "create-user", "tty-user"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("standard input is not a terminal, so give --password-stdin"),
        "{}",
        text(&o)
    );
    // On a terminal: a mismatch first, then the same password twice.
    let o = signet_on_a_terminal(
        &["admin", "--config", s(&config), "create-user", "tty-user"],
        &[
            "correct horse battery\n",
            "correct horse batterx\n",
            "correct horse battery\n",
            "correct horse battery\n",
        ],
    );
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("New password for tty-user: "), "{out}");
    assert!(out.contains("Repeat the password: "), "{out}");
    assert!(out.contains("the passwords do not match"), "{out}");
    assert!(out.contains("created user tty-user"), "{out}");
    assert!(
        !out.contains("correct horse"),
        "the password was echoed: {out}"
    );
    // The password typed is the one stored: the web sign-in takes it (303), not another.
    let base = k.server.index.trim_end_matches("/v3/index.json").to_owned();
    let mut web = Web::new(&base);
    let page = web.get("/signin");
    let csrf = csrf_of(&page.1);
    let wrong = web.post(
        "/signin",
        &[
            ("csrf", &csrf),
            ("name", "tty-user"),
            ("password", "correct horse batterx"),
        ],
    );
    assert_eq!(wrong.0, 401, "{}", wrong.1);
    web.sign_in("tty-user", "correct horse battery");
}

// --- The README's walkthroughs, run as written (issue "A new user's first hour").

/// The commands of the first `sh` block after the README heading `heading`: comments
/// dropped, `\` continuations joined.
fn readme_commands(heading: &str) -> Vec<String> {
    let readme = include_str!("../../../README.md");
    let at = readme
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("the README has no section {heading:?}"));
    let rest = &readme[at..];
    let start = rest.find("```sh\n").expect("an sh block") + "```sh\n".len();
    let end = start + rest[start..].find("```").expect("the block ends");
    let mut commands = Vec::new();
    let mut current = String::new();
    for line in rest[start..end].lines() {
        let line = strip_comment(line).trim_end();
        if let Some(head) = line.strip_suffix('\\') {
            current.push_str(head.trim());
            current.push(' ');
            continue;
        }
        current.push_str(line.trim());
        if !current.trim().is_empty() {
            commands.push(current.trim().to_owned());
        }
        current.clear();
    }
    commands
}

/// The README's "what each step prints" for section `heading`: the first ```text block after
/// its first sh block, as (command prefix, expected lines). A `$ ` line starts a step (the
/// start of the command as the sh block writes it); each following line is one line that
/// step prints, with `…` standing for anything (a key, a fingerprint, a path).
fn readme_expected_output(heading: &str) -> Vec<(String, Vec<String>)> {
    let readme = include_str!("../../../README.md");
    let at = readme
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("the README has no section {heading:?}"));
    let rest = &readme[at..];
    let section_end = rest[1..].find("\n## ").map_or(rest.len(), |n| n + 1);
    let rest = &rest[..section_end];
    let after_sh = rest.find("```sh\n").expect("an sh block") + "```sh\n".len();
    let rest = &rest[after_sh..];
    let rest = &rest[rest.find("```").expect("the block ends") + 3..];
    let Some(start) = rest.find("```text\n") else {
        return Vec::new();
    };
    let body = &rest[start + "```text\n".len()..];
    let body = &body[..body.find("```").expect("the text block ends")];
    let mut steps: Vec<(String, Vec<String>)> = Vec::new();
    for line in body.lines() {
        if let Some(command) = line.strip_prefix("$ ") {
            steps.push((command.trim().to_owned(), Vec::new()));
        } else if !line.trim().is_empty() {
            steps
                .last_mut()
                .expect("the text block starts with a $ line")
                .1
                .push(line.trim().to_owned());
        }
    }
    steps
}

/// Whether `line` matches `pattern`, where `…` stands for anything.
fn matches_pattern(line: &str, pattern: &str) -> bool {
    let line = line.trim();
    let parts: Vec<&str> = pattern.split('…').collect();
    let mut at = 0;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            if !line.starts_with(part) {
                return false;
            }
            at = part.len();
            continue;
        }
        if i == parts.len() - 1 && !part.is_empty() {
            return line.len() >= at + part.len() && line.ends_with(part);
        }
        match line[at..].find(part) {
            Some(n) => at += n + part.len(),
            None => return false,
        }
    }
    parts.len() > 1 || line.len() == at
}

/// Asserts that every step the README says prints something printed it (`transcript` with
/// this run's addresses put back as the README writes them).
fn check_expected_output(
    heading: &str,
    transcript: &[(String, String)],
    replacements: &[(String, String)],
) {
    let expected = readme_expected_output(heading);
    for (prefix, lines) in &expected {
        let (_, printed) = transcript
            .iter()
            .find(|(c, _)| c.starts_with(prefix.as_str()))
            .unwrap_or_else(|| panic!("{heading}: no step starts with {prefix:?}"));
        let mut printed = printed.clone();
        for (readme, actual) in replacements {
            // The address alone too (an https service index names the same host and port).
            printed = printed.replace(
                actual.trim_start_matches("http://"),
                readme.trim_start_matches("http://"),
            );
        }
        for want in lines {
            assert!(
                printed.lines().any(|l| matches_pattern(l, want)),
                "{heading}: the README says `{prefix}` prints {want:?}; it printed:\n{printed}"
            );
        }
    }
}

/// `line` without a shell comment (`#` at the start of a word, outside quotes).
fn strip_comment(line: &str) -> &str {
    let (mut single, mut double, mut prev) = (false, false, ' ');
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && prev.is_whitespace() => return &line[..i],
            _ => {}
        }
        prev = c;
    }
    line
}

/// Shell words of `command` with `$NAME` expanded from `vars` (outside single quotes).
fn shell_words(command: &str, vars: &std::collections::HashMap<String, String>) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let (mut single, mut double, mut in_word) = (false, false, false);
    let mut chars = command.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' if !double => {
                single = !single;
                in_word = true;
            }
            '"' if !single => {
                double = !double;
                in_word = true;
            }
            '$' if !single => {
                let mut name = String::new();
                while let Some(&n) = chars.peek() {
                    if n.is_ascii_alphanumeric() || n == '_' {
                        name.push(n);
                        chars.next();
                    } else {
                        break;
                    }
                }
                word.push_str(
                    vars.get(&name)
                        .unwrap_or_else(|| panic!("${name} is not set")),
                );
                in_word = true;
            }
            c if c.is_whitespace() && !single && !double => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// A signet command in the walkthrough's directory, with its own home (the user-wide
/// nuget.config a walkthrough may write) and revocation checked online, as a user runs it.
fn walkthrough_signet(dir: &Path, home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_signet"));
    c.current_dir(dir)
        .env("HOME", home)
        .env("NUGET_COMMON_APPLICATION_DATA", home)
        .env_remove("SIGNET_TRUST_ROOTS")
        .env_remove("SIGNET_REVOCATION_CACHE")
        .env_remove("NUGET_PACKAGES")
        .env_remove("XDG_CACHE_HOME")
        .env_remove("NUGET_CERT_REVOCATION_MODE")
        .env_remove("SIGNET_API_KEY");
    c
}

/// Every warning a command printed (`warn :` lines as NuGet prints them, log `WARN` lines).
fn warnings(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| {
            let lower = l.to_ascii_lowercase();
            lower.contains("warn :") || lower.contains("warning") || l.contains(" WARN ")
        })
        .map(str::to_owned)
        .collect()
}

/// Runs the README section `heading` command by command in a fresh directory and asserts
/// that each succeeds and that nothing prints a warning. Where a command cannot run verbatim
/// the mapping is one to one and named here:
/// - `signet serve … &` listens on a free port (`--listen 127.0.0.1:0` added), and the
///   README's `http://127.0.0.1:5000` is that server's address in every later command;
/// - `signet pki init DIR` gets `--port P` for a free port (the README's 8390 becomes P), and
///   `$PW` is the password it prints; `signet pki serve DIR &` listens on P;
/// - `curl -s -o NAME URL` (or `-sO`) is an HTTP GET saved as NAME (the URL's last segment),
///   `curl … --retry N … URL` polls URL until it answers 200, and `2>FILE` after a server is
///   dropped (the test keeps the server's log itself);
/// - `export NAME='value'` sets NAME for every later command;
/// - `VAR=$(command)` keeps the first line the command prints, `echo 'x' | command` types x,
///   `echo 'x' > file` writes the file.
///
/// What the README's "what each step prints" block lists must appear in each step's output
/// ([`check_expected_output`]). `after` gets the transcript (each command and what it
/// printed) while the background servers still run.
fn run_readme_walkthrough(
    heading: &str,
    dir: &Path,
    home: &Path,
    vars: &mut std::collections::HashMap<String, String>,
    after: impl FnOnce(&[(String, String)]),
) {
    let mut transcript = Vec::new();
    let mut exported: Vec<(String, String)> = Vec::new();
    let mut background: Vec<Child> = Vec::new();
    let mut replacements: Vec<(String, String)> = Vec::new();
    let logs = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    for command in readme_commands(heading) {
        let mut line = command.clone();
        for (from, to) in &replacements {
            line = line.replace(from, to);
        }
        let (capture, line) = match line.split_once("=$(") {
            Some((var, rest)) if var.chars().all(|c| c.is_ascii_uppercase() || c == '_') => {
                (Some(var.to_owned()), rest.trim_end_matches(')').to_owned())
            }
            _ => (None, line),
        };
        let (stdin, line) = match line.split_once(" | ") {
            Some((echo, rest)) => {
                let typed = shell_words(echo.trim_start_matches("echo "), vars).join(" ");
                (Some(format!("{typed}\n")), rest.to_owned())
            }
            None => (None, line),
        };
        let (in_background, line) = match line.strip_suffix('&') {
            Some(l) => (true, l.trim().to_owned()),
            None => (false, line),
        };
        let mut words = shell_words(&line, vars);
        let program = words.remove(0);
        if program == "echo" && words.len() == 3 && words.get(1).map(String::as_str) == Some(">") {
            // `echo 'text' > file`
            std::fs::write(dir.join(&words[2]), format!("{}\n", words[0])).unwrap();
            transcript.push((command, String::new()));
            continue;
        }
        if program == "export" {
            // `export NAME='value'`: in the environment of every later command.
            let (name, value) = words[0].split_once('=').expect("export NAME=value");
            vars.insert(name.to_owned(), value.to_owned());
            exported.push((name.to_owned(), value.to_owned()));
            transcript.push((command, String::new()));
            continue;
        }
        if program == "curl" {
            let url = words
                .iter()
                .find(|w| w.starts_with("http"))
                .expect("curl URL")
                .clone();
            if words.iter().any(|w| w == "--retry") {
                // `curl -sf --retry N --retry-connrefused … URL`: wait until URL answers.
                let deadline = std::time::Instant::now() + Duration::from_secs(30);
                while try_get(&url).is_none() {
                    assert!(std::time::Instant::now() < deadline, "{command}: no answer");
                    std::thread::sleep(Duration::from_millis(100));
                }
                transcript.push((command, String::new()));
                continue;
            }
            // `curl -s -o NAME URL`, or `curl -sO URL` (the URL's last segment).
            let name = match words.iter().position(|w| w == "-o") {
                Some(i) => words[i + 1].clone(),
                None => url.rsplit('/').next().unwrap().to_owned(),
            };
            std::fs::write(dir.join(&name), get(&url)).unwrap();
            transcript.push((command, format!("saved {name}")));
            continue;
        }
        // `2>FILE`: the test keeps a server's log itself.
        words.retain(|w| !w.starts_with("2>"));
        assert_eq!(program, "signet", "{command}: only signet and curl are run");
        let is = |a: &str, b: &str| {
            words.first().map(String::as_str) == Some(a)
                && words.get(1).map(String::as_str) == Some(b)
        };
        let (pki_init, pki_serve) = (is("pki", "init"), is("pki", "serve"));
        if pki_init {
            let port = free_port();
            words.extend(["--port".to_owned(), port.to_string()]);
            replacements.push(("127.0.0.1:8390".into(), format!("127.0.0.1:{port}")));
        }
        if in_background {
            if pki_serve {
                let port = replacements
                    .iter()
                    .find(|(from, _)| from == "127.0.0.1:8390")
                    .map(|(_, to)| to.clone())
                    .expect("pki init ran first");
                words.extend(["--listen".to_owned(), port]);
            } else {
                words.extend(["--listen".to_owned(), "127.0.0.1:0".to_owned()]);
            }
            let mut child = walkthrough_signet(dir, home)
                .envs(exported.iter().cloned())
                .args(&words)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
            let mut printed = String::new();
            if words.first().map(String::as_str) == Some("serve") {
                for l in lines.by_ref() {
                    let l = l.unwrap();
                    printed.push_str(&l);
                    printed.push('\n');
                    if let Some(index) = l.strip_prefix("service index: ") {
                        let base = index.trim_end_matches("/v3/index.json").to_owned();
                        replacements.push(("http://127.0.0.1:5000".into(), base));
                    }
                    if l.starts_with("development timestamp authority: ")
                        || l.starts_with("repository signing:") && !l.contains("DEVELOPMENT")
                    {
                        break;
                    }
                }
            } else {
                // `pki serve`: ready once it answers.
                let port = words.last().unwrap().clone();
                let deadline = std::time::Instant::now() + Duration::from_secs(20);
                while std::net::TcpStream::connect(&port).is_err() {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "{command}: not listening"
                    );
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            let sink = std::sync::Arc::clone(&logs);
            std::thread::spawn(move || {
                for l in lines.map_while(Result::ok) {
                    sink.lock().unwrap().push_str(&format!("{l}\n"));
                }
            });
            let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
            let sink = std::sync::Arc::clone(&logs);
            std::thread::spawn(move || {
                for l in stderr.by_ref().map_while(Result::ok) {
                    sink.lock().unwrap().push_str(&format!("{l}\n"));
                }
            });
            assert!(warnings(&printed).is_empty(), "{command}:\n{printed}");
            transcript.push((command, printed));
            background.push(child);
            continue;
        }
        let mut cmd = walkthrough_signet(dir, home);
        cmd.envs(exported.iter().cloned())
            .args(&words)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        if let Some(typed) = &stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(typed.as_bytes())
                .unwrap();
        }
        let o = child.wait_with_output().unwrap();
        let printed = text(&o);
        assert!(o.status.success(), "{command}\n→ {words:?}\n{printed}");
        assert!(
            warnings(&printed).is_empty(),
            "{command} printed a warning:\n{printed}"
        );
        if let Some(var) = capture {
            let value = String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned();
            vars.insert(var, value);
        }
        if pki_init
            && let Some(pw) = printed
                .lines()
                .find_map(|l| l.split_once("password (shown once, not stored): "))
                .map(|(_, pw)| pw.trim().to_owned())
        {
            vars.insert("PW".into(), pw);
        }
        transcript.push((command, printed));
    }
    let logged = logs.lock().unwrap().clone();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        check_expected_output(heading, &transcript, &replacements);
        after(&transcript)
    }));
    for mut child in background {
        let _ = child.kill();
        let _ = child.wait();
    }
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    assert!(
        warnings(&logged).is_empty(),
        "a server of {heading:?} logged a warning:\n{logged}"
    );
}

/// The README's walkthroughs end to end, in order, on a fresh data directory, with no
/// warning on the happy path: "Signed packages on your feed" (the zero-config feed: serve with
/// no configuration, a user and key, the development certificate registered, sign with the
/// embedded timestamp authority, push, download, verify online, trust the author, install
/// with the secure policy) and the "Development PKI quickstart" (init, serve, sign, verify
/// offline and online, revoke — after which an online verify refuses with NU3012).
#[test]
fn readme_walkthroughs_run_clean() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let dir = tmp.path().join("work");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&dir).unwrap();
    // The packages a reader brings (the README signs My.Lib.1.0.0.nupkg, then pkg.nupkg).
    std::fs::write(
        dir.join("My.Lib.1.0.0.nupkg"),
        PackageBuilder::new("My.Lib", "1.0.0")
            .file("lib/net8.0/My.Lib.dll", b"not really a dll")
            .build(),
    )
    .unwrap();
    // Each walkthrough in a fresh folder (the first leaves a nuget.config with a trusted
    // signer, which a reader starting the quickstart would not have).
    let quickstart = tmp.path().join("quickstart");
    std::fs::create_dir_all(&quickstart).unwrap();
    std::fs::write(
        quickstart.join("pkg.nupkg"),
        PackageBuilder::new("Pkg", "1.0.0").build(),
    )
    .unwrap();
    let mut vars = std::collections::HashMap::new();

    run_readme_walkthrough(
        "## Signed packages on your feed",
        &dir,
        &home,
        &mut vars,
        |feed| {
            let verify = &feed
                .iter()
                .find(|(c, _)| c.starts_with("signet verify"))
                .expect("the walkthrough verifies")
                .1;
            assert!(verify.contains("Signature type: Author"), "{verify}");
            assert!(verify.contains("Signature type: Repository"), "{verify}");
            assert!(
                dir.join("packages/my.lib/1.0.0/lib/net8.0/My.Lib.dll")
                    .is_file(),
                "the walkthrough's install extracted the package: {feed:?}"
            );
        },
    );

    run_readme_walkthrough(
        "## Development PKI quickstart",
        &quickstart,
        &home,
        &mut vars,
        |pki| {
            assert!(pki.last().unwrap().0.starts_with("signet pki revoke"));
            // What the README says comes next: an online verify now fails with NU3012.
            let o = walkthrough_signet(&quickstart, &home)
                .args([
                    "verify",
                    "pkg.nupkg",
                    "--trust-roots",
                    "dev-pki/root.pem",
                    "--revocation-mode",
                    "online",
                ])
                .output()
                .unwrap();
            assert!(!o.status.success(), "{}", text(&o));
            assert!(text(&o).contains("NU3012"), "{}", text(&o));
        },
    );
}
