//! Backup and restore of the embedded default (SQLite + package files + the development
//! PKI), while the server runs.
//!
//! A backup is a directory:
//!
//! - `signet.db`: a consistent snapshot of the database, taken with SQLite's `VACUUM INTO` (one
//!   read transaction: every row as of one instant, whatever the server writes meanwhile);
//! - `blobs/…`: the package files the snapshot references (a file replaced meanwhile by the
//!   repository-signing backfill is taken as it is now and the snapshot's row pointed at it:
//!   the backfill deletes the file it replaces), and every other stored object (staples);
//! - `dev-pki/…`: the development PKI of a zero-config server (its keys included), and the
//!   transparency log's development key (`tlog-dev.key`): a restored feed keeps the log key its
//!   clients pinned (the log itself is in the database and the stored tiles);
//! - `backup.json`: what was taken, with the size and SHA-256 of every file, so that a restore
//!   refuses a damaged backup instead of serving damaged packages.
//!
//! Both directions are all or nothing: a backup is written under a temporary name beside its
//! destination and renamed when complete; so is a restored data directory. PostgreSQL + S3
//! deployments are backed up with their own tools (`docs/ARCHITECTURE.md`, "Backups").

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::config::Config;
use crate::db::Db;

/// The manifest's file name.
const MANIFEST: &str = "backup.json";
/// The manifest's format.
const FORMAT_VERSION: u32 = 1;

/// `backup.json`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// The manifest's format (1).
    pub format_version: u32,
    /// When the snapshot was taken (RFC 3339).
    pub created_at: String,
    /// The signet version that took it.
    pub signet_version: String,
    /// Package versions in the snapshot.
    pub package_versions: u64,
    /// Every file, relative to the backup directory, with `/` separators.
    pub files: Vec<FileEntry>,
}

/// One file of a backup.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileEntry {
    /// Path relative to the backup directory.
    pub path: String,
    /// Bytes.
    pub size: u64,
    /// SHA-256, lower-case hex.
    pub sha256: String,
}

/// What a backup or restore did.
#[derive(Debug, Default)]
pub struct Summary {
    /// Package versions in the snapshot.
    pub package_versions: u64,
    /// Files written.
    pub files: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Package files taken as replaced after the snapshot (see the module documentation).
    pub replaced_meanwhile: usize,
    /// Whether a development PKI was included.
    pub dev_pki: bool,
}

/// Where the embedded default keeps its files, or why this configuration is not one.
struct Layout {
    database: PathBuf,
    blobs: PathBuf,
    dev_pki: PathBuf,
    /// Files of the data directory taken as they are (the log's development key).
    data_dir: PathBuf,
}

/// Single files of the data directory a backup takes when they exist.
const DATA_FILES: &[&str] = &[crate::tlog::DEV_KEY_FILE];

fn layout(config: &Config) -> Result<Layout, Error> {
    let database = match &config.database.url {
        None => config.data_dir().join("signet.db"),
        Some(url) => crate::db::sqlite_path(url).ok_or_else(|| {
            Error::Config(
                "backup covers the embedded default (SQLite and package files); back up \
                 PostgreSQL with pg_dump and the S3 bucket with its versioning or replication \
                 (docs/ARCHITECTURE.md, \"Backups\")"
                    .into(),
            )
        })?,
    };
    if !matches!(config.storage.kind.as_deref(), None | Some("filesystem")) {
        return Err(Error::Config(
            "backup covers package files on the filesystem; back up an S3 bucket with its \
             versioning or replication (docs/ARCHITECTURE.md, \"Backups\")"
                .into(),
        ));
    }
    Ok(Layout {
        database,
        blobs: config.blob_dir(),
        dev_pki: config.data_dir().join("dev-pki"),
        data_dir: config.data_dir(),
    })
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |e| Error::io(context, e)
}

/// A sibling of `dest` to write into before the rename that completes the operation.
fn staging_dir(dest: &Path) -> Result<tempfile::TempDir, Error> {
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "signet".into());
    tempfile::Builder::new()
        .prefix(&format!(".{name}.partial-"))
        .tempdir_in(&parent)
        .map_err(io(format!("create a directory in {}", parent.display())))
}

/// `dest` must not exist, or be an empty directory (removed so the rename can take its
/// place).
fn claim_destination(dest: &Path, what: &str) -> Result<(), Error> {
    match std::fs::read_dir(dest) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(Error::Conflict(format!(
                    "{} is not empty: {what} goes into a new or empty directory",
                    dest.display()
                )));
            }
            std::fs::remove_dir(dest).map_err(io(format!("remove {}", dest.display())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(format!("read {}", dest.display()), e)),
    }
}

/// Copies `from` to `to` (parents created, owner-only permissions), returning its size and
/// SHA-256, synced to disk.
fn copy_file(from: &Path, to: &Path) -> std::io::Result<(u64, String)> {
    use std::io::{Read as _, Write as _};
    if let Some(parent) = to.parent() {
        create_private_dir_all(parent)?;
    }
    let mut input = std::fs::File::open(from)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut output = options.open(to)?;
    let mut hash = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = input.read(&mut buf)?;
        let Some(chunk) = buf.get(..n).filter(|c| !c.is_empty()) else {
            break;
        };
        hash.update(chunk);
        output.write_all(chunk)?;
        size = size.saturating_add(n as u64);
    }
    output.sync_all()?;
    Ok((size, hex::encode(hash.finish().as_ref())))
}

fn create_private_dir_all(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Every regular file under `root`, as paths relative to it (symbolic links are not
/// followed: nothing outside the data directory is taken).
fn files_under(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = root.join(&rel);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let kind = entry.file_type()?;
            let child = rel.join(entry.file_name());
            if kind.is_dir() {
                stack.push(child);
            } else if kind.is_file() {
                out.push(child);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn slash_path(rel: &Path) -> String {
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// Takes a backup of the server `config` describes into `dest` (a new or empty directory),
/// while that server may be running. `now` is the manifest's time (RFC 3339).
pub async fn backup(config: &Config, dest: &Path, now: &str) -> Result<Summary, Error> {
    let layout = layout(config)?;
    if !layout.database.is_file() {
        return Err(Error::NotFound(format!(
            "no database at {}",
            layout.database.display()
        )));
    }
    claim_destination(dest, "a backup")?;
    let staging = staging_dir(dest)?;
    let root = staging.path();
    let mut summary = Summary::default();
    let mut files = Vec::new();

    // 1. The snapshot: one read transaction of the live database.
    let live = Db::connect_with(
        &format!("sqlite://{}?mode=rw", layout.database.display()),
        1,
        std::time::Duration::from_secs(30),
    )
    .await?;
    let snapshot_path = root.join("signet.db");
    live.vacuum_into(&snapshot_path).await?;
    let snapshot = Db::connect_with(
        &format!("sqlite://{}?mode=rw", snapshot_path.display()),
        1,
        std::time::Duration::from_secs(30),
    )
    .await?;

    // 2. The package files it references.
    let versions = snapshot.version_blobs().await?;
    summary.package_versions = versions.len() as u64;
    let mut taken = std::collections::HashSet::new();
    for (row, key) in versions {
        let rel = crate::blob::key_path(&key)?;
        let mut source = layout.blobs.join(&rel);
        let mut key = key;
        if !source.is_file() {
            // Replaced since the snapshot (the backfill re-signs and deletes the old file):
            // the version's file as it is now, the same package under a newer signature.
            let current = live.version_blob(row).await?.ok_or_else(|| {
                Error::Conflict(format!(
                    "the package file {key} is gone and its version was deleted meanwhile: \
                     run the backup again"
                ))
            })?;
            source = layout.blobs.join(crate::blob::key_path(&current)?);
            snapshot.set_version_blob(row, &current).await?;
            summary.replaced_meanwhile += 1;
            key = current;
        }
        let rel = crate::blob::key_path(&key)?;
        let to = root.join("blobs").join(&rel);
        let (size, sha256) = copy_file(&source, &to).map_err(io(format!("copy {key}")))?;
        files.push(FileEntry {
            path: format!("blobs/{}", slash_path(&rel)),
            size,
            sha256,
        });
        taken.insert(rel);
    }
    live.close().await;
    snapshot.close().await;

    // 3. Every other stored object (staples; package files no row references are leftovers
    // of interrupted pushes and are not taken).
    for rel in files_under(&layout.blobs).map_err(io("list the package files"))? {
        if taken.contains(&rel) || rel.starts_with("packages") {
            continue;
        }
        let (size, sha256) = copy_file(&layout.blobs.join(&rel), &root.join("blobs").join(&rel))
            .map_err(io(format!("copy {}", rel.display())))?;
        files.push(FileEntry {
            path: format!("blobs/{}", slash_path(&rel)),
            size,
            sha256,
        });
    }

    // 4. The development PKI.
    for rel in files_under(&layout.dev_pki).map_err(io("list the development PKI"))? {
        summary.dev_pki = true;
        let (size, sha256) =
            copy_file(&layout.dev_pki.join(&rel), &root.join("dev-pki").join(&rel))
                .map_err(io(format!("copy dev-pki/{}", rel.display())))?;
        files.push(FileEntry {
            path: format!("dev-pki/{}", slash_path(&rel)),
            size,
            sha256,
        });
    }

    for name in DATA_FILES {
        let from = layout.data_dir.join(name);
        if from.is_file() {
            let (size, sha256) =
                copy_file(&from, &root.join(name)).map_err(io(format!("copy {name}")))?;
            files.push(FileEntry {
                path: (*name).to_owned(),
                size,
                sha256,
            });
        }
    }

    // 5. The snapshot's own entry (after the rows pointed at replaced files were updated),
    // then the manifest, then the rename that makes the backup exist.
    let (size, sha256) = hash_file(&snapshot_path).map_err(io("read the snapshot"))?;
    files.insert(
        0,
        FileEntry {
            path: "signet.db".into(),
            size,
            sha256,
        },
    );
    summary.files = files.len();
    summary.bytes = files.iter().map(|f| f.size).sum();
    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        created_at: now.to_owned(),
        signet_version: env!("CARGO_PKG_VERSION").to_owned(),
        package_versions: summary.package_versions,
        files,
    };
    write_manifest(root, &manifest)?;
    let staged = staging.keep();
    std::fs::rename(&staged, dest).map_err(io(format!("rename to {}", dest.display())))?;
    sync_parent(dest);
    Ok(summary)
}

fn hash_file(path: &Path) -> std::io::Result<(u64, String)> {
    use std::io::Read as _;
    let mut input = std::fs::File::open(path)?;
    let mut hash = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = input.read(&mut buf)?;
        let Some(chunk) = buf.get(..n).filter(|c| !c.is_empty()) else {
            break;
        };
        hash.update(chunk);
        size = size.saturating_add(n as u64);
    }
    Ok((size, hex::encode(hash.finish().as_ref())))
}

fn write_manifest(root: &Path, manifest: &Manifest) -> Result<(), Error> {
    use std::io::Write as _;
    let json = serde_json::to_vec_pretty(manifest)
        .map_err(|e| Error::io("write the manifest", std::io::Error::other(e)))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options
        .open(root.join(MANIFEST))
        .map_err(io("write the manifest"))?;
    f.write_all(&json).map_err(io("write the manifest"))?;
    f.sync_all().map_err(io("write the manifest"))
}

fn sync_parent(path: &Path) {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && let Ok(dir) = std::fs::File::open(parent)
    {
        let _ = dir.sync_all();
    }
}

/// Largest manifest read (a backup of millions of files stays far below).
const MANIFEST_MAX: u64 = 512 << 20;

/// Reads and checks a backup's manifest: every path inside the backup, no file listed twice.
pub fn read_manifest(backup: &Path) -> Result<Manifest, Error> {
    let path = backup.join(MANIFEST);
    let len = std::fs::metadata(&path)
        .map_err(|e| {
            Error::NotFound(format!(
                "{} is not a signet backup (no {MANIFEST}): {e}",
                backup.display()
            ))
        })?
        .len();
    if len > MANIFEST_MAX {
        return Err(Error::Invalid(format!(
            "{MANIFEST} is larger than {MANIFEST_MAX} bytes"
        )));
    }
    let bytes = std::fs::read(&path).map_err(io(format!("read {}", path.display())))?;
    let manifest: Manifest =
        serde_json::from_slice(&bytes).map_err(|e| Error::Invalid(format!("{MANIFEST}: {e}")))?;
    if manifest.format_version != FORMAT_VERSION {
        return Err(Error::Invalid(format!(
            "{MANIFEST} has format {} (this signet reads {FORMAT_VERSION})",
            manifest.format_version
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for f in &manifest.files {
        let rel = Path::new(&f.path);
        let inside = !f.path.is_empty()
            && rel
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)))
            && (f.path == "signet.db"
                || DATA_FILES.contains(&f.path.as_str())
                || f.path.starts_with("blobs/")
                || f.path.starts_with("dev-pki/"));
        if !inside || !seen.insert(f.path.to_lowercase()) {
            return Err(Error::Invalid(format!(
                "{MANIFEST} lists {:?}: not a file a backup holds",
                f.path
            )));
        }
    }
    if !seen.contains("signet.db") {
        return Err(Error::Invalid(format!("{MANIFEST} lists no signet.db")));
    }
    Ok(manifest)
}

/// Restores the backup in `backup` as the data directory `data_dir` (new or empty): every
/// file is checked against the manifest before anything is written, and the directory
/// appears whole or not at all. The server must not be running on `data_dir`.
pub fn restore(backup: &Path, data_dir: &Path) -> Result<Summary, Error> {
    let manifest = read_manifest(backup)?;
    // Check first: a damaged backup restores nothing. Regular files only, reached without a
    // symbolic link (a link to /dev/zero would hang the check, one elsewhere would restore
    // files that are not the backup's).
    for f in &manifest.files {
        let mut path = backup.to_path_buf();
        for part in Path::new(&f.path).components() {
            path.push(part);
            let kind = std::fs::symlink_metadata(&path)
                .map_err(io(format!("read {}", f.path)))?
                .file_type();
            if kind.is_symlink() {
                return Err(Error::Invalid(format!(
                    "the backup holds a symbolic link at {}: refused",
                    f.path
                )));
            }
        }
        if !std::fs::symlink_metadata(&path)
            .map_err(io(format!("read {}", f.path)))?
            .is_file()
        {
            return Err(Error::Invalid(format!("{} is not a regular file", f.path)));
        }
    }
    for f in &manifest.files {
        let (size, sha256) =
            hash_file(&backup.join(&f.path)).map_err(io(format!("read {}", f.path)))?;
        if size != f.size || sha256 != f.sha256 {
            return Err(Error::Invalid(format!(
                "the backup is damaged: {} does not match {MANIFEST} (size {size}, expected {})",
                f.path, f.size
            )));
        }
    }
    claim_destination(data_dir, "a restore")?;
    let staging = staging_dir(data_dir)?;
    let mut summary = Summary {
        package_versions: manifest.package_versions,
        ..Summary::default()
    };
    for f in &manifest.files {
        let (size, sha256) = copy_file(&backup.join(&f.path), &staging.path().join(&f.path))
            .map_err(io(format!("copy {}", f.path)))?;
        if size != f.size || sha256 != f.sha256 {
            return Err(Error::Invalid(format!(
                "{} changed while it was restored",
                f.path
            )));
        }
        summary.files += 1;
        summary.bytes = summary.bytes.saturating_add(size);
        summary.dev_pki |= f.path.starts_with("dev-pki/");
    }
    let staged = staging.keep();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o700))
            .map_err(io("set the data directory's permissions"))?;
    }
    std::fs::rename(&staged, data_dir).map_err(io(format!("rename to {}", data_dir.display())))?;
    sync_parent(data_dir);
    Ok(summary)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn manifest_with(paths: &[&str]) -> Vec<u8> {
        let files: Vec<FileEntry> = paths
            .iter()
            .map(|p| FileEntry {
                path: (*p).to_owned(),
                size: 0,
                sha256: String::new(),
            })
            .collect();
        serde_json::to_vec(&Manifest {
            format_version: FORMAT_VERSION,
            created_at: String::new(),
            signet_version: String::new(),
            package_versions: 0,
            files,
        })
        .unwrap()
    }

    /// A manifest names only files a backup holds: nothing outside the backup directory,
    /// nothing twice, always the database.
    #[test]
    fn a_manifest_names_only_what_a_backup_holds() {
        let dir = tempfile::tempdir().unwrap();
        for (paths, ok) in [
            (&["signet.db", "blobs/packages/a/1.0.0/x.nupkg"][..], true),
            (&["signet.db", "../outside"][..], false),
            (&["signet.db", "blobs/../../outside"][..], false),
            (&["signet.db", "/etc/passwd"][..], false),
            (&["signet.db", "other/file"][..], false),
            (&["signet.db", "blobs/a", "blobs/A"][..], false),
            (&["blobs/a"][..], false),
        ] {
            std::fs::write(dir.path().join(MANIFEST), manifest_with(paths)).unwrap();
            assert_eq!(read_manifest(dir.path()).is_ok(), ok, "{paths:?}");
        }
    }
}
