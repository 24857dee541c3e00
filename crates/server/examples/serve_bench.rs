//! Load generator for `signet serve` on loopback (issue 5's benchmark):
//!
//! ```sh
//! cargo run --release -p signet-server --example serve_bench -- push [PUSHES] [CONCURRENCY] [EXPORT_DIR]
//! cargo run --release -p signet-server --example serve_bench -- serve [PUSHES] [CONCURRENCY]
//! cargo run --release -p signet-server --example serve_bench -- get BASE_URL [REQUESTS] [CONCURRENCY] [PACKAGES]
//! cargo run --release -p signet-server --example serve_bench -- signed-push [PUSHES] [CONCURRENCY]
//! cargo run --release -p signet-server --example serve_bench -- backfill [PACKAGES] [PARALLEL]
//! cargo run --release -p signet-server --example serve_bench -- reads [PACKAGES] [POSTGRES_URL]
//! cargo run --release -p signet-server --example serve_bench -- mirror [PACKAGES] [PARALLEL] [EXPORT_DIR]
//! cargo run --release -p signet-server --example serve_bench -- tlog [APPENDS] [CONCURRENCY]
//! ```
//!
//! `tlog` is issue 17's figure: APPENDS (default 20,000) log appends from CONCURRENCY tasks,
//! each its own transaction as in a push (appends/s on SQLite); the latency of one checkpoint
//! step after 1,000 new entries; and the client's cost of checking one installed package: a
//! tlog-proof parsed, its entry decoded, the checkpoint's Ed25519 signature and the inclusion
//! proof verified, plus a consistency proof rebuilt from in-memory tiles and verified.
//!
//! `push` starts an in-process server (SQLite + filesystem in a temp dir), pushes PUSHES
//! distinct 100 KB packages over HTTP from CONCURRENCY client threads (pushes/s), then downloads
//! them from the flat container (requests/s, MB/s). With EXPORT_DIR it also writes the same files
//! in flat-container layout, so that another server (nginx) can serve them for `get`.
//! `serve` pushes as `push` does, then keeps serving (for `get` from another process).
//! `get` runs the same download loop against any base URL. Client and server share the machine.
//! `signed-push` is issue 6's push figure: the server validates and repository-signs every
//! push (development PKI, embedded timestamp authority); half the packages are author-signed
//! with a registered certificate (full verification, then a repository countersignature), half
//! unsigned (repository primary signature). `backfill` stores PACKAGES unsigned packages with
//! repository signing off, then times `Registry::backfill` signing them all.
//! `reads` is issue 13's read figure: PACKAGES (default 100,000) packages stored through the
//! database layer in bulk (`Db::import_for_benchmark`; every tenth has three versions, one a
//! prerelease; titles and tags searched), then p50/p99 over repeated in-process HTTP requests
//! of search (empty, a term, the deepest v3 page), the home page, V2 `Search()` (as `nuget
//! list` asks, and a page at `$skip=50000`) and a registration index; on SQLite, and on
//! PostgreSQL too with POSTGRES_URL or `SIGNET_TEST_POSTGRES` (a cluster URL without a
//! database: a fresh database is created and dropped).
//! `mirror` is issue 15's figure: an upstream server (development PKI) holds PACKAGES
//! (default 1000) repository-signed 100 KB packages; a mirror (its own development PKI, the
//! upstream's root trusted, the upstream pinned) then (1) fetches 100 of them one at a time —
//! the cost beyond the transfer is the time minus that of plain GETs of the same files from
//! the upstream; (2) prefetches the rest with PARALLEL (default 8) fetches at once
//! (packages/s); (3) serves warm downloads of the mirrored files over HTTP (requests/s). With
//! EXPORT_DIR the mirrored files are written in flat-container layout for nginx, and the
//! mirror keeps serving for `get` from another process. `SIGNET_BENCH_MEMORY_MIB` sets the
//! mirror's `[server] package_memory_cache_mib` (default 256), to measure downloads beyond it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use signet_server::{AppState, Config};
use signet_test_support::PackageBuilder;

const SIZE: usize = 100_000;

fn package(i: usize) -> (String, Vec<u8>) {
    let id = format!("Bench.Package{i}");
    let mut x = (i as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    let content: Vec<u8> = (0..SIZE)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let bytes = PackageBuilder::new(&id, "1.0.0")
        .stored(true)
        .file("content/data.bin", &content)
        .build();
    (id, bytes)
}

/// Reads one HTTP/1.1 response (Content-Length bodies only); returns (status, body length).
fn read_response(r: &mut BufReader<TcpStream>) -> (u16, usize) {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let status: u16 = line.split(' ').nth(1).unwrap().parse().unwrap();
    let mut len = 0usize;
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            len = v.trim().parse().unwrap();
        }
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).unwrap();
    (status, len)
}

fn push_all(addr: &str, key: &str, packages: &[(String, Vec<u8>)], concurrency: usize) -> f64 {
    let next = AtomicUsize::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..concurrency {
            s.spawn(|| {
                let stream = TcpStream::connect(addr).unwrap();
                stream.set_nodelay(true).unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut w = stream;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((_, bytes)) = packages.get(i) else { break };
                    let mut body = b"--b\r\nContent-Disposition: form-data; name=\"package\"; filename=\"package.nupkg\"\r\nContent-Type: application/octet-stream\r\n\r\n".to_vec();
                    body.extend_from_slice(bytes);
                    body.extend_from_slice(b"\r\n--b--\r\n");
                    write!(
                        w,
                        "PUT /api/v2/package/ HTTP/1.1\r\nHost: {addr}\r\nX-NuGet-ApiKey: {key}\r\n\
                         Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    )
                    .unwrap();
                    w.write_all(&body).unwrap();
                    let (status, _) = read_response(&mut reader);
                    assert_eq!(status, 201);
                }
            });
        }
    });
    packages.len() as f64 / start.elapsed().as_secs_f64()
}

fn get_all(base: &str, ids: &[String], requests: usize, concurrency: usize) {
    let addr = base
        .strip_prefix("http://")
        .unwrap()
        .trim_end_matches('/')
        .to_owned();
    let next = AtomicUsize::new(0);
    let bytes = AtomicUsize::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..concurrency {
            s.spawn(|| {
                let stream = TcpStream::connect(&addr).unwrap();
                stream.set_nodelay(true).unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut w = stream;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= requests {
                        break;
                    }
                    let id = ids[i % ids.len()].to_lowercase();
                    write!(
                        w,
                        "GET /v3-flatcontainer/{id}/1.0.0/{id}.1.0.0.nupkg HTTP/1.1\r\nHost: {addr}\r\n\r\n"
                    )
                    .unwrap();
                    let (status, len) = read_response(&mut reader);
                    assert_eq!(status, 200);
                    bytes.fetch_add(len, Ordering::Relaxed);
                }
            });
        }
    });
    let secs = start.elapsed().as_secs_f64();
    println!(
        "downloads: {requests} in {secs:.2} s = {:.0} requests/s, {:.1} MB/s ({concurrency} connections)",
        requests as f64 / secs,
        bytes.load(Ordering::Relaxed) as f64 / secs / 1e6
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, d: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(d);
    match args.first().map(String::as_str) {
        Some("get") => {
            let base = args.get(1).expect("BASE_URL");
            let ids: Vec<String> = (0..arg(4, 500))
                .map(|i| format!("Bench.Package{i}"))
                .collect();
            get_all(base, &ids, arg(2, 20_000), arg(3, 4));
        }
        Some(mode @ ("push" | "serve")) => {
            let pushes = arg(1, 500);
            let concurrency = arg(2, 4);
            let export = args.get(3).map(std::path::PathBuf::from);
            let packages: Vec<(String, Vec<u8>)> = (0..pushes).map(package).collect();
            let tmp = tempfile::tempdir().unwrap();
            let rt = tokio::runtime::Runtime::new().unwrap();
            let (addr, key) = rt.block_on(async {
                let config = Config {
                    data_dir: Some(tmp.path().to_path_buf()),
                    ..Config::default()
                };
                let registry = config.open_registry().await.unwrap();
                registry.create_user("bench", None, "pw").await.unwrap();
                let key = registry
                    .create_api_key("bench", None, "", signet_server::Scopes::all(), &[], None)
                    .await
                    .unwrap();
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap().to_string();
                let state = AppState::new(Arc::new(registry), &format!("http://{addr}"));
                tokio::spawn(signet_server::serve(
                    listener,
                    state,
                    std::future::pending(),
                    std::time::Duration::from_secs(1),
                ));
                (addr, key)
            });
            let rate = push_all(&addr, &key, &packages, concurrency);
            println!(
                "pushes: {pushes} packages of {} bytes, {concurrency} clients: {rate:.0} pushes/s",
                packages[0].1.len()
            );
            if let Some(dir) = export {
                for (id, bytes) in &packages {
                    let l = id.to_lowercase();
                    let d = dir.join("v3-flatcontainer").join(&l).join("1.0.0");
                    std::fs::create_dir_all(&d).unwrap();
                    std::fs::write(d.join(format!("{l}.1.0.0.nupkg")), bytes).unwrap();
                }
            }
            if mode == "serve" {
                // Keep serving for `get` from another process (a fair comparison with nginx).
                println!("serving http://{addr} (Ctrl-C to stop)");
                loop {
                    std::thread::park();
                }
            }
            let ids: Vec<String> = packages.iter().map(|(id, _)| id.clone()).collect();
            get_all(&format!("http://{addr}"), &ids, 20_000, concurrency);
            drop(rt);
        }
        Some("signed-push") => signed_push(arg(1, 500), arg(2, 4)),
        Some("mirror") => mirror(
            arg(1, 1000),
            arg(2, 8),
            args.get(3).map(std::path::PathBuf::from),
        ),
        Some("backfill") => backfill(arg(1, 1000), arg(2, 4)),
        Some("tlog") => tlog(arg(1, 20_000), arg(2, 8)),
        Some("reads") => {
            let packages = arg(1, 100_000);
            reads_on("SQLite", None, packages);
            let pg = args
                .get(2)
                .cloned()
                .or_else(|| std::env::var("SIGNET_TEST_POSTGRES").ok());
            if let Some(pg) = pg {
                reads_on("PostgreSQL", Some(pg), packages);
            }
        }
        _ => eprintln!(
            "usage: serve_bench push [PUSHES] [CONCURRENCY] [EXPORT_DIR] | get BASE_URL [REQUESTS] [CONCURRENCY] [PACKAGES] | signed-push [PUSHES] [CONCURRENCY] | backfill [PACKAGES] [PARALLEL] | reads [PACKAGES] [POSTGRES_URL]"
        ),
    }
}

/// A signing registry on a fresh data dir (development PKI, embedded authority).
async fn signing_registry(
    dir: &std::path::Path,
    repository_signing: bool,
) -> signet_server::Registry {
    let mut config = Config::from_toml("[signing]\nrevocation_mode = \"offline\"\n").unwrap();
    config.signing.repository_signing = Some(repository_signing);
    registry_from(config, dir).await
}

/// The registry `config` describes on `dir`, with its signing setup.
async fn registry_from(mut config: Config, dir: &std::path::Path) -> signet_server::Registry {
    config.data_dir = Some(dir.to_path_buf());
    let setup = config
        .signing_setup(
            "https://bench.example",
            Arc::new(signet_server::SystemClock),
        )
        .unwrap();
    config
        .open_registry()
        .await
        .unwrap()
        .with_signing(setup)
        .await
        .unwrap()
}

/// Author-signs `bytes` with the development PKI's code-signing key, timestamped by an
/// authority over the same PKI's timestamping key.
fn author_sign(pki: &std::path::Path, authority: &signet_tsa::Authority, bytes: &[u8]) -> Vec<u8> {
    struct InProcess<'a>(&'a signet_tsa::Authority);
    impl signet_tsa::Transport for InProcess<'_> {
        fn post(
            &self,
            _: &str,
            _: &str,
            body: &[u8],
            _: std::time::Duration,
        ) -> Result<(u16, Vec<u8>), String> {
            Ok((200, self.0.respond(body, signet_common::UtcTime::now())))
        }
    }
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
        "bench",
    );
    let ts = signet_sign::TsaTimestamper::new(
        "http://bench.invalid/",
        InProcess(authority),
        signet_common::HashAlgorithm::Sha256,
        Arc::new(trust),
    );
    let mut out = Vec::new();
    signet_sign::sign_package(
        std::io::Cursor::new(bytes),
        &mut out,
        &signet_sign::Operation::Author {
            hash_algorithm: signet_common::HashAlgorithm::Sha256,
            overwrite: false,
        },
        &signet_sign::SignOptions {
            signer: &signer,
            timestamper: Some(&ts),
            now: signet_common::UtcTime::now(),
            limits: signet_nupkg::Limits::default(),
        },
    )
    .unwrap();
    out
}

fn signed_push(pushes: usize, concurrency: usize) {
    let tmp = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (addr, key, registry) = rt.block_on(async {
        let registry = signing_registry(tmp.path(), true).await;
        registry.create_user("bench", None, "pw").await.unwrap();
        let pem = std::fs::read(tmp.path().join("dev-pki/codesign.pem")).unwrap();
        registry
            .register_certificate("bench", "codesign.pem", &pem)
            .await
            .unwrap();
        let key = registry
            .create_api_key("bench", None, "", signet_server::Scopes::all(), &[], None)
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let registry = Arc::new(registry);
        let state = AppState::new(Arc::clone(&registry), &format!("http://{addr}"));
        tokio::spawn(signet_server::serve(
            listener,
            state,
            std::future::pending(),
            std::time::Duration::from_secs(1),
        ));
        (addr, key, registry)
    });
    // Signing required once a certificate is registered: author-sign every package (outside
    // the timed part), and measure unsigned pushes on a second account without certificates.
    let pki = tmp.path().join("dev-pki");
    let authority = signet_tsa::Authority::new(
        Box::new(
            signet_keys::load_signer(&pki.join("tsa.pem"), None, Some(&pki.join("tsa.key.pem")))
                .unwrap(),
        ),
        signet_tsa::AuthorityConfig::new(tmp.path().join("bench-tsa.state")),
    )
    .unwrap();
    let signed: Vec<(String, Vec<u8>)> = (0..pushes)
        .map(|i| {
            let (id, bytes) = package(i);
            (id, author_sign(&pki, &authority, &bytes))
        })
        .collect();
    let rate = push_all(&addr, &key, &signed, concurrency);
    println!(
        "signed pushes (verify + repository countersignature): {pushes} packages, {concurrency} clients: {rate:.0} pushes/s"
    );
    let key2 = rt.block_on(async {
        registry.create_user("bench2", None, "pw").await.unwrap();
        registry
            .create_api_key("bench2", None, "", signet_server::Scopes::all(), &[], None)
            .await
            .unwrap()
    });
    let unsigned: Vec<(String, Vec<u8>)> = (pushes..2 * pushes).map(package).collect();
    let rate = push_all(&addr, &key2, &unsigned, concurrency);
    println!(
        "unsigned pushes (rules + repository primary signature): {pushes} packages, {concurrency} clients: {rate:.0} pushes/s"
    );
    drop(rt);
}

fn backfill(packages: usize, parallel: usize) {
    let tmp = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let plain = signing_registry(tmp.path(), false).await;
        plain.create_user("bench", None, "pw").await.unwrap();
        let key = plain.create_api_key("bench", None, "", signet_server::Scopes::all(), &[], None).await.unwrap();
        let caller = plain.authenticate(Some(&key)).await.unwrap();
        for i in 0..packages {
            let upload = plain.new_upload().unwrap();
            std::fs::write(upload.path(), package(i).1).unwrap();
            plain.push(&caller, upload.path()).await.unwrap();
        }
        plain.db().close().await;
        let signing = signing_registry(tmp.path(), true).await;
        assert_eq!(signing.backfill_remaining().await.unwrap(), Some(packages as u64));
        let start = Instant::now();
        let done = signing.backfill(parallel, &|_| {}).await.unwrap();
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(done.signed as usize, packages);
        println!(
            "backfill: {packages} stored packages of {} bytes repository-signed in {secs:.2} s = {:.0} packages/s (parallel {parallel})",
            SIZE,
            packages as f64 / secs
        );
    });
}

/// The catalogue of `reads`: package `i` is `Bench.Package{i}` titled "Bench package i" with
/// tags `bench tag{i % 100}`; every tenth has 1.0.0, 1.1.0-beta.1 and 1.1.0.
fn catalogue(packages: usize) -> Vec<signet_server::ImportedVersion> {
    let mut out = Vec::with_capacity(packages + packages / 5);
    for i in 0..packages {
        let metadata = signet_server::Metadata {
            description: format!("Package number {i} of the read benchmark."),
            authors: "Bench".into(),
            title: format!("Bench package {i}"),
            tags: format!("bench tag{}", i % 100),
            ..Default::default()
        };
        let versions: &[&str] = if i % 10 == 0 {
            &["1.0.0", "1.1.0-beta.1", "1.1.0"]
        } else {
            &["1.0.0"]
        };
        for v in versions {
            out.push(signet_server::ImportedVersion {
                id: format!("Bench.Package{i}"),
                version: (*v).to_owned(),
                prerelease: v.contains('-'),
                metadata: metadata.clone(),
            });
        }
    }
    out
}

/// p50 and p99 of `n` sequential GETs of `path` on one keep-alive connection (after 5 unmeasured).
fn latency(addr: &str, path: &str, n: usize) -> (f64, f64, usize) {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut w = stream;
    let mut times = Vec::with_capacity(n);
    let mut len = 0;
    for i in 0..n + 5 {
        let start = Instant::now();
        write!(w, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
        let (status, l) = read_response(&mut reader);
        assert_eq!(status, 200, "{path}");
        len = l;
        if i >= 5 {
            times.push(start.elapsed().as_secs_f64() * 1e3);
        }
    }
    times.sort_by(f64::total_cmp);
    let at = |q: usize| times[(times.len() * q / 100).min(times.len() - 1)];
    (at(50), at(99), len)
}

fn reads_on(label: &str, postgres: Option<String>, packages: usize) {
    let tmp = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let database = postgres.as_ref().map(|base| {
        let base = base.trim_end_matches('/').to_owned();
        let name = format!("signet_bench_reads_{}", std::process::id());
        rt.block_on(async {
            sqlx::any::install_default_drivers();
            let admin = sqlx::AnyPool::connect(&format!("{base}/postgres"))
                .await
                .unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&admin)
                .await
                .unwrap();
            admin.close().await;
        });
        (base, name)
    });
    let (addr, registry) = rt.block_on(async {
        let mut config = Config {
            data_dir: Some(tmp.path().to_path_buf()),
            ..Config::default()
        };
        if let Some((base, name)) = &database {
            config.database.url = Some(format!("{base}/{name}"));
        }
        let registry = config.open_registry().await.unwrap();
        registry.create_user("bench", None, "pw").await.unwrap();
        let owner = registry.db().find_user("bench").await.unwrap().unwrap().id;
        let versions = catalogue(packages);
        let start = Instant::now();
        registry
            .db()
            .import_for_benchmark(owner, &versions, 1_700_000_000_000_000)
            .await
            .unwrap();
        println!(
            "{label}: {packages} packages ({} versions) stored in {:.1} s",
            versions.len(),
            start.elapsed().as_secs_f64()
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let registry = Arc::new(registry);
        let state = AppState::new(Arc::clone(&registry), &format!("http://{addr}"));
        tokio::spawn(signet_server::serve(
            listener,
            state,
            std::future::pending(),
            std::time::Duration::from_secs(1),
        ));
        (addr, registry)
    });
    let deep = packages / 2;
    let id = format!("bench.package{}", packages / 2 / 10 * 10);
    let cases = [
        (
            "v3 search, empty".to_owned(),
            "/v3/query?q=&take=20".to_owned(),
        ),
        (
            "v3 search, term (tag42: 1% of packages)".to_owned(),
            "/v3/query?q=tag42&take=20".to_owned(),
        ),
        (
            "v3 search, id term (package4242)".to_owned(),
            "/v3/query?q=package4242&take=20".to_owned(),
        ),
        (
            "v3 search, deepest page (skip=3000)".to_owned(),
            "/v3/query?q=&skip=3000&take=20".to_owned(),
        ),
        ("home page".to_owned(), "/".to_owned()),
        (
            "V2 Search() as nuget list".to_owned(),
            "/api/v2/Search()?searchTerm=''&$filter=IsLatestVersion&$orderby=Id&$top=30".to_owned(),
        ),
        (
            format!("V2 Search() deep page ($skip={deep})"),
            format!("/api/v2/Search()?searchTerm=''&$filter=IsLatestVersion&$skip={deep}&$top=30"),
        ),
        (
            format!("V2 Search() all versions ($skip={deep})"),
            format!("/api/v2/Search()?searchTerm=''&includePrerelease=true&$skip={deep}&$top=30"),
        ),
        (
            format!("registration index ({id})"),
            format!("/v3/registration/{id}/index.json"),
        ),
    ];
    println!(
        "{label}: {:<46} {:>9} {:>9} {:>9}",
        "request", "p50 ms", "p99 ms", "bytes"
    );
    for (name, path) in &cases {
        let (p50, p99, len) = latency(&addr, path, 200);
        let ok = if p50 <= 20.0 && p99 <= 100.0 {
            ""
        } else {
            "  (over target)"
        };
        println!("{label}: {name:<46} {p50:>9.2} {p99:>9.2} {len:>9}{ok}");
    }
    println!("{label}: targets p50 <= 20 ms, p99 <= 100 ms; 200 requests each, one connection");
    rt.block_on(async {
        registry.db().close().await;
        if std::env::var_os("SIGNET_BENCH_KEEP_DATABASE").is_some() {
            if let Some((base, name)) = &database {
                println!("{label}: kept the database {base}/{name}");
            }
            return;
        }
        if let Some((base, name)) = &database {
            let admin = sqlx::AnyPool::connect(&format!("{base}/postgres"))
                .await
                .unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&admin)
            .await
            .unwrap();
            admin.close().await;
        }
    });
    drop(rt);
}

/// Serves `registry` on a loopback port; returns the base URL.
async fn serve_in_process(registry: signet_server::Registry) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let base = format!("http://{addr}");
    let state = AppState::new(Arc::new(registry), &base);
    tokio::spawn(signet_server::serve(
        listener,
        state,
        std::future::pending(),
        std::time::Duration::from_secs(1),
    ));
    base
}

async fn mirror_registry(
    dir: &std::path::Path,
    roots: &[std::path::PathBuf],
) -> signet_server::Registry {
    let mut toml = String::from(
        "[signing]\nrevocation_mode = \"offline\"\nannounce_repository_signatures_over_http = true\nstaple_revocation = false\n",
    );
    // The package memory under test (`[server] package_memory_cache_mib`; default 256).
    if let Ok(mib) = std::env::var("SIGNET_BENCH_MEMORY_MIB") {
        toml.push_str(&format!("[server]\npackage_memory_cache_mib = {mib}\n"));
    }
    let mut config = Config::from_toml(&toml).unwrap();
    config.signing.trusted_roots = roots.to_vec();
    registry_from(config, dir).await
}

fn mirror(packages: usize, parallel: usize, export: Option<std::path::PathBuf>) {
    let tmp = tempfile::tempdir().unwrap();
    let (up_dir, mirror_dir) = (tmp.path().join("upstream"), tmp.path().join("mirror"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let all: Vec<(String, Vec<u8>)> = (0..packages).map(package).collect();
    let ids: Vec<String> = all.iter().map(|(id, _)| id.clone()).collect();
    let (up_base, mirror_base, registry) = rt.block_on(async {
        let upstream = mirror_registry(&up_dir, &[]).await;
        upstream.create_user("bench", None, "pw").await.unwrap();
        let key = upstream
            .create_api_key("bench", None, "", signet_server::Scopes::all(), &[], None)
            .await
            .unwrap();
        let caller = upstream.authenticate(Some(&key)).await.unwrap();
        let start = Instant::now();
        for (id, bytes) in &all {
            let file = upstream.new_upload().unwrap();
            std::fs::write(file.path(), bytes).unwrap();
            upstream.push(&caller, file.path()).await.unwrap();
            let _ = id;
        }
        println!(
            "upstream: {packages} packages of {} bytes stored and repository-signed in {:.1} s",
            all[0].1.len(),
            start.elapsed().as_secs_f64()
        );
        let up_base = serve_in_process(upstream).await;
        let mirror = mirror_registry(&mirror_dir, &[up_dir.join("dev-pki/root.pem")]).await;
        let settings = signet_server::mirror::UpstreamSettings {
            allow_insecure_loopback: true,
            ..Default::default()
        };
        mirror
            .add_upstream("up", &format!("{up_base}/v3/index.json"), settings)
            .await
            .unwrap();
        let mirror = Arc::new(mirror);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let mirror_base = format!("http://{addr}");
        let state = AppState::new(Arc::clone(&mirror), &mirror_base);
        tokio::spawn(signet_server::serve(
            listener,
            state,
            std::future::pending(),
            std::time::Duration::from_secs(1),
        ));
        (up_base, mirror_base, mirror)
    });
    // (1) Cold fetches, one at a time, against plain GETs of the same upstream files.
    let cold = 100.min(packages);
    let http = ureq::Agent::new_with_defaults();
    let start = Instant::now();
    for id in &ids[..cold] {
        let l = id.to_lowercase();
        let mut body = Vec::new();
        http.get(format!(
            "{up_base}/v3-flatcontainer/{l}/1.0.0/{l}.1.0.0.nupkg"
        ))
        .call()
        .unwrap()
        .into_body()
        .into_reader()
        .read_to_end(&mut body)
        .unwrap();
    }
    let transfer = start.elapsed().as_secs_f64();
    let start = Instant::now();
    rt.block_on(async {
        for id in &ids[..cold] {
            assert!(registry.mirror_fetch(id, "1.0.0").await.unwrap());
        }
    });
    let fetched = start.elapsed().as_secs_f64();
    println!(
        "cold fetch: {cold} packages one at a time in {fetched:.2} s; plain upstream GETs {transfer:.2} s; \
         verify + re-sign + store beyond the transfer: {:.1} ms per package",
        (fetched - transfer) * 1000.0 / cold as f64
    );
    // (2) Prefetch of the rest.
    let rest: Vec<(signet_nupkg::PackageId, Option<signet_feed::VersionRange>)> = ids[cold..]
        .iter()
        .map(|id| {
            (
                signet_nupkg::PackageId::parse(id).unwrap(),
                Some(signet_feed::VersionRange::parse("[1.0.0]").unwrap()),
            )
        })
        .collect();
    let n = rest.len();
    let start = Instant::now();
    let summary = rt.block_on(registry.mirror_prefetch(rest, parallel, &|_, _| {}));
    let summary = summary.unwrap();
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(summary.fetched, n, "{:?}", summary.refused);
    println!(
        "prefetch: {n} packages, {parallel} at a time, in {secs:.2} s = {:.0} packages/s",
        n as f64 / secs
    );
    // (3) Warm downloads.
    get_all(&mirror_base, &ids, 20_000, 4);
    if let Some(dir) = export {
        for id in &ids {
            let l = id.to_lowercase();
            let d = dir.join("v3-flatcontainer").join(&l).join("1.0.0");
            std::fs::create_dir_all(&d).unwrap();
            let mut body = Vec::new();
            http.get(format!(
                "{mirror_base}/v3-flatcontainer/{l}/1.0.0/{l}.1.0.0.nupkg"
            ))
            .call()
            .unwrap()
            .into_body()
            .into_reader()
            .read_to_end(&mut body)
            .unwrap();
            std::fs::write(d.join(format!("{l}.1.0.0.nupkg")), body).unwrap();
        }
        println!(
            "mirrored files written under {}; serving {mirror_base} (Ctrl-C to stop)",
            dir.display()
        );
        loop {
            std::thread::park();
        }
    }
    drop(rt);
}

fn tlog(appends: usize, concurrency: usize) {
    let tmp = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let config = Config {
            data_dir: Some(tmp.path().to_path_buf()),
            ..Config::default()
        };
        let key = signet_tlog::SigningKey::from_seed("bench.example/tlog", [7; 32]).unwrap();
        let registry = Arc::new(
            config
                .open_registry()
                .await
                .unwrap()
                .with_transparency_log(signet_server::tlog::LogKey::new(Arc::new(key))),
        );
        let entry = |i: usize| {
            signet_tlog::Entry::new(
                &format!("bench.package{i}"),
                "1.0.0",
                [i as u8; 64],
                None,
                Some([1; 32]),
                1_700_000_000_000,
            )
            .unwrap()
            .encode()
        };
        let next = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..concurrency {
            let (db, next) = (registry.db().clone(), Arc::clone(&next));
            tasks.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= appends {
                        break;
                    }
                    db.tlog_append_for_benchmark(i as i64 + 1, &entry(i)).await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "appends: {appends} on SQLite from {concurrency} tasks, one transaction each: {:.0} appends/s",
            appends as f64 / secs
        );
        // The first checkpoint covers everything (in 65,536-entry steps); then the latency of
        // one step over 1,000 new entries.
        let t = Instant::now();
        while let signet_server::tlog::CheckpointOutcome::Signed(_) =
            registry.tlog_checkpoint().await.unwrap()
        {}
        println!("first checkpoint of {appends} entries: {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
        for i in appends..appends + 1000 {
            registry.db().tlog_append_for_benchmark(i as i64 + 1, &entry(i)).await.unwrap();
        }
        let mut samples = Vec::new();
        for round in 0..20 {
            let base = appends + 1000 + round * 50;
            for i in base..base + 50 {
                registry.db().tlog_append_for_benchmark(i as i64 + 1, &entry(i)).await.unwrap();
            }
            let t = Instant::now();
            registry.tlog_checkpoint().await.unwrap();
            samples.push(t.elapsed().as_secs_f64() * 1e3);
        }
        samples.sort_by(f64::total_cmp);
        println!(
            "checkpoint step (50 new entries, tiles to the blob store, signed, stored): p50 {:.2} ms, max {:.2} ms",
            samples[samples.len() / 2],
            samples[samples.len() - 1]
        );
        // The client's check of one package.
        let size = registry.tlog_latest().await.unwrap().unwrap().size;
        let latest = registry.tlog_latest().await.unwrap().unwrap();
        let mut tiles: std::collections::HashMap<String, Vec<u8>> = Default::default();
        for (l, n) in [(0u8, size / 256), (1, size / 65536)] {
            for t in 0..=n {
                if let Some(id) = signet_tlog::tile_at(signet_tlog::TileKind::Hashes(l), t, size)
                    && let Some(signet_server::BlobBody::Bytes(b)) =
                        registry.tlog_tile(&id.path()).await.unwrap()
                {
                    tiles.insert(id.path(), b.to_vec());
                }
            }
        }
        let reader = |size: u64| {
            let tiles = &tiles;
            signet_tlog::TileHashReader::new(size, signet_tlog::Limits::default(), move |id: &signet_tlog::TileId| {
                tiles.get(&id.path()).cloned().ok_or(signet_tlog::Error::BadTile { path: id.path(), reason: "absent".into() })
            })
        };
        // Appended one at a time after the concurrent phase: entry(i) is at index i.
        let index = appends as u64 + 500;
        let e = entry(index as usize);
        let proof = signet_tlog::TlogProof {
            extra: Some(e.clone()),
            index,
            proof: signet_tlog::inclusion_proof(&reader(size), index, size).unwrap(),
            checkpoint: latest.note.clone(),
        }
        .to_text();
        let vkey = registry.transparency_log().unwrap().verifier().clone();
        let old = size - 700;
        let old_root = signet_tlog::tree_hash(&reader(size), old).unwrap();
        let limits = signet_tlog::Limits::default();
        let runs = 2000;
        let t = Instant::now();
        for _ in 0..runs {
            let p = signet_tlog::TlogProof::parse(proof.as_bytes(), &limits).unwrap();
            let entry = signet_tlog::Entry::decode(p.extra.as_deref().unwrap()).unwrap();
            std::hint::black_box(&entry);
            p.verify(p.extra.as_deref().unwrap(), &vkey, &limits).unwrap();
        }
        let per_proof = t.elapsed().as_secs_f64() * 1e6 / runs as f64;
        let t = Instant::now();
        for _ in 0..runs {
            let r = reader(size);
            let c = signet_tlog::consistency_proof(&r, old, size).unwrap();
            signet_tlog::verify_consistency(old, size, &c, &old_root, &latest.root).unwrap();
        }
        let per_consistency = t.elapsed().as_secs_f64() * 1e6 / runs as f64;
        println!(
            "client check per package (log of {size}): proof parse + entry + signature + inclusion {per_proof:.1} µs; consistency from {old} (tiles in memory) {per_consistency:.1} µs"
        );
    });
}
