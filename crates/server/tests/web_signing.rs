//! The signing pages in headless Chromium against a real server on loopback (development
//! signing setup: a generated PKI, repository signing, the embedded timestamp authority at
//! `/dev/tsa`): the package page's signature section for an author-signed and an unsigned
//! version, the account's certificate page (status, signed-version count, the 2FA gate), and
//! the operator's signing status page.
//!
//! Browser tests need Chromium (`SIGNET_CHROMIUM`, else `/usr/bin/chromium`); without one they
//! print `skipped: no chromium` and pass.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use signet_common::{HashAlgorithm, UtcTime};
use signet_server::{AppState, Config, Registry, Scopes};
use signet_test_support::{Browser, PackageBuilder};

struct TestServer {
    base: String,
    registry: Arc<Registry>,
    rt: tokio::runtime::Runtime,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    dir: tempfile::TempDir,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl TestServer {
    fn start() -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let mut cfg = Config::from_toml("[signing]\nrevocation_mode = \"offline\"\n").unwrap();
        cfg.data_dir = Some(dir.path().join("data"));
        let (registry, listener, base) = rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let base = format!("http://{}", listener.local_addr().unwrap());
            let setup = cfg
                .signing_setup(&base, Arc::new(signet_server::SystemClock))
                .unwrap();
            let registry = cfg
                .open_registry()
                .await
                .unwrap()
                .with_signing(setup)
                .await
                .unwrap();
            (Arc::new(registry), listener, base)
        });
        let state = AppState::new(registry.clone(), &base);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        rt.spawn(async move {
            signet_server::serve(
                listener,
                state,
                async move {
                    let _ = stopped.await;
                },
                Duration::from_secs(1),
            )
            .await
            .unwrap();
        });
        TestServer {
            base,
            registry,
            rt,
            stop: Some(stop),
            dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn pki(&self) -> PathBuf {
        self.dir.path().join("data/dev-pki")
    }

    /// A package, author-signed with the development code-signing key and timestamped by the
    /// server's `/dev/tsa` when `signed`.
    fn package(&self, id: &str, version: &str, signed: bool) -> PathBuf {
        let path = self.dir.path().join(format!("{id}.{version}.nupkg"));
        std::fs::write(&path, PackageBuilder::new(id, version).build()).unwrap();
        if signed {
            let pki = self.pki();
            let signer = signet_keys::load_signer(
                &pki.join("codesign.pem"),
                None,
                Some(&pki.join("codesign.key.pem")),
            )
            .unwrap();
            let mut trust = signet_trust::TrustStore::empty();
            trust.add_roots(
                signet_signature::Certificate::from_pem_bundle(
                    &std::fs::read(pki.join("root.pem")).unwrap(),
                )
                .unwrap(),
                "development PKI",
            );
            let ts = signet_sign::TsaTimestamper::new(
                &self.url("/dev/tsa"),
                signet_tsa::HttpTransport::new(Duration::from_secs(10)).unwrap(),
                HashAlgorithm::Sha256,
                Arc::new(trust),
            );
            signet_sign::sign_file(
                &path,
                &path,
                &signet_sign::Operation::Author {
                    hash_algorithm: HashAlgorithm::Sha256,
                    overwrite: false,
                },
                &signet_sign::SignOptions {
                    signer: &signer,
                    timestamper: Some(&ts),
                    now: UtcTime::now(),
                    limits: signet_nupkg::Limits::default(),
                },
            )
            .unwrap();
        }
        path
    }

    fn push(&self, user: &str, file: &Path) {
        let registry = Arc::clone(&self.registry);
        let file = file.to_path_buf();
        let user = user.to_owned();
        self.rt.block_on(async move {
            let key = registry
                .create_api_key(&user, None, "", Scopes::all(), &[], None)
                .await
                .unwrap();
            let caller = registry.authenticate(Some(&key)).await.unwrap();
            let upload = registry.new_upload().unwrap();
            std::fs::copy(&file, upload.path()).unwrap();
            registry.push(&caller, upload.path()).await.unwrap();
        });
    }
}

fn sign_in(b: &Browser, s: &TestServer, name: &str, password: &str) {
    b.goto(&s.url("/signin"));
    b.fill("#name", name);
    b.fill("#password", password);
    b.click("#signin-submit");
}

#[test]
fn package_page_signatures_and_certificate_page_in_chromium() {
    let Some(b) = Browser::launch() else {
        println!("skipped: no chromium");
        return;
    };
    let s = TestServer::start();
    let r = Arc::clone(&s.registry);
    s.rt.block_on(async {
        r.create_user("alice", None, "correct horse").await.unwrap();
        r.create_user("root", None, "admin pw").await.unwrap();
        r.grant_site_admin("root").await.unwrap();
    });
    // An unsigned first version, then the certificate, then a signed one.
    s.push("alice", &s.package("Signed.Web", "1.0.0", false));
    let pem = std::fs::read(s.pki().join("codesign.pem")).unwrap();
    let fingerprint =
        s.rt.block_on(r.register_certificate("alice", "codesign.pem", &pem))
            .unwrap()
            .fingerprint;
    s.push("alice", &s.package("Signed.Web", "2.0.0", true));
    let repo = r
        .signing()
        .repository
        .as_ref()
        .unwrap()
        .certificate()
        .fingerprint
        .clone();

    // The package page, anonymous: the signed version's author signer and timestamp, the
    // repository signature; the unsigned one says so.
    b.goto(&s.url("/packages/Signed.Web/2.0.0"));
    assert_eq!(b.text_of("#author-fingerprint"), fingerprint);
    assert!(
        b.text_of("#author-subject")
            .contains("signet development code signing"),
        "{}",
        b.text_of("#author-subject")
    );
    assert!(b.text_of("#author-timestamp").contains("UTC"));
    assert_eq!(b.text_of("#repository-fingerprint"), repo);
    assert!(b.text_of("#versions").contains("yes"));
    b.goto(&s.url("/packages/Signed.Web/1.0.0"));
    assert!(b.has("#author-unsigned"));
    assert_eq!(b.text_of("#repository-fingerprint"), repo);
    assert!(b.text_of("#required-signer").contains("Any"));

    // The account's certificate page: listed as Active with one signed version; without a
    // two-factor sign-in there is no upload form and the page says how to get one.
    sign_in(&b, &s, "alice", "correct horse");
    b.goto(&s.url("/account"));
    b.click("#certificates-link");
    assert!(b.url().ends_with("/account/certificates"), "{}", b.url());
    let row = b.text_of(&format!("#cert-{fingerprint}"));
    assert!(row.contains("Active"), "{row}");
    assert!(row.contains("signet development code signing"), "{row}");
    assert!(row.ends_with('1') || row.contains("\t1"), "{row}");
    assert!(b.has("#needs-2fa"));
    assert!(!b.has("#cert-upload"));

    // The signing status page is for site administrators only.
    b.goto(&s.url("/admin/signing"));
    assert!(b.text().contains("Not allowed"), "{}", b.text());
    b.goto(&s.url("/account"));
    b.click("#signout");
    sign_in(&b, &s, "root", "admin pw");
    b.goto(&s.url("/admin/signing"));
    assert_eq!(b.text_of("#repository-fingerprint"), repo);
    assert!(
        b.text_of("#backfill-status").contains("2 of 2"),
        "{}",
        b.text_of("#backfill-status")
    );
}
