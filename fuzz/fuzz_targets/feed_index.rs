//! The JSON documents a NuGet v3 feed serves, through `signet_feed` (spec server §3.4, §6.1):
//! `ServiceIndex::parse`, `RepositorySignatures::parse` under each resource type and HTTP
//! policy, and `Source::open` + `Source::versions` over an in-memory `Http` — the input served
//! once as the service index, once as the RepositorySignatures resource and the flat-container
//! version list (`{"versions": [...]}`) of a fixed, valid service index.
//!
//! Also the registration reader (`read_registration`, the server mirror's view of an
//! upstream's registration): the input served as the registration index and as every page,
//! gzip-compressed or not.
//!
//! Properties: a parsed index finds only resources it holds; versions come back strictly
//! ascending, each re-parsing from its normalized form to an equal version; registration
//! entries are only of the id asked for.
#![no_main]

use std::hint::black_box;
use std::io::Write;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use signet_feed::{
    Error, Http, HttpPolicy, NuGetVersion, PACKAGE_BASE_ADDRESS, REPOSITORY_SIGNATURES,
    RepositorySignatures, ServiceIndex, Source,
};

const INDEX: &str = "https://feed.test/v3/index.json";
const FIXED_INDEX: &[u8] = br#"{"version":"3.0.0","resources":[
  {"@id":"https://feed.test/v3/flat/","@type":"PackageBaseAddress/3.0.0"},
  {"@id":"https://feed.test/v3/signatures.json","@type":"RepositorySignatures/5.0.0"}]}"#;

/// Serves `index` for the service index URL and `body` for every other URL.
struct Fake {
    index: Vec<u8>,
    body: Vec<u8>,
}

impl Http for Fake {
    fn get(&self, url: &str, limit: u64) -> Result<Option<Vec<u8>>, Error> {
        let doc = if url == INDEX {
            &self.index
        } else {
            &self.body
        };
        if doc.len() as u64 > limit {
            return Err(Error::Http {
                url: url.to_string(),
                message: "larger than the limit".into(),
            });
        }
        Ok(Some(doc.clone()))
    }

    fn download(&self, url: &str, _out: &mut dyn Write, _limit: u64) -> Result<bool, Error> {
        panic!("Source::open or versions downloaded {url}");
    }
}

fn check_versions(source: &Source) {
    let Ok(id) = signet_feed::PackageId::parse("Fuzz.Package") else {
        panic!("a valid id is refused");
    };
    let Ok(versions) = source.versions(&id) else {
        return;
    };
    for pair in versions.windows(2) {
        if let [a, b] = pair {
            assert!(a < b, "versions not strictly ascending: {a} then {b}");
        }
    }
    for v in &versions {
        let again = NuGetVersion::parse(v.normalized())
            .unwrap_or_else(|e| panic!("normalized version {v} does not re-parse: {e}"));
        assert_eq!(&again, v);
        assert_eq!(again.normalized(), v.normalized());
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(index) = ServiceIndex::parse(INDEX, data) {
        for preference in [PACKAGE_BASE_ADDRESS, REPOSITORY_SIGNATURES] {
            if let Some((id, kind)) = index.find(preference) {
                assert!(preference.contains(&kind), "find returned type {kind:?}");
                assert!(
                    index.resources.iter().any(|r| r.id == id && r.kind == kind),
                    "find returned a resource the index does not hold"
                );
            }
        }
        black_box(index);
    }
    for kind in REPOSITORY_SIGNATURES {
        for policy in [HttpPolicy::HttpsOnly, HttpPolicy::DangerousAnyHttp] {
            if let Ok(sigs) = RepositorySignatures::parse(INDEX, kind, data, policy) {
                black_box(sigs);
            }
        }
    }

    // The input as the service index (resources it names are then served the same bytes).
    let http = Arc::new(Fake {
        index: data.to_vec(),
        body: data.to_vec(),
    });
    if let Ok(source) = Source::open(INDEX, http, HttpPolicy::HttpsOnly) {
        black_box(source.repository_signatures());
        check_versions(&source);
    }
    // The input as a registration index and its pages.
    let http = Fake {
        index: data.to_vec(),
        body: data.to_vec(),
    };
    if let Ok(entries) =
        signet_feed::read_registration(&http, "https://feed.test/v3/", "fuzz.package")
    {
        for e in &entries {
            assert_eq!(e.id.to_lowercase(), "fuzz.package", "an entry of another id");
        }
        black_box(entries);
    }
    // The input as the RepositorySignatures resource and the version list of a valid index.
    let http = Arc::new(Fake {
        index: FIXED_INDEX.to_vec(),
        body: data.to_vec(),
    });
    if let Ok(source) = Source::open(INDEX, http, HttpPolicy::LoopbackHttp) {
        black_box(source.repository_signatures());
        check_versions(&source);
    }
});
