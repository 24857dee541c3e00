//! Trust by identity (`signet trust identity`): an author certificate renewed by the same CA
//! keeps installing under the secure policy; a fingerprint pin does not survive the renewal;
//! the same subject from a look-alike CA (same name, other key) and another organization from
//! the same CA are refused.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use signet_test_support::{
    IssuingCa, PackageBuilder, V3Feed, code_signing_cert_for, isolate_config, output_text as text,
    pki,
};

fn signet(args: &[&str]) -> Output {
    isolate_config(&mut Command::new(env!("CARGO_BIN_EXE_signet")))
        .args(args)
        .env("NUGET_CERT_REVOCATION_MODE", "offline")
        .output()
        .unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{}", text(o));
    text(o)
}

/// A package `id` 1.0.0 signed by a fresh leaf with this subject from `ca`.
fn signed(dir: &Path, id: &str, org: &str, ca: IssuingCa, root: &Path) -> PathBuf {
    let (leaf, chain) = code_signing_cert_for(org, org, ca);
    let stem = dir.join(id);
    let chain_path = stem.with_extension("chain.pem");
    let key_path = stem.with_extension("key.pem");
    std::fs::write(&chain_path, chain).unwrap();
    std::fs::write(&key_path, leaf.key_pem()).unwrap();
    let pkg = dir.join(format!("{id}.1.0.0.nupkg"));
    std::fs::write(
        &pkg,
        PackageBuilder::new(id, "1.0.0")
            .file("lib/net8.0/x.dll", id.as_bytes())
            .build(),
    )
    .unwrap();
    ok(&signet(&[
        "sign",
        s(&pkg),
        "--certificate-path",
        s(&chain_path),
        "--certificate-key",
        s(&key_path),
        "--trust-roots",
        s(root),
    ]));
    pkg
}

#[test]
fn identity_trust_survives_renewal_and_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let root = dir.join("root.pem");
    std::fs::write(&root, pki().root.cert_pem()).unwrap();
    let original = signed(
        dir,
        "Contoso.Original",
        "Contoso Ltd",
        IssuingCa::Intermediate,
        &root,
    );
    let renewed = signed(
        dir,
        "Contoso.Renewed",
        "Contoso Ltd",
        IssuingCa::Intermediate,
        &root,
    );
    let look_alike = signed(
        dir,
        "Contoso.LookAlike",
        "Contoso Ltd",
        IssuingCa::LookAlike,
        &root,
    );
    let other_org = signed(
        dir,
        "Contoso.OtherOrg",
        "Contoso Evil",
        IssuingCa::Intermediate,
        &root,
    );
    let mut feed = V3Feed::new();
    for p in [&original, &renewed, &look_alike, &other_org] {
        let name = p.file_name().unwrap().to_str().unwrap();
        let id = name.strip_suffix(".1.0.0.nupkg").unwrap();
        feed.add(id, "1.0.0", &std::fs::read(p).unwrap());
    }
    let config = |name: &str| {
        let c = dir.join(name);
        std::fs::write(
            &c,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<configuration>\n</configuration>\n",
        )
        .unwrap();
        c
    };
    let install = |id: &str, cfg: &Path| {
        signet(&[
            "install",
            id,
            "--source",
            &feed.index_url(),
            "--policy",
            "secure",
            "--packages",
            s(&dir.join(format!(
                "packages-{}",
                cfg.file_name().unwrap().to_str().unwrap()
            ))),
            "--configfile",
            s(cfg),
            "--trust-roots",
            s(&root),
            "--trust-roots-only",
            "--allow-insecure-loopback",
        ])
    };

    // The identity, proposed from the original package.
    let by_identity = config("identity.config");
    let out = ok(&signet(&[
        "trust",
        "identity",
        "contoso",
        "--from-package",
        s(&original),
        "--configfile",
        s(&by_identity),
    ]));
    assert!(out.contains("O=Contoso Ltd; CN=Contoso Ltd"), "{out}");
    assert!(out.contains("Issuing CA: "), "{out}");
    assert!(
        out.contains("Successfully added a trusted identity 'contoso'."),
        "{out}"
    );
    let written = std::fs::read_to_string(&by_identity).unwrap();
    assert!(written.contains("<signetTrustedIdentities>"), "{written}");
    let listed = ok(&signet(&["trust", "list", "--configfile", s(&by_identity)]));
    assert!(listed.contains("contoso [identity]"), "{listed}");

    // A fingerprint pin of the original certificate.
    let by_fingerprint = config("fingerprint.config");
    ok(&signet(&[
        "trust",
        "author",
        "contoso",
        s(&original),
        "--configfile",
        s(&by_fingerprint),
    ]));

    // The original installs under both.
    for cfg in [&by_identity, &by_fingerprint] {
        let o = install("Contoso.Original", cfg);
        assert!(o.status.success(), "{}", text(&o));
    }
    // The renewal: identity yes, fingerprint no.
    let o = install("Contoso.Renewed", &by_identity);
    assert!(o.status.success(), "{}", text(&o));
    let o = install("Contoso.Renewed", &by_fingerprint);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("NU3034"), "{}", text(&o));
    // Same subject from a CA with the same name but another key; same CA, other organization.
    for id in ["Contoso.LookAlike", "Contoso.OtherOrg"] {
        let o = install(id, &by_identity);
        assert_eq!(o.status.code(), Some(1), "{id}: {}", text(&o));
        assert!(text(&o).contains("NU3034"), "{id}: {}", text(&o));
    }

    // verify names the identity that matched.
    let o = signet(&[
        "verify",
        "--all",
        s(&renewed),
        "--configfile",
        s(&by_identity),
        "--trust-roots",
        s(&root),
        "--trust-roots-only",
    ]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("The author signature is trusted by identity 'contoso'."),
        "{out}"
    );
}
