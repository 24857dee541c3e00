//! Online revocation (issue 3, must show 3): packages signed at test time by certificates that
//! publish their status at a loopback HTTP server started by each test, verified with
//! NuGet's verify-command settings (spec §5.4 step 5, §4.3 step 10).
//!
//! Every test builds its own world — a CA issued by the test root whose CRL the root publishes,
//! leaves issued by that CA, and a server answering for both — so that request counts are
//! exact while tests run in parallel. Timestamps come from `openssl ts -reply`, an RFC 3161
//! implementation no one here wrote. Nothing leaves the loopback interface.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Cursor, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use signet_common::{HashAlgorithm, NuCode, Severity, UtcTime};
use signet_keys::SoftwareSigner;
use signet_nupkg::{Limits, Package, append_signature, dos_date_time};
use signet_signature::{
    Certificate, PrimarySignature, SignatureKind, SignatureRequest, Timestamp, add_timestamp,
    build_primary_signature,
};
use signet_test_support::{
    CertKey, PackageBuilder, RevocableCa, RevocationReason as Reason, RevocationUrls, RevokedEntry,
    pki, root_crl,
};
use signet_trust::ocsp::{
    BasicResponseBuilder, CertStatus, OcspRequest, OcspResponse, ResponderId, SingleResponse,
};
use signet_trust::{
    PackageReport, RevocationChecker, RevocationLimits, RevocationMode, RevocationPolicy,
    RevocationReason, RevocationSettings, Status, TrustStore, VerifierSettings, VerifyOptions,
    verify_package,
};

const HOUR: i64 = 3600 * 1_000_000;
const DAY: i64 = 24 * HOUR;

// ---------------------------------------------------------------------------------------------
// A loopback HTTP/1.1 server: one request per connection, routes by exact path, counts hits
// ---------------------------------------------------------------------------------------------

#[derive(Clone)]
enum Route {
    /// A fixed body for GET.
    Bytes(Vec<u8>),
    /// An OCSP responder (POST, and GET at `/ocsp/<base64>`).
    Ocsp(Arc<Responder>),
    /// An OCSP responder that refuses POST (405), so clients must fall back to GET.
    OcspGetOnly(Arc<Responder>),
}

#[derive(Default)]
struct ServerState {
    routes: HashMap<String, Route>,
    /// `METHOD path` of every request, in order.
    hits: Vec<String>,
}

struct Server {
    base: String,
    state: Arc<Mutex<ServerState>>,
}

impl Server {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(ServerState::default()));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let state = shared.clone();
                std::thread::spawn(move || serve(stream, &state));
            }
        });
        Self { base, state }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn route(&self, path: &str, route: Route) {
        self.state
            .lock()
            .unwrap()
            .routes
            .insert(path.to_string(), route);
    }

    fn hits(&self) -> Vec<String> {
        self.state.lock().unwrap().hits.clone()
    }
}

fn serve(stream: TcpStream, state: &Mutex<ServerState>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let route = {
        let mut s = state.lock().unwrap();
        s.hits.push(format!("{method} {path}"));
        s.routes.get(&path).cloned().or_else(|| {
            // GET /ocsp/<url-encoded base64 request>
            let (prefix, _) = path.rsplit_once('/')?;
            s.routes
                .get(prefix)
                .filter(|r| matches!(r, Route::Ocsp(_) | Route::OcspGetOnly(_)))
                .cloned()
        })
    };
    let get_request = || {
        let encoded = path.rsplit_once('/').map(|(_, e)| e).unwrap_or_default();
        let decoded = encoded
            .replace("%2B", "+")
            .replace("%2F", "/")
            .replace("%3D", "=");
        base64::engine::general_purpose::STANDARD
            .decode(decoded)
            .unwrap_or_default()
    };
    let (status, reply) = match (route, method.as_str()) {
        (Some(Route::Bytes(b)), "GET") => ("200 OK", b),
        (Some(Route::Ocsp(r)), "POST") => ("200 OK", r.respond(&body)),
        (Some(Route::Ocsp(r) | Route::OcspGetOnly(r)), "GET") => {
            ("200 OK", r.respond(&get_request()))
        }
        (Some(Route::OcspGetOnly(_)), "POST") => ("405 Method Not Allowed", Vec::new()),
        _ => ("404 Not Found", Vec::new()),
    };
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reply.len()
    );
    let _ = stream.write_all(&reply);
}

/// A URL on a port where nothing listens (bound, then released).
fn closed_port_url(path: &str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}{path}")
}

/// A URL whose server accepts connections and never answers.
fn silent_url(path: &str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    format!("http://{addr}{path}")
}

// ---------------------------------------------------------------------------------------------
// An OCSP responder built on signet_trust::ocsp
// ---------------------------------------------------------------------------------------------

struct Responder {
    issuer: Certificate,
    /// Who signs: the issuer's key, or a delegated responder's (then its certificate is
    /// included and named by the ResponderID).
    signer: SoftwareSigner,
    signer_cert: Certificate,
    delegated: bool,
    /// Answers by certificate; anything else is `unknown`.
    statuses: Mutex<Vec<(Certificate, CertStatus)>>,
    now: UtcTime,
}

impl Responder {
    fn by_issuer(ca: &RevocableCa, now: UtcTime) -> Self {
        let signer = SoftwareSigner::from_key_and_chain(
            ca.cert.key_pem().as_bytes(),
            None,
            ca.cert.cert_pem().as_bytes(),
        )
        .unwrap();
        let issuer = Certificate::from_der(&ca.cert.cert_der).unwrap();
        Self {
            signer_cert: issuer.clone(),
            issuer,
            signer,
            delegated: false,
            statuses: Mutex::new(Vec::new()),
            now,
        }
    }

    fn delegated(ca: &RevocableCa, responder: &CertKey, now: UtcTime) -> Self {
        let signer = SoftwareSigner::from_key_and_chain(
            responder.key_pem().as_bytes(),
            None,
            responder.cert_pem().as_bytes(),
        )
        .unwrap();
        Self {
            issuer: Certificate::from_der(&ca.cert.cert_der).unwrap(),
            signer_cert: Certificate::from_der(&responder.cert_der).unwrap(),
            signer,
            delegated: true,
            statuses: Mutex::new(Vec::new()),
            now,
        }
    }

    fn set(&self, cert: &CertKey, status: CertStatus) {
        self.statuses
            .lock()
            .unwrap()
            .push((Certificate::from_der(&cert.cert_der).unwrap(), status));
    }

    fn respond(&self, request: &[u8]) -> Vec<u8> {
        let Ok(request) = OcspRequest::decode(request, &RevocationLimits::default()) else {
            return OcspResponse::error(signet_trust::ocsp::OcspResponseStatus::MalformedRequest)
                .to_der_bytes()
                .unwrap();
        };
        let mut builder =
            BasicResponseBuilder::new(ResponderId::by_key(&self.signer_cert).unwrap(), self.now);
        if self.delegated {
            builder = builder.certificate(&self.signer_cert);
        }
        if let Some(nonce) = request.nonce() {
            builder = builder.nonce(&nonce).unwrap();
        }
        let statuses = self.statuses.lock().unwrap();
        for r in &request.tbs_request.request_list {
            let status = statuses
                .iter()
                .find(|(c, _)| r.req_cert.matches(c, &self.issuer))
                .map_or_else(CertStatus::unknown, |(_, s)| s.clone());
            builder = builder.response(
                SingleResponse::new(
                    r.req_cert.clone(),
                    status,
                    self.now.add_micros(-HOUR),
                    Some(self.now.add_micros(DAY)),
                )
                .unwrap(),
            );
        }
        let basic = builder.sign(&self.signer, HashAlgorithm::Sha256).unwrap();
        OcspResponse::successful(&basic)
            .unwrap()
            .to_der_bytes()
            .unwrap()
    }
}

// ---------------------------------------------------------------------------------------------
// A world: server, CA publishing at the server, signing and verifying
// ---------------------------------------------------------------------------------------------

struct World {
    server: Server,
    ca: RevocableCa,
    /// When the world was made (wall clock: timestamps from openssl carry the real time).
    now: UtcTime,
}

impl World {
    fn new() -> Self {
        let now = UtcTime::now();
        let server = Server::start();
        let ca = RevocableCa::new(&RevocationUrls {
            ocsp: None,
            crl: Some(server.url("/crl/root.crl")),
        });
        server.route(
            "/crl/root.crl",
            Route::Bytes(root_crl(
                &[],
                now.add_micros(-HOUR),
                now.add_micros(30 * DAY),
            )),
        );
        let world = Self { server, ca, now };
        world.publish_crl(&[], now);
        world
    }

    /// Publishes the CA's CRL listing `revoked`, current from an hour before `at` for a day.
    fn publish_crl(&self, revoked: &[RevokedEntry], at: UtcTime) {
        self.server.route(
            "/crl/ca.crl",
            Route::Bytes(
                self.ca
                    .crl(revoked, at.add_micros(-HOUR), at.add_micros(DAY)),
            ),
        );
    }

    fn crl_only(&self) -> RevocationUrls {
        RevocationUrls {
            ocsp: None,
            crl: Some(self.server.url("/crl/ca.crl")),
        }
    }

    fn ocsp_only(&self) -> RevocationUrls {
        RevocationUrls {
            ocsp: Some(self.server.url("/ocsp")),
            crl: None,
        }
    }

    fn store(&self) -> TrustStore {
        let mut store = TrustStore::empty();
        store.add_roots(
            vec![Certificate::from_der(&pki().root.cert_der).unwrap()],
            "test",
        );
        store
    }

    /// A package author-signed by `leaf`, timestamped by `tsa` (through `openssl ts`) if given.
    fn sign(&self, leaf: &CertKey, tsa: Option<&CertKey>) -> Vec<u8> {
        let unsigned = PackageBuilder::new("Signet.Revocation", "1.0.0")
            .file("lib/net8.0/Signet.Revocation.dll", b"not really a dll")
            .build();
        let signer = SoftwareSigner::from_key_and_chain(
            leaf.key_pem().as_bytes(),
            None,
            self.ca.chain_pem(leaf).as_bytes(),
        )
        .unwrap();
        let package_hash = Package::open(Cursor::new(&unsigned), &Limits::default())
            .unwrap()
            .package_hash(HashAlgorithm::Sha256)
            .unwrap();
        let request = SignatureRequest {
            kind: SignatureKind::Author,
            hash_algorithm: HashAlgorithm::Sha256,
            package_hash,
            signing_time: self.now,
        };
        let mut signature = build_primary_signature(&request, &signer).unwrap();
        if let Some(tsa) = tsa {
            let loaded =
                PrimarySignature::load(&signature, &signet_signature::Limits::default()).unwrap();
            let imprint = HashAlgorithm::Sha256.digest(loaded.signature_value());
            let token = openssl_timestamp(&imprint, tsa, &self.ca);
            signature = add_timestamp(&signature, &token).unwrap();
        }
        let mut out = Vec::new();
        append_signature(
            Cursor::new(&unsigned),
            &signature,
            dos_date_time(2026, 11, 22, 0, 0, 0),
            &mut out,
            &Limits::default(),
        )
        .unwrap();
        out
    }

    fn verify(
        &self,
        package: &[u8],
        checker: &Arc<RevocationChecker>,
        mode: RevocationMode,
        policy: RevocationPolicy,
        now: UtcTime,
    ) -> PackageReport {
        let mut options = VerifyOptions::new(VerifierSettings::verify_command(mode), now);
        options.revocation = Some(checker.clone());
        options.revocation_policy = policy;
        verify_package(Cursor::new(package), &self.store(), &options)
    }

    /// Online, NuGet's policy, at the world's time plus a minute.
    fn verify_online(&self, package: &[u8], checker: &Arc<RevocationChecker>) -> PackageReport {
        self.verify(
            package,
            checker,
            RevocationMode::Online,
            RevocationPolicy::NuGet,
            self.now.add_micros(60_000_000),
        )
    }
}

fn checker_with(settings: RevocationSettings) -> Arc<RevocationChecker> {
    Arc::new(RevocationChecker::http(settings))
}

fn checker() -> Arc<RevocationChecker> {
    checker_with(RevocationSettings {
        responder_timeout: Duration::from_secs(5),
        budget: Duration::from_secs(20),
        ..RevocationSettings::default()
    })
}

fn cached_checker(dir: &Path) -> Arc<RevocationChecker> {
    checker_with(RevocationSettings {
        cache_dir: Some(dir.to_path_buf()),
        ..RevocationSettings::default()
    })
}

fn serial(cert: &CertKey) -> Vec<u8> {
    Certificate::from_der(&cert.cert_der)
        .unwrap()
        .serial_bytes()
        .to_vec()
}

fn revoked(cert: &CertKey, time: UtcTime, reason: Option<Reason>) -> RevokedEntry {
    RevokedEntry {
        serial: serial(cert),
        time,
        reason,
        invalidity_date: None,
    }
}

/// An RFC 3161 token over `imprint` (SHA-256) from `openssl ts -reply`, signed by `tsa` with
/// `ca` and the root in the token's certificates.
fn openssl_timestamp(imprint: &[u8], tsa: &CertKey, ca: &RevocableCa) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("tsa.pem"), tsa.cert_pem()).unwrap();
    std::fs::write(d.join("tsa.key"), tsa.key_pem()).unwrap();
    std::fs::write(
        d.join("chain.pem"),
        ca.cert.cert_pem() + &pki().root.cert_pem(),
    )
    .unwrap();
    std::fs::write(d.join("serial"), "01\n").unwrap();
    std::fs::write(
        d.join("openssl.cnf"),
        format!(
            "[ tsa ]\n\
             default_tsa = tsa_config\n\
             [ tsa_config ]\n\
             dir = {}\n\
             serial = $dir/serial\n\
             crypto_device = builtin\n\
             signer_digest = sha256\n\
             default_policy = 1.2.3.4.1\n\
             digests = sha256\n\
             accuracy = secs:1\n\
             ordering = no\n\
             tsa_name = no\n\
             ess_cert_id_chain = no\n\
             ess_cert_id_alg = sha256\n",
            d.display()
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .current_dir(d)
            .args(args)
            .output()
            .expect("the openssl CLI must be on PATH");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "ts",
        "-query",
        "-digest",
        &hex::encode(imprint),
        "-sha256",
        "-cert",
        "-no_nonce",
        "-out",
        "req.tsq",
    ]);
    run(&[
        "ts",
        "-reply",
        "-queryfile",
        "req.tsq",
        "-inkey",
        "tsa.key",
        "-signer",
        "tsa.pem",
        "-chain",
        "chain.pem",
        "-config",
        "openssl.cnf",
        "-token_out",
        "-out",
        "token.der",
    ]);
    std::fs::read(d.join("token.der")).unwrap()
}

fn gen_time(package: &[u8]) -> UtcTime {
    let mut pkg = Package::open(Cursor::new(package), &Limits::default()).unwrap();
    let sig = pkg.read_signature().unwrap().unwrap();
    let primary = PrimarySignature::load(&sig, &signet_signature::Limits::default()).unwrap();
    let ts: Timestamp = primary.first_timestamp().unwrap().unwrap();
    ts.info().gen_time
}

fn codes(report: &PackageReport, severity: Severity) -> BTreeSet<NuCode> {
    report
        .issues
        .iter()
        .filter(|i| i.severity == severity)
        .filter_map(|i| i.code)
        .collect()
}

fn dump(report: &PackageReport) -> String {
    report
        .issues
        .iter()
        .map(|i| format!("  {:?} {:?}: {}", i.severity, i.code, i.message))
        .collect::<Vec<_>>()
        .join("\n")
}

#[track_caller]
fn assert_verdict(report: &PackageReport, valid: bool, errors: &[NuCode], warnings: &[NuCode]) {
    assert_eq!(report.valid, valid, "verdict; issues:\n{}", dump(report));
    assert_eq!(
        codes(report, Severity::Error),
        errors.iter().copied().collect::<BTreeSet<_>>(),
        "errors; issues:\n{}",
        dump(report)
    );
    assert_eq!(
        codes(report, Severity::Warning),
        warnings.iter().copied().collect::<BTreeSet<_>>(),
        "warnings; issues:\n{}",
        dump(report)
    );
}

fn message_with(report: &PackageReport, code: NuCode, severity: Severity) -> String {
    report
        .issues
        .iter()
        .find(|i| i.code == Some(code) && i.severity == severity)
        .map(|i| i.message.clone())
        .unwrap_or_else(|| panic!("no {severity:?} {code:?}:\n{}", dump(report)))
}

// ---------------------------------------------------------------------------------------------
// The matrix
// ---------------------------------------------------------------------------------------------

#[test]
fn good_chain_has_no_revocation_findings() {
    let w = World::new();
    let leaf = w.ca.code_signing(&w.crl_only());
    let package = w.sign(&leaf, None);
    let report = w.verify_online(&package, &checker());
    // Only NU3027 (no timestamp): leaf and CA both checked good, no revocation line at all.
    assert_verdict(&report, true, &[], &[NuCode::NU3027]);
    assert!(
        !report
            .issues
            .iter()
            .any(|i| i.message.contains("revocation")),
        "{}",
        dump(&report)
    );
    let hits = w.server.hits();
    assert!(hits.contains(&"GET /crl/ca.crl".to_string()), "{hits:?}");
    assert!(hits.contains(&"GET /crl/root.crl".to_string()), "{hits:?}");
}

#[test]
fn signer_revoked_by_crl_is_nu3012() {
    let w = World::new();
    let leaf = w.ca.code_signing(&w.crl_only());
    let package = w.sign(&leaf, None);
    w.publish_crl(
        &[revoked(
            &leaf,
            w.now.add_micros(-DAY),
            Some(Reason::KeyCompromise),
        )],
        w.now,
    );
    let report = w.verify_online(&package, &checker());
    assert_verdict(&report, false, &[NuCode::NU3012], &[NuCode::NU3027]);
    assert_eq!(report.status, Status::Suspect);
    let message = message_with(&report, NuCode::NU3012, Severity::Error);
    assert!(
        message.starts_with(
            "The author primary signature found a chain building issue: Revoked: The certificate is revoked."
        ),
        "{message}"
    );
    assert!(message.contains("keyCompromise"), "{message}");
}

#[test]
fn signer_revoked_by_ocsp_is_nu3012() {
    let w = World::new();
    let responder = Arc::new(Responder::by_issuer(&w.ca, w.now));
    w.server.route("/ocsp", Route::Ocsp(responder.clone()));
    let leaf = w.ca.code_signing(&w.ocsp_only());
    responder.set(
        &leaf,
        CertStatus::revoked(
            w.now.add_micros(-DAY),
            Some(RevocationReason::KeyCompromise),
        )
        .unwrap(),
    );
    let package = w.sign(&leaf, None);
    let report = w.verify_online(&package, &checker());
    assert_verdict(&report, false, &[NuCode::NU3012], &[NuCode::NU3027]);
    assert_eq!(report.status, Status::Suspect);
    assert!(w.server.hits().contains(&"POST /ocsp".to_string()));
}

#[test]
fn ocsp_good_answer_from_a_delegated_responder() {
    let w = World::new();
    let responder_cert = w.ca.ocsp_responder();
    let responder = Arc::new(Responder::delegated(&w.ca, &responder_cert, w.now));
    w.server.route("/ocsp", Route::Ocsp(responder.clone()));
    let leaf = w.ca.code_signing(&w.ocsp_only());
    responder.set(&leaf, CertStatus::good());
    let package = w.sign(&leaf, None);
    let report = w.verify_online(&package, &checker());
    assert_verdict(&report, true, &[], &[NuCode::NU3027]);
}

#[test]
fn ocsp_from_a_certificate_without_the_ocsp_signing_eku_is_not_trusted() {
    let w = World::new();
    // A code-signing leaf of the same CA pretends to be a responder and says "revoked".
    let impostor = w.ca.code_signing(&RevocationUrls::default());
    let responder = Arc::new(Responder::delegated(&w.ca, &impostor, w.now));
    w.server.route("/ocsp", Route::Ocsp(responder.clone()));
    let leaf = w.ca.code_signing(&w.ocsp_only());
    responder.set(&leaf, CertStatus::revoked(w.now, None).unwrap());
    let package = w.sign(&leaf, None);
    let report = w.verify_online(&package, &checker());
    // The forged answer is ignored: status unknown (NU3018 warning), not revoked.
    assert_verdict(&report, true, &[], &[NuCode::NU3018, NuCode::NU3027]);
    let message = message_with(&report, NuCode::NU3018, Severity::Warning);
    assert!(message.contains("id-kp-OCSPSigning"), "{message}");
}

#[test]
fn ocsp_falls_back_to_get_when_post_is_refused() {
    let w = World::new();
    let responder = Arc::new(Responder::by_issuer(&w.ca, w.now));
    w.server
        .route("/ocsp", Route::OcspGetOnly(responder.clone()));
    let leaf = w.ca.code_signing(&w.ocsp_only());
    responder.set(&leaf, CertStatus::revoked(w.now, None).unwrap());
    let package = w.sign(&leaf, None);
    let report = w.verify_online(&package, &checker());
    assert_verdict(&report, false, &[NuCode::NU3012], &[NuCode::NU3027]);
    let hits = w.server.hits();
    assert!(hits.contains(&"POST /ocsp".to_string()), "{hits:?}");
    assert!(hits.iter().any(|h| h.starts_with("GET /ocsp/")), "{hits:?}");
}

#[test]
fn unreachable_responder_is_a_warning_online_and_information_offline() {
    let w = World::new();
    let leaf = w.ca.code_signing(&RevocationUrls {
        ocsp: Some(closed_port_url("/ocsp")),
        crl: Some(closed_port_url("/leaf.crl")),
    });
    let package = w.sign(&leaf, None);

    let report = w.verify_online(&package, &checker());
    assert_verdict(&report, true, &[], &[NuCode::NU3018, NuCode::NU3027]);
    let message = message_with(&report, NuCode::NU3018, Severity::Warning);
    assert!(
        message.starts_with(
            "The author primary signature found a chain building issue: RevocationStatusUnknown:"
        ),
        "{message}"
    );
    assert!(
        message.contains("signet test revocable code signing"),
        "{message}"
    );

    let before = w.server.hits().len();
    let report = w.verify(
        &package,
        &checker(),
        RevocationMode::Offline,
        RevocationPolicy::NuGet,
        w.now,
    );
    assert_verdict(&report, true, &[], &[NuCode::NU3027]);
    let info = report
        .issues
        .iter()
        .find(|i| i.severity == Severity::Information && i.message.contains("offline"))
        .unwrap_or_else(|| panic!("no offline information:\n{}", dump(&report)));
    assert_eq!(info.code, None);
    assert_eq!(w.server.hits().len(), before, "offline mode made a request");
}

#[test]
fn a_responder_that_never_answers_costs_at_most_the_timeout() {
    let w = World::new();
    let timeout = Duration::from_secs(2);
    // OCSP and CRL on the same silent host: after the OCSP timeout the host is not asked again.
    let silent = silent_url("");
    let leaf = w.ca.code_signing(&RevocationUrls {
        ocsp: Some(format!("{silent}/ocsp")),
        crl: Some(format!("{silent}/leaf.crl")),
    });
    let package = w.sign(&leaf, None);
    let checker = checker_with(RevocationSettings {
        responder_timeout: timeout,
        budget: Duration::from_secs(30),
        ..RevocationSettings::default()
    });
    let started = Instant::now();
    let report = w.verify_online(&package, &checker);
    let elapsed = started.elapsed();
    eprintln!("silent responder, timeout {timeout:?}: verification took {elapsed:?}");
    assert_verdict(&report, true, &[], &[NuCode::NU3018, NuCode::NU3027]);
    assert!(
        elapsed >= timeout,
        "the timeout was not waited for: {elapsed:?}"
    );
    // A bound, not a benchmark: generous slack for a loaded 2-core machine.
    assert!(
        elapsed < timeout + Duration::from_secs(3),
        "took {elapsed:?} with a {timeout:?} timeout"
    );
}

#[test]
fn the_budget_bounds_a_verification_with_several_silent_responders() {
    let w = World::new();
    // Two different silent hosts, each with the full per-responder timeout: the budget of one
    // verification cuts the second short.
    let leaf = w.ca.code_signing(&RevocationUrls {
        ocsp: Some(silent_url("/ocsp")),
        crl: Some(silent_url("/leaf.crl")),
    });
    let package = w.sign(&leaf, None);
    let budget = Duration::from_secs(3);
    let checker = checker_with(RevocationSettings {
        responder_timeout: Duration::from_secs(2),
        budget,
        ..RevocationSettings::default()
    });
    let started = Instant::now();
    let report = w.verify_online(&package, &checker);
    let elapsed = started.elapsed();
    eprintln!("two silent responders, timeout 2 s, budget {budget:?}: {elapsed:?}");
    assert_verdict(&report, true, &[], &[NuCode::NU3018, NuCode::NU3027]);
    assert!(
        elapsed < budget + Duration::from_secs(3),
        "took {elapsed:?} with a {budget:?} budget"
    );
}

/// One install or audit verifies many packages with one checker: a dead responder costs
/// one timeout for the whole run (it is not asked again by the next verification), and the
/// run budget bounds the total even across different dead hosts.
#[test]
fn a_dead_responder_costs_one_run_budget() {
    let w = World::new();
    let timeout = Duration::from_secs(2);
    let silent = silent_url("");
    let leaf = w.ca.code_signing(&RevocationUrls {
        ocsp: Some(format!("{silent}/ocsp")),
        crl: Some(format!("{silent}/leaf.crl")),
    });
    let packages: Vec<_> = (0..4).map(|_| w.sign(&leaf, None)).collect();
    let checker = checker_with(RevocationSettings {
        responder_timeout: timeout,
        budget: Duration::from_secs(30),
        run_budget: Some(Duration::from_secs(60)),
        ..RevocationSettings::default()
    });
    let started = Instant::now();
    for p in &packages {
        let report = w.verify_online(p, &checker);
        assert_verdict(&report, true, &[], &[NuCode::NU3018, NuCode::NU3027]);
    }
    let elapsed = started.elapsed();
    eprintln!("4 packages, one silent responder, timeout {timeout:?}: {elapsed:?}");
    // Four timeouts would be 8 s; one is 2 s. Generous slack for a loaded machine.
    assert!(
        elapsed < timeout * 2 + Duration::from_secs(2),
        "took {elapsed:?}: the dead host was asked again"
    );

    // Different silent hosts per package: the run budget stops the waiting.
    let run_budget = Duration::from_secs(3);
    let leaves: Vec<_> = (0..4)
        .map(|_| {
            w.ca.code_signing(&RevocationUrls {
                ocsp: Some(silent_url("/ocsp")),
                crl: None,
            })
        })
        .collect();
    let packages: Vec<_> = leaves.iter().map(|l| w.sign(l, None)).collect();
    let checker = checker_with(RevocationSettings {
        responder_timeout: timeout,
        budget: Duration::from_secs(30),
        run_budget: Some(run_budget),
        ..RevocationSettings::default()
    });
    let started = Instant::now();
    for p in &packages {
        let report = w.verify_online(p, &checker);
        assert_verdict(&report, true, &[], &[NuCode::NU3018, NuCode::NU3027]);
    }
    let elapsed = started.elapsed();
    eprintln!("4 packages, 4 silent responders, run budget {run_budget:?}: {elapsed:?}");
    assert!(
        elapsed < run_budget + Duration::from_secs(3),
        "took {elapsed:?} with a {run_budget:?} run budget"
    );
}

#[test]
fn revoked_tsa_certificate_is_nu3028() {
    let w = World::new();
    let leaf = w.ca.code_signing(&w.crl_only());
    let tsa = w.ca.timestamping(&w.crl_only());
    let package = w.sign(&leaf, Some(&tsa));

    // Not revoked: clean.
    let report = w.verify_online(&package, &checker());
    assert_verdict(&report, true, &[], &[]);
    assert!(report.signatures[0].timestamp.as_ref().unwrap().valid);

    w.publish_crl(
        &[revoked(
            &tsa,
            w.now.add_micros(-DAY),
            Some(Reason::KeyCompromise),
        )],
        w.now,
    );
    let report = w.verify_online(&package, &checker());
    assert_verdict(&report, false, &[NuCode::NU3028], &[]);
    let message = message_with(&report, NuCode::NU3028, Severity::Error);
    assert!(
        message.starts_with(
            "The author primary signature's timestamp found a chain building issue: Revoked:"
        ),
        "{message}"
    );
    assert!(!report.signatures[0].timestamp.as_ref().unwrap().valid);
    assert_eq!(report.status, Status::Disallowed);
}

/// The 2026 Refit/ReactiveUI case (`../shared/spec/user-pain-points.md` §1c): the CA revoked
/// the author certificate months after the packages were timestamped, not for a compromise.
#[test]
fn timestamp_aware_policy_keeps_a_signature_revoked_as_superseded_after_its_timestamp() {
    let w = World::new();
    let leaf = w.ca.code_signing(&w.crl_only());
    let tsa = w.ca.timestamping(&w.crl_only());
    let package = w.sign(&leaf, Some(&tsa));
    let signed_at = gen_time(&package);
    let later = signed_at.add_micros(2 * DAY);
    w.publish_crl(
        &[revoked(
            &leaf,
            signed_at.add_micros(DAY),
            Some(Reason::Superseded),
        )],
        later,
    );

    let nuget = w.verify(
        &package,
        &checker(),
        RevocationMode::Online,
        RevocationPolicy::NuGet,
        later,
    );
    assert_verdict(&nuget, false, &[NuCode::NU3012], &[]);

    let aware = w.verify(
        &package,
        &checker(),
        RevocationMode::Online,
        RevocationPolicy::TimestampAware,
        later,
    );
    assert_verdict(&aware, true, &[], &[NuCode::NU3012]);
    assert_eq!(aware.status, Status::Valid);
    let message = message_with(&aware, NuCode::NU3012, Severity::Warning);
    assert!(message.contains("superseded"), "{message}");
    assert!(
        message.contains("after the signature's timestamp"),
        "{message}"
    );
}

#[test]
fn timestamp_aware_policy_rejects_key_compromise() {
    let w = World::new();
    let leaf = w.ca.code_signing(&w.crl_only());
    let tsa = w.ca.timestamping(&w.crl_only());
    let package = w.sign(&leaf, Some(&tsa));
    let signed_at = gen_time(&package);
    let later = signed_at.add_micros(2 * DAY);
    w.publish_crl(
        &[revoked(
            &leaf,
            signed_at.add_micros(DAY),
            Some(Reason::KeyCompromise),
        )],
        later,
    );
    let report = w.verify(
        &package,
        &checker(),
        RevocationMode::Online,
        RevocationPolicy::TimestampAware,
        later,
    );
    assert_verdict(&report, false, &[NuCode::NU3012], &[]);
    assert_eq!(report.status, Status::Suspect);
}

/// The rest of the timestamp-aware rule, one package and one CRL per case.
#[test]
fn timestamp_aware_policy_table() {
    let w = World::new();
    let leaf = w.ca.code_signing(&w.crl_only());
    let tsa = w.ca.timestamping(&w.crl_only());
    let package = w.sign(&leaf, Some(&tsa));
    let ts = gen_time(&package);
    let later = ts.add_micros(3 * DAY);
    let after = ts.add_micros(DAY);
    let before = ts.add_micros(-DAY);
    let entry = |time, reason, invalidity_date| RevokedEntry {
        invalidity_date,
        ..revoked(&leaf, time, reason)
    };
    // (case, entry, accepted)
    let cases = [
        (
            "superseded after",
            entry(after, Some(Reason::Superseded), None),
            true,
        ),
        (
            "cessation after",
            entry(after, Some(Reason::CessationOfOperation), None),
            true,
        ),
        (
            "affiliation after",
            entry(after, Some(Reason::AffiliationChanged), None),
            true,
        ),
        (
            "superseded before",
            entry(before, Some(Reason::Superseded), None),
            false,
        ),
        ("no reason", entry(after, None, None), false),
        (
            "unspecified",
            entry(after, Some(Reason::Unspecified), None),
            false,
        ),
        (
            "unspecified, invalid after",
            entry(after, Some(Reason::Unspecified), Some(after)),
            true,
        ),
        (
            "superseded, invalid before",
            entry(after, Some(Reason::Superseded), Some(before)),
            false,
        ),
        (
            "hold",
            entry(after, Some(Reason::CertificateHold), None),
            false,
        ),
        (
            "cA compromise",
            entry(after, Some(Reason::CaCompromise), None),
            false,
        ),
        (
            "key compromise, invalid after",
            entry(after, Some(Reason::KeyCompromise), Some(after)),
            false,
        ),
    ];
    for (case, entry, accepted) in cases {
        w.publish_crl(&[entry], later);
        let report = w.verify(
            &package,
            &checker(),
            RevocationMode::Online,
            RevocationPolicy::TimestampAware,
            later,
        );
        assert_eq!(report.valid, accepted, "{case}:\n{}", dump(&report));
        let severity = if accepted {
            Severity::Warning
        } else {
            Severity::Error
        };
        message_with(&report, NuCode::NU3012, severity);
    }
    // removeFromCRL is not a revocation at all.
    w.publish_crl(&[entry(after, Some(Reason::RemoveFromCrl), None)], later);
    let report = w.verify(
        &package,
        &checker(),
        RevocationMode::Online,
        RevocationPolicy::NuGet,
        later,
    );
    assert_verdict(&report, true, &[], &[]);
}

#[test]
fn cached_answers_mean_no_second_request() {
    let w = World::new();
    let responder = Arc::new(Responder::by_issuer(&w.ca, w.now));
    w.server.route("/ocsp", Route::Ocsp(responder.clone()));
    let leaf = w.ca.code_signing(&RevocationUrls {
        ocsp: Some(w.server.url("/ocsp")),
        crl: Some(w.server.url("/crl/ca.crl")),
    });
    responder.set(&leaf, CertStatus::good());
    let package = w.sign(&leaf, None);
    let dir = tempfile::tempdir().unwrap();

    let checker = cached_checker(dir.path());
    let first = w.verify_online(&package, &checker);
    assert_verdict(&first, true, &[], &[NuCode::NU3027]);
    let after_first = w.server.hits();
    // The leaf by OCSP (no CRL needed), the CA by the root's CRL.
    assert_eq!(
        after_first,
        ["POST /ocsp", "GET /crl/root.crl"],
        "{after_first:?}"
    );

    // Same checker: the in-process cache answers.
    let second = w.verify_online(&package, &checker);
    assert_verdict(&second, true, &[], &[NuCode::NU3027]);
    assert_eq!(
        w.server.hits(),
        after_first,
        "the second verification made requests"
    );

    // A new checker (a new process) with the same cache directory: the disk cache answers.
    let third = w.verify_online(&package, &cached_checker(dir.path()));
    assert_verdict(&third, true, &[], &[NuCode::NU3027]);
    assert_eq!(w.server.hits(), after_first, "the disk cache was not used");
    let files = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(files, 2, "one OCSP response and one CRL on disk");
}

#[test]
fn offline_mode_detects_revocation_from_a_cached_crl() {
    let w = World::new();
    let leaf = w.ca.code_signing(&w.crl_only());
    let package = w.sign(&leaf, None);
    w.publish_crl(&[revoked(&leaf, w.now, Some(Reason::Superseded))], w.now);
    let dir = tempfile::tempdir().unwrap();

    let online = w.verify_online(&package, &cached_checker(dir.path()));
    assert_verdict(&online, false, &[NuCode::NU3012], &[NuCode::NU3027]);
    let requests = w.server.hits().len();

    let offline = w.verify(
        &package,
        &cached_checker(dir.path()),
        RevocationMode::Offline,
        RevocationPolicy::NuGet,
        w.now.add_micros(HOUR),
    );
    assert_verdict(&offline, false, &[NuCode::NU3012], &[NuCode::NU3027]);
    assert_eq!(offline.status, Status::Suspect);
    assert_eq!(
        w.server.hits().len(),
        requests,
        "offline mode made a request"
    );
}

#[test]
fn an_expired_cached_crl_is_fetched_again() {
    let w = World::new();
    let leaf = w.ca.code_signing(&w.crl_only());
    let package = w.sign(&leaf, None);
    let checker = checker();

    let first = w.verify_online(&package, &checker);
    assert_verdict(&first, true, &[], &[NuCode::NU3027]);
    let leaf_crl_fetches =
        |hits: &[String]| hits.iter().filter(|h| *h == "GET /crl/ca.crl").count();
    assert_eq!(leaf_crl_fetches(&w.server.hits()), 1);

    // Two days later the cached CRL's nextUpdate (a day after publication) has passed; the CA
    // has published a new one, which now lists the leaf.
    let later = w.now.add_micros(2 * DAY);
    w.publish_crl(&[revoked(&leaf, w.now.add_micros(DAY), None)], later);
    let second = w.verify(
        &package,
        &checker,
        RevocationMode::Online,
        RevocationPolicy::NuGet,
        later,
    );
    assert_eq!(leaf_crl_fetches(&w.server.hits()), 2, "not refetched");
    assert_verdict(&second, false, &[NuCode::NU3012], &[NuCode::NU3027]);

    // Offline, an expired CRL in the cache is not used: unknown, as information.
    let offline = w.verify(
        &package,
        &checker,
        RevocationMode::Offline,
        RevocationPolicy::NuGet,
        later.add_micros(5 * DAY),
    );
    assert_verdict(&offline, true, &[], &[NuCode::NU3027]);
}

#[test]
fn no_checker_keeps_the_previous_behaviour() {
    let w = World::new();
    let leaf = w.ca.code_signing(&w.crl_only());
    let package = w.sign(&leaf, None);
    let options = VerifyOptions::new(
        VerifierSettings::verify_command(RevocationMode::Online),
        w.now,
    );
    let report = verify_package(Cursor::new(&package), &w.store(), &options);
    assert_verdict(&report, true, &[], &[NuCode::NU3018, NuCode::NU3027]);
    assert!(w.server.hits().is_empty());
}

// ---------------------------------------------------------------------------------------------
// signet_trust::ocsp against OpenSSL, both directions
// ---------------------------------------------------------------------------------------------

fn openssl_in(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("the openssl CLI must be on PATH");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "openssl {args:?}: {text}");
    text
}

/// `openssl ocsp` reads the request and the signed response signet_trust::ocsp writes, and
/// verifies the response's signature and status.
#[test]
fn openssl_reads_our_ocsp_request_and_response() {
    use signet_trust::ocsp::{CertId, CertIdHash};
    let w = World::new();
    let leaf = w.ca.code_signing(&w.ocsp_only());
    let responder = Responder::by_issuer(&w.ca, w.now);
    responder.set(
        &leaf,
        CertStatus::revoked(w.now.add_micros(-DAY), Some(RevocationReason::Superseded)).unwrap(),
    );
    let leaf_cert = Certificate::from_der(&leaf.cert_der).unwrap();
    let ca_cert = Certificate::from_der(&w.ca.cert.cert_der).unwrap();
    let id = CertId::new(&leaf_cert, &ca_cert, CertIdHash::Sha1).unwrap();
    let request = OcspRequest::new(vec![id], Some(&[9; 16]))
        .unwrap()
        .to_der_bytes()
        .unwrap();
    let response = responder.respond(&request);

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("req.der"), &request).unwrap();
    std::fs::write(d.join("resp.der"), &response).unwrap();
    std::fs::write(d.join("leaf.pem"), leaf.cert_pem()).unwrap();
    std::fs::write(d.join("ca.pem"), w.ca.cert.cert_pem()).unwrap();
    std::fs::write(d.join("root.pem"), pki().root.cert_pem()).unwrap();

    let req_text = openssl_in(d, &["ocsp", "-reqin", "req.der", "-req_text"]);
    assert!(
        req_text.contains(&format!("Serial Number: {}", leaf_cert.serial_hex())),
        "{req_text}"
    );
    assert!(req_text.contains("OCSP Nonce"), "{req_text}");

    // With our request: openssl checks the signature and that the nonce was echoed.
    let verified = openssl_in(
        d,
        &[
            "ocsp", "-reqin", "req.der", "-respin", "resp.der", "-issuer", "ca.pem", "-CAfile",
            "root.pem",
        ],
    );
    assert!(verified.contains("Response verify OK"), "{verified}");
    // Asking about the leaf (openssl builds its own request, so no nonce): the status.
    let resp_text = openssl_in(
        d,
        &[
            "ocsp",
            "-respin",
            "resp.der",
            "-issuer",
            "ca.pem",
            "-cert",
            "leaf.pem",
            "-CAfile",
            "root.pem",
            "-no_nonce",
            "-resp_text",
        ],
    );
    assert!(resp_text.contains("Response verify OK"), "{resp_text}");
    assert!(resp_text.contains("leaf.pem: revoked"), "{resp_text}");
    assert!(resp_text.contains("Reason: superseded"), "{resp_text}");
}

/// signet_trust::ocsp checks a response made by `openssl ocsp` as a responder (index file,
/// CA-signed, nonce echoed).
#[test]
fn we_read_an_openssl_ocsp_response() {
    use signet_trust::ocsp::{CertId, CertIdHash, check_response};
    let w = World::new();
    let leaf = w.ca.code_signing(&w.ocsp_only());
    let other = w.ca.code_signing(&w.ocsp_only());
    let leaf_cert = Certificate::from_der(&leaf.cert_der).unwrap();
    let other_cert = Certificate::from_der(&other.cert_der).unwrap();
    let ca_cert = Certificate::from_der(&w.ca.cert.cert_der).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("ca.pem"), w.ca.cert.cert_pem()).unwrap();
    std::fs::write(d.join("ca.key"), w.ca.cert.key_pem()).unwrap();
    // index.txt: status, expiry, revocation time[,reason], serial, file, subject.
    let revoked_at = w.now.add_micros(-DAY).to_civil();
    let revoked_at = format!(
        "{:02}{:02}{:02}{:02}{:02}{:02}Z",
        revoked_at.0 % 100,
        revoked_at.1,
        revoked_at.2,
        revoked_at.3,
        revoked_at.4,
        revoked_at.5
    );
    std::fs::write(
        d.join("index.txt"),
        format!(
            "R\t491231235959Z\t{revoked_at},keyCompromise\t{}\tunknown\t/CN=leaf\n\
             V\t491231235959Z\t\t{}\tunknown\t/CN=other\n",
            leaf_cert.serial_hex(),
            other_cert.serial_hex()
        ),
    )
    .unwrap();
    let nonce = [0x5a; 16];
    for (cert, revoked) in [(&leaf_cert, true), (&other_cert, false)] {
        let request = OcspRequest::new(
            vec![CertId::new(cert, &ca_cert, CertIdHash::Sha256).unwrap()],
            Some(&nonce),
        )
        .unwrap()
        .to_der_bytes()
        .unwrap();
        std::fs::write(d.join("req.der"), &request).unwrap();
        openssl_in(
            d,
            &[
                "ocsp",
                "-index",
                "index.txt",
                "-rsigner",
                "ca.pem",
                "-rkey",
                "ca.key",
                "-CA",
                "ca.pem",
                "-reqin",
                "req.der",
                "-respout",
                "resp.der",
                "-ndays",
                "1",
            ],
        );
        let response = std::fs::read(d.join("resp.der")).unwrap();
        let limits = RevocationLimits::default();
        let now = UtcTime::now();
        let answer = check_response(&response, cert, &ca_cert, now, Some(&nonce), &limits).unwrap();
        if revoked {
            assert!(
                matches!(
                    answer.status,
                    signet_trust::RevocationStatus::Revoked {
                        reason: Some(RevocationReason::KeyCompromise),
                        ..
                    }
                ),
                "{answer:?}"
            );
        } else {
            assert_eq!(answer.status, signet_trust::RevocationStatus::Good);
        }
        // Another nonce than the one sent is refused; so is the answer for another certificate.
        assert!(matches!(
            check_response(&response, cert, &ca_cert, now, Some(&[1; 16]), &limits),
            Err(signet_trust::Error::OcspNonce)
        ));
        let wrong = if revoked { &other_cert } else { &leaf_cert };
        assert!(matches!(
            check_response(&response, wrong, &ca_cert, now, None, &limits),
            Err(signet_trust::Error::OcspNotCovered)
        ));
        // Long after its nextUpdate the response is not current.
        assert!(matches!(
            check_response(
                &response,
                cert,
                &ca_cert,
                now.add_micros(3 * DAY),
                None,
                &limits
            ),
            Err(signet_trust::Error::NotCurrent { .. })
        ));
        // A flipped byte in the signed data (here inside the ResponderID, early in
        // tbsResponseData) breaks the signature, the signer match or the decoding.
        let mut tampered = response.clone();
        tampered[45] ^= 1;
        assert!(check_response(&tampered, cert, &ca_cert, now, None, &limits).is_err());
    }
}

// ---------------------------------------------------------------------------------------------
// Stapled status (issue "Restores that never wait on a CA")
// ---------------------------------------------------------------------------------------------

/// An OCSP response from `responder` for `leaf` (issued by `ca`), as a feed would staple it.
fn staple(responder: &Responder, leaf: &CertKey, ca: &RevocableCa) -> Vec<u8> {
    let id = signet_trust::ocsp::CertId::new(
        &Certificate::from_der(&leaf.cert_der).unwrap(),
        &Certificate::from_der(&ca.cert.cert_der).unwrap(),
        signet_trust::ocsp::CertIdHash::Sha1,
    )
    .unwrap();
    let request = OcspRequest::new(vec![id], None)
        .unwrap()
        .to_der_bytes()
        .unwrap();
    responder.respond(&request)
}

#[test]
fn staples_answer_without_going_online_and_bad_ones_are_never_good() {
    let w = World::new();
    // The leaf names a responder that is never asked when a staple answers.
    let dead = RevocationUrls {
        ocsp: Some(w.server.url("/ocsp-dead")),
        crl: None,
    };
    let leaf = w.ca.code_signing(&dead);
    let other_leaf = w.ca.code_signing(&dead);
    let package = w.sign(&leaf, None);
    let online = checker();
    let verify = |staples: Vec<Vec<u8>>, memory: Option<Arc<signet_trust::StapleMemory>>| {
        let stapled = Arc::new(signet_trust::StapledRevocation::new(
            staples,
            Some(online.clone() as Arc<dyn signet_trust::RevocationSource>),
            memory,
            RevocationLimits::default(),
        ));
        let mut options = VerifyOptions::new(
            VerifierSettings::verify_command(RevocationMode::Online),
            w.now.add_micros(60_000_000),
        );
        options.revocation = Some(stapled.clone());
        let report = verify_package(Cursor::new(&package), &w.store(), &options);
        (report, stapled.answered_from_staples())
    };
    let dead_hits = || {
        w.server
            .hits()
            .iter()
            .filter(|h| h.contains("/ocsp-dead"))
            .count()
    };

    // A current staple by the issuer: good, and the responder is never asked.
    let good = Responder::by_issuer(&w.ca, w.now);
    good.set(&leaf, CertStatus::good());
    let (report, answered) = verify(vec![staple(&good, &leaf, &w.ca)], None);
    assert_verdict(&report, true, &[], &[NuCode::NU3027]);
    assert_eq!(answered, 1, "the leaf's status came from the staple");
    assert_eq!(dead_hits(), 0);

    // Staples that must not be used: expired, for another serial, signed by another CA's key.
    // Each falls back to the (dead) responder: unknown, NU3018, never "good".
    let expired = Responder::by_issuer(&w.ca, w.now.add_micros(-3 * DAY));
    expired.set(&leaf, CertStatus::good());
    let foreign_ca = RevocableCa::new(&RevocationUrls {
        ocsp: None,
        crl: None,
    });
    let forged = Responder::by_issuer(&foreign_ca, w.now);
    forged.set(&leaf, CertStatus::good());
    good.set(&other_leaf, CertStatus::good());
    for (what, bytes) in [
        ("expired", staple(&expired, &leaf, &w.ca)),
        ("another serial", staple(&good, &other_leaf, &w.ca)),
        ("another signer", staple(&forged, &leaf, &w.ca)),
    ] {
        let before = dead_hits();
        let (report, answered) = verify(vec![bytes], None);
        assert_eq!(answered, 0, "{what}: used");
        assert_verdict(&report, true, &[], &[NuCode::NU3018, NuCode::NU3027]);
        assert!(dead_hits() > before, "{what}: the fallback was not asked");
    }

    // Revoked, then an older "good" replayed: the memory keeps the revocation.
    let memory = Arc::new(signet_trust::StapleMemory::in_memory());
    let revoked = Responder::by_issuer(&w.ca, w.now);
    revoked.set(
        &leaf,
        CertStatus::revoked(w.now.add_micros(-HOUR), None).unwrap(),
    );
    let (report, _) = verify(vec![staple(&revoked, &leaf, &w.ca)], Some(memory.clone()));
    assert_verdict(&report, false, &[NuCode::NU3012], &[NuCode::NU3027]);
    let older = Responder::by_issuer(&w.ca, w.now.add_micros(-2 * HOUR));
    older.set(&leaf, CertStatus::good());
    let (report, _) = verify(vec![staple(&older, &leaf, &w.ca)], Some(memory.clone()));
    assert_verdict(&report, false, &[NuCode::NU3012], &[NuCode::NU3027]);
    // An older good after a newer good is not used either (it falls back).
    let memory = Arc::new(signet_trust::StapleMemory::in_memory());
    verify(vec![staple(&good, &leaf, &w.ca)], Some(memory.clone()));
    let (_, answered) = verify(vec![staple(&older, &leaf, &w.ca)], Some(memory));
    assert_eq!(answered, 0, "a replayed older staple was used");

    // Stapled-only (air-gapped): no staple, no connection, unknown.
    let before = dead_hits();
    let stapled_only = Arc::new(signet_trust::StapledRevocation::new(
        Vec::new(),
        None,
        None,
        RevocationLimits::default(),
    ));
    let mut options = VerifyOptions::new(
        VerifierSettings::verify_command(RevocationMode::Online),
        w.now.add_micros(60_000_000),
    );
    options.revocation = Some(stapled_only);
    let report = verify_package(Cursor::new(&package), &w.store(), &options);
    assert_verdict(&report, true, &[], &[NuCode::NU3018, NuCode::NU3027]);
    assert_eq!(dead_hits(), before);
}
