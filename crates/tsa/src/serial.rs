//! Unique, monotonic TSTInfo serial numbers that survive restarts (RFC 3161 §2.4.2: "unique
//! for each TimeStampToken issued by a given TSA").
//!
//! The state file holds, as decimal text, the first serial not yet reserved. Serials are
//! handed out from memory in blocks of [`SERIAL_BLOCK`]: at start and before the first
//! serial of each further block is used, `start + SERIAL_BLOCK` is written to a temporary file, fsynced, and renamed over
//! the state file (and the directory fsynced). A crash therefore loses at most the rest of a
//! block — the next run starts after it — and never repeats a serial. A separate
//! `<state>.lock` file, exclusively locked while the authority runs, keeps two authorities
//! from sharing one state file.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::Error;

/// How many serials one state-file write reserves.
pub const SERIAL_BLOCK: u64 = 4096;

/// The largest file accepted as serial state (a u64 in decimal and a newline).
const MAX_STATE_LEN: u64 = 64;

#[derive(Debug)]
struct Window {
    /// The next serial to hand out.
    next: u64,
    /// One past the last reserved serial (`next == end`: reserve before handing out).
    end: u64,
}

/// Hands out serial numbers, persisting reservations in a state file.
#[derive(Debug)]
pub(crate) struct SerialAllocator {
    path: PathBuf,
    window: Mutex<Window>,
    /// Held (and locked) for the allocator's lifetime.
    _lock: File,
}

impl SerialAllocator {
    /// Opens (or, when absent, starts) the state file at `path`.
    pub(crate) fn open(path: &Path) -> Result<Self, Error> {
        let io = |source| Error::SerialState {
            path: path.to_owned(),
            source,
        };
        let lock_path = sibling(path, "lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io)?;
        lock.try_lock().map_err(|e| match e {
            fs::TryLockError::WouldBlock => Error::SerialStateInUse {
                path: path.to_owned(),
            },
            fs::TryLockError::Error(source) => io(source),
        })?;
        let next = match fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 1,
            Err(e) => return Err(io(e)),
            Ok(meta) if meta.len() > MAX_STATE_LEN => {
                return Err(Error::SerialStateCorrupt {
                    path: path.to_owned(),
                });
            }
            Ok(_) => {
                let text = fs::read_to_string(path).map_err(io)?;
                // An empty or unreadable file is not "no state": starting again at 1 could
                // repeat serials, so it stops the authority instead.
                text.trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| Error::SerialStateCorrupt {
                        path: path.to_owned(),
                    })?
            }
        };
        let allocator = Self {
            path: path.to_owned(),
            window: Mutex::new(Window { next, end: next }),
            _lock: lock,
        };
        // Reserve the first block now, so that an unwritable state file stops the start
        // rather than the first request.
        allocator.reserve()?;
        Ok(allocator)
    }

    /// Reserves the block after the current one if the current one is used up.
    fn reserve(&self) -> Result<(), Error> {
        let mut w = self.lock_window();
        self.reserve_locked(&mut w)
    }

    fn reserve_locked(&self, w: &mut Window) -> Result<(), Error> {
        if w.next == w.end {
            let end = w
                .next
                .checked_add(SERIAL_BLOCK)
                .ok_or(Error::SerialExhausted)?;
            self.persist(end)?;
            w.end = end;
        }
        Ok(())
    }

    fn lock_window(&self) -> std::sync::MutexGuard<'_, Window> {
        // A poisoned lock only means another thread panicked mid-allocation; the window is
        // updated after the write succeeds, so its values are still consistent.
        self.window
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The next serial, reserving a new block on disk first when the current one is used up.
    pub(crate) fn next(&self) -> Result<u64, Error> {
        let mut w = self.lock_window();
        self.reserve_locked(&mut w)?;
        let serial = w.next;
        w.next += 1;
        Ok(serial)
    }

    fn persist(&self, value: u64) -> Result<(), Error> {
        let io = |source| Error::SerialState {
            path: self.path.clone(),
            source,
        };
        let tmp = sibling(&self.path, "tmp");
        {
            let mut f = File::create(&tmp).map_err(io)?;
            writeln!(f, "{value}").map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        fs::rename(&tmp, &self.path).map_err(io)?;
        // The rename is durable only once the directory is; not every platform can open a
        // directory for fsync, and there the rename is the best available.
        if let Some(dir) = self.path.parent() {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            if let Ok(d) = File::open(dir) {
                d.sync_all().map_err(io)?;
            }
        }
        Ok(())
    }
}

/// `path` with `.suffix` appended to its file name.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".");
    name.push(suffix);
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_increase_and_restarts_skip_ahead() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serial");
        let a = SerialAllocator::open(&path).unwrap();
        // The first block is reserved at start.
        assert_eq!(
            fs::read_to_string(&path).unwrap().trim(),
            (1 + SERIAL_BLOCK).to_string()
        );
        let first: Vec<u64> = (0..10).map(|_| a.next().unwrap()).collect();
        assert_eq!(first, (1..=10).collect::<Vec<_>>());
        assert_eq!(
            fs::read_to_string(&path).unwrap().trim(),
            (1 + SERIAL_BLOCK).to_string()
        );
        // Same file while the first allocator runs: refused.
        assert!(matches!(
            SerialAllocator::open(&path),
            Err(Error::SerialStateInUse { .. })
        ));
        drop(a);
        let b = SerialAllocator::open(&path).unwrap();
        let resumed = b.next().unwrap();
        assert_eq!(resumed, 1 + SERIAL_BLOCK);
        // Crossing a block boundary writes the next reservation.
        for _ in 1..SERIAL_BLOCK {
            b.next().unwrap();
        }
        assert_eq!(b.next().unwrap(), 1 + 2 * SERIAL_BLOCK);
        assert_eq!(
            fs::read_to_string(&path).unwrap().trim(),
            (1 + 3 * SERIAL_BLOCK).to_string()
        );
    }

    #[test]
    fn corrupt_state_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serial");
        for bad in ["", "abc", "0", "-4", &"9".repeat(100)] {
            fs::write(&path, bad).unwrap();
            assert!(
                matches!(
                    SerialAllocator::open(&path),
                    Err(Error::SerialStateCorrupt { .. })
                ),
                "{bad:?}"
            );
        }
        fs::write(&path, u64::MAX.to_string()).unwrap();
        assert!(matches!(
            SerialAllocator::open(&path),
            Err(Error::SerialExhausted)
        ));
        // An unwritable location stops the start, not the first request.
        let missing = dir.path().join("no such directory").join("serial");
        assert!(matches!(
            SerialAllocator::open(&missing),
            Err(Error::SerialState { .. })
        ));
    }
}
