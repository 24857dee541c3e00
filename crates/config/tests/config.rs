//! The nuget.config hierarchy and trustedSigners, on real files in temporary directories.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::Path;

use signet_common::HashAlgorithm;
use signet_config::{
    CertificateEntry, Environment, Settings, SignerKind, TrustedSigner, ValidationMode,
    effective_trust,
};
use signet_trust::TrustTarget;

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn env(root: &Path) -> Environment {
    Environment {
        cwd: root.join("repo/src/app"),
        home: Some(root.join("home")),
        machine_wide: Some(root.join("machine")),
    }
}

const FP_A: &str = "3F9001EA83C560D712C24CF213C3D312CB3BFF51EE89435D3430BD06B5D0EECE";
const FP_B: &str = "0E5F38F57DC1BCC806D8494F4F90FBCEDD988B46760709CBEEC6F4219AA6157D";

#[test]
fn hierarchy_closest_wins_and_clear_stops_inheritance() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    std::fs::create_dir_all(root.join("repo/src/app")).unwrap();
    write(
        &root.join("machine/a.config"),
        r#"<configuration><packageSources><add key="machine" value="https://machine.test/v3/index.json"/></packageSources></configuration>"#,
    );
    write(
        &root.join("home/.nuget/NuGet/NuGet.Config"),
        r#"<configuration>
  <config><add key="signatureValidationMode" value="accept"/></config>
  <packageSources><add key="user" value="https://user.test/v3/index.json"/><add key="shared" value="https://old.test/index.json"/></packageSources>
</configuration>"#,
    );
    write(
        &root.join("repo/NuGet.Config"),
        r#"<configuration>
  <config><add key="SignatureValidationMode" value="Require"/></config>
  <packageSources><add key="shared" value="https://new.test/index.json"/><add key="local" value="feed"/></packageSources>
  <disabledPackageSources><add key="user" value="true"/></disabledPackageSources>
</configuration>"#,
    );
    let settings = Settings::load(&env(root), None).unwrap();
    assert_eq!(settings.files().len(), 3);
    assert_eq!(
        settings.signature_validation_mode().unwrap(),
        ValidationMode::Require
    );
    let sources = settings.package_sources();
    let names: Vec<_> = sources.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["machine", "user", "shared", "local"]);
    assert_eq!(sources[2].location, "https://new.test/index.json");
    assert!(!sources[1].enabled);
    assert_eq!(
        Path::new(&sources[3].location),
        root.join("repo").join("feed")
    );
    assert_eq!(
        settings.write_target().unwrap().path,
        root.join("home/.nuget/NuGet/NuGet.Config")
    );

    // <clear/> in the closest file hides every farther source.
    write(
        &root.join("repo/src/nuget.config"),
        r#"<configuration><packageSources><clear/><add key="only" value="https://only.test/index.json"/></packageSources></configuration>"#,
    );
    let settings = Settings::load(&env(root), None).unwrap();
    let names: Vec<_> = settings
        .package_sources()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["only"]);

    // --configfile: only that file.
    let settings = Settings::load(&env(root), Some(&root.join("repo/NuGet.Config"))).unwrap();
    assert_eq!(settings.files().len(), 1);
    assert!(Settings::load(&env(root), Some(&root.join("missing.config"))).is_err());
}

#[test]
fn trusted_signers_round_trip_and_keep_comments() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("nuget.config");
    write(
        &path,
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<configuration>\n  <!-- team settings -->\n  <packageSources>\n    <add key=\"feed\" value=\"https://feed.test/v3/index.json\" />\n  </packageSources>\n</configuration>\n",
    );
    let e = Environment::default();
    let mut settings = Settings::load(&e, Some(&path)).unwrap();
    settings
        .add_trusted_signer(TrustedSigner {
            name: "contoso".into(),
            kind: SignerKind::Author,
            certificates: vec![CertificateEntry {
                fingerprint: FP_A.into(),
                algorithm: HashAlgorithm::Sha256,
                allow_untrusted_root: false,
            }],
            file: Default::default(),
        })
        .unwrap();
    settings
        .add_trusted_signer(TrustedSigner {
            name: "feed".into(),
            kind: SignerKind::Repository {
                service_index: "https://feed.test/v3/index.json".into(),
                owners: vec!["alice".into(), "bob".into()],
            },
            certificates: vec![CertificateEntry {
                fingerprint: FP_B.into(),
                algorithm: HashAlgorithm::Sha256,
                allow_untrusted_root: true,
            }],
            file: Default::default(),
        })
        .unwrap();
    // Same name, or same service index under another name: refused.
    let dup = settings.add_trusted_signer(TrustedSigner {
        name: "other".into(),
        kind: SignerKind::Repository {
            service_index: "HTTPS://feed.test/v3/index.json".into(),
            owners: vec![],
        },
        certificates: vec![CertificateEntry {
            fingerprint: FP_A.into(),
            algorithm: HashAlgorithm::Sha256,
            allow_untrusted_root: false,
        }],
        file: Default::default(),
    });
    assert!(dup.unwrap_err().to_string().contains("already exists"));
    settings.save().unwrap();

    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("<!-- team settings -->"), "{text}");
    assert!(text.contains(&format!(
        "<certificate fingerprint=\"{FP_A}\" hashAlgorithm=\"SHA256\" allowUntrustedRoot=\"false\"/>"
    )), "{text}");
    assert!(text.contains("<owners>alice;bob</owners>"), "{text}");

    let settings = Settings::load(&e, Some(&path)).unwrap();
    let signers = settings.trusted_signers().unwrap();
    assert_eq!(signers.len(), 2);
    assert_eq!(signers[0].name, "contoso");
    assert_eq!(
        signers[1].kind,
        SignerKind::Repository {
            service_index: "https://feed.test/v3/index.json".into(),
            owners: vec!["alice".into(), "bob".into()]
        }
    );
    let eff = effective_trust(&signers);
    assert_eq!(eff.allow_list.entries.len(), 2);
    assert_eq!(eff.allow_list.entries[0].target, TrustTarget::Author);
    assert!(!eff.allow_list.entries[0].countersignature);
    assert_eq!(eff.allow_list.entries[1].target, TrustTarget::Repository);
    assert!(eff.allow_list.entries[1].countersignature);
    assert_eq!(
        eff.allow_untrusted_root,
        vec![(HashAlgorithm::Sha256, FP_B.to_string())]
    );

    // Remove is case-insensitive and leaves the rest.
    let mut settings = Settings::load(&e, Some(&path)).unwrap();
    assert_eq!(settings.remove_trusted_signer("CONTOSO"), 1);
    assert_eq!(settings.remove_trusted_signer("nobody"), 0);
    settings.save().unwrap();
    let settings = Settings::load(&e, Some(&path)).unwrap();
    assert_eq!(settings.trusted_signers().unwrap().len(), 1);
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .contains("<!-- team settings -->")
    );
}

#[test]
fn conflicting_allow_untrusted_root_gives_nu3040_and_false() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("nuget.config");
    write(
        &path,
        &format!(
            r#"<configuration><trustedSigners>
  <author name="a"><certificate fingerprint="{FP_A}" hashAlgorithm="sha256" allowUntrustedRoot="true"/></author>
  <repository name="r" serviceIndex="https://r.test/index.json"><certificate fingerprint="{FP_A}" hashAlgorithm="SHA256" allowUntrustedRoot="false"/><owners> x ; y </owners></repository>
</trustedSigners></configuration>"#
        ),
    );
    let settings = Settings::load(&Environment::default(), Some(&path)).unwrap();
    let eff = effective_trust(&settings.trusted_signers().unwrap());
    assert_eq!(eff.allow_list.entries.len(), 1);
    assert_eq!(
        eff.allow_list.entries[0].target,
        TrustTarget::AuthorOrRepository
    );
    assert_eq!(eff.allow_list.entries[0].owners, ["x", "y"]);
    assert!(eff.allow_untrusted_root.is_empty());
    assert_eq!(eff.warnings.len(), 1);
    assert_eq!(eff.warnings[0].code, Some(signet_common::NuCode::NU3040));
}

#[test]
fn invalid_trusted_signers_are_config_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("nuget.config");
    for bad in [
        r#"<configuration><trustedSigners><author name="a"/></trustedSigners></configuration>"#,
        r#"<configuration><trustedSigners><repository name="r"><certificate fingerprint="AA" hashAlgorithm="SHA256" allowUntrustedRoot="false"/></repository></trustedSigners></configuration>"#,
        r#"<configuration><trustedSigners><author name="a"><certificate fingerprint="AA" hashAlgorithm="MD5" allowUntrustedRoot="false"/></author></trustedSigners></configuration>"#,
        r#"<configuration><config><add key="signatureValidationMode" value="strict"/></config></configuration>"#,
    ] {
        write(&path, bad);
        let settings = Settings::load(&Environment::default(), Some(&path)).unwrap();
        let r = settings
            .trusted_signers()
            .map(|_| ())
            .and_then(|()| settings.signature_validation_mode().map(|_| ()));
        assert!(r.is_err(), "{bad}");
    }
    write(&path, "<!DOCTYPE x [<!ENTITY a 'b'>]><configuration/>");
    assert!(Settings::load(&Environment::default(), Some(&path)).is_err());
    write(&path, "<settings/>");
    assert!(Settings::load(&Environment::default(), Some(&path)).is_err());
}

#[test]
fn signet_keys_resolve_relative_to_their_file() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    std::fs::create_dir_all(root.join("repo/src/app")).unwrap();
    let keys = r#"<configuration>
  <config>
    <add key="signetTrustRoots" value="certs/a.pem; b.pem" />
    <add key="signetTrustRootsOnly" value="True" />
    <add key="signetSignaturePolicy" value="secure" />
  </config>
  <signetSourcePolicies><add key="local" value="developer" /></signetSourcePolicies>
</configuration>"#;
    write(&root.join("repo/nuget.config"), keys);
    // Named with --configfile, the file's signet keys apply, relative to the file.
    let settings = Settings::load(&env(root), Some(&root.join("repo/nuget.config"))).unwrap();
    let (roots, only) = settings.signet_trust_roots();
    assert_eq!(
        roots,
        [root.join("repo/certs/a.pem"), root.join("repo/b.pem")]
    );
    assert!(only);
    assert_eq!(
        settings.signet_policy_name(Some("LOCAL")).unwrap().0,
        "developer"
    );
    assert_eq!(
        settings.signet_policy_name(Some("other")).unwrap().0,
        "secure"
    );
    assert!(settings.ignored_trust_settings().is_empty());
    let empty = Settings::load(&Environment::default(), None).unwrap();
    assert_eq!(empty.signet_policy_name(None).unwrap().0, "accept");
}

/// Found walking up from the working directory (a checkout), the same keys are ignored and
/// listed; NuGet's own signatureValidationMode still applies from there, as in NuGet; the
/// user config's signet keys apply.
#[test]
fn a_checkout_cannot_set_signet_trust_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    std::fs::create_dir_all(root.join("repo/src/app")).unwrap();
    write(
        &root.join("repo/nuget.config"),
        r#"<configuration>
  <config>
    <add key="signetTrustRoots" value="evil.pem" />
    <add key="signetTrustRootsOnly" value="true" />
    <add key="signetSignaturePolicy" value="developer" />
    <add key="signatureValidationMode" value="require" />
  </config>
  <signetSourcePolicies><add key="local" value="developer" /></signetSourcePolicies>
</configuration>"#,
    );
    let settings = Settings::load(&env(root), None).unwrap();
    assert_eq!(settings.signet_trust_roots(), (Vec::new(), false));
    let (policy, origin) = settings.signet_policy_name(Some("local")).unwrap();
    assert_eq!(policy, "require");
    assert!(origin.contains("signatureValidationMode in"), "{origin}");
    let ignored: Vec<String> = settings
        .ignored_trust_settings()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        ignored,
        [
            "signetTrustRoots",
            "signetTrustRootsOnly",
            "signetSignaturePolicy",
            "signetSourcePolicies"
        ]
    );
    // The user config's keys apply.
    let e = env(root);
    let user = e.user_config().unwrap();
    std::fs::create_dir_all(user.parent().unwrap()).unwrap();
    write(
        &user,
        r#"<configuration><config><add key="signetSignaturePolicy" value="secure" /></config></configuration>"#,
    );
    let settings = Settings::load(&e, None).unwrap();
    assert_eq!(
        settings.signet_policy_name(Some("local")).unwrap().0,
        "secure"
    );
    // A checkout's `<clear />` does not erase them either.
    write(
        &root.join("repo/nuget.config"),
        r#"<configuration><config><clear /></config><signetSourcePolicies><clear /></signetSourcePolicies></configuration>"#,
    );
    let settings = Settings::load(&e, None).unwrap();
    assert_eq!(
        settings.signet_policy_name(Some("local")).unwrap().0,
        "secure"
    );
}

/// A section `trust` adds is indented like the rest of the file (two spaces per level, as
/// dotnet writes), `</configuration>` stays where it was, and removing its last signer removes
/// the section instead of leaving `<trustedSigners/>`.
#[test]
fn added_sections_keep_the_layout_and_empty_ones_go() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("nuget.config");
    let original = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<configuration>\n  <packageSources>\n    <add key=\"a\" value=\"https://x.test/v3/index.json\"/>\n  </packageSources>\n</configuration>\n";
    write(&path, original);
    let mut settings = Settings::load(&Environment::default(), Some(&path)).unwrap();
    settings
        .add_trusted_certificate(
            "foo",
            signet_config::CertificateEntry {
                fingerprint: FP_A.into(),
                algorithm: signet_common::HashAlgorithm::Sha256,
                allow_untrusted_root: false,
            },
        )
        .unwrap();
    settings.save().unwrap();
    let written = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        written,
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<configuration>\n  <packageSources>\n    <add key=\"a\" value=\"https://x.test/v3/index.json\"/>\n  </packageSources>\n  <trustedSigners>\n    <author name=\"foo\">\n      <certificate fingerprint=\"{FP_A}\" hashAlgorithm=\"SHA256\" allowUntrustedRoot=\"false\"/>\n    </author>\n  </trustedSigners>\n</configuration>\n"
        )
    );
    let mut settings = Settings::load(&Environment::default(), Some(&path)).unwrap();
    assert_eq!(settings.remove_trusted_signer("foo"), 1);
    settings.save().unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), original);
}
