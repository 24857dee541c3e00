//! Package files behind a trait: the filesystem or S3 (object_store). A blob is
//! written under a fresh, unreferenced key and becomes *visible* only when a committed row
//! points at it (see `Registry::push`), so a store needs no rename or transaction: only
//! "a key is readable whole or not at all", which a filesystem rename and an S3 PUT both give.

use std::future::Future;
use std::path::{Component, Path, PathBuf};
use std::pin::Pin;

use signet_common::UtcTime;

use crate::Error;

/// A boxed future (the trait is used as `dyn BlobStore`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Files (and S3 objects) up to this size are read whole; larger ones are streamed.
const INLINE_MAX: u64 = 1 << 20;

/// The chunks of a blob read from a remote store.
pub type BlobStream = futures_util::stream::BoxStream<'static, std::io::Result<bytes::Bytes>>;

/// A blob being read.
#[non_exhaustive]
pub enum BlobBody {
    /// An open file and its length (streamed to the client).
    File {
        /// The file.
        file: tokio::fs::File,
        /// Its length in bytes.
        len: u64,
    },
    /// Bytes in memory (cheap to clone: reference-counted).
    Bytes(bytes::Bytes),
    /// A remote object arriving in chunks (S3 objects over [`INLINE_MAX`]), so that a large
    /// download is never held in memory whole.
    Stream {
        /// The chunks, in order.
        stream: BlobStream,
        /// The object's length in bytes.
        len: u64,
    },
}

impl std::fmt::Debug for BlobBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File { file, len } => f
                .debug_struct("File")
                .field("file", file)
                .field("len", len)
                .finish(),
            Self::Bytes(b) => f.debug_tuple("Bytes").field(&b.len()).finish(),
            Self::Stream { len, .. } => f
                .debug_struct("Stream")
                .field("len", len)
                .finish_non_exhaustive(),
        }
    }
}

/// A reader of a whole blob for blocking work.
pub(crate) trait ReadSeek: std::io::Read + std::io::Seek + Send {}
impl<T: std::io::Read + std::io::Seek + Send> ReadSeek for T {}

/// Runs `work` on a blocking thread over the whole of `body`, never held in memory whole:
/// files are read in place, remote objects spooled to a temporary file first, bytes read
/// from memory. (One helper for every reader of stored packages: staples, the log, retention.)
pub(crate) async fn read_blocking<T: Send + 'static>(
    body: BlobBody,
    work: impl FnOnce(Box<dyn ReadSeek>) -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    use futures_util::StreamExt as _;
    use std::io::Seek as _;
    let io = |e| Error::io("reading a package", e);
    let reader: Box<dyn ReadSeek> = match body {
        BlobBody::File { file, .. } => Box::new(std::io::BufReader::new(file.into_std().await)),
        BlobBody::Bytes(b) => Box::new(std::io::Cursor::new(b)),
        BlobBody::Stream { mut stream, .. } => {
            let mut tmp = tempfile::tempfile().map_err(io)?;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(io)?;
                std::io::Write::write_all(&mut tmp, &chunk).map_err(io)?;
            }
            tmp.rewind().map_err(io)?;
            Box::new(std::io::BufReader::new(tmp))
        }
    };
    tokio::task::spawn_blocking(move || work(reader))
        .await
        .map_err(|e| Error::io("blob task", std::io::Error::other(e)))?
}

/// Where package files live.
pub trait BlobStore: Send + Sync {
    /// Stores the complete, durable file at `local` under `key`; the file may be moved away. A
    /// reader sees the whole object or none. Keys are `/`-separated relative paths.
    fn put_file<'a>(&'a self, key: &'a str, local: &'a Path) -> BoxFuture<'a, Result<(), Error>>;
    /// Opens a blob; `None` when absent.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<BlobBody>, Error>>;
    /// Deletes a blob; absent is not an error.
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), Error>>;
    /// Every key under `prefix` with its last-modified time (for collecting orphans).
    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<(String, UtcTime)>, Error>>;
}

/// Blobs as files under a root directory.
#[derive(Clone, Debug)]
pub struct FileSystemStore {
    root: PathBuf,
}

impl FileSystemStore {
    /// A store rooted at `root` (created if missing).
    pub fn new(root: impl Into<PathBuf>) -> Result<Self, Error> {
        let root = root.into();
        std::fs::create_dir_all(&root)
            .map_err(|e| Error::io(format!("create {}", root.display()), e))?;
        Ok(Self { root })
    }

    fn path(&self, key: &str) -> Result<PathBuf, Error> {
        Ok(self.root.join(key_path(key)?))
    }
}

/// A blob key as a relative path: normal components only (no root, `..` or empty key).
pub(crate) fn key_path(key: &str) -> Result<PathBuf, Error> {
    let rel = Path::new(key);
    if key.is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(Error::Invalid(format!("invalid blob key {key:?}")));
    }
    Ok(rel.to_path_buf())
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

impl BlobStore for FileSystemStore {
    fn put_file<'a>(&'a self, key: &'a str, local: &'a Path) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            let dest = self.path(key)?;
            let local = local.to_path_buf();
            tokio::task::spawn_blocking(move || -> Result<(), Error> {
                let parent = dest.parent().unwrap_or(Path::new("."));
                std::fs::create_dir_all(parent)
                    .map_err(|e| Error::io(format!("create {}", parent.display()), e))?;
                if std::fs::rename(&local, &dest).is_err() {
                    // Another filesystem: copy to a temporary name beside the destination,
                    // fsync, then rename, so the key is still never seen half-written.
                    let tmp = tempfile::NamedTempFile::new_in(parent)
                        .map_err(|e| Error::io("create a staging file", e))?;
                    std::fs::copy(&local, tmp.path()).map_err(|e| Error::io("copy a blob", e))?;
                    tmp.as_file()
                        .sync_all()
                        .map_err(|e| Error::io("sync a blob", e))?;
                    tmp.persist(&dest)
                        .map_err(|e| Error::io("store a blob", e.error))?;
                }
                sync_dir(parent).map_err(|e| Error::io("sync the blob directory", e))
            })
            .await
            .map_err(|e| Error::io("blob task", std::io::Error::other(e)))?
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<BlobBody>, Error>> {
        Box::pin(async move {
            let path = self.path(key)?;
            // One trip to the blocking pool: open, stat and, for small files, read.
            let opened =
                tokio::task::spawn_blocking(move || -> std::io::Result<Option<BlobBody>> {
                    let mut file = match std::fs::File::open(&path) {
                        Ok(f) => f,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                        Err(e) => return Err(e),
                    };
                    let len = file.metadata()?.len();
                    if len <= INLINE_MAX {
                        // Through `take(len)`: `read_to_end` on the file itself asks for the
                        // size again and reads once more to see the end (three system calls
                        // of seven, on every download the memory does not hold). Blobs never
                        // change once written, so a short file is a broken store.
                        let mut buf = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
                        std::io::Read::read_to_end(
                            &mut std::io::Read::take(&mut file, len),
                            &mut buf,
                        )?;
                        if buf.len() as u64 != len {
                            return Err(std::io::Error::new(
                                std::io::ErrorKind::UnexpectedEof,
                                "a stored package file is shorter than its size",
                            ));
                        }
                        return Ok(Some(BlobBody::Bytes(buf.into())));
                    }
                    Ok(Some(BlobBody::File {
                        file: tokio::fs::File::from_std(file),
                        len,
                    }))
                })
                .await
                .map_err(|e| Error::io("blob task", std::io::Error::other(e)))?;
            opened.map_err(|e| Error::io("read a blob", e))
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            let path = self.path(key)?;
            match tokio::fs::remove_file(&path).await {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(Error::io("delete a blob", e)),
            }
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<(String, UtcTime)>, Error>> {
        Box::pin(async move {
            let root = self.root.clone();
            let start = self.path(prefix)?;
            tokio::task::spawn_blocking(move || {
                let mut out = Vec::new();
                let mut stack = vec![start];
                while let Some(dir) = stack.pop() {
                    let Ok(entries) = std::fs::read_dir(&dir) else {
                        continue;
                    };
                    for entry in entries.flatten() {
                        let path = entry.path();
                        let Ok(meta) = entry.metadata() else { continue };
                        if meta.is_dir() {
                            stack.push(path);
                        } else if let Ok(rel) = path.strip_prefix(&root) {
                            let modified = meta
                                .modified()
                                .ok()
                                .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
                                .map_or(UtcTime::from_unix_seconds(0), |d| {
                                    UtcTime::from_unix_seconds(
                                        i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                                    )
                                });
                            let key = rel
                                .components()
                                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                                .collect::<Vec<_>>()
                                .join("/");
                            out.push((key, modified));
                        }
                    }
                }
                Ok(out)
            })
            .await
            .map_err(|e| Error::io("blob task", std::io::Error::other(e)))?
        })
    }
}

/// Blobs in an S3 bucket (object_store). A PUT, or a completed multipart upload for large
/// files, makes an object readable whole, which is all the push needs.
#[derive(Debug)]
pub struct S3Store {
    store: object_store::aws::AmazonS3,
}

/// Files up to this size are sent in one PUT; larger ones in a multipart upload.
const S3_SINGLE_PUT_MAX: u64 = 16 << 20;

/// How long the S3 store waits before it gives up: an endpoint that is down makes a push fail
/// within seconds with 503 (not after object_store's default of ten retries over minutes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct S3Timeouts {
    /// The TCP (and TLS) connect phase of one attempt.
    pub connect: std::time::Duration,
    /// No retry starts after this long from the first attempt.
    pub retry: std::time::Duration,
    /// One whole request, its body included (a large package streamed to a slow client
    /// must fit in it).
    pub request: std::time::Duration,
}

impl Default for S3Timeouts {
    fn default() -> Self {
        Self {
            connect: std::time::Duration::from_secs(2),
            retry: std::time::Duration::from_secs(3),
            request: std::time::Duration::from_secs(300),
        }
    }
}

/// An S3 failure other than "no such object": the bucket did not answer, refused the
/// credentials, or failed. The cause goes to the log; the client is told the storage is
/// unavailable (503 with `Retry-After`).
fn s3_error(context: &str, e: object_store::Error) -> Error {
    Error::StorageUnavailable(format!("{context}: {e}"))
}

impl S3Store {
    /// A store for `bucket`. `endpoint` is for S3-compatible services (None: AWS); credentials
    /// and region may also come from the usual `AWS_*` environment variables.
    pub fn new(
        bucket: &str,
        endpoint: Option<&str>,
        region: Option<&str>,
        access_key_id: Option<&str>,
        secret_access_key: Option<&str>,
        allow_http: bool,
        timeouts: S3Timeouts,
    ) -> Result<Self, Error> {
        let retry = object_store::RetryConfig {
            backoff: object_store::BackoffConfig::default(),
            max_retries: 3,
            retry_timeout: timeouts.retry,
        };
        // Set key by key: `with_client_options` would replace the client options whole, and
        // with them what `from_env` read (`AWS_ALLOW_HTTP`, proxies).
        use object_store::ClientConfigKey as Key;
        use object_store::aws::AmazonS3ConfigKey::Client;
        let millis = |d: std::time::Duration| format!("{}ms", d.as_millis());
        let mut b = object_store::aws::AmazonS3Builder::from_env()
            .with_config(Client(Key::ConnectTimeout), millis(timeouts.connect))
            .with_config(Client(Key::Timeout), millis(timeouts.request))
            .with_bucket_name(bucket)
            .with_allow_http(allow_http)
            .with_retry(retry);
        if let Some(e) = endpoint {
            b = b.with_endpoint(e);
        }
        if let Some(r) = region {
            b = b.with_region(r);
        }
        if let Some(k) = access_key_id {
            b = b.with_access_key_id(k);
        }
        if let Some(k) = secret_access_key {
            b = b.with_secret_access_key(k);
        }
        let store = b
            .build()
            .map_err(|e| Error::Config(format!("S3 storage: {e}")))?;
        Ok(Self { store })
    }
}

impl BlobStore for S3Store {
    fn put_file<'a>(&'a self, key: &'a str, local: &'a Path) -> BoxFuture<'a, Result<(), Error>> {
        use object_store::ObjectStoreExt as _;
        use tokio::io::AsyncReadExt as _;
        Box::pin(async move {
            let path = object_store::path::Path::from(key);
            let mut file = tokio::fs::File::open(local)
                .await
                .map_err(|e| Error::io("open the upload", e))?;
            let len = file
                .metadata()
                .await
                .map_err(|e| Error::io("stat the upload", e))?
                .len();
            if len <= S3_SINGLE_PUT_MAX {
                let mut buf = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
                file.read_to_end(&mut buf)
                    .await
                    .map_err(|e| Error::io("read the upload", e))?;
                self.store
                    .put(&path, object_store::PutPayload::from(buf))
                    .await
                    .map_err(|e| s3_error("store a blob", e))?;
                return Ok(());
            }
            let upload = self
                .store
                .put_multipart(&path)
                .await
                .map_err(|e| s3_error("start a multipart upload", e))?;
            let mut writer = object_store::WriteMultipart::new(upload);
            let mut buf = vec![0u8; 8 << 20];
            loop {
                let n = file
                    .read(&mut buf)
                    .await
                    .map_err(|e| Error::io("read the upload", e))?;
                let Some(chunk) = buf.get(..n).filter(|c| !c.is_empty()) else {
                    break;
                };
                writer
                    .wait_for_capacity(4)
                    .await
                    .map_err(|e| s3_error("upload a part", e))?;
                writer.write(chunk);
            }
            writer
                .finish()
                .await
                .map_err(|e| s3_error("complete a multipart upload", e))?;
            Ok(())
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<BlobBody>, Error>> {
        use futures_util::{StreamExt as _, TryStreamExt as _};
        use object_store::ObjectStoreExt as _;
        Box::pin(async move {
            let path = object_store::path::Path::from(key);
            match self.store.get(&path).await {
                Ok(r) => {
                    let len = r.range.end.saturating_sub(r.range.start);
                    if len <= INLINE_MAX {
                        let bytes = r.bytes().await.map_err(|e| s3_error("read a blob", e))?;
                        // A copy of its own: a single chunk may be a slice of the HTTP
                        // client's larger read buffer, which the memory cache (counting only
                        // the length) would otherwise keep alive.
                        return Ok(Some(BlobBody::Bytes(bytes::Bytes::copy_from_slice(&bytes))));
                    }
                    let stream = r
                        .into_stream()
                        .map_err(|e| std::io::Error::other(e.to_string()))
                        .boxed();
                    Ok(Some(BlobBody::Stream { stream, len }))
                }
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(s3_error("read a blob", e)),
            }
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), Error>> {
        use object_store::ObjectStoreExt as _;
        Box::pin(async move {
            match self
                .store
                .delete(&object_store::path::Path::from(key))
                .await
            {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(s3_error("delete a blob", e)),
            }
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<(String, UtcTime)>, Error>> {
        use futures_util::StreamExt as _;
        use object_store::ObjectStore as _;
        Box::pin(async move {
            let prefix = object_store::path::Path::from(prefix);
            let mut stream = self.store.list(Some(&prefix));
            let mut out = Vec::new();
            while let Some(meta) = stream.next().await {
                let meta = meta.map_err(|e| s3_error("list blobs", e))?;
                out.push((
                    meta.location.to_string(),
                    UtcTime::from_unix_micros(meta.last_modified.timestamp_micros()),
                ));
            }
            Ok(out)
        })
    }
}
