//! `install` from a real HTTP v3 feed on loopback: a three-level graph, every package
//! verified before the first extraction, and a tampered dependency that leaves nothing behind.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::Path;
use std::sync::Arc;

use signet_common::{HashAlgorithm, NuCode, UtcTime};
use signet_feed::{Framework, HttpClient, HttpPolicy, Source};
use signet_install::{ConfiguredSource, Event, InstallRequest, TrustContext, install};
use signet_keys::SoftwareSigner;
use signet_sign::{Operation, SignOptions, sign_package};
use signet_test_support::{PackageBuilder, V3Feed, pki};
use signet_trust::{ClientPolicy, RevocationMode, TrustStore};

fn author_signer() -> SoftwareSigner {
    let p = pki();
    SoftwareSigner::from_key_and_chain(
        p.code_signing.key_pem().as_bytes(),
        None,
        p.chain_pem(&p.code_signing).as_bytes(),
    )
    .unwrap()
}

fn signed(builder: PackageBuilder) -> Vec<u8> {
    let unsigned = builder.build();
    let signer = author_signer();
    let mut out = Vec::new();
    sign_package(
        std::io::Cursor::new(unsigned),
        &mut out,
        &Operation::Author {
            hash_algorithm: HashAlgorithm::Sha256,
            overwrite: false,
        },
        &SignOptions {
            signer: &signer,
            timestamper: None,
            now: UtcTime::now(),
            limits: Default::default(),
        },
    )
    .unwrap();
    out
}

fn store() -> TrustStore {
    let mut s = TrustStore::empty();
    s.add_roots(
        vec![signet_signature::Certificate::from_der(&pki().root.cert_der).unwrap()],
        "test",
    );
    s
}

/// A → B [1.0,2.0) → C 1.0 (lowest applicable: B 1.0.0, C 1.0.0), plus decoys.
fn feed_with_graph(tamper_c: bool) -> V3Feed {
    let mut feed = V3Feed::new();
    feed.add(
        "Graph.A",
        "1.0.0",
        &signed(
            PackageBuilder::new("Graph.A", "1.0.0")
                .file("lib/net8.0/A.dll", b"A")
                .dependency(Some("net8.0"), "Graph.B", Some("[1.0.0, 2.0.0)"))
                .dependency(Some("netstandard2.0"), "Graph.Unused", Some("1.0.0")),
        ),
    );
    for v in ["1.0.0", "1.5.0", "2.0.0"] {
        feed.add(
            "Graph.B",
            v,
            &signed(
                PackageBuilder::new("Graph.B", v)
                    .file("lib/net8.0/B.dll", v.as_bytes())
                    .dependency(None, "Graph.C", Some("1.0.0")),
            ),
        );
    }
    for v in ["1.0.0", "2.0.0"] {
        let mut bytes = signed(
            PackageBuilder::new("Graph.C", v)
                .file("lib/net8.0/C.dll", b"the bytes of C, long enough to find")
                .stored(true),
        );
        if tamper_c && v == "1.0.0" {
            let pos = bytes
                .windows(6)
                .position(|w| w == b"bytes ")
                .expect("content in a stored entry");
            bytes[pos] ^= 0x20;
        }
        feed.add("Graph.C", v, &bytes);
    }
    feed
}

fn run(
    feed: &V3Feed,
    packages: &Path,
    policy: ClientPolicy,
) -> (
    Result<Vec<signet_install::Installed>, signet_install::Error>,
    Vec<String>,
) {
    let http = Arc::new(
        HttpClient::new(std::time::Duration::from_secs(10), HttpPolicy::LoopbackHttp).unwrap(),
    );
    let source = Source::open(&feed.index_url(), http, HttpPolicy::LoopbackHttp).unwrap();
    let sources = [ConfiguredSource {
        source,
        policy,
        name: None,
        log: None,
    }];
    let store = store();
    let ctx = TrustContext {
        store: &store,
        trusted_signers: None,
        allow_untrusted_root: vec![],
        revocation_mode: RevocationMode::Offline,
        revocation: None,
        stapled_only: false,
        staple_memory: None,
        now: UtcTime::now(),
    };
    let fw = Framework::parse("net8.0").unwrap();
    let id = signet_feed::PackageId::parse("Graph.A").unwrap();
    let req = InstallRequest {
        id: &id,
        version: None,
        prerelease: false,
        framework: &fw,
        packages_dir: packages,
        mapping: None,
        budget: signet_feed::Budget::default(),
    };
    let mut events = Vec::new();
    let r = install(&req, &sources, &ctx, &mut |e| {
        events.push(match e {
            Event::Downloading { id, version } => format!("download {id} {version}"),
            Event::Verified {
                id,
                version,
                decision,
            } => {
                format!(
                    "verify {id} {version} {}",
                    if decision.allows() { "ok" } else { "blocked" }
                )
            }
            Event::Extracted { id, version } => format!("extract {id} {version}"),
            _ => "other".into(),
        });
    });
    (r, events)
}

fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(root: &Path, d: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            out.push(p.strip_prefix(root).unwrap().to_string_lossy().to_string());
            if p.is_dir() {
                walk(root, &p, out);
            }
        }
    }
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out.sort();
    out
}

#[test]
fn installs_a_three_level_graph_verifying_everything_first() {
    let feed = feed_with_graph(false);
    let tmp = tempfile::tempdir().unwrap();
    let packages = tmp.path().join("packages");
    let (result, events) = run(&feed, &packages, ClientPolicy::Default);
    let installed = result.unwrap();
    let names: Vec<String> = installed
        .iter()
        .map(|i| format!("{} {}", i.id, i.version))
        .collect();
    assert_eq!(names, ["Graph.A 1.0.0", "Graph.B 1.0.0", "Graph.C 1.0.0"]);
    // Every verification happens before the first extraction.
    let first_extract = events
        .iter()
        .position(|e| e.starts_with("extract"))
        .unwrap();
    let last_verify = events
        .iter()
        .rposition(|e| e.starts_with("verify"))
        .unwrap();
    assert!(last_verify < first_extract, "{events:?}");
    assert_eq!(
        events
            .iter()
            .filter(|e| e.starts_with("verify") && e.ends_with("ok"))
            .count(),
        3
    );

    let files = tree(&packages);
    for expected in [
        "graph.a/1.0.0/graph.a.1.0.0.nupkg",
        "graph.a/1.0.0/graph.a.1.0.0.nupkg.sha512",
        "graph.a/1.0.0/.nupkg.metadata",
        "graph.a/1.0.0/graph.a.nuspec",
        "graph.a/1.0.0/lib/net8.0/A.dll",
        "graph.a/1.0.0/.signet.receipt.json",
        "graph.b/1.0.0/lib/net8.0/B.dll",
        "graph.c/1.0.0/lib/net8.0/C.dll",
    ] {
        assert!(
            files.iter().any(|f| f == expected),
            "{expected} missing: {files:?}"
        );
    }
    assert!(
        !files
            .iter()
            .any(|f| f.contains("graph.unused") || f.contains("1.5.0") || f.contains("2.0.0")),
        "{files:?}"
    );
    assert!(
        !files.iter().any(|f| f.contains(".signet-")),
        "work folders left: {files:?}"
    );
    assert!(
        !files
            .iter()
            .any(|f| f.contains("signature.p7s") || f.contains("[Content_Types]")),
        "{files:?}"
    );
    // .nupkg.metadata holds the content hash; .sha512 the hash of the whole file.
    let meta: serde_json::Value = serde_json::from_slice(
        &std::fs::read(packages.join("graph.b/1.0.0/.nupkg.metadata")).unwrap(),
    )
    .unwrap();
    assert_eq!(meta["version"], 2);
    assert_eq!(meta["source"], feed.index_url());
    let nupkg = std::fs::read(packages.join("graph.b/1.0.0/graph.b.1.0.0.nupkg")).unwrap();
    let mut pkg =
        signet_nupkg::Package::open(std::io::Cursor::new(&nupkg), &Default::default()).unwrap();
    assert_eq!(meta["contentHash"], pkg.content_hash().unwrap());
    use base64::Engine;
    let sha =
        std::fs::read_to_string(packages.join("graph.b/1.0.0/graph.b.1.0.0.nupkg.sha512")).unwrap();
    assert_eq!(
        sha,
        base64::engine::general_purpose::STANDARD.encode(HashAlgorithm::Sha512.digest(&nupkg))
    );
    assert_eq!(
        std::fs::read(packages.join("graph.b/1.0.0/lib/net8.0/B.dll")).unwrap(),
        b"1.0.0"
    );

    // A second install finds everything in place.
    let (again, _) = run(&feed, &packages, ClientPolicy::Default);
    assert!(again.unwrap().iter().all(|i| i.already_installed));
}

#[test]
fn a_tampered_dependency_aborts_with_nu3008_and_leaves_nothing() {
    let feed = feed_with_graph(true);
    let tmp = tempfile::tempdir().unwrap();
    let packages = tmp.path().join("packages");
    let (result, events) = run(&feed, &packages, ClientPolicy::Developer);
    let err = result.unwrap_err();
    assert_eq!(err.code(), Some(NuCode::NU3008), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("Graph.C 1.0.0"), "{msg}");
    assert!(msg.contains(&feed.index_url()), "{msg}");
    assert!(
        !events.iter().any(|e| e.starts_with("extract")),
        "{events:?}"
    );
    // Nothing of this install is in the packages folder: no package, no work folder.
    assert_eq!(tree(&packages), Vec::<String>::new());
}
