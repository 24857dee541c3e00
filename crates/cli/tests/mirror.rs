//! The enterprise mirror through real processes: `signet serve` pulling from a loopback feed
//! that is NuGet.org in all but address (the real NuGet.org-signed packages of
//! `../shared/interop/packages/`, NuGet.org's three repository certificates announced), from a
//! second `signet serve` with its own PKI (a dependency graph), and from hostile upstreams.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use signet_test_support::{PackageBuilder, V3Feed, isolate_config, output_text as text};

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

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn interop(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/interop/packages")
        .join(name)
}

/// NuGet.org's repository certificates (2018, 2021, 2024), as `../shared/interop/nuget.org/`
/// names them.
const NUGET_ORG_CERTIFICATES: [&str; 3] = [
    "0e5f38f57dc1bcc806d8494f4f90fbcedd988b46760709cbeec6f4219aa6157d",
    "5a2901d6ada3d18260b9c6dfe2133c95d74b9eef6ae0e5dc334c8454d1477df4",
    "1f4b311d9acc115c8dc8018b5a49e00fce6da8e2855f9f014ca6f34570bc482d",
];

/// NuGet.org's certificates as owned strings.
fn nuget_org_fingerprints() -> Vec<String> {
    NUGET_ORG_CERTIFICATES
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// A loopback feed that is NuGet.org in all but address: its `RepositorySignatures` announces
/// NuGet.org's three certificates, `allRepositorySigned`.
fn nuget_org_feed() -> V3Feed {
    let feed = V3Feed::new();
    feed.announce_repository_certificates(&nuget_org_fingerprints(), true);
    feed
}

/// The NuGet.org-signed fixtures: (file, id, version, author-signed).
const NUGET_ORG_PACKAGES: &[(&str, &str, &str, bool)] = &[
    (
        "nuget.versioning.5.0.0.nupkg",
        "NuGet.Versioning",
        "5.0.0",
        true,
    ),
    (
        "newtonsoft.json.13.0.4.nupkg",
        "Newtonsoft.Json",
        "13.0.4",
        true,
    ),
    (
        "microsoft.aspnet.webpages.3.3.0.nupkg",
        "Microsoft.AspNet.WebPages",
        "3.3.0",
        true,
    ),
    ("jquery.2.1.1.nupkg", "jQuery", "2.1.1", false),
    (
        "basetestpackage.1.0.0.nupkg",
        "BaseTestPackage",
        "1.0.0",
        false,
    ),
    (
        "Microsoft.Bcl.AsyncInterfaces.8.0.0.nupkg",
        "Microsoft.Bcl.AsyncInterfaces",
        "8.0.0",
        true,
    ),
    (
        "Microsoft.Extensions.DependencyModel.8.0.1.nupkg",
        "Microsoft.Extensions.DependencyModel",
        "8.0.1",
        true,
    ),
    (
        "Serilog.Sinks.Debug.3.0.0.nupkg",
        "Serilog.Sinks.Debug",
        "3.0.0",
        false,
    ),
    (
        "IronSoftware.System.Drawing.2022.9.8843.nupkg",
        "IronSoftware.System.Drawing",
        "2022.9.8843",
        true,
    ),
    (
        "Newtonsoft.Json.Bson.1.0.2.nupkg",
        "Newtonsoft.Json.Bson",
        "1.0.2",
        true,
    ),
    (
        "xunit.abstractions.2.0.3.nupkg",
        "xunit.abstractions",
        "2.0.3",
        true,
    ),
    (
        "Google.Protobuf.3.23.3.nupkg",
        "Google.Protobuf",
        "3.23.3",
        true,
    ),
    (
        "K4os.Hash.xxHash.1.0.8.nupkg",
        "K4os.Hash.xxHash",
        "1.0.8",
        false,
    ),
    ("MySql.Data.8.0.33.nupkg", "MySql.Data", "8.0.33", true),
];

struct Serve {
    child: Child,
    index: String,
    base: String,
    /// The repository certificate's SHA-256.
    repository: String,
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
    let (mut index, mut repository) = (None, String::new());
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(u) = line.strip_prefix("service index: ") {
            index = Some(u.to_owned());
        }
        if let Some(rest) = line.strip_prefix("repository signing: DEVELOPMENT certificate ") {
            // Printed in upper case, as `signet verify` prints fingerprints; documents use lower.
            repository = rest.split_whitespace().next().unwrap().to_lowercase();
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let index = index.expect("signet serve printed its service index");
    Serve {
        child,
        base: index.trim_end_matches("/v3/index.json").to_owned(),
        index,
        repository,
    }
}

/// A development server's configuration: offline revocation, RepositorySignatures over
/// loopback http, `extra_roots` trusted beside the bundled ones.
fn write_config(dir: &Path, name: &str, extra_roots: &[&Path]) -> PathBuf {
    let roots: Vec<String> = extra_roots
        .iter()
        .map(|p| format!("{:?}", p.to_str().unwrap()))
        .collect();
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(
        &config,
        format!(
            r#"data_dir = {data:?}
[signing]
revocation_mode = "offline"
recheck_interval_seconds = 0
staple_revocation = false
announce_repository_signatures_over_http = true
trusted_roots = [{roots}]
"#,
            data = dir.join(name).to_str().unwrap(),
            roots = roots.join(", ")
        ),
    )
    .unwrap();
    config
}

fn admin(config: &Path, args: &[&str]) -> Output {
    let mut all = vec!["admin", "--config", s(config)];
    all.extend_from_slice(args);
    run(&all)
}

/// A user with an API key.
fn user_key(config: &Path, name: &str) -> String {
    let mut create = signet()
        .args([
            "admin",
            "--config",
            s(config),
            "create-user",
            name,
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
    ok(&admin(config, &["create-api-key", name]))
        .lines()
        .next()
        .unwrap()
        .trim()
        .to_owned()
}

fn push(index: &str, key: &str, package: &Path) {
    ok(&run(&[
        "push",
        s(package),
        "--source",
        index,
        "--api-key",
        key,
        "--allow-insecure-loopback",
    ]));
}

/// GET: (status, headers as "name: value" lines, body).
fn get(url: &str) -> (u16, String, Vec<u8>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(120)))
        .build()
        .into();
    let r = agent.get(url).call().unwrap();
    let status = r.status().as_u16();
    let headers: Vec<String> = r
        .headers()
        .iter()
        .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or_default()))
        .collect();
    let mut body = Vec::new();
    r.into_body()
        .into_with_config()
        .limit(64 << 20)
        .reader()
        .read_to_end(&mut body)
        .unwrap();
    (status, headers.join("\n"), body)
}

/// `n` GETs of `url` at once: each one's status and body.
fn get_concurrently(url: &str, n: usize) -> Vec<(u16, Vec<u8>)> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .map(|_| {
                scope.spawn(move || {
                    let (status, _, body) = get(url);
                    (status, body)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn nupkg_url(base: &str, id: &str, version: &str) -> String {
    let (id, version) = (id.to_lowercase(), version.to_lowercase());
    format!("{base}/v3-flatcontainer/{id}/{version}/{id}.{version}.nupkg")
}

fn signature(bytes: &[u8]) -> signet_signature::PrimarySignature {
    let mut pkg =
        signet_nupkg::Package::open(std::io::Cursor::new(bytes.to_vec()), &Default::default())
            .unwrap();
    let p7s = pkg.read_signature().unwrap().unwrap();
    signet_signature::PrimarySignature::load(&p7s, &Default::default()).unwrap()
}

fn content_hash(bytes: &[u8]) -> String {
    signet_nupkg::Package::open(std::io::Cursor::new(bytes.to_vec()), &Default::default())
        .unwrap()
        .content_hash()
        .unwrap()
}

fn blob_count(data: &Path) -> usize {
    fn walk(p: &Path) -> usize {
        std::fs::read_dir(p).map_or(0, |rd| {
            rd.flatten()
                .map(|e| {
                    if e.path().is_dir() {
                        walk(&e.path())
                    } else {
                        usize::from(e.path().extension().is_some_and(|x| x == "nupkg"))
                    }
                })
                .sum()
        })
    }
    walk(&data.join("blobs/packages"))
}

/// Must show 1: every real NuGet.org-signed fixture, served through the mirror, is
/// repository-signed by the mirror (author signature kept), verifies with `signet verify`
/// and `openssl cms`, and keeps the upstream's package hash and content hash; its provenance
/// is in the signature API. An upstream that later serves other bytes is caught by a
/// recheck, and the first copy stays what is served.
#[test]
fn mirror_resigns_nuget_org_packages() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut upstream = nuget_org_feed();
    for (file, id, version, _) in NUGET_ORG_PACKAGES {
        upstream.add(id, version, &std::fs::read(interop(file)).unwrap());
    }
    let config = write_config(dir, "mirror", &[]);
    let mirror = serve(&config);
    let data = dir.join("mirror");
    let added = ok(&admin(
        &config,
        &[
            "upstream",
            "add",
            "nuget-org",
            &upstream.index_url(),
            "--allow-insecure-loopback",
        ],
    ));
    for fp in NUGET_ORG_CERTIFICATES {
        // Printed in upper case, as `signet verify` prints fingerprints.
        assert!(added.contains(&fp.to_uppercase()), "{added}");
    }

    let root = data.join("dev-pki/root.pem");
    for (file, id, version, author_signed) in NUGET_ORG_PACKAGES {
        let upstream_bytes = std::fs::read(interop(file)).unwrap();
        let (status, _, body) = get(&nupkg_url(&mirror.base, id, version));
        assert_eq!(status, 200, "{id}: {}", String::from_utf8_lossy(&body));
        assert_ne!(body, upstream_bytes, "{id} was served without re-signing");
        let served = dir.join(format!("{id}.served.nupkg"));
        std::fs::write(&served, &body).unwrap();

        // The hashes of the upstream copy.
        assert_eq!(content_hash(&body), content_hash(&upstream_bytes), "{id}");
        let (ours, theirs) = (signature(&body), signature(&upstream_bytes));
        assert_eq!(
            ours.content().hash(),
            theirs.content().hash(),
            "{id}: package hash"
        );

        // Author signature kept, repository signature the mirror's.
        let report = ok(&run(&[
            "verify",
            "--all",
            s(&served),
            "--trust-roots",
            s(&root),
        ]));
        assert!(
            report.contains(&mirror.repository.to_uppercase())
                || report.contains(&mirror.repository),
            "{id}: {report}"
        );
        assert!(
            report.contains("Signature type: Repository"),
            "{id}: {report}"
        );
        assert_eq!(
            report.contains("Signature type: Author"),
            *author_signed,
            "{id}: {report}"
        );
        for fp in NUGET_ORG_CERTIFICATES {
            assert!(
                !report.to_lowercase().contains(fp),
                "{id} still carries NuGet.org's signature"
            );
        }
        // openssl agrees on the primary signature (author, or the mirror's repository one).
        let p7s = dir.join(format!("{id}.p7s"));
        let mut pkg =
            signet_nupkg::Package::open(std::io::Cursor::new(body.clone()), &Default::default())
                .unwrap();
        std::fs::write(&p7s, pkg.read_signature().unwrap().unwrap()).unwrap();
        let o = Command::new("openssl")
            .args([
                "cms",
                "-verify",
                "-inform",
                "DER",
                "-binary",
                "-noverify",
                "-in",
                s(&p7s),
                "-out",
                s(&dir.join("content.txt")),
            ])
            .output()
            .unwrap();
        assert!(o.status.success(), "{id}: openssl: {}", text(&o));
        assert_eq!(
            ours.signature_type() == signet_signature::SignatureType::Author,
            *author_signed
        );

        // Provenance in the signature API.
        let (status, _, api) = get(&format!(
            "{}/api/signet/packages/{}/{}/signature",
            mirror.base,
            id.to_lowercase(),
            version
        ));
        assert_eq!(status, 200);
        let api = String::from_utf8_lossy(&api);
        assert!(api.contains("\"upstream\":\"nuget-org\""), "{api}");
        assert!(api.contains(&hex_sha256(&upstream_bytes)), "{api}");
    }

    // The package page shows where the version came from.
    let (status, _, page) = get(&format!("{}/packages/Newtonsoft.Json/13.0.4", mirror.base));
    let page = String::from_utf8_lossy(&page);
    assert_eq!(status, 200);
    assert!(page.contains("id=\"mirror-upstream\">nuget-org<"), "{page}");
    // Upper case on the web, as `signet verify` prints fingerprints.
    assert!(
        page.contains(&NUGET_ORG_CERTIFICATES[2].to_uppercase()),
        "{page}"
    );

    // The upstream later serves other bytes for a mirrored version: the recheck records it
    // and the first copy stays what is served.
    let first = get(&nupkg_url(&mirror.base, "K4os.Hash.xxHash", "1.0.8")).2;
    upstream.add(
        "K4os.Hash.xxHash",
        "1.0.8",
        &std::fs::read(interop("Serilog.Sinks.Debug.3.0.0.nupkg")).unwrap(),
    );
    let o = admin(&config, &["mirror", "recheck", "K4os.Hash.xxHash", "1.0.8"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("MISMATCH"), "{}", text(&o));
    assert_eq!(
        get(&nupkg_url(&mirror.base, "K4os.Hash.xxHash", "1.0.8")).2,
        first
    );
    assert!(ok(&admin(&config, &["mirror", "refusals"])).contains("mismatch"));
    drop(mirror);
}

fn hex_sha256(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let digest = signet_common::HashAlgorithm::Sha256.digest(bytes);
    digest.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A loopback port that accepts connections and never answers.
struct Silent {
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Silent {
    fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let st = std::sync::Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for conn in listener.incoming() {
                if st.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                held.push(conn);
            }
        });
        Silent { port, stop }
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Must show 3: a hostile upstream — a tampered package, one without a repository signature,
/// one repository-signed by a certificate the upstream does not announce, a manifest whose
/// id differs from the URL, an oversized body, an upstream that hangs — is refused with the
/// reason visible to the client (502/504) and to administrators, and nothing is stored or
/// served.
#[test]
fn mirror_refuses_what_a_hostile_upstream_serves() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let fingerprints = nuget_org_fingerprints();
    let mut evil = nuget_org_feed();
    // One byte of the first entry's local header (its modification time): the archive still
    // reads, the package hash no longer matches.
    let mut tampered = std::fs::read(interop("Serilog.Sinks.Debug.3.0.0.nupkg")).unwrap();
    tampered[10] ^= 0x01;
    evil.add("Serilog.Sinks.Debug", "3.0.0", &tampered);
    evil.add(
        "TestPackage.AuthorSigned",
        "1.0.0",
        &std::fs::read(interop("TestPackage.AuthorSigned.1.0.0.nupkg")).unwrap(),
    );
    evil.add(
        "Wrong.Id",
        "3.0.0",
        &std::fs::read(interop("K4os.Hash.xxHash.1.0.8.nupkg")).unwrap(),
    );
    evil.add(
        "MySql.Data",
        "8.0.33",
        &std::fs::read(interop("MySql.Data.8.0.33.nupkg")).unwrap(),
    );
    // Announces only the 2024 certificate; serves a package signed with the 2018 one.
    let mut partial = V3Feed::new();
    partial.announce_repository_certificates(&fingerprints[2..], true);
    partial.add(
        "jQuery",
        "2.1.1",
        &std::fs::read(interop("jquery.2.1.1.nupkg")).unwrap(),
    );
    // Its flat container never answers.
    let silent = Silent::start();
    let slow = nuget_org_feed();
    let index = std::fs::read_to_string(slow.root().join("v3/index.json")).unwrap();
    let index = index.replace(
        &format!("{}/flat/", slow.server.base),
        &format!("http://127.0.0.1:{}/flat/", silent.port),
    );
    // Its registrations never answer either.
    let mut doc: serde_json::Value = serde_json::from_str(&index).unwrap();
    doc["resources"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "@id": format!("http://127.0.0.1:{}/registration/", silent.port),
            "@type": "RegistrationsBaseUrl/3.6.0",
        }));
    std::fs::write(
        slow.root().join("v3/index.json"),
        serde_json::to_string(&doc).unwrap(),
    )
    .unwrap();

    let config = write_config(dir, "mirror", &[]);
    let mirror = serve(&config);
    let data = dir.join("mirror");
    for (name, feed, extra) in [
        (
            "evil",
            &evil,
            vec![
                "--allow",
                "Serilog.Sinks.Debug",
                "--allow",
                "TestPackage.AuthorSigned",
                "--allow",
                "Wrong.Id",
                "--allow",
                "MySql.Data",
                "--max-package-size",
                "3000000",
            ],
        ),
        ("partial", &partial, vec!["--allow", "jQuery"]),
        (
            "slow",
            &slow,
            vec!["--allow", "Slow.*", "--timeout-seconds", "2"],
        ),
    ] {
        let mut args = vec!["upstream", "add", name];
        let url = feed.index_url();
        args.push(&url);
        args.push("--allow-insecure-loopback");
        args.extend(extra);
        ok(&admin(&config, &args));
    }

    for (id, version, status, expect) in [
        ("Serilog.Sinks.Debug", "3.0.0", 502, "NU3008"),
        ("TestPackage.AuthorSigned", "1.0.0", 502, "NU3034"),
        ("jQuery", "2.1.1", 502, "NU3034"),
        (
            "Wrong.Id",
            "3.0.0",
            502,
            "K4os.Hash.xxHash 1.0.8 when wrong.id 3.0.0 was asked for",
        ),
        ("MySql.Data", "8.0.33", 502, "limit of 3000000 bytes"),
        ("Slow.Package", "1.0.0", 504, "timed out"),
    ] {
        let started = std::time::Instant::now();
        let (got, _, body) = get(&nupkg_url(&mirror.base, id, version));
        let body = String::from_utf8_lossy(&body).to_string();
        assert_eq!(got, status, "{id}: {body}");
        assert!(body.contains(expect), "{id}: {body}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "{id} took {:?}",
            started.elapsed()
        );
        // Asked again: the same answer (remembered, not fetched again for a refusal).
        let (again, _, _) = get(&nupkg_url(&mirror.base, id, version));
        assert_eq!(again, status, "{id}");
        let (reg, _, _) = get(&format!(
            "{}/v3/registration/{}/index.json",
            mirror.base,
            id.to_lowercase()
        ));
        // Not visible: 404, or 502 where the upstream's registration itself fails.
        let expect = if id.starts_with("Slow") { 502 } else { 404 };
        assert_eq!(reg, expect, "{id} is visible");
    }
    assert_eq!(blob_count(&data), 0, "a refused package was stored");
    // Nothing stored and the upstream failing: a 502 with the reason, not "no such package".
    let (status, _, body) = get(&format!(
        "{}/v3-flatcontainer/slow.package/index.json",
        mirror.base
    ));
    assert_eq!(status, 502, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("slow"));
    let (status, _, body) = get(&format!(
        "{}/v3/registration/slow.package/index.json",
        mirror.base
    ));
    assert_eq!(status, 502, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("slow"));
    // Flat-container URLs are lower case: so are the ids recorded.
    let refusals = ok(&admin(&config, &["mirror", "refusals"]));
    for expect in [
        "refused serilog.sinks.debug 3.0.0 from evil: NU3008",
        "testpackage.authorsigned",
        "refused jquery 2.1.1 from partial: NU3034",
        "wrong.id",
        "mysql.data",
        "timed-out slow.package",
    ] {
        assert!(refusals.contains(expect), "{expect}: {refusals}");
    }
    let json = ok(&admin(&config, &["mirror", "refusals", "--json"]));
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(doc["refusals"].as_array().unwrap().len() >= 6, "{json}");
    drop(mirror);
}

/// Must show 2 and 5, and prefetch: a dependency graph published on a second `signet serve`
/// (its own development PKI) comes through the mirror re-signed by the mirror, so a client
/// that trusts only the mirror installs it in secure mode, while the same graph served by the
/// upstream directly is refused (NU3034). An id a local account owns never resolves to the
/// upstream's versions, even a higher one.
#[test]
fn mirror_brings_a_graph_under_one_trust_anchor() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let upstream_config = write_config(dir, "upstream", &[]);
    let upstream = serve(&upstream_config);
    let alice = user_key(&upstream_config, "alice");
    let package = |id: &str, version: &str, deps: &[(&str, &str)]| {
        let mut b = PackageBuilder::new(id, version).file("lib/net8.0/x.dll", id.as_bytes());
        for (d, r) in deps {
            b = b.dependency(None, d, Some(r));
        }
        let p = dir.join(format!("{id}.{version}.nupkg"));
        std::fs::write(&p, b.build()).unwrap();
        p
    };
    for (id, version, deps) in [
        ("Graph.B", "1.0.0", vec![]),
        ("Graph.B", "2.0.0", vec![]),
        ("Local.C", "5.0.0", vec![]),
        (
            "Graph.A",
            "1.0.0",
            vec![("Graph.B", "1.0.0"), ("Local.C", "1.0.0")],
        ),
    ] {
        push(&upstream.index, &alice, &package(id, version, &deps));
    }

    let upstream_root = dir.join("upstream/dev-pki/root.pem");
    let config = write_config(dir, "mirror", &[&upstream_root]);
    let mirror = serve(&config);
    let mirror_root = dir.join("mirror/dev-pki/root.pem");
    // A local package with the id the upstream also has (at a higher version).
    let bob = user_key(&config, "bob");
    push(&mirror.index, &bob, &package("Local.C", "1.0.0", &[]));
    ok(&admin(
        &config,
        &[
            "upstream",
            "add",
            "upstream",
            &upstream.index,
            "--allow-insecure-loopback",
        ],
    ));
    // (the push above had the server read its upstreams: it reads them again within a second)
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(
        ok(&admin(&config, &["upstream", "list"])).contains(&upstream.repository.to_uppercase())
    );

    // Dependency confusion: the local id lists only the local version; the upstream's is
    // never served.
    let (status, _, body) = get(&format!(
        "{}/v3-flatcontainer/local.c/index.json",
        mirror.base
    ));
    assert_eq!(status, 200);
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(doc["versions"], serde_json::json!(["1.0.0"]));
    assert_eq!(get(&nupkg_url(&mirror.base, "Local.C", "5.0.0")).0, 404);
    // An upstream id: the upstream's list.
    let (status, _, body) = get(&format!(
        "{}/v3-flatcontainer/graph.b/index.json",
        mirror.base
    ));
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(doc["versions"], serde_json::json!(["1.0.0", "2.0.0"]));

    // The client trusts the mirror only, and installs the graph through it in secure mode.
    let cfg = dir.join("nuget.config");
    std::fs::write(
        &cfg,
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<configuration>\n</configuration>\n",
    )
    .unwrap();
    ok(&run(&[
        "trust",
        "source",
        "mirror",
        "--source-url",
        &mirror.index,
        "--allow-insecure-loopback",
        "--configfile",
        s(&cfg),
    ]));
    let both_roots = dir.join("roots.pem");
    std::fs::write(
        &both_roots,
        [
            std::fs::read(&mirror_root).unwrap(),
            std::fs::read(&upstream_root).unwrap(),
        ]
        .concat(),
    )
    .unwrap();
    let install = |source: &str, packages: &Path| {
        run(&[
            "install",
            "Graph.A",
            "--source",
            source,
            "--policy",
            "secure",
            "--packages",
            s(packages),
            "--configfile",
            s(&cfg),
            "--trust-roots",
            s(&both_roots),
            "--trust-roots-only",
            "--allow-insecure-loopback",
        ])
    };
    let packages = dir.join("packages");
    let out = ok(&install(&mirror.index, &packages));
    for (id, version) in [
        ("graph.a", "1.0.0"),
        ("graph.b", "1.0.0"),
        ("local.c", "1.0.0"),
    ] {
        assert!(
            packages
                .join(id)
                .join(version)
                .join("lib/net8.0/x.dll")
                .is_file(),
            "{id}: {out}"
        );
    }
    assert!(!packages.join("local.c/5.0.0").exists());
    // Served by the upstream directly, the same graph is not the trusted repository's.
    let direct = dir.join("packages-direct");
    let o = install(&upstream.index, &direct);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("NU3034"), "{}", text(&o));
    assert!(!direct.join("graph.a").exists());

    // Prefetch: the rest of Graph.B, then again (resumed: nothing new).
    let out = ok(&admin(
        &config,
        &["mirror", "fetch", "Graph.B@[1.0.0,3.0.0)"],
    ));
    assert!(
        out.contains("1 fetched now, 1 already mirrored, 0 refused"),
        "{out}"
    );
    // Graph.A's closure: Graph.B 1.0.0; Local.C is local, never taken from the upstream.
    let out = ok(&admin(&config, &["mirror", "fetch", "Graph.A"]));
    assert!(out.contains("0 fetched now, 2 already mirrored"), "{out}");
    let o = admin(&config, &["mirror", "fetch", "Graph.Missing"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("refused Graph.Missing"), "{}", text(&o));
    drop(mirror);
    drop(upstream);
}

/// Both signing modes against the client's rule (a package's repository signature must be by
/// a certificate the source's `RepositorySignatures` lists, strictly when
/// `allRepositorySigned`): a re-signed package carries the mirror's certificate; a
/// passthrough package carries NuGet.org's byte for byte, and the mirror announces NuGet.org's
/// certificates beside its own. Switching the upstream to `resign` hands its packages to the
/// backfill, after which the mirror announces its own certificate only.
#[test]
fn mirror_signing_modes_match_what_it_announces() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut feed = nuget_org_feed();
    for (file, id, version) in [
        ("jquery.2.1.1.nupkg", "jQuery", "2.1.1"),
        ("K4os.Hash.xxHash.1.0.8.nupkg", "K4os.Hash.xxHash", "1.0.8"),
    ] {
        feed.add(id, version, &std::fs::read(interop(file)).unwrap());
    }
    let config = write_config(dir, "mirror", &[]);
    let mirror = serve(&config);
    let url = feed.index_url();
    ok(&admin(
        &config,
        &[
            "upstream",
            "add",
            "resigned",
            &url,
            "--allow-insecure-loopback",
            "--allow",
            "jQuery",
        ],
    ));
    ok(&admin(
        &config,
        &[
            "upstream",
            "add",
            "kept",
            &url,
            "--allow-insecure-loopback",
            "--allow",
            "K4os.*",
            "--mode",
            "passthrough",
        ],
    ));

    let k4os = std::fs::read(interop("K4os.Hash.xxHash.1.0.8.nupkg")).unwrap();
    assert_eq!(
        get(&nupkg_url(&mirror.base, "K4os.Hash.xxHash", "1.0.8")).2,
        k4os
    );
    let jquery = get(&nupkg_url(&mirror.base, "jQuery", "2.1.1"));
    assert_eq!(jquery.0, 200);
    assert!(jquery.2 != std::fs::read(interop("jquery.2.1.1.nupkg")).unwrap());
    let announced = |_: ()| -> serde_json::Value {
        serde_json::from_slice(
            &get(&format!(
                "{}/v3/repository-signatures/5.0.0/index.json",
                mirror.base
            ))
            .2,
        )
        .unwrap()
    };
    let doc = announced(());
    let text = doc.to_string();
    assert_eq!(doc["allRepositorySigned"], true, "{text}");
    assert!(text.contains(&mirror.repository), "{text}");
    for fp in NUGET_ORG_CERTIFICATES {
        assert!(text.contains(fp), "{text}");
    }

    // The client's rule, under the default policy (strict repository list when
    // allRepositorySigned) and in secure mode trusting the mirror's announcement.
    let cfg = dir.join("nuget.config");
    std::fs::write(
        &cfg,
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<configuration>\n</configuration>\n",
    )
    .unwrap();
    ok(&run(&[
        "trust",
        "source",
        "mirror",
        "--source-url",
        &mirror.index,
        "--allow-insecure-loopback",
        "--configfile",
        s(&cfg),
    ]));
    let root = dir.join("mirror/dev-pki/root.pem");
    for policy in ["default", "secure"] {
        for id in ["jQuery", "K4os.Hash.xxHash"] {
            let packages = dir.join(format!("packages-{policy}"));
            let out = ok(&run(&[
                "install",
                id,
                "--source",
                &mirror.index,
                "--policy",
                policy,
                "--packages",
                s(&packages),
                "--configfile",
                s(&cfg),
                "--trust-roots",
                s(&root),
                "--allow-insecure-loopback",
            ]));
            assert!(
                packages.join(id.to_lowercase()).is_dir(),
                "{policy} {id}: {out}"
            );
        }
    }

    // Switch to resign: the backfill re-signs the passthrough copy, and NuGet.org's
    // certificates are no longer announced.
    ok(&admin(
        &config,
        &["upstream", "set", "kept", "--mode", "resign"],
    ));
    ok(&admin(&config, &["backfill"]));
    // (A running server keeps serving the bytes it holds in memory for up to a minute after a
    // backfill; the record says what is stored now.)
    let (_, _, api) = get(&format!(
        "{}/api/signet/packages/k4os.hash.xxhash/1.0.8/signature",
        mirror.base
    ));
    let api: serde_json::Value = serde_json::from_slice(&api).unwrap();
    assert_eq!(
        api["repository"]["fingerprint"],
        mirror.repository.as_str(),
        "{api}"
    );
    assert_eq!(api["mirroredFrom"]["upstream"], "kept", "{api}");
    let doc = announced(());
    let text = doc.to_string();
    assert_eq!(doc["allRepositorySigned"], true, "{text}");
    for fp in NUGET_ORG_CERTIFICATES {
        assert!(!text.contains(fp), "{text}");
    }
    // Removed and added again, the upstream takes its account (and its mirrored ids) back.
    ok(&admin(&config, &["upstream", "remove", "kept"]));
    let again = admin(
        &config,
        &[
            "upstream",
            "add",
            "kept",
            &url,
            "--allow-insecure-loopback",
            "--allow",
            "K4os.*",
        ],
    );
    assert!(
        again.status.success(),
        "{}",
        signet_test_support::output_text(&again)
    );
    ok(&admin(
        &config,
        &["upstream", "set", "kept", "--clear-lists", "--https-only"],
    ));
    let listed = ok(&admin(&config, &["upstream", "list"]));
    assert!(!listed.contains("allow: K4os.*"), "{listed}");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(
        get(&nupkg_url(&mirror.base, "K4os.Hash.xxHash", "1.0.8")).0,
        200
    );
    drop(mirror);
}

/// Concurrent requests for one uncached version make one upstream fetch, and every client
/// gets the same re-signed bytes.
#[test]
fn concurrent_requests_make_one_upstream_fetch() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut feed = nuget_org_feed();
    feed.add(
        "Google.Protobuf",
        "3.23.3",
        &std::fs::read(interop("Google.Protobuf.3.23.3.nupkg")).unwrap(),
    );
    let config = write_config(dir, "mirror", &[]);
    let mirror = serve(&config);
    ok(&admin(
        &config,
        &[
            "upstream",
            "add",
            "nuget-org",
            &feed.index_url(),
            "--allow-insecure-loopback",
        ],
    ));
    let url = nupkg_url(&mirror.base, "Google.Protobuf", "3.23.3");
    let bodies = get_concurrently(&url, 12);
    for (status, body) in &bodies {
        assert_eq!(*status, 200, "{}", String::from_utf8_lossy(body));
        assert_eq!(body, &bodies[0].1);
    }
    assert_eq!(
        feed.server
            .requests_ending_with("google.protobuf.3.23.3.nupkg"),
        1,
        "the upstream was asked more than once"
    );
    assert_eq!(blob_count(&dir.join("mirror")), 1);
    drop(mirror);
}

/// Concurrent requests for the registration of an id nothing has read yet make one read of
/// the upstream's registration (it may be up to 64 pages, and too large to be cached).
#[test]
fn concurrent_registration_requests_make_one_upstream_read() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let feed = nuget_org_feed();
    // The upstream gets a registration resource: one inline page of 3,000 versions with
    // long descriptions (3 MB, under the 4 MiB document limit, so that concurrent requests
    // overlap while it is read).
    let index_path = feed.root().join("v3/index.json");
    let index = std::fs::read_to_string(&index_path).unwrap();
    let index = index.replacen(
        "\"resources\":[",
        &format!(
            "\"resources\":[{{\"@id\":\"{}/reg/\",\"@type\":\"RegistrationsBaseUrl/3.6.0\"}},",
            feed.server.base
        ),
        1,
    );
    std::fs::write(&index_path, index).unwrap();
    let description = "d".repeat(1000);
    let leaves: Vec<String> = (0..3000)
        .map(|i| {
            format!(
                r#"{{"catalogEntry":{{"id":"Wide.Package","version":"1.0.{i}","listed":true,"description":"{description}"}}}}"#
            )
        })
        .collect();
    let registration = format!(
        r#"{{"count":1,"items":[{{"@id":"{}/reg/wide.package/index.json#page","count":3000,"lower":"1.0.0","upper":"1.0.2999","items":[{}]}}]}}"#,
        feed.server.base,
        leaves.join(",")
    );
    let reg_dir = feed.root().join("reg/wide.package");
    std::fs::create_dir_all(&reg_dir).unwrap();
    std::fs::write(reg_dir.join("index.json"), registration).unwrap();
    let config = write_config(dir, "mirror", &[]);
    let mirror = serve(&config);
    ok(&admin(
        &config,
        &[
            "upstream",
            "add",
            "nuget-org",
            &feed.index_url(),
            "--allow-insecure-loopback",
        ],
    ));
    let url = format!("{}/v3/registration/wide.package/index.json", mirror.base);
    let bodies = get_concurrently(&url, 12);
    for (status, body) in &bodies {
        let text = String::from_utf8_lossy(body);
        assert_eq!(*status, 200, "{}", text.get(..500).unwrap_or(&text));
        // Every request lists all 3,000 versions (in pages of 128).
        let listed: serde_json::Value = serde_json::from_slice(body).unwrap();
        let versions: u64 = listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|page| page["count"].as_u64().unwrap())
            .sum();
        assert_eq!(versions, 3000);
    }
    assert_eq!(
        feed.server
            .requests_ending_with("/reg/wide.package/index.json"),
        1,
        "the upstream's registration was read more than once"
    );
    drop(mirror);
}

/// Must show 4: nuget.exe (under Mono) installs a mirrored NuGet.org package with its
/// dependency through the mirror (prefetched with its closure: nuget.exe resolves through
/// registrations, which list stored versions). Runs when `SIGNET_NUGET_EXE` is set
/// (`scripts/test.sh` sets it).
#[test]
fn nuget_exe_installs_through_the_mirror() {
    let Ok(nuget) = std::env::var("SIGNET_NUGET_EXE") else {
        eprintln!("skipped: SIGNET_NUGET_EXE is not set (scripts/test.sh sets it)");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut feed = nuget_org_feed();
    for (file, id, version) in [
        (
            "Newtonsoft.Json.Bson.1.0.2.nupkg",
            "Newtonsoft.Json.Bson",
            "1.0.2",
        ),
        ("newtonsoft.json.13.0.4.nupkg", "Newtonsoft.Json", "13.0.4"),
    ] {
        feed.add(id, version, &std::fs::read(interop(file)).unwrap());
    }
    let config = write_config(dir, "mirror", &[]);
    // nuget.exe refuses a RepositorySignatures resource over plain http (and stops): this
    // mirror does not announce one.
    let toml = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        toml.replace(
            "announce_repository_signatures_over_http = true",
            "announce_repository_signatures_over_http = false",
        ),
    )
    .unwrap();
    let mirror = serve(&config);
    ok(&admin(
        &config,
        &[
            "upstream",
            "add",
            "nuget-org",
            &feed.index_url(),
            "--allow-insecure-loopback",
        ],
    ));
    // Newtonsoft.Json.Bson 1.0.2 depends on Newtonsoft.Json >= 12.0.1: the closure brings
    // 13.0.4, the lowest the upstream has.
    // (Its netstandard1.x group's dependencies are not among the fixtures: reported, and the
    // run exits 1 — the two packages nuget.exe needs for net45 are fetched.)
    let o = admin(
        &config,
        &["mirror", "fetch", "Newtonsoft.Json.Bson@[1.0.2]"],
    );
    assert!(text(&o).contains("2 fetched now"), "{}", text(&o));
    assert!(
        text(&o).contains("NETStandard.Library 1.6.1: the upstream nuget-org lists no version"),
        "{}",
        text(&o)
    );
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let out_dir = dir.join("installed");
    let o = Command::new("mono")
        .arg(&nuget)
        .args([
            "install",
            "Newtonsoft.Json.Bson",
            "-Version",
            "1.0.2",
            "-Source",
            &mirror.index,
            "-OutputDirectory",
            s(&out_dir),
            "-NonInteractive",
            "-Verbosity",
            "detailed",
        ])
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    for (folder, file) in [
        (
            "Newtonsoft.Json.Bson.1.0.2",
            "newtonsoft.json.bson.1.0.2.nupkg",
        ),
        ("Newtonsoft.Json.13.0.4", "newtonsoft.json.13.0.4.nupkg"),
    ] {
        let installed = std::fs::read_dir(out_dir.join(folder))
            .unwrap()
            .flatten()
            .find(|e| e.file_name().to_string_lossy().to_lowercase() == file)
            .unwrap_or_else(|| panic!("{folder}: no {file}: {}", text(&o)));
        let bytes = std::fs::read(installed.path()).unwrap();
        // The mirror's re-signed copy, not the upstream's.
        let report = ok(&run(&[
            "verify",
            "--all",
            s(&installed.path()),
            "--trust-roots",
            s(&dir.join("mirror/dev-pki/root.pem")),
        ]));
        assert!(
            report
                .to_lowercase()
                .contains(&mirror.repository.to_lowercase()),
            "{report}"
        );
        assert!(!bytes.is_empty());
    }
    drop(mirror);
}

/// Quarantine: a version the upstream repository-signed less than `--min-age-hours` ago is
/// held (403 with the date it is released), nothing is stored, and an administrator's
/// release lets it through at once. The age is the upstream repository signature's
/// timestamp: Serilog.Sinks.Debug 3.0.0 was signed in 2024, less than 40,000 hours ago.
#[test]
fn quarantine_holds_young_versions_until_released() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut feed = nuget_org_feed();
    feed.add(
        "Serilog.Sinks.Debug",
        "3.0.0",
        &std::fs::read(interop("Serilog.Sinks.Debug.3.0.0.nupkg")).unwrap(),
    );
    feed.add(
        "jQuery",
        "2.1.1",
        &std::fs::read(interop("jquery.2.1.1.nupkg")).unwrap(),
    );
    feed.add(
        "BaseTestPackage",
        "1.0.0",
        &std::fs::read(interop("basetestpackage.1.0.0.nupkg")).unwrap(),
    );
    let config = write_config(dir, "mirror", &[]);
    let mirror = serve(&config);
    ok(&admin(
        &config,
        &[
            "upstream",
            "add",
            "nuget-org",
            &feed.index_url(),
            "--allow-insecure-loopback",
            "--min-age-hours",
            "40000",
        ],
    ));
    let url = nupkg_url(&mirror.base, "Serilog.Sinks.Debug", "3.0.0");
    let (status, _, body) = get(&url);
    let body = String::from_utf8_lossy(&body).to_string();
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("less than 40000 hours ago"), "{body}");
    assert!(body.contains("quarantine until 20"), "{body}");
    assert_eq!(blob_count(&dir.join("mirror")), 0);
    // jQuery's repository signature is from 2018: older than 40,000 hours.
    assert_eq!(get(&nupkg_url(&mirror.base, "jQuery", "2.1.1")).0, 200);
    // A longer quarantine applies to the next fetch at once, though the server read the
    // upstream's settings less than a second ago (the fetch reads them again before it
    // stores anything). No NuGet.org repository signature is 80,000 hours (9 years) old.
    ok(&admin(
        &config,
        &["upstream", "set", "nuget-org", "--min-age-hours", "80000"],
    ));
    let (status, _, body) = get(&nupkg_url(&mirror.base, "BaseTestPackage", "1.0.0"));
    let body = String::from_utf8_lossy(&body).to_string();
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("less than 80000 hours ago"), "{body}");
    ok(&admin(
        &config,
        &["mirror", "release", "Serilog.Sinks.Debug", "3.0.0"],
    ));
    let (status, _, body) = get(&url);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(ok(&admin(&config, &["mirror", "refusals"])).contains("quarantined"));
    drop(mirror);
}

/// The upstream's policy applies to what is already mirrored, the most specific upstream
/// serves an id, and a local push cannot shadow an id an upstream has (dependency confusion
/// from the inside) until an administrator reserves it with a deny glob.
#[test]
fn policy_changes_apply_to_what_is_mirrored() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut nuget = nuget_org_feed();
    let mut partner = nuget_org_feed();
    for feed in [&mut nuget, &mut partner] {
        for (file, id, version) in [
            ("jquery.2.1.1.nupkg", "jQuery", "2.1.1"),
            ("K4os.Hash.xxHash.1.0.8.nupkg", "K4os.Hash.xxHash", "1.0.8"),
            ("basetestpackage.1.0.0.nupkg", "BaseTestPackage", "1.0.0"),
            (
                "Newtonsoft.Json.Bson.1.0.2.nupkg",
                "Newtonsoft.Json.Bson",
                "1.0.2",
            ),
        ] {
            feed.add(id, version, &std::fs::read(interop(file)).unwrap());
        }
    }
    let config = write_config(dir, "mirror", &[]);
    let mirror = serve(&config);
    // NuGet.org first, catch-all; the partner feed second, for K4os.* only.
    ok(&admin(
        &config,
        &[
            "upstream",
            "add",
            "nuget",
            &nuget.index_url(),
            "--allow-insecure-loopback",
        ],
    ));
    ok(&admin(
        &config,
        &[
            "upstream",
            "add",
            "partner",
            &partner.index_url(),
            "--allow-insecure-loopback",
            "--allow",
            "K4os.*",
        ],
    ));
    assert_eq!(
        get(&nupkg_url(&mirror.base, "K4os.Hash.xxHash", "1.0.8")).0,
        200
    );
    assert_eq!(
        partner
            .server
            .requests_ending_with("k4os.hash.xxhash.1.0.8.nupkg"),
        1
    );
    assert_eq!(
        nuget
            .server
            .requests_ending_with("k4os.hash.xxhash.1.0.8.nupkg"),
        0
    );
    assert_eq!(get(&nupkg_url(&mirror.base, "jQuery", "2.1.1")).0, 200);

    // A local push of an id the upstream has is refused, until the id is reserved.
    let alice = user_key(&config, "alice");
    let local = dir.join("BaseTestPackage.9.0.0.nupkg");
    std::fs::write(
        &local,
        PackageBuilder::new("BaseTestPackage", "9.0.0").build(),
    )
    .unwrap();
    let o = run(&[
        "push",
        s(&local),
        "--source",
        &mirror.index,
        "--api-key",
        &alice,
        "--allow-insecure-loopback",
    ]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("exists on the upstream nuget"),
        "{}",
        text(&o)
    );
    // An id the upstream publishes after a client was told "no such package" (a cached empty
    // list) is still not claimed by a local push.
    let (status, _, _) = get(&format!(
        "{}/v3-flatcontainer/serilog.sinks.debug/index.json",
        mirror.base
    ));
    assert_eq!(status, 404);
    nuget.add(
        "Serilog.Sinks.Debug",
        "3.0.0",
        &std::fs::read(interop("Serilog.Sinks.Debug.3.0.0.nupkg")).unwrap(),
    );
    let late = dir.join("Serilog.Sinks.Debug.9.0.0.nupkg");
    std::fs::write(
        &late,
        PackageBuilder::new("Serilog.Sinks.Debug", "9.0.0").build(),
    )
    .unwrap();
    let o = run(&[
        "push",
        s(&late),
        "--source",
        &mirror.index,
        "--api-key",
        &alice,
        "--allow-insecure-loopback",
    ]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("exists on the upstream nuget"),
        "{}",
        text(&o)
    );
    ok(&admin(
        &config,
        &["upstream", "set", "nuget", "--deny", "BaseTestPackage"],
    ));
    // (the server reads upstream settings again within a second)
    std::thread::sleep(std::time::Duration::from_millis(1500));
    push(&mirror.index, &alice, &local);
    let (_, _, body) = get(&format!(
        "{}/v3-flatcontainer/basetestpackage/index.json",
        mirror.base
    ));
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(doc["versions"], serde_json::json!(["9.0.0"]));

    // Blocking a mirrored version stops serving it at once, and every listing stops
    // advertising it; denying the id stops it all.
    let listings = [
        format!("{}/v3/query?q=jquery", mirror.base),
        format!("{}/v3/autocomplete?id=jquery", mirror.base),
        format!("{}/v3/registration/jquery/index.json", mirror.base),
        format!("{}/api/v2/FindPackagesById()?id='jQuery'", mirror.base),
        format!("{}/packages/jQuery", mirror.base),
    ];
    for url in &listings {
        let (status, _, body) = get(url);
        let body = String::from_utf8_lossy(&body);
        assert_eq!(status, 200, "{url}: {body}");
        assert!(body.contains("2.1.1"), "{url}: {body}");
    }
    ok(&admin(
        &config,
        &["upstream", "set", "nuget", "--block", "jQuery@[2.1.1]"],
    ));
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // `set` adds to the lists: reserving an id earlier is not undone by a later block.
    let listed = ok(&admin(&config, &["upstream", "list"]));
    assert!(listed.contains("deny: BaseTestPackage"), "{listed}");
    assert!(listed.contains("block: jQuery@[2.1.1]"), "{listed}");
    let (status, _, body) = get(&nupkg_url(&mirror.base, "jQuery", "2.1.1"));
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("jQuery@[2.1.1]"));
    let (status, _, _) = get(&format!(
        "{}/v3-flatcontainer/jquery/index.json",
        mirror.base
    ));
    assert_eq!(status, 404);
    for url in &listings {
        let (status, _, body) = get(url);
        let body = String::from_utf8_lossy(&body);
        assert!(
            status == 404 || !body.contains("2.1.1"),
            "{url}: {status} {body}"
        );
    }
    ok(&admin(
        &config,
        &["upstream", "set", "partner", "--deny", "K4os.*"],
    ));
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(
        get(&nupkg_url(&mirror.base, "K4os.Hash.xxHash", "1.0.8")).0,
        403
    );

    // A reserved prefix is the feed's own namespace: never taken from an upstream, pushed
    // only by the account that holds it.
    ok(&admin(&config, &["reserve-prefix", "alice", "Newtonsoft."]));
    assert!(ok(&admin(&config, &["list-prefixes"])).contains("Newtonsoft. reserved by alice"));
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let (status, _, _) = get(&format!(
        "{}/v3-flatcontainer/newtonsoft.json.bson/index.json",
        mirror.base
    ));
    assert_eq!(status, 404);
    assert_eq!(
        get(&nupkg_url(&mirror.base, "Newtonsoft.Json.Bson", "1.0.2")).0,
        404
    );
    let ours = dir.join("Newtonsoft.Json.Bson.9.0.0.nupkg");
    std::fs::write(
        &ours,
        PackageBuilder::new("Newtonsoft.Json.Bson", "9.0.0").build(),
    )
    .unwrap();
    let bob = user_key(&config, "bob");
    let o = run(&[
        "push",
        s(&ours),
        "--source",
        &mirror.index,
        "--api-key",
        &bob,
        "--allow-insecure-loopback",
    ]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("reserved by 'alice'"), "{}", text(&o));
    push(&mirror.index, &alice, &ours);
    drop(mirror);
}

/// nuget.exe resolves through registrations: the mirror's registration lists the upstream's
/// versions not stored yet (read from the upstream's registration), so a package with a
/// dependency installs through the mirror with no prefetch, each package pulled through,
/// verified and re-signed on download. Runs when `SIGNET_NUGET_EXE` is set.
#[test]
fn nuget_exe_installs_an_upstream_graph_without_prefetch() {
    let Ok(nuget) = std::env::var("SIGNET_NUGET_EXE") else {
        eprintln!("skipped: SIGNET_NUGET_EXE is not set (scripts/test.sh sets it)");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let upstream_config = write_config(dir, "upstream", &[]);
    let upstream = serve(&upstream_config);
    let alice = user_key(&upstream_config, "alice");
    for (id, deps) in [
        ("Mono.Dep", vec![]),
        ("Mono.Top", vec![("Mono.Dep", "1.0.0")]),
    ] {
        let mut b = PackageBuilder::new(id, "1.0.0").file("lib/net48/x.dll", id.as_bytes());
        for (d, r) in deps {
            b = b.dependency(None, d, Some(r));
        }
        let p = dir.join(format!("{id}.1.0.0.nupkg"));
        std::fs::write(&p, b.build()).unwrap();
        push(&upstream.index, &alice, &p);
    }
    let config = write_config(dir, "mirror", &[&dir.join("upstream/dev-pki/root.pem")]);
    // nuget.exe refuses a RepositorySignatures resource over plain http: this mirror does not
    // announce one (the upstream does, for the mirror to pin).
    let toml = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        toml.replace(
            "announce_repository_signatures_over_http = true",
            "announce_repository_signatures_over_http = false",
        ),
    )
    .unwrap();
    let mirror = serve(&config);
    ok(&admin(
        &config,
        &[
            "upstream",
            "add",
            "up",
            &upstream.index,
            "--allow-insecure-loopback",
        ],
    ));
    assert_eq!(blob_count(&dir.join("mirror")), 0);
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let out_dir = dir.join("installed");
    let o = Command::new("mono")
        .arg(&nuget)
        .args([
            "install",
            "Mono.Top",
            "-Version",
            "1.0.0",
            "-Source",
            &mirror.index,
            "-OutputDirectory",
            s(&out_dir),
            "-NonInteractive",
        ])
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    for folder in ["Mono.Top.1.0.0", "Mono.Dep.1.0.0"] {
        assert!(out_dir.join(folder).is_dir(), "{folder}: {}", text(&o));
    }
    // Both pulled through and stored (re-signed) by the mirror.
    assert_eq!(blob_count(&dir.join("mirror")), 2);
    drop(mirror);
    drop(upstream);
}
