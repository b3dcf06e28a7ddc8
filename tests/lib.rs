//! Shared helpers for the integration tests in `tests/`: the workspace's
//! real binaries, a real `gridwork-server` on a loopback port with a
//! temporary data directory, and the `gridwork` command line.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;

pub mod cluster;

use serde_json::{Value, json};

/// The workspace's root directory.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ sits in the workspace").to_path_buf()
}

/// A `cargo` command run from the workspace root.
pub fn cargo() -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.current_dir(workspace_root());
    command
}

/// Where the binaries are, built once per test run (same profile and
/// target directory as this test binary).
pub fn bin(name: &str) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let status = cargo()
            .args(["build", "--locked", "-p", "gridwork-server", "-p", "gridwork-cli"])
            .status()
            .expect("cargo build runs");
        assert!(status.success(), "building the binaries failed");
        // target/<profile>/deps/<this test> -> target/<profile>
        std::env::current_exe()
            .expect("test path")
            .parent()
            .and_then(Path::parent)
            .expect("target dir")
            .to_owned()
    });
    dir.join(name)
}

/// Which database a test's server keeps its records in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// One node on its embedded SQLite database (`DATA/gridwork.db`).
    Sqlite,
    /// Two nodes on one new PostgreSQL database (`GRIDWORK_TEST_POSTGRES`)
    /// and one shared data directory, behind a proxy that sends each
    /// request to the next node: a device reaches a different node on
    /// every request.
    Postgres,
}

/// Runs a test on both backends: after `fn name(backend: Backend) { … }`,
/// `on_both_backends!(name);` declares the tests `name::sqlite` and
/// `name::postgres`.
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident) => {
        mod $name {
            #[test]
            fn sqlite() {
                super::$name($crate::Backend::Sqlite)
            }

            #[test]
            fn postgres() {
                super::$name($crate::Backend::Postgres)
            }
        }
    };
}

/// One `gridwork-server serve` process.
#[derive(Debug)]
pub struct Node {
    /// Its own address (`http://127.0.0.1:PORT`), empty before it first
    /// serves.
    pub url: String,
    child: Option<Child>,
}

impl Node {
    /// Starts serving: on a free loopback port the first time, on the same
    /// address again after a stop, so clients find it where they left it.
    fn serve(&mut self, data: &Path, database: Option<&str>, serve_args: &[String], nofile: Option<u64>) {
        let listen = self.url.strip_prefix("http://").unwrap_or("127.0.0.1:0").to_owned();
        let mut command = match nofile {
            Some(limit) => {
                let mut command = Command::new("prlimit");
                command.arg(format!("--nofile={limit}:{limit}")).arg(bin("gridwork-server"));
                command
            }
            None => Command::new(bin("gridwork-server")),
        };
        command.args(["serve", "--listen", &listen, "--data"]).arg(data);
        if let Some(database) = database {
            command.args(["--database", database]);
        }
        let mut child = command
            .args(serve_args)
            .env("GRIDWORK_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("gridwork-server serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout"))
            .read_line(&mut line)
            .expect("a first line");
        let announced: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("`{line}` is not JSON: {e}"));
        self.url = format!("http://{}", announced["listening"].as_str().expect("an address"));
        self.child = Some(child);
    }

    /// The process's id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the node is running").id()
    }

    /// Kills the node with SIGKILL: no shutdown, no flush.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL");
            child.wait().expect("reaped");
        }
    }

    /// Stops the node with SIGTERM and waits for it to finish.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            child.wait().expect("reaped");
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A running Gridwork server: one node on its own data directory
/// ([`Backend::Sqlite`]), or nodes on one PostgreSQL database behind a
/// round-robin proxy ([`Backend::Postgres`]).
pub struct Server {
    pub data: tempfile::TempDir,
    /// Where clients reach it: the one node, or the proxy.
    pub url: String,
    pub admin_token: String,
    pub backend: Backend,
    /// The PostgreSQL database's address ([`Backend::Postgres`]).
    pub database: Option<String>,
    pub nodes: Vec<Node>,
    proxy: Option<cluster::Proxy>,
    /// Extra arguments to `serve` (limits, timeouts).
    serve_args: Vec<String>,
    /// The descriptor limit `serve` runs under, if not the test's own.
    nofile: Option<u64>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("url", &self.url)
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

fn json_of(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

impl Server {
    /// Initialises a data directory and serves it, on the embedded
    /// database.
    pub fn start() -> Server {
        Server::start_on(Backend::Sqlite)
    }

    /// A new server on `backend`.
    pub fn start_on(backend: Backend) -> Server {
        Server::start_with(backend, &[], None)
    }

    /// `nodes` nodes on one new PostgreSQL database, behind the proxy.
    pub fn cluster(nodes: usize) -> Server {
        Server::init_and_serve(Backend::Postgres, nodes, &[], &[], None).0
    }

    /// A server loaded with the demo city (`init --demo`), and the demo's
    /// summary (`workers`, each with `user_id`, `grid` and `name`).
    pub fn start_demo() -> (Server, Value) {
        let (server, init) = Server::init_and_serve(Backend::Sqlite, 1, &["--demo"], &[], None);
        (server, init["demo"].clone())
    }

    /// A server on `backend` with extra arguments to `serve`, and under a
    /// descriptor limit (`prlimit --nofile`) when one is given.
    pub fn start_with(backend: Backend, serve_args: &[&str], nofile: Option<u64>) -> Server {
        let nodes = match backend {
            Backend::Sqlite => 1,
            Backend::Postgres => 2,
        };
        Server::init_and_serve(backend, nodes, &[], serve_args, nofile).0
    }

    fn init_and_serve(
        backend: Backend,
        nodes: usize,
        init_args: &[&str],
        serve_args: &[&str],
        nofile: Option<u64>,
    ) -> (Server, Value) {
        let data = tempfile::tempdir().expect("temporary directory");
        let database = (backend == Backend::Postgres).then(cluster::new_database);
        let mut command = Command::new(bin("gridwork-server"));
        command.args(["init", "--data"]).arg(data.path()).args(init_args);
        if let Some(database) = &database {
            command.args(["--database", database]);
        }
        let output = command.output().expect("gridwork-server init runs");
        assert!(output.status.success(), "init failed: {}", String::from_utf8_lossy(&output.stderr));
        let init = json_of(&output);
        let admin_token = init["admin_token"].as_str().expect("an admin token").to_owned();
        let mut server = Server {
            data,
            url: String::new(),
            admin_token,
            backend,
            database,
            nodes: (0..nodes).map(|_| Node { url: String::new(), child: None }).collect(),
            proxy: None,
            serve_args: serve_args.iter().map(|a| (*a).to_owned()).collect(),
            nofile,
        };
        server.serve();
        (server, init)
    }

    /// Starts every node that is not running, each on its address of
    /// before if it had one, so devices find the server where they left
    /// it.
    pub fn serve(&mut self) {
        for node in self.nodes.iter_mut().filter(|n| n.child.is_none()) {
            node.serve(self.data.path(), self.database.as_deref(), &self.serve_args, self.nofile);
        }
        self.url = match self.backend {
            Backend::Sqlite => self.nodes[0].url.clone(),
            Backend::Postgres => {
                let nodes = self.nodes.iter().map(|n| n.url.clone()).collect();
                self.proxy.get_or_insert_with(|| cluster::Proxy::start(nodes)).url.clone()
            }
        };
    }

    /// The first node's own address (`127.0.0.1:PORT`), for tests that
    /// speak raw TCP or measure one process: a proxy would read each
    /// request whole before a node saw it.
    pub fn node_address(&self) -> String {
        self.nodes[0].url.trim_start_matches("http://").to_owned()
    }

    /// The first node's process id.
    pub fn pid(&self) -> u32 {
        self.nodes[0].pid()
    }

    /// A line of the first node's `/proc/PID/status`, in kB (`VmRSS`,
    /// `VmHWM`).
    pub fn status_kib(&self, key: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("/proc readable");
        status
            .lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {key} in /proc status"))
    }

    /// How many descriptors the first node has open.
    pub fn open_descriptors(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid())).map(|d| d.count()).unwrap_or(0)
    }

    /// Kills every node with SIGKILL: no shutdown, no flush.
    pub fn kill(&mut self) {
        self.nodes.iter_mut().for_each(Node::kill);
    }

    /// Stops every node with SIGTERM and waits for them to finish.
    pub fn stop(&mut self) {
        self.nodes.iter_mut().for_each(Node::stop);
    }

    /// How many bytes the database takes: the embedded database's files,
    /// or PostgreSQL's `pg_database_size`.
    pub fn database_bytes(&self) -> u64 {
        match self.backend {
            Backend::Sqlite => ["gridwork.db", "gridwork.db-wal"]
                .iter()
                .map(|f| std::fs::metadata(self.data.path().join(f)).map_or(0, |m| m.len()))
                .sum(),
            Backend::Postgres => {
                self.sql("SELECT pg_database_size(current_database())").parse().expect("a size")
            }
        }
    }

    /// Runs SQL on the database, returning its rows as psql prints them
    /// unaligned (`|` between columns, a line a row); the embedded
    /// database is read through its own file, read-only.
    pub fn sql(&self, query: &str) -> String {
        let Some(database) = self.database.as_deref() else {
            let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
            let db = rusqlite::Connection::open_with_flags(self.data.path().join("gridwork.db"), flags)
                .expect("the embedded database opens");
            let mut statement = db.prepare(query).unwrap_or_else(|e| panic!("{query}: {e}"));
            let columns = statement.column_count();
            let rows = statement
                .query_map([], |row| {
                    (0..columns)
                        .map(|i| {
                            Ok(match row.get_ref(i)? {
                                rusqlite::types::ValueRef::Null => String::new(),
                                rusqlite::types::ValueRef::Integer(n) => n.to_string(),
                                rusqlite::types::ValueRef::Real(x) => x.to_string(),
                                rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
                                    String::from_utf8_lossy(t).into_owned()
                                }
                            })
                        })
                        .collect::<rusqlite::Result<Vec<_>>>()
                        .map(|columns| columns.join("|"))
                })
                .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                .unwrap_or_else(|e| panic!("{query}: {e}"));
            return rows.join("\n");
        };
        let output = Command::new("psql").arg(database).args(["-qAtc", query]).output().expect("psql runs");
        assert!(output.status.success(), "{query}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).expect("UTF-8").trim().to_owned()
    }

    /// Backs the database up to `file`, while serving: `gridwork-server
    /// backup`, or `pg_dump -Fc` (docs/operations.md).
    pub fn backup_to(&self, file: &Path) {
        match &self.database {
            None => {
                self.admin_command(&["backup", "--to", file.to_str().expect("UTF-8 path")]);
            }
            Some(database) => {
                let output = Command::new("pg_dump")
                    .args(["-Fc", "-d", database, "-f"])
                    .arg(file)
                    .output()
                    .expect("pg_dump runs");
                assert!(output.status.success(), "pg_dump: {}", String::from_utf8_lossy(&output.stderr));
            }
        }
    }

    /// Restores the backup in `file` with every node stopped, as
    /// docs/operations.md tells: `gridwork-server restore --from FILE`, or
    /// the database dropped, created empty, `pg_restore`d and then
    /// `gridwork-server restore --database URL`. The answer of `restore`.
    pub fn restore_from(&self, file: &Path) -> Value {
        let Some(database) = &self.database else {
            return self.admin_command(&["restore", "--from", file.to_str().expect("UTF-8 path")]);
        };
        let (server, name) = database.rsplit_once('/').expect("a database name");
        for statement in [format!("DROP DATABASE {name}"), format!("CREATE DATABASE {name}")] {
            let output = Command::new("psql")
                .arg(format!("{server}/postgres"))
                .args(["-qc", &statement])
                .output()
                .expect("psql runs");
            assert!(output.status.success(), "{statement}: {}", String::from_utf8_lossy(&output.stderr));
        }
        let output =
            Command::new("pg_restore").args(["-d", database]).arg(file).output().expect("pg_restore runs");
        assert!(output.status.success(), "pg_restore: {}", String::from_utf8_lossy(&output.stderr));
        self.admin_command(&["restore"])
    }

    /// `gridwork admin` through node `n` itself.
    pub fn admin_on(&self, n: usize, args: &[&str]) -> Value {
        let output = gridwork(
            &[&["admin", "--server", &self.nodes[n].url, "--token", &self.admin_token], args].concat(),
        );
        assert!(output.status.success(), "admin {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        json_of(&output)
    }

    /// `gridwork-server SUBCOMMAND ... --data DIR [--database URL]`
    /// (backup, restore).
    pub fn admin_command(&self, args: &[&str]) -> Value {
        let mut command = Command::new(bin("gridwork-server"));
        command.args(args).arg("--data").arg(self.data.path());
        if let Some(database) = &self.database {
            command.args(["--database", database]);
        }
        let output = command.output().expect("runs");
        assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        json_of(&output)
    }

    /// `gridwork admin --server URL --token TOKEN ARGS...`, which must
    /// succeed.
    pub fn admin(&self, args: &[&str]) -> Value {
        let output =
            gridwork(&[&["admin", "--server", &self.url, "--token", &self.admin_token], args].concat());
        assert!(output.status.success(), "admin {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        json_of(&output)
    }

    /// Runs a `gridwork admin` command that must fail; what it said.
    pub fn admin_refused(&self, args: &[&str]) -> String {
        let output =
            gridwork(&[&["admin", "--server", &self.url, "--token", &self.admin_token], args].concat());
        let said = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(
            !output.status.success(),
            "admin {args:?} succeeded: {}",
            String::from_utf8_lossy(&output.stdout)
        );
        said
    }

    /// Adds a grid.
    pub fn grid(&self, code: &str, name: &str, parent: Option<&str>) {
        let mut args = vec!["grid", "add", "--code", code, "--name", name];
        if let Some(parent) = parent {
            args.extend(["--parent", parent]);
        }
        self.admin(&args);
    }

    /// Adds a worker for `grids` and returns a fresh enrollment code.
    pub fn worker(&self, name: &str, grids: &[&str]) -> (String, String) {
        let mut args = vec!["user", "add", "--name", name, "--role", "worker"];
        for grid in grids {
            args.extend(["--grid", grid]);
        }
        let id = self.admin(&args)["id"].as_str().expect("a user id").to_owned();
        let code = self.enroll_code(&id);
        (id, code)
    }

    /// A new worker of `grids` and their headless device, enrolled and
    /// synced once, its database `dir/FILE.db`.
    pub fn enrolled(&self, dir: &Path, file: &str, worker: &str, grids: &[&str]) -> CliDevice {
        let (_, code) = self.worker(worker, grids);
        let device = CliDevice::new(dir, file);
        device.enroll(self, &code);
        device.sync();
        device
    }

    pub fn enroll_code(&self, user_id: &str) -> String {
        self.admin(&["enroll-code", "--user", user_id])["code"].as_str().expect("a code").to_owned()
    }

    /// A small city: 3307 → 330702 → 330702001 → communities C1 and C2,
    /// each with unit grids.
    pub fn city(&self) {
        self.grid("3307", "金华市", None);
        self.grid("330702", "婺城区", Some("3307"));
        self.grid("330702001", "城东街道", Some("330702"));
        self.grid("C1", "东苑社区", Some("330702001"));
        self.grid("C1-01", "东苑社区第一网格", Some("C1"));
        self.grid("C1-02", "东苑社区第二网格", Some("C1"));
        self.grid("C2", "西山社区", Some("330702001"));
        self.grid("C2-01", "西山社区第一网格", Some("C2"));
    }
}

/// Runs `gridwork ARGS...`.
pub fn gridwork(args: &[&str]) -> Output {
    Command::new(bin("gridwork")).args(args).env_remove("GRIDWORK_TOKEN").output().expect("gridwork runs")
}

/// The token and device number a device database was enrolled with.
pub fn session_of(db: &Path) -> (String, gridwork_domain::DeviceId) {
    let clock = std::sync::Arc::new(gridwork_store::SystemClock);
    let store = gridwork_store::Store::open(db, gridwork_store::Role::Device, clock).expect("opens");
    let token = store.session().expect("reads").expect("enrolled").token;
    (token, store.device_id().expect("reads").expect("numbered"))
}

/// A headless device: `gridwork device --db FILE ...`.
#[derive(Debug)]
pub struct CliDevice {
    pub db: PathBuf,
    /// Runs the command under `faketime` with this offset when set.
    pub faketime: Option<String>,
}

impl CliDevice {
    pub fn new(dir: &Path, name: &str) -> CliDevice {
        CliDevice { db: dir.join(format!("{name}.db")), faketime: None }
    }

    /// Runs a device command; returns its output whatever the status.
    pub fn try_run(&self, args: &[&str]) -> Output {
        let db = self.db.to_str().expect("UTF-8 path");
        let full = [&["device", "--db", db], args].concat();
        match &self.faketime {
            Some(offset) => Command::new("faketime")
                .arg(offset)
                .arg(bin("gridwork"))
                .args(&full)
                .output()
                .expect("faketime runs (Debian package faketime)"),
            None => gridwork(&full),
        }
    }

    /// Runs a device command that must succeed, returning its JSON.
    pub fn run(&self, args: &[&str]) -> Value {
        let output = self.try_run(args);
        assert!(
            output.status.success(),
            "device {args:?} failed: {}{}",
            String::from_utf8_lossy(&output.stderr),
            String::from_utf8_lossy(&output.stdout)
        );
        json_of(&output)
    }

    pub fn enroll(&self, server: &Server, code: &str) -> Value {
        self.run(&["enroll", "--server", &server.url, "--code", code])
    }

    pub fn sync(&self) -> Value {
        self.run(&["sync"])
    }

    /// The device's token, as the server knows it.
    pub fn token(&self) -> String {
        session_of(&self.db).0
    }

    pub fn put(&self, kind: &str, id: Option<&str>, fields: &[&str]) -> String {
        let mut args = vec!["put", kind];
        if let Some(id) = id {
            args.extend(["--id", id]);
        }
        args.extend(fields);
        self.run(&args)["id"].as_str().expect("an id").to_owned()
    }

    pub fn get(&self, kind: &str, id: &str) -> Value {
        self.run(&["get", kind, id])
    }

    pub fn list(&self, kind: &str) -> Vec<Value> {
        self.run(&["list", kind]).as_array().expect("a list").clone()
    }
}

/// A console client: a login's token, and JSON calls with it.
#[derive(Debug)]
pub struct Console {
    pub url: String,
    pub token: String,
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
}

impl Console {
    pub fn login(server: &Server, name: &str, password: &str) -> Console {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let client = reqwest::Client::new();
        let answer: Value = runtime.block_on(async {
            client
                .post(format!("{}/api/v1/login", server.url))
                .header("x-gridwork-protocol", "1")
                .json(&json!({"name": name, "password": password}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap()
        });
        let token = answer["token"].as_str().unwrap_or_else(|| panic!("{name} logs in: {answer}")).to_owned();
        Console { url: server.url.clone(), token, runtime, client }
    }

    /// A client calling with any token (a device's, to see it refused).
    pub fn with_token(server: &Server, token: &str) -> Console {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        Console { url: server.url.clone(), token: token.to_owned(), runtime, client: reqwest::Client::new() }
    }

    pub fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.runtime.block_on(async {
            let mut request = self
                .client
                .request(method, format!("{}/api/v1{path}", self.url))
                .header("x-gridwork-protocol", "1")
                .bearer_auth(&self.token);
            if let Some(body) = body {
                request = request.json(&body);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json().await.unwrap_or(Value::Null))
        })
    }

    /// A file the API answers (an export): the status and the bytes.
    pub fn download(&self, path: &str) -> (u16, Vec<u8>) {
        self.runtime.block_on(async {
            let response = self
                .client
                .get(format!("{}/api/v1{path}", self.url))
                .header("x-gridwork-protocol", "1")
                .bearer_auth(&self.token)
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.bytes().await.unwrap().to_vec())
        })
    }

    pub fn get(&self, path: &str) -> Value {
        let (status, body) = self.call(reqwest::Method::GET, path, None);
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    pub fn step(&self, case: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, &format!("/cases/{case}/steps"), Some(body))
    }

    pub fn must_step(&self, case: &str, body: Value) -> Value {
        let (status, answer) = self.step(case, body.clone());
        assert_eq!(status, 200, "{body}: {answer}");
        answer
    }
}

/// Adds a department with the CLI.
pub fn department(server: &Server, code: &str, zh: &str, en: &str) {
    let added = server.admin(&["department", "add", "--code", code, "--name-zh", zh, "--name-en", en]);
    assert_eq!(added["code"], code);
}

/// Adds a person who logs in at the console with the password `correct horse`.
pub fn person(server: &Server, name: &str, role: &str, extra: &[&str]) {
    let mut args = vec!["user", "add", "--name", name, "--role", role, "--password", "correct horse"];
    args.extend(extra);
    server.admin(&args);
}

/// The first sheet of an XLSX export, as text; no cell may be a formula.
pub fn xlsx_rows(bytes: &[u8]) -> Vec<Vec<String>> {
    use calamine::Reader;
    let mut book = calamine::Xlsx::new(std::io::Cursor::new(bytes.to_vec())).expect("an XLSX file");
    let name = book.sheet_names()[0].clone();
    let formulas = book.worksheet_formula(&name).expect("readable");
    assert!(formulas.used_cells().all(|(_, _, f)| f.is_empty()), "an exported cell is a formula");
    let sheet = book.worksheet_range(&name).expect("readable");
    sheet.rows().map(|row| row.iter().map(|cell| cell.to_string()).collect()).collect()
}
