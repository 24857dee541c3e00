//! The signed-bytes = extracted-bytes invariant of issue 7 at the level of `install`: every
//! case of the adversarial package corpus (`signet_test_support::adversarial_packages`), signed
//! by a trusted author the way NuGet's signer appends signatures, is published on a loopback
//! v3 feed and installed under the Developer and the Default policies. For every case either
//!
//! * the install fails and the packages folder holds nothing of the package — no id folder, no
//!   `.signet-*` work folder; or
//! * the package folder holds exactly the entries whose bytes entered the package hash, byte
//!   for byte, as the `zip` crate reads the unsigned package (the bytes the signature's hash
//!   covers), plus the files the install writes itself — the `.nupkg` (exactly the published
//!   bytes), its `.sha512`, `.nupkg.metadata`, the receipt — with the root `.nuspec` saved as
//!   `{id}.nuspec`. No entry may stand in for one of the install's own files.
//!
//! Each case also has an expected outcome; the test prints the table of outcomes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use signet_common::{HashAlgorithm, UtcTime};
use signet_feed::{Framework, HttpClient, HttpPolicy, Source};
use signet_install::{
    ConfiguredSource, InstallRequest, Installed, RECEIPT_FILE, TrustContext, install,
};
use signet_keys::SoftwareSigner;
use signet_signature::{Certificate, SignatureKind, SignatureRequest, build_primary_signature};
use signet_test_support::{
    AdversarialExpect, V3Feed, adversarial_packages, nuget_append_signature,
    nuget_extractable_entries, pki,
};
use signet_trust::{ClientPolicy, RevocationMode, TrustStore};

const ID: &str = "Adv.Case";
const LID: &str = "adv.case";

fn signer() -> SoftwareSigner {
    let cert = &pki().code_signing;
    SoftwareSigner::from_key_and_chain(
        cert.key_pem().as_bytes(),
        None,
        pki().chain_pem(cert).as_bytes(),
    )
    .unwrap()
}

/// Signs the hash of all of `unsigned` and appends the signature as NuGet's signer does.
fn nuget_sign(unsigned: &[u8], signer: &SoftwareSigner) -> Vec<u8> {
    let sig = build_primary_signature(
        &SignatureRequest {
            kind: SignatureKind::Author,
            hash_algorithm: HashAlgorithm::Sha256,
            package_hash: HashAlgorithm::Sha256.digest(unsigned),
            signing_time: UtcTime::now(),
        },
        signer,
    )
    .unwrap();
    nuget_append_signature(unsigned, &sig)
}

fn store() -> TrustStore {
    let mut s = TrustStore::empty();
    s.add_roots(
        vec![Certificate::from_der(&pki().root.cert_der).unwrap()],
        "test",
    );
    s
}

fn run(
    feed: &V3Feed,
    packages: &Path,
    policy: ClientPolicy,
) -> Result<Vec<Installed>, signet_install::Error> {
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
    let id = signet_feed::PackageId::parse(ID).unwrap();
    let req = InstallRequest {
        id: &id,
        version: None,
        prerelease: false,
        framework: &fw,
        packages_dir: packages,
        mapping: None,
        budget: signet_feed::Budget::default(),
    };
    install(&req, &sources, &ctx, &mut |_| {})
}

/// Every file under `root` (`/`-separated relative path → bytes); directories listed with a
/// trailing `/` and no bytes, so that an empty leftover folder shows too. Anything that is
/// neither a regular file nor a directory fails the test.
fn tree(root: &Path) -> BTreeMap<String, Option<Vec<u8>>> {
    fn go(root: &Path, dir: &Path, out: &mut BTreeMap<String, Option<Vec<u8>>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let t = e.file_type().unwrap();
            let p = e.path();
            let rel: Vec<String> = p
                .strip_prefix(root)
                .unwrap()
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            let rel = rel.join("/");
            if t.is_dir() {
                out.insert(format!("{rel}/"), None);
                go(root, &p, out);
            } else {
                assert!(t.is_file(), "{} is not a regular file", p.display());
                out.insert(rel, Some(std::fs::read(&p).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    if root.exists() {
        go(root, root, &mut out);
    }
    out
}

/// Checks one install of `published` (signed `unsigned`) into `packages`; returns whether it
/// installed.
fn check(
    case: &str,
    policy: ClientPolicy,
    unsigned: &[u8],
    published: &[u8],
    result: &Result<Vec<Installed>, signet_install::Error>,
    packages: &Path,
) -> bool {
    let mut on_disk = tree(packages);
    let installed = match result {
        Err(e) => {
            assert!(
                on_disk.is_empty(),
                "{case} ({policy:?}): refused ({e}) but left {:?}",
                on_disk.keys().collect::<Vec<_>>()
            );
            return false;
        }
        Ok(installed) => installed,
    };
    assert_eq!(installed.len(), 1, "{case}: {installed:?}");
    assert!(!installed[0].already_installed, "{case}");

    // The install's own files, then the extracted ones.
    let dir = format!("{LID}/1.0.0/");
    let own = |name: &str| format!("{dir}{name}");
    let mut take = |name: String| -> Vec<u8> {
        on_disk
            .remove(&name)
            .unwrap_or_else(|| panic!("{case} ({policy:?}): {name} missing"))
            .unwrap_or_else(|| panic!("{case} ({policy:?}): {name} is a folder"))
    };
    let nupkg = take(own(&format!("{LID}.1.0.0.nupkg")));
    assert!(
        nupkg == published,
        "{case} ({policy:?}): the installed .nupkg is not the published package"
    );
    let sha512 = take(own(&format!("{LID}.1.0.0.nupkg.sha512")));
    assert_eq!(
        sha512,
        base64::engine::general_purpose::STANDARD
            .encode(HashAlgorithm::Sha512.digest(published))
            .into_bytes(),
        "{case} ({policy:?}): .nupkg.sha512"
    );
    let metadata: serde_json::Value =
        serde_json::from_slice(&take(own(".nupkg.metadata"))).unwrap();
    assert_eq!(metadata["version"], 2, "{case} ({policy:?}): {metadata}");
    assert!(
        metadata["source"]
            .as_str()
            .is_some_and(|s| s.ends_with("/v3/index.json")),
        "{case} ({policy:?}): .nupkg.metadata is not the install's: {metadata}"
    );
    let receipt: serde_json::Value = serde_json::from_slice(&take(own(RECEIPT_FILE)))
        .unwrap_or_else(|e| panic!("{case} ({policy:?}): the receipt: {e}"));
    assert!(
        receipt.as_object().is_some_and(|o| !o.is_empty()),
        "{case} ({policy:?}): the receipt is not the install's: {receipt}"
    );

    let mut expected = nuget_extractable_entries(unsigned).unwrap_or_else(|| {
        panic!("{case} ({policy:?}): installed, but the zip crate cannot read what was hashed")
    });
    // The root manifest is saved as `{id}.nuspec` in lower case.
    let manifests: Vec<String> = expected
        .keys()
        .filter(|k| !k.contains('/') && k.to_ascii_lowercase().ends_with(".nuspec"))
        .cloned()
        .collect();
    assert_eq!(manifests.len(), 1, "{case} ({policy:?}): {manifests:?}");
    let manifest = expected.remove(&manifests[0]).unwrap();
    expected.insert(format!("{LID}.nuspec"), manifest);

    let extracted: BTreeMap<String, Vec<u8>> = on_disk
        .into_iter()
        .filter_map(|(path, data)| {
            let rel = path.strip_prefix(&dir).map(str::to_string);
            match (rel, data) {
                (Some(rel), Some(data)) => Some((rel, data)),
                // Folders: the package's own, and those of extracted files.
                (Some(_), None) => None,
                (None, _) if path == format!("{LID}/") || path == dir => None,
                (None, _) => panic!("{case} ({policy:?}): {path} outside the package folder"),
            }
        })
        .collect();
    assert_eq!(
        extracted.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "{case} ({policy:?}): the extracted files are not the hashed entries"
    );
    for (name, data) in &expected {
        assert!(
            extracted[name] == *data,
            "{case} ({policy:?}): {name}: extracted bytes differ from the hashed entry"
        );
    }
    true
}

#[test]
fn install_extracts_exactly_the_hashed_entries_or_nothing() {
    let signer = signer();
    let mut table = Vec::new();
    let mut failures = Vec::new();
    for case in adversarial_packages(ID) {
        let published = nuget_sign(&case.unsigned, &signer);
        let mut feed = V3Feed::new();
        feed.add(ID, "1.0.0", &published);
        let mut outcomes = Vec::new();
        for policy in [ClientPolicy::Developer, ClientPolicy::Default] {
            let tmp = tempfile::tempdir().unwrap();
            let packages = tmp.path().join("packages");
            std::fs::create_dir(&packages).unwrap();
            let result = run(&feed, &packages, policy);
            let installed = check(
                case.name,
                policy,
                &case.unsigned,
                &published,
                &result,
                &packages,
            );
            let expected = match case.expect {
                AdversarialExpect::Installs => installed,
                AdversarialExpect::Refused => !installed,
                _ => true,
            };
            if !expected {
                failures.push(format!(
                    "{} ({policy:?}): expected {:?}, got {}",
                    case.name,
                    case.expect,
                    match &result {
                        Ok(_) => "installed".to_string(),
                        Err(e) => format!("refused: {e}"),
                    }
                ));
            }
            outcomes.push(match &result {
                Ok(_) => "installed".to_string(),
                Err(e) => format!("refused: {}", e.to_string().replace('\n', " ")),
            });
        }
        table.push(format!(
            "{:<50} developer: {} | default: {}",
            case.name, outcomes[0], outcomes[1]
        ));
    }
    println!("{}", table.join("\n"));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// NuGet's `content/` convention folder at the root of a package (legacy content files, common
/// in published packages) installs: the staging layout once used a `content` folder of its own,
/// which a package's `content/` collided with (regression test).
#[test]
fn a_package_with_a_root_content_folder_installs_its_hashed_entries() {
    let unsigned = signet_test_support::PackageBuilder::new(ID, "1.0.0")
        .file("content/readme.txt", b"content files")
        .file("lib/net8.0/Adv.dll", b"MZ")
        .build();
    let published = nuget_sign(&unsigned, &signer());
    let mut feed = V3Feed::new();
    feed.add(ID, "1.0.0", &published);
    let tmp = tempfile::tempdir().unwrap();
    let packages = tmp.path().join("packages");
    std::fs::create_dir(&packages).unwrap();
    let result = run(&feed, &packages, ClientPolicy::Default);
    let installed = check(
        "content/ folder",
        ClientPolicy::Default,
        &unsigned,
        &published,
        &result,
        &packages,
    );
    assert!(installed, "{:?}", result.err());
}

/// Entries named like the files the install writes itself (`install_layout_collisions`): the
/// same check, case by case, every failure collected (an entry that stood in for the installed
/// `.nupkg` was the first thing this test found).
#[test]
fn entries_named_like_the_install_s_own_files_never_replace_them() {
    let signer = signer();
    let mut failures = Vec::new();
    for case in signet_test_support::install_layout_collisions(ID) {
        let published = nuget_sign(&case.unsigned, &signer);
        let mut feed = V3Feed::new();
        feed.add(ID, "1.0.0", &published);
        let tmp = tempfile::tempdir().unwrap();
        let packages = tmp.path().join("packages");
        std::fs::create_dir(&packages).unwrap();
        let result = run(&feed, &packages, ClientPolicy::Default);
        let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            check(
                case.name,
                ClientPolicy::Default,
                &case.unsigned,
                &published,
                &result,
                &packages,
            )
        }));
        let outcome = match &result {
            Ok(_) => "installed".to_string(),
            Err(e) => format!("refused: {e}"),
        };
        println!("{:<50} {outcome}", case.name);
        if checked.is_err() {
            failures.push(case.name);
        }
    }
    assert!(failures.is_empty(), "{failures:?}");
}
