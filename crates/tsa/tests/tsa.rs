//! signet-tsa end to end: the authority behind its HTTP server, checked by `openssl ts`; the
//! client against that server, against `openssl ts -reply` behind a loopback wrapper, and
//! against transports that misbehave on purpose.
// Test helpers outside #[test] functions panic on a broken fixture, which fails the test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use const_oid::ObjectIdentifier;
use der::Encode;
use der::asn1::{Int, OctetString};
use signet_common::{HashAlgorithm, NuCode, UtcTime};
use signet_keys::{Signer, SoftwareSigner};
use signet_signature::{Certificate, Timestamp, oids};
use signet_test_support::{
    CertKey, OpenSslSigner, TimestampingProfile, pki, timestamping_cert_with,
};
use signet_trust::TrustStore;
use signet_tsa::{
    Authority, AuthorityConfig, Error, FailureInfo, HttpTransport, MessageImprint, PkiStatus,
    TimeStampReq, TimeStampResp, Transport, add_missing_certificates, request_timestamp, serve,
};
use spki::AlgorithmIdentifierOwned;
use time::macros::datetime;

// --- fixtures ---------------------------------------------------------------------------------

fn signer_for(cert: &CertKey) -> SoftwareSigner {
    SoftwareSigner::from_key_and_chain(
        cert.key_pem().as_bytes(),
        None,
        pki().chain_pem(cert).as_bytes(),
    )
    .unwrap()
}

fn authority(dir: &Path, edit: impl FnOnce(&mut AuthorityConfig)) -> Authority {
    let mut config = AuthorityConfig::new(dir.join("serial"));
    edit(&mut config);
    Authority::new(Box::new(signer_for(&pki().timestamping)), config).unwrap()
}

fn trust() -> TrustStore {
    let mut store = TrustStore::empty();
    store.add_roots(
        vec![Certificate::from_der(&pki().root.cert_der).unwrap()],
        "the test PKI",
    );
    store
}

/// 2026-05-01 12:00:00.250 UTC: inside every test certificate's validity.
fn fixed_now() -> UtcTime {
    UtcTime::from_civil(2026, 5, 1, 12, 0, 0, 250_000).unwrap()
}

fn request(alg_oid: &str, imprint: Vec<u8>, edit: impl FnOnce(&mut TimeStampReq)) -> Vec<u8> {
    let mut req = TimeStampReq {
        version: 1,
        message_imprint: MessageImprint {
            hash_algorithm: AlgorithmIdentifierOwned {
                oid: ObjectIdentifier::new(alg_oid).unwrap(),
                parameters: None,
            },
            hashed_message: OctetString::new(imprint).unwrap(),
        },
        req_policy: None,
        nonce: Some(Int::new(&[0x12, 0x34, 0x56]).unwrap()),
        cert_req: true,
        extensions: None,
    };
    edit(&mut req);
    req.to_der_bytes().unwrap()
}

fn sha256_request(data: &[u8]) -> Vec<u8> {
    request(
        "2.16.840.1.101.3.4.2.1",
        HashAlgorithm::Sha256.digest(data),
        |_| {},
    )
}

/// The token of a granted response, decoded with NuGet's load-time checks.
fn granted(response: &[u8]) -> Timestamp {
    let resp = TimeStampResp::from_der_bytes(response).unwrap();
    assert_eq!(resp.status.status, PkiStatus::Granted, "{:?}", resp.status);
    Timestamp::parse(&resp.token.unwrap(), &signet_signature::Limits::default()).unwrap()
}

fn rejected(response: &[u8]) -> FailureInfo {
    let resp = TimeStampResp::from_der_bytes(response).unwrap();
    assert_eq!(
        resp.status.status,
        PkiStatus::Rejection,
        "{:?}",
        resp.status
    );
    assert!(resp.token.is_none());
    assert!(resp.status.status_string.is_some());
    resp.status.fail_info.unwrap()
}

fn serial_of(ts: &Timestamp) -> u128 {
    ts.info()
        .serial
        .iter()
        .fold(0u128, |acc, b| (acc << 8) | u128::from(*b))
}

/// Splits DER elements (definite lengths, single-byte tags: test data only).
fn elements(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let first = data[1];
        let (header, len) = if first < 0x80 {
            (2, usize::from(first))
        } else {
            let n = usize::from(first & 0x7f);
            let len = data[2..2 + n]
                .iter()
                .fold(0usize, |a, b| (a << 8) | usize::from(*b));
            (2 + n, len)
        };
        out.push(&data[..header + len]);
        data = &data[header + len..];
    }
    out
}

fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("the openssl CLI is needed for these tests");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "openssl {args:?} failed: {text}");
    text
}

/// `serve` on 127.0.0.1:0 in a runtime of its own; stopped (gracefully) on drop.
struct TestServer {
    url: String,
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    fn start(authority: Authority) -> Self {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                serve(listener, Arc::new(authority), async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
            });
        });
        let addr = addr_rx.recv().unwrap();
        Self {
            url: format!("http://{addr}/"),
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn post(url: &str, content_type: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
    let response = reqwest::blocking::Client::new()
        .post(url)
        .header("content-type", content_type)
        .body(body)
        .send()
        .unwrap();
    let status = response.status().as_u16();
    (status, response.bytes().unwrap().to_vec())
}

// --- the authority, checked by openssl ---------------------------------------------------------

#[test]
fn openssl_ts_verifies_tokens_from_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(authority(dir.path(), |c| c.include_tsa_name = true));
    let p = pki();
    let work = dir.path();
    std::fs::write(work.join("data.bin"), b"the signature value to timestamp").unwrap();
    std::fs::write(work.join("root.pem"), p.root.cert_pem()).unwrap();
    std::fs::write(work.join("intermediate.pem"), p.intermediate.cert_pem()).unwrap();

    for (digest, cert_req) in [("-sha256", true), ("-sha512", true), ("-sha384", false)] {
        let mut query = vec![
            "ts", "-query", "-data", "data.bin", digest, "-out", "req.tsq",
        ];
        if cert_req {
            query.push("-cert");
        }
        openssl(work, &query);
        let (status, reply) = post(
            &server.url,
            "application/timestamp-query",
            std::fs::read(work.join("req.tsq")).unwrap(),
        );
        assert_eq!(status, 200);
        std::fs::write(work.join("resp.tsr"), &reply).unwrap();

        let mut verify = vec![
            "ts",
            "-verify",
            "-in",
            "resp.tsr",
            "-queryfile",
            "req.tsq",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "intermediate.pem",
        ];
        if !cert_req {
            // Without certReq the token carries no certificates: name the TSA's.
            std::fs::write(work.join("tsa.pem"), p.timestamping.cert_pem()).unwrap();
            verify = vec![
                "ts",
                "-verify",
                "-in",
                "resp.tsr",
                "-queryfile",
                "req.tsq",
                "-CAfile",
                "root.pem",
                "-untrusted",
                "chain.pem",
            ];
            std::fs::write(
                work.join("chain.pem"),
                p.timestamping.cert_pem() + &p.intermediate.cert_pem(),
            )
            .unwrap();
        }
        let out = openssl(work, &verify);
        assert!(out.contains("Verification: OK"), "{digest}: {out}");
        println!("openssl {}:\n{out}", verify.join(" "));

        let text = openssl(work, &["ts", "-reply", "-in", "resp.tsr", "-text"]);
        let query_text = openssl(work, &["ts", "-query", "-in", "req.tsq", "-text"]);
        let nonce_line = |t: &str| {
            t.lines()
                .find(|l| l.trim_start().starts_with("Nonce:"))
                .map(|l| l.trim().to_owned())
        };
        println!("openssl ts -reply -in resp.tsr -text:\n{text}");
        assert!(text.contains("Status: Granted."), "{text}");
        assert_eq!(nonce_line(&text), nonce_line(&query_text), "{text}");
        assert!(nonce_line(&text).is_some());
        assert!(text.contains("Policy OID: 2.25.1853173601"), "{text}");
        assert!(
            text.contains("Accuracy: 0x01 seconds, unspecified millis, unspecified micros"),
            "{text}"
        );
        assert!(text.contains("TSA: DirName:"), "{text}");
        assert!(text.contains("Version: 1"), "{text}");
    }
}

// --- serial numbers ------------------------------------------------------------------------------

#[test]
fn serials_are_unique_increasing_and_survive_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let req = sha256_request(b"serials");
    let mut seen = Vec::new();
    {
        let a = authority(dir.path(), |_| {});
        for _ in 0..50 {
            seen.push(serial_of(&granted(&a.respond(&req, fixed_now()))));
        }
        // Concurrent callers share one allocator.
        let a = Arc::new(a);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let a = Arc::clone(&a);
                let req = req.clone();
                std::thread::spawn(move || {
                    (0..25)
                        .map(|_| serial_of(&granted(&a.respond(&req, fixed_now()))))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let concurrent: Vec<u128> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        let unique: BTreeSet<u128> = concurrent.iter().copied().collect();
        assert_eq!(unique.len(), 100);
        assert!(unique.iter().all(|s| *s > *seen.last().unwrap()));
        seen.extend(unique);
    }
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    // A restart on the same state file continues above everything handed out.
    let restarted = authority(dir.path(), |_| {});
    let next = serial_of(&granted(&restarted.respond(&req, fixed_now())));
    assert!(next > *seen.last().unwrap());
    assert_eq!(next, 1 + u128::from(signet_tsa::SERIAL_BLOCK));
    // A second authority on a state file in use is refused.
    let mut config = AuthorityConfig::new(dir.path().join("serial"));
    config.include_tsa_name = false;
    let err = Authority::new(Box::new(signer_for(&pki().timestamping)), config).unwrap_err();
    assert!(matches!(err, Error::SerialStateInUse { .. }), "{err}");
}

// --- what a token holds ----------------------------------------------------------------------------

#[test]
fn granted_tokens_have_the_rfc_3161_and_ess_shape() {
    let dir = tempfile::tempdir().unwrap();
    let a = authority(dir.path(), |c| c.accuracy_ms = Some(1500));
    let data = b"shape";
    let response = a.respond(&sha256_request(data), fixed_now());
    let ts = granted(&response);
    let info = ts.info();
    assert_eq!(info.imprint, HashAlgorithm::Sha256.digest(data));
    assert_eq!(info.nonce.as_deref(), Some(&[0x12, 0x34, 0x56][..]));
    assert_eq!(info.gen_time, fixed_now());
    assert_eq!(info.accuracy_micros, Some(1_500_000));
    assert_eq!(info.policy_string(), "2.25.1853173601");
    assert_eq!(
        ts.certificate().der(),
        pki().timestamping.cert_der.as_slice()
    );
    // Leaf and intermediate, no root; in DER SET OF order.
    let certs: Vec<&[u8]> = ts.certificates().iter().map(Certificate::der).collect();
    assert_eq!(certs.len(), 2);
    let mut sorted = certs.clone();
    sorted.sort();
    assert_eq!(certs, sorted);

    let si = ts.signer_info().unwrap();
    assert_eq!(si.version, 1);
    assert_eq!(si.digest_algorithm.oid, oids::SHA256);
    let attrs = si.signed_attrs.as_ref().unwrap();
    let oids_in_order: Vec<_> = attrs.attrs.iter().map(|a| a.oid).collect();
    for oid in [
        oids::CONTENT_TYPE,
        oids::MESSAGE_DIGEST,
        oids::SIGNING_CERTIFICATE_V2,
    ] {
        assert!(oids_in_order.contains(&oid), "{oid}");
    }
    let set = elements(&attrs.raw_set)[0];
    let header = if set[1] < 0x80 {
        2
    } else {
        2 + usize::from(set[1] & 0x7f)
    };
    let raw = elements(&set[header..]);
    let mut sorted_raw = raw.clone();
    sorted_raw.sort();
    assert_eq!(raw, sorted_raw, "signed attributes are in DER SET OF order");
    assert_eq!(
        si.single_signed_value(&oids::CONTENT_TYPE)
            .unwrap()
            .unwrap(),
        oids::TST_INFO.to_der().unwrap()
    );

    // certReq FALSE: no certificates at all.
    let bare = a.respond(
        &request(
            "2.16.840.1.101.3.4.2.1",
            HashAlgorithm::Sha256.digest(data),
            |r| r.cert_req = false,
        ),
        fixed_now(),
    );
    let token = TimeStampResp::from_der_bytes(&bare).unwrap().token.unwrap();
    assert!(matches!(
        Timestamp::parse(&token, &signet_signature::Limits::default()),
        Err(e) if e.code() == NuCode::NU3020
    ));
    // Adding the chain afterwards makes it whole, and the signature still verifies.
    let chain: Vec<Certificate> = pki()
        .chain_der(&pki().timestamping)
        .iter()
        .map(|d| Certificate::from_der(d).unwrap())
        .collect();
    let completed = add_missing_certificates(&token, &chain);
    let ts = Timestamp::parse(&completed, &signet_signature::Limits::default()).unwrap();
    assert_eq!(ts.certificates().len(), 3);
    assert_eq!(add_missing_certificates(&completed, &chain), completed);

    // A response with no nonce requested has none; a later time without millis has none.
    let no_nonce = a.respond(
        &request("2.16.840.1.101.3.4.2.3", vec![1; 64], |r| r.nonce = None),
        UtcTime::from_civil(2026, 5, 1, 12, 0, 1, 0).unwrap(),
    );
    let ts = granted(&no_nonce);
    assert_eq!(ts.info().nonce, None);
    assert_eq!(ts.info().gen_time.unix_micros() % 1_000_000, 0);
}

// --- bad requests ----------------------------------------------------------------------------------

#[test]
fn bad_requests_get_the_right_failure_info() {
    let dir = tempfile::tempdir().unwrap();
    let a = authority(dir.path(), |_| {});
    let now = fixed_now();
    let sha256 = "2.16.840.1.101.3.4.2.1";
    let cases: Vec<(&str, Vec<u8>, FailureInfo)> = vec![
        (
            "garbage",
            b"\x30\x03garbage".to_vec(),
            FailureInfo::BAD_DATA_FORMAT,
        ),
        ("empty", Vec::new(), FailureInfo::BAD_DATA_FORMAT),
        (
            "trailing bytes",
            [sha256_request(b"x"), vec![0]].concat(),
            FailureInfo::BAD_DATA_FORMAT,
        ),
        (
            "SHA-1 imprint",
            request("1.3.14.3.2.26", vec![0; 20], |_| {}),
            FailureInfo::BAD_ALG,
        ),
        (
            "MD5 imprint",
            request("1.2.840.113549.2.5", vec![0; 16], |_| {}),
            FailureInfo::BAD_ALG,
        ),
        (
            "imprint parameters",
            request(sha256, vec![0; 32], |r| {
                r.message_imprint.hash_algorithm.parameters =
                    Some(der::asn1::Any::new(der::Tag::Integer, vec![0u8]).unwrap());
            }),
            FailureInfo::BAD_ALG,
        ),
        (
            "short imprint",
            request(sha256, vec![0; 31], |_| {}),
            FailureInfo::BAD_DATA_FORMAT,
        ),
        (
            "SHA-384 length under SHA-512",
            request("2.16.840.1.101.3.4.2.3", vec![0; 48], |_| {}),
            FailureInfo::BAD_DATA_FORMAT,
        ),
        (
            "version 2",
            request(sha256, vec![0; 32], |r| r.version = 2),
            FailureInfo::BAD_DATA_FORMAT,
        ),
        (
            "unknown policy",
            request(sha256, vec![0; 32], |r| {
                r.req_policy = Some(ObjectIdentifier::new_unwrap("1.2.3.4.5"));
            }),
            FailureInfo::UNACCEPTED_POLICY,
        ),
        (
            "extensions",
            request(sha256, vec![0; 32], |r| {
                r.extensions = Some(vec![x509_cert::ext::Extension {
                    extn_id: ObjectIdentifier::new_unwrap("1.2.3.4"),
                    critical: false,
                    extn_value: OctetString::new(vec![5, 0]).unwrap(),
                }]);
            }),
            FailureInfo::UNACCEPTED_EXTENSION,
        ),
        (
            "huge nonce",
            request(sha256, vec![0; 32], |r| {
                r.nonce = Some(Int::new(&[0x11; 65]).unwrap());
            }),
            FailureInfo::BAD_DATA_FORMAT,
        ),
        (
            "oversized",
            vec![0x30; 64 * 1024 + 1],
            FailureInfo::BAD_DATA_FORMAT,
        ),
    ];
    for (name, req, expected) in cases {
        assert_eq!(rejected(&a.respond(&req, now)), expected, "{name}");
    }
    // The configured policy itself is accepted.
    let own_policy = request(sha256, vec![0; 32], |r| {
        r.req_policy = Some(signet_tsa::DEFAULT_POLICY);
    });
    granted(&a.respond(&own_policy, now));
    // Outside the certificate's validity the authority refuses rather than issue a token
    // every client would reject (NU3036).
    let late = UtcTime::from_civil(2091, 1, 1, 0, 0, 0, 0).unwrap();
    assert_eq!(
        rejected(&a.respond(&sha256_request(b"x"), late)),
        FailureInfo::SYSTEM_FAILURE
    );
}

#[test]
fn random_bytes_never_crash_the_authority() {
    let dir = tempfile::tempdir().unwrap();
    let a = authority(dir.path(), |_| {});
    let good = sha256_request(b"fuzz");
    // Every truncation and every single-byte corruption of a good request.
    for len in 0..good.len() {
        let _ = TimeStampResp::from_der_bytes(&a.respond(&good[..len], fixed_now())).unwrap();
    }
    for i in 0..good.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut req = good.clone();
            req[i] ^= flip;
            let _ = TimeStampResp::from_der_bytes(&a.respond(&req, fixed_now())).unwrap();
        }
    }
}

#[test]
fn http_front_end() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(authority(dir.path(), |_| {}));
    let client = reqwest::blocking::Client::new();
    let base = format!("http://{}", server.addr);

    let health = client.get(format!("{base}/health")).send().unwrap();
    assert_eq!(health.status().as_u16(), 200);

    // Any path, with the reply content type.
    let response = client
        .post(format!("{base}/some/tsa/path"))
        .header("content-type", "application/timestamp-query")
        .body(sha256_request(b"http"))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/timestamp-reply"
    );
    granted(&response.bytes().unwrap());

    // Wrong method.
    let get = client.get(format!("{base}/")).send().unwrap();
    assert_eq!(get.status().as_u16(), 405);
    let put = client.put(format!("{base}/x")).body("x").send().unwrap();
    assert_eq!(put.status().as_u16(), 405);

    // Wrong content type: answered, but refused.
    let (status, body) = post(
        &server.url,
        "application/octet-stream",
        sha256_request(b"x"),
    );
    assert_eq!(status, 200);
    assert_eq!(rejected(&body), FailureInfo::BAD_REQUEST);

    // Empty and garbage bodies.
    let (status, body) = post(&server.url, "application/timestamp-query", Vec::new());
    assert_eq!(status, 200);
    assert_eq!(rejected(&body), FailureInfo::BAD_DATA_FORMAT);
    let (_, body) = post(
        &server.url,
        "application/timestamp-query",
        b"nonsense".to_vec(),
    );
    assert_eq!(rejected(&body), FailureInfo::BAD_DATA_FORMAT);

    // Oversized bodies: 413, whether announced by Content-Length or not.
    let (status, _) = post(
        &server.url,
        "application/timestamp-query",
        vec![0; 64 * 1024 + 1],
    );
    assert_eq!(status, 413);
    let streamed = client
        .post(&server.url)
        .header("content-type", "application/timestamp-query")
        .body(reqwest::blocking::Body::new(ChunkReader::from(
            vec![0u8; 120 * 1024],
        )))
        .send();
    // The server answers 413 as soon as the limit is crossed and closes the connection, so
    // the client may see the status or a send error, depending on how far it got.
    match streamed {
        Ok(r) => assert_eq!(r.status().as_u16(), 413),
        Err(e) => assert!(e.is_body() || e.is_request(), "{e}"),
    }

    // Still serving afterwards.
    let (status, body) = post(
        &server.url,
        "application/timestamp-query",
        sha256_request(b"y"),
    );
    assert_eq!(status, 200);
    granted(&body);
}

/// A reader of unknown length, so reqwest sends the body chunked.
struct ChunkReader(std::io::Cursor<Vec<u8>>);

impl From<Vec<u8>> for ChunkReader {
    fn from(v: Vec<u8>) -> Self {
        Self(std::io::Cursor::new(v))
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

// --- refusing unfit certificates -------------------------------------------------------------------

#[test]
fn authority_refuses_unfit_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let config = || AuthorityConfig::new(dir.path().join("serial"));
    let refuse = |signer: Box<dyn Signer>| {
        let err = Authority::new(signer, config()).unwrap_err();
        assert!(matches!(err, Error::UnfitCertificate { .. }), "{err}");
        err.to_string()
    };

    let msg = refuse(Box::new(signer_for(&pki().code_signing)));
    assert!(msg.contains("lacks the timeStamping"), "{msg}");
    let msg = refuse(Box::new(signer_for(&pki().no_eku)));
    assert!(msg.contains("lacks the timeStamping"), "{msg}");

    let non_critical = timestamping_cert_with(&TimestampingProfile {
        eku_critical: false,
        ..TimestampingProfile::default()
    });
    let msg = refuse(Box::new(signer_for(&non_critical)));
    assert!(msg.contains("not marked critical"), "{msg}");

    let small = timestamping_cert_with(&TimestampingProfile {
        rsa_1024: true,
        ..TimestampingProfile::default()
    });
    let chain = vec![
        small.cert_der.clone(),
        pki().intermediate.cert_der.clone(),
        pki().root.cert_der.clone(),
    ];
    let msg = refuse(Box::new(OpenSslSigner::from_parts(
        &small.key_pkcs8_der,
        chain,
    )));
    assert!(msg.contains("1024 bits"), "{msg}");
    // The code-signing RSA-1024 certificate fails on its EKU first.
    let msg = refuse(Box::new(OpenSslSigner::new(&pki().rsa1024)));
    assert!(msg.contains("timeStamping"), "{msg}");

    // A key that does not belong to the certificate.
    struct Mismatched(SoftwareSigner, Vec<Vec<u8>>);
    impl Signer for Mismatched {
        fn certificate_chain(&self) -> &[Vec<u8>] {
            &self.1
        }
        fn sign(&self, alg: HashAlgorithm, m: &[u8]) -> Result<Vec<u8>, signet_keys::Error> {
            self.0.sign(alg, m)
        }
        fn key_bits(&self) -> usize {
            self.0.key_bits()
        }
    }
    let wrong_key = Mismatched(
        signer_for(&pki().code_signing),
        pki().chain_der(&pki().timestamping),
    );
    let err = Authority::new(Box::new(wrong_key), config()).unwrap_err();
    assert!(matches!(err, Error::KeyMismatch(_)), "{err}");

    let no_cert = Mismatched(signer_for(&pki().code_signing), Vec::new());
    assert!(matches!(
        Authority::new(Box::new(no_cert), config()),
        Err(Error::NoCertificate)
    ));

    let mut zero = config();
    zero.accuracy_ms = Some(0);
    assert!(matches!(
        Authority::new(Box::new(signer_for(&pki().timestamping)), zero),
        Err(Error::Config(_))
    ));

    std::fs::write(dir.path().join("serial"), "not a number").unwrap();
    assert!(matches!(
        Authority::new(Box::new(signer_for(&pki().timestamping)), config()),
        Err(Error::SerialStateCorrupt { .. })
    ));
}

// --- the client against our server -------------------------------------------------------------

fn nonce(seed: u8) -> [u8; 32] {
    let mut n = [0u8; 32];
    for (i, b) in n.iter_mut().enumerate() {
        *b = seed
            .wrapping_mul(31)
            .wrapping_add(i as u8)
            .wrapping_mul(197)
            | 0x80;
    }
    n
}

/// Wraps a real transport, remembering the last response and optionally replaying or
/// rewriting responses.
struct Recording<'a> {
    inner: &'a dyn Transport,
    last: Mutex<Option<(u16, Vec<u8>)>>,
    replay: Mutex<Option<(u16, Vec<u8>)>>,
    rewrite: Option<fn(&mut Vec<u8>)>,
}

impl<'a> Recording<'a> {
    fn new(inner: &'a dyn Transport) -> Self {
        Self {
            inner,
            last: Mutex::new(None),
            replay: Mutex::new(None),
            rewrite: None,
        }
    }
}

impl Transport for Recording<'_> {
    fn post(
        &self,
        url: &str,
        content_type: &str,
        body: &[u8],
        timeout: Duration,
    ) -> Result<(u16, Vec<u8>), String> {
        if let Some(replayed) = self.replay.lock().unwrap().clone() {
            return Ok(replayed);
        }
        let (status, mut response) = self.inner.post(url, content_type, body, timeout)?;
        if let Some(rewrite) = self.rewrite {
            rewrite(&mut response);
        }
        *self.last.lock().unwrap() = Some((status, response.clone()));
        Ok((status, response))
    }
}

/// A transport that answers without any network.
struct Canned(u16, Vec<u8>);

impl Transport for Canned {
    fn post(&self, _: &str, _: &str, _: &[u8], _: Duration) -> Result<(u16, Vec<u8>), String> {
        Ok((self.0, self.1.clone()))
    }
}

fn code(result: Result<signet_tsa::TimestampToken, Error>) -> Option<NuCode> {
    match result {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.code(),
    }
}

#[test]
fn client_against_our_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(authority(dir.path(), |_| {}));
    let http = HttpTransport::new(Duration::from_secs(5)).unwrap();
    let trust = trust();
    let now = UtcTime::now();
    let value = b"primary signature value".as_slice();

    for alg in HashAlgorithm::ALL {
        let token = request_timestamp(&server.url, value, alg, nonce(1), &http, &trust, now)
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        let parsed = Timestamp::parse(token.der(), &signet_signature::Limits::default()).unwrap();
        assert_eq!(parsed.info().imprint, alg.digest(value));
        assert_eq!(token.timestamp().info().imprint, alg.digest(value));
        // The root the server left out was added from the chain (§3.6).
        let certs: Vec<&[u8]> = parsed.certificates().iter().map(Certificate::der).collect();
        assert_eq!(certs.len(), 3);
        assert!(certs.contains(&pki().root.cert_der.as_slice()));
        let mut sorted = certs.clone();
        sorted.sort();
        assert_eq!(certs, sorted);
        let nonce_value = parsed.info().nonce.clone().unwrap();
        assert_eq!(nonce_value.len(), 32);
        assert_eq!(nonce_value[0], nonce(1)[0] & 0x7f);
    }

    // Replaying an old response to a new request: the nonce gives it away (NU3026).
    let recording = Recording::new(&http);
    request_timestamp(
        &server.url,
        value,
        HashAlgorithm::Sha256,
        nonce(2),
        &recording,
        &trust,
        now,
    )
    .unwrap();
    *recording.replay.lock().unwrap() = recording.last.lock().unwrap().clone();
    assert_eq!(
        code(request_timestamp(
            &server.url,
            value,
            HashAlgorithm::Sha256,
            nonce(3),
            &recording,
            &trust,
            now
        )),
        Some(NuCode::NU3026)
    );
    // Same nonce, other signature value: the imprint gives it away (NU3019).
    assert_eq!(
        code(request_timestamp(
            &server.url,
            b"another value",
            HashAlgorithm::Sha256,
            nonce(2),
            &recording,
            &trust,
            now
        )),
        Some(NuCode::NU3019)
    );
    // Same request under another hash algorithm: NU3019 too.
    assert_eq!(
        code(request_timestamp(
            &server.url,
            value,
            HashAlgorithm::Sha512,
            nonce(2),
            &recording,
            &trust,
            now
        )),
        Some(NuCode::NU3019)
    );

    // A corrupted token signature (the token's last bytes are the RSA signature): NU3021.
    let mut tampering = Recording::new(&http);
    tampering.rewrite = Some(|r: &mut Vec<u8>| {
        if let Some(b) = r.last_mut() {
            *b ^= 1;
        }
    });
    assert_eq!(
        code(request_timestamp(
            &server.url,
            value,
            HashAlgorithm::Sha256,
            nonce(4),
            &tampering,
            &trust,
            now
        )),
        Some(NuCode::NU3021)
    );

    // No trusted timestamping root: NU3028.
    let err = request_timestamp(
        &server.url,
        value,
        HashAlgorithm::Sha256,
        nonce(5),
        &http,
        &TrustStore::empty(),
        now,
    )
    .unwrap_err();
    assert_eq!(err.code(), Some(NuCode::NU3028), "{err}");
    // The server leaves the root out, so the chain stops at the intermediate.
    assert!(err.to_string().contains("PartialChain"), "{err}");

    // "now" before the TSA certificate's notBefore (2020-01-01): NU3025.
    let early = UtcTime::from_civil(2019, 6, 1, 0, 0, 0, 0).unwrap();
    assert_eq!(
        code(request_timestamp(
            &server.url,
            value,
            HashAlgorithm::Sha256,
            nonce(6),
            &http,
            &trust,
            early
        )),
        Some(NuCode::NU3025)
    );

    // The scheme must be http or https.
    assert!(matches!(
        request_timestamp(
            "ftp://127.0.0.1/",
            value,
            HashAlgorithm::Sha256,
            nonce(7),
            &http,
            &trust,
            now
        ),
        Err(Error::UnsupportedScheme { .. })
    ));
}

#[test]
fn client_refuses_bad_responses() {
    let trust = trust();
    let now = UtcTime::now();
    let ask = |t: &dyn Transport| {
        request_timestamp(
            "http://tsa.invalid/",
            b"v",
            HashAlgorithm::Sha256,
            nonce(9),
            t,
            &trust,
            now,
        )
    };
    let err = ask(&Canned(500, b"oops".to_vec())).unwrap_err();
    assert!(
        matches!(err, Error::HttpStatus { status: 500, .. }),
        "{err}"
    );
    let err = ask(&Canned(200, b"not DER".to_vec())).unwrap_err();
    assert!(matches!(err, Error::MalformedResponse(_)), "{err}");
    let err = ask(&Canned(200, vec![0x30; 1024 * 1024 + 1])).unwrap_err();
    assert!(matches!(err, Error::ResponseTooLarge { .. }), "{err}");
    let rejection = TimeStampResp::rejection(FailureInfo::BAD_ALG, "no")
        .to_der_bytes()
        .unwrap();
    let err = ask(&Canned(200, rejection)).unwrap_err();
    assert!(
        matches!(err, Error::Rejected { status: PkiStatus::Rejection, fail_info, .. } if fail_info == FailureInfo::BAD_ALG),
        "{err}"
    );
    assert!(err.to_string().contains("badAlg"), "{err}");
    let empty_grant = TimeStampResp {
        status: signet_tsa::PkiStatusInfo {
            status: PkiStatus::Granted,
            status_string: None,
            fail_info: None,
        },
        token: None,
    }
    .to_der_bytes()
    .unwrap();
    assert!(matches!(
        ask(&Canned(200, empty_grant)),
        Err(Error::NoToken)
    ));
    let garbage_token = TimeStampResp {
        status: signet_tsa::PkiStatusInfo {
            status: PkiStatus::Granted,
            status_string: None,
            fail_info: None,
        },
        token: Some(vec![0x30, 0x03, 0x02, 0x01, 0x01]),
    }
    .to_der_bytes()
    .unwrap();
    assert_eq!(
        ask(&Canned(200, garbage_token)).unwrap_err().code(),
        Some(NuCode::NU3003)
    );
}

#[test]
fn unreachable_services_fail_within_the_timeout() {
    let trust = trust();
    let timeout = Duration::from_millis(500);
    let http = HttpTransport::new(timeout).unwrap();
    // A listener that accepts (through its backlog) and never answers.
    let silent = StdListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}/", silent.local_addr().unwrap());
    // A port nobody listens on.
    let closed = StdListener::bind("127.0.0.1:0").unwrap();
    let closed_url = format!("http://{}/", closed.local_addr().unwrap());
    drop(closed);
    for url in [silent_url, closed_url] {
        let started = Instant::now();
        let err = request_timestamp(
            &url,
            b"v",
            HashAlgorithm::Sha256,
            nonce(10),
            &http,
            &trust,
            UtcTime::now(),
        )
        .unwrap_err();
        assert!(matches!(err, Error::Transport { .. }), "{url}: {err}");
        assert!(
            started.elapsed() < timeout * 4,
            "{url}: took {:?}",
            started.elapsed()
        );
    }
}

// --- the client against openssl's TSA ----------------------------------------------------------

/// `openssl ts -reply` behind a minimal HTTP/1.1 loopback server (one request per
/// connection), signing with `tsa`.
fn openssl_tsa(dir: &Path, tsa: &CertKey, signer_digest: &str) -> String {
    let p = pki();
    std::fs::write(dir.join("tsa.pem"), tsa.cert_pem()).unwrap();
    // Through `openssl pkey`: the RSA-1024 fixture key is openssl's own DER output, which
    // `ts -reply` reads only in the form openssl itself writes as PEM.
    std::fs::write(dir.join("tsa.key.der"), &tsa.key_pkcs8_der).unwrap();
    openssl(
        dir,
        &[
            "pkey",
            "-inform",
            "DER",
            "-in",
            "tsa.key.der",
            "-out",
            "tsa.key",
        ],
    );
    std::fs::write(dir.join("chain.pem"), p.intermediate.cert_pem()).unwrap();
    std::fs::write(dir.join("serial"), "01\n").unwrap();
    std::fs::write(
        dir.join("openssl.cnf"),
        format!(
            "[ tsa ]\n\
             default_tsa = tsa_config\n\
             [ tsa_config ]\n\
             dir = {}\n\
             serial = $dir/serial\n\
             crypto_device = builtin\n\
             signer_digest = {signer_digest}\n\
             default_policy = 1.2.3.4.1\n\
             digests = sha256, sha384, sha512\n\
             accuracy = secs:1, millisecs:500, microsecs:100\n\
             clock_precision_digits = 3\n\
             ordering = yes\n\
             tsa_name = yes\n\
             ess_cert_id_chain = no\n\
             ess_cert_id_alg = sha256\n",
            dir.display(),
        ),
    )
    .unwrap();
    let listener = StdListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/tsa", listener.local_addr().unwrap());
    let dir: PathBuf = dir.to_owned();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
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
                continue;
            }
            std::fs::write(dir.join("req.tsq"), &body).unwrap();
            let status = Command::new("openssl")
                .current_dir(&dir)
                .args([
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
                    "-out",
                    "resp.tsr",
                ])
                .output()
                .unwrap();
            let (head, reply) = if status.status.success() {
                ("200 OK", std::fs::read(dir.join("resp.tsr")).unwrap())
            } else {
                eprintln!(
                    "openssl ts -reply: {}",
                    String::from_utf8_lossy(&status.stderr)
                );
                ("500 Internal Server Error", Vec::new())
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {head}\r\nContent-Type: application/timestamp-reply\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                reply.len()
            );
            let _ = stream.write_all(&reply);
        }
    });
    url
}

#[test]
fn client_against_openssl_tsa() {
    let dir = tempfile::tempdir().unwrap();
    let url = openssl_tsa(dir.path(), &pki().timestamping, "sha256");
    let http = HttpTransport::new(Duration::from_secs(10)).unwrap();
    let trust = trust();
    let value = b"a signature value timestamped by openssl";
    for alg in HashAlgorithm::ALL {
        let token = request_timestamp(&url, value, alg, nonce(11), &http, &trust, UtcTime::now())
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        let info = token.timestamp().info();
        assert_eq!(info.imprint, alg.digest(value));
        assert_eq!(info.policy_string(), "1.2.3.4.1");
        assert_eq!(info.accuracy_micros, Some(1_500_100));
        // openssl embedded leaf and intermediate; the client added the root.
        assert_eq!(token.timestamp().certificates().len(), 3);
    }
    // Without the root trusted: NU3028.
    let err = request_timestamp(
        &url,
        value,
        HashAlgorithm::Sha256,
        nonce(12),
        &http,
        &TrustStore::empty(),
        UtcTime::now(),
    )
    .unwrap_err();
    assert_eq!(err.code(), Some(NuCode::NU3028), "{err}");
}

#[test]
fn client_refuses_gen_time_outside_the_tsa_validity() {
    // openssl signs with an expired TSA certificate; genTime (now) is after its notAfter.
    let expired = timestamping_cert_with(&TimestampingProfile {
        not_before: datetime!(2021-01-01 0:00 UTC),
        not_after: datetime!(2022-01-01 0:00 UTC),
        ..TimestampingProfile::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let url = openssl_tsa(dir.path(), &expired, "sha256");
    let http = HttpTransport::new(Duration::from_secs(10)).unwrap();
    let err = request_timestamp(
        &url,
        b"v",
        HashAlgorithm::Sha256,
        nonce(13),
        &http,
        &trust(),
        UtcTime::now(),
    )
    .unwrap_err();
    assert_eq!(err.code(), Some(NuCode::NU3036), "{err}");
}

#[test]
fn client_refuses_weak_foreign_tokens() {
    let http = HttpTransport::new(Duration::from_secs(10)).unwrap();
    let ask = |url: &str| {
        request_timestamp(
            url,
            b"v",
            HashAlgorithm::Sha256,
            nonce(14),
            &http,
            &trust(),
            UtcTime::now(),
        )
        .unwrap_err()
    };
    // A TSA key under 2048 bits (our authority refuses to start with one; openssl does not).
    let small = timestamping_cert_with(&TimestampingProfile {
        rsa_1024: true,
        ..TimestampingProfile::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let err = ask(&openssl_tsa(dir.path(), &small, "sha256"));
    assert_eq!(err.code(), Some(NuCode::NU3023), "{err}");
    // A token signed over SHA-1.
    let dir = tempfile::tempdir().unwrap();
    let err = ask(&openssl_tsa(dir.path(), &pki().timestamping, "sha1"));
    assert_eq!(err.code(), Some(NuCode::NU3024), "{err}");
}

/// Answers in-process with an [`Authority`], after editing the request.
struct InProcess {
    authority: Authority,
    edit: fn(&mut TimeStampReq),
}

impl Transport for InProcess {
    fn post(&self, _: &str, _: &str, body: &[u8], _: Duration) -> Result<(u16, Vec<u8>), String> {
        let mut req = TimeStampReq::from_der_bytes(body).map_err(|e| e.to_string())?;
        (self.edit)(&mut req);
        Ok((
            200,
            self.authority
                .respond(&req.to_der_bytes().unwrap(), fixed_now()),
        ))
    }
}

#[test]
fn client_without_http() {
    let dir = tempfile::tempdir().unwrap();
    let trust = trust();
    let ask = |t: &dyn Transport| {
        request_timestamp(
            "https://tsa.invalid/",
            b"v",
            HashAlgorithm::Sha384,
            nonce(15),
            t,
            &trust,
            fixed_now(),
        )
    };
    for sub in ["a", "b", "c"] {
        std::fs::create_dir(dir.path().join(sub)).unwrap();
    }
    let plain = InProcess {
        authority: authority(&dir.path().join("a"), |c| c.digest = HashAlgorithm::Sha512),
        edit: |_| {},
    };
    let token = ask(&plain).unwrap();
    assert_eq!(
        token
            .timestamp()
            .signer_info()
            .unwrap()
            .digest_algorithm
            .oid,
        oids::SHA512
    );
    assert_eq!(token.timestamp().info().gen_time, fixed_now());
    // A TSA that ignores certReq: no signing certificate in the token (NU3020).
    let no_certs = InProcess {
        authority: authority(&dir.path().join("b"), |_| {}),
        edit: |r| r.cert_req = false,
    };
    assert_eq!(code(ask(&no_certs)), Some(NuCode::NU3020));
    // A TSA that drops the nonce (NU3026).
    let no_nonce = InProcess {
        authority: authority(&dir.path().join("c"), |_| {}),
        edit: |r| r.nonce = None,
    };
    assert_eq!(code(ask(&no_nonce)), Some(NuCode::NU3026));
}
