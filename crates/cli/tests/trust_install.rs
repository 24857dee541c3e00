//! `signet trust` writing a real nuget.config, the client-policy matrix through
//! `signet install`, and `verify --packages-folder`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use signet_test_support::{PackageBuilder, V3Feed, isolate_config, pki, write_cert_files};

fn signet(args: &[&str]) -> Output {
    isolate_config(&mut Command::new(env!("CARGO_BIN_EXE_signet")))
        .args(args)
        .env("NUGET_CERT_REVOCATION_MODE", "offline")
        .output()
        .unwrap()
}

use signet_test_support::output_text as text;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{}", text(o));
    text(o)
}

struct Kit {
    _tsa: signet_test_support::TsaProcess,
    tsa_url: String,
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    root: PathBuf,
    config: PathBuf,
}

fn kit() -> Kit {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let certs = write_cert_files(&pki().code_signing, &dir, "author");
    write_cert_files(&pki().code_signing_no_ski, &dir, "other");
    write_cert_files(&pki().repository, &dir, "repo");
    let config = dir.join("nuget.config");
    std::fs::write(
        &config,
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<configuration>\n  <!-- written by the test -->\n</configuration>\n",
    )
    .unwrap();
    let tsa = signet_test_support::TsaProcess::start(Path::new(env!("CARGO_BIN_EXE_signet")), &dir);
    let tsa_url = tsa.url.clone();
    Kit {
        _tsa: tsa,
        tsa_url,
        root: certs.root_pem,
        _tmp: tmp,
        dir,
        config,
    }
}

impl Kit {
    /// An unsigned package file in `folder`.
    fn unsigned(&self, folder: &Path, id: &str) -> PathBuf {
        std::fs::create_dir_all(folder).unwrap();
        let p = folder.join(format!("{id}.1.0.0.nupkg"));
        std::fs::write(
            &p,
            PackageBuilder::new(id, "1.0.0")
                .file("lib/net8.0/x.dll", b"the payload of this package")
                .stored(true)
                .build(),
        )
        .unwrap();
        p
    }

    fn sign(&self, package: &Path, who: &str) {
        ok(&signet(&[
            "sign",
            s(package),
            "--certificate-path",
            s(&self.dir.join(format!("{who}.chain.pem"))),
            "--certificate-key",
            s(&self.dir.join(format!("{who}.key.pem"))),
            "--trust-roots",
            s(&self.root),
            "--timestamper",
            &self.tsa_url,
        ]));
    }

    fn repo_sign(&self, package: &Path) {
        ok(&signet(&[
            "repo-sign",
            s(package),
            "--service-index",
            "https://feed.example.test/v3/index.json",
            "--owners",
            "team",
            "--certificate-path",
            s(&self.dir.join("repo.chain.pem")),
            "--certificate-key",
            s(&self.dir.join("repo.key.pem")),
            "--trust-roots",
            s(&self.root),
            "--timestamper",
            &self.tsa_url,
        ]));
    }

    fn trust(&self, args: &[&str]) -> Output {
        let mut all = vec!["trust"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--configfile", s(&self.config)]);
        signet(&all)
    }

    fn install(
        &self,
        source: &str,
        id: &str,
        policy: &str,
        packages: &Path,
        extra: &[&str],
    ) -> Output {
        let mut args = vec![
            "install",
            id,
            "--source",
            source,
            "--policy",
            policy,
            "--packages",
            s(packages),
            "--configfile",
            s(&self.config),
            "--trust-roots",
            s(&self.root),
            "--trust-roots-only",
        ];
        args.extend_from_slice(extra);
        signet(&args)
    }
}

#[test]
fn trust_commands_write_nuget_config_as_nuget_does() {
    let k = kit();
    let feed_dir = k.dir.join("feed");
    let author_pkg = k.unsigned(&feed_dir, "Trust.Author");
    k.sign(&author_pkg, "author");
    let repo_pkg = k.unsigned(&feed_dir, "Trust.Repo");
    k.sign(&repo_pkg, "other");
    k.repo_sign(&repo_pkg);

    assert!(text(&k.trust(&["list"])).contains("There are no trusted signers."));
    let out = ok(&k.trust(&["author", "contoso", s(&author_pkg)]));
    assert!(
        out.contains("Successfully added a trusted author 'contoso'."),
        "{out}"
    );
    // The same name again is refused; an unsigned package cannot be trusted.
    let again = k.trust(&["author", "contoso", s(&author_pkg)]);
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again).contains("already exists"), "{}", text(&again));
    let unsigned = k.unsigned(&k.dir.join("other"), "Trust.None");
    let o = k.trust(&["author", "nobody", s(&unsigned)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("NU3004"), "{}", text(&o));
    // A repository from its countersignature, with owners.
    let out = ok(&k.trust(&[
        "repository",
        "feed",
        s(&repo_pkg),
        "--owners",
        "team;ops",
        "--allow-untrusted-root",
    ]));
    assert!(
        out.contains("Successfully added a trusted repository 'feed'."),
        "{out}"
    );
    // An author package has no repository signature.
    let o = k.trust(&["repository", "feed2", s(&author_pkg)]);
    assert_eq!(o.status.code(), Some(1));
    // A certificate by fingerprint appended to an existing signer.
    let other_fp = pki().code_signing_no_ski.sha256_fingerprint_hex();
    ok(&k.trust(&["certificate", "contoso", &other_fp]));
    let bad = k.trust(&["certificate", "x", "ABCD"]);
    assert_eq!(bad.status.code(), Some(1));

    let list = ok(&k.trust(&[]));
    let author_fp = pki().code_signing.sha256_fingerprint_hex();
    let repo_fp = pki().repository.sha256_fingerprint_hex();
    assert!(list.contains("Registered trusted signers:"), "{list}");
    assert!(list.contains(" 1.   contoso [author]"), "{list}");
    assert!(
        list.contains(&format!("        SHA256 - {author_fp}")),
        "{list}"
    );
    assert!(
        list.contains(&format!("        SHA256 - {other_fp}")),
        "{list}"
    );
    assert!(list.contains(" 2.   feed [repository]"), "{list}");
    assert!(
        list.contains("      Service Index: https://feed.example.test/v3/index.json"),
        "{list}"
    );
    assert!(list.contains("      Trusted owners: team; ops"), "{list}");
    assert!(
        list.contains(&format!("        [U] SHA256 - {repo_fp}")),
        "{list}"
    );

    let xml = std::fs::read_to_string(&k.config).unwrap();
    assert!(xml.contains("<!-- written by the test -->"), "{xml}");
    assert!(xml.contains(&format!(
        "<certificate fingerprint=\"{author_fp}\" hashAlgorithm=\"SHA256\" allowUntrustedRoot=\"false\"/>"
    )), "{xml}");
    assert!(
        xml.contains("serviceIndex=\"https://feed.example.test/v3/index.json\""),
        "{xml}"
    );
    assert!(xml.contains("<owners>team;ops</owners>"), "{xml}");

    // remove is case-insensitive.
    assert!(
        ok(&k.trust(&["remove", "CONTOSO"]))
            .contains("Successfully removed the trusted signer 'CONTOSO'.")
    );
    assert!(
        ok(&k.trust(&["remove", "contoso"]))
            .contains("No trusted signers with the name: 'contoso' were found.")
    );
}

#[test]
fn trust_source_and_sync_read_repository_signatures() {
    let k = kit();
    let feed = V3Feed::new();
    let first = pki().repository.sha256_fingerprint_hex();
    feed.announce_repository_certificates(std::slice::from_ref(&first), true);
    let url = feed.index_url();
    // Plain http needs the explicit loopback flag.
    let o = k.trust(&["source", "local", "--source-url", &url]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("https"), "{}", text(&o));
    ok(&k.trust(&[
        "source",
        "local",
        "--source-url",
        &url,
        "--allow-insecure-loopback",
    ]));
    let list = ok(&k.trust(&["list"]));
    assert!(
        list.contains(&format!("SHA256 - {}", first.to_lowercase())),
        "{list}"
    );
    // Rotation: the feed announces a new certificate too; sync replaces the list.
    let second = pki().code_signing.sha256_fingerprint_hex();
    feed.announce_repository_certificates(&[first.clone(), second.clone()], true);
    ok(&k.trust(&["sync", "local", "--allow-insecure-loopback"]));
    let list = ok(&k.trust(&["list"]));
    assert!(list.contains(&second.to_lowercase()), "{list}");
    // A feed without the resource.
    let bare = V3Feed::new();
    let o = k.trust(&[
        "source",
        "bare",
        "--source-url",
        &bare.index_url(),
        "--allow-insecure-loopback",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("no repository signatures resource"),
        "{}",
        text(&o)
    );
    let o = k.trust(&["sync", "nobody", "--allow-insecure-loopback"]);
    assert_eq!(o.status.code(), Some(1));
}

/// What a policy does with a package, as `signet install` reports it.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Allow,
    Warn(&'static str),
    Block(&'static str),
}

#[test]
fn policy_matrix_through_install() {
    let k = kit();
    let feed = k.dir.join("matrix-feed");
    let unsigned = k.unsigned(&feed, "M.Unsigned");
    let _ = unsigned;
    let trusted = k.unsigned(&feed, "M.Trusted");
    k.sign(&trusted, "author");
    let untrusted = k.unsigned(&feed, "M.Untrusted");
    k.sign(&untrusted, "other");
    let repo = k.unsigned(&feed, "M.Repo");
    k.repo_sign(&repo);
    let tampered = k.unsigned(&feed, "M.Tampered");
    k.sign(&tampered, "author");
    let mut bytes = std::fs::read(&tampered).unwrap();
    let pos = bytes.windows(7).position(|w| w == b"payload").unwrap();
    bytes[pos] ^= 0x20;
    std::fs::write(&tampered, bytes).unwrap();
    // The trusted signer comes from a real nuget.config written by `signet trust`.
    ok(&k.trust(&["author", "trusted-author", s(&trusted)]));

    use Outcome::*;
    let packages = [
        "M.Unsigned",
        "M.Trusted",
        "M.Untrusted",
        "M.Repo",
        "M.Tampered",
    ];
    let table: [(&str, [Outcome; 5]); 3] = [
        ("developer", [Allow, Allow, Allow, Allow, Block("NU3008")]),
        (
            "default",
            [
                Warn("NU3004"),
                Allow,
                Warn("NU3034"),
                Warn("NU3034"),
                Block("NU3008"),
            ],
        ),
        (
            "secure",
            [
                Block("NU3004"),
                Allow,
                Block("NU3034"),
                Block("NU3034"),
                Block("NU3008"),
            ],
        ),
    ];
    for (policy, expected) in table {
        for (id, want) in packages.iter().zip(expected) {
            let dest = k.dir.join(format!("pk-{policy}-{id}"));
            let o = k.install(s(&feed), id, policy, &dest, &[]);
            let out = text(&o);
            let got = if !o.status.success() {
                assert!(
                    out.contains(&format!("Package '{id} 1.0.0' from source")),
                    "{out}"
                );
                assert!(
                    !dest.join(id.to_lowercase()).exists(),
                    "{policy} {id}: blocked but extracted"
                );
                match want {
                    Block(code) if out.contains(code) => Block(code),
                    _ => Block("?"),
                }
            } else {
                assert!(
                    dest.join(id.to_lowercase())
                        .join("1.0.0")
                        .join(".nupkg.metadata")
                        .is_file(),
                    "{out}"
                );
                match want {
                    Warn(code) if out.contains("warning(s)") && out.contains(code) => Warn(code),
                    _ if out.contains("warning(s)") => Warn("?"),
                    _ => Allow,
                }
            };
            assert_eq!(got, want, "policy {policy}, package {id}:\n{out}");
        }
    }
}

#[test]
fn install_from_a_v3_feed_then_audit_the_packages_folder() {
    let k = kit();
    let mut feed = V3Feed::new();
    let build = |id: &str, deps: &[&str]| {
        let mut b = PackageBuilder::new(id, "1.0.0").file("lib/net8.0/x.dll", id.as_bytes());
        for d in deps {
            b = b.dependency(Some("net8.0"), d, Some("1.0.0"));
        }
        let path = k.dir.join(format!("{id}.nupkg"));
        std::fs::write(&path, b.build()).unwrap();
        k.sign(&path, "author");
        std::fs::read(&path).unwrap()
    };
    feed.add("Top", "1.0.0", &build("Top", &["Mid"]));
    feed.add("Mid", "1.0.0", &build("Mid", &["Leaf"]));
    let mut leaf = build("Leaf", &[]);
    let good_leaf = leaf.clone();
    let pos = leaf.windows(4).position(|w| w == b"Leaf").unwrap();
    // Tamper with the last occurrence (inside the dll entry, not the nuspec).
    let last = leaf.windows(4).rposition(|w| w == b"Leaf").unwrap();
    assert!(last > pos);
    feed.add("Leaf", "1.0.0", &leaf);
    let packages = k.dir.join("packages");
    // http to a loopback feed needs the explicit flag.
    let o = k.install(&feed.index_url(), "Top", "default", &packages, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("NU1302"), "{}", text(&o));

    leaf[last] ^= 0x01;
    feed.add("Leaf", "1.0.0", &leaf);
    let o = k.install(
        &feed.index_url(),
        "Top",
        "default",
        &packages,
        &["--allow-insecure-loopback"],
    );
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("NU3008") && out.contains("Leaf 1.0.0") && out.contains(&feed.index_url()),
        "{out}"
    );
    assert!(
        !packages.join("top").exists() && !packages.join("leaf").exists(),
        "{out}"
    );

    feed.add("Leaf", "1.0.0", &good_leaf);
    let out = ok(&k.install(
        &feed.index_url(),
        "Top",
        "default",
        &packages,
        &["--allow-insecure-loopback"],
    ));
    assert!(out.contains("Installed 3 package(s)"), "{out}");
    assert!(
        out.find("Verified Leaf").unwrap() < out.find("Installed Top").unwrap(),
        "{out}"
    );

    let audit = |extra: &[&str]| {
        let mut args = vec![
            "verify",
            "--packages-folder",
            s(&packages),
            "--policy",
            "default",
            "--trust-roots",
            s(&k.root),
            "--trust-roots-only",
            "--configfile",
            s(&k.config),
        ];
        args.extend_from_slice(extra);
        signet(&args)
    };
    let out = ok(&audit(&[]));
    assert!(
        out.contains("Audited 3 package(s) under policy default"),
        "{out}"
    );
    assert!(
        out.contains("3 checked, 3 passed, 0 refused (3 verified now, 0 unchanged"),
        "{out}"
    );
    assert!(!out.contains("NU3027"), "timestamped: {out}");
    let out = ok(&audit(&[]));
    assert!(out.contains("(0 verified now, 3 unchanged"), "{out}");
    // The receipt lists every extracted file with its SHA-256.
    let receipt: serde_json::Value = serde_json::from_slice(
        &std::fs::read(packages.join("mid/1.0.0/.signet.receipt.json")).unwrap(),
    )
    .unwrap();
    let dll_sha = receipt["files"]["lib/net8.0/x.dll"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(dll_sha.len(), 64, "{receipt}");
    assert!(receipt["files"]["mid.nuspec"].is_string(), "{receipt}");
    // The cache is the user's, not a file in the audited folder anyone could write verdicts into.
    let in_folder: Vec<_> = std::fs::read_dir(&packages)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert!(
        in_folder.iter().all(|n| !n.contains("audit")),
        "{in_folder:?}"
    );
    // A package changed on disk is verified again, and refused.
    let nupkg = packages.join("leaf/1.0.0/leaf.1.0.0.nupkg");
    std::fs::write(&nupkg, &leaf).unwrap();
    let o = audit(&[]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("3 checked, 2 passed, 1 refused (1 verified now, 2 unchanged")
            && out.contains("NU3008"),
        "{out}"
    );

    // The same edit with the modification time put back (`touch -r`): the change time and
    // the verdict inputs still show it, and it is verified again and refused.
    std::fs::write(&nupkg, &good_leaf).unwrap();
    ok(&audit(&[]));
    let mtime = std::fs::metadata(&nupkg).unwrap().modified().unwrap();
    std::fs::write(&nupkg, &leaf).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&nupkg)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    assert_eq!(
        std::fs::metadata(&nupkg).unwrap().modified().unwrap(),
        mtime
    );
    let o = audit(&[]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("NU3008") && out.contains("1 refused"), "{out}");
    std::fs::write(&nupkg, &good_leaf).unwrap();
    ok(&audit(&[]));

    // What the build loads: an extracted DLL replaced (same size, mtime put back), one
    // added, one removed. Each is reported against the verified package.
    let dll = packages.join("mid/1.0.0/lib/net8.0/x.dll");
    let mtime = std::fs::metadata(&dll).unwrap().modified().unwrap();
    std::fs::write(&dll, b"Evl").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&dll)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    std::fs::write(packages.join("top/1.0.0/lib/net8.0/evil.dll"), b"MZ").unwrap();
    std::fs::remove_file(packages.join("leaf/1.0.0/lib/net8.0/x.dll")).unwrap();
    let o = audit(&[]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("3 checked, 0 passed, 3 refused"), "{out}");
    assert!(
        out.contains("extracted file lib/net8.0/x.dll differs from the package"),
        "{out}"
    );
    assert!(
        out.contains("extracted file lib/net8.0/evil.dll is not in the package"),
        "{out}"
    );
    assert!(
        out.contains("extracted file lib/net8.0/x.dll is missing"),
        "{out}"
    );
    // A rewritten receipt changes nothing: the expectation comes from the package.
    let forged = std::fs::read_to_string(packages.join("mid/1.0.0/.signet.receipt.json"))
        .unwrap()
        .replace(&dll_sha, &"0".repeat(64));
    std::fs::write(packages.join("mid/1.0.0/.signet.receipt.json"), forged).unwrap();
    let o = audit(&[]);
    assert!(
        text(&o).contains("differs from the package"),
        "{}",
        text(&o)
    );

    // The verdict inputs: the same folder under another policy is verified again.
    let o = signet(&[
        "verify",
        "--packages-folder",
        s(&packages),
        "--policy",
        "developer",
        "--trust-roots",
        s(&k.root),
        "--trust-roots-only",
        "--configfile",
        s(&k.config),
    ]);
    assert!(
        text(&o).contains("(3 verified now, 0 unchanged"),
        "{}",
        text(&o)
    );
}

/// Real NuGet.org packages, bundled roots: `secure` installs a package whose repository
/// countersignature matches a trusted repository (taken from another NuGet.org package), and
/// refuses one signed by an author nobody trusted; `trust author` then lets it in.
#[test]
fn secure_policy_with_real_nuget_org_packages() {
    let tmp = tempfile::tempdir().unwrap();
    let feed = tmp.path().join("feed");
    std::fs::create_dir_all(&feed).unwrap();
    let packages_dir = signet_test_support::interop_dir().join("packages");
    for name in [
        "nuget.versioning.5.0.0.nupkg",
        "TestPackage.AuthorSigned.1.0.0.nupkg",
    ] {
        std::fs::copy(packages_dir.join(name), feed.join(name)).unwrap();
    }
    let config = tmp.path().join("nuget.config");
    std::fs::write(&config, "<configuration />").unwrap();
    let cfg = s(&config);
    // Trust NuGet.org as a repository, from the countersignature of another NuGet.org package.
    let o = signet(&[
        "trust",
        "repository",
        "nuget.org",
        s(&packages_dir.join("newtonsoft.json.13.0.4.nupkg")),
        "--configfile",
        cfg,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    // NuGet.org rotated its repository certificate between these packages (2019 and 2025):
    // pin the older one too, as NuGet.org's own instructions list every fingerprint.
    let countersigner = |name: &str| {
        let bytes = std::fs::read(packages_dir.join(name)).unwrap();
        let mut pkg =
            signet_nupkg::Package::open(std::io::Cursor::new(bytes), &Default::default()).unwrap();
        let sig = signet_signature::PrimarySignature::load(
            &pkg.read_signature().unwrap().unwrap(),
            &Default::default(),
        )
        .unwrap();
        let counter = sig.repository_countersignature().unwrap().unwrap();
        counter.certificate().unwrap().sha256_hex()
    };
    let old = countersigner("nuget.versioning.5.0.0.nupkg");
    assert_ne!(
        old,
        countersigner("newtonsoft.json.13.0.4.nupkg"),
        "a rotation"
    );
    let install = |id: &str| {
        signet(&[
            "install",
            id,
            "--source",
            s(&feed),
            "--policy",
            "secure",
            "--framework",
            "net472",
            "--packages",
            s(&tmp.path().join("packages")),
            "--configfile",
            cfg,
        ])
    };
    let o = install("NuGet.Versioning");
    assert_eq!(
        o.status.code(),
        Some(1),
        "the 2019 certificate is not pinned yet"
    );
    assert!(text(&o).contains("NU3034"), "{}", text(&o));
    let o = signet(&[
        "trust",
        "certificate",
        "nuget.org",
        &old,
        "--configfile",
        cfg,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = install("NuGet.Versioning");
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        tmp.path()
            .join("packages/nuget.versioning/5.0.0/lib")
            .is_dir()
    );
    // Author-signed only, by a certificate no one trusted.
    let o = install("TestPackage.AuthorSigned");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("NU3034"), "{}", text(&o));
    assert!(
        !tmp.path()
            .join("packages/testpackage.authorsigned")
            .exists()
    );
    let o = signet(&[
        "trust",
        "author",
        "test-author",
        s(&feed.join("TestPackage.AuthorSigned.1.0.0.nupkg")),
        "--configfile",
        cfg,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = install("TestPackage.AuthorSigned");
    assert!(o.status.success(), "{}", text(&o));
}
#[path = "trust_install/attacks.rs"]
mod attacks;
#[path = "trust_install/identity.rs"]
mod identity;

/// Runs `signet` in a pseudo-terminal (util-linux `script`), typing `answer`.
fn signet_on_a_terminal(args: &[&str], answer: &str) -> String {
    let quoted: Vec<String> = std::iter::once(env!("CARGO_BIN_EXE_signet").to_string())
        .chain(args.iter().map(|a| a.to_string()))
        .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
        .collect();
    let mut cmd = Command::new("script");
    isolate_config(&mut cmd);
    let mut child = cmd
        .args(["-qec", &quoted.join(" "), "/dev/null"])
        .env("NUGET_CERT_REVOCATION_MODE", "offline")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().unwrap();
        // Typed after the prompt appears (script forwards input to the terminal as it comes).
        std::thread::sleep(std::time::Duration::from_millis(1500));
        let _ = stdin.write_all(answer.as_bytes());
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    text(&child.wait_with_output().unwrap())
}

/// The 2017 plan's Secure mode "Prompt" (issue "A new user's first hour"): on a terminal, an
/// untrusted author is shown and may be trusted at once, written to nuget.config as `signet
/// trust author` would; declined, nothing is extracted; `--no-prompt` keeps the refusal.
#[test]
fn secure_install_prompts_for_an_untrusted_signer() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: no util-linux script for a pseudo-terminal");
        return;
    }
    let k = kit();
    let mut feed = V3Feed::new();
    let pkg = k.unsigned(&k.dir.join("feed"), "Prompt.Lib");
    k.sign(&pkg, "author");
    feed.add("Prompt.Lib", "1.0.0", &std::fs::read(&pkg).unwrap());
    let index = feed.index_url();
    let install = |packages: &Path, extra: &[&str]| {
        let mut args = vec![
            "install",
            "Prompt.Lib",
            "--source",
            &index,
            "--policy",
            "secure",
            "--packages",
            s(packages),
            "--configfile",
            s(&k.config),
            "--trust-roots",
            s(&k.root),
            "--trust-roots-only",
            "--allow-insecure-loopback",
        ];
        args.extend_from_slice(extra);
        args.iter().map(|a| a.to_string()).collect::<Vec<_>>()
    };
    // Declined: nothing extracted, nothing written.
    let p1 = k.dir.join("p1");
    let args = install(&p1, &[]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = signet_on_a_terminal(&refs, "n\n");
    assert!(
        out.contains("is signed by a signer you have not trusted"),
        "{out}"
    );
    assert!(out.contains("SHA-256:"), "{out}");
    assert!(out.contains("Not trusted: nothing was installed."), "{out}");
    assert!(!p1.join("prompt.lib").exists(), "{out}");
    assert!(
        !std::fs::read_to_string(&k.config)
            .unwrap()
            .contains("trustedSigners")
    );
    // --no-prompt: the refusal, no question.
    let args = install(&k.dir.join("p2"), &["--no-prompt"]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = signet_on_a_terminal(&refs, "a\n");
    assert!(!out.contains("Trust this signer"), "{out}");
    assert!(out.contains("NU3034"), "{out}");
    // Accepted as author: written to nuget.config, then installed.
    let p3 = k.dir.join("p3");
    let args = install(&p3, &[]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = signet_on_a_terminal(&refs, "a\n");
    assert!(out.contains("Trust this signer as [a]uthor"), "{out}");
    assert!(out.contains("verifying again"), "{out}");
    assert!(out.contains("Installed 1 package(s)"), "{out}");
    assert!(p3.join("prompt.lib/1.0.0").is_dir(), "{out}");
    let config = std::fs::read_to_string(&k.config).unwrap();
    assert!(config.contains("<author name="), "{config}");
    assert!(
        config.contains(&pki().code_signing.sha256_fingerprint_hex().to_uppercase()),
        "{config}"
    );
}
