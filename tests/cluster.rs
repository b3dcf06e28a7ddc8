//! Several `gridwork-server` nodes on one PostgreSQL database, for the
//! tests of scale-out: the real binaries, a real PostgreSQL (its address in
//! `GRIDWORK_TEST_POSTGRES`, which `scripts/test` sets after starting a
//! private cluster with `scripts/postgres`), and a round-robin proxy that
//! sends each request to the next node, so a device reaches a different
//! node on every request.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

use crate::bin;

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

/// One `gridwork-server serve` process.
#[derive(Debug)]
pub struct Node {
    pub url: String,
    child: Option<Child>,
}

impl Node {
    /// Kills the node with SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL");
            child.wait().expect("reaped");
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Nodes on one database and one shared data directory, and a proxy in
/// front of them.
#[derive(Debug)]
pub struct Cluster {
    pub data: tempfile::TempDir,
    pub database: String,
    pub admin_token: String,
    pub nodes: Vec<Node>,
    /// The proxy's address: each request to it goes to the next node.
    pub url: String,
    _proxy: Proxy,
}

impl Cluster {
    /// `nodes` servers on a new database.
    pub fn start(nodes: usize) -> Cluster {
        let data = tempfile::tempdir().expect("temporary directory");
        let database = new_database();
        let output = Command::new(bin("gridwork-server"))
            .args(["init", "--data"])
            .arg(data.path())
            .args(["--database", &database])
            .output()
            .expect("init runs");
        assert!(output.status.success(), "init failed: {}", String::from_utf8_lossy(&output.stderr));
        let init: Value = serde_json::from_slice(&output.stdout).expect("JSON");
        let admin_token = init["admin_token"].as_str().expect("a token").to_owned();
        let nodes: Vec<Node> = (0..nodes).map(|_| serve(data.path(), &database)).collect();
        let proxy = Proxy::start(nodes.iter().map(|n| n.url.clone()).collect());
        Cluster { url: proxy.url.clone(), data, database, admin_token, nodes, _proxy: proxy }
    }

    /// `gridwork admin` through node `n`.
    pub fn admin_on(&self, n: usize, args: &[&str]) -> Value {
        let output = crate::gridwork(
            &[&["admin", "--server", &self.nodes[n].url, "--token", &self.admin_token], args].concat(),
        );
        assert!(output.status.success(), "admin {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice(&output.stdout).expect("JSON")
    }

    /// `gridwork admin` through the proxy.
    pub fn admin(&self, args: &[&str]) -> Value {
        let output = crate::gridwork(
            &[&["admin", "--server", &self.url, "--token", &self.admin_token], args].concat(),
        );
        assert!(output.status.success(), "admin {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice(&output.stdout).expect("JSON")
    }

    /// A worker of `grids` and an enrollment code for them.
    pub fn worker(&self, name: &str, grids: &[&str]) -> (String, String) {
        let mut args = vec!["user", "add", "--name", name, "--role", "worker"];
        for grid in grids {
            args.extend(["--grid", grid]);
        }
        let id = self.admin(&args)["id"].as_str().expect("an id").to_owned();
        let code = self.admin(&["enroll-code", "--user", &id])["code"].as_str().expect("a code").to_owned();
        (id, code)
    }

    /// Grids C1 with units C1-01 and C1-02, and C2 with C2-01.
    pub fn city(&self) {
        for (code, name, parent) in [
            ("C1", "东苑社区", None),
            ("C1-01", "东苑社区第一网格", Some("C1")),
            ("C1-02", "东苑社区第二网格", Some("C1")),
            ("C2", "西山社区", None),
            ("C2-01", "西山社区第一网格", Some("C2")),
        ] {
            let mut args = vec!["grid", "add", "--code", code, "--name", name];
            if let Some(parent) = parent {
                args.extend(["--parent", parent]);
            }
            self.admin(&args);
        }
    }

    /// Runs SQL on the cluster's database, returning psql's unaligned rows.
    pub fn sql(&self, query: &str) -> String {
        let output =
            Command::new("psql").arg(&self.database).args(["-qAtc", query]).output().expect("psql runs");
        assert!(output.status.success(), "{query}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).expect("UTF-8").trim().to_owned()
    }
}

fn serve(data: &std::path::Path, database: &str) -> Node {
    let mut child = Command::new(bin("gridwork-server"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .args(["--database", database])
        .env("GRIDWORK_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("serve starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line).expect("a first line");
    let announced: Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("`{line}` is not JSON: {e}"));
    Node {
        url: format!("http://{}", announced["listening"].as_str().expect("an address")),
        child: Some(child),
    }
}

/// An HTTP proxy that sends each request to the next of its nodes (one
/// still answering: a node that refuses the connection is passed over).
#[derive(Debug)]
struct Proxy {
    url: String,
    _runtime: tokio::runtime::Runtime,
}

impl Proxy {
    fn start(nodes: Vec<String>) -> Proxy {
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
