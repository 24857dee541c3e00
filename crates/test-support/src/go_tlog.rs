//! Go's reference implementation of signed notes and tiled logs (golang.org/x/mod/sumdb), as
//! an independent verifier of signet's transparency log: `go/tlogcheck/main.go`, built at
//! test time in GOPATH mode (GO111MODULE=off, no network) from Debian's
//! golang-golang-x-mod-dev sources.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where Debian puts Go library sources.
const GOCODE: &str = "/usr/share/gocode";

/// The `go` binary from `SIGNET_GO` (scripts/test.sh sets it when Go and the sumdb sources
/// are installed), or `None`: the caller prints `skipped: …` and returns.
pub fn go_binary() -> Option<PathBuf> {
    let go = std::env::var_os("SIGNET_GO")?;
    let sources = Path::new(GOCODE).join("src/golang.org/x/mod/sumdb/tlog");
    sources.is_dir().then(|| PathBuf::from(go))
}

/// Builds `tlogcheck` into `dir` and returns its path.
pub fn build_tlogcheck(go: &Path, dir: &Path) -> Result<PathBuf, String> {
    build_program(
        go,
        dir,
        "tlogcheck",
        include_str!("../go/tlogcheck/main.go"),
    )
}

/// Builds `cosigcheck` (witness cosignatures checked from the c2sp.org/tlog-cosignature text
/// on Go's sumdb/note and crypto/ed25519) into `dir` and returns its path. Usage:
/// `cosigcheck LOG_VKEY WITNESS_VKEY... < checkpoint`.
pub fn build_cosigcheck(go: &Path, dir: &Path) -> Result<PathBuf, String> {
    build_program(
        go,
        dir,
        "cosigcheck",
        include_str!("../go/cosigcheck/main.go"),
    )
}

fn build_program(go: &Path, dir: &Path, name: &str, source: &str) -> Result<PathBuf, String> {
    let src = dir.join("gopath/src").join(name);
    std::fs::create_dir_all(&src).map_err(|e| e.to_string())?;
    std::fs::write(src.join("main.go"), source).map_err(|e| e.to_string())?;
    let out = dir.join(name);
    let gopath = format!("{}:{GOCODE}", dir.join("gopath").display());
    let mut cmd = Command::new(go);
    cmd.args(["build", "-o"])
        .arg(&out)
        .arg(name)
        .env("GOPATH", gopath)
        .env("GO111MODULE", "off")
        .env("GOFLAGS", "")
        .env("GOPROXY", "off")
        .env("GOTOOLCHAIN", "local")
        .env("CGO_ENABLED", "0");
    if std::env::var_os("HOME").is_none() {
        cmd.env("GOCACHE", dir.join("gocache"));
    }
    let o = cmd.output().map_err(|e| format!("run go: {e}"))?;
    if !o.status.success() {
        return Err(format!(
            "go build failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    Ok(out)
}

/// Runs `tlogcheck BASE VKEY` with `commands` on stdin; returns its output, or the output as
/// the error when it failed.
pub fn run_tlogcheck(exe: &Path, base: &str, vkey: &str, commands: &str) -> Result<String, String> {
    use std::io::Write as _;
    let mut child = Command::new(exe)
        .args([base, vkey])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(commands.as_bytes())
            .map_err(|e| e.to_string())?;
    }
    let o = child.wait_with_output().map_err(|e| e.to_string())?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    if o.status.success() {
        Ok(text)
    } else {
        Err(text)
    }
}
