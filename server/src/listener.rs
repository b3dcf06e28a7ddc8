//! Accepting connections so that no client can use up the server by
//! connecting: HTTP/1.1 on each, with a deadline for a request's headers
//! that also closes connections idle between requests, a cap on open
//! connections, and the longest-idle connection closed to make room for a
//! new one when the cap is reached.
//!
//! Requests in flight are never closed here: what a request may cost once
//! its headers are in is bounded by the handlers (body sizes, the request
//! timeout, turns). This module knows nothing of the API.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tower::ServiceExt;

/// The open connections, and which of them are idle.
#[derive(Debug)]
struct Connections {
    cap: usize,
    open: Mutex<Open>,
    /// Signalled when the last connection closes.
    drained: Notify,
}

#[derive(Debug, Default)]
struct Open {
    next: u64,
    slots: HashMap<u64, Slot>,
}

#[derive(Debug)]
struct Slot {
    /// Requests in flight on the connection.
    busy: u32,
    /// When it last became idle (or was opened).
    idle_since: Instant,
    /// Closes it.
    close: Arc<Notify>,
}

impl Connections {
    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes room for a new connection: below the cap, or by closing the
    /// connection idle the longest. `None` when every connection is busy.
    fn admit(&self) -> Option<(u64, Arc<Notify>)> {
        let mut open = self.lock();
        if open.slots.len() >= self.cap {
            let oldest = open.slots.iter().filter(|(_, s)| s.busy == 0).min_by_key(|(_, s)| s.idle_since);
            let (&id, _) = oldest?;
            let evicted = open.slots.remove(&id).expect("just found");
            evicted.close.notify_one();
        }
        let id = open.next;
        open.next += 1;
        let close = Arc::new(Notify::new());
        open.slots.insert(id, Slot { busy: 0, idle_since: Instant::now(), close: close.clone() });
        Some((id, close))
    }

    fn leave(&self, id: u64) {
        let mut open = self.lock();
        open.slots.remove(&id);
        if open.slots.is_empty() {
            self.drained.notify_waiters();
        }
    }

    fn set_busy(&self, id: u64, busy: bool) {
        if let Some(slot) = self.lock().slots.get_mut(&id) {
            if busy {
                slot.busy += 1;
            } else {
                slot.busy = slot.busy.saturating_sub(1);
                slot.idle_since = Instant::now();
            }
        }
    }

    fn len(&self) -> usize {
        self.lock().slots.len()
    }
}

/// Marks a request in flight on its connection while it lives.
struct Busy {
    connections: Arc<Connections>,
    id: u64,
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.connections.set_busy(self.id, false);
    }
}

/// Forgets a connection when its task ends.
struct Leave {
    connections: Arc<Connections>,
    id: u64,
}

impl Drop for Leave {
    fn drop(&mut self) {
        self.connections.leave(self.id);
    }
}

/// What a new connection is told when every open one is busy: a whole
/// HTTP answer, written to the fresh socket before it is closed.
static FULL: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(|| {
    let body = serde_json::json!({"error": {
        "code": "busy",
        "message": "the server has as many connections open as it serves at once; try again in a few seconds",
        "message_zh": "服务器连接已满,请稍后再试",
    }})
    .to_string();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 5\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
});

/// Serves `router` on `listener` until `shutdown` resolves, then lets the
/// requests in flight finish (up to `drain`) and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    max_connections: usize,
    idle_timeout: Duration,
    drain: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let connections =
        Arc::new(Connections { cap: max_connections, open: Mutex::default(), drained: Notify::new() });
    let (stop, stopping) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors, or a connection reset before it
                    // was accepted: wait a moment rather than spin.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some((id, close)) = connections.admit() else {
            tracing::warn!(%peer, "every connection is busy; refusing a new one");
            let _ = stream.try_write(&FULL);
            continue;
        };
        tokio::spawn(connection(
            stream,
            peer,
            router.clone(),
            connections.clone(),
            id,
            close,
            idle_timeout,
            stopping.clone(),
        ));
    }
    let _ = stop.send(true);
    drop(listener);
    let waited = async {
        loop {
            let drained = connections.drained.notified();
            if connections.len() == 0 {
                break;
            }
            drained.await;
        }
    };
    if tokio::time::timeout(drain, waited).await.is_err() {
        tracing::warn!(open = connections.len(), "connections still open at shutdown");
    }
}

#[allow(clippy::too_many_arguments)]
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    connections: Arc<Connections>,
    id: u64,
    close: Arc<Notify>,
    idle_timeout: Duration,
    mut stopping: watch::Receiver<bool>,
) {
    let _leave = Leave { connections: connections.clone(), id };
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        connections.set_busy(id, true);
        let busy = Busy { connections: connections.clone(), id };
        let mut request = request.map(axum::body::Body::new);
        request.extensions_mut().insert(ConnectInfo(peer));
        let router = router.clone();
        async move {
            let response = router.oneshot(request).await;
            drop(busy);
            response
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // Also the idle timeout: the deadline runs whenever the connection
        // waits for a request, from its first byte or from the last answer.
        .header_read_timeout(idle_timeout)
        .max_buf_size(64 * 1024)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(error) = result {
                tracing::debug!(%peer, %error, "connection ended");
            }
        }
        () = close.notified() => {
            tracing::debug!(%peer, "closed the longest-idle connection to make room");
        }
        () = async { let _ = stopping.wait_for(|stop| *stop).await; } => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_the_cap_the_longest_idle_connection_makes_room_and_busy_ones_never_do() {
        let connections = Connections { cap: 3, open: Mutex::default(), drained: Notify::new() };
        let (a, close_a) = connections.admit().unwrap();
        std::thread::sleep(Duration::from_millis(2));
        let (b, close_b) = connections.admit().unwrap();
        let (c, _) = connections.admit().unwrap();
        connections.set_busy(a, true);
        // Full: b, idle longer than c, is closed for d.
        let (d, _) = connections.admit().unwrap();
        assert_eq!(connections.len(), 3);
        assert!(!connections.lock().slots.contains_key(&b));
        assert!(tokio_test_notified(&close_b), "b was told to close");
        assert!(!tokio_test_notified(&close_a), "a is busy and stays");
        connections.set_busy(c, true);
        connections.set_busy(d, true);
        assert!(connections.admit().is_none(), "every connection busy: the new one is refused");
        connections.set_busy(c, false);
        assert!(connections.admit().is_some(), "c became idle and made room");
    }

    /// Whether `notify` holds a permit (it was notified with nobody waiting).
    fn tokio_test_notified(notify: &Notify) -> bool {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            tokio::time::timeout(Duration::from_millis(10), notify.notified()).await.is_ok()
        })
    }
}
