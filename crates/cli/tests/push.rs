//! `signet push` against `signet serve`: publish with an API key, then install from the feed;
//! a second push of the version, a wrong key and plain http without the loopback flag fail.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use signet_test_support::{PackageBuilder, isolate_config};

fn signet() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_signet"));
    isolate_config(&mut cmd);
    cmd.env("NUGET_CERT_REVOCATION_MODE", "offline");
    cmd
}

use signet_test_support::output_text as text;

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `signet serve` on a free loopback port; returns it and its service index URL.
fn serve(data: &Path) -> (Serve, String) {
    let mut child = signet()
        .args([
            "serve",
            "--data-dir",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .env("SIGNET_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = lines
        .by_ref()
        .map(|l| l.unwrap())
        .find_map(|l| l.strip_prefix("service index: ").map(str::to_owned))
        .expect("service index URL");
    std::thread::spawn(move || for _ in lines {});
    (Serve(child), url)
}

fn admin(data: &Path, args: &[&str], stdin: &[u8]) -> String {
    let mut child = signet()
        .args(["admin", "--data-dir", data.to_str().unwrap()])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn push_then_install_from_signet_serve() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (_server, url) = serve(&data);
    admin(
        &data,
        &["create-user", "alice", "--password-stdin"],
        b"a long enough password\n",
    );
    let key = admin(&data, &["create-api-key", "alice"], b"");

    let package = tmp.path().join("Push.Me.1.0.0.nupkg");
    std::fs::write(
        &package,
        PackageBuilder::new("Push.Me", "1.0.0")
            .file("lib/net8.0/p.dll", b"pushed")
            .build(),
    )
    .unwrap();
    let pkg = package.to_str().unwrap();

    // Plain http needs the loopback flag.
    let o = signet()
        .args(["push", pkg, "--source", &url, "--api-key", &key])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("NU1302"), "{}", text(&o));

    let push = |key: &str| {
        signet()
            .args(["push", pkg, "--source", &url, "--allow-insecure-loopback"])
            .env("SIGNET_API_KEY", key)
            .output()
            .unwrap()
    };
    let o = push(&key);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("Created (201)"), "{}", text(&o));
    // The same version again: 409 with the server's reason in words (not its JSON), and the
    // hint nuget.exe gives; with --skip-duplicate it is reported and skipped.
    let o = push(&key);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains(
            "Response status code does not indicate success: 409 (Push.Me 1.0.0 already exists)"
        ),
        "{out}"
    );
    assert!(!out.contains("{\""), "raw JSON: {out}");
    assert!(out.contains("use the option --skip-duplicate"), "{out}");
    let o = signet()
        .args([
            "push",
            pkg,
            "--source",
            &url,
            "--allow-insecure-loopback",
            "--skip-duplicate",
        ])
        .env("SIGNET_API_KEY", &key)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("Skipped (--skip-duplicate)"),
        "{}",
        text(&o)
    );
    // A quoted wildcard, as CI YAML passes it, is expanded by signet.
    for v in ["1.0.0", "2.0.0"] {
        std::fs::write(
            tmp.path().join(format!("Push.Glob.{v}.nupkg")),
            PackageBuilder::new("Push.Glob", v).build(),
        )
        .unwrap();
    }
    let pattern = format!("{}/Push.Glob.*.nupkg", tmp.path().display());
    let o = signet()
        .args([
            "push",
            &pattern,
            "--source",
            &url,
            "--allow-insecure-loopback",
            "--skip-duplicate",
        ])
        .env("SIGNET_API_KEY", &key)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("2 package(s): 2 pushed, 0 skipped as duplicates, 0 failed."),
        "{}",
        text(&o)
    );
    // The source from nuget.config: defaultPushSource naming a package source.
    let config = tmp.path().join("push.config");
    std::fs::write(
        &config,
        format!(
            r#"<configuration><packageSources><add key="local" value="{url}" /></packageSources><config><add key="defaultPushSource" value="local" /></config></configuration>"#
        ),
    )
    .unwrap();
    let o = signet()
        .args(["push", pkg, "--configfile", config.to_str().unwrap()])
        .args(["--allow-insecure-loopback", "--skip-duplicate"])
        .env("SIGNET_API_KEY", &key)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let base = url.trim_end_matches("/v3/index.json");
    assert!(text(&o).contains(&format!("to {base}/")), "{}", text(&o));
    // Unlist and relist, as `nuget delete` does.
    for (command, done) in [("delete", "unlisted"), ("relist", "listed again")] {
        let o = signet()
            .args([
                command,
                "push.me",
                "1.0",
                "--source",
                &url,
                "--allow-insecure-loopback",
            ])
            .env("SIGNET_API_KEY", &key)
            .output()
            .unwrap();
        assert!(o.status.success(), "{command}: {}", text(&o));
        assert!(text(&o).contains(done), "{}", text(&o));
    }
    let o = signet()
        .args([
            "delete",
            "Push.Me",
            "1.0.0",
            "--source",
            &url,
            "--allow-insecure-loopback",
        ])
        .env("SIGNET_API_KEY", "signet_not-a-real-key")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    // A server that is not there: named as such.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        format!("http://127.0.0.1:{port}/v3/index.json")
    };
    let o = signet()
        .args(["push", pkg, "--source", &dead, "--allow-insecure-loopback"])
        .env("SIGNET_API_KEY", &key)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("connection refused"), "{}", text(&o));
    // A wrong key.
    let o = push("signet_not-a-real-key");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("401") || text(&o).contains("403"),
        "{}",
        text(&o)
    );

    // Install it from the server (unsigned: allowed under developer).
    let packages = tmp.path().join("packages");
    let o = signet()
        .args([
            "install",
            "Push.Me",
            "--source",
            &url,
            "--allow-insecure-loopback",
        ])
        .args([
            "--policy",
            "developer",
            "--packages",
            packages.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        std::fs::read(packages.join("push.me/1.0.0/lib/net8.0/p.dll")).unwrap(),
        b"pushed"
    );
}

/// `signet admin` on a data directory that holds no server refuses instead of silently
/// creating an empty one (`--create` opts in), and passwords shorter than NuGet.org's eight
/// characters are refused.
#[test]
fn admin_refuses_a_mistyped_data_dir_and_short_passwords() {
    let tmp = tempfile::tempdir().unwrap();
    let typo = tmp.path().join("typo-dir");
    let create = |extra: &[&str], password: &[u8]| {
        let mut child = signet()
            .args(["admin", "--data-dir", typo.to_str().unwrap()])
            .args(extra)
            .args(["create-user", "alice", "--password-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The refusal may come before the password is read.
        let _ = child.stdin.take().unwrap().write_all(password);
        child.wait_with_output().unwrap()
    };
    let o = create(&[], b"a long enough password\n");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("no signet server data in"),
        "{}",
        text(&o)
    );
    assert!(!typo.join("signet.db").exists());
    let o = create(&["--create"], b"short\n");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("at least 8 characters"), "{}", text(&o));
    let o = create(&["--create"], b"a long enough password\n");
    assert!(o.status.success(), "{}", text(&o));
    assert!(typo.join("signet.db").exists());
}

/// `signet push` without `--api-key` takes the key from nuget.config as nuget.exe does: the
/// `<apikeys>` entry `nuget setapikey` stored (nuget.exe under Mono encrypts it with the
/// user's Mono key pair, which signet reads; one it cannot decrypt is named with the ways that
/// work), else the source's `packageSourceCredentials` (a signet server takes the API key as
/// the password); no key anywhere says where to put one. No output contains a key. With
/// `SIGNET_NUGET_EXE` the entry is the one nuget.exe itself writes, and the push with it is
/// accepted.
#[test]
fn push_reads_credentials_and_api_keys_from_nuget_config() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (_server, url) = serve(&data);
    admin(
        &data,
        &["create-user", "alice", "--password-stdin"],
        b"a long enough password\n",
    );
    let key = admin(&data, &["create-api-key", "alice"], b"");
    let package = |version: &str| {
        let p = tmp.path().join(format!("Cred.Push.{version}.nupkg"));
        std::fs::write(&p, PackageBuilder::new("Cred.Push", version).build()).unwrap();
        p
    };
    let config = tmp.path().join("nuget.config");
    let write_config = |body: &str| {
        std::fs::write(
            &config,
            format!(
                "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<configuration>\n  <packageSources>\n    <add key=\"local\" value=\"{url}\" />\n  </packageSources>\n{body}</configuration>\n"
            ),
        )
        .unwrap();
    };
    let push = |package: &Path, home: Option<&Path>| {
        let mut cmd = signet();
        cmd.args([
            "push",
            package.to_str().unwrap(),
            "--source",
            "local",
            "--configfile",
            config.to_str().unwrap(),
            "--allow-insecure-loopback",
        ])
        .env_remove("SIGNET_API_KEY")
        .env_remove("XDG_CONFIG_HOME");
        if let Some(home) = home {
            cmd.env("HOME", home);
        }
        cmd.output().unwrap()
    };

    // Nothing configured: where a key can come from.
    write_config("");
    let o = push(&package("1.0.0"), None);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("no API key for"), "{}", text(&o));
    assert!(
        text(&o).contains("--api-key or SIGNET_API_KEY"),
        "{}",
        text(&o)
    );

    // An encrypted <apikeys> entry this user cannot decrypt (DPAPI, or another user's Mono
    // key pair): named, with the ways that work.
    let fake = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/tests/data/mono-apikey.txt"),
    )
    .unwrap();
    let fake = fake.trim();
    write_config(&format!(
        "  <apikeys>\n    <add key=\"{url}\" value=\"{fake}\" />\n  </apikeys>\n"
    ));
    let o = push(&package("1.0.0"), None);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains(&format!("the API key stored for {url} in "))
            && out.contains("cannot be used"),
        "{out}"
    );
    assert!(out.contains("no Mono key pair for this user"), "{out}");
    assert!(
        out.contains("--api-key or SIGNET_API_KEY") && out.contains("ClearTextPassword"),
        "{out}"
    );
    assert!(!out.contains(fake), "{out}");

    // nuget.exe's own entry, read with the key pair of the user who stored it.
    if let Some(nuget) = std::env::var_os("SIGNET_NUGET_EXE") {
        write_config("");
        let home = tmp.path().join("mono-home");
        std::fs::create_dir_all(&home).unwrap();
        let o = Command::new("mono")
            .arg(&nuget)
            .args(["setapikey", &key, "-Source", &url, "-ConfigFile"])
            .arg(&config)
            .env("HOME", &home)
            .env_remove("XDG_CONFIG_HOME")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        let written = std::fs::read_to_string(&config).unwrap();
        assert!(
            written.contains("<apikeys>") && !written.contains(&key),
            "{written}"
        );
        let o = push(&package("1.0.0"), Some(&home));
        let out = text(&o);
        assert!(o.status.success(), "{out}");
        assert!(out.contains("Created (201)"), "{out}");
        assert!(!out.contains(&key), "{out}");
    } else {
        eprintln!("nuget.exe's own <apikeys> entry skipped: SIGNET_NUGET_EXE is not set");
    }

    // The source's credentials authenticate the push (also beside an entry this user cannot
    // decrypt).
    let stored = std::fs::read_to_string(&config).unwrap();
    let credentials = format!(
        "  <packageSourceCredentials>\n    <local>\n      <add key=\"Username\" value=\"alice\" />\n      <add key=\"ClearTextPassword\" value=\"{key}\" />\n    </local>\n  </packageSourceCredentials>\n"
    );
    std::fs::write(
        &config,
        stored.replace(
            "</configuration>",
            &format!("{credentials}</configuration>"),
        ),
    )
    .unwrap();
    let o = push(&package("2.0.0"), None);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("Created (201)"), "{out}");
    assert!(!out.contains(&key), "{out}");
}
