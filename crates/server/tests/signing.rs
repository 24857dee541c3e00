//! Signed packages on the server, without HTTP: the multi-owner matrix of NuGet.org's
//! signing rules with both overrides, the organization policy, the certificate lifecycle
//! (delete unused, delete used, register again, revoked by the CA and found by the recheck),
//! repository signing of what is stored, and backfill after a rotation.
//!
//! Real PKIs from `signet_pki::init` (generated here): PKI A is served on loopback (CRL, OCSP
//! and its RFC 3161 authority, which timestamps every signature); PKI B only gives a second
//! code-signing certificate under another trusted root.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use signet_common::{HashAlgorithm, UtcTime};
use signet_server::{Caller, Config, Error, Registry, Scopes};
use signet_sign::{Operation, SignOptions, TsaTimestamper};
use signet_test_support::PackageBuilder;

struct Pki {
    dir: PathBuf,
    tsa_url: String,
}

struct Fixture {
    _tmp: tempfile::TempDir,
    tmp: PathBuf,
    a: Pki,
    b: Pki,
    cfg: Config,
    registry: Registry,
}

async fn make_pki(dir: &Path, serve: bool) -> Pki {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut options = signet_pki::InitOptions::new(signet_pki::random_password().unwrap());
    options.port = port;
    let created = signet_pki::init(dir, &options, UtcTime::now()).unwrap();
    if serve {
        let dir = dir.to_path_buf();
        tokio::spawn(async move {
            signet_pki::serve(
                &dir,
                listener,
                signet_pki::ServeOptions::new(Arc::new(signet_pki::SystemClock)),
                std::future::pending(),
            )
            .await
            .unwrap();
        });
    }
    Pki {
        dir: dir.to_path_buf(),
        tsa_url: created.urls.tsa(),
    }
}

fn config(tmp: &Path, a: &Pki, b: &Pki, repository: &str) -> Config {
    let text = format!(
        r#"
data_dir = "{data}"
[signing]
certificate_path = "{a}/{repository}.pem"
key_path = "{a}/{repository}.key.pem"
timestamp_url = "{tsa}"
trusted_roots = ["{a}/root.pem", "{b}/root.pem"]
bundled_roots = false
"#,
        data = tmp.join("data").display(),
        a = a.dir.display(),
        b = b.dir.display(),
        tsa = a.tsa_url,
    );
    Config::from_toml(&text).unwrap()
}

async fn open(cfg: &Config) -> Registry {
    let setup = cfg
        .signing_setup("https://feed.example", Arc::new(signet_server::SystemClock))
        .unwrap();
    cfg.open_registry()
        .await
        .unwrap()
        .with_signing(setup)
        .await
        .unwrap()
}

async fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let a = make_pki(&root.join("pki-a"), true).await;
    let b = make_pki(&root.join("pki-b"), false).await;
    let cfg = config(&root, &a, &b, "repository");
    let registry = open(&cfg).await;
    for user in ["alice", "bob", "carol"] {
        registry.create_user(user, None, "pw").await.unwrap();
    }
    Fixture {
        _tmp: tmp,
        tmp: root,
        a,
        b,
        cfg,
        registry,
    }
}

impl Fixture {
    async fn caller(&self, user: &str) -> Caller {
        let key = self
            .registry
            .create_api_key(user, None, "", Scopes::all(), &[], None)
            .await
            .unwrap();
        self.registry.authenticate(Some(&key)).await.unwrap()
    }

    /// A package file, author-signed with `pki`'s code-signing certificate (timestamped by
    /// PKI A's authority) or unsigned.
    async fn package(&self, id: &str, version: &str, signer: Option<&Pki>) -> PathBuf {
        let path = self.tmp.join(format!(
            "{id}.{version}.{}.nupkg",
            signer.map_or("u", |p| if p.dir == self.a.dir { "a" } else { "b" })
        ));
        std::fs::write(&path, PackageBuilder::new(id, version).build()).unwrap();
        if let Some(pki) = signer {
            let (dir, tsa_root, tsa_url, path) = (
                pki.dir.clone(),
                self.a.dir.join("root.pem"),
                self.a.tsa_url.clone(),
                path.clone(),
            );
            tokio::task::spawn_blocking(move || sign(&dir, &tsa_root, &tsa_url, &path))
                .await
                .unwrap();
        }
        path
    }

    async fn push(&self, caller: &Caller, file: &Path) -> Result<(), Error> {
        // Each push gets its own copy: the registry moves uploads.
        let upload = self.registry.new_upload().unwrap();
        std::fs::copy(file, upload.path()).unwrap();
        self.registry.push(caller, upload.path()).await.map(|_| ())
    }

    /// `account` becomes an owner of `id`: alice asks, the account accepts.
    async fn own(&self, id: &str, account: &str) {
        self.registry.add_owner(id, account, "alice").await.unwrap();
        self.registry
            .answer_owner_request(account, id, account, true)
            .await
            .unwrap();
    }

    /// The owners named by the repository signature of the stored `id` `version`.
    async fn signed_owners(&self, id: &str, version: &str) -> Vec<String> {
        let bytes = match self
            .registry
            .open_package(id, version)
            .await
            .unwrap()
            .unwrap()
        {
            signet_server::BlobBody::Bytes(b) => b.to_vec(),
            signet_server::BlobBody::File { mut file, .. } => {
                use tokio::io::AsyncReadExt as _;
                let mut v = Vec::new();
                file.read_to_end(&mut v).await.unwrap();
                v
            }
            _ => unreachable!(),
        };
        let options = signet_trust::VerifyOptions::new(
            signet_trust::VerifierSettings::accept(signet_trust::RevocationMode::Offline),
            UtcTime::now(),
        );
        let report = signet_trust::verify_package(
            std::io::Cursor::new(bytes),
            &signet_trust::TrustStore::empty(),
            &options,
        );
        report
            .signatures
            .iter()
            .find(|s| !s.owners.is_empty())
            .map(|s| s.owners.clone())
            .unwrap_or_default()
    }

    fn fingerprint(&self, pki: &Pki) -> String {
        let pem = std::fs::read(pki.dir.join("codesign.pem")).unwrap();
        signet_signature::Certificate::from_pem_bundle(&pem).unwrap()[0]
            .sha256_hex()
            .to_lowercase()
    }

    async fn register(&self, account: &str, pki: &Pki) {
        let pem = std::fs::read(pki.dir.join("codesign.pem")).unwrap();
        let r = self
            .registry
            .register_certificate(account, "codesign.pem", &pem)
            .await
            .unwrap();
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    }
}

/// Author-signs `path` with `pki`'s code-signing certificate and no timestamp.
fn sign_untimestamped(pki: &Path, path: &Path) {
    let signer = signet_keys::load_signer(
        &pki.join("codesign.pem"),
        None,
        Some(&pki.join("codesign.key.pem")),
    )
    .unwrap();
    let opts = SignOptions {
        signer: &signer,
        timestamper: None,
        now: UtcTime::now(),
        limits: signet_nupkg::Limits::default(),
    };
    signet_sign::sign_file(
        path,
        path,
        &Operation::Author {
            hash_algorithm: HashAlgorithm::Sha256,
            overwrite: false,
        },
        &opts,
    )
    .unwrap();
}

fn sign(pki: &Path, tsa_root: &Path, tsa_url: &str, path: &Path) {
    let signer = signet_keys::load_signer(
        &pki.join("codesign.pem"),
        None,
        Some(&pki.join("codesign.key.pem")),
    )
    .unwrap();
    let mut trust = signet_trust::TrustStore::empty();
    trust.add_roots(
        signet_signature::Certificate::from_pem_bundle(&std::fs::read(tsa_root).unwrap()).unwrap(),
        "test",
    );
    let ts = TsaTimestamper::new(
        tsa_url,
        signet_tsa::HttpTransport::new(Duration::from_secs(10)).unwrap(),
        HashAlgorithm::Sha256,
        Arc::new(trust),
    );
    let opts = SignOptions {
        signer: &signer,
        timestamper: Some(&ts),
        now: UtcTime::now(),
        limits: signet_nupkg::Limits::default(),
    };
    signet_sign::sign_file(
        path,
        path,
        &Operation::Author {
            hash_algorithm: HashAlgorithm::Sha256,
            overwrite: false,
        },
        &opts,
    )
    .unwrap();
}

#[track_caller]
fn refused(r: Result<(), Error>, needle: &str) {
    match r {
        Err(e @ (Error::Invalid(_) | Error::Refused(_))) => {
            let m = e.to_string();
            assert!(m.contains(needle), "{m:?} lacks {needle:?}");
        }
        other => panic!("expected a 400 naming {needle:?}, got {other:?}"),
    }
}

/// Commits made to the SQLite database by any other connection since `conn` last asked
/// (`PRAGMA data_version` changes whenever another connection commits).
async fn data_version(conn: &mut sqlx::AnyConnection) -> i64 {
    use sqlx::Row as _;
    sqlx::query("PRAGMA data_version")
        .fetch_one(&mut *conn)
        .await
        .unwrap()
        .try_get::<i64, _>(0)
        .unwrap()
}

/// NuGet.org requires exactly one valid timestamp on a pushed author signature (spec server
/// §2.6): an untimestamped one is refused with NU3027, by the push and by the dry run, and the
/// refusal names the rule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untimestamped_author_signature_is_refused_with_nu3027() {
    let f = fixture().await;
    let alice = f.caller("alice").await;
    f.register("alice", &f.a).await;
    let path = f.tmp.join("NoTs.1.0.0.nupkg");
    std::fs::write(&path, PackageBuilder::new("NoTs", "1.0.0").build()).unwrap();
    let (dir, p) = (f.a.dir.clone(), path.clone());
    tokio::task::spawn_blocking(move || sign_untimestamped(&dir, &p))
        .await
        .unwrap();

    let upload = f.registry.new_upload().unwrap();
    std::fs::copy(&path, upload.path()).unwrap();
    match f.registry.validate_push(&alice, upload.path()).await {
        Err(Error::Refused(r)) => {
            assert_eq!(r.code, Some(signet_common::NuCode::NU3027), "{r}");
            assert_eq!(r.rule, signet_server::PushRule::SignatureVerification);
            assert!(r.to_string().contains("NU3027"), "{r}");
        }
        other => panic!("the dry run accepted an untimestamped signature: {other:?}"),
    }
    match f.push(&alice, &path).await {
        Err(Error::Refused(r)) => assert_eq!(r.code, Some(signet_common::NuCode::NU3027)),
        other => panic!("the push accepted an untimestamped signature: {other:?}"),
    }
    // The same package timestamped is accepted.
    f.push(&alice, &f.package("NoTs", "1.0.0", Some(&f.a)).await)
        .await
        .unwrap();
}

/// Adding an owner asks for consent (NuGet.org's ownership requests): until the invited
/// account — the user, or an administrator of the invited organization — accepts, it does not
/// own the package, cannot push it, and is not named in the repository signature.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_are_added_only_with_consent() {
    use signet_server::OwnerRequestOutcome;
    let f = fixture().await;
    let (alice, bob) = (f.caller("alice").await, f.caller("bob").await);
    f.push(&alice, &f.package("Consent", "1.0.0", None).await)
        .await
        .unwrap();

    assert_eq!(
        f.registry
            .add_owner("Consent", "bob", "alice")
            .await
            .unwrap(),
        OwnerRequestOutcome::Requested
    );
    assert_eq!(f.registry.owners("Consent").await.unwrap(), ["alice"]);
    assert_eq!(f.registry.pending_owners("Consent").await.unwrap().len(), 1);
    // Not an owner yet: cannot push, not named.
    match f
        .push(&bob, &f.package("Consent", "1.0.1", None).await)
        .await
    {
        Err(Error::Forbidden(_)) => {}
        other => panic!("a requested owner pushed: {other:?}"),
    }
    f.push(&alice, &f.package("Consent", "1.0.2", None).await)
        .await
        .unwrap();
    assert_eq!(f.signed_owners("Consent", "1.0.2").await, ["alice"]);
    // Only the invited account answers.
    match f
        .registry
        .answer_owner_request("carol", "Consent", "bob", true)
        .await
    {
        Err(Error::Forbidden(_)) => {}
        other => panic!("carol answered bob's request: {other:?}"),
    }
    let requests = f.registry.owner_requests("bob").await.unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].requested_by, "alice");
    f.registry
        .answer_owner_request("bob", "Consent", "bob", true)
        .await
        .unwrap();
    assert_eq!(
        f.registry.owners("Consent").await.unwrap(),
        ["alice", "bob"]
    );
    assert!(f.registry.owner_requests("bob").await.unwrap().is_empty());
    f.push(&bob, &f.package("Consent", "1.0.3", None).await)
        .await
        .unwrap();
    assert_eq!(f.signed_owners("Consent", "1.0.3").await, ["alice", "bob"]);
    assert_eq!(
        f.registry
            .add_owner("Consent", "bob", "alice")
            .await
            .unwrap(),
        OwnerRequestOutcome::AlreadyOwner
    );

    // Declined: nothing changes, and the request is gone.
    f.registry
        .add_owner("Consent", "carol", "alice")
        .await
        .unwrap();
    f.registry
        .answer_owner_request("carol", "Consent", "carol", false)
        .await
        .unwrap();
    assert_eq!(
        f.registry.owners("Consent").await.unwrap(),
        ["alice", "bob"]
    );
    assert!(
        f.registry
            .answer_owner_request("carol", "Consent", "carol", true)
            .await
            .is_err()
    );

    // An organization: its administrator answers; a collaborator cannot.
    f.registry
        .create_organization("Contoso", "carol")
        .await
        .unwrap();
    f.registry
        .set_member("Contoso", "bob", signet_server::Role::Collaborator)
        .await
        .unwrap();
    f.registry
        .add_owner("Consent", "Contoso", "alice")
        .await
        .unwrap();
    assert!(
        f.registry
            .answer_owner_request("bob", "Consent", "Contoso", true)
            .await
            .is_err()
    );
    assert_eq!(f.registry.owner_requests("carol").await.unwrap().len(), 1);
    f.registry
        .answer_owner_request("carol", "Consent", "Contoso", true)
        .await
        .unwrap();
    assert_eq!(
        f.registry.owners("Consent").await.unwrap(),
        ["alice", "bob", "Contoso"]
    );
    // Removing owners never removes the last.
    f.registry.remove_owner("Consent", "bob").await.unwrap();
    f.registry.remove_owner("Consent", "Contoso").await.unwrap();
    assert!(f.registry.remove_owner("Consent", "alice").await.is_err());
}

/// One account's registration cannot change what the server believes about a certificate
/// registered elsewhere: carol registers alice's certificate first, with a bogus issuer (PKI
/// B's intermediate), before alice registers it and pushes with it. The recheck still finds
/// the certificate revoked once PKI A revokes it, because its issuers come from the verified
/// push, not from carol's upload. A certificate that can never sign is listed as such.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_cannot_poison_the_revocation_recheck() {
    let f = fixture().await;
    let alice = f.caller("alice").await;
    // The first PEM block of a file.
    let first_pem = |path: &Path| -> String {
        let text = std::fs::read_to_string(path).unwrap();
        let end = "-----END CERTIFICATE-----";
        format!("{}{end}\n", text.split(end).next().unwrap())
    };
    let poisoned = format!(
        "{}{}",
        first_pem(&f.a.dir.join("codesign.pem")),
        first_pem(&f.b.dir.join("intermediate.pem"))
    )
    .into_bytes();
    f.registry
        .register_certificate("carol", "codesign.pem", &poisoned)
        .await
        .unwrap();
    f.register("alice", &f.a).await;
    f.push(&alice, &f.package("Poison", "1.0.0", Some(&f.a)).await)
        .await
        .unwrap();

    signet_pki::revoke(
        &f.a.dir,
        &signet_pki::CertSelector::Name(signet_pki::CertName::CodeSigning),
        signet_pki::RevocationReason::KeyCompromise,
        UtcTime::now().add_micros(-3_600_000_000),
        None,
    )
    .unwrap();
    // The push's OCSP answer is still cached in this process: recheck from a later one.
    let f = Fixture {
        registry: open(&f.cfg).await,
        ..f
    };
    let s = f.registry.recheck_certificates().await.unwrap();
    assert_eq!(s.revoked, 1, "{s:?}");

    // A timestamping certificate can never sign a package: not listed as Active.
    let tsa = std::fs::read(f.b.dir.join("tsa.pem")).unwrap();
    f.registry
        .register_certificate("carol", "tsa.pem", &tsa)
        .await
        .unwrap();
    let list = f.registry.certificates("carol").await.unwrap();
    let tsa_row = list
        .iter()
        .find(|r| r.subject.to_lowercase().contains("tim") || r.cannot_sign.is_some())
        .unwrap();
    assert_eq!(
        signet_server::signing::CertificateStatus::of(tsa_row, UtcTime::now()).as_str(),
        "Cannot sign",
        "{tsa_row:?}"
    );
}

/// The dry run writes nothing (not even the signer certificate, which the push records in its
/// own transaction).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_writes_nothing_and_the_push_records_the_signer() {
    use sqlx::Connection as _;
    let f = fixture().await;
    let alice = f.caller("alice").await;
    f.register("alice", &f.a).await;
    let signed = f.package("Dry", "1.0.0", Some(&f.a)).await;
    let url = f.cfg.database_url();
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    let before = data_version(&mut conn).await;

    let upload = f.registry.new_upload().unwrap();
    std::fs::copy(&signed, upload.path()).unwrap();
    let v = f
        .registry
        .validate_push(&alice, upload.path())
        .await
        .unwrap();
    assert!(v.signed && v.repository_certificate.is_some(), "{v:?}");
    assert_eq!(
        data_version(&mut conn).await,
        before,
        "the dry run wrote to the database"
    );
    // The signer's chain is recorded by the push (the recheck job needs the issuers).
    use sqlx::Row as _;
    f.push(&alice, &signed).await.unwrap();
    assert!(data_version(&mut conn).await != before);
    let chain: Option<Vec<u8>> =
        sqlx::query("SELECT chain FROM certificates WHERE fingerprint = $1")
            .bind(f.fingerprint(&f.a))
            .fetch_one(&mut conn)
            .await
            .unwrap()
            .try_get("chain")
            .unwrap();
    assert!(
        chain.is_some_and(|c| !c.is_empty()),
        "the push recorded no chain"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_owner_matrix_with_both_overrides() {
    let f = fixture().await;
    let (alice, bob) = (f.caller("alice").await, f.caller("bob").await);

    // One owner without certificates: unsigned only.
    let unsigned = f.package("Matrix", "1.0.0", None).await;
    let signed_a = f.package("Matrix", "1.0.1", Some(&f.a)).await;
    f.push(&alice, &unsigned).await.unwrap();
    refused(
        f.push(&alice, &signed_a).await,
        "You must register the signing certificate",
    );

    // The owner registers certificate A: signing required, and only with A.
    f.register("alice", &f.a).await;
    refused(
        f.push(&alice, &f.package("Matrix", "1.0.2", None).await)
            .await,
        "must be signed with a registered certificate",
    );
    refused(
        f.push(&alice, &f.package("Matrix", "1.0.3", Some(&f.b)).await)
            .await,
        "is not associated with your account",
    );
    f.push(&alice, &signed_a).await.unwrap();

    // Two owners, mixed (bob has no certificate), "Any": unsigned and A accepted, B not.
    f.own("Matrix", "bob").await;
    f.push(&bob, &f.package("Matrix", "2.0.0", None).await)
        .await
        .unwrap();
    f.push(&bob, &f.package("Matrix", "2.0.1", Some(&f.a)).await)
        .await
        .unwrap();
    refused(
        f.push(&bob, &f.package("Matrix", "2.0.2", Some(&f.b)).await)
            .await,
        &f.fingerprint(&f.b),
    );

    // Both owners registered (alice A, bob B), "Any": signed with either, never unsigned.
    f.register("bob", &f.b).await;
    refused(
        f.push(&alice, &f.package("Matrix", "3.0.0", None).await)
            .await,
        "must be signed",
    );
    f.push(&alice, &f.package("Matrix", "3.0.1", Some(&f.b)).await)
        .await
        .unwrap();
    f.push(&bob, &f.package("Matrix", "3.0.2", Some(&f.a)).await)
        .await
        .unwrap();

    // Override 1: a required signer (bob): only bob's certificate.
    f.registry
        .set_required_signer("Matrix", Some("bob"))
        .await
        .unwrap();
    refused(
        f.push(&alice, &f.package("Matrix", "4.0.0", Some(&f.a)).await)
            .await,
        "is not associated with your account",
    );
    refused(
        f.push(&alice, &f.package("Matrix", "4.0.1", None).await)
            .await,
        "must be signed",
    );
    f.push(&alice, &f.package("Matrix", "4.0.2", Some(&f.b)).await)
        .await
        .unwrap();

    // Override 2: "no certificate" — the required signer is an owner without certificates
    // (carol): unsigned only, whoever's certificate a signature uses.
    f.own("Matrix", "carol").await;
    f.registry
        .set_required_signer("Matrix", Some("carol"))
        .await
        .unwrap();
    f.push(&alice, &f.package("Matrix", "5.0.0", None).await)
        .await
        .unwrap();
    refused(
        f.push(&alice, &f.package("Matrix", "5.0.1", Some(&f.a)).await)
            .await,
        "The owner 'carol' must register the signing certificate",
    );

    // Back to "Any" with carol (no certificate) among the owners: mixed again.
    f.registry
        .set_required_signer("Matrix", None)
        .await
        .unwrap();
    f.push(&alice, &f.package("Matrix", "6.0.0", None).await)
        .await
        .unwrap();

    // What was stored is repository-signed: countersigned when author-signed, primary when
    // not; the signature record says which certificate and the repository's.
    let repo_fp = f
        .registry
        .signing()
        .repository
        .as_ref()
        .unwrap()
        .certificate()
        .fingerprint
        .clone();
    let s = f
        .registry
        .version_signature("Matrix", "3.0.1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        s.author_fingerprint.as_deref(),
        Some(f.fingerprint(&f.b).as_str())
    );
    assert_eq!(s.repository_fingerprint.as_deref(), Some(repo_fp.as_str()));
    assert!(s.timestamp_at.is_some());
    let s = f
        .registry
        .version_signature("Matrix", "2.0.0")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.author_fingerprint, None);
    assert_eq!(s.repository_fingerprint.as_deref(), Some(repo_fp.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organization_policy_requires_author_signed_packages() {
    let f = fixture().await;
    f.registry
        .create_organization("Contoso", "alice")
        .await
        .unwrap();
    let key = f
        .registry
        .create_api_key("alice", Some("Contoso"), "", Scopes::all(), &[], None)
        .await
        .unwrap();
    let org = f.registry.authenticate(Some(&key)).await.unwrap();
    f.push(&org, &f.package("Contoso.Lib", "1.0.0", None).await)
        .await
        .unwrap();
    f.registry
        .set_require_signed("Contoso", true)
        .await
        .unwrap();
    refused(
        f.push(&org, &f.package("Contoso.Lib", "1.0.1", None).await)
            .await,
        "The organization 'Contoso' requires every package it owns to be author-signed",
    );
    f.register("Contoso", &f.a).await;
    f.push(&org, &f.package("Contoso.Lib", "1.0.2", Some(&f.a)).await)
        .await
        .unwrap();

    // Who may manage what (spec server §1.2): the user themself, an organization's admins;
    // collaborators may view only; package management follows the owners.
    f.registry
        .set_member("Contoso", "bob", signet_server::Role::Collaborator)
        .await
        .unwrap();
    let r = &f.registry;
    assert!(r.can_manage_account("alice", "alice").await.unwrap());
    assert!(r.can_manage_account("alice", "contoso").await.unwrap());
    assert!(!r.can_manage_account("bob", "Contoso").await.unwrap());
    assert!(r.can_view_account("bob", "Contoso").await.unwrap());
    assert!(!r.can_view_account("carol", "Contoso").await.unwrap());
    assert!(!r.can_manage_account("carol", "alice").await.unwrap());
    assert!(r.can_manage_package("alice", "contoso.lib").await.unwrap());
    assert!(!r.can_manage_package("bob", "Contoso.Lib").await.unwrap());
    let (owners, required) = r.signing_owners("Contoso.Lib").await.unwrap();
    assert_eq!(owners, vec![("Contoso".to_owned(), 1)]);
    assert_eq!(required, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_lifecycle_delete_reactivate_and_revocation() {
    let f = fixture().await;
    let alice = f.caller("alice").await;
    let (fa, fb) = (f.fingerprint(&f.a), f.fingerprint(&f.b));

    // Delete unused: gone.
    f.register("alice", &f.b).await;
    assert!(!f.registry.delete_certificate("alice", &fb).await.unwrap());
    assert!(f.registry.certificates("alice").await.unwrap().is_empty());

    // Delete used: deactivated, still listed with its count, and pushes with it refused.
    f.register("alice", &f.a).await;
    f.push(&alice, &f.package("Life", "1.0.0", Some(&f.a)).await)
        .await
        .unwrap();
    assert!(f.registry.delete_certificate("alice", &fa).await.unwrap());
    let list = f.registry.certificates("alice").await.unwrap();
    assert_eq!(list.len(), 1);
    assert!(!list[0].active);
    assert_eq!(list[0].signed_versions, 1);
    let now = UtcTime::now();
    assert_eq!(
        signet_server::signing::CertificateStatus::of(&list[0], now).as_str(),
        "Deactivated"
    );
    refused(
        f.push(&alice, &f.package("Life", "1.0.1", Some(&f.a)).await)
            .await,
        "You must register the signing certificate",
    );

    // Register again: active, pushes accepted.
    f.register("alice", &f.a).await;
    let list = f.registry.certificates("alice").await.unwrap();
    assert_eq!(
        signet_server::signing::CertificateStatus::of(&list[0], now).as_str(),
        "Active"
    );
    f.push(&alice, &f.package("Life", "1.0.1", Some(&f.a)).await)
        .await
        .unwrap();

    // The recheck finds it good while the CA says so.
    let s = f.registry.recheck_certificates().await.unwrap();
    assert_eq!(s.revoked, 0, "{s:?}");
    let list = f.registry.certificates("alice").await.unwrap();
    assert_eq!(list[0].status, "good", "{:?}", list[0].status_detail);

    // Alice's webhook hears of what the recheck finds (queued; nothing is sent here).
    f.registry
        .add_webhook("alice", "http://127.0.0.1:9/hook", &[], true)
        .await
        .unwrap();
    // Revoked by the test CA (one hour ago, so both versions were signed after it): the
    // recheck marks it Revoked, flags both versions, and pushes with it are refused.
    signet_pki::revoke(
        &f.a.dir,
        &signet_pki::CertSelector::Name(signet_pki::CertName::CodeSigning),
        signet_pki::RevocationReason::KeyCompromise,
        UtcTime::now().add_micros(-3_600_000_000),
        None,
    )
    .unwrap();
    // The first recheck's OCSP answer is still fresh in this process's cache (as a client's
    // would be); the next periodic run is modelled by a process that starts later.
    let f = Fixture {
        registry: open(&f.cfg).await,
        ..f
    };
    let s = f.registry.recheck_certificates().await.unwrap();
    assert_eq!((s.revoked, s.flagged_versions), (1, 2), "{s:?}");
    let list = f.registry.certificates("alice").await.unwrap();
    assert_eq!(
        signet_server::signing::CertificateStatus::of(&list[0], UtcTime::now()).as_str(),
        "Revoked"
    );
    let flag = f
        .registry
        .version_signature("Life", "1.0.0")
        .await
        .unwrap()
        .unwrap()
        .flag
        .unwrap();
    assert!(flag.contains("revoked") && flag.contains(&fa), "{flag}");
    let mut events: Vec<String> = f
        .registry
        .webhook_deliveries("alice", 10)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.event)
        .collect();
    events.sort();
    assert_eq!(
        events,
        ["certificate.revoked", "package.flagged", "package.flagged"]
    );
    refused(
        f.push(&alice, &f.package("Life", "1.0.2", Some(&f.a)).await)
            .await,
        "has been revoked",
    );
    // Revoked is final: a second recheck does not look at it again.
    let s = f.registry.recheck_certificates().await.unwrap();
    assert_eq!(s.revoked, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_after_rotation_re_signs_everything_once() {
    let f = fixture().await;
    let alice = f.caller("alice").await;
    for v in ["1.0.0", "1.0.1", "1.0.2"] {
        f.push(&alice, &f.package("Rotate", v, None).await)
            .await
            .unwrap();
    }
    let old = f
        .registry
        .signing()
        .repository
        .as_ref()
        .unwrap()
        .certificate()
        .fingerprint
        .clone();
    assert_eq!(f.registry.backfill_remaining().await.unwrap(), Some(0));

    // Rotate: PKI A's code-signing certificate becomes the repository certificate (any
    // trusted code-signing certificate can be one), the old one is announced as previous.
    let mut cfg = config(&f.tmp, &f.a, &f.b, "codesign");
    cfg.signing.previous_certificates = vec![f.a.dir.join("repository.pem")];
    let rotated = open(&cfg).await;
    let new = rotated
        .signing()
        .repository
        .as_ref()
        .unwrap()
        .certificate()
        .fingerprint
        .clone();
    assert_ne!(old, new);
    assert_eq!(rotated.backfill_remaining().await.unwrap(), Some(3));
    let done = rotated.backfill(2, &|_| {}).await.unwrap();
    assert_eq!((done.total, done.signed, done.failed), (3, 3, 0));
    assert_eq!(rotated.backfill_remaining().await.unwrap(), Some(0));
    // Idempotent: nothing left to do.
    let again = rotated.backfill(2, &|_| {}).await.unwrap();
    assert_eq!((again.total, again.signed), (0, 0));

    // The served bytes carry the new repository signature, and verify.
    let body = rotated
        .open_package("Rotate", "1.0.1")
        .await
        .unwrap()
        .unwrap();
    let bytes = match body {
        signet_server::BlobBody::Bytes(b) => b.to_vec(),
        signet_server::BlobBody::File { mut file, .. } => {
            let mut v = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut file, &mut v)
                .await
                .unwrap();
            v
        }
        _ => panic!("an unexpected blob body"),
    };
    let mut pkg =
        signet_nupkg::Package::open(std::io::Cursor::new(bytes), &Default::default()).unwrap();
    let sig = signet_signature::PrimarySignature::load(
        &pkg.read_signature().unwrap().unwrap(),
        &Default::default(),
    )
    .unwrap();
    assert_eq!(sig.certificate().sha256_hex().to_lowercase(), new);
}
