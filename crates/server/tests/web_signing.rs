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
        self.package_from(&PackageBuilder::new(id, version), id, version, signed)
    }

    /// [`TestServer::package`] from a builder (a custom nuspec).
    fn package_from(
        &self,
        builder: &PackageBuilder,
        id: &str,
        version: &str,
        signed: bool,
    ) -> PathBuf {
        let path = self.dir.path().join(format!("{id}.{version}.nupkg"));
        std::fs::write(&path, builder.build()).unwrap();
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

/// The current TOTP code for a base32 `secret` (as an authenticator shows it).
fn totp_now(secret: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    totp_rs::Builder::new()
        .with_secret(totp_rs::Secret::try_from_base32(secret).unwrap())
        .build()
        .unwrap()
        .generate(now)
        .to_string()
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
    // Upper case, as `signet verify` prints it.
    assert_eq!(b.text_of("#author-fingerprint"), fingerprint.to_uppercase());
    assert!(
        b.text_of("#author-subject")
            .contains("signet development code signing"),
        "{}",
        b.text_of("#author-subject")
    );
    assert!(b.text_of("#author-timestamp").contains("UTC"));
    assert_eq!(b.text_of("#repository-fingerprint"), repo.to_uppercase());
    assert!(b.text_of("#versions").contains("yes"));
    b.goto(&s.url("/packages/Signed.Web/1.0.0"));
    assert!(b.has("#author-unsigned"));
    assert_eq!(b.text_of("#repository-fingerprint"), repo.to_uppercase());
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
    assert_eq!(b.text_of("#repository-fingerprint"), repo.to_uppercase());
    assert!(
        b.text_of("#backfill-status").contains("2 of 2"),
        "{}",
        b.text_of("#backfill-status")
    );
}

/// Decodes the one QR code in a PNG (as Chromium drew it) with `rqrr`.
fn decode_qr(png_bytes: &[u8]) -> String {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let (width, height, stride) = (info.width as usize, info.height as usize, info.line_size);
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| {
        let at = y * stride + x * channels;
        let px = &buf[at..at + channels.min(3)];
        (px.iter().map(|&v| u32::from(v)).sum::<u32>() / px.len() as u32) as u8
    });
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the picture");
    grids[0].decode().unwrap().1
}

/// Asserts that the page fits its viewport: nothing wider than the window, so no sideways
/// scrolling and nothing cut off (`scrollWidth` against the viewport's width).
fn assert_fits(b: &Browser, page: &str, width: u32) {
    let (scroll, client) = b.widths();
    assert!(
        client <= u64::from(width) && client + 20 >= u64::from(width),
        "{page} at {width} px: the viewport is {client} px"
    );
    let wide = if scroll > client {
        b.eval(
            "[...document.querySelectorAll('body *')].filter(e => \
             e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)\
             .map(e => e.tagName + '#' + e.id + '.' + e.className).slice(-5).join(', ')",
        )
        .unwrap_or_default()
    } else {
        String::new()
    };
    assert!(
        scroll <= client,
        "{page} at {width} px overflows sideways: {scroll} px wide in a {client} px viewport \
         ({wide})"
    );
}

/// With `SIGNET_WEB_SCREENSHOTS=DIR`, saves a PNG of the page as `DIR/NAME.png` (to look at).
fn shot(b: &Browser, name: &str) {
    if let Some(dir) = std::env::var_os("SIGNET_WEB_SCREENSHOTS") {
        b.screenshot(&Path::new(&dir).join(format!("{name}.png")));
    }
}

/// The pages a new user meets first fit a desktop (1280 px), a small laptop (1024 px) and a
/// phone (390 px) without sideways scrolling: the package page of an author- and
/// repository-signed version, the account page, the certificates page and two-factor
/// enrolment, whose QR code Chromium draws and `rqrr` decodes to the otpauth link the page
/// offers (issuer: this server's host). Site administrators get a link to the admin page.
#[test]
fn pages_fit_1280_1024_and_390_px_and_the_totp_qr_code_decodes() {
    let Some(b) = Browser::launch() else {
        println!("skipped: no chromium");
        return;
    };
    let s = TestServer::start();
    let r = Arc::clone(&s.registry);
    s.rt.block_on(async {
        r.create_user("alice", None, "correct horse").await.unwrap();
        r.create_user("root", None, "admin pw!").await.unwrap();
        r.grant_site_admin("root").await.unwrap();
    });
    let pem = std::fs::read(s.pki().join("codesign.pem")).unwrap();
    s.rt.block_on(r.register_certificate("alice", "codesign.pem", &pem))
        .unwrap();
    // A long id, a license expression and dependencies: the widest package page.
    let id = "Contoso.Enterprise.Widgets.Extensions.DependencyInjection";
    let builder = PackageBuilder::new(id, "12.3.4-preview.5")
        .description("Widgets for the layout test, with a description long enough to wrap.")
        .dependency(
            Some("net8.0"),
            "Microsoft.Extensions.DependencyInjection.Abstractions",
            Some("[8.0.0, )"),
        );
    let nuspec = builder.nuspec_xml().replace(
        "</metadata>",
        "<license type=\"expression\">Apache-2.0 OR MIT</license></metadata>",
    );
    let builder = builder.nuspec(nuspec.as_bytes());
    s.push(
        "alice",
        &s.package_from(&builder, id, "12.3.4-preview.5", true),
    );

    sign_in(&b, &s, "alice", "correct horse");
    assert!(!b.has("#nav-admin"), "alice is no site administrator");
    // The package page: download link, license, --source and a signet install command.
    b.goto(&s.url(&format!("/packages/{id}")));
    let index = s.url("/v3/index.json");
    assert_eq!(
        b.text_of("#install-command"),
        format!("dotnet add package {id} --version 12.3.4-preview.5 --source {index}")
    );
    assert_eq!(
        b.text_of("#signet-install-command"),
        format!(
            "signet install {id} --version 12.3.4-preview.5 --source {index} --allow-insecure-loopback"
        )
    );
    assert_eq!(b.text_of("#license"), "Apache-2.0 OR MIT");
    let download = b.eval("document.querySelector('#download').href").unwrap();
    let lower = id.to_lowercase();
    assert_eq!(
        download.trim_matches('"'),
        s.url(&format!(
            "/v3-flatcontainer/{lower}/12.3.4-preview.5/{lower}.12.3.4-preview.5.nupkg"
        ))
    );
    // The account page lists the package.
    b.goto(&s.url("/account"));
    assert!(b.text_of("#my-packages").contains(id));
    // Enrolment: post, then redirect to a page that shows the secret; a reload shows the
    // same secret (no new enrolment).
    b.goto(&s.url("/account/2fa"));
    b.click("#setup-start");
    assert!(b.url().ends_with("/account/2fa"), "{}", b.url());
    let secret = b.text_of("#totp-secret");
    b.goto(&s.url("/account/2fa"));
    assert_eq!(
        b.text_of("#totp-secret"),
        secret,
        "a reload starts no new enrolment"
    );
    let uri = b
        .eval("document.querySelector('#totp-uri').getAttribute('href')")
        .unwrap()
        .trim_matches('"')
        .to_owned();
    assert!(
        uri.starts_with("otpauth://totp/127.0.0.1:alice?")
            && uri.contains(&format!("secret={secret}"))
            && uri.contains("issuer=127.0.0.1"),
        "{uri}"
    );

    let pages = [
        ("package", format!("/packages/{id}")),
        ("account", "/account".to_owned()),
        ("twofactor-setup", "/account/2fa".to_owned()),
    ];
    let sizes = [(1280, 900, false), (1024, 768, false), (390, 844, true)];
    for (width, height, mobile) in sizes {
        b.set_viewport(width, height, mobile);
        for (name, path) in &pages {
            b.goto(&s.url(path));
            assert_fits(&b, name, width);
            shot(&b, &format!("{name}-{width}"));
        }
        // On the enrolment page (the last one): the QR code as drawn decodes to the link.
        assert_eq!(decode_qr(&b.element_png("#totp-qr")), uri, "at {width} px");
    }

    // With a two-factor session the certificates page has its widest form: Delete buttons
    // and the upload form. Each button lies inside the viewport.
    b.set_viewport(1280, 900, false);
    let code = totp_now(&secret);
    b.fill("#confirm-code", &code);
    b.click("#confirm");
    assert!(b.url().ends_with("/account/2fa"), "{}", b.url());
    assert!(b.has("#recovery-codes"));
    let other = signet_test_support::pki().code_signing_no_ski.cert_pem();
    s.rt.block_on(r.register_certificate("alice", "other.pem", other.as_bytes()))
        .unwrap();
    for (width, height, mobile) in sizes {
        b.set_viewport(width, height, mobile);
        b.goto(&s.url("/account/certificates"));
        assert_fits(&b, "certificates", width);
        shot(&b, &format!("certificates-{width}"));
        let buttons = b
            .tab()
            .find_elements("#cert-table button.danger")
            .unwrap()
            .len();
        assert_eq!(buttons, 2, "at {width} px");
        let right = b
            .eval(
                "Math.max(...[...document.querySelectorAll('#cert-table button.danger, \
                 #cert-table .cert-status')].map(e => e.getBoundingClientRect().right))",
            )
            .unwrap();
        let right: f64 = right.parse().unwrap();
        assert!(
            right <= f64::from(width),
            "a Delete button or status ends at {right} px, past {width} px"
        );
    }

    // A site administrator's header links to the admin page.
    b.set_viewport(1280, 900, false);
    b.goto(&s.url("/account"));
    b.click("#signout");
    sign_in(&b, &s, "root", "admin pw!");
    b.click("#nav-admin");
    assert!(b.url().ends_with("/admin/signing"), "{}", b.url());
}

/// Issue 19, audit log: a scripted session — a failed and a good sign-in, two-factor sign-in
/// turned on, an API key created on the web and used to push over HTTP, a certificate
/// uploaded, an ownership request sent and accepted, a version unlisted on the package page,
/// the key revoked — leaves exactly those entries, with the right actors and the client's
/// address; a site administrator sees them on `/admin/audit` in Chromium (at 1280, 1024 and
/// 390 px), nobody else does, and no secret is on the page.
#[test]
fn the_audit_log_page_shows_a_scripted_session_in_chromium() {
    let Some(b) = Browser::launch() else {
        println!("skipped: no chromium");
        return;
    };
    let s = TestServer::start();
    let r = Arc::clone(&s.registry);
    s.rt.block_on(async {
        r.create_user("alice", None, "correct horse").await.unwrap();
        r.create_user("bob", None, "bob's secret").await.unwrap();
        r.create_user("root", None, "admin pw!").await.unwrap();
        r.grant_site_admin("root").await.unwrap();
    });

    sign_in(&b, &s, "alice", "wrong password");
    assert!(b.text().contains("incorrect"), "{}", b.text());
    // Typed in another case: recorded under the account's own name.
    sign_in(&b, &s, "ALICE", "correct horse");
    // Two-factor sign-in on.
    b.goto(&s.url("/account/2fa"));
    b.click("#setup-start");
    let secret = b.text_of("#totp-secret");
    let code = totp_now(&secret);
    b.fill("#confirm-code", &code);
    b.click("#confirm");
    assert!(b.has("#recovery-codes"));
    // An API key made on the web, used to push over HTTP.
    b.goto(&s.url("/account"));
    b.fill("#key-description", "ci");
    b.click("#create-key");
    let key = b.text_of("#new-key");
    let package = s.package("Audit.Web", "1.0.0", false);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let pushed = agent
        .put(&s.url("/api/v2/package"))
        .header("X-NuGet-ApiKey", &key)
        .content_type("application/octet-stream")
        .send(&std::fs::read(&package).unwrap()[..])
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(pushed, 201);
    // A certificate uploaded on the certificates page.
    b.goto(&s.url("/account/certificates"));
    let pem = s.pki().join("codesign.pem");
    b.tab()
        .wait_for_element("#cert-file")
        .unwrap()
        .set_input_files(&[pem.to_str().unwrap()])
        .unwrap();
    b.click("#cert-upload button[type=submit]");
    assert!(
        b.text().contains("signet development code signing"),
        "{}",
        b.text()
    );
    // An ownership request, accepted by bob.
    b.goto(&s.url("/packages/Audit.Web"));
    b.fill("#owner-account", "bob");
    b.click("#add-owner button[type=submit]");
    assert!(b.text_of("#pending-owners").contains("bob"));
    s.rt.block_on(r.answer_owner_request("bob", "Audit.Web", "bob", true))
        .unwrap();
    // Unlisted on the package page.
    b.goto(&s.url("/packages/Audit.Web"));
    b.click("[id='unlist-1.0.0']");
    // The key revoked.
    b.goto(&s.url("/account"));
    b.click("#key-table button.danger");
    assert!(
        b.text_of("#key-table").contains("revoked"),
        "{}",
        b.text_of("#key-table")
    );
    // Not a site administrator: no audit page.
    b.goto(&s.url("/admin/audit"));
    assert!(b.text().contains("Not allowed"), "{}", b.text());

    // Exactly the session's entries, oldest first (the refusal above made none).
    let entries =
        s.rt.block_on(r.audit_log(0, None, 100))
            .unwrap()
            .into_iter()
            .rev()
            .collect::<Vec<_>>();
    let got: Vec<(String, String, String, String)> = entries
        .iter()
        .map(|e| {
            (
                e.actor.clone(),
                e.action.clone(),
                e.target.clone(),
                e.outcome.clone(),
            )
        })
        .collect();
    let key_id = entries
        .iter()
        .find(|e| e.action == "api-key-revoke")
        .map(|e| e.target.clone())
        .unwrap_or_default();
    let want: Vec<(&str, &str, &str, &str)> = vec![
        ("(anonymous)", "sign-in", "alice", "refused"),
        ("alice", "sign-in", "alice", "ok"),
        ("alice", "2fa-on", "alice", "ok"),
        ("alice", "api-key-create", "alice", "ok"),
        ("alice", "push", "Audit.Web 1.0.0", "ok"),
        ("alice", "certificate-register", "alice", "ok"),
        ("alice", "owner-request", "Audit.Web owner bob", "ok"),
        ("bob", "owner-accept", "Audit.Web owner bob", "ok"),
        ("alice", "unlist", "Audit.Web 1.0.0", "ok"),
        ("alice", "api-key-revoke", &key_id, "ok"),
    ];
    let want: Vec<(String, String, String, String)> = want
        .into_iter()
        .map(|(a, b, c, d)| (a.into(), b.into(), c.into(), d.into()))
        .collect();
    assert_eq!(got, want);
    assert!(key_id.starts_with("key "), "{key_id}");
    // Every entry made over HTTP names the client (the owner answer was made in-process).
    for e in &entries {
        let expected = if e.action == "owner-accept" {
            ""
        } else {
            "127.0.0.1"
        };
        assert_eq!(e.client, expected, "{e:?}");
    }
    let detail = |action: &str| {
        entries
            .iter()
            .find(|e| e.action == action)
            .map(|e| e.detail.clone())
            .unwrap()
    };
    assert_eq!(detail("api-key-create"), "ci");
    assert_eq!(detail("api-key-revoke"), "ci");
    let fingerprint = s.rt.block_on(r.certificates("alice")).unwrap()[0]
        .fingerprint
        .clone();
    assert_eq!(
        detail("certificate-register").to_lowercase(),
        fingerprint.to_lowercase()
    );

    // The site administrator's page shows them, newest first, at every width.
    b.goto(&s.url("/account"));
    b.click("#signout");
    sign_in(&b, &s, "root", "admin pw!");
    b.click("#nav-admin");
    b.click("#admin-audit-link");
    assert!(b.url().ends_with("/admin/audit"), "{}", b.url());
    let rows: Vec<String> = b
        .eval(
            "JSON.stringify([...document.querySelectorAll('#audit-log tbody tr')].map(r => \
             [...r.querySelectorAll('td')].slice(1, 5).map(c => c.textContent.trim()).join('|')))",
        )
        .map(|j| {
            let text: String = serde_json::from_str(&j).unwrap_or(j);
            serde_json::from_str(&text).unwrap()
        })
        .unwrap();
    // Root's own sign-in came after the session: the newest row.
    assert_eq!(
        rows.first().map(String::as_str),
        Some("root|sign-in|root|ok")
    );
    let shown: Vec<String> = rows.iter().skip(1).rev().cloned().collect();
    let expected: Vec<String> = want
        .iter()
        .map(|(a, b, c, d)| format!("{a}|{b}|{c}|{d}"))
        .collect();
    assert_eq!(shown, expected);
    let page = b.text();
    for secret in [
        key.as_str(),
        "correct horse",
        "wrong password",
        code.as_str(),
    ] {
        assert!(!page.contains(secret), "{secret:?} is on the audit page");
    }
    // The actor filter (any case).
    b.fill("#audit-actor", "BOB");
    b.click(".filters button[type=submit]");
    assert_eq!(
        b.eval("document.querySelectorAll('#audit-log tbody tr').length")
            .as_deref(),
        Some("1")
    );
    b.goto(&s.url("/admin/audit"));
    for (width, height, mobile) in [(1280, 900, false), (1024, 768, false), (390, 844, true)] {
        b.set_viewport(width, height, mobile);
        b.goto(&s.url("/admin/audit"));
        assert_fits(&b, "audit", width);
        shot(&b, &format!("audit-{width}"));
    }
}
