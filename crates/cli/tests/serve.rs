//! `signet serve` through real HTTP on loopback: push (multipart, status codes and reason
//! phrases), flat container, registrations, search, autocomplete, unlist/relist, API key
//! scopes/globs/expiry, two concurrent pushes of one version, a kill -9 mid-push, and
//! `signet install` as a real client of the server.
//!
//! Each test runs twice (`<test>::local` and `<test>::external`): on the defaults, SQLite and a
//! blob directory in the data directory, and on the external services the environment names —
//! with `SIGNET_TEST_POSTGRES=postgres://USER@127.0.0.1:PORT` its own PostgreSQL database, with
//! `SIGNET_TEST_S3=http://127.0.0.1:PORT` (an S3 endpoint such as moto) its own bucket.
//! `scripts/test.sh` starts both services and sets both variables, so `external` is PostgreSQL
//! + S3 there; without either variable `external` says it is skipped and passes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use signet_test_support::{PackageBuilder, isolate_config};

fn signet() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_signet"));
    isolate_config(&mut cmd);
    cmd
}

/// A `signet serve` child process on a free loopback port.
struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`
    base: String,
    addr: String,
}

/// What the server serves is the pushed package repository-signed (signing is on by default,
/// with the development PKI of a fresh data directory): a repository primary signature, and
/// without it exactly the pushed bytes.
fn assert_repository_signed_copy(served: &[u8], pushed: &[u8]) {
    let limits = signet_nupkg::Limits::default();
    let mut pkg = signet_nupkg::Package::open(std::io::Cursor::new(served), &limits).unwrap();
    let sig = pkg
        .read_signature()
        .unwrap()
        .expect("the served package is signed");
    let primary =
        signet_signature::PrimarySignature::load(&sig, &signet_signature::Limits::default())
            .unwrap();
    assert_eq!(
        primary.signature_type(),
        signet_signature::SignatureType::Repository
    );
    let mut unsigned = Vec::new();
    signet_nupkg::remove_signature(std::io::Cursor::new(served), &mut unsigned, &limits).unwrap();
    assert!(
        unsigned == pushed,
        "the served package is not the pushed one, signed"
    );
}

impl Server {
    fn start(args: &[String]) -> Server {
        Self::start_listen(args, "127.0.0.1:0")
    }

    fn start_listen(args: &[String], listen: &str) -> Server {
        let mut child = signet()
            .arg("serve")
            .args(args)
            .args(["--listen", listen])
            .env("SIGNET_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut url = None;
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let Some(u) = line.strip_prefix("service index: ") {
                url = Some(u.to_owned());
                break;
            }
        }
        let url = url.expect("the server printed its service index URL");
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let base = url.strip_suffix("/v3/index.json").unwrap().to_owned();
        let addr = base.strip_prefix("http://").unwrap().to_owned();
        Server { child, base, addr }
    }

    fn get(&self, path: &str) -> (u16, Vec<u8>) {
        let r = request(&self.addr, "GET", path, &[], None);
        (r.status, r.body)
    }

    fn json(&self, path: &str) -> Value {
        let (status, body) = self.get(path);
        assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
        serde_json::from_slice(&body).unwrap()
    }

    fn push(&self, key: Option<&str>, nupkg: &[u8]) -> Response {
        push_to(&self.addr, key, nupkg)
    }

    fn set_listed(&self, key: &str, id: &str, version: &str, listed: bool) -> Response {
        let method = if listed { "POST" } else { "DELETE" };
        request(
            &self.addr,
            method,
            &format!("/api/v2/package/{id}/{version}"),
            &[("X-NuGet-ApiKey", key)],
            None,
        )
    }
}

impl Server {
    /// SIGTERM, as a service manager stops it: a graceful shutdown, which must succeed.
    fn stop(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = self.child.wait().unwrap();
        assert!(exit.success(), "signet serve exited with {exit}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
struct Response {
    status: u16,
    /// The status line's reason phrase, as NuGet prints it.
    reason: String,
    body: Vec<u8>,
}

/// A minimal HTTP/1.1 client, so that the reason phrase is visible.
fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, &[u8])>,
) -> Response {
    let mut s = TcpStream::connect(addr).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    let body_bytes: &[u8] = match body {
        Some((content_type, bytes)) => {
            head.push_str(&format!("Content-Type: {content_type}\r\n"));
            bytes
        }
        None => &[],
    };
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body_bytes.len()));
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body_bytes).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status_line = head.lines().next().unwrap();
    let mut parts = status_line.splitn(3, ' ');
    parts.next();
    let status: u16 = parts.next().unwrap().parse().unwrap();
    let reason = parts.next().unwrap_or("").to_owned();
    let mut body = raw[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    Response {
        status,
        reason,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..line_end]).unwrap().trim(), 16)
                .unwrap();
        data = &data[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

const BOUNDARY: &str = "signet-test-boundary-7d1f";

/// The multipart body NuGet sends: one part named `package`.
fn multipart(nupkg: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"package\"; filename=\"package.nupkg\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(nupkg);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

fn push_to(addr: &str, key: Option<&str>, nupkg: &[u8]) -> Response {
    let body = multipart(nupkg);
    let content_type = format!("multipart/form-data; boundary={BOUNDARY}");
    let mut headers = vec![];
    if let Some(k) = key {
        headers.push(("X-NuGet-ApiKey", k));
    }
    request(
        addr,
        "PUT",
        "/api/v2/package/",
        &headers,
        Some((&content_type, &body)),
    )
}

/// Where a test's server keeps its state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    /// SQLite and a blob directory in the data directory (the defaults).
    Local,
    /// PostgreSQL when `SIGNET_TEST_POSTGRES` is set, S3 when `SIGNET_TEST_S3` is set (the
    /// defaults for what is not set).
    External,
}

/// `true` (after saying so) when `test` cannot run on external services: none is configured.
fn skip_external(test: &str) -> bool {
    let configured = ["SIGNET_TEST_POSTGRES", "SIGNET_TEST_S3"]
        .iter()
        .any(|v| std::env::var_os(v).is_some());
    if !configured {
        eprintln!(
            "skipped: {test} on PostgreSQL/S3: set SIGNET_TEST_POSTGRES and/or SIGNET_TEST_S3 \
             (scripts/test.sh starts both services and sets them)"
        );
    }
    !configured
}

/// Two tests from `fn $name(Backend)`: `$name::local` and `$name::external`.
macro_rules! on_each_backend {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn local() {
                super::$name(super::Backend::Local);
            }

            #[test]
            fn external() {
                if !super::skip_external(stringify!($name)) {
                    super::$name(super::Backend::External);
                }
            }
        }
    )*};
}

on_each_backend!(
    push_download_unlist_relist_search_registration_and_install,
    download_counts_reach_search_results,
    api_key_scopes_globs_ownership_and_expiry,
    concurrent_pushes_of_one_version_give_one_201_and_one_409,
    kill_9_mid_push_leaves_nothing_visible,
    two_servers_behind_one_database_and_one_blob_store_behave_as_one,
    organizations_and_owners,
    transparency_log_checked_by_go_sumdb,
    two_replicas_appending_concurrently_keep_one_log,
    kill_9_during_appends_leaves_checkpoints_that_match_the_tiles,
);

/// One server instance's state: a data directory, and on [`Backend::External`] a database of
/// its own on PostgreSQL and a bucket of its own on S3 (as configured).
struct Instance {
    dir: PathBuf,
    data: PathBuf,
    database: Option<String>,
    /// (endpoint, bucket)
    s3: Option<(String, String)>,
}

impl Instance {
    fn new(dir: &Path, backend: Backend) -> Instance {
        let external = |var: &str| match backend {
            Backend::Local => None,
            Backend::External => std::env::var(var).ok(),
        };
        let database = external("SIGNET_TEST_POSTGRES").map(|base| {
            static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let name = format!(
                "signet_{}_{}",
                std::process::id(),
                NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            );
            let out = Command::new("psql")
                .arg(format!("{base}/postgres"))
                .args([
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-c",
                    &format!("CREATE DATABASE {name}"),
                ])
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            format!("{base}/{name}")
        });
        let s3 = external("SIGNET_TEST_S3").map(|endpoint| {
            static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let bucket = format!(
                "signet-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            );
            let addr = endpoint
                .strip_prefix("http://")
                .unwrap()
                .trim_end_matches('/');
            let r = request(addr, "PUT", &format!("/{bucket}"), &[], None);
            assert_eq!(r.status, 200, "create bucket: {r:?}");
            (endpoint, bucket)
        });
        Instance {
            dir: dir.to_path_buf(),
            data: dir.join("data"),
            database,
            s3,
        }
    }

    /// A configuration file for this instance, with extra `[server]` and `[limits]` lines.
    fn config(&self, server_extra: &str, limits: &str) -> PathBuf {
        let path = self.dir.join("signet.toml");
        let mut text = format!(
            "data_dir = \"{}\"\n[server]\n{server_extra}\n",
            self.data.display()
        );
        if let Some(url) = &self.database {
            text.push_str(&format!("[database]\nurl = \"{url}\"\n"));
        }
        if let Some((endpoint, bucket)) = &self.s3 {
            text.push_str(&format!(
                "[storage]\nkind = \"s3\"\nbucket = \"{bucket}\"\nendpoint = \"{endpoint}\"\n\
                 region = \"us-east-1\"\naccess_key_id = \"test\"\nsecret_access_key = \"test\"\n\
                 allow_http = true\n"
            ));
        }
        text.push_str(&format!("[limits]\n{limits}\n"));
        // Checkpoints every 200 ms, so that tests of the transparency log wait little.
        text.push_str("[transparency_log]\ncheckpoint_interval_ms = 200\n");
        std::fs::write(&path, text).unwrap();
        path
    }

    /// How many package files the blob store holds.
    /// Package blobs in the store: the keys under `packages/` (stapled revocation status
    /// lives under `staples/` in the same store).
    fn blob_count(&self) -> usize {
        match &self.s3 {
            None => files_under(&self.data.join("blobs").join("packages")).len(),
            Some((endpoint, bucket)) => {
                let addr = endpoint
                    .strip_prefix("http://")
                    .unwrap()
                    .trim_end_matches('/');
                let r = request(
                    addr,
                    "GET",
                    &format!("/{bucket}?list-type=2&prefix=packages/"),
                    &[],
                    None,
                );
                assert_eq!(r.status, 200, "{r:?}");
                String::from_utf8_lossy(&r.body).matches("<Key>").count()
            }
        }
    }

    fn args(&self) -> Vec<String> {
        vec![
            "--config".into(),
            self.config("", "").to_str().unwrap().into(),
        ]
    }
}

fn create_user(inst: &Instance, name: &str) {
    let mut child = signet()
        .arg("admin")
        .args(inst.args())
        // The instance may not have served yet: its database is made here.
        .arg("--create")
        .args(["create-user", name])
        .args([
            "--email",
            &format!("{name}@example.invalid"),
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"correct horse battery staple\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
}

fn create_key(inst: &Instance, user: &str, extra: &[&str]) -> String {
    let out = signet()
        .arg("admin")
        .args(inst.args())
        .args(["create-api-key", user])
        .args(extra)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let key = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(key.starts_with("signet_"), "{key}");
    key
}

fn package(id: &str, version: &str) -> Vec<u8> {
    PackageBuilder::new(id, version)
        .file("lib/net8.0/x.dll", format!("{id} {version}").as_bytes())
        .build()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

fn push_download_unlist_relist_search_registration_and_install(backend: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let inst = Instance::new(tmp.path(), backend);
    create_user(&inst, "alice");
    let key = create_key(&inst, "alice", &[]);
    let server = Server::start(&inst.args());

    // Service index with the aliases NuGet 5.x looks for (spec §6.1).
    let index = server.json("/v3/index.json");
    assert_eq!(index["version"], "3.0.0");
    let types: Vec<&str> = index["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["@type"].as_str().unwrap())
        .collect();
    for t in [
        "PackagePublish/2.0.0",
        "PackageBaseAddress/3.0.0",
        "RegistrationsBaseUrl/3.0.0-beta",
        "RegistrationsBaseUrl/3.6.0",
        "SearchQueryService/3.0.0-beta",
        "SearchAutocompleteService/3.0.0-beta",
    ] {
        assert!(types.contains(&t), "{t} missing from {types:?}");
    }
    assert_eq!(server.json("/health")["status"], "ok");

    let widgets = PackageBuilder::new("Contoso.Widgets", "1.0.0")
        .description("Widgets & gadgets")
        .dependency(Some("net8.0"), "Contoso.Core", Some("[1.0.0, )"))
        .file("lib/net8.0/w.dll", b"w")
        .build();
    let core = package("Contoso.Core", "1.0.0");
    let beta = package("Contoso.Widgets", "2.0.0-beta.1");
    for p in [&widgets, &core, &beta] {
        let r = server.push(Some(&key), p);
        assert_eq!(r.status, 201, "{r:?}");
    }
    let dup = server.push(Some(&key), &widgets);
    assert_eq!(dup.status, 409);
    assert_eq!(dup.reason, "Contoso.Widgets 1.0.0 already exists");

    // 400 with a reason, 401 without a key.
    let r = server.push(Some(&key), b"not a zip");
    assert_eq!(r.status, 400);
    assert!(r.reason.contains("not a valid .nupkg"), "{}", r.reason);
    let r = server.push(Some(&key), &package("bad..id", "1.0.0"));
    assert_eq!(r.status, 400);
    assert!(r.reason.contains("package id"), "{}", r.reason);
    let bad_dep = PackageBuilder::new("Contoso.BadDep", "1.0.0")
        .dependency(None, "Contoso.Core", Some("[oops"))
        .build();
    let r = server.push(Some(&key), &bad_dep);
    assert_eq!(r.status, 400);
    assert!(r.reason.contains("version range"), "{}", r.reason);
    assert_eq!(server.push(None, &core).status, 401);
    assert_eq!(server.push(Some("signet_nope"), &core).status, 401);

    // Prometheus counters.
    let (status, metrics) = server.get("/metrics");
    assert_eq!(status, 200);
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(
        metrics.contains("signet_pushes_total{result=\"accepted\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("signet_pushes_total{result=\"refused\"} 6"),
        "{metrics}"
    );
    assert!(metrics.contains("signet_http_requests_total{route=\"push\",status=\"4xx\"} 6"));

    // Flat container: lower-case normalised versions, exact bytes, the nuspec.
    let flat = server.json("/v3-flatcontainer/Contoso.Widgets/index.json");
    assert_eq!(
        flat["versions"],
        serde_json::json!(["1.0.0", "2.0.0-beta.1"])
    );
    let (status, bytes) =
        server.get("/v3-flatcontainer/contoso.widgets/1.0.0/contoso.widgets.1.0.0.nupkg");
    assert_eq!(status, 200);
    assert_repository_signed_copy(&bytes, &widgets);
    let (status, nuspec) =
        server.get("/v3-flatcontainer/contoso.widgets/1.0.0/contoso.widgets.nuspec");
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&nuspec).contains("<id>Contoso.Widgets</id>"));
    assert_eq!(server.get("/v3-flatcontainer/nope/index.json").0, 404);
    assert_eq!(
        server
            .get("/v3-flatcontainer/contoso.widgets/9.0.0/contoso.widgets.9.0.0.nupkg")
            .0,
        404
    );

    // Registration: one inlined page, dependencies, packageContent.
    let reg = server.json("/v3/registration/contoso.widgets/index.json");
    let items = reg["items"][0]["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let entry = &items[0]["catalogEntry"];
    assert_eq!(entry["id"], "Contoso.Widgets");
    assert_eq!(entry["version"], "1.0.0");
    assert_eq!(entry["listed"], true);
    assert_eq!(entry["description"], "Widgets & gadgets");
    assert_eq!(entry["dependencyGroups"][0]["targetFramework"], "net8.0");
    assert_eq!(
        entry["dependencyGroups"][0]["dependencies"][0]["id"],
        "Contoso.Core"
    );
    assert!(
        items[0]["packageContent"]
            .as_str()
            .unwrap()
            .ends_with("/v3-flatcontainer/contoso.widgets/1.0.0/contoso.widgets.1.0.0.nupkg")
    );
    let leaf = server.json("/v3/registration/contoso.widgets/1.0.0.json");
    assert_eq!(leaf["listed"], true);

    // Search and autocomplete.
    let s = server.json("/v3/query?q=widgets&semVerLevel=2.0.0");
    assert_eq!(s["totalHits"], 1);
    assert_eq!(s["data"][0]["version"], "1.0.0");
    assert_eq!(s["data"][0]["owners"], serde_json::json!(["alice"]));
    let s = server.json("/v3/query?q=WIDGETS&prerelease=true&semVerLevel=2.0.0");
    assert_eq!(s["data"][0]["version"], "2.0.0-beta.1");
    let s = server.json("/v3/query?q=&prerelease=false");
    assert_eq!(s["totalHits"], 2);
    let a = server.json("/v3/autocomplete?q=contoso");
    assert_eq!(
        a["data"],
        serde_json::json!(["Contoso.Core", "Contoso.Widgets"])
    );
    let a = server.json("/v3/autocomplete?id=contoso.widgets&prerelease=true&semVerLevel=2.0.0");
    assert_eq!(a["data"], serde_json::json!(["1.0.0", "2.0.0-beta.1"]));

    // Unlist: gone from search, still downloadable, `listed: false` in registrations.
    let r = server.set_listed(&key, "Contoso.Widgets", "1.0.0", false);
    assert_eq!(r.status, 200, "{r:?}");
    let s = server.json("/v3/query?q=widgets");
    assert_eq!(s["totalHits"], 0);
    assert_eq!(
        server.json("/v3-flatcontainer/contoso.widgets/index.json")["versions"][0],
        "1.0.0"
    );
    let reg = server.json("/v3/registration/contoso.widgets/index.json");
    assert_eq!(reg["items"][0]["items"][0]["catalogEntry"]["listed"], false);
    let r = server.set_listed(&key, "Contoso.Widgets", "1.0.0", true);
    assert_eq!(r.status, 200);
    assert_eq!(server.json("/v3/query?q=widgets")["totalHits"], 1);
    assert_eq!(
        server
            .set_listed(&key, "Contoso.Widgets", "7.0.0", false)
            .status,
        404
    );

    // signet install as a real client of the server (unsigned packages: developer policy).
    let packages = tmp.path().join("packages");
    let out = signet()
        .args([
            "install",
            "Contoso.Widgets",
            "--source",
            &format!("{}/v3/index.json", server.base),
        ])
        .args(["--policy", "developer", "--allow-insecure-loopback"])
        .args(["--packages", packages.to_str().unwrap()])
        .env("NUGET_CERT_REVOCATION_MODE", "offline")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(
        packages
            .join("contoso.widgets/1.0.0/contoso.widgets.1.0.0.nupkg")
            .is_file()
    );
    assert!(
        packages
            .join("contoso.core/1.0.0/contoso.core.1.0.0.nupkg")
            .is_file()
    );
}

/// Flat-container downloads counted per version and per package in search results (§6.5):
/// written to the database at a graceful shutdown, and every few seconds while serving.
fn download_counts_reach_search_results(backend: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let inst = Instance::new(tmp.path(), backend);
    create_user(&inst, "alice");
    let key = create_key(&inst, "alice", &[]);
    let server = Server::start(&inst.args());
    for v in ["1.0.0", "2.0.0"] {
        assert_eq!(
            server.push(Some(&key), &package("Counted.Pkg", v)).status,
            201
        );
    }
    let nupkg = |v: &str| format!("/v3-flatcontainer/counted.pkg/{v}/counted.pkg.{v}.nupkg");
    for path in [
        nupkg("1.0.0"),
        nupkg("1.0.0"),
        nupkg("2.0.0"),
        nupkg("3.0.0"),
    ] {
        server.get(&path);
    }
    // A nuspec or an index is no download.
    assert_eq!(
        server
            .get("/v3-flatcontainer/counted.pkg/1.0.0/counted.pkg.nuspec")
            .0,
        200
    );
    assert_eq!(
        server.get("/v3-flatcontainer/counted.pkg/index.json").0,
        200
    );
    server.stop();

    let server = Server::start(&inst.args());
    let downloads = |s: &Server| {
        let hit = &s.json("/v3/query?q=counted")["data"][0];
        let versions: Vec<(String, i64)> = hit["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                (
                    v["version"].as_str().unwrap().to_owned(),
                    v["downloads"].as_i64().unwrap(),
                )
            })
            .collect();
        (hit["totalDownloads"].as_i64().unwrap(), versions)
    };
    let counted = |total: i64, first: i64| {
        (
            total,
            vec![("1.0.0".to_owned(), first), ("2.0.0".to_owned(), 1)],
        )
    };
    assert_eq!(downloads(&server), counted(3, 2));

    // While serving: visible after the next periodic flush.
    server.get(&nupkg("1.0.0"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while downloads(&server) != counted(4, 3) {
        assert!(Instant::now() < deadline, "{:?}", downloads(&server));
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn api_key_scopes_globs_ownership_and_expiry(backend: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let inst = Instance::new(tmp.path(), backend);
    let data = inst.data.clone();
    create_user(&inst, "alice");
    create_user(&inst, "bob");
    let contoso_only = create_key(
        &inst,
        "alice",
        &["--scopes", "push", "--packages", "Contoso.*"],
    );
    let versions_only = create_key(&inst, "alice", &["--scopes", "push-version"]);
    let unlist_only = create_key(&inst, "alice", &["--scopes", "unlist"]);
    let expired = create_key(&inst, "alice", &["--expires-in", "0"]);
    let bob = create_key(&inst, "bob", &[]);
    let server = Server::start(&inst.args());

    let r = server.push(Some(&contoso_only), &package("Other.Thing", "1.0.0"));
    assert_eq!(r.status, 403);
    assert!(r.reason.contains("package globs"), "{}", r.reason);
    assert_eq!(
        server
            .push(Some(&contoso_only), &package("contoso.a", "1.0.0"))
            .status,
        201
    );

    // push-version may add versions to an owned id, never create an id.
    let r = server.push(Some(&versions_only), &package("Contoso.New", "1.0.0"));
    assert_eq!(r.status, 403);
    assert!(r.reason.contains("push-new"), "{}", r.reason);
    assert_eq!(
        server
            .push(Some(&versions_only), &package("Contoso.A", "1.1.0"))
            .status,
        201
    );
    assert_eq!(
        server
            .push(Some(&unlist_only), &package("Contoso.A", "1.2.0"))
            .status,
        403
    );

    // Another account: cannot push to or unlist alice's package.
    let r = server.push(Some(&bob), &package("Contoso.A", "2.0.0"));
    assert_eq!(r.status, 403);
    assert!(r.reason.contains("another account"), "{}", r.reason);
    assert_eq!(
        server.set_listed(&bob, "Contoso.A", "1.0.0", false).status,
        403
    );
    assert_eq!(
        server
            .set_listed(&contoso_only, "Contoso.A", "1.0.0", false)
            .status,
        403
    );
    assert_eq!(
        server
            .set_listed(&unlist_only, "Contoso.A", "1.0.0", false)
            .status,
        200
    );

    let r = server.push(Some(&expired), &package("Contoso.B", "1.0.0"));
    assert_eq!(r.status, 401);
    assert!(r.reason.contains("expired"), "{}", r.reason);

    // Listing shows ids and settings, never secrets; a revoked key is refused at once.
    let out = admin(&inst, &["list-api-keys", "bob"]);
    assert!(out.status.success(), "{out:?}");
    let listing = String::from_utf8(out.stdout).unwrap();
    assert!(!listing.contains(&bob), "{listing}");
    let line = listing.lines().next().unwrap();
    assert!(
        line.contains("owner=bob") && line.contains("packages=*"),
        "{line}"
    );
    let id = line.split('\t').next().unwrap();
    assert!(
        admin(&inst, &["revoke-api-key", "bob", id])
            .status
            .success()
    );
    let r = server.push(Some(&bob), &package("Bob.Pkg", "1.0.0"));
    assert_eq!(r.status, 401);
    assert!(r.reason.contains("revoked"), "{}", r.reason);
    assert!(
        !admin(&inst, &["revoke-api-key", "bob", id])
            .status
            .success()
    );

    // Keys are stored hashed: the secret is nowhere in the database file.
    if inst.database.is_none() {
        let db = std::fs::read(data.join("signet.db")).unwrap();
        assert!(!db.windows(bob.len()).any(|w| w == bob.as_bytes()));
    }
}

fn concurrent_pushes_of_one_version_give_one_201_and_one_409(backend: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let inst = Instance::new(tmp.path(), backend);
    create_user(&inst, "alice");
    let key = create_key(&inst, "alice", &[]);
    let server = Server::start(&inst.args());
    for round in 0..8 {
        // A new id each round, so both transactions also race on creating the package.
        let nupkg = package(&format!("Race.P{round}"), "1.0.0");
        let barrier = std::sync::Barrier::new(2);
        let statuses: Vec<u16> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        push_to(&server.addr, Some(&key), &nupkg).status
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut sorted = statuses.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, vec![201, 409], "round {round}");
        let flat = server.json(&format!("/v3-flatcontainer/race.p{round}/index.json"));
        assert_eq!(flat["versions"], serde_json::json!(["1.0.0"]));
    }
    // The loser's blob was removed: one file per version.
    assert_eq!(inst.blob_count(), 8);
}

fn kill_9_mid_push_leaves_nothing_visible(backend: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let inst = Instance::new(tmp.path(), backend);
    let data = inst.data.clone();
    create_user(&inst, "alice");
    let key = create_key(&inst, "alice", &[]);
    let mut server = Server::start(&inst.args());

    // A 4 MB package sent by a slow client: half of it, then the server is killed.
    let big: Vec<u8> = (0..4_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let nupkg = PackageBuilder::new("Crash.Big", "1.0.0")
        .stored(true)
        .file("content/big.bin", &big)
        .build();
    let body = multipart(&nupkg);
    let mut s = TcpStream::connect(&server.addr).unwrap();
    write!(
        s,
        "PUT /api/v2/package/ HTTP/1.1\r\nHost: {}\r\nX-NuGet-ApiKey: {key}\r\n\
         Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {}\r\n\r\n",
        server.addr,
        body.len()
    )
    .unwrap();
    let half = body.len() / 2;
    for chunk in body[..half].chunks(256 * 1024) {
        s.write_all(chunk).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    // Wait until the server is writing the upload, then kill -9 it.
    let uploads = data.join("uploads");
    let deadline = Instant::now() + Duration::from_secs(20);
    while files_under(&uploads)
        .iter()
        .all(|f| std::fs::metadata(f).map_or(0, |m| m.len()) < 1_000_000)
    {
        assert!(Instant::now() < deadline, "the upload never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    drop(s);
    assert!(
        !files_under(&uploads).is_empty(),
        "a partial upload was left behind"
    );

    // Restart with orphan clean-up at once (grace 0): nothing partial is visible, the
    // abandoned upload is removed, and the same version can be pushed whole.
    let config = inst.config("orphan_grace_seconds = 0", "max_package_size = 8000000");
    drop(server);
    let server = Server::start(&["--config".into(), config.to_str().unwrap().into()]);
    assert_eq!(server.get("/v3-flatcontainer/crash.big/index.json").0, 404);
    assert_eq!(server.get("/v3/registration/crash.big/index.json").0, 404);
    assert_eq!(server.json("/v3/query?q=crash")["totalHits"], 0);
    assert_eq!(inst.blob_count(), 0);
    assert!(files_under(&uploads).is_empty());
    let r = server.push(Some(&key), &nupkg);
    assert_eq!(r.status, 201, "{r:?}");
    let (status, bytes) = server.get("/v3-flatcontainer/crash.big/1.0.0/crash.big.1.0.0.nupkg");
    assert_eq!(status, 200);
    assert_repository_signed_copy(&bytes, &nupkg);

    // The configured size limit: 413 with the limit in the reason phrase.
    let huge = PackageBuilder::new("Crash.Huge", "1.0.0")
        .stored(true)
        .file("content/a.bin", &big)
        .file("content/b.bin", &big)
        .build();
    let r = server.push(Some(&key), &huge);
    assert_eq!(r.status, 413, "{r:?}");
    assert!(r.reason.contains("8000000"), "{}", r.reason);
}

fn two_servers_behind_one_database_and_one_blob_store_behave_as_one(backend: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let inst = Instance::new(tmp.path(), backend);
    create_user(&inst, "alice");
    let key = create_key(&inst, "alice", &[]);
    let a = Server::start(&inst.args());
    let b = Server::start(&inst.args());

    let nupkg = package("Shared.Pkg", "1.0.0");
    assert_eq!(a.push(Some(&key), &nupkg).status, 201);
    assert_eq!(b.push(Some(&key), &nupkg).status, 409);
    let (status, bytes) = b.get("/v3-flatcontainer/shared.pkg/1.0.0/shared.pkg.1.0.0.nupkg");
    assert_eq!(status, 200);
    assert_repository_signed_copy(&bytes, &nupkg);
    assert_eq!(b.set_listed(&key, "Shared.Pkg", "1.0.0", false).status, 200);
    assert_eq!(a.json("/v3/query?q=shared")["totalHits"], 0);

    // The same version pushed to both servers at once: one 201, one 409.
    for round in 0..4 {
        let nupkg = package(&format!("Shared.Race{round}"), "1.0.0");
        let barrier = std::sync::Barrier::new(2);
        let statuses: Vec<u16> = std::thread::scope(|s| {
            let handles: Vec<_> = [&a.addr, &b.addr]
                .into_iter()
                .map(|addr| {
                    let (barrier, nupkg, key) = (&barrier, &nupkg, &key);
                    s.spawn(move || {
                        barrier.wait();
                        push_to(addr, Some(key), nupkg).status
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut sorted = statuses;
        sorted.sort_unstable();
        assert_eq!(sorted, vec![201, 409], "round {round}");
    }
}

fn admin(inst: &Instance, args: &[&str]) -> std::process::Output {
    signet()
        .arg("admin")
        .args(inst.args())
        .args(args)
        .output()
        .unwrap()
}

fn organizations_and_owners(backend: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let inst = Instance::new(tmp.path(), backend);
    for user in ["alice", "bob", "carol"] {
        create_user(&inst, user);
    }
    let ok = |args: &[&str]| {
        let out = admin(&inst, args);
        assert!(out.status.success(), "{args:?}: {out:?}");
    };
    ok(&["create-organization", "contoso", "--admin", "alice"]);
    ok(&["add-member", "contoso", "bob", "--role", "collaborator"]);
    // A key acting for the organization; only members may have one.
    let org_key = create_key(&inst, "alice", &["--owner", "contoso"]);
    assert!(
        !admin(&inst, &["create-api-key", "carol", "--owner", "contoso"])
            .status
            .success()
    );
    let bob = create_key(&inst, "bob", &[]);
    let carol = create_key(&inst, "carol", &[]);
    let server = Server::start(&inst.args());

    // The first push through the organization's key makes the organization the owner, so
    // every member may push further versions; others may not.
    assert_eq!(
        server
            .push(Some(&org_key), &package("Org.Pkg", "1.0.0"))
            .status,
        201
    );
    let s = server.json("/v3/query?q=org.pkg");
    assert_eq!(s["data"][0]["owners"], serde_json::json!(["contoso"]));
    assert_eq!(
        server.push(Some(&bob), &package("Org.Pkg", "1.1.0")).status,
        201
    );
    assert_eq!(
        server
            .push(Some(&carol), &package("Org.Pkg", "1.2.0"))
            .status,
        403
    );

    // Owners added with consent and removed; never the last one. A request alone makes
    // carol no owner.
    ok(&["add-owner", "Org.Pkg", "carol"]);
    assert_eq!(
        server
            .push(Some(&carol), &package("Org.Pkg", "1.2.0"))
            .status,
        403
    );
    let requests = admin(&inst, &["owner-requests", "carol"]);
    assert!(
        String::from_utf8_lossy(&requests.stdout).contains("Org.Pkg\tcarol"),
        "{requests:?}"
    );
    // Only carol (or an administrator of an invited organization) answers.
    assert!(
        !admin(&inst, &["accept-owner", "Org.Pkg", "carol", "--as", "bob"])
            .status
            .success()
    );
    ok(&["accept-owner", "Org.Pkg", "carol"]);
    assert_eq!(
        server
            .push(Some(&carol), &package("Org.Pkg", "1.2.0"))
            .status,
        201
    );
    let s = server.json("/v3/query?q=org.pkg");
    assert_eq!(
        s["data"][0]["owners"],
        serde_json::json!(["carol", "contoso"])
    );
    ok(&["remove-owner", "Org.Pkg", "carol"]);
    assert_eq!(
        server
            .push(Some(&carol), &package("Org.Pkg", "1.3.0"))
            .status,
        403
    );
    let out = admin(&inst, &["remove-owner", "Org.Pkg", "contoso"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("last owner"),
        "{out:?}"
    );
    assert!(
        !admin(&inst, &["add-owner", "No.Such", "carol"])
            .status
            .success()
    );
}

/// A real NuGet client: `nuget.exe` 5.8 under Mono pushes with an API key (201, then 409 and
/// `-SkipDuplicate`), installs from the v3 feed (registrations + flat container), and deletes
/// (unlists). Runs when `SIGNET_NUGET_EXE` names nuget.exe (`scripts/test.sh` and
/// `scripts/test-serve-nuget-exe.sh` set it; `scripts/install-deps.sh` installs Mono and the npm
/// package `nuget-exe`); otherwise it says so and passes. On the default backends only.
#[test]
fn nuget_exe_pushes_installs_and_deletes() {
    let Ok(nuget) = std::env::var("SIGNET_NUGET_EXE") else {
        eprintln!("skipped: SIGNET_NUGET_EXE is not set (scripts/test.sh sets it)");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let inst = Instance::new(tmp.path(), Backend::Local);
    create_user(&inst, "alice");
    let key = create_key(&inst, "alice", &[]);
    let server = Server::start(&inst.args());
    let index = format!("{}/v3/index.json", server.base);
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let run = |args: &[&str]| {
        let out = Command::new("mono")
            .arg(&nuget)
            .args(args)
            .args(["-NonInteractive", "-Verbosity", "detailed"])
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .current_dir(tmp.path())
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    let dep = package("Mono.Dep", "1.0.0");
    let top = PackageBuilder::new("Mono.Top", "1.0.0")
        .dependency(None, "Mono.Dep", Some("1.0.0"))
        .file("lib/net48/top.dll", b"top")
        .build();
    for (name, bytes) in [
        ("Mono.Dep.1.0.0.nupkg", &dep),
        ("Mono.Top.1.0.0.nupkg", &top),
    ] {
        let path = tmp.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let (ok, text) = run(&[
            "push",
            path.to_str().unwrap(),
            "-Source",
            &index,
            "-ApiKey",
            &key,
        ]);
        assert!(ok, "{text}");
    }
    let dup = tmp.path().join("Mono.Top.1.0.0.nupkg");
    let (ok, text) = run(&[
        "push",
        dup.to_str().unwrap(),
        "-Source",
        &index,
        "-ApiKey",
        &key,
    ]);
    assert!(!ok);
    assert!(
        text.contains("409") && text.contains("already exists"),
        "{text}"
    );
    let (ok, text) = run(&[
        "push",
        dup.to_str().unwrap(),
        "-Source",
        &index,
        "-ApiKey",
        &key,
        "-SkipDuplicate",
    ]);
    assert!(ok, "{text}");
    let (ok, text) = run(&[
        "push",
        dup.to_str().unwrap(),
        "-Source",
        &index,
        "-ApiKey",
        "signet_wrong",
    ]);
    assert!(!ok && text.contains("401"), "{text}");

    // signet push and nuget.exe side by side on the same refusals print the same status and
    // reason (issue "A new user's first hour").
    let bad_url = tmp.path().join("Mono.BadUrl.1.0.0.nupkg");
    std::fs::write(
        &bad_url,
        PackageBuilder::new("Mono.BadUrl", "1.0.0")
            .nuspec(
                br#"<?xml version="1.0"?><package><metadata><id>Mono.BadUrl</id><version>1.0.0</version><authors>x</authors><description>x</description><projectUrl>javascript:alert(1)</projectUrl></metadata></package>"#,
            )
            .file("lib/net48/x.dll", b"x")
            .build(),
    )
    .unwrap();
    let reason_of = |text: &str| -> Option<String> {
        let start = text.find("does not indicate success: ")? + "does not indicate success: ".len();
        let rest = &text[start..];
        let end = rest.find(").")?;
        Some(rest[..=end].to_string())
    };
    for (what, path, api_key) in [
        ("409", &dup, key.as_str()),
        ("401", &dup, "signet_wrong"),
        ("400", &bad_url, key.as_str()),
    ] {
        let (ok, nuget_text) = run(&[
            "push",
            path.to_str().unwrap(),
            "-Source",
            &index,
            "-ApiKey",
            api_key,
        ]);
        assert!(!ok, "{what}: {nuget_text}");
        let o = signet()
            .args(["push", path.to_str().unwrap(), "--source", &index])
            .args(["--api-key", api_key, "--allow-insecure-loopback"])
            .output()
            .unwrap();
        let signet_text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        let (Some(a), Some(b)) = (reason_of(&nuget_text), reason_of(&signet_text)) else {
            panic!("{what}: no reason in\nnuget.exe: {nuget_text}\nsignet: {signet_text}");
        };
        assert!(a.starts_with(what), "{what}: {a}");
        assert_eq!(a, b, "{what}: nuget.exe and signet differ");
    }

    let out_dir = tmp.path().join("installed");
    let (ok, text) = run(&[
        "install",
        "Mono.Top",
        "-Source",
        &index,
        "-OutputDirectory",
        out_dir.to_str().unwrap(),
    ]);
    assert!(ok, "{text}");
    assert!(
        out_dir
            .join("Mono.Top.1.0.0/Mono.Top.1.0.0.nupkg")
            .is_file(),
        "{text}"
    );
    assert!(
        out_dir
            .join("Mono.Dep.1.0.0/Mono.Dep.1.0.0.nupkg")
            .is_file(),
        "{text}"
    );

    let (ok, text) = run(&[
        "delete", "Mono.Top", "1.0.0", "-Source", &index, "-ApiKey", &key,
    ]);
    assert!(ok, "{text}");
    let reg = server.json("/v3/registration/mono.top/index.json");
    assert_eq!(reg["items"][0]["items"][0]["catalogEntry"]["listed"], false);

    // `nuget list` goes through the V2 feed the service index announces (LegacyGallery).
    // Mono.Dep gets 1.1.0 and an unlisted 1.2.0; Mono.Top's only version is unlisted.
    for version in ["1.1.0", "1.2.0"] {
        let path = tmp.path().join(format!("Mono.Dep.{version}.nupkg"));
        std::fs::write(&path, package("Mono.Dep", version)).unwrap();
        let (ok, text) = run(&[
            "push",
            path.to_str().unwrap(),
            "-Source",
            &index,
            "-ApiKey",
            &key,
        ]);
        assert!(ok, "{text}");
    }
    let (ok, text) = run(&[
        "delete", "Mono.Dep", "1.2.0", "-Source", &index, "-ApiKey", &key,
    ]);
    assert!(ok, "{text}");
    // At normal verbosity `list` prints one "Id Version" line per package.
    let list = |args: &[&str]| {
        let out = Command::new("mono")
            .arg(&nuget)
            .arg("list")
            .args(args)
            .args(["-Source", &index, "-NonInteractive", "-Verbosity", "normal"])
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .current_dir(tmp.path())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let text = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{text}");
        eprintln!("nuget list {}:\n{text}", args.join(" "));
        let lines: Vec<String> = stdout
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("Mono."))
            .map(str::to_owned)
            .collect();
        (lines, text)
    };
    let (lines, text) = list(&[]);
    assert_eq!(lines, ["Mono.Dep 1.1.0"], "{text}");
    let (lines, text) = list(&["-AllVersions"]);
    assert_eq!(lines, ["Mono.Dep 1.1.0", "Mono.Dep 1.0.0"], "{text}");
    let (lines, text) = list(&["dep", "-AllVersions"]);
    assert_eq!(lines, ["Mono.Dep 1.1.0", "Mono.Dep 1.0.0"], "{text}");
    let (lines, text) = list(&["Mono.Top"]);
    assert!(
        lines.is_empty() && text.contains("No packages found"),
        "{text}"
    );
}

/// A `signet serve` child whose stdout and stderr (logging at debug) are kept, to search for
/// secrets that must not be there.
struct LoggedServer {
    server: Server,
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl LoggedServer {
    fn start(args: &[String]) -> LoggedServer {
        let mut child = signet()
            .arg("serve")
            .args(args)
            .args(["--listen", "127.0.0.1:0"])
            .env("SIGNET_LOG", "debug")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut url = None;
        for line in lines.by_ref() {
            let line = line.unwrap();
            log.lock().unwrap().push_str(&format!("{line}\n"));
            if let Some(u) = line.strip_prefix("service index: ") {
                url = Some(u.to_owned());
                break;
            }
        }
        let url = url.expect("the server printed its service index URL");
        let keep = |log: std::sync::Arc<std::sync::Mutex<String>>| {
            move |line: std::io::Result<String>| {
                if let Ok(line) = line {
                    log.lock().unwrap().push_str(&format!("{line}\n"));
                }
            }
        };
        let out = keep(log.clone());
        std::thread::spawn(move || lines.for_each(out));
        let err = keep(log.clone());
        let stderr = BufReader::new(child.stderr.take().unwrap()).lines();
        std::thread::spawn(move || stderr.for_each(err));
        let base = url.strip_suffix("/v3/index.json").unwrap().to_owned();
        let addr = base.strip_prefix("http://").unwrap().to_owned();
        LoggedServer {
            server: Server { child, base, addr },
            log,
        }
    }
}

on_each_backend!(a_private_feed_reads_only_with_credentials);

/// Issue 19: `[access] read = "authenticated"`. Without credentials every document but
/// `/health` is a 401 with a Basic challenge; `signet install`, `signet trust source` and
/// `signet push` read a source's credentials from nuget.config (`ClearTextPassword`: an API
/// key or the account password) or `NuGetPackageSourceCredentials_{name}`; a key with only the
/// `read` scope reads and cannot push or unlist (403); and neither the clients' output nor the
/// server's debug log ever holds the password or a key.
fn a_private_feed_reads_only_with_credentials(backend: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let inst = Instance::new(tmp.path(), backend);
    create_user(&inst, "alice");
    let password = "correct horse battery staple";
    let push_key = create_key(&inst, "alice", &[]);
    let read_key = create_key(&inst, "alice", &["--scopes", "read"]);
    let config = inst.config(
        "[access]\nread = \"authenticated\"\n\
         [signing]\nannounce_repository_signatures_over_http = true\nrevocation_mode = \"offline\"",
        "",
    );
    let logged = LoggedServer::start(&["--config".into(), config.to_str().unwrap().into()]);
    let server = &logged.server;
    let index = format!("{}/v3/index.json", server.base);

    // Pushing needs only the API key, as before.
    let top = PackageBuilder::new("Private.Top", "1.0.0")
        .dependency(None, "Private.Dep", Some("1.0.0"))
        .file("lib/net48/top.dll", b"top")
        .build();
    for nupkg in [package("Private.Dep", "1.0.0"), top] {
        let r = server.push(Some(&push_key), &nupkg);
        assert_eq!(r.status, 201, "{r:?}");
    }
    // Nothing without credentials: the challenge NuGet clients answer.
    let anonymous = request(&server.addr, "GET", "/v3/index.json", &[], None);
    assert_eq!(anonymous.status, 401, "{anonymous:?}");
    for path in [
        "/v3-flatcontainer/private.dep/index.json",
        "/v3-flatcontainer/private.dep/1.0.0/private.dep.1.0.0.nupkg",
        "/v3/query?q=private",
        "/api/v2/Search()",
        "/packages/Private.Dep",
    ] {
        assert_eq!(server.get(path).0, 401, "{path}");
    }
    assert_eq!(server.get("/health").0, 200);
    // The read key reads, and cannot write.
    let read = request(
        &server.addr,
        "GET",
        "/v3-flatcontainer/private.dep/index.json",
        &[("X-NuGet-ApiKey", &read_key)],
        None,
    );
    assert_eq!(read.status, 200, "{read:?}");
    let r = server.push(Some(&read_key), &package("Private.Dep", "2.0.0"));
    assert_eq!(r.status, 403, "{r:?}");
    let r = server.set_listed(&read_key, "Private.Dep", "1.0.0", false);
    assert_eq!(r.status, 403, "{r:?}");

    // Client configurations: no credentials, the read key, the account password.
    let nuget_config_for = |index: &str, name: &str, credentials: Option<(&str, &str)>| {
        let path = tmp.path().join(name);
        let creds = credentials.map_or(String::new(), |(user, secret)| {
            format!(
                "<packageSourceCredentials><private>\
                 <add key=\"Username\" value=\"{user}\" />\
                 <add key=\"ClearTextPassword\" value=\"{secret}\" />\
                 </private></packageSourceCredentials>"
            )
        });
        std::fs::write(
            &path,
            format!(
                "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<configuration>\
                 <packageSources><clear /><add key=\"private\" value=\"{index}\" allowInsecureConnections=\"true\" />\
                 </packageSources>{creds}</configuration>"
            ),
        )
        .unwrap();
        path
    };
    let nuget_config = |name: &str, credentials| nuget_config_for(&index, name, credentials);
    let bare = nuget_config("bare.config", None);
    let with_key = nuget_config("key.config", Some(("ci", &read_key)));
    let with_password = nuget_config("password.config", Some(("alice", password)));
    let mut outputs = String::new();
    let mut record = |o: &std::process::Output| {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        outputs.push_str(&text);
        text
    };

    let install = |config: &Path, env: Option<(&str, &str)>, packages: &Path| {
        let mut cmd = signet();
        cmd.args(["install", "Private.Top", "--source", "private"])
            .args(["--configfile", config.to_str().unwrap()])
            .args(["--policy", "developer", "--allow-insecure-loopback"])
            .args(["--packages", packages.to_str().unwrap()])
            .env("NUGET_CERT_REVOCATION_MODE", "offline");
        if let Some((k, v)) = env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let packages = tmp.path().join("packages");
    let o = install(&bare, None, &packages);
    let text = record(&o);
    assert!(!o.status.success(), "{text}");
    assert!(
        text.contains("401") && text.contains("packageSourceCredentials"),
        "{text}"
    );
    assert!(!packages.join("private.top").exists());
    // A wrong password is refused (401), and the message says the credentials were refused.
    let wrong = nuget_config("wrong.config", Some(("alice", "not the password")));
    let o = install(&wrong, None, &packages);
    let text = record(&o);
    assert!(
        !o.status.success() && text.contains("refused the source's credentials"),
        "{text}"
    );
    for (n, (config, env)) in [
        (&with_key, None),
        (&with_password, None),
        (
            &bare,
            Some((
                "NuGetPackageSourceCredentials_private",
                format!("Username=alice;Password={password}"),
            )),
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let dir = tmp.path().join(format!("packages-{n}"));
        let o = install(config, env.as_ref().map(|(k, v)| (*k, v.as_str())), &dir);
        let text = record(&o);
        assert!(o.status.success(), "{text}");
        assert!(
            dir.join("private.top/1.0.0/private.top.1.0.0.nupkg")
                .is_file()
                && dir
                    .join("private.dep/1.0.0/private.dep.1.0.0.nupkg")
                    .is_file(),
            "{text}"
        );
        assert!(text.contains("credentials from"), "{text}");
    }

    // trust source reads the private service index with the source's credentials.
    let trust_config = tmp.path().join("trust.config");
    std::fs::copy(&with_key, &trust_config).unwrap();
    let trust = |config: &Path| {
        signet()
            .args(["trust", "--configfile", config.to_str().unwrap()])
            .args(["source", "private", "--allow-insecure-loopback"])
            .output()
            .unwrap()
    };
    let o = trust(&bare);
    let text = record(&o);
    assert!(!o.status.success() && text.contains("401"), "{text}");
    let o = trust(&trust_config);
    let text = record(&o);
    assert!(o.status.success(), "{text}");
    assert!(
        std::fs::read_to_string(&trust_config)
            .unwrap()
            .contains("<repository name=\"private\""),
        "trusted"
    );
    let o = signet()
        .args(["trust", "--configfile", trust_config.to_str().unwrap()])
        .args(["sync", "private", "--allow-insecure-loopback"])
        .output()
        .unwrap();
    let text = record(&o);
    assert!(o.status.success(), "{text}");

    // signet push: the service index with the source's credentials, the push with the key;
    // the read key is refused.
    let nupkg = tmp.path().join("Private.New.1.0.0.nupkg");
    std::fs::write(&nupkg, package("Private.New", "1.0.0")).unwrap();
    let push = |key: &str| {
        signet()
            .args(["push", nupkg.to_str().unwrap(), "--source", "private"])
            .args(["--configfile", with_key.to_str().unwrap()])
            .args(["--allow-insecure-loopback"])
            .env("SIGNET_API_KEY", key)
            .output()
            .unwrap()
    };
    let o = push(&read_key);
    let text = record(&o);
    assert!(!o.status.success() && text.contains("403"), "{text}");
    let o = push(&push_key);
    let text = record(&o);
    assert!(o.status.success(), "{text}");

    // nuget.exe under Mono, when available: 401 without credentials, installs with them. It
    // stops at a RepositorySignatures resource over http, so from a second server on the same
    // storage that does not announce it.
    let mut second_log = None;
    if let Ok(nuget) = std::env::var("SIGNET_NUGET_EXE") {
        let config = inst.config(
            "[access]\nread = \"authenticated\"\n[signing]\nrevocation_mode = \"offline\"",
            "",
        );
        let second = LoggedServer::start(&["--config".into(), config.to_str().unwrap().into()]);
        let index = format!("{}/v3/index.json", second.server.base);
        let bare = nuget_config_for(&index, "exe-bare.config", None);
        let with_key = nuget_config_for(&index, "exe-key.config", Some(("ci", &read_key)));
        let with_password =
            nuget_config_for(&index, "exe-password.config", Some(("alice", password)));
        let home = tmp.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        let run = |config: &Path, out: &Path| {
            Command::new("mono")
                .arg(&nuget)
                .args(["install", "Private.Top", "-Source", "private"])
                .args(["-ConfigFile", config.to_str().unwrap()])
                .args(["-OutputDirectory", out.to_str().unwrap()])
                .args(["-NonInteractive", "-Verbosity", "detailed"])
                .env("HOME", &home)
                .env("XDG_CONFIG_HOME", home.join(".config"))
                .current_dir(tmp.path())
                .output()
                .unwrap()
        };
        let out_dir = tmp.path().join("nuget-exe");
        let o = run(&bare, &out_dir);
        let text = record(&o);
        assert!(!o.status.success() && text.contains("401"), "{text}");
        assert!(!out_dir.join("Private.Top.1.0.0").exists(), "{text}");
        for config in [&with_key, &with_password] {
            let o = run(config, &out_dir);
            let text = record(&o);
            assert!(o.status.success(), "{text}");
            assert!(
                out_dir
                    .join("Private.Top.1.0.0/Private.Top.1.0.0.nupkg")
                    .is_file()
                    && out_dir
                        .join("Private.Dep.1.0.0/Private.Dep.1.0.0.nupkg")
                        .is_file(),
                "{text}"
            );
            std::fs::remove_dir_all(&out_dir).unwrap();
        }
        second_log = Some(second.log.lock().unwrap().clone());
    } else {
        eprintln!("nuget.exe part skipped: SIGNET_NUGET_EXE is not set (scripts/test.sh sets it)");
    }

    // No secret in any output: the clients', and the server's stdout and debug log.
    let server_log = logged.log.lock().unwrap().clone() + &second_log.unwrap_or_default();
    assert!(
        server_log.contains("request"),
        "the log was captured: {server_log}"
    );
    for (what, text) in [("client output", &outputs), ("server log", &server_log)] {
        for secret in [password, read_key.as_str(), push_key.as_str()] {
            assert!(
                !text.contains(secret),
                "{what} holds a secret ({} characters)",
                secret.len()
            );
        }
        // Nor the Basic header's encoding of it.
        use base64::Engine as _;
        for (user, secret) in [("ci", read_key.as_str()), ("alice", password)] {
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"));
            assert!(
                !text.contains(&encoded),
                "{what} holds an encoded credential"
            );
        }
    }
}

// --- the transparency log (issue 17) ---

/// The log's verifier key and newest checkpoint size, from the service index and /tlog/.
fn tlog_key(server: &Server) -> String {
    let index = server.json("/v3/index.json");
    let res = index["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["@type"] == "signet/TransparencyLog/1.0.0")
        .expect("the service index announces the transparency log")
        .clone();
    assert_eq!(res["@id"], format!("{}/tlog/", server.base));
    let vkey = res["verifierKey"].as_str().unwrap().to_owned();
    assert!(vkey.starts_with(&format!("{}+", res["origin"].as_str().unwrap())));
    vkey
}

fn checkpoint_size(server: &Server) -> u64 {
    let (status, body) = server.get("/tlog/checkpoint");
    if status != 200 {
        return 0;
    }
    String::from_utf8(body)
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap()
}

/// Waits until the served checkpoint covers `size` entries.
fn wait_for_checkpoint(server: &Server, size: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while checkpoint_size(server) < size {
        assert!(
            Instant::now() < deadline,
            "no checkpoint of size {size} within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Go's tlogcheck against the running server, or `None` (after saying so) without Go.
fn go_tlogcheck(dir: &Path) -> Option<PathBuf> {
    let Some(go) = signet_test_support::go_binary() else {
        eprintln!("Go part skipped: SIGNET_GO is not set (scripts/test.sh sets it)");
        return None;
    };
    Some(signet_test_support::build_tlogcheck(&go, dir).unwrap())
}

/// Must show 1 against the server: pushes, then Go's golang.org/x/mod/sumdb verifies the
/// served checkpoint (note.Open), authenticates the served tiles (TileHashReader), checks
/// every served entry bundle, and checks each version's tlog-proof (CheckRecord) and a
/// consistency proof between two checkpoints (CheckTree).
fn transparency_log_checked_by_go_sumdb(backend: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let inst = Instance::new(tmp.path(), backend);
    create_user(&inst, "alice");
    let key = create_key(&inst, "alice", &[]);
    let server = Server::start(&inst.args());
    let vkey = tlog_key(&server);
    let vkey_parsed = signet_tlog::VerifierKey::parse(&vkey).unwrap();
    let limits = signet_tlog::Limits::default();

    let mut pushed = Vec::new();
    for i in 0..3 {
        let nupkg = package(&format!("Contoso.Log{i}"), "1.0.0");
        assert_eq!(server.push(Some(&key), &nupkg).status, 201);
        pushed.push((format!("contoso.log{i}"), "1.0.0".to_owned(), nupkg));
    }
    wait_for_checkpoint(&server, 3);
    let (_, first) = server.get("/tlog/checkpoint");
    let first = signet_tlog::SignedCheckpoint::verify(&first, &vkey_parsed, &limits).unwrap();
    assert_eq!(first.checkpoint().size, 3);
    for i in 3..7 {
        let nupkg = package(&format!("Contoso.Log{i}"), "2.0.0-beta");
        assert_eq!(server.push(Some(&key), &nupkg).status, 201);
        pushed.push((format!("contoso.log{i}"), "2.0.0-beta".to_owned(), nupkg));
    }
    wait_for_checkpoint(&server, 7);
    let (_, second) = server.get("/tlog/checkpoint");
    let second = signet_tlog::SignedCheckpoint::verify(&second, &vkey_parsed, &limits).unwrap();
    assert_eq!(second.checkpoint().size, 7);

    // Each version: its proof is linked from the registration and the signature API, names
    // the version's entry, and verifies under the pinned key.
    for (id, version, nupkg) in &pushed {
        let leaf = server.json(&format!("/v3/registration/{id}/{version}.json"));
        let url = leaf["signet:transparencyLogProof"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(url, format!("{}/tlog/proof/{id}/{version}", server.base));
        let sig = server.json(&format!("/api/signet/packages/{id}/{version}/signature"));
        assert_eq!(sig["transparencyLogProof"], url);
        let (status, text) = server.get(url.strip_prefix(&server.base).unwrap());
        assert_eq!(status, 200);
        let proof = signet_tlog::TlogProof::parse(&text, &limits).unwrap();
        let entry = proof.extra.clone().unwrap();
        proof.verify(&entry, &vkey_parsed, &limits).unwrap();
        let entry = signet_tlog::Entry::decode(&entry).unwrap();
        assert_eq!((&entry.id, &entry.version), (id, version));
        // The content hash is NuGet's, of the pushed bytes (the served copy is re-signed).
        let mut pkg = signet_nupkg::Package::open(
            std::io::Cursor::new(nupkg),
            &signet_nupkg::Limits::default(),
        )
        .unwrap();
        use base64::Engine as _;
        let ch = base64::engine::general_purpose::STANDARD
            .decode(pkg.content_hash().unwrap())
            .unwrap();
        assert_eq!(entry.content_hash.to_vec(), ch);
        assert!(entry.author.is_none(), "pushed unsigned");
        assert!(
            entry.repository.is_some(),
            "repository-signed by the server"
        );
    }
    // Tiles are immutable, cacheable objects.
    let r = request(&server.addr, "GET", "/tlog/tile/0/000.p/7", &[], None);
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 7 * 32);
    assert_eq!(server.get("/tlog/tile/0/0").0, 404);

    let Some(exe) = go_tlogcheck(tmp.path()) else {
        return;
    };
    let mut commands = String::from("checkpoint checkpoint\n");
    for (id, version, _) in &pushed {
        commands.push_str(&format!("proof proof/{id}/{version}\n"));
    }
    // A consistency proof from the first checkpoint to the second, computed by signet's
    // library from the served tiles; Go checks it and computes its own to compare.
    let tiles = signet_tlog::TileHashReader::new(7, limits, |id: &signet_tlog::TileId| {
        let (status, body) = server.get(&format!("/tlog/{}", id.path()));
        assert_eq!(status, 200, "{}", id.path());
        Ok(body)
    });
    let proof = signet_tlog::consistency_proof(&tiles, first.checkpoint().size, 7).unwrap();
    let out = signet_test_support::run_tlogcheck(
        &exe,
        &format!("{}/tlog", server.base),
        &vkey,
        &commands,
    )
    .unwrap_or_else(|e| panic!("Go's sumdb refused the served log:\n{e}"));
    assert!(out.contains("ok checkpoint 7"), "{out}");
    assert_eq!(out.matches("ok proof").count(), 7, "{out}");
    let hashes: Vec<String> = proof.iter().map(|h| h.to_base64()).collect();
    // The first checkpoint is no longer served: Go reads both from a static copy of the log
    // (checkpoints and the tiles their trees need).
    let static_dir = tmp.path().join("static");
    std::fs::create_dir_all(&static_dir).unwrap();
    std::fs::write(static_dir.join("first"), first.to_text()).unwrap();
    std::fs::write(static_dir.join("second"), second.to_text()).unwrap();
    for id in [
        "tile/0/000.p/3",
        "tile/0/000.p/7",
        "tile/entries/000.p/3",
        "tile/entries/000.p/7",
    ] {
        let (status, body) = server.get(&format!("/tlog/{id}"));
        assert_eq!(status, 200, "{id}");
        let p = static_dir.join(id);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
    let out = signet_test_support::run_tlogcheck(
        &exe,
        static_dir.to_str().unwrap(),
        &vkey,
        &format!(
            "checkpoint first\ncheckpoint second\nconsistency 3 7 {}\n",
            hashes.join(",")
        ),
    )
    .unwrap_or_else(|e| panic!("Go's sumdb refused the consistency proof:\n{e}"));
    assert!(out.contains("ok consistency 3 7"), "{out}");
    server.stop();
}

/// Must show 4 (concurrency): two servers on one database push distinct versions at once;
/// the log has one entry per version, dense, and every checkpoint either signs is one tree.
fn two_replicas_appending_concurrently_keep_one_log(backend: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let inst = Instance::new(tmp.path(), backend);
    create_user(&inst, "alice");
    let key = create_key(&inst, "alice", &[]);
    let a = Server::start(&inst.args());
    let b = Server::start(&inst.args());
    let vkey = tlog_key(&a);
    assert_eq!(tlog_key(&b), vkey, "replicas share the log key");
    let n = 12;
    std::thread::scope(|s| {
        for (which, server) in [&a, &b].into_iter().enumerate() {
            let key = &key;
            s.spawn(move || {
                for i in 0..n {
                    let nupkg = package(&format!("Race.R{which}.P{i}"), "1.0.0");
                    assert_eq!(push_to(&server.addr, Some(key), &nupkg).status, 201);
                }
            });
        }
    });
    wait_for_checkpoint(&a, 2 * n);
    wait_for_checkpoint(&b, 2 * n);
    let limits = signet_tlog::Limits::default();
    let v = signet_tlog::VerifierKey::parse(&vkey).unwrap();
    let (_, ca) = a.get("/tlog/checkpoint");
    let (_, cb) = b.get("/tlog/checkpoint");
    let ca = signet_tlog::SignedCheckpoint::verify(&ca, &v, &limits).unwrap();
    let cb = signet_tlog::SignedCheckpoint::verify(&cb, &v, &limits).unwrap();
    assert_eq!(ca.checkpoint(), cb.checkpoint(), "one log, one tree");
    // Every version is in it exactly once.
    let (_, bundle) = a.get(&format!("/tlog/tile/entries/000.p/{}", 2 * n));
    let entries = signet_tlog::parse_bundle(&bundle, &limits).unwrap();
    let mut ids: Vec<String> = entries
        .iter()
        .map(|e| signet_tlog::Entry::decode(e).unwrap().id)
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len() as u64, 2 * n);
    if let Some(exe) = go_tlogcheck(tmp.path()) {
        signet_test_support::run_tlogcheck(
            &exe,
            &format!("{}/tlog", b.base),
            &vkey,
            "checkpoint checkpoint\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }
}

/// Must show 4 (crashes): `kill -9` while pushes are appending, several times; after each
/// restart every served checkpoint is one the tiles authenticate (Go's TileHashReader, or
/// signet's own check without Go), and the log grows on from where it was.
fn kill_9_during_appends_leaves_checkpoints_that_match_the_tiles(backend: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let inst = Instance::new(tmp.path(), backend);
    create_user(&inst, "alice");
    let key = create_key(&inst, "alice", &[]);
    let exe = go_tlogcheck(tmp.path());
    let limits = signet_tlog::Limits::default();
    let mut next = 0;
    for round in 0..3 {
        let mut server = Server::start(&inst.args());
        let vkey = tlog_key(&server);
        let v = signet_tlog::VerifierKey::parse(&vkey).unwrap();
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            let addr = server.addr.clone();
            let (key, stop) = (&key, &stop);
            let start = next;
            let pusher = s.spawn(move || {
                let mut i = start;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let nupkg = package(&format!("Crash.P{i}"), "1.0.0");
                    // The connection may die with the server.
                    let _ = std::panic::catch_unwind(|| push_to(&addr, Some(key), &nupkg));
                    i += 1;
                }
                i
            });
            std::thread::sleep(Duration::from_millis(700 + 300 * round));
            server.child.kill().unwrap();
            server.child.wait().unwrap();
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
            next = pusher.join().unwrap();
        });
        let server = Server::start(&inst.args());
        let (status, cp) = server.get("/tlog/checkpoint");
        assert_eq!(status, 200);
        let cp = signet_tlog::SignedCheckpoint::verify(&cp, &v, &limits).unwrap();
        let size = cp.checkpoint().size;
        let tiles = signet_tlog::TileHashReader::new(size, limits, |id: &signet_tlog::TileId| {
            let (status, body) = server.get(&format!("/tlog/{}", id.path()));
            assert_eq!(
                status,
                200,
                "{} of a signed checkpoint is missing",
                id.path()
            );
            Ok(body)
        });
        assert_eq!(
            signet_tlog::tree_hash(&tiles, size).unwrap(),
            cp.checkpoint().root,
            "round {round}"
        );
        if let Some(exe) = &exe {
            signet_test_support::run_tlogcheck(
                exe,
                &format!("{}/tlog", server.base),
                &vkey,
                "checkpoint checkpoint\n",
            )
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        }
        server.stop();
    }
}

/// `signet log monitor` against `server`, with state in `state`.
fn monitor(server: &Server, state: &Path, extra: &[&str]) -> (i32, String) {
    let out = signet()
        .args(["log", "monitor", "--source"])
        .arg(format!("{}/v3/index.json", server.base))
        .args(["--id", "Contoso.*", "--state", state.to_str().unwrap()])
        .arg("--allow-insecure-loopback")
        .args(extra)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// Must show 2 and 3, through the binary as users meet it: `signet log monitor` reports a
/// version pushed with a stolen API key within one run (and flags it with --expect-signer);
/// `signet trust source` pins the log and `signet install` checks it; then the server's data
/// directory is swapped under the client's stored state (same log key, another history): the
/// install is refused with the evidence kept, and the monitor exits with "log misbehaved".
#[test]
fn log_monitor_and_install_catch_a_stolen_key_and_a_split_view() {
    let tmp = tempfile::tempdir().unwrap();
    let inst = Instance::new(tmp.path(), Backend::Local);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    // Its own file: `inst.args()` (admin commands) rewrites the instance's.
    let serve_config = tmp.path().join("serve.toml");
    std::fs::copy(
        inst.config(
            "[signing]\nannounce_repository_signatures_over_http = true",
            "",
        ),
        &serve_config,
    )
    .unwrap();
    let args = vec![
        "--config".to_owned(),
        serve_config.to_str().unwrap().to_owned(),
    ];
    create_user(&inst, "alice");
    let key = create_key(&inst, "alice", &[]);
    let server = Server::start_listen(&args, &listen);
    assert_eq!(
        server
            .push(Some(&key), &package("Contoso.Lib", "1.0.0"))
            .status,
        201
    );
    assert_eq!(
        server
            .push(Some(&key), &package("Other.Pkg", "1.0.0"))
            .status,
        201
    );
    wait_for_checkpoint(&server, 2);

    // The owner's monitor: first run reports what exists, second run nothing new.
    let state = tmp.path().join("monitor.state");
    let (code, text) = monitor(&server, &state, &[]);
    assert_eq!(code, 10, "{text}");
    assert!(text.contains("new version contoso.lib 1.0.0"), "{text}");
    assert!(!text.contains("other.pkg"), "{text}");
    let (code, text) = monitor(&server, &state, &[]);
    assert_eq!(code, 0, "{text}");

    // A version pushed with a stolen API key: reported at the next run, and flagged as not
    // signed by the owner's certificate.
    assert_eq!(
        server
            .push(Some(&key), &package("Contoso.Lib", "1.0.1"))
            .status,
        201
    );
    wait_for_checkpoint(&server, 3);
    let owner_cert = "ab".repeat(32);
    let (code, text) = monitor(&server, &state, &["--expect-signer", &owner_cert]);
    assert_eq!(code, 11, "{text}");
    assert!(
        text.contains("UNEXPECTED SIGNER: new version contoso.lib 1.0.1 (entry 2, author unsigned"),
        "{text}"
    );
    let (code, text) = monitor(&server, &state, &["--expect-signer", &owner_cert]);
    assert_eq!(code, 0, "{text}");

    // A client pins the feed with its log, and installs: the proof and checkpoint are checked
    // and the checkpoint kept.
    let config = tmp.path().join("client.config");
    std::fs::write(
        &config,
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<configuration>\n</configuration>\n",
    )
    .unwrap();
    let state_home = tmp.path().join("state");
    let client = |args: &[&str]| {
        let out = signet()
            .args(args)
            .args(["--configfile", config.to_str().unwrap()])
            .env("XDG_STATE_HOME", &state_home)
            .env("NUGET_CERT_REVOCATION_MODE", "offline")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    let index = format!("{}/v3/index.json", server.base);
    let (ok, text) = client(&[
        "trust",
        "source",
        "feed",
        "--source-url",
        &index,
        "--allow-insecure-loopback",
    ]);
    assert!(ok, "{text}");
    assert!(text.contains("Pinned its transparency log"), "{text}");
    let install = |id: &str, version: &str, packages: &Path| {
        client(&[
            "install",
            id,
            "--version",
            version,
            "--source",
            &index,
            "--policy",
            "developer",
            "--allow-insecure-loopback",
            "--packages",
            packages.to_str().unwrap(),
        ])
    };
    let (ok, text) = install("Contoso.Lib", "1.0.1", &tmp.path().join("packages1"));
    assert!(ok, "{text}");
    assert!(text.contains("transparency log"), "{text}");
    let log_dirs: Vec<_> = std::fs::read_dir(state_home.join("signet/tlog"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(log_dirs.len(), 1);
    assert!(log_dirs[0].path().join("checkpoint").is_file());
    server.stop();

    // The split view: the same server (same URL, same log key) with another history.
    std::fs::rename(&inst.data, tmp.path().join("data-first")).unwrap();
    std::fs::create_dir_all(&inst.data).unwrap();
    std::fs::copy(
        tmp.path().join("data-first/tlog-dev.key"),
        inst.data.join("tlog-dev.key"),
    )
    .unwrap();
    create_user(&inst, "alice");
    let key = create_key(&inst, "alice", &[]);
    let server = Server::start_listen(&args, &listen);
    let other = PackageBuilder::new("Contoso.Lib", "1.0.1")
        .file("lib/net8.0/x.dll", b"another build")
        .build();
    assert_eq!(server.push(Some(&key), &other).status, 201);
    for v in ["1.0.0", "2.0.0", "3.0.0"] {
        assert_eq!(server.push(Some(&key), &package("Fork.Pkg", v)).status, 201);
    }
    wait_for_checkpoint(&server, 4);
    let (ok, text) = install("Contoso.Lib", "1.0.1", &tmp.path().join("packages2"));
    assert!(!ok, "the install must be refused: {text}");
    assert!(text.contains("split view"), "{text}");
    assert!(text.contains("evidence kept in"), "{text}");
    assert!(!tmp.path().join("packages2/contoso.lib/1.0.1").exists());
    let evidence: Vec<_> = std::fs::read_dir(log_dirs[0].path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("evidence-"))
        .collect();
    assert_eq!(evidence.len(), 1);
    let ev = std::fs::read_to_string(evidence[0].path()).unwrap();
    assert!(
        ev.contains("==> checkpoint stored before") && ev.contains("==> checkpoint served"),
        "{ev}"
    );
    // The stored checkpoint (size 3, first history) and the served one (size 4, the other).
    assert!(ev.contains("\n3\n") && ev.contains("\n4\n"), "{ev}");
    eprintln!("refusal as the user sees it:\n{text}");

    let (code, text) = monitor(&server, &state, &[]);
    assert_eq!(code, 12, "{text}");
    assert!(text.contains("misbehaved"), "{text}");
    assert!(tmp.path().join("monitor.evidence.txt").is_file());
    server.stop();
}

/// `verify --packages-folder` checks each package against the log pinned for the source its
/// `.nupkg.metadata` names, as `install` does (issue 17). A package installed from a pinned
/// feed passes with its log checked; one from an unpinned feed is not checked. The pinned
/// feed's package is then swapped in the folder for another validly signed build of the same
/// id and version (from a second feed), the folder kept consistent (`.nupkg.sha512`, metadata
/// and receipt of that build, the metadata naming the pinned feed): only the log can tell, and
/// the audit refuses it under `require` and warns under `warn`, every run (the log result is
/// not cached). A log that cannot be reached refuses under `require` and warns under `warn`.
#[test]
fn the_packages_folder_audit_checks_the_transparency_log() {
    let tmp = tempfile::tempdir().unwrap();
    let start = |name: &str| {
        let dir = tmp.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let inst = Instance::new(&dir, Backend::Local);
        let serve_config = dir.join("serve.toml");
        std::fs::copy(
            inst.config(
                "[signing]\nannounce_repository_signatures_over_http = true",
                "",
            ),
            &serve_config,
        )
        .unwrap();
        create_user(&inst, "alice");
        let key = create_key(&inst, "alice", &[]);
        let server = Server::start(&[
            "--config".to_owned(),
            serve_config.to_str().unwrap().to_owned(),
        ]);
        (inst, server, key)
    };
    // The pinned feed, and another feed with another build of the same version.
    let (_pinned_inst, pinned, pinned_key) = start("pinned");
    let (_other_inst, other, other_key) = start("other");
    assert_eq!(
        pinned
            .push(Some(&pinned_key), &package("Contoso.Lib", "1.0.0"))
            .status,
        201
    );
    let rebuilt = PackageBuilder::new("Contoso.Lib", "1.0.0")
        .file("lib/net8.0/x.dll", b"another build")
        .build();
    assert_eq!(other.push(Some(&other_key), &rebuilt).status, 201);
    assert_eq!(
        other
            .push(Some(&other_key), &package("Other.Pkg", "1.0.0"))
            .status,
        201
    );
    wait_for_checkpoint(&pinned, 1);

    let config = tmp.path().join("client.config");
    std::fs::write(
        &config,
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<configuration>\n</configuration>\n",
    )
    .unwrap();
    let state_home = tmp.path().join("state");
    let cache_home = tmp.path().join("cache");
    let client = |args: &[&str]| {
        let out = signet()
            .args(args)
            .args(["--configfile", config.to_str().unwrap()])
            .env("XDG_STATE_HOME", &state_home)
            .env("XDG_CACHE_HOME", &cache_home)
            .env("NUGET_CERT_REVOCATION_MODE", "offline")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    let pinned_index = format!("{}/v3/index.json", pinned.base);
    let other_index = format!("{}/v3/index.json", other.base);
    let (ok, text) = client(&[
        "trust",
        "source",
        "feed",
        "--source-url",
        &pinned_index,
        "--allow-insecure-loopback",
        "--transparency-log",
        "require",
    ]);
    assert!(ok, "{text}");
    assert!(text.contains("Pinned its transparency log"), "{text}");
    let install = |id: &str, index: &str, packages: &Path| {
        let (ok, text) = client(&[
            "install",
            id,
            "--version",
            "1.0.0",
            "--source",
            index,
            "--policy",
            "developer",
            "--allow-insecure-loopback",
            "--packages",
            packages.to_str().unwrap(),
        ]);
        assert!(ok, "{text}");
        text
    };
    let packages = tmp.path().join("packages");
    let text = install("Contoso.Lib", &pinned_index, &packages);
    assert!(text.contains("transparency log"), "{text}");
    install("Other.Pkg", &other_index, &packages);
    let elsewhere = tmp.path().join("packages-elsewhere");
    install("Contoso.Lib", &other_index, &elsewhere);

    let audit = |json: bool| {
        let mut args = vec![
            "verify",
            "--packages-folder",
            packages.to_str().unwrap(),
            "--policy",
            "developer",
            "--allow-insecure-loopback",
        ];
        if json {
            args.push("--json");
        }
        client(&args)
    };
    // Both pass; only the package from the pinned feed is checked against a log.
    let (ok, text) = audit(true);
    assert!(ok, "{text}");
    let report: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["summary"]["logChecked"], 1, "{text}");
    let checked: Vec<(String, Value)> = report["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["path"].as_str().unwrap().to_owned(),
                p["transparencyLog"].clone(),
            )
        })
        .collect();
    assert_eq!(
        checked,
        vec![
            (
                "contoso.lib/1.0.0/contoso.lib.1.0.0.nupkg".to_owned(),
                Value::String(format!("{}/tlog/", pinned.base))
            ),
            (
                "other.pkg/1.0.0/other.pkg.1.0.0.nupkg".to_owned(),
                Value::Null
            ),
        ],
        "{text}"
    );
    // Again, from the cache: the log is still checked.
    let (ok, text) = audit(false);
    assert!(ok, "{text}");
    assert!(
        text.contains("2 checked, 2 passed, 0 refused (0 verified now, 2 unchanged"),
        "{text}"
    );
    assert!(
        text.contains("1 package(s) checked against their source's transparency log."),
        "{text}"
    );

    // The swap: the other feed's build, its own .nupkg.sha512, receipt and metadata, with
    // the metadata naming the pinned feed as its source.
    let folder = packages.join("contoso.lib/1.0.0");
    std::fs::remove_dir_all(&folder).unwrap();
    std::fs::create_dir_all(&folder).unwrap();
    for f in files_under(&elsewhere.join("contoso.lib/1.0.0")) {
        let rel = f
            .strip_prefix(elsewhere.join("contoso.lib/1.0.0"))
            .unwrap()
            .to_path_buf();
        std::fs::create_dir_all(folder.join(&rel).parent().unwrap()).unwrap();
        std::fs::copy(&f, folder.join(&rel)).unwrap();
    }
    let metadata = folder.join(".nupkg.metadata");
    let text = std::fs::read_to_string(&metadata).unwrap();
    assert!(text.contains(&other_index), "{text}");
    std::fs::write(&metadata, text.replace(&other_index, &pinned_index)).unwrap();

    let (ok, text) = audit(false);
    assert!(!ok, "the swapped package must be refused: {text}");
    assert!(
        text.contains("contoso.lib/1.0.0/contoso.lib.1.0.0.nupkg: REFUSED"),
        "{text}"
    );
    assert!(text.contains("transparency log:"), "{text}");
    assert!(text.contains("is not the one the feed logged"), "{text}");
    assert!(text.contains("evidence kept in"), "{text}");
    assert!(
        text.contains("2 checked, 1 passed, 1 refused (1 verified now, 1 unchanged"),
        "{text}"
    );
    eprintln!("refusal as the user sees it:\n{text}");
    // Still refused from the cache (the signature verdict is cached, the log check is not).
    let (ok, text) = audit(false);
    assert!(!ok, "{text}");
    assert!(text.contains("(0 verified now, 2 unchanged"), "{text}");
    assert!(text.contains("is not the one the feed logged"), "{text}");

    // Under `warn`: a warning, not a refusal.
    let pinned_config = std::fs::read_to_string(&config).unwrap();
    assert!(
        pinned_config.contains("policy=\"require\""),
        "{pinned_config}"
    );
    std::fs::write(
        &config,
        pinned_config.replace("policy=\"require\"", "policy=\"warn\""),
    )
    .unwrap();
    let (ok, text) = audit(false);
    assert!(ok, "{text}");
    assert!(
        text.contains("contoso.lib/1.0.0/contoso.lib.1.0.0.nupkg: allowed with warnings"),
        "{text}"
    );
    assert!(text.contains("is not the one the feed logged"), "{text}");
    assert!(text.contains("2 checked, 2 passed, 0 refused"), "{text}");

    // The pinned feed down: a warning under `warn`, a refusal under `require`.
    pinned.stop();
    let (ok, text) = audit(false);
    assert!(ok, "{text}");
    assert!(
        text.contains("cannot fetch the transparency-log proof"),
        "{text}"
    );
    std::fs::write(&config, &pinned_config).unwrap();
    let (ok, text) = audit(false);
    assert!(!ok, "{text}");
    assert!(
        text.contains("cannot fetch the transparency-log proof"),
        "{text}"
    );
    assert!(text.contains("2 checked, 1 passed, 1 refused"), "{text}");
    other.stop();
}

/// The witness (issue 17): `signet serve` configured with a running `signet log witness` and
/// one that is down serves its checkpoints cosigned by the first (the dead one never holds
/// the log back); the cosignature verifies under the witness key by Go's sumdb/note plus
/// crypto/ed25519 (when SIGNET_GO is set); `signet install` from a source pinned with that
/// witness and `--witness-threshold 1` accepts, and from one pinned with a witness that never
/// signed refuses, naming it.
#[test]
fn a_feed_collects_witness_cosignatures_and_install_requires_them() {
    let tmp = tempfile::tempdir().unwrap();
    let inst = Instance::new(tmp.path(), Backend::Local);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    // The log key is made here: the witness must know it before the feed starts.
    let log_key =
        signet_tlog::SigningKey::from_seed(&format!("127.0.0.1:{port}/tlog"), [5; 32]).unwrap();
    let log_key_path = tmp.path().join("tlog.key");
    std::fs::write(&log_key_path, log_key.to_key_string()).unwrap();
    let log_vkey = signet_tlog::NoteSigner::verifier(&log_key).to_string();
    let new_witness_key = |name: &str| {
        let path = tmp.path().join(format!("{}.key", name.replace('/', "_")));
        let out = signet()
            .args(["log", "witness-key", "--name", name, "--out"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let vkey = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("verifier key: ").map(str::to_owned))
            .unwrap();
        (path, vkey)
    };
    let (w1_key, w1_vkey) = new_witness_key("witness.test/w1");
    let (_, never_vkey) = new_witness_key("witness.test/never");
    let mut witness = signet()
        .args(["log", "witness", "--listen", "127.0.0.1:0", "--key"])
        .arg(&w1_key)
        .arg("--state")
        .arg(tmp.path().join("w1-state.json"))
        .args(["--log", &log_vkey])
        .env("SIGNET_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(witness.stdout.take().unwrap()).lines();
    let witness_addr = lines
        .by_ref()
        .map(Result::unwrap)
        .find_map(|l| {
            l.strip_prefix("signet log witness: listening on ")
                .map(str::to_owned)
        })
        .unwrap();
    std::thread::spawn(move || for _ in lines {});
    // A port nobody listens on: a witness that is down.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_addr = dead.local_addr().unwrap();
    drop(dead);

    let serve_config = tmp.path().join("serve.toml");
    let mut text = std::fs::read_to_string(inst.config(
        "[signing]\nannounce_repository_signatures_over_http = true",
        "",
    ))
    .unwrap();
    text.push_str(&format!(
        "key_path = \"{}\"\nwitness_timeout_ms = 2000\nwitnesses = [\n  {{ name = \"w1\", url = \"http://{witness_addr}\", key = \"{w1_vkey}\" }},\n  {{ name = \"down\", url = \"http://{dead_addr}/\", key = \"{never_vkey}\" }},\n]\n",
        log_key_path.display()
    ));
    std::fs::write(&serve_config, text).unwrap();
    let args = vec![
        "--config".to_owned(),
        serve_config.to_str().unwrap().to_owned(),
    ];
    create_user(&inst, "alice");
    let key = create_key(&inst, "alice", &[]);
    let server = Server::start_listen(&args, &listen);
    assert_eq!(tlog_key(&server), log_vkey);
    for v in ["1.0.0", "1.0.1"] {
        let r = server.push(Some(&key), &package("Contoso.Lib", v));
        assert_eq!(r.status, 201, "{r:?}");
    }
    wait_for_checkpoint(&server, 2);
    // The served checkpoint gains w1's cosignature; the dead witness is skipped.
    let deadline = Instant::now() + Duration::from_secs(30);
    let cosigned = loop {
        let (status, body) = server.get("/tlog/checkpoint");
        let note = String::from_utf8(body).unwrap();
        if status == 200 && note.contains("\n\u{2014} witness.test/w1 ") && note.contains("\n2\n") {
            break note;
        }
        assert!(Instant::now() < deadline, "no cosigned checkpoint: {note}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(!cosigned.contains("witness.test/never"), "{cosigned}");
    assert_eq!(cosigned.matches('\u{2014}').count(), 2, "{cosigned}");
    let parsed =
        signet_tlog::Note::parse(cosigned.as_bytes(), &signet_tlog::Limits::default()).unwrap();
    signet_tlog::CosignatureVerifier::parse(&w1_vkey)
        .unwrap()
        .verify(&parsed)
        .unwrap();
    if let Some(go) = signet_test_support::go_binary() {
        let exe = signet_test_support::build_cosigcheck(&go, tmp.path()).unwrap();
        let mut child = Command::new(exe)
            .args([&log_vkey, &w1_vkey])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(cosigned.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "Go refused the cosigned checkpoint: {out:?}"
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("ok cosignature witness.test/w1"));
    } else {
        eprintln!("Go part skipped: SIGNET_GO is not set (scripts/test.sh sets it)");
    }
    // The log did not wait for the dead witness: a new version is checkpointed as usual.
    let r = server.push(Some(&key), &package("Contoso.Lib", "1.0.2"));
    assert_eq!(r.status, 201, "{r:?}");
    wait_for_checkpoint(&server, 3);

    let index = format!("{}/v3/index.json", server.base);
    let client = |config: &Path, state: &Path, args: &[&str]| {
        if !config.exists() {
            std::fs::write(
                config,
                "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<configuration>\n</configuration>\n",
            )
            .unwrap();
        }
        let out = signet()
            .args(args)
            .args(["--configfile", config.to_str().unwrap()])
            .env("XDG_STATE_HOME", state)
            .env("NUGET_CERT_REVOCATION_MODE", "offline")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    let install = |config: &Path, state: &Path, packages: &Path| {
        client(
            config,
            state,
            &[
                "install",
                "Contoso.Lib",
                "--version",
                "1.0.2",
                "--source",
                &index,
                "--policy",
                "developer",
                "--allow-insecure-loopback",
                "--packages",
                packages.to_str().unwrap(),
            ],
        )
    };
    // Pinned with w1, one of one required: the install accepts.
    let (good_config, good_state) = (
        tmp.path().join("good.config"),
        tmp.path().join("good-state"),
    );
    let w1_arg = format!("w1={w1_vkey}");
    let (ok, text) = client(
        &good_config,
        &good_state,
        &[
            "trust",
            "source",
            "feed",
            "--source-url",
            &index,
            "--allow-insecure-loopback",
            "--witness",
            &w1_arg,
            "--witness-threshold",
            "1",
        ],
    );
    assert!(ok, "{text}");
    assert!(
        text.contains("cosignatures by 1 of its 1 pinned witnesses: w1"),
        "{text}"
    );
    let (ok, text) = install(&good_config, &good_state, &tmp.path().join("packages-good"));
    assert!(ok, "{text}");
    assert!(
        text.contains("checkpoints need cosignatures by 1 of the witnesses w1"),
        "{text}"
    );
    assert!(tmp.path().join("packages-good/contoso.lib/1.0.2").is_dir());

    // Pinned with a witness that never signed: refused, naming who signed and who did not.
    let (bad_config, bad_state) = (tmp.path().join("bad.config"), tmp.path().join("bad-state"));
    let never_arg = format!("never={never_vkey}");
    let (ok, text) = client(
        &bad_config,
        &bad_state,
        &[
            "trust",
            "source",
            "feed",
            "--source-url",
            &index,
            "--allow-insecure-loopback",
            "--witness",
            &never_arg,
            "--witness",
            &w1_arg,
            "--witness-threshold",
            "2",
        ],
    );
    assert!(ok, "{text}");
    let (ok, text) = install(&bad_config, &bad_state, &tmp.path().join("packages-bad"));
    assert!(!ok, "the install must be refused: {text}");
    assert!(
        text.contains("cosigned by 1 of the pinned witnesses, 2 required: signed by w1; not by never (no cosignature)"),
        "{text}"
    );
    assert!(!tmp.path().join("packages-bad/contoso.lib/1.0.2").exists());
    eprintln!("refusal as the user sees it:\n{text}");
    // Threshold checks at pin time.
    let (ok, text) = client(
        &bad_config,
        &bad_state,
        &[
            "trust",
            "source",
            "feed",
            "--source-url",
            &index,
            "--allow-insecure-loopback",
            "--witness",
            &w1_arg,
            "--witness-threshold",
            "2",
        ],
    );
    assert!(!ok && text.contains("--witness-threshold 2"), "{text}");
    server.stop();
    let _ = witness.kill();
    let _ = witness.wait();
}

/// Issue 19, backup and restore of the embedded default: `signet admin backup` takes a
/// consistent snapshot while the server runs and pushes keep arriving; the restored data
/// directory serves byte-identical packages under the same repository certificate; a damaged
/// backup restores nothing; a data directory in use is never restored over.
#[test]
fn a_backup_taken_while_serving_restores_byte_identical_packages() {
    let tmp = tempfile::tempdir().unwrap();
    let inst = Instance::new(tmp.path(), Backend::Local);
    create_user(&inst, "alice");
    let key = create_key(&inst, "alice", &[]);
    let server = Server::start(&inst.args());
    for i in 0..5 {
        let r = server.push(Some(&key), &package("Backup.Before", &format!("1.0.{i}")));
        assert_eq!(r.status, 201, "{r:?}");
    }
    // Pushes go on while the backup runs.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pusher = {
        let stop = std::sync::Arc::clone(&stop);
        let (addr, key) = (server.addr.clone(), key.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let r = push_to(
                    &addr,
                    Some(&key),
                    &package("Backup.During", &format!("1.0.{n}")),
                );
                assert_eq!(r.status, 201, "{r:?}");
                n += 1;
            }
            n
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(300));
    let backup_dir = tmp.path().join("backup");
    let out = admin(&inst, &["backup", backup_dir.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.contains("backed up"), "{text}");
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let pushed_during = pusher.join().unwrap();
    assert!(pushed_during > 0);
    // The backup holds private keys and password hashes.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(backup_dir.join("signet.db"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
    }
    // What the live server serves now, for every version the backup holds.
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(backup_dir.join("backup.json")).unwrap()).unwrap();
    let in_backup = manifest["packageVersions"].as_u64().unwrap();
    assert!(in_backup >= 5, "{manifest}");
    let originals: Vec<(String, String, Vec<u8>)> = ["Backup.Before", "Backup.During"]
        .iter()
        .flat_map(|id| {
            let lower = id.to_lowercase();
            let versions = server.json(&format!("/v3-flatcontainer/{lower}/index.json"));
            versions["versions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| {
                    let v = v.as_str().unwrap().to_owned();
                    let (status, body) =
                        server.get(&format!("/v3-flatcontainer/{lower}/{v}/{lower}.{v}.nupkg"));
                    assert_eq!(status, 200);
                    (lower.clone(), v, body)
                })
                .collect::<Vec<_>>()
        })
        .collect();
    // The transparency log's public key (its name carries the server's address).
    let log_key = |server: &Server| tlog_key(server).rsplit('+').next().unwrap().to_owned();
    let log_key_before = log_key(&server);
    server.stop();

    // A damaged backup restores nothing.
    let damaged = tmp.path().join("damaged");
    let copy = Command::new("cp")
        .args([
            "-a",
            backup_dir.to_str().unwrap(),
            damaged.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(copy.success());
    let victim = files_under(&damaged.join("blobs").join("packages"))
        .into_iter()
        .next()
        .unwrap();
    let mut bytes = std::fs::read(&victim).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&victim, bytes).unwrap();
    let restored_damaged = tmp.path().join("restored-damaged");
    let out = signet()
        .args(["admin", "--data-dir", restored_damaged.to_str().unwrap()])
        .args(["restore", damaged.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("damaged"),
        "{out:?}"
    );
    assert!(!restored_damaged.exists());
    // Never over a data directory in use.
    let out = signet()
        .args(["admin", "--data-dir", inst.data.to_str().unwrap()])
        .args(["restore", backup_dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not empty"),
        "{out:?}"
    );

    // The restore, served on its own.
    let restored = tmp.path().join("restored");
    let out = signet()
        .args(["admin", "--data-dir", restored.to_str().unwrap()])
        .args(["restore", backup_dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let server = Server::start(&["--data-dir".into(), restored.to_str().unwrap().into()]);
    let mut served = 0;
    for (id, v, original) in &originals {
        let (status, body) = server.get(&format!("/v3-flatcontainer/{id}/{v}/{id}.{v}.nupkg"));
        if id == "backup.before" {
            assert_eq!(status, 200, "{id} {v}");
        }
        if status == 200 {
            assert!(body == *original, "{id} {v} differs after the restore");
            served += 1;
        } else {
            // Pushed after the snapshot.
            assert_eq!(status, 404, "{id} {v}");
        }
    }
    assert_eq!(served as u64, in_backup);
    // Accounts and keys came back (alice's key pushes), and so did the development PKI: a
    // package pushed now is signed by the certificate that signed the ones before.
    let r = server.push(Some(&key), &package("Backup.After", "1.0.0"));
    assert_eq!(r.status, 201, "{r:?}");
    let (status, after) =
        server.get("/v3-flatcontainer/backup.after/1.0.0/backup.after.1.0.0.nupkg");
    assert_eq!(status, 200);
    let signer = |nupkg: &[u8]| {
        let limits = signet_nupkg::Limits::default();
        let mut pkg = signet_nupkg::Package::open(std::io::Cursor::new(nupkg), &limits).unwrap();
        let sig = pkg.read_signature().unwrap().unwrap();
        signet_signature::PrimarySignature::load(&sig, &signet_signature::Limits::default())
            .unwrap()
            .certificate()
            .sha256_hex()
    };
    assert_eq!(signer(&after), signer(&originals[0].2));
    // The transparency log's key came back too: clients that pinned it keep working.
    assert_eq!(log_key(&server), log_key_before);
    server.stop();
}

/// Issue 19, the audit log: administrator commands, pushes (accepted and refused) and
/// unlists are recorded with actor, target and outcome; read-only commands are not; no
/// secret reaches it; `--actor` filters; `--json` is machine-readable.
#[test]
fn the_audit_log_records_who_did_what() {
    let tmp = tempfile::tempdir().unwrap();
    let inst = Instance::new(tmp.path(), Backend::Local);
    create_user(&inst, "alice");
    let key = create_key(&inst, "alice", &[]);
    let out = admin(&inst, &["list-api-keys", "alice"]);
    assert!(out.status.success(), "{out:?}");
    let server = Server::start(&inst.args());
    assert_eq!(
        server
            .push(Some(&key), &package("Audit.Pkg", "1.0.0"))
            .status,
        201
    );
    assert_eq!(
        server
            .push(Some(&key), &package("Audit.Pkg", "1.0.0"))
            .status,
        409
    );
    assert_eq!(
        server.set_listed(&key, "Audit.Pkg", "1.0.0", false).status,
        200
    );
    let out = admin(&inst, &["audit-log", "--json"]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(!text.contains(&key), "an API key reached the audit log");
    assert!(
        !text.contains("correct horse"),
        "a password reached the audit log"
    );
    let doc: Value = serde_json::from_str(&text).unwrap();
    let entries = doc["entries"].as_array().unwrap();
    let has = |actor: &str, action: &str, target: &str, outcome: &str| {
        entries.iter().any(|e| {
            e["actor"] == actor
                && e["action"] == action
                && e["target"].as_str().unwrap().contains(target)
                && e["outcome"] == outcome
        })
    };
    assert!(has("alice", "push", "Audit.Pkg 1.0.0", "ok"), "{text}");
    assert!(has("alice", "push", "", "refused"), "{text}");
    assert!(has("alice", "unlist", "Audit.Pkg 1.0.0", "ok"), "{text}");
    assert!(
        has("admin (command line)", "admin", "alice", "ok"),
        "{text}"
    );
    let admin_details: Vec<&str> = entries
        .iter()
        .filter(|e| e["action"] == "admin")
        .map(|e| e["detail"].as_str().unwrap())
        .collect();
    assert!(
        admin_details
            .iter()
            .any(|d| d.starts_with("create-user name=alice")),
        "{admin_details:?}"
    );
    assert!(
        admin_details
            .iter()
            .any(|d| d.starts_with("create-api-key user=alice")),
        "{admin_details:?}"
    );
    assert!(
        !admin_details.iter().any(|d| d.contains("list-api-keys")),
        "a read-only command was recorded: {admin_details:?}"
    );
    let out = admin(&inst, &["audit-log", "--actor", "alice"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.contains(" alice push Audit.Pkg 1.0.0 ok"), "{text}");
    assert!(!text.contains("admin (command line)"), "{text}");
    server.stop();
}

/// Issue 19, retention, on a feed with 30 versions (24 stable, 6 prerelease; keep the newest
/// 2 stable and 1 prerelease): the dry run lists exactly the 26 versions the rule selects and
/// changes nothing; the run deletes those and nothing else, but the one a kept package
/// depends on; a deleted version's file is gone and its id and version come back only with
/// the same content (the tombstone); the audit log names what retention did.
#[test]
fn retention_keeps_dependencies_and_tombstones_deleted_versions() {
    let tmp = tempfile::tempdir().unwrap();
    let inst = Instance::new(tmp.path(), Backend::Local);
    create_user(&inst, "alice");
    let key = create_key(&inst, "alice", &[]);
    let config = inst.config("", "");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(
        "[[retention]]\npackages = \"Retained.Lib\"\nkeep_stable = 2\nkeep_prerelease = 1\n\
         action = \"delete\"\n",
    );
    std::fs::write(&config, text).unwrap();
    let args = vec!["--config".to_owned(), config.to_str().unwrap().to_owned()];
    let server = Server::start(&args);
    let lib = |v: &str| package("Retained.Lib", v);
    let stable: Vec<String> = (0..24).map(|n| format!("1.0.{n}")).collect();
    let prerelease: Vec<String> = (1..=6).map(|n| format!("2.0.0-beta.{n}")).collect();
    let originals: Vec<(String, Vec<u8>)> = stable
        .iter()
        .chain(&prerelease)
        .map(|v| (v.clone(), lib(v)))
        .collect();
    assert_eq!(originals.len(), 30);
    for (_, bytes) in &originals {
        assert_eq!(server.push(Some(&key), bytes).status, 201);
    }
    let app = PackageBuilder::new("Retained.App", "1.0.0")
        .dependency(None, "Retained.Lib", Some("[1.0.5]"))
        .build();
    assert_eq!(server.push(Some(&key), &app).status, 201);
    let blobs_before = inst.blob_count();
    let versions = |s: &Server| {
        s.json("/v3-flatcontainer/retained.lib/index.json")["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let all = versions(&server);
    let run = |extra: &[&str]| {
        let once = || {
            signet()
                .args(["admin", "--config", config.to_str().unwrap(), "retention"])
                .args(extra)
                .output()
                .unwrap()
        };
        // Beside the running server (which commits checkpoints and download counts): each
        // deletion takes the write lock when it begins (`Db::begin_write`).
        let out = once();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    // What the rule selects: every stable version but the newest two and 1.0.5 (Retained.App
    // depends on it), every prerelease but the newest.
    let selected: std::collections::BTreeSet<String> = stable[..22]
        .iter()
        .filter(|v| v.as_str() != "1.0.5")
        .chain(&prerelease[..5])
        .map(|v| format!("Retained.Lib {v}"))
        .collect();
    assert_eq!(selected.len(), 26);
    let dry = run(&["--dry-run"]);
    let listed: std::collections::BTreeSet<String> = dry
        .lines()
        .filter_map(|l| l.trim().strip_prefix("would delete "))
        .map(|l| l.split(" (rule ").next().unwrap_or(l).to_owned())
        .collect();
    assert_eq!(listed, selected, "{dry}");
    assert!(
        dry.contains("kept Retained.Lib 1.0.5: a kept version depends on it"),
        "{dry}"
    );
    assert!(!dry.contains("Retained.App"), "{dry}");
    assert_eq!(all.len(), 30);
    assert_eq!(versions(&server), all, "the dry run changed something");
    let done = run(&[]);
    assert!(done.contains("26 of 26 versions retired"), "{done}");
    assert_eq!(
        versions(&server),
        ["1.0.5", "1.0.22", "1.0.23", "2.0.0-beta.6"]
    );
    assert_eq!(
        retained_app_versions(&server),
        ["1.0.0"],
        "a package no rule names was touched"
    );
    assert_eq!(inst.blob_count(), blobs_before - 26);
    // The server remembers a version's file for a few seconds (downloads skip the database).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let (status, _) =
            server.get("/v3-flatcontainer/retained.lib/1.0.0/retained.lib.1.0.0.nupkg");
        if status == 404 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            std::time::Instant::now() < deadline,
            "a deleted version is still served"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    // The tombstone: other bytes are refused, the same content comes back.
    let other = PackageBuilder::new("Retained.Lib", "1.0.0")
        .file("lib/net8.0/x.dll", b"other bytes")
        .build();
    let r = server.push(Some(&key), &other);
    assert_eq!(r.status, 409, "{r:?}");
    assert!(
        String::from_utf8_lossy(&r.body).contains("was deleted"),
        "{r:?}"
    );
    assert_eq!(server.push(Some(&key), &originals[0].1).status, 201);
    let log = admin(&inst, &["audit-log"]);
    let log = String::from_utf8_lossy(&log.stdout).to_string();
    assert!(
        log.contains("retention retention Retained.Lib 1.0.21 ok"),
        "{log}"
    );
    server.stop();
}

/// The versions of Retained.App the flat container lists.
fn retained_app_versions(s: &Server) -> Vec<String> {
    s.json("/v3-flatcontainer/retained.app/index.json")["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}
