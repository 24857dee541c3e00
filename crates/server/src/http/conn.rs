//! The accept loop: a connection limit, a header read timeout (hyper's, with a timer), an
//! idle timeout on the socket, and graceful shutdown. axum's `serve` has none of these, so a
//! few hundred half-sent requests would hold their connections for ever (issue 13).

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::time::{Instant, Sleep};

use crate::app::ConnectionLimits;

/// A socket that fails a read or write once nothing moved for `idle`.
///
/// Activity only records the time; the timer is moved when it fires early (at most once per
/// `idle` of a busy connection), not on every read and write, which kept the timer wheel's
/// lock in the path of every chunk of every download.
struct IdleTimeout<S> {
    inner: S,
    idle: Duration,
    last: Instant,
    sleep: Pin<Box<Sleep>>,
}

impl<S> IdleTimeout<S> {
    fn new(inner: S, idle: Duration) -> Self {
        Self {
            inner,
            idle,
            last: Instant::now(),
            sleep: Box::pin(tokio::time::sleep(idle)),
        }
    }

    fn activity(&mut self) {
        self.last = Instant::now();
    }

    fn check(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Error> {
        loop {
            match self.sleep.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(()) => {
                    let deadline = self.last + self.idle;
                    if deadline <= Instant::now() {
                        return Poll::Ready(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "the connection was idle too long",
                        ));
                    }
                    // Something moved since the timer was set: wait for the rest.
                    self.sleep.as_mut().reset(deadline);
                }
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for IdleTimeout<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    self.activity();
                }
                Poll::Ready(r)
            }
            Poll::Pending => match self.check(cx) {
                Poll::Ready(e) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for IdleTimeout<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, data) {
            Poll::Ready(r) => {
                self.activity();
                Poll::Ready(r)
            }
            Poll::Pending => match self.check(cx) {
                Poll::Ready(e) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    /// Forwarded, with [`Self::is_write_vectored`]: without them hyper copies every response
    /// body into its own buffer before writing it (its "flatten" strategy), a memmove of
    /// each downloaded package.
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(r) => {
                self.activity();
                Poll::Ready(r)
            }
            Poll::Pending => match self.check(cx) {
                Poll::Ready(e) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Resolves once `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await.map(|_| ());
}

/// Serves `app` on `listener` until `stop` turns true; connections then finish their
/// request in flight, each holding one of `permits` until it ends (the caller waits for
/// them, bounded by its grace period).
pub(crate) async fn accept_loop(
    listener: TcpListener,
    app: axum::Router,
    limits: ConnectionLimits,
    permits: Arc<tokio::sync::Semaphore>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<(), crate::Error> {
    loop {
        let permit = tokio::select! {
            p = Arc::clone(&permits).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return Ok(()),
            },
            () = stopped(&mut stop) => return Ok(()),
        };
        let (stream, addr) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors and the like: wait a moment instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stopped(&mut stop) => return Ok(()),
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let io = TokioIo::new(IdleTimeout::new(stream, limits.idle_timeout));
            let tower = hyper_util::service::TowerToHyperService::new(app);
            let service = hyper::service::service_fn(
                move |mut req: hyper::Request<hyper::body::Incoming>| {
                    use hyper::service::Service as _;
                    // The peer address is what the sign-in limits count per client.
                    req.extensions_mut().insert(ConnectInfo::<SocketAddr>(addr));
                    tower.call(req)
                },
            );
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .serve_connection(io, service)
                .with_upgrades();
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "connection ended");
                    }
                }
                () = stopped(&mut stop) => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// A connection that keeps moving stays open past the idle time; one that stops fails its
    /// next read with `TimedOut` once the idle time has passed since the last activity.
    #[tokio::test]
    async fn idle_means_nothing_moved_since_the_last_activity() {
        let (ours, mut theirs) = tokio::io::duplex(1024);
        let mut conn = IdleTimeout::new(ours, Duration::from_millis(300));
        let mut buf = [0u8; 8];
        for _ in 0..6 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            theirs.write_all(b"x").await.unwrap();
            assert_eq!(conn.read(&mut buf).await.unwrap(), 1);
            conn.write_all(b"y").await.unwrap();
        }
        let started = Instant::now();
        let e = conn.read(&mut buf).await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(250) && waited < Duration::from_secs(2),
            "{waited:?}"
        );
    }

    /// A TCP socket says it writes vectored, and the wrapper says so too (hyper then sends
    /// a response's head and body with one writev instead of copying the body).
    #[tokio::test]
    async fn a_socket_keeps_its_vectored_writes() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stream = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (_peer, _) = listener.accept().await.unwrap();
        let mut conn = IdleTimeout::new(stream, Duration::from_secs(5));
        assert!(conn.is_write_vectored());
        let head = std::io::IoSlice::new(b"head ");
        let body = std::io::IoSlice::new(b"body");
        let n =
            std::future::poll_fn(|cx| Pin::new(&mut conn).poll_write_vectored(cx, &[head, body]))
                .await
                .unwrap();
        assert_eq!(n, 9);
    }
}
