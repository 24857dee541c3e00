//! The server's JSON contract as snapshots (STYLE.md: "snapshot tests of the JSON and CLI
//! contracts"): every document a NuGet client or a script reads, after one push, on a clock
//! fixed at 2026-01-02T03:04:05Z. A change to a field name, a shape or an error body shows up
//! here as a diff to review (`cargo insta review`, or `INSTA_UPDATE=always` and read the
//! `.snap` diff), never silently.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::sync::Arc;
use std::time::Duration;

use signet_common::UtcTime;
use signet_server::{AppState, Clock, Db, FileSystemStore, Registry, Scopes, SystemRandom};
use signet_test_support::PackageBuilder;

/// 2026-01-02T03:04:05Z.
const FIXED_MICROS: i64 = 1_767_323_045_000_000;

struct FixedClock;

impl Clock for FixedClock {
    fn now(&self) -> UtcTime {
        UtcTime::from_unix_micros(FIXED_MICROS)
    }
}

/// GETs (or PUTs without credentials) `path`: the status and the body, pretty-printed JSON with
/// the server's address written `{base}`.
fn document(base: &str, method: &str, path: &str) -> String {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let url = format!("{base}{path}");
    let mut response = match method {
        "GET" => agent.get(&url).call().unwrap(),
        "PUT" => agent.put(&url).send(&b""[..]).unwrap(),
        other => panic!("{other}"),
    };
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().unwrap();
    let json: serde_json::Value = serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {body}"));
    let pretty = serde_json::to_string_pretty(&json).unwrap();
    format!(
        "=== {method} {path} -> {status}\n{}\n",
        pretty.replace(base, "{base}")
    )
}

#[test]
fn the_json_documents_keep_their_shape() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (registry, listener) = rt.block_on(async {
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let db = Db::connect_with(&url, 4, Duration::from_secs(2))
            .await
            .unwrap();
        let registry = Registry::new(
            db,
            Arc::new(FileSystemStore::new(dir.path().join("blobs")).unwrap()),
            Arc::new(FixedClock),
            Arc::new(SystemRandom),
            signet_nupkg::Limits::default(),
            dir.path().join("uploads"),
        )
        .unwrap();
        registry.create_user("alice", None, "pw").await.unwrap();
        let key = registry
            .create_api_key("alice", None, "ci", Scopes::all(), &[], None)
            .await
            .unwrap();
        let caller = registry.authenticate(Some(&key)).await.unwrap();
        for version in ["1.0.0", "1.1.0-beta.1"] {
            let bytes = PackageBuilder::new("Contoso.Contract", version)
                .description("A package whose documents are snapshots.")
                .authors("Contoso")
                .dependency(Some("net8.0"), "Contoso.Other", Some("[1.0.0, )"))
                .build();
            let upload = registry.new_upload().unwrap();
            std::fs::write(upload.path(), &bytes).unwrap();
            registry.push(&caller, upload.path()).await.unwrap();
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        (Arc::new(registry), listener)
    });
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = AppState::new(registry, &base);
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
    let mut snapshot = String::new();
    for (method, path) in [
        ("GET", "/v3/index.json"),
        ("GET", "/v3-flatcontainer/contoso.contract/index.json"),
        ("GET", "/v3/registration/contoso.contract/index.json"),
        ("GET", "/v3/registration/contoso.contract/1.0.0.json"),
        (
            "GET",
            "/v3/query?q=contract&prerelease=true&semVerLevel=2.0.0",
        ),
        ("GET", "/v3/query?q=nothing-matches"),
        ("GET", "/v3/autocomplete?q=contoso"),
        (
            "GET",
            "/api/signet/packages/contoso.contract/1.0.0/signature",
        ),
        ("GET", "/health"),
        // Error bodies: one shape for every refusal.
        ("GET", "/v3-flatcontainer/no.such.package/index.json"),
        ("GET", "/v3/registration/no.such.package/index.json"),
        ("PUT", "/api/v2/package"),
    ] {
        snapshot.push_str(&document(&base, method, path));
    }
    let _ = stop.send(());
    insta::assert_snapshot!("server_json_documents", snapshot);
}
