//! What [`crate::Server`] needs to run on PostgreSQL with several nodes: a
//! real PostgreSQL (its address in `GRIDWORK_TEST_POSTGRES`, which
//! `scripts/test` sets after starting a private cluster with
//! `scripts/postgres`), a new database per server, and a round-robin proxy
//! that sends each request to the next node, so a device reaches a
//! different node on every request.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The PostgreSQL the tests use, as `postgres://USER@HOST:PORT`.
pub fn postgres() -> String {
    std::env::var("GRIDWORK_TEST_POSTGRES").unwrap_or_else(|_| {
        panic!(
            "GRIDWORK_TEST_POSTGRES is not set: the scale-out tests need a PostgreSQL. Run scripts/test, or start one with `scripts/postgres start DIR PORT` and set GRIDWORK_TEST_POSTGRES to the address it prints"
        )
    })
}

/// A new, empty database of its own: its URL.
pub fn new_database() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let base = postgres();
    let name = format!("gw_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    let output = Command::new("psql")
        .arg(format!("{base}/postgres"))
        .args(["-qc", &format!("CREATE DATABASE {name}")])
        .output()
        .expect("psql runs (Debian package postgresql-client)");
    assert!(output.status.success(), "creating {name}: {}", String::from_utf8_lossy(&output.stderr));
    format!("{base}/{name}")
}

/// An HTTP proxy that sends each request to the next of its nodes (one
/// still answering: a node that refuses the connection is passed over).
#[derive(Debug)]
pub(crate) struct Proxy {
    pub(crate) url: String,
    _runtime: tokio::runtime::Runtime,
}

impl Proxy {
    pub(crate) fn start(nodes: Vec<String>) -> Proxy {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("binds");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new((nodes, AtomicUsize::new(0), reqwest::Client::new()));
        let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
            let state = state.clone();
            async move { forward(&state, request).await }
        });
        runtime.spawn(async move { axum::serve(listener, app).await });
        Proxy { url, _runtime: runtime }
    }
}

async fn forward(
    state: &(Vec<String>, AtomicUsize, reqwest::Client),
    request: axum::extract::Request,
) -> axum::response::Response {
    let (nodes, next, client) = state;
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 64 << 20).await.expect("a body");
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    for _ in 0..nodes.len() {
        let node = &nodes[next.fetch_add(1, Ordering::Relaxed) % nodes.len()];
        let mut outgoing = client.request(parts.method.clone(), format!("{node}{path}")).body(body.clone());
        for (name, value) in &parts.headers {
            if !matches!(name.as_str(), "host" | "content-length" | "connection" | "transfer-encoding") {
                outgoing = outgoing.header(name, value);
            }
        }
        match outgoing.send().await {
            Ok(response) => {
                let mut answer = axum::response::Response::builder().status(response.status());
                for (name, value) in response.headers() {
                    if !matches!(name.as_str(), "content-length" | "connection" | "transfer-encoding") {
                        answer = answer.header(name, value);
                    }
                }
                let bytes = response.bytes().await.unwrap_or_default();
                return answer.body(axum::body::Body::from(bytes)).expect("a response");
            }
            Err(error) if error.is_connect() => continue,
            Err(_) => break,
        }
    }
    axum::response::Response::builder().status(502).body(axum::body::Body::empty()).expect("a response")
}
