//! Serving a router on a listener, in place of `axum::serve`, for what it cannot be told:
//!
//! - A header read timeout. `axum::serve` gives hyper no timer, so hyper's
//!   `header_read_timeout` never fires: a client trickling its request head a byte at a time,
//!   or connecting and saying nothing, held its connection (and a file descriptor) forever.
//!   hyper starts the timer whenever the connection waits for a request head, so the same
//!   timeout also closes keep-alive connections left idle.
//! - The local address of each connection, as the [`LocalAddr`] request extension, from which
//!   SCIM locations are built when `server.public_url` is unset (never from the Host header).
//!
//! Graceful shutdown is hyper-util's: no new connections, idle ones closed, in-flight requests
//! finished; the caller bounds the wait.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::Request;
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::{Service, ServiceExt};

/// The local address a request's connection reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalAddr(pub SocketAddr);

/// Serves `service` on `listener` over HTTP/1.1 until `shutdown` fires, then waits for the
/// connections to finish.
pub async fn serve<S>(
    listener: TcpListener,
    service: S,
    header_timeout: Duration,
    shutdown: CancellationToken,
) -> std::io::Result<()>
where
    S: Service<Request<Incoming>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let graceful = GracefulShutdown::new();
    loop {
        let stream = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
        };
        // Fails only when the connection is already gone.
        let Ok(local) = stream.local_addr() else { continue };
        let service = service.clone().map_request(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(LocalAddr(local));
            req
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            // Timeouts, resets and malformed requests end here; hyper has answered what it
            // could (400, 431) and the client is gone.
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection closed");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// As `axum::serve` does: a connection that failed before it was accepted is the client's
/// business; anything else (out of file descriptors) is logged, and accepting pauses a second
/// rather than spinning.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(e.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
