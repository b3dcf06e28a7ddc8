//! Accepting connections so that no client can use up the server by
//! connecting: HTTP/1.1 on each, with a deadline for a request's headers
//! that also closes connections idle between requests, a deadline for an
//! answer the client does not read, a cap on open connections overall and
//! per address, and the longest-idle connection closed to make room for a
//! new one when a cap is reached.
//!
//! Requests in flight are never closed here: what a request may cost once
//! its headers are in is bounded by the handlers (body sizes and deadlines,
//! the request timeout, turns). This module knows nothing of the API.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tower::ServiceExt;

/// How connections are accepted and kept.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// Open connections at most.
    pub max_connections: usize,
    /// Open connections from one address at most; 0 for no limit (behind a
    /// proxy every client has the proxy's address: limit there instead).
    pub max_per_address: usize,
    /// How long a request's headers may take to arrive, from the
    /// connection's start or the previous answer (also the idle timeout).
    pub idle_timeout: Duration,
    /// How long an answer may wait for the client to read it.
    pub write_timeout: Duration,
    /// How long requests in flight may take to finish at shutdown.
    pub drain: Duration,
}

/// The open connections, and which of them are idle.
#[derive(Debug)]
struct Connections {
    settings: Settings,
    open: Mutex<Open>,
    /// Signalled when the last connection closes.
    drained: Notify,
}

#[derive(Debug, Default)]
struct Open {
    next: u64,
    slots: HashMap<u64, Slot>,
    per_address: HashMap<IpAddr, usize>,
}

#[derive(Debug)]
struct Slot {
    address: IpAddr,
    /// Requests in flight on the connection.
    busy: u32,
    /// When it last became idle (or was opened).
    idle_since: Instant,
    /// Closes it.
    close: Arc<Notify>,
}

impl Open {
    /// Closes the connection idle the longest among those `among` picks;
    /// false if every one of them is busy.
    fn evict(&mut self, among: impl Fn(&Slot) -> bool) -> bool {
        let oldest =
            self.slots.iter().filter(|(_, s)| s.busy == 0 && among(s)).min_by_key(|(_, s)| s.idle_since);
        let Some((&id, _)) = oldest else { return false };
        let evicted = self.remove(id).expect("just found");
        evicted.close.notify_one();
        true
    }

    fn remove(&mut self, id: u64) -> Option<Slot> {
        let slot = self.slots.remove(&id)?;
        if let Some(count) = self.per_address.get_mut(&slot.address) {
            *count -= 1;
            if *count == 0 {
                self.per_address.remove(&slot.address);
            }
        }
        Some(slot)
    }
}

impl Connections {
    fn new(settings: Settings) -> Self {
        Connections { settings, open: Mutex::default(), drained: Notify::new() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes room for a new connection from `address`: below the caps, or
    /// by closing the connection idle the longest (of that address, when
    /// it is the address that is at its cap). `None` when every connection
    /// that could make room is busy.
    fn admit(&self, address: IpAddr) -> Option<(u64, Arc<Notify>)> {
        let mut open = self.lock();
        let per_address = self.settings.max_per_address;
        if per_address > 0
            && open.per_address.get(&address).copied().unwrap_or(0) >= per_address
            && !open.evict(|slot| slot.address == address)
        {
            return None;
        }
        if open.slots.len() >= self.settings.max_connections && !open.evict(|_| true) {
            return None;
        }
        let id = open.next;
        open.next += 1;
        let close = Arc::new(Notify::new());
        open.slots.insert(id, Slot { address, busy: 0, idle_since: Instant::now(), close: close.clone() });
        *open.per_address.entry(address).or_default() += 1;
        Some((id, close))
    }

    fn leave(&self, id: u64) {
        let mut open = self.lock();
        open.remove(id);
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

/// A socket whose writes may wait for the client at most a deadline: an
/// answer nobody reads is dropped, connection and all, instead of staying
/// in memory.
struct WriteDeadline {
    stream: TcpStream,
    timeout: Duration,
    /// Set while a write waits for the client.
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl WriteDeadline {
    /// Turns a write that is still waiting after the deadline into an
    /// error.
    fn waiting<T>(&mut self, cx: &mut Context<'_>, outcome: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match outcome {
            Poll::Ready(result) => {
                self.stalled = None;
                Poll::Ready(result)
            }
            Poll::Pending => {
                let timeout = self.timeout;
                let stalled = self.stalled.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match stalled.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the client did not read the answer in time",
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl AsyncRead for WriteDeadline {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for WriteDeadline {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let outcome = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.waiting(cx, outcome)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let outcome = Pin::new(&mut self.stream).poll_flush(cx);
        self.waiting(cx, outcome)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let outcome = Pin::new(&mut self.stream).poll_shutdown(cx);
        self.waiting(cx, outcome)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let outcome = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.waiting(cx, outcome)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
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
/// requests in flight finish (up to `settings.drain`) and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    settings: Settings,
    shutdown: impl Future<Output = ()>,
) {
    let connections = Arc::new(Connections::new(settings));
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
        let Some((id, close)) = connections.admit(peer.ip()) else {
            tracing::debug!(%peer, "every connection that could make room is busy; refusing a new one");
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
    if tokio::time::timeout(settings.drain, waited).await.is_err() {
        tracing::warn!(open = connections.len(), "connections still open at shutdown");
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    connections: Arc<Connections>,
    id: u64,
    close: Arc<Notify>,
    mut stopping: watch::Receiver<bool>,
) {
    let _leave = Leave { connections: connections.clone(), id };
    let _ = stream.set_nodelay(true);
    let settings = connections.settings;
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
        .header_read_timeout(settings.idle_timeout)
        .max_buf_size(64 * 1024)
        .keep_alive(true);
    let io = WriteDeadline { stream, timeout: settings.write_timeout, stalled: None };
    let conn = builder.serve_connection(TokioIo::new(io), service);
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

    fn settings(max_connections: usize, max_per_address: usize) -> Settings {
        Settings {
            max_connections,
            max_per_address,
            idle_timeout: Duration::from_secs(1),
            write_timeout: Duration::from_secs(1),
            drain: Duration::from_secs(1),
        }
    }

    /// Whether `notify` holds a permit (it was notified with nobody waiting).
    fn notified(notify: &Notify) -> bool {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            tokio::time::timeout(Duration::from_millis(10), notify.notified()).await.is_ok()
        })
    }

    #[test]
    fn at_the_cap_the_longest_idle_connection_makes_room_and_busy_ones_never_do() {
        let connections = Connections::new(settings(3, 0));
        let here: IpAddr = [127, 0, 0, 1].into();
        let (a, close_a) = connections.admit(here).unwrap();
        std::thread::sleep(Duration::from_millis(2));
        let (b, close_b) = connections.admit(here).unwrap();
        let (c, _) = connections.admit(here).unwrap();
        connections.set_busy(a, true);
        // Full: b, idle longer than c, is closed for d.
        let (d, _) = connections.admit(here).unwrap();
        assert_eq!(connections.len(), 3);
        assert!(!connections.lock().slots.contains_key(&b));
        assert!(notified(&close_b), "b was told to close");
        assert!(!notified(&close_a), "a is busy and stays");
        connections.set_busy(c, true);
        connections.set_busy(d, true);
        assert!(connections.admit(here).is_none(), "every connection busy: the new one is refused");
        connections.set_busy(c, false);
        assert!(connections.admit(here).is_some(), "c became idle and made room");
    }

    #[test]
    fn one_address_at_its_cap_makes_room_among_its_own_connections_only() {
        let connections = Connections::new(settings(100, 2));
        let (flooder, honest): (IpAddr, IpAddr) = ([10, 0, 0, 1].into(), [10, 0, 0, 2].into());
        let (_, close_honest) = connections.admit(honest).unwrap();
        let (first, close_first) = connections.admit(flooder).unwrap();
        let (second, _) = connections.admit(flooder).unwrap();
        // A third from the flooder closes its own idle one, not the honest one.
        connections.admit(flooder).unwrap();
        assert!(notified(&close_first));
        assert!(!notified(&close_honest));
        assert_eq!(connections.lock().per_address[&flooder], 2);
        // Its connections all busy: refused, though the server has room.
        let open: Vec<u64> = connections
            .lock()
            .slots
            .iter()
            .filter(|(_, s)| s.address == flooder)
            .map(|(id, _)| *id)
            .collect();
        for id in open {
            connections.set_busy(id, true);
        }
        assert!(connections.admit(flooder).is_none());
        assert!(connections.admit(honest).is_some(), "another address is served");
        let _ = (first, second);
    }
}
