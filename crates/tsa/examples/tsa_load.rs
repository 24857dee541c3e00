//! A loopback load generator for the timestamp authority.
//!
//! ```sh
//! cargo run --release -p signet-tsa --example tsa_load                  # in-process server
//! cargo run --release -p signet-tsa --example tsa_load -- --url http://127.0.0.1:8080/
//! ```
//!
//! Without `--url` it starts `signet_tsa::serve` in-process on 127.0.0.1:0 with the test
//! PKI's RSA-2048 TSA certificate (on a runtime of `--server-threads` workers, default 2).
//! Then `--clients` concurrent keep-alive HTTP/1.1 connections (default 8), driven by one
//! client thread so that the generator takes as little CPU from the server as possible, post
//! the same `TimeStampReq` (fixed SHA-256 imprint, nonce, certReq) for `--seconds` (default
//! 10) or until `--max-requests` (default 1,000,000) have been sent, whichever comes first.
//! It prints granted timestamps per second, latency percentiles and, in-process, the CPU
//! time the process spent per token.
//!
//! `--phases N` first times N calls of `Authority::respond` and of the bare RSA signature on
//! one thread, to show how much of a token is the signature.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use const_oid::ObjectIdentifier;
use der::asn1::{Int, OctetString};
use signet_common::{HashAlgorithm, UtcTime};
use signet_keys::{Signer, SoftwareSigner};
use signet_tsa::{
    Authority, AuthorityConfig, MessageImprint, PkiStatus, TimeStampReq, TimeStampResp,
};
use spki::AlgorithmIdentifierOwned;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Options {
    url: Option<String>,
    clients: usize,
    seconds: f64,
    max_requests: u64,
    server_threads: usize,
    phases: usize,
}

fn parse_args() -> Options {
    let mut o = Options {
        url: None,
        clients: 8,
        seconds: 10.0,
        max_requests: 1_000_000,
        server_threads: 2,
        phases: 0,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--url" => o.url = Some(value()),
            "--clients" => o.clients = value().parse().unwrap_or_else(|_| usage("--clients")),
            "--seconds" => o.seconds = value().parse().unwrap_or_else(|_| usage("--seconds")),
            "--max-requests" => {
                o.max_requests = value().parse().unwrap_or_else(|_| usage("--max-requests"));
            }
            "--server-threads" => {
                o.server_threads = value()
                    .parse()
                    .unwrap_or_else(|_| usage("--server-threads"));
            }
            "--phases" => o.phases = value().parse().unwrap_or_else(|_| usage("--phases")),
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    if o.clients == 0 || o.seconds <= 0.0 || o.server_threads == 0 {
        usage("--clients, --seconds and --server-threads must be positive");
    }
    o
}

fn usage(problem: &str) -> ! {
    if !problem.is_empty() {
        eprintln!("tsa_load: {problem}");
    }
    eprintln!(
        "usage: tsa_load [--url URL] [--clients N] [--seconds S] [--max-requests M] \
         [--server-threads T] [--phases N]"
    );
    std::process::exit(2)
}

fn request_der() -> Vec<u8> {
    TimeStampReq {
        version: 1,
        message_imprint: MessageImprint {
            hash_algorithm: AlgorithmIdentifierOwned {
                oid: ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1"),
                parameters: None,
            },
            hashed_message: OctetString::new(HashAlgorithm::Sha256.digest(b"signet tsa load"))
                .unwrap(),
        },
        req_policy: None,
        nonce: Some(Int::new(&[0x5a; 16]).unwrap()),
        cert_req: true,
        extensions: None,
    }
    .to_der_bytes()
    .unwrap()
}

fn tsa_signer() -> SoftwareSigner {
    let pki = signet_test_support::pki();
    SoftwareSigner::from_key_and_chain(
        pki.timestamping.key_pem().as_bytes(),
        None,
        pki.chain_pem(&pki.timestamping).as_bytes(),
    )
    .unwrap()
}

/// Times `respond` and the bare signature on one thread.
fn phases(n: usize, dir: &std::path::Path) {
    let signer = tsa_signer();
    let req = request_der();
    let authority = Authority::new(
        Box::new(tsa_signer()),
        AuthorityConfig::new(dir.join("phases-serial")),
    )
    .unwrap();
    let now = UtcTime::now();
    // Warm up caches and the serial block.
    for _ in 0..50 {
        std::hint::black_box(authority.respond(&req, now));
    }
    let start = Instant::now();
    for _ in 0..n {
        std::hint::black_box(authority.respond(&req, now));
    }
    let respond = start.elapsed() / n as u32;
    let attrs = vec![0x31u8; 180]; // about the size of the signed attributes
    let start = Instant::now();
    for _ in 0..n {
        std::hint::black_box(signer.sign(HashAlgorithm::Sha256, &attrs).unwrap());
    }
    let sign = start.elapsed() / n as u32;
    let start = Instant::now();
    for _ in 0..n {
        std::hint::black_box(TimeStampReq::from_der_bytes(&req).unwrap());
    }
    let decode = start.elapsed() / n as u32;
    println!("phases, one thread, {n} iterations each:");
    println!("  Authority::respond           {:>8.1} µs", micros(respond));
    println!("  RSA-2048 PKCS#1 v1.5 sign     {:>8.1} µs", micros(sign));
    println!("  TimeStampReq decode           {:>8.1} µs", micros(decode));
    println!(
        "  respond minus signature       {:>8.1} µs ({:.1}% of a token)",
        micros(respond) - micros(sign),
        100.0 * (micros(respond) - micros(sign)) / micros(respond)
    );
    println!(
        "  single-thread ceiling         {:>8.0} tokens/s",
        1e6 / micros(respond)
    );
    println!();
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Process CPU time (user + system) from /proc, where there is one.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_name = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of stat(5) (utime, stime), counted after the ")" as 12 and 13.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10)) // USER_HZ is 100 on Linux
}

fn start_server(threads: usize, dir: &std::path::Path) -> SocketAddr {
    let authority = Authority::new(
        Box::new(tsa_signer()),
        AuthorityConfig::new(dir.join("serial")),
    )
    .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            signet_tsa::serve(listener, Arc::new(authority), std::future::pending())
                .await
                .unwrap();
        });
    });
    rx.recv().unwrap()
}

/// host:port and path of an http:// URL.
fn split_url(url: &str) -> (String, String) {
    let rest = url
        .strip_prefix("http://")
        .unwrap_or_else(|| usage("only http:// URLs are supported"));
    match rest.split_once('/') {
        Some((host, path)) => (host.to_owned(), format!("/{path}")),
        None => (rest.to_owned(), "/".to_owned()),
    }
}

struct Stats {
    granted: u64,
    failed: u64,
    latencies_us: Vec<u32>,
}

/// One keep-alive connection posting `request` until the deadline or the request budget.
async fn client(
    host: String,
    request: Arc<Vec<u8>>,
    deadline: Instant,
    budget: Arc<AtomicU64>,
) -> Stats {
    let mut stats = Stats {
        granted: 0,
        failed: 0,
        latencies_us: Vec::new(),
    };
    let mut stream = TcpStream::connect(&host).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut chunk = vec![0u8; 16 * 1024];
    while Instant::now() < deadline {
        if budget.fetch_sub(1, Ordering::Relaxed) == 0 {
            budget.store(0, Ordering::Relaxed);
            break;
        }
        let sent = Instant::now();
        stream.write_all(&request).await.unwrap();
        // Read the head, then Content-Length bytes of body.
        buf.clear();
        let (head_end, content_length, status) = loop {
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "the server closed the connection");
            buf.extend_from_slice(&chunk[..n]);
            if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = std::str::from_utf8(&buf[..pos]).unwrap();
                let status: u16 = head
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                let length = head
                    .lines()
                    .filter_map(|l| l.split_once(':'))
                    .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                    .and_then(|(_, v)| v.trim().parse::<usize>().ok())
                    .expect("a Content-Length header");
                break (pos + 4, length, status);
            }
        };
        while buf.len() < head_end + content_length {
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "the server closed the connection");
            buf.extend_from_slice(&chunk[..n]);
        }
        let latency = sent.elapsed();
        let body = &buf[head_end..head_end + content_length];
        let ok = status == 200
            && TimeStampResp::from_der_bytes(body)
                .is_ok_and(|r| r.status.status == PkiStatus::Granted && r.token.is_some());
        if ok {
            stats.granted += 1;
        } else {
            stats.failed += 1;
        }
        stats
            .latencies_us
            .push(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX));
    }
    stats
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

fn main() {
    let o = parse_args();
    let dir = tempfile::tempdir().unwrap();
    if o.phases > 0 {
        phases(o.phases, dir.path());
    }
    let (host, path, in_process) = match &o.url {
        Some(url) => {
            let (host, path) = split_url(url);
            (host, path, false)
        }
        None => {
            let addr = start_server(o.server_threads, dir.path());
            (addr.to_string(), "/".to_owned(), true)
        }
    };
    let body = request_der();
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/timestamp-query\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(&body);
    let request = Arc::new(request);

    println!(
        "target: {} ({}); {} keep-alive clients on one thread; {} s or {} requests; {} cores",
        if in_process {
            "in-process signet_tsa::serve"
        } else {
            "external"
        },
        if in_process {
            format!("{host}, {} worker threads, RSA-2048", o.server_threads)
        } else {
            host.clone()
        },
        o.clients,
        o.seconds,
        o.max_requests,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cpu_before = cpu_time();
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(o.seconds);
    let budget = Arc::new(AtomicU64::new(o.max_requests));
    let results: Vec<Stats> = rt.block_on(async {
        let tasks: Vec<_> = (0..o.clients)
            .map(|_| {
                tokio::spawn(client(
                    host.clone(),
                    Arc::clone(&request),
                    deadline,
                    Arc::clone(&budget),
                ))
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });
    let elapsed = started.elapsed();
    let cpu = cpu_before.zip(cpu_time()).map(|(a, b)| b.saturating_sub(a));

    let granted: u64 = results.iter().map(|s| s.granted).sum();
    let failed: u64 = results.iter().map(|s| s.failed).sum();
    let mut latencies: Vec<u32> = results.into_iter().flat_map(|s| s.latencies_us).collect();
    latencies.sort_unstable();
    let rate = granted as f64 / elapsed.as_secs_f64();
    println!(
        "granted {granted}, failed {failed} in {:.2} s: {rate:.0} timestamps/s",
        elapsed.as_secs_f64()
    );
    println!(
        "latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.90),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0),
    );
    if let (true, Some(cpu)) = (in_process, cpu) {
        println!(
            "process CPU {:.2} s ({:.0}% of {:.2} s wall): {:.0} µs per token, server and generator together",
            cpu.as_secs_f64(),
            100.0 * cpu.as_secs_f64() / elapsed.as_secs_f64(),
            elapsed.as_secs_f64(),
            cpu.as_secs_f64() * 1e6 / granted.max(1) as f64,
        );
    }
    if failed > 0 {
        std::process::exit(1);
    }
}
