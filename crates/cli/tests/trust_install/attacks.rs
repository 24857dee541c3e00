//! `signet install`, `verify` and the audit against a hostile feed, package or checkout
//! (issue "The install client under attack"): each test builds the attack and checks that the
//! binary refuses it without touching anything outside the packages folder.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use signet_test_support::{PackageBuilder, V3Feed, isolate_config, output_text as text};

/// `signet` with an isolated HOME, run in `cwd`.
fn signet_in(cwd: &Path, home: Option<&Path>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_signet"));
    isolate_config(&mut cmd);
    if let Some(h) = home {
        cmd.env("HOME", h);
    }
    cmd.current_dir(cwd)
        .args(args)
        .env("NUGET_CERT_REVOCATION_MODE", "offline")
        .output()
        .unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Every file and directory under `dir`, relative, sorted (`[]` when missing).
fn tree(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, d: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(d) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            out.push(p.strip_prefix(root).unwrap().display().to_string());
            if p.is_dir() {
                walk(root, &p, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn package(id: &str, version: &str, payload: &str) -> PackageBuilder {
    PackageBuilder::new(id, version).file("lib/net8.0/x.dll", payload.as_bytes())
}

/// A dependency id such as `../../victim/x` from a hostile feed names no file: with a naive
/// client it would download (the normalized URL is served) and write next to the packages
/// folder before any signature is checked. signet refuses the id with NuGet's rules, under
/// any policy, and nothing appears outside or inside the packages folder.
#[test]
fn dependency_ids_from_a_feed_never_name_a_path() {
    let tmp = tempfile::tempdir().unwrap();
    let mut feed = V3Feed::new();
    for (root, dep) in [
        ("App.Traversal", "../../victim/x"),
        ("App.Absolute", "/tmp/victim"),
        ("App.Backslash", "..\\..\\victim\\x"),
    ] {
        feed.add(
            root,
            "1.0.0",
            &package(root, "1.0.0", "app")
                .dependency(None, dep, Some("1.0.0"))
                .build(),
        );
    }
    // What a client that joins ids into URLs and paths would find: the version list and the
    // package at the URLs `../` normalizes to.
    let served = feed.root().to_path_buf();
    std::fs::create_dir_all(served.join("victim/x")).unwrap();
    std::fs::write(
        served.join("victim/x/index.json"),
        r#"{"versions":["1.0.0"]}"#,
    )
    .unwrap();
    std::fs::create_dir_all(served.join("victim/victim")).unwrap();
    std::fs::write(
        served.join("victim/victim/x.1.0.0.nupkg"),
        package("x", "1.0.0", "planted").build(),
    )
    .unwrap();
    let pk = tmp.path().join("pk");
    let packages = pk.join("packages");
    let victim = pk.join("victim");
    std::fs::create_dir_all(&victim).unwrap();
    std::fs::create_dir_all(&packages).unwrap();
    for (root, shown) in [
        (
            "App.Traversal",
            "'../../victim/x' is not a valid package id",
        ),
        ("App.Absolute", "'/tmp/victim' is not a valid package id"),
        ("App.Backslash", "is not a valid package id"),
    ] {
        for policy in ["developer", "secure"] {
            let o = signet_in(
                tmp.path(),
                None,
                &[
                    "install",
                    root,
                    "--source",
                    &feed.index_url(),
                    "--policy",
                    policy,
                    "--packages",
                    s(&packages),
                    "--allow-insecure-loopback",
                ],
            );
            let out = text(&o);
            assert_eq!(o.status.code(), Some(1), "{out}");
            assert!(out.contains(shown), "{out}");
            assert!(
                out.contains(&format!("a dependency of {root} 1.0.0")),
                "{out}"
            );
            assert_eq!(tree(&victim), Vec::<String>::new(), "{out}");
            assert_eq!(tree(&packages), Vec::<String>::new(), "{out}");
        }
    }
    // The id on the command line is checked the same way, before any request.
    let o = signet_in(
        tmp.path(),
        None,
        &[
            "install",
            "../x",
            "--source",
            &feed.index_url(),
            "--packages",
            s(&packages),
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("is not a valid package id"),
        "{}",
        text(&o)
    );
}

/// A package with a second manifest under a percent-escaped name (`evil%2Enuspec`, which
/// NuGet's reader and extraction decode to `evil.nuspec`): one manifest must not be resolved
/// while another is installed. Refused, nothing extracted.
#[test]
fn an_escaped_second_manifest_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut feed = V3Feed::new();
    let evil = br#"<?xml version="1.0"?><package><metadata><id>Other</id><version>6.6.6</version><authors>x</authors><description>x</description><dependencies><dependency id="Planted" version="1.0.0"/></dependencies></metadata></package>"#;
    feed.add(
        "Two.Manifests",
        "1.0.0",
        &package("Two.Manifests", "1.0.0", "x")
            .file("evil%2Enuspec", evil)
            .build(),
    );
    let packages = tmp.path().join("packages");
    let o = signet_in(
        tmp.path(),
        None,
        &[
            "install",
            "Two.Manifests",
            "--source",
            &feed.index_url(),
            "--policy",
            "developer",
            "--packages",
            s(&packages),
            "--allow-insecure-loopback",
        ],
    );
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("evil%2Enuspec"), "{out}");
    assert_eq!(tree(&packages), Vec::<String>::new(), "{out}");
}

/// nuget.config with two sources and the mapping of NuGet's documentation.
fn mapping_config(dir: &Path, public: &str, private: &str, mapping: &str) -> PathBuf {
    let config = dir.join("mapping.config");
    std::fs::write(
        &config,
        format!(
            r#"<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <clear />
    <add key="public" value="{public}" />
    <add key="private" value="{private}" />
  </packageSources>
  <packageSourceMapping>{mapping}</packageSourceMapping>
</configuration>
"#
        ),
    )
    .unwrap();
    config
}

/// Dependency confusion: a public source publishes the private package's id (same version,
/// listed first). With `Contoso.*` mapped to the private source, the private copy is
/// installed, the output says why, and an id no pattern matches is NU1100.
#[test]
fn package_source_mapping_stops_dependency_confusion() {
    let tmp = tempfile::tempdir().unwrap();
    let mut public = V3Feed::new();
    let mut private = V3Feed::new();
    private.add(
        "Contoso.App",
        "1.0.0",
        &package("Contoso.App", "1.0.0", "app")
            .dependency(None, "Contoso.Internal", Some("1.0.0"))
            .dependency(None, "Newtonsoft.Json", Some("13.0.1"))
            .build(),
    );
    private.add(
        "Contoso.Internal",
        "1.0.0",
        &package("Contoso.Internal", "1.0.0", "private payload").build(),
    );
    for v in ["1.0.0", "9.0.0"] {
        public.add(
            "Contoso.Internal",
            v,
            &package("Contoso.Internal", v, "PUBLIC IMPOSTOR").build(),
        );
    }
    public.add(
        "Newtonsoft.Json",
        "13.0.1",
        &package("Newtonsoft.Json", "13.0.1", "json").build(),
    );
    let install = |config: &Path, packages: &Path| {
        signet_in(
            tmp.path(),
            None,
            &[
                "install",
                "Contoso.App",
                "--configfile",
                s(config),
                "--policy",
                "accept",
                "--packages",
                s(packages),
                "--allow-insecure-loopback",
            ],
        )
    };
    let dll = |packages: &Path| {
        std::fs::read_to_string(packages.join("contoso.internal/1.0.0/lib/net8.0/x.dll")).unwrap()
    };

    // Without a mapping, the first source that lists the version wins: the impostor.
    let unmapped = mapping_config(tmp.path(), &public.index_url(), &private.index_url(), "");
    let p0 = tmp.path().join("p0");
    let o = install(&unmapped, &p0);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(dll(&p0), "PUBLIC IMPOSTOR");

    let mapped = mapping_config(
        tmp.path(),
        &public.index_url(),
        &private.index_url(),
        r#"<packageSource key="public"><package pattern="*" /></packageSource>
    <packageSource key="private"><package pattern="Contoso.*" /></packageSource>"#,
    );
    let p1 = tmp.path().join("p1");
    let o = install(&mapped, &p1);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert_eq!(dll(&p1), "private payload");
    assert!(
        out.contains("Contoso.Internal 1.0.0 \u{2192} private (mapped by contoso.*)"),
        "{out}"
    );
    assert!(
        out.contains("Newtonsoft.Json 13.0.1 \u{2192} public (mapped by *)"),
        "{out}"
    );

    // No `*`: Newtonsoft.Json matches no pattern, NU1100, and nothing is installed.
    let strict = mapping_config(
        tmp.path(),
        &public.index_url(),
        &private.index_url(),
        r#"<packageSource key="private"><package pattern="Contoso.*" /></packageSource>"#,
    );
    let p2 = tmp.path().join("p2");
    let o = install(&strict, &p2);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("NU1100"), "{out}");
    assert!(out.contains("'Newtonsoft.Json'"), "{out}");
    assert!(
        out.contains("no packageSourceMapping pattern matches it"),
        "{out}"
    );
    assert_eq!(tree(&p2), Vec::<String>::new());
}

/// A few-KB manifest with 10,000 ranges on one id, against a version list of 10,000
/// versions: the resolver intersects each range once (near-linear), so this resolves in well
/// under a second instead of minutes. The elapsed time is printed, not asserted (timing is for
/// benchmarks); the assertion is on the outcome.
#[test]
fn ten_thousand_ranges_on_one_id_resolve_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let mut feed = V3Feed::new();
    let mut app = package("Range.Bomb", "1.0.0", "x");
    for i in 0..10_000 {
        app = app.dependency(None, "Range.Target", Some(&format!("[1.0.{i}, 2.0.0)")));
    }
    feed.add("Range.Bomb", "1.0.0", &app.build());
    // The version list, written once (10,000 versions), and the one package resolution picks.
    let flat = feed.root().join("flat/range.target");
    std::fs::create_dir_all(flat.join("1.0.9999")).unwrap();
    let versions: Vec<String> = (0..10_000).map(|i| format!("\"1.0.{i}\"")).collect();
    std::fs::write(
        flat.join("index.json"),
        format!(r#"{{"versions":[{}]}}"#, versions.join(",")),
    )
    .unwrap();
    std::fs::write(
        flat.join("1.0.9999/range.target.1.0.9999.nupkg"),
        package("Range.Target", "1.0.9999", "y").build(),
    )
    .unwrap();
    let packages = tmp.path().join("packages");
    let started = Instant::now();
    let o = signet_in(
        tmp.path(),
        None,
        &[
            "install",
            "Range.Bomb",
            "--source",
            &feed.index_url(),
            "--policy",
            "developer",
            "--packages",
            s(&packages),
            "--allow-insecure-loopback",
        ],
    );
    let elapsed = started.elapsed();
    eprintln!("install with 10,000 ranges on one id: {elapsed:?} (whole process)");
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(packages.join("range.target/1.0.9999").is_dir(), "{out}");
}

/// A checkout's nuget.config cannot add trust anchors or lower signet's policy: the user
/// config's `signetSignaturePolicy` stays in force and the output says which settings were
/// ignored; `signet trust source` refuses to pin a source the checkout redefines.
#[test]
fn a_checkout_cannot_rewrite_trust() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(home.join(".nuget/NuGet")).unwrap();
    std::fs::write(
        home.join(".nuget/NuGet/NuGet.Config"),
        r#"<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <config><add key="signetSignaturePolicy" value="secure" /></config>
</configuration>
"#,
    )
    .unwrap();
    let repo = tmp.path().join("repo");
    let sub = repo.join("src/app");
    std::fs::create_dir_all(&sub).unwrap();
    let planted_root = repo.join("attacker-root.pem");
    std::fs::write(&planted_root, signet_test_support::pki().root.cert_pem()).unwrap();
    std::fs::write(
        repo.join("nuget.config"),
        r#"<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <add key="nuget.org" value="http://127.0.0.1:9/v3/index.json" />
  </packageSources>
  <config>
    <add key="signetSignaturePolicy" value="developer" />
    <add key="signetTrustRoots" value="attacker-root.pem" />
  </config>
  <signetSourcePolicies><add key="nuget.org" value="developer" /></signetSourcePolicies>
</configuration>
"#,
    )
    .unwrap();
    let mut feed = V3Feed::new();
    feed.add(
        "Unsigned.Lib",
        "1.0.0",
        &package("Unsigned.Lib", "1.0.0", "x").build(),
    );
    let packages = tmp.path().join("packages");
    let o = signet_in(
        &sub,
        Some(&home),
        &[
            "install",
            "Unsigned.Lib",
            "--source",
            &feed.index_url(),
            "--packages",
            s(&packages),
            "--allow-insecure-loopback",
        ],
    );
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("policy secure (from signetSignaturePolicy in"),
        "{out}"
    );
    assert!(out.contains("ignoring signetSignaturePolicy in"), "{out}");
    assert!(out.contains("ignoring signetTrustRoots in"), "{out}");
    assert!(out.contains("ignoring signetSourcePolicies in"), "{out}");
    assert_eq!(tree(&packages), Vec::<String>::new(), "{out}");

    // A checkout's `<clear />` cannot erase the user's settings either.
    std::fs::write(
        repo.join("nuget.config"),
        r#"<configuration><config><clear /></config><signetSourcePolicies><clear /></signetSourcePolicies></configuration>"#,
    )
    .unwrap();
    let o = signet_in(
        &sub,
        Some(&home),
        &[
            "install",
            "Unsigned.Lib",
            "--source",
            &feed.index_url(),
            "--packages",
            s(&packages),
            "--allow-insecure-loopback",
        ],
    );
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("policy secure (from signetSignaturePolicy in"),
        "{out}"
    );
    std::fs::write(
        repo.join("nuget.config"),
        r#"<configuration><packageSources><add key="nuget.org" value="http://127.0.0.1:9/v3/index.json" /></packageSources><config><add key="signetTrustRoots" value="attacker-root.pem" /></config></configuration>"#,
    )
    .unwrap();

    // The planted root does not make a package signed under it trusted.
    let kit_dir = tmp.path().join("kit");
    std::fs::create_dir_all(&kit_dir).unwrap();
    let signed = kit_dir.join("signed.1.0.0.nupkg");
    std::fs::write(&signed, package("Signed", "1.0.0", "x").build()).unwrap();
    let author = signet_test_support::write_cert_files(
        &signet_test_support::pki().code_signing,
        &kit_dir,
        "author",
    );
    let o = signet_in(
        &kit_dir,
        None,
        &[
            "sign",
            s(&signed),
            "--certificate-path",
            s(&author.chain_pem),
            "--certificate-key",
            s(&author.key_pem),
            "--trust-roots",
            s(&author.root_pem),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = signet_in(&sub, Some(&home), &["verify", "--all", s(&signed)]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("NU3018"), "{out}");

    // `trust source nuget.org` in the checkout: refused, naming the file.
    let o = signet_in(&sub, Some(&home), &["trust", "source", "nuget.org"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("is defined by"), "{out}");
    assert!(out.contains("--source-url"), "{out}");
    let user = std::fs::read_to_string(home.join(".nuget/NuGet/NuGet.Config")).unwrap();
    assert!(!user.contains("trustedSigners"), "{user}");
}

/// A graph that verifies but cannot be placed (a dependency carries an entry named like the
/// folder's metadata file): nothing of the graph is installed — the packages staged before the
/// failure are not left behind — and what was installed before stays as it was.
#[test]
fn an_install_is_all_or_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut feed = V3Feed::new();
    feed.add(
        "Graph.Top",
        "1.0.0",
        &package("Graph.Top", "1.0.0", "top")
            .dependency(None, "Graph.Mid", Some("1.0.0"))
            .build(),
    );
    feed.add(
        "Graph.Mid",
        "1.0.0",
        &package("Graph.Mid", "1.0.0", "mid")
            .dependency(None, "Graph.Leaf", Some("1.0.0"))
            .build(),
    );
    feed.add(
        "Graph.Leaf",
        "1.0.0",
        &package("Graph.Leaf", "1.0.0", "leaf")
            .file(".nupkg.metadata", b"{}")
            .build(),
    );
    feed.add("Other", "1.0.0", &package("Other", "1.0.0", "o").build());
    let packages = tmp.path().join("packages");
    let install = |id: &str| {
        signet_in(
            tmp.path(),
            None,
            &[
                "install",
                id,
                "--source",
                &feed.index_url(),
                "--policy",
                "developer",
                "--packages",
                s(&packages),
                "--allow-insecure-loopback",
            ],
        )
    };
    let o = install("Other");
    assert!(o.status.success(), "{}", text(&o));
    let before = tree(&packages);
    let o = install("Graph.Top");
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("reserves for its metadata files"), "{out}");
    assert_eq!(tree(&packages), before, "{out}");
}

/// The lines of `out` that carry a hostile value, with this run's paths and ports replaced.
fn hostile_lines(out: &str, dir: &Path, needles: &[&str]) -> String {
    out.lines()
        .filter(|l| needles.iter().any(|n| l.contains(n)))
        .map(|l| {
            l.replace(s(dir), "[DIR]")
                .split("http://127.0.0.1:")
                .enumerate()
                .map(|(i, part)| {
                    if i == 0 {
                        part.to_string()
                    } else {
                        let rest = part.trim_start_matches(|c: char| c.is_ascii_digit());
                        format!("http://127.0.0.1:[PORT]{rest}")
                    }
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Nuspec fields, repository-signature owners, dependency ids and file names carrying ANSI
/// escapes and control characters: `verify`, `install` and the audit print them visibly
/// escaped, never raw (a hostile package cannot hide "validation failed" or fake a line).
#[test]
fn hostile_strings_are_shown_escaped() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let repo =
        signet_test_support::write_cert_files(&signet_test_support::pki().repository, dir, "repo");
    // verify: a nuspec id and version text with escapes, owners with escapes.
    let pkg = dir.join("evil.nupkg");
    std::fs::write(
        &pkg,
        PackageBuilder::new("Evil\u{1b}[2K\rId", "1.0.0")
            .file("lib/net8.0/x.dll", b"x")
            .build(),
    )
    .unwrap();
    let o = signet_in(
        dir,
        None,
        &[
            "repo-sign",
            s(&pkg),
            "--service-index",
            "https://feed.example.test/v3/index.json\u{1b}]8;;http://evil/\u{7}",
            "--owners",
            "alice\u{1b}[32m;bob\u{9b}2K\nerror: fake line",
            "--certificate-path",
            s(&repo.chain_pem),
            "--certificate-key",
            s(&repo.key_pem),
            "--trust-roots",
            s(&repo.root_pem),
        ],
    );
    let repo_signed = o.status.success();
    let o = signet_in(
        dir,
        None,
        &[
            "verify",
            "--all",
            "-v",
            "n",
            "--trust-roots",
            s(&repo.root_pem),
            s(&pkg),
        ],
    );
    let verify_out = text(&o);

    // install: a dependency id with escapes.
    let mut feed = V3Feed::new();
    feed.add(
        "Escapes.App",
        "1.0.0",
        &package("Escapes.App", "1.0.0", "x")
            .dependency(
                None,
                "Dep\u{1b}[2K\u{1b}[1A  Verified Dep 1.0.0",
                Some("1.0.0"),
            )
            .build(),
    );
    let o = signet_in(
        dir,
        None,
        &[
            "install",
            "Escapes.App",
            "--source",
            &feed.index_url(),
            "--policy",
            "developer",
            "--packages",
            s(&dir.join("packages")),
            "--allow-insecure-loopback",
        ],
    );
    let install_out = text(&o);

    // audit: file names with escapes.
    let folder = dir.join("folder");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("bad\u{1b}[2K\u{7}.nupkg"), b"not a zip").unwrap();
    let o = signet_in(
        dir,
        None,
        &[
            "verify",
            "--packages-folder",
            s(&folder),
            "--no-cache",
            "--policy",
            "default",
        ],
    );
    let audit_out = text(&o);

    for (what, out) in [
        ("verify", &verify_out),
        ("install", &install_out),
        ("audit", &audit_out),
    ] {
        assert!(
            !out.contains('\u{1b}') && !out.contains('\u{9b}') && !out.contains('\u{7}'),
            "{what} printed a raw control character: {out:?}"
        );
        assert!(!out.contains("\nerror: fake line"), "{what}: {out}");
    }
    assert!(repo_signed, "repo-sign with hostile owners");
    let snapshot = format!(
        "# verify\n{}\n# install\n{}\n# audit\n{}\n",
        hostile_lines(&verify_out, dir, &["Evil", "Owners", "Service index"]),
        hostile_lines(&install_out, dir, &["Dep"]),
        hostile_lines(&audit_out, dir, &["bad"]),
    );
    insta::assert_snapshot!("hostile_strings_are_shown_escaped", snapshot);
}

/// "Loopback" URLs that connect elsewhere, or that carry credentials: `push
/// --allow-insecure-loopback` refuses them before sending the API key (the URL is read by the
/// HTTP client's own parser, so `http://x\@127.0.0.1/` is host `x`).
#[test]
fn loopback_means_loopback_for_push() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = tmp.path().join("p.1.0.0.nupkg");
    std::fs::write(&pkg, package("P", "1.0.0", "x").build()).unwrap();
    for url in [
        "http://x\\@127.0.0.1:9/v3/index.json",
        "http://user:secret@127.0.0.1:9/v3/index.json",
        "http://127.0.0.1.example.test/v3/index.json",
    ] {
        let o = signet_in(
            tmp.path(),
            None,
            &[
                "push",
                s(&pkg),
                "--source",
                url,
                "--api-key",
                "THE-KEY",
                "--allow-insecure-loopback",
                "--timeout",
                "5",
            ],
        );
        let out = text(&o);
        assert!(!o.status.success(), "{url}: {out}");
        assert!(out.contains("NU1302"), "{url}: {out}");
        assert!(!out.contains("THE-KEY"), "{out}");
    }
}

/// `.nupkg` names that are not regular files (a FIFO would hang an audit that opened it, a
/// symbolic link may point anywhere): reported and refused, never opened or skipped silently.
#[cfg(unix)]
#[test]
fn the_audit_reports_special_files() {
    let tmp = tempfile::tempdir().unwrap();
    let folder = tmp.path().join("folder");
    std::fs::create_dir_all(&folder).unwrap();
    let fifo = folder.join("pipe.1.0.0.nupkg");
    let o = Command::new("mkfifo").arg(&fifo).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    std::os::unix::fs::symlink("/etc/passwd", folder.join("link.1.0.0.nupkg")).unwrap();
    let o = signet_in(
        tmp.path(),
        None,
        &[
            "verify",
            "--packages-folder",
            s(&folder),
            "--no-cache",
            "--policy",
            "default",
        ],
    );
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("pipe.1.0.0.nupkg is a FIFO, not a package file"),
        "{out}"
    );
    assert!(
        out.contains("link.1.0.0.nupkg is a symbolic link, not a package file"),
        "{out}"
    );
    assert!(out.contains("2 checked, 0 passed, 2 refused"), "{out}");
}

/// Runs `signet` in `cwd` and fails the test instead of hanging when it does not finish
/// within `secs` (the attacks below used to make install wait forever).
fn signet_within(cwd: &Path, secs: u64, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_signet"));
    isolate_config(&mut cmd);
    let child = cmd
        .current_dir(cwd)
        .args(args)
        .env("NUGET_CERT_REVOCATION_MODE", "offline")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let id = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(std::time::Duration::from_secs(secs)) {
        Ok(o) => o.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(id.to_string()).status();
            panic!("signet {args:?} did not finish within {secs} s");
        }
    }
}

/// A folder source (a checkout's nuget.config can add one) whose "packages" are a FIFO and a
/// link to a device: skipped, never opened — the install ends instead of hanging or reading
/// gigabytes.
#[cfg(unix)]
#[test]
fn a_hostile_folder_source_cannot_stall_install() {
    let tmp = tempfile::tempdir().unwrap();
    let local = tmp.path().join("local");
    std::fs::create_dir_all(&local).unwrap();
    let o = Command::new("mkfifo")
        .arg(local.join("app.1.0.0.nupkg"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    std::os::unix::fs::symlink("/dev/zero", local.join("zero.1.0.0.nupkg")).unwrap();
    let packages = tmp.path().join("packages");
    for id in ["App", "Zero"] {
        let o = signet_within(
            tmp.path(),
            60,
            &[
                "install",
                id,
                "--source",
                s(&local),
                "--policy",
                "developer",
                "--packages",
                s(&packages),
            ],
        );
        let out = text(&o);
        assert_eq!(o.status.code(), Some(1), "{out}");
        assert!(out.contains("NU1101"), "{out}");
    }
}

/// A packages folder someone prepared: a version folder without metadata, one whose metadata
/// names another package, an id folder that is a link elsewhere. None is reported as
/// installed, nothing is written through the link.
#[cfg(unix)]
#[test]
fn planted_package_folders_are_refused_not_trusted() {
    let tmp = tempfile::tempdir().unwrap();
    let mut feed = V3Feed::new();
    for id in ["Planted.A", "Planted.B", "Planted.C"] {
        feed.add(id, "1.0.0", &package(id, "1.0.0", "genuine").build());
    }
    let packages = tmp.path().join("packages");
    let forged = |id: &str, metadata: Option<&str>| {
        let dir = packages.join(id).join("1.0.0/lib/net8.0");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("x.dll"), b"EVIL").unwrap();
        if let Some(m) = metadata {
            std::fs::write(packages.join(id).join("1.0.0/.nupkg.metadata"), m).unwrap();
        }
    };
    forged("planted.a", None);
    forged(
        "planted.b",
        Some(r#"{"version":2,"contentHash":"AAAA","source":"x"}"#),
    );
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, packages.join("planted.c")).unwrap();
    for (id, why) in [
        ("Planted.A", "is not a complete installation"),
        ("Planted.B", "holds a different package"),
        ("Planted.C", "is a symbolic link"),
    ] {
        let o = signet_in(
            tmp.path(),
            None,
            &[
                "install",
                id,
                "--source",
                &feed.index_url(),
                "--policy",
                "developer",
                "--packages",
                s(&packages),
                "--allow-insecure-loopback",
            ],
        );
        let out = text(&o);
        assert_eq!(o.status.code(), Some(1), "{id}: {out}");
        assert!(out.contains(why), "{id}: {out}");
    }
    assert_eq!(tree(&outside), Vec::<String>::new());

    // The audit reports a linked package folder instead of skipping it.
    let o = signet_in(
        tmp.path(),
        None,
        &[
            "verify",
            "--packages-folder",
            s(&packages),
            "--no-cache",
            "--policy",
            "developer",
        ],
    );
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("planted.c is a symbolic link"), "{out}");
}
