//! Child processes: timing one run from spawn to exit, and reading a run's peak RSS.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// GNU time, used for the peak RSS of processes the bench does not control (`signet`,
/// `openssl`) when it is installed.
const GNU_TIME: &str = "/usr/bin/time";

/// A command line that can be run many times and printed exactly.
#[derive(Clone, Debug)]
pub struct Cmd {
    program: PathBuf,
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
}

impl Cmd {
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
            args: Vec::new(),
            envs: Vec::new(),
        }
    }

    /// Sets an environment variable for every run (not shown by `display`).
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.envs
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    fn command(&self) -> Command {
        let mut c = Command::new(&self.program);
        c.args(&self.args)
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        c
    }

    /// The command line as a shell would show it (for the header and error messages).
    pub fn display(&self) -> String {
        std::iter::once(self.program.as_os_str())
            .chain(self.args.iter().map(OsString::as_os_str))
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Runs once with output discarded and returns the wall time from spawn to exit. A non-zero
    /// exit is an error that carries the command's output (from a second, untimed run).
    pub fn time(&self) -> Result<Duration> {
        let start = Instant::now();
        let status = self
            .command()
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .with_context(|| format!("cannot run {}", self.display()))?;
        let elapsed = start.elapsed();
        if !status.success() {
            bail!(
                "{} exited with {status}{}",
                self.display(),
                self.output_tail()
            );
        }
        Ok(elapsed)
    }

    /// Runs once and returns standard output; a non-zero exit is an error with the output.
    pub fn stdout(&self) -> Result<String> {
        let out = self
            .command()
            .output()
            .with_context(|| format!("cannot run {}", self.display()))?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            bail!(
                "{} exited with {}:\n{stdout}{}",
                self.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(stdout)
    }

    fn output_tail(&self) -> String {
        match self.command().output() {
            Ok(out) => format!(
                ":\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(_) => String::new(),
        }
    }

    /// Peak resident set size of one run in KiB, measured by GNU time (`%M`, from the kernel's
    /// `ru_maxrss`), or `None` when `/usr/bin/time` is not installed. `scratch` is a directory
    /// for GNU time's report.
    pub fn peak_rss_kib(&self, scratch: &Path) -> Result<Option<u64>> {
        if !Path::new(GNU_TIME).is_file() {
            return Ok(None);
        }
        let report = scratch.join("gnu-time.txt");
        let timed = Cmd {
            program: GNU_TIME.into(),
            args: [
                OsString::from("-f"),
                "%M".into(),
                "-o".into(),
                report.clone().into_os_string(),
                self.program.clone().into_os_string(),
            ]
            .into_iter()
            .chain(self.args.iter().cloned())
            .collect(),
            envs: self.envs.clone(),
        };
        timed.time()?;
        let text = std::fs::read_to_string(&report)
            .with_context(|| format!("cannot read {}", report.display()))?;
        // On failure GNU time writes a "Command exited..." line first: take the last line.
        let kib = text
            .lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
            .with_context(|| format!("unexpected GNU time output {text:?}"))?;
        Ok(Some(kib))
    }
}
