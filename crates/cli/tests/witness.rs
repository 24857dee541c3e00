//! `signet log witness` as a real process on loopback (c2sp.org/tlog-witness, issue 17): it
//! cosigns a valid sequence of checkpoints; answers 409 with its size to a stale `old`;
//! refuses a forked tree with 422 and keeps its state; refuses a smaller checkpoint, an
//! unknown log, a bad log signature and a malformed body; keeps its state across a `kill -9`;
//! lets exactly one of several concurrent requests from one size win. Every cosignature is
//! checked by a verifier written here from c2sp.org/tlog-cosignature (aws-lc-rs directly, no
//! code shared with signet-tlog's), and by Go's sumdb/note plus crypto/ed25519 when SIGNET_GO
//! is set.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use signet_test_support::isolate_config;
use signet_tlog::{Checkpoint, MemoryHashes, NoteSigner as _, SigningKey};

const ORIGIN: &str = "log.test/tlog";

fn signet() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_signet"));
    isolate_config(&mut cmd);
    cmd
}

struct Witness {
    child: Child,
    addr: String,
}

impl Witness {
    fn start(key: &Path, state: &Path, logs: &[&str]) -> Witness {
        let mut cmd = signet();
        cmd.args(["log", "witness", "--listen", "127.0.0.1:0", "--key"])
            .arg(key)
            .arg("--state")
            .arg(state)
            .env("SIGNET_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for l in logs {
            cmd.args(["--log", l]);
        }
        let mut child = cmd.spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let addr = lines
            .by_ref()
            .map(Result::unwrap)
            .find_map(|l| {
                l.strip_prefix("signet log witness: listening on ")
                    .map(str::to_owned)
            })
            .expect("the witness printed its address");
        std::thread::spawn(move || for _ in lines {});
        Witness { child, addr }
    }
}

impl Drop for Witness {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

/// A minimal HTTP/1.1 request (Connection: close).
fn http(addr: &str, method: &str, path: &str, body: &[u8]) -> Answer {
    let mut s = TcpStream::connect(addr).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let content_type = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_owned())
        })
        .unwrap_or_default();
    Answer {
        status,
        content_type,
        body: String::from_utf8(raw[split + 4..].to_vec()).unwrap(),
    }
}

/// A log of 40 leaves; `fork_from` changes every leaf from that index on.
fn log_tree(fork_from: u64) -> MemoryHashes {
    let mut m = MemoryHashes::new();
    for i in 0..40u64 {
        let fork = u8::from(i >= fork_from);
        m.insert(0, i, signet_tlog::leaf_hash(&[i as u8, fork]));
    }
    m
}

fn checkpoint(key: &SigningKey, tree: &MemoryHashes, size: u64) -> String {
    Checkpoint {
        origin: key.verifier().name().to_owned(),
        size,
        root: signet_tlog::tree_hash(tree, size).unwrap(),
        extensions: vec![],
    }
    .sign(key)
    .unwrap()
    .to_text()
}

fn add_body(old: u64, tree: &MemoryHashes, cp: &str, size: u64) -> Vec<u8> {
    let mut b = format!("old {old}\n");
    if old > 0 {
        for h in signet_tlog::consistency_proof(tree, old, size).unwrap() {
            b.push_str(&h.to_base64());
            b.push('\n');
        }
    }
    b.push('\n');
    b.push_str(cp);
    b.into_bytes()
}

/// The test's own cosignature check, from c2sp.org/tlog-cosignature: key ID
/// SHA-256(name || 0x0A || 0x04 || key)[:4]; blob = ID || u64 BE time || Ed25519 signature
/// over "cosignature/v1\ntime <t>\n" || checkpoint body. Returns the time.
fn spec_verify_cosignature(vkey: &str, checkpoint_body: &str, line: &str) -> u64 {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut parts = vkey.splitn(3, '+');
    let (name, id_hex, key_b64) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let raw = b64.decode(key_b64).unwrap();
    assert_eq!(raw[0], 0x04, "a cosignature key has signature type 0x04");
    let public = &raw[1..];
    assert_eq!(public.len(), 32);
    let mut id_input = name.as_bytes().to_vec();
    id_input.push(b'\n');
    id_input.push(0x04);
    id_input.extend_from_slice(public);
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &id_input);
    let id = &digest.as_ref()[..4];
    assert_eq!(hex::encode(id), id_hex);
    let rest = line
        .strip_prefix("\u{2014} ")
        .expect("a signature line starts with an em dash")
        .strip_suffix('\n')
        .expect("and ends with a newline");
    let (line_name, sig_b64) = rest.split_once(' ').unwrap();
    assert_eq!(line_name, name);
    let blob = b64.decode(sig_b64).unwrap();
    assert_eq!(
        blob.len(),
        4 + 8 + 64,
        "key ID, timestamp, Ed25519 signature"
    );
    assert_eq!(&blob[..4], id);
    let time = u64::from_be_bytes(blob[4..12].try_into().unwrap());
    assert!(time > 1_600_000_000 && time < 4_000_000_000, "{time}");
    let message = format!("cosignature/v1\ntime {time}\n{checkpoint_body}");
    aws_lc_rs::signature::UnparsedPublicKey::new(&aws_lc_rs::signature::ED25519, public)
        .verify(message.as_bytes(), &blob[12..])
        .expect("the cosignature verifies");
    time
}

fn body_of(note: &str) -> &str {
    &note[..note.find("\n\n").unwrap() + 1]
}

/// `signet log witness-key`: the private key file and the printed verifier key.
fn witness_key(dir: &Path, name: &str) -> (PathBuf, String) {
    let path = dir.join(format!("{}.key", name.replace('/', "_")));
    let out = signet()
        .args(["log", "witness-key", "--name", name, "--out"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let vkey = text
        .lines()
        .find_map(|l| l.strip_prefix("verifier key: "))
        .unwrap()
        .to_owned();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
    }
    (path, vkey)
}

fn go_cosigcheck(dir: &Path) -> Option<PathBuf> {
    let Some(go) = signet_test_support::go_binary() else {
        eprintln!("Go part skipped: SIGNET_GO is not set (scripts/test.sh sets it)");
        return None;
    };
    Some(signet_test_support::build_cosigcheck(&go, dir).unwrap())
}

fn go_check(exe: &Path, log_vkey: &str, witness_vkeys: &[&str], note: &str) -> String {
    let mut child = Command::new(exe)
        .arg(log_vkey)
        .args(witness_vkeys)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(note.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "Go refused the cosigned checkpoint: {text}"
    );
    text
}

#[test]
fn the_witness_cosigns_consistent_checkpoints_only_and_keeps_its_state() {
    let tmp = tempfile::tempdir().unwrap();
    let (key_path, wvkey) = witness_key(tmp.path(), "witness.test/w1");
    assert!(wvkey.starts_with("witness.test/w1+"), "{wvkey}");
    let state = tmp.path().join("witness-state.json");
    let log = SigningKey::from_seed(ORIGIN, [7; 32]).unwrap();
    let log_vkey = log.verifier().to_string();
    let w = Witness::start(&key_path, &state, &[&log_vkey]);
    let good = log_tree(u64::MAX);
    let fork = log_tree(12);
    let go = go_cosigcheck(tmp.path());

    // A valid sequence: first contact from 0, then with consistency proofs.
    let mut last_cosigned = String::new();
    for (old, size) in [(0u64, 3u64), (3, 10), (10, 10), (10, 17)] {
        let cp = checkpoint(&log, &good, size);
        let started = Instant::now();
        let a = http(
            &w.addr,
            "POST",
            "/add-checkpoint",
            &add_body(old, &good, &cp, size),
        );
        let took = started.elapsed();
        assert_eq!(a.status, 200, "old {old} size {size}: {}", a.body);
        eprintln!("cosigned size {size} in {took:?}");
        assert_eq!(a.body.lines().count(), 1, "{}", a.body);
        spec_verify_cosignature(&wvkey, body_of(&cp), &a.body);
        last_cosigned = format!("{cp}{}", a.body);
        if let Some(exe) = &go {
            let out = go_check(exe, &log_vkey, &[&wvkey], &last_cosigned);
            assert!(out.contains("ok cosignature witness.test/w1"), "{out}");
        }
    }
    // The monitoring prefix serves it, with the log's signature and the cosignature.
    let origin_hash = hex::encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        ORIGIN.as_bytes(),
    ));
    let a = http(&w.addr, "GET", &format!("/{origin_hash}/checkpoint"), b"");
    assert_eq!(a.status, 200);
    assert_eq!(a.body, last_cosigned);

    // A stale old size: 409 with the witness's size, as text/x.tlog.size.
    let cp = checkpoint(&log, &good, 20);
    let a = http(
        &w.addr,
        "POST",
        "/add-checkpoint",
        &add_body(10, &good, &cp, 20),
    );
    assert_eq!(a.status, 409, "{}", a.body);
    assert_eq!(a.content_type, "text/x.tlog.size");
    assert_eq!(a.body, "17\n");

    // A forked tree (leaves from 12 on differ), signed by the log, with its own valid proof:
    // not consistent with what the witness cosigned, 422, and the state is kept.
    let forked = checkpoint(&log, &fork, 25);
    let a = http(
        &w.addr,
        "POST",
        "/add-checkpoint",
        &add_body(17, &fork, &forked, 25),
    );
    assert_eq!(a.status, 422, "{}", a.body);
    // The same size with another root: 422 too.
    let forked17 = checkpoint(&log, &fork, 17);
    let a = http(
        &w.addr,
        "POST",
        "/add-checkpoint",
        &add_body(17, &fork, &forked17, 17),
    );
    assert_eq!(a.status, 422, "{}", a.body);
    let a = http(&w.addr, "GET", &format!("/{origin_hash}/checkpoint"), b"");
    assert_eq!(
        a.body, last_cosigned,
        "a refused checkpoint changed the state"
    );

    // Smaller than the one cosigned: refused (old above the checkpoint's size: 400; old 0: 409).
    let small = checkpoint(&log, &good, 5);
    let a = http(
        &w.addr,
        "POST",
        "/add-checkpoint",
        &add_body(17, &good, &small, 17),
    );
    assert_eq!(a.status, 400, "{}", a.body);
    let a = http(
        &w.addr,
        "POST",
        "/add-checkpoint",
        &add_body(0, &good, &small, 5),
    );
    assert_eq!(a.status, 409, "{}", a.body);

    // An unknown log: 404. The known origin signed by another key: 403. Malformed: 400.
    let other = SigningKey::from_seed("other.test/tlog", [8; 32]).unwrap();
    let a = http(
        &w.addr,
        "POST",
        "/add-checkpoint",
        &add_body(0, &good, &checkpoint(&other, &good, 3), 3),
    );
    assert_eq!(a.status, 404, "{}", a.body);
    let impostor = SigningKey::from_seed(ORIGIN, [9; 32]).unwrap();
    let a = http(
        &w.addr,
        "POST",
        "/add-checkpoint",
        &add_body(17, &good, &checkpoint(&impostor, &good, 20), 20),
    );
    assert_eq!(a.status, 403, "{}", a.body);
    let mut tampered = checkpoint(&log, &good, 20);
    tampered = tampered.replacen("\n20\n", "\n21\n", 1);
    let a = http(
        &w.addr,
        "POST",
        "/add-checkpoint",
        &add_body(17, &good, &tampered, 21),
    );
    assert_eq!(a.status, 403, "{}", a.body);
    for bad in [&b"old 017\n\n"[..], b"hello", b"old 17\nnot-a-hash\n\n"] {
        let a = http(&w.addr, "POST", "/add-checkpoint", bad);
        assert_eq!(a.status, 400, "{bad:?}: {}", a.body);
    }
    // A body announced larger than the limit is refused before it is read.
    let mut s = TcpStream::connect(&w.addr).unwrap();
    s.write_all(
        b"POST /add-checkpoint HTTP/1.1\r\nHost: w\r\nConnection: close\r\nContent-Length: 10485760\r\n\r\n",
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    assert!(raw.starts_with("HTTP/1.1 413"), "{raw}");

    // Concurrent requests from the same size: one wins, the others learn its size (409); the
    // state is never rolled back to a smaller tree.
    let handles: Vec<_> = (0..6u64)
        .map(|i| {
            let size = 20 + i;
            let cp = checkpoint(&log, &good, size);
            let body = add_body(17, &good, &cp, size);
            let addr = w.addr.clone();
            std::thread::spawn(move || (size, http(&addr, "POST", "/add-checkpoint", &body)))
        })
        .collect();
    let answers: Vec<(u64, Answer)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let winners: Vec<u64> = answers
        .iter()
        .filter(|(_, a)| a.status == 200)
        .map(|(s, _)| *s)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one request from size 17 wins");
    for (_, a) in &answers {
        if a.status != 200 {
            assert_eq!(a.status, 409);
            assert_eq!(a.body, format!("{}\n", winners[0]));
        }
    }
    let won = winners[0];

    // kill -9 and restart on the same state file: the witness remembers the size it cosigned.
    drop(w);
    let w = Witness::start(&key_path, &state, &[&log_vkey]);
    let cp = checkpoint(&log, &good, 30);
    let a = http(
        &w.addr,
        "POST",
        "/add-checkpoint",
        &add_body(0, &good, &cp, 30),
    );
    assert_eq!(a.status, 409, "{}", a.body);
    assert_eq!(a.body, format!("{won}\n"));
    let a = http(
        &w.addr,
        "POST",
        "/add-checkpoint",
        &add_body(won, &good, &cp, 30),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    spec_verify_cosignature(&wvkey, body_of(&cp), &a.body);
    // The fork is still refused after the restart.
    let forked = checkpoint(&log, &fork, 35);
    let a = http(
        &w.addr,
        "POST",
        "/add-checkpoint",
        &add_body(30, &fork, &forked, 35),
    );
    assert_eq!(a.status, 422, "{}", a.body);

    // A second witness process on the same state file is refused.
    let out = signet()
        .args(["log", "witness", "--listen", "127.0.0.1:0", "--key"])
        .arg(&key_path)
        .arg("--state")
        .arg(&state)
        .args(["--log", &log_vkey])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("locked"),
        "{out:?}"
    );

    // Latency of one cosignature (consistency proof, Ed25519 verify and sign, fsync'd state).
    let mut old = 30;
    let mut times = Vec::new();
    for size in 31..40u64 {
        let cp = checkpoint(&log, &good, size);
        let body = add_body(old, &good, &cp, size);
        let started = Instant::now();
        let a = http(&w.addr, "POST", "/add-checkpoint", &body);
        times.push(started.elapsed());
        assert_eq!(a.status, 200, "{}", a.body);
        old = size;
    }
    times.sort();
    eprintln!(
        "add-checkpoint latency over {} requests: median {:?}, max {:?}",
        times.len(),
        times[times.len() / 2],
        times[times.len() - 1]
    );
    assert!(times[times.len() / 2] < Duration::from_secs(2));
}
