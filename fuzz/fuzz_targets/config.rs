//! `nuget.config` (spec §8.1) through `signet_config`: the XML tree (`xml::parse`), a file
//! read the way `--configfile` reads it (`Settings::load` → `ConfigFile::read`: size limit, BOM,
//! root element), and every value signet takes from it — `trustedSigners`, `packageSources`,
//! `signatureValidationMode`, signet's trust roots and policies, the effective allow list,
//! `<packageSourceMapping>` and its patterns.
//!
//! Properties:
//! * `xml::write` of a parsed tree parses back to the same tree (edits keep the file);
//! * removing a trusted signer, adding it back and saving gives a file that reads back with
//!   that signer unchanged (the `signet trust` edit path, through the disk).
#![no_main]

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use signet_config::{Environment, Settings, effective_trust, xml};

/// One scratch directory per process; every input is written to the same file in it.
fn config_path() -> &'static Path {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, path) = DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("scratch directory");
        let path = dir.path().join("nuget.config");
        (dir, path)
    });
    path
}

fn load(path: &Path) -> Option<Settings> {
    Settings::load(&Environment::default(), Some(path)).ok()
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(doc) = xml::parse(text)
        && let Ok(written) = xml::write(&doc)
    {
        let again = xml::parse(&written)
            .unwrap_or_else(|e| panic!("xml::write output does not parse ({e}):\n{written}"));
        assert_eq!(again, doc, "xml::write changed the tree:\n{written}");
    }

    let path = config_path();
    std::fs::write(path, data).expect("write the config file");
    let Some(mut settings) = load(path) else {
        return;
    };
    black_box(settings.package_sources());
    let _ = black_box(settings.signature_validation_mode());
    black_box(settings.signet_trust_roots());
    black_box(settings.ignored_trust_settings());
    let _ = black_box(settings.trusted_identities());
    // `<packageSourceMapping>`: read, then the patterns parsed as `signet install` does.
    let _ = black_box(signet_feed::SourceMapping::new(settings.package_source_mapping()));
    let _ = black_box(settings.signet_policy_name(None));
    for source in settings.package_sources().iter().take(4) {
        let _ = black_box(settings.signet_policy_name(Some(&source.name)));
    }
    let Ok(signers) = settings.trusted_signers() else {
        return;
    };
    black_box(effective_trust(&signers).warnings.len());
    let Some(first) = signers.first().cloned() else {
        return;
    };
    assert!(
        settings.remove_trusted_signer(&first.name) >= 1,
        "trusted signer {:?} listed but not removed",
        first.name
    );
    if settings.add_trusted_signer(first.clone()).is_err() {
        // Another repository signer with the same service index remains: a refusal is right.
        return;
    }
    settings.save().expect("save the edited config");
    let reread = load(path).expect("the saved config reads back");
    let after = reread
        .trusted_signers()
        .expect("its trusted signers read back");
    assert!(
        after.contains(&first),
        "signer {first:?} did not survive remove + add + save; read back: {after:?}"
    );
});
