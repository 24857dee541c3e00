//! A NuGet v3 feed for tests: files in a temporary directory served over plain HTTP on a
//! loopback port by a small thread-per-connection server (GET and HEAD only).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Serves `root` on `127.0.0.1:<port>` until dropped.
pub struct StaticServer {
    /// `http://127.0.0.1:<port>` (no trailing slash).
    pub base: String,
    stop: Arc<AtomicBool>,
    addr: std::net::SocketAddr,
    requests: Arc<std::sync::Mutex<Vec<String>>>,
}

impl StaticServer {
    /// Starts serving `root`.
    pub fn start(root: &Path) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let stop = Arc::new(AtomicBool::new(false));
        let root = root.to_path_buf();
        let stop2 = stop.clone();
        let requests = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = Arc::clone(&requests);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let root = root.clone();
                let log = Arc::clone(&log);
                std::thread::spawn(move || serve(conn, &root, &log));
            }
        });
        Self {
            base: format!("http://{addr}"),
            stop,
            addr,
            requests,
        }
    }

    /// How many requests asked for a path ending in `suffix` so far.
    pub fn requests_ending_with(&self, suffix: &str) -> usize {
        self.requests
            .lock()
            .map(|r| r.iter().filter(|p| p.ends_with(suffix)).count())
            .unwrap_or_default()
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop.
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve(conn: TcpStream, root: &Path, log: &std::sync::Mutex<Vec<String>>) {
    let Ok(read_half) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line == "\r\n" || line == "\n" => break,
            Ok(_) => {}
        }
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or("/").to_string();
    let path = target.split('?').next().unwrap_or("/");
    if let Ok(mut l) = log.lock() {
        l.push(path.to_string());
    }
    let mut conn = conn;
    let safe = !path.split('/').any(|s| s == "..");
    let file: Option<PathBuf> = safe.then(|| root.join(path.trim_start_matches('/')));
    let body = file
        .filter(|f| f.is_file())
        .and_then(|f| std::fs::read(f).ok());
    let (status, body) = match body {
        Some(b) => ("200 OK", b),
        None => ("404 Not Found", b"not found".to_vec()),
    };
    let content_type = if path.ends_with(".json") {
        "application/json"
    } else {
        "application/octet-stream"
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: {content_type}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = conn.write_all(head.as_bytes());
    if method != "HEAD" {
        let _ = conn.write_all(&body);
    }
    let _ = conn.flush();
}

/// A v3 feed on disk (service index, flat container, optional RepositorySignatures) served by
/// a [`StaticServer`].
pub struct V3Feed {
    dir: tempfile::TempDir,
    /// The server.
    pub server: StaticServer,
    versions: std::collections::BTreeMap<String, Vec<String>>,
}

impl V3Feed {
    /// An empty feed, already serving.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let server = StaticServer::start(dir.path());
        let feed = Self {
            dir,
            server,
            versions: Default::default(),
        };
        feed.write_index(None);
        feed
    }

    /// The service index URL.
    pub fn index_url(&self) -> String {
        format!("{}/v3/index.json", self.server.base)
    }

    /// The directory served.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    fn write_index(&self, repository_signatures: Option<&str>) {
        let mut resources = vec![format!(
            r#"{{"@id":"{}/flat/","@type":"PackageBaseAddress/3.0.0"}}"#,
            self.server.base
        )];
        if repository_signatures.is_some() {
            resources.push(format!(
                r#"{{"@id":"{}/v3/repository-signatures/5.0.0/index.json","@type":"RepositorySignatures/5.0.0"}}"#,
                self.server.base
            ));
        }
        let index = format!(
            r#"{{"version":"3.0.0","resources":[{}]}}"#,
            resources.join(",")
        );
        let v3 = self.dir.path().join("v3");
        std::fs::create_dir_all(&v3).expect("mkdir");
        std::fs::write(v3.join("index.json"), index).expect("write index");
        if let Some(rs) = repository_signatures {
            let dir = v3.join("repository-signatures/5.0.0");
            std::fs::create_dir_all(&dir).expect("mkdir");
            std::fs::write(dir.join("index.json"), rs).expect("write resource");
        }
    }

    /// Announces `RepositorySignatures/5.0.0` with these SHA-256 fingerprints (lower-case hex,
    /// as NuGet.org serves them) and `allRepositorySigned`.
    pub fn announce_repository_certificates(&self, sha256: &[String], all_signed: bool) {
        let certs: Vec<String> = sha256
            .iter()
            .map(|fp| {
                format!(
                    r#"{{"fingerprints":{{"2.16.840.1.101.3.4.2.1":"{}"}},"subject":"CN=test","issuer":"CN=test","notBefore":"2020-01-01T00:00:00.0000000Z","notAfter":"2040-01-01T00:00:00.0000000Z","contentUrl":"{}/certs/{}.crt"}}"#,
                    fp.to_lowercase(),
                    self.server.base,
                    fp.to_lowercase()
                )
            })
            .collect();
        let doc = format!(
            r#"{{"allRepositorySigned":{all_signed},"signingCertificates":[{}]}}"#,
            certs.join(",")
        );
        self.write_index(Some(&doc));
    }

    /// Publishes package bytes as `id` `version` (normalized, as the flat container wants).
    pub fn add(&mut self, id: &str, version: &str, nupkg: &[u8]) {
        let lid = id.to_lowercase();
        let lver = version.to_lowercase();
        let dir = self.dir.path().join("flat").join(&lid).join(&lver);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join(format!("{lid}.{lver}.nupkg")), nupkg).expect("write nupkg");
        let list = self.versions.entry(lid.clone()).or_default();
        if !list.contains(&lver) {
            list.push(lver);
        }
        let json = format!(
            r#"{{"versions":[{}]}}"#,
            list.iter()
                .map(|v| format!("\"{v}\""))
                .collect::<Vec<_>>()
                .join(",")
        );
        std::fs::write(
            self.dir.path().join("flat").join(&lid).join("index.json"),
            json,
        )
        .expect("write versions");
    }
}

impl Default for V3Feed {
    fn default() -> Self {
        Self::new()
    }
}
