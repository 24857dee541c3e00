//! The registry without HTTP: injected clock and randomness, the crash window between a
//! stored blob and its commit, API key expiry at a fixed instant.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use signet_common::UtcTime;
use signet_server::{
    BlobStore, Clock, Db, Error, FileSystemStore, Random, Registry, Scopes, VersionFilter,
};
use signet_test_support::PackageBuilder;

/// A clock the test moves.
struct TestClock(AtomicI64);

impl Clock for TestClock {
    fn now(&self) -> UtcTime {
        UtcTime::from_unix_seconds(self.0.load(Ordering::SeqCst))
    }
}

/// Reproducible "randomness": a counter run through SplitMix64.
struct Counter(AtomicU64);

impl Random for Counter {
    fn fill(&self, buf: &mut [u8]) -> Result<(), Error> {
        for chunk in buf.chunks_mut(8) {
            let mut z = self.0.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::SeqCst);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
        }
        Ok(())
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    dir: std::path::PathBuf,
    clock: Arc<TestClock>,
    blobs: Arc<FileSystemStore>,
    registry: Registry,
}

async fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", tmp.path().join("t.db").display());
    fixture_on(tmp, &url).await
}

/// A fresh, empty PostgreSQL database on the cluster `SIGNET_TEST_POSTGRES` names (as the
/// serve suite makes them: one per test), or `None` when the variable is not set.
fn postgres_database() -> Option<String> {
    let base = std::env::var("SIGNET_TEST_POSTGRES").ok()?;
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        "signet_registry_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    );
    let out = std::process::Command::new("psql")
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
    Some(format!("{base}/{name}"))
}

/// A registry on the database at `url`, with its files under `tmp`.
async fn fixture_on(tmp: tempfile::TempDir, url: &str) -> Fixture {
    let dir = tmp.path().to_path_buf();
    let db = Db::connect(url, 4).await.unwrap();
    // Blob ages come from file times, so the test clock starts at the real time.
    let clock = Arc::new(TestClock(AtomicI64::new(UtcTime::now().unix_seconds())));
    let blobs = Arc::new(FileSystemStore::new(dir.join("blobs")).unwrap());
    let registry = Registry::new(
        db,
        blobs.clone(),
        clock.clone(),
        Arc::new(Counter(AtomicU64::new(1))),
        signet_nupkg::Limits::default(),
        dir.join("uploads"),
    )
    .unwrap();
    Fixture {
        _dir: tmp,
        dir,
        clock,
        blobs,
        registry,
    }
}

fn upload(f: &Fixture, id: &str, version: &str) -> tempfile::NamedTempFile {
    let file = f.registry.new_upload().unwrap();
    std::fs::write(file.path(), PackageBuilder::new(id, version).build()).unwrap();
    file
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphan_blob_from_a_crash_before_commit_is_invisible_and_collected() {
    let f = fixture().await;
    f.registry.create_user("alice", None, "pw").await.unwrap();
    let key = f
        .registry
        .create_api_key("alice", None, "", Scopes::all(), &[], None)
        .await
        .unwrap();
    let caller = f.registry.authenticate(Some(&key)).await.unwrap();

    // The state a crash leaves after the blob is stored and before the transaction commits.
    let staged = upload(&f, "Crash.Window", "1.0.0");
    f.blobs
        .put_file("packages/crash.window/1.0.0/0123abcd.nupkg", staged.path())
        .await
        .unwrap();
    assert!(
        f.registry
            .versions("Crash.Window")
            .await
            .unwrap()
            .is_empty()
    );
    let filter = VersionFilter {
        prerelease: true,
        semver2: true,
    };
    let found = f.registry.search("crash", filter, 0, 20).await.unwrap();
    assert!(found.hits.is_empty() && found.total == 0);
    assert!(
        f.registry
            .open_package("Crash.Window", "1.0.0")
            .await
            .unwrap()
            .is_none()
    );

    // A committed push next to it is kept; the orphan goes once the grace period has passed.
    let real = upload(&f, "Crash.Window", "1.0.0");
    f.registry.push(&caller, real.path()).await.unwrap();
    assert_eq!(f.registry.collect_orphans(3_600_000_000).await.unwrap(), 0);
    f.clock.0.fetch_add(7200, Ordering::SeqCst);
    assert_eq!(f.registry.collect_orphans(3_600_000_000).await.unwrap(), 1);
    let left: Vec<_> = f.blobs.list("packages").await.unwrap();
    assert_eq!(left.len(), 1);
    assert!(
        f.registry
            .open_package("crash.window", "1.0")
            .await
            .unwrap()
            .is_some()
    );
    assert!(f.dir.join("t.db").is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_expire_at_the_injected_time_and_are_stored_hashed() {
    let f = fixture().await;
    f.registry
        .create_user("bob", Some("b@example.invalid"), "pw")
        .await
        .unwrap();
    assert!(matches!(
        f.registry.create_user("BOB", None, "pw").await,
        Err(Error::Conflict(_))
    ));
    let key = f
        .registry
        .create_api_key(
            "bob",
            None,
            "ci",
            Scopes::parse("push").unwrap(),
            &[],
            Some(1),
        )
        .await
        .unwrap();
    assert!(key.starts_with(signet_server::API_KEY_PREFIX));
    assert!(f.registry.authenticate(Some(&key)).await.is_ok());
    f.clock.0.fetch_add(86_399, Ordering::SeqCst);
    assert!(f.registry.authenticate(Some(&key)).await.is_ok());
    f.clock.0.fetch_add(1, Ordering::SeqCst);
    assert!(matches!(
        f.registry.authenticate(Some(&key)).await,
        Err(Error::Unauthorized(m)) if m.contains("expired")
    ));
    assert!(matches!(
        f.registry.authenticate(None).await,
        Err(Error::Unauthorized(_))
    ));
}

/// Two servers starting at once on an empty PostgreSQL database both create the schema
/// (`CREATE TABLE IF NOT EXISTS` alone is not race-free there: one of them used to fail with a
/// unique violation on `pg_type`). Several rounds, each on a fresh database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_schema_creation_on_an_empty_postgres_database() {
    if std::env::var("SIGNET_TEST_POSTGRES").is_err() {
        eprintln!("skipped: set SIGNET_TEST_POSTGRES (scripts/test.sh starts a cluster)");
        return;
    }
    for round in 0..5 {
        let url = postgres_database().unwrap();
        let (a, b, c) = tokio::join!(
            Db::connect(&url, 2),
            Db::connect(&url, 2),
            Db::connect(&url, 2)
        );
        for (which, db) in [("a", a), ("b", b), ("c", c)] {
            let db = db.unwrap_or_else(|e| panic!("round {round}, connect {which}: {e}"));
            db.close().await;
        }
    }
}

/// Downloads are counted in memory and reach the database with a flush; two registries on one
/// database (two servers) add up. On SQLite, and on PostgreSQL with `SIGNET_TEST_POSTGRES`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_counts_are_written_by_a_flush_and_add_up_across_servers() {
    let tmp = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}?mode=rwc", tmp.path().join("t.db").display());
    let mut urls = vec![sqlite];
    urls.extend(postgres_database());
    for url in urls {
        let f = fixture_on(tempfile::tempdir().unwrap(), &url).await;
        f.registry.create_user("alice", None, "pw").await.unwrap();
        let key = f
            .registry
            .create_api_key("alice", None, "", Scopes::all(), &[], None)
            .await
            .unwrap();
        let caller = f.registry.authenticate(Some(&key)).await.unwrap();
        for v in ["1.0.0", "2.0.0"] {
            let file = upload(&f, "Counted.Pkg", v);
            f.registry.push(&caller, file.path()).await.unwrap();
        }
        for v in ["1.0.0", "1.0", "2.0.0", "3.0.0", "not a version"] {
            let _ = f.registry.download_package("counted.pkg", v).await.unwrap();
        }
        // Only found files count, and nothing is stored before a flush.
        assert_eq!(
            f.registry.download_counts("Counted.Pkg").await.unwrap(),
            Default::default(),
            "{url}"
        );
        assert_eq!(f.registry.flush_downloads().await.unwrap(), 2, "{url}");
        assert_eq!(f.registry.flush_downloads().await.unwrap(), 0, "{url}");
        let counts = f.registry.download_counts("COUNTED.PKG").await.unwrap();
        assert_eq!(
            (
                counts.version("1.0.0"),
                counts.version("2.0.0"),
                counts.total
            ),
            (2, 1, 3),
            "{url}"
        );

        // A second server behind the same database and blob store.
        let other = Registry::new(
            Db::connect(&url, 2).await.unwrap(),
            f.blobs.clone(),
            f.clock.clone(),
            Arc::new(Counter(AtomicU64::new(99))),
            signet_nupkg::Limits::default(),
            f.dir.join("uploads-2"),
        )
        .unwrap();
        for r in [&other, &f.registry] {
            let body = r.download_package("Counted.Pkg", "2.0.0").await.unwrap();
            assert!(body.is_some());
        }
        assert_eq!(other.flush_downloads().await.unwrap(), 1);
        assert_eq!(f.registry.flush_downloads().await.unwrap(), 1);
        let counts = other.download_counts("counted.pkg").await.unwrap();
        assert_eq!(
            (
                counts.version("1.0.0"),
                counts.version("2.0.0"),
                counts.total
            ),
            (2, 3, 5),
            "{url}"
        );
    }
}

/// S3 objects over 1 MiB are streamed (never held whole in memory); smaller ones are read
/// whole. On the S3 endpoint `SIGNET_TEST_S3` names (moto in `scripts/test.sh`), in a fresh
/// bucket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_store_streams_large_objects_and_reads_small_ones_whole() {
    use futures_util::StreamExt as _;
    use std::io::{Read as _, Write as _};
    let Ok(endpoint) = std::env::var("SIGNET_TEST_S3") else {
        eprintln!("skipped: set SIGNET_TEST_S3 (scripts/test.sh starts an S3 endpoint)");
        return;
    };
    let bucket = format!("signet-registry-{}", std::process::id());
    let addr = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "PUT /{bucket} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");

    let store = signet_server::S3Store::new(
        &bucket,
        Some(&endpoint),
        Some("us-east-1"),
        Some("test"),
        Some("test"),
        true,
        signet_server::S3Timeouts::default(),
    )
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    for (key, bytes) in [("packages/big", &big[..]), ("packages/small", &big[..1000])] {
        let file = tmp.path().join("upload");
        std::fs::write(&file, bytes).unwrap();
        store.put_file(key, &file).await.unwrap();
    }
    match store.get("packages/big").await.unwrap().unwrap() {
        signet_server::BlobBody::Stream { mut stream, len } => {
            assert_eq!(len, big.len() as u64);
            let mut got = Vec::new();
            let mut chunks = 0;
            while let Some(chunk) = stream.next().await {
                got.extend_from_slice(&chunk.unwrap());
                chunks += 1;
            }
            assert!(got == big, "the streamed object differs");
            assert!(chunks > 1, "{chunks} chunk(s)");
        }
        other => panic!("a 3 MB object is not streamed: {other:?}"),
    }
    match store.get("packages/small").await.unwrap().unwrap() {
        signet_server::BlobBody::Bytes(b) => assert_eq!(&b[..], &big[..1000]),
        other => panic!("a small object is not read whole: {other:?}"),
    }
    assert!(store.get("packages/absent").await.unwrap().is_none());
}

/// Push input is bounded and checked before anything is stored (issue 13): archives clients
/// would unpack differently, over-long versions (a 400, never a 500), and metadata URLs that
/// are not http(s) are refused, each naming the rule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_refuses_bad_entry_names_long_versions_and_non_http_urls() {
    use signet_server::PushRule;
    let f = fixture().await;
    f.registry.create_user("alice", None, "pw").await.unwrap();
    let key = f
        .registry
        .create_api_key("alice", None, "", Scopes::all(), &[], None)
        .await
        .unwrap();
    let caller = f.registry.authenticate(Some(&key)).await.unwrap();
    let with_nuspec = |id: &str, extra: &str| {
        let b = PackageBuilder::new(id, "1.0.0");
        let xml = b
            .nuspec_xml()
            .replace("</metadata>", &format!("{extra}</metadata>"));
        b.nuspec(xml.as_bytes()).build()
    };
    let long_version = format!("1.0.0-{}", "a".repeat(5000));
    let cases: Vec<(&str, Vec<u8>, PushRule)> = vec![
        (
            "case twins",
            PackageBuilder::new("Twins", "1.0.0")
                .file("lib/net8.0/A.dll", b"a")
                .file("lib/net8.0/a.dll", b"b")
                .build(),
            PushRule::ArchiveEntries,
        ),
        (
            "traversal",
            PackageBuilder::new("Traversal", "1.0.0")
                .file("lib/../../evil.dll", b"a")
                .build(),
            PushRule::ArchiveEntries,
        ),
        (
            "percent-encoded traversal",
            PackageBuilder::new("Percent", "1.0.0")
                .file("lib/%2e%2e/%2e%2e/evil.dll", b"a")
                .build(),
            PushRule::ArchiveEntries,
        ),
        (
            "percent-decoded duplicate",
            PackageBuilder::new("Dup", "1.0.0")
                .file("lib/a b.dll", b"a")
                .file("lib/a%20b.dll", b"b")
                .build(),
            PushRule::ArchiveEntries,
        ),
        (
            "5,000-character version",
            PackageBuilder::new("Long", &long_version).build(),
            PushRule::Manifest,
        ),
        (
            "javascript: projectUrl",
            with_nuspec("Js", "<projectUrl>javascript:alert(1)</projectUrl>"),
            PushRule::Manifest,
        ),
        (
            "file: iconUrl",
            with_nuspec("File", "<iconUrl>file:///etc/passwd</iconUrl>"),
            PushRule::Manifest,
        ),
        (
            "repository url",
            with_nuspec("Repo", "<repository type=\"git\" url=\"ssh://x/y\" />"),
            PushRule::Manifest,
        ),
        (
            "protocol-relative licenseUrl",
            with_nuspec("Rel", "<licenseUrl>https:///evil.example</licenseUrl>"),
            PushRule::Manifest,
        ),
    ];
    for (what, bytes, rule) in cases {
        let file = f.registry.new_upload().unwrap();
        std::fs::write(file.path(), &bytes).unwrap();
        let dry = f.registry.validate_push(&caller, file.path()).await;
        let pushed = f.registry.push(&caller, file.path()).await;
        for r in [dry.map(|_| ()), pushed.map(|_| ())] {
            match r {
                Err(e @ Error::Refused(_)) => {
                    assert_eq!(e.status(), 400, "{what}");
                    let Error::Refused(refusal) = &e else {
                        unreachable!()
                    };
                    assert_eq!(refusal.rule, rule, "{what}: {e}");
                    assert!(!e.to_string().contains(&f.dir.display().to_string()));
                }
                other => panic!("{what}: expected a refusal, got {other:?}"),
            }
        }
    }
    // http(s) URLs and plain names are accepted.
    let file = f.registry.new_upload().unwrap();
    let ok = with_nuspec(
        "Fine",
        "<projectUrl>https://example.com/p</projectUrl><repository type=\"git\" \
         url=\"https://example.com/r.git\" />",
    );
    std::fs::write(file.path(), ok).unwrap();
    f.registry.push(&caller, file.path()).await.unwrap();
}

/// Keys acting for an organization act only on that organization's packages, and stop
/// working once their user leaves it; an organization keeps at least one administrator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organization_keys_act_only_for_their_owner_and_end_with_membership() {
    let f = fixture().await;
    for u in ["alice", "bob"] {
        f.registry.create_user(u, None, "pw").await.unwrap();
    }
    for org in ["Contoso", "Fabrikam"] {
        f.registry.create_organization(org, "alice").await.unwrap();
    }
    f.registry
        .set_member("Contoso", "bob", signet_server::Role::Collaborator)
        .await
        .unwrap();
    let key = |user: &'static str, owner: Option<&'static str>| {
        let r = &f.registry;
        async move {
            r.create_api_key(user, owner, "", Scopes::all(), &[], None)
                .await
                .unwrap()
        }
    };
    let contoso_alice = key("alice", Some("Contoso")).await;
    let fabrikam_alice = key("alice", Some("Fabrikam")).await;
    let contoso_bob = key("bob", Some("Contoso")).await;
    let caller = |k: String| {
        let r = &f.registry;
        async move { r.authenticate(Some(&k)).await }
    };
    let push = |k: String, id: &'static str, v: &'static str| {
        let f = &f;
        async move {
            let c = f.registry.authenticate(Some(&k)).await?;
            let file = upload(f, id, v);
            f.registry.push(&c, file.path()).await.map(|_| ())
        }
    };
    push(contoso_alice.clone(), "Contoso.Pkg", "1.0.0")
        .await
        .unwrap();
    push(fabrikam_alice.clone(), "Fabrikam.Pkg", "1.0.0")
        .await
        .unwrap();
    // Alice administers both, but the Fabrikam key acts only on Fabrikam's packages.
    match push(fabrikam_alice.clone(), "Contoso.Pkg", "2.0.0").await {
        Err(Error::Forbidden(_)) => {}
        other => panic!("a Fabrikam key pushed a Contoso package: {other:?}"),
    }
    let fab = caller(fabrikam_alice.clone()).await.unwrap();
    assert!(
        f.registry
            .set_listed(&fab, "Contoso.Pkg", "1.0.0", false)
            .await
            .is_err()
    );
    push(contoso_bob.clone(), "Contoso.Pkg", "1.1.0")
        .await
        .unwrap();

    // Bob leaves Contoso: his Contoso key stops at once.
    f.registry.remove_member("Contoso", "bob").await.unwrap();
    match caller(contoso_bob.clone()).await {
        Err(Error::Unauthorized(_)) => {}
        other => panic!("a removed member's key still works: {other:?}"),
    }
    // The last administrator stays.
    match f.registry.remove_member("Contoso", "alice").await {
        Err(Error::Conflict(_)) => {}
        other => panic!("removed the last administrator: {other:?}"),
    }
    // A disabled user's keys stop too, and work again once enabled.
    f.registry.disable_user("alice").await.unwrap();
    assert!(caller(contoso_alice.clone()).await.is_err());
    f.registry.enable_user("alice").await.unwrap();
    caller(contoso_alice).await.unwrap();
}

/// Two owners removed at once never leave a package without an owner (on SQLite, and on
/// PostgreSQL when `SIGNET_TEST_POSTGRES` is set: there READ COMMITTED alone would let both
/// deletes pass).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_owner_removals_keep_one_owner() {
    let mut fixtures = vec![fixture().await];
    if let Some(url) = postgres_database() {
        fixtures.push(fixture_on(tempfile::tempdir().unwrap(), &url).await);
    }
    for f in &fixtures {
        f.registry.create_user("alice", None, "pw").await.unwrap();
        f.registry.create_user("bob", None, "pw").await.unwrap();
        let key = f
            .registry
            .create_api_key("alice", None, "", Scopes::all(), &[], None)
            .await
            .unwrap();
        let caller = f.registry.authenticate(Some(&key)).await.unwrap();
        for round in 0..20 {
            let id = format!("Race.{round}");
            let file = upload(f, &id, "1.0.0");
            f.registry.push(&caller, file.path()).await.unwrap();
            f.registry.add_owner(&id, "bob", "alice").await.unwrap();
            f.registry
                .answer_owner_request("bob", &id, "bob", true)
                .await
                .unwrap();
            let (a, b) = tokio::join!(
                f.registry.remove_owner(&id, "alice"),
                f.registry.remove_owner(&id, "bob")
            );
            assert!(a.is_ok() != b.is_ok(), "round {round}: {a:?} {b:?}");
            assert_eq!(f.registry.owners(&id).await.unwrap().len(), 1);
        }
    }
}
