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
    let dir = tmp.path().to_path_buf();
    let db = Db::connect(
        &format!("sqlite://{}?mode=rwc", dir.join("t.db").display()),
        4,
    )
    .await
    .unwrap();
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
    assert!(f.registry.search("crash", filter).await.unwrap().is_empty());
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
