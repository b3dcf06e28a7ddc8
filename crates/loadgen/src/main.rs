//! `gridwork-loadgen`: thousands of simulated devices syncing against a real
//! `gridwork-server`, as fast as it takes them.
//!
//! It starts the server binary that sits beside it (a fresh data directory,
//! a loopback port), draws a city of unit grids, enrolls one worker's device
//! per slot, and then has every device sync a few times: push a few new
//! residents of its grid, pull what changed in its grid. It reports
//! sustained syncs per second, the latency of one sync (push + pull), and
//! the server's memory, read from `/proc`.
//!
//! The devices speak the real protocol through the client library's
//! [`Http`], without a local database each: the load is the server's.
//!
//! Run: `cargo build --release -p gridwork-server -p gridwork-loadgen &&
//! target/release/gridwork-loadgen --devices 3000`.
//!
//! # Hostile mode
//!
//! `--hostile ATTACK` shows whether honest devices keep syncing while ONE
//! attacker does its worst. For each attack the program starts a fresh
//! server, sets up the city and the honest devices as above, and enrolls the
//! attacker: a worker of a unit grid of its own (no honest device's) with
//! its own device. Then the honest load runs twice against that server:
//! quiet, then with the attacker running for the whole round (on a thread
//! of its own, started a few seconds before the round so that it is in
//! full swing; stopped, its connections closed, once the round ends). In
//! hostile mode a round lasts at least `--round-secs` (30 by default;
//! devices sync past `--rounds` until it has), an honest sync that fails
//! is counted rather than fatal, and one table shows both rows of each
//! attack: syncs, p50 and p99, p99 against the quiet row of the same
//! server, failed honest syncs, and the server's peak memory and open
//! descriptors (`/proc`), the growth of its database (`gridwork.db` and
//! its WAL) and the unfinished uploads on its disk (`attachments/partial`).
//! Under the table, what the attacker's requests got, counted by outcome.
//! The attacker connects from 127.0.0.2, the honest devices from
//! 127.0.0.1: as from machines of their own (the server caps connections
//! per address). ATTACK is one of:
//!
//! - `none` (the default): no attacker, the single table above.
//! - `writer`: before the round, the attacker uploads 200 small photos,
//!   pushes 120 cases of its grid listing 1,000 random digests each, then a
//!   case listing the 200 photos. During it, it pushes 60 new cases listing
//!   the 200 photos, again and again, as fast as the answers come: each
//!   push makes the server check 12,000 listed photos inside its one
//!   writer.
//! - `idle`: as many TCP connections as the load generator may open (up
//!   to `--idle-connections`, within its descriptor limit, raised to the
//!   hard limit), sending nothing; one the server closes is opened again
//!   (checked every second). Beside them, 300 connections that send a
//!   request's headers one byte a second.
//! - `bodies`: 300 connections each sending `POST /api/v1/login` with
//!   `Content-Length: 1048576` and a mebibyte of body (less a byte), and 50
//!   sending upload chunks of nearly 4 MiB with the attacker's token; each
//!   opened again once the server answers or closes it.
//! - `parked`: pushes of 200 cases of an honest device's grid (out of the
//!   attacker's scope, so refused and parked for the centre) with
//!   5,000-character descriptions, again and again.
//! - `uploads`: new 20 MiB uploads, each sending a first chunk of 1 MiB,
//!   again and again; the server refuses them (429 `upload_quota`) once the
//!   attacker holds its quota of unfinished uploads.
//! - `all`: each of the five in turn, each on a fresh server.
//!
//! Run: `target/release/gridwork-loadgen --hostile all --devices 1000`.

use gridwork_protocol::admin::{NewEnrollmentCode, NewGrid, NewUser, Role};
use std::collections::BTreeMap;
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use clap::Parser;
use gridwork_client::{Admin, ClientError, Http};
use gridwork_domain::{DeviceId, Kind, RecordId, Value};
use gridwork_merge::{Hlc, Register};
use gridwork_protocol::sync::{
    EnrollRequest, EnrollResponse, ErrorBody, PullRequest, PullResponse, PushRequest, PushResponse,
};
use gridwork_protocol::{FieldState, RecordChanges};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

#[derive(Parser)]
#[command(about = "Simulated devices syncing against a real gridwork-server")]
struct Args {
    /// Simulated devices, each a worker of one unit grid.
    #[arg(long, default_value_t = 3000)]
    devices: usize,
    /// Unit grids the devices are spread over.
    #[arg(long, default_value_t = 300)]
    grids: usize,
    /// Syncs per device (with --hostile: at least, see --round-secs).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// New residents pushed per sync.
    #[arg(long, default_value_t = 3)]
    changes: usize,
    /// Syncs in flight at once.
    #[arg(long, default_value_t = 128)]
    concurrency: usize,
    /// The server binary; by default the one beside this program.
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Runs the honest load quiet and then beside one attacker (see the
    /// program's documentation); `all` runs each attack on a fresh server.
    #[arg(long, value_enum, default_value_t = Hostile::None)]
    hostile: Hostile,
    /// With --hostile: each round lasts at least this many seconds, devices
    /// syncing past --rounds until it has.
    #[arg(long, default_value_t = 30)]
    round_secs: u64,
    /// With --hostile idle: idle connections the attacker holds at most
    /// (fewer if this program's descriptor limit is lower).
    #[arg(long, default_value_t = 15_000)]
    idle_connections: usize,
    /// An empty PostgreSQL database to run the server on instead of the
    /// embedded one (`postgres://USER@HOST:PORT/DB`). Server CPU then
    /// includes the database's processes.
    #[arg(long)]
    database: Option<String>,
    /// Server nodes on the database (with --database); devices are spread
    /// over them.
    #[arg(long, default_value_t = 1)]
    nodes: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Hostile {
    None,
    Writer,
    Idle,
    Bodies,
    Parked,
    Uploads,
    All,
}

/// One attack of hostile mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Attack {
    Writer,
    Idle,
    Bodies,
    Parked,
    Uploads,
}

impl Hostile {
    /// The attacks to run, in order; `None` without an attacker.
    fn attacks(self) -> Option<Vec<Attack>> {
        Some(match self {
            Hostile::None => return None,
            Hostile::Writer => vec![Attack::Writer],
            Hostile::Idle => vec![Attack::Idle],
            Hostile::Bodies => vec![Attack::Bodies],
            Hostile::Parked => vec![Attack::Parked],
            Hostile::Uploads => vec![Attack::Uploads],
            Hostile::All => {
                vec![Attack::Writer, Attack::Idle, Attack::Bodies, Attack::Parked, Attack::Uploads]
            }
        })
    }
}

impl Attack {
    fn name(self) -> &'static str {
        match self {
            Attack::Writer => "writer",
            Attack::Idle => "idle",
            Attack::Bodies => "bodies",
            Attack::Parked => "parked",
            Attack::Uploads => "uploads",
        }
    }
}

/// CPU seconds used by every running PostgreSQL process (named
/// `postgres`), from /proc.
fn postgres_cpu_seconds() -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0.0 };
    entries
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit())))
        .filter(|e| std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == "postgres"))
        .map(|e| cpu_seconds(&e.path().join("stat").to_string_lossy()))
        .sum()
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

struct ServerProcess {
    child: Child,
    /// Further nodes on the same database.
    others: Vec<(Child, String)>,
    url: String,
    token: String,
    data: tempfile::TempDir,
    /// Whether the database is PostgreSQL (its CPU is counted as the
    /// server's).
    postgres: bool,
}

impl ServerProcess {
    fn start_on(binary: &Path, database: Option<&str>, nodes: usize) -> Result<ServerProcess> {
        let data = tempfile::tempdir()?;
        let on_database: Vec<&str> = database.map(|url| vec!["--database", url]).unwrap_or_default();
        let init = Command::new(binary)
            .args(["init", "--data"])
            .arg(data.path())
            .args(&on_database)
            .output()
            .context("running gridwork-server init")?;
        if !init.status.success() {
            bail!("init failed: {}", String::from_utf8_lossy(&init.stderr));
        }
        let token = serde_json::from_slice::<serde_json::Value>(&init.stdout)?["admin_token"]
            .as_str()
            .context("a token")?
            .to_owned();
        let serve = || -> Result<(Child, String)> {
            let mut child = Command::new(binary)
                .args(["serve", "--listen", "127.0.0.1:0", "--data"])
                .arg(data.path())
                .args(&on_database)
                .env("GRIDWORK_LOG", "warn")
                .stdout(Stdio::piped())
                .spawn()
                .context("starting gridwork-server")?;
            let mut line = String::new();
            BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line)?;
            let address: serde_json::Value = serde_json::from_str(&line)?;
            Ok((child, format!("http://{}", address["listening"].as_str().context("an address")?)))
        };
        let (child, url) = serve()?;
        let others = (1..nodes.max(1)).map(|_| serve()).collect::<Result<_>>()?;
        Ok(ServerProcess { child, others, url, token, data, postgres: database.is_some() })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The address of the node device `d` syncs with.
    fn node_for(&self, d: usize) -> String {
        match d % (self.others.len() + 1) {
            0 => self.url.clone(),
            n => self.others[n - 1].1.clone(),
        }
    }

    /// CPU seconds the server has used (user + system), from /proc: every
    /// node's, and PostgreSQL's when it runs on it.
    fn cpu_seconds(&self) -> f64 {
        let nodes: f64 = std::iter::once(self.pid())
            .chain(self.others.iter().map(|(child, _)| child.id()))
            .map(|pid| cpu_seconds(&format!("/proc/{pid}/stat")))
            .sum();
        nodes + if self.postgres { postgres_cpu_seconds() } else { 0.0 }
    }

    /// Resident memory now and at its peak, in MiB, from /proc.
    fn memory(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        let field = |name: &str| status_kib(&status, name).map_or(0.0, |kb| kb as f64 / 1024.0);
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// Bytes of the database file and of its write-ahead log.
    fn database_files(&self) -> (u64, u64) {
        let size = |f: &str| std::fs::metadata(self.data.path().join(f)).map_or(0, |m| m.len());
        (size("gridwork.db"), size("gridwork.db-wal"))
    }

    /// Bytes of the database and its write-ahead log together.
    fn database_bytes(&self) -> u64 {
        let (db, wal) = self.database_files();
        db + wal
    }

    /// Bytes of unfinished uploads on disk.
    fn partial_upload_bytes(&self) -> u64 {
        directory_bytes(&self.data.path().join("attachments").join("partial"))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        for child in std::iter::once(&mut self.child).chain(self.others.iter_mut().map(|(child, _)| child)) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// CPU seconds (user + system) from a `/proc/.../stat` file.
fn cpu_seconds(stat: &str) -> f64 {
    let stat = std::fs::read_to_string(stat).unwrap_or_default();
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of stat; here 11 and 12.
    (ticks(11) + ticks(12)) / 100.0
}

/// A `/proc/PID/status` field in kB.
fn status_kib(status: &str, name: &str) -> Option<u64> {
    status
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
}

/// The sizes of the files under `dir`, summed; 0 if it does not exist.
fn directory_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(m) if m.is_dir() => directory_bytes(&entry.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Samples the server's resident memory (every 50 ms) and open descriptors
/// (every 200 ms) on a thread of its own, until finished.
struct Sampler {
    running: Arc<AtomicBool>,
    rss_kib: Arc<AtomicU64>,
    descriptors: Arc<AtomicUsize>,
    thread: std::thread::JoinHandle<()>,
}

impl Sampler {
    fn start(pid: u32) -> Sampler {
        let running = Arc::new(AtomicBool::new(true));
        let rss_kib = Arc::new(AtomicU64::new(0));
        let descriptors = Arc::new(AtomicUsize::new(0));
        let thread = {
            let (running, rss_kib, descriptors) = (running.clone(), rss_kib.clone(), descriptors.clone());
            std::thread::spawn(move || {
                let mut tick = 0u64;
                while running.load(Ordering::Relaxed) {
                    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
                    if let Some(kb) = status_kib(&status, "VmRSS:") {
                        rss_kib.fetch_max(kb, Ordering::Relaxed);
                    }
                    if tick.is_multiple_of(4)
                        && let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd"))
                    {
                        descriptors.fetch_max(fds.count(), Ordering::Relaxed);
                    }
                    tick += 1;
                    std::thread::sleep(Duration::from_millis(50));
                }
            })
        };
        Sampler { running, rss_kib, descriptors, thread }
    }

    /// Stops sampling: the peak resident memory in MiB, the peak count of
    /// open descriptors.
    fn finish(self) -> (f64, usize) {
        self.running.store(false, Ordering::Relaxed);
        let _ = self.thread.join();
        (self.rss_kib.load(Ordering::Relaxed) as f64 / 1024.0, self.descriptors.load(Ordering::Relaxed))
    }
}

/// One simulated device.
struct SimDevice {
    http: Http,
    number: DeviceId,
    grid: String,
    cursor: u64,
    scope_hash: String,
    counter: u64,
    made: u64,
}

impl SimDevice {
    /// One sync: push `changes` new residents, then pull to the end.
    async fn sync(&mut self, changes: usize) -> Result<()> {
        let now = now_ms();
        let records = (0..changes)
            .map(|_| {
                self.made += 1;
                let mut random = [0u8; 10];
                random[..4].copy_from_slice(&self.number.0.to_be_bytes());
                random[4..].copy_from_slice(&self.made.to_be_bytes()[2..]);
                let fields = [
                    ("grid", self.grid.clone()),
                    ("name", format!("居民{}-{}", self.number.0, self.made)),
                    ("room", format!("{}-101", self.made)),
                ]
                .into_iter()
                .map(|(field, value)| FieldState {
                    field: field.into(),
                    register: Register::first_write(Value::from(value), self.number, Hlc::new(now, 0)),
                })
                .collect();
                RecordChanges { id: RecordId::from_parts(now, random), kind: Kind::Resident, fields }
            })
            .collect();
        self.counter += 1;
        let push = PushRequest { up_to_counter: self.counter, pending: 0, records };
        let (answer, _): (PushResponse, u64) = self.http.sync_call("/sync/push", &push).await?;
        if !answer.rejected.is_empty() {
            bail!("the server refused: {:?}", answer.rejected[0]);
        }
        let mut after = self.cursor;
        loop {
            let pull =
                PullRequest { cursor: self.cursor, after, limit: 1000, scope_hash: self.scope_hash.clone() };
            let (page, _): (PullResponse, u64) = self.http.sync_call("/sync/pull", &pull).await?;
            self.scope_hash = page.scope_hash;
            if !page.more {
                self.cursor = page.next_cursor;
                return Ok(());
            }
            after = page.next_cursor;
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    Some(sorted[i].as_secs_f64() * 1000.0)
}

/// Enrollments in flight at once: the server lets 64 wait for their turn
/// and tells more to come back later.
const ENROLLING: usize = 32;

/// Enrolls a new worker of `grid`: the device's token and number.
async fn enroll(
    admin: &Admin,
    client: &reqwest::Client,
    url: &str,
    name: &str,
    grid: &str,
) -> Result<(String, DeviceId)> {
    let user = NewUser {
        name: name.into(),
        role: Role::Worker,
        grids: vec![grid.into()],
        password: None,
        department: None,
    };
    let user = admin.add_user(&user).await?;
    let code = admin.enrollment_code(&NewEnrollmentCode { user_id: user.id, ttl_minutes: None }).await?;
    let anonymous = Http::with_client(client.clone(), url, None)?;
    let request = EnrollRequest {
        code: code.code,
        app_version: "loadgen".into(),
        request_id: Some(gridwork_client::enrollment_request_id()),
    };
    let (enrolled, _): (EnrollResponse, u64) = anonymous.sync_call("/enroll", &request).await?;
    Ok((enrolled.token, enrolled.device_number))
}

fn grid_of(code: String, name: String, parent: Option<&str>, level: Option<&str>) -> NewGrid {
    NewGrid { code, name, parent: parent.map(str::to_owned), level: level.map(str::to_owned) }
}

/// A started server with its city and honest devices, each synced once;
/// and the attacker's device if asked for.
struct City {
    server: ServerProcess,
    devices: Vec<SimDevice>,
    intruder: Option<Intruder>,
}

async fn set_up(args: &Args, binary: &Path, with_intruder: bool) -> Result<City> {
    let server = ServerProcess::start_on(binary, args.database.as_deref(), args.nodes)
        .with_context(|| format!("with {}", binary.display()))?;
    let admin = Admin::new(&server.url, &server.token)?;
    eprintln!("setting up {} grids and {} devices on {}", args.grids, args.devices, server.url);

    // The city: one district, ten streets, communities, unit grids.
    admin.add_grid(&grid_of("L".into(), "压测市".into(), None, None)).await?;
    admin.add_grid(&grid_of("L-1".into(), "压测区".into(), Some("L"), None)).await?;
    for s in 0..10 {
        admin.add_grid(&grid_of(format!("L-1-{s}"), format!("街道{s}"), Some("L-1"), None)).await?;
    }
    for g in 0..args.grids {
        let street = format!("L-1-{}", g % 10);
        admin
            .add_grid(&grid_of(format!("{street}-{g}"), format!("网格{g}"), Some(&street), Some("unit")))
            .await?;
    }

    // The devices, enrolled concurrently.
    let client = Http::client()?;
    let limit = Arc::new(Semaphore::new(args.concurrency));
    let enrolling = Arc::new(Semaphore::new(ENROLLING.min(args.concurrency)));
    let mut setups = Vec::new();
    let start = Instant::now();
    for d in 0..args.devices {
        let (admin, client, url) = (admin.clone(), client.clone(), server.node_for(d));
        let (limit, enrolling) = (limit.clone(), enrolling.clone());
        let grid = format!("L-1-{}-{}", (d % args.grids) % 10, d % args.grids);
        setups.push(tokio::spawn(async move {
            let _permit = limit.acquire().await?;
            let _enrolling = enrolling.acquire().await?;
            let (token, number) = enroll(&admin, &client, &url, &format!("压测网格员{d}"), &grid).await?;
            anyhow::Ok(SimDevice {
                http: Http::with_client(client, &url, Some(token))?,
                number,
                grid,
                cursor: 0,
                scope_hash: String::new(),
                counter: 0,
                made: 0,
            })
        }));
    }
    let mut devices = Vec::with_capacity(args.devices);
    for setup in setups {
        devices.push(setup.await??);
    }
    eprintln!("enrolled {} devices in {:.1} s", devices.len(), start.elapsed().as_secs_f64());

    // The attacker: a worker of a unit grid no honest device uses.
    let intruder = if with_intruder {
        let grid = format!("L-1-0-{}", args.grids);
        admin.add_grid(&grid_of(grid.clone(), "攻击者网格".into(), Some("L-1-0"), Some("unit"))).await?;
        let (token, number) = enroll(&admin, &client, &server.url, "攻击者", &grid).await?;
        Some(Intruder {
            url: server.url.clone(),
            token,
            number,
            grid,
            victim_grid: devices.first().map_or_else(|| "L-1-0-0".to_owned(), |d| d.grid.clone()),
            counter: 0,
            photos: Vec::new(),
        })
    } else {
        None
    };

    // Every device's first sync (pulls its grid's tree and records).
    for device in &mut devices {
        device.sync(0).await?;
    }
    Ok(City { server, devices, intruder })
}

/// What one round of honest syncs measured.
struct Round {
    /// Latencies of the syncs that succeeded, sorted.
    latencies: Vec<Duration>,
    errors: usize,
    /// The first honest sync that failed, and why.
    first_error: Option<String>,
    elapsed: Duration,
    server_cpu: f64,
}

/// Every device syncs `args.rounds` times, `args.concurrency` at once, and
/// keeps syncing until `at_least` has passed since the round began. With
/// `strict`, the first failed sync ends the program; otherwise failures are
/// counted.
async fn honest_round(
    server: &ServerProcess,
    devices: Vec<SimDevice>,
    args: &Args,
    limit: &Arc<Semaphore>,
    at_least: Duration,
    strict: bool,
) -> Result<(Vec<SimDevice>, Round)> {
    let cpu_before = server.cpu_seconds();
    let start = Instant::now();
    let mut runs = Vec::new();
    for mut device in devices {
        let (limit, changes, rounds) = (limit.clone(), args.changes, args.rounds);
        runs.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(rounds);
            let (mut done, mut errors, mut first_error) = (0, 0, None);
            while done < rounds || start.elapsed() < at_least {
                let _permit = limit.acquire().await?;
                if done >= rounds && start.elapsed() >= at_least {
                    break;
                }
                let began = Instant::now();
                match device.sync(changes).await {
                    Ok(()) => latencies.push(began.elapsed()),
                    Err(error) if strict => return Err(error),
                    Err(error) => {
                        errors += 1;
                        first_error.get_or_insert((Instant::now(), format!("{error:#}")));
                    }
                }
                done += 1;
            }
            anyhow::Ok((device, latencies, errors, first_error))
        }));
    }
    let mut devices = Vec::with_capacity(runs.len());
    let mut round = Round {
        latencies: Vec::new(),
        errors: 0,
        first_error: None,
        elapsed: Duration::ZERO,
        server_cpu: 0.0,
    };
    let mut first: Option<(Instant, String)> = None;
    for run in runs {
        let (device, latencies, errors, first_error) = run.await??;
        devices.push(device);
        round.latencies.extend(latencies);
        round.errors += errors;
        if let Some((at, error)) = first_error
            && first.as_ref().is_none_or(|(earliest, _)| at < *earliest)
        {
            first = Some((at, error));
        }
    }
    round.elapsed = start.elapsed();
    round.server_cpu = server.cpu_seconds() - cpu_before;
    round.first_error = first.map(|(_, error)| error);
    round.latencies.sort_unstable();
    Ok((devices, round))
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let binary = match &args.server_bin {
        Some(path) => path.clone(),
        None => std::env::current_exe()?.with_file_name("gridwork-server"),
    };
    match args.hostile.attacks() {
        None => plain(&args, &binary).await,
        Some(attacks) => hostile(&args, &binary, &attacks).await,
    }
}

/// The load without an attacker: one table.
async fn plain(args: &Args, binary: &Path) -> Result<()> {
    let City { server, devices, .. } = set_up(args, binary, false).await?;
    let (rss_before, _) = server.memory();

    // The load: every device syncs `rounds` times, `concurrency` at once.
    let limit = Arc::new(Semaphore::new(args.concurrency));
    let sampler = Sampler::start(server.pid());
    let (_, round) = honest_round(&server, devices, args, &limit, Duration::ZERO, true).await?;
    let (peak, _) = sampler.finish();
    let (_, hwm) = server.memory();
    let latencies = &round.latencies;
    let syncs = latencies.len();
    let elapsed = round.elapsed;

    let backend = match &args.database {
        None => "one node on its embedded SQLite, `synchronous=FULL`".to_owned(),
        Some(_) => format!(
            "{} node{} on one PostgreSQL (CPU: every node and the database's processes; memory: the first node)",
            args.nodes,
            if args.nodes == 1 { "" } else { "s" }
        ),
    };
    println!("\n### Load: {} devices syncing against one server\n", args.devices);
    println!(
        "Each device synced {} times; each sync pushed {} new residents and pulled its grid's changes ({} grids, so each pull brings the other devices' residents of the same grid). {} syncs in flight at once. Server: the release `gridwork-server` binary, {backend}.\n",
        args.rounds, args.changes, args.grids, args.concurrency
    );
    println!(
        "| syncs | time | syncs/s | field changes pushed/s | sync p50 ms | sync p99 ms | server CPU per sync | server RSS before / peak during / high-water MiB |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---|");
    println!(
        "| {syncs} | {:.1} s | {:.0} | {:.0} | {:.1} | {:.1} | {:.2} ms | {:.0} / {:.0} / {:.0} |",
        elapsed.as_secs_f64(),
        syncs as f64 / elapsed.as_secs_f64(),
        (syncs * args.changes * 3) as f64 / elapsed.as_secs_f64(),
        percentile(latencies, 0.5).unwrap_or(f64::NAN),
        percentile(latencies, 0.99).unwrap_or(f64::NAN),
        round.server_cpu * 1000.0 / syncs as f64,
        rss_before,
        peak,
        hwm
    );
    Ok(())
}

/// One row of the hostile table.
struct Row {
    label: String,
    round: Round,
    rss_peak_mib: f64,
    descriptors_peak: usize,
    database_growth: i64,
    /// The database file and its write-ahead log at the end, in bytes.
    database_files: (u64, u64),
    partial_bytes: u64,
    /// The quiet p99 this row is compared with.
    quiet_p99: Option<f64>,
}

/// What one attack left: its two rows and what its requests got.
struct AttackReport {
    attack: Attack,
    quiet: Row,
    attacked: Row,
    setup: Duration,
    /// CPU seconds the attacker's thread used.
    attacker_cpu: f64,
    outcomes: Vec<(String, u64)>,
}

/// The load quiet and then beside each attacker in turn, each on a fresh
/// server; one table.
async fn hostile(args: &Args, binary: &Path, attacks: &[Attack]) -> Result<()> {
    // Idle connections take descriptors: as many as the process may have.
    if let Err(error) = rlimit::increase_nofile_limit(u64::MAX) {
        eprintln!("could not raise the descriptor limit: {error}");
    }
    let started = Instant::now();
    let at_least = Duration::from_secs(args.round_secs);
    let limit = Arc::new(Semaphore::new(args.concurrency));
    let mut reports = Vec::new();
    for &attack in attacks {
        eprintln!("\n== {}: a fresh server", attack.name());
        let began = Instant::now();
        let mut city = set_up(args, binary, true).await?;
        let mut intruder = city.intruder.take().context("an attacker")?;
        prepare(attack, &mut intruder)
            .await
            .with_context(|| format!("preparing the {} attack", attack.name()))?;
        let setup = began.elapsed();

        eprintln!("{}: quiet round", attack.name());
        let before = city.server.database_bytes();
        let sampler = Sampler::start(city.server.pid());
        let devices = std::mem::take(&mut city.devices);
        let (devices, round) = honest_round(&city.server, devices, args, &limit, at_least, false).await?;
        let (rss_peak_mib, descriptors_peak) = sampler.finish();
        let quiet = Row {
            label: format!("quiet, before `{}`", attack.name()),
            quiet_p99: None,
            rss_peak_mib,
            descriptors_peak,
            database_growth: city.server.database_bytes() as i64 - before as i64,
            database_files: city.server.database_files(),
            partial_bytes: city.server.partial_upload_bytes(),
            round,
        };

        eprintln!("{}: attacked round", attack.name());
        let before = city.server.database_bytes();
        let sampler = Sampler::start(city.server.pid());
        let attacker = Attacker::launch(attack, intruder, args.idle_connections)?;
        attacker.until_ready(Duration::from_secs(20)).await;
        let (devices, round) = honest_round(&city.server, devices, args, &limit, at_least, false).await?;
        let (outcomes, attacker_cpu) = attacker.stop().await;
        // Let the server finish what the attacker left in flight.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (rss_peak_mib, descriptors_peak) = sampler.finish();
        let attacked = Row {
            label: format!("`{}`", attack.name()),
            quiet_p99: percentile(&quiet.round.latencies, 0.99),
            rss_peak_mib,
            descriptors_peak,
            database_growth: city.server.database_bytes() as i64 - before as i64,
            database_files: city.server.database_files(),
            partial_bytes: city.server.partial_upload_bytes(),
            round,
        };
        city.devices = devices;
        eprintln!(
            "{}: p99 {:.1} ms quiet, {:.1} ms attacked, {} honest errors",
            attack.name(),
            attacked.quiet_p99.unwrap_or(f64::NAN),
            percentile(&attacked.round.latencies, 0.99).unwrap_or(f64::NAN),
            attacked.round.errors
        );
        reports.push(AttackReport { attack, quiet, attacked, setup, attacker_cpu, outcomes });
    }
    print_hostile(args, &reports, started.elapsed());
    Ok(())
}

fn print_hostile(args: &Args, reports: &[AttackReport], total: Duration) {
    println!("\n### Hostile load: {} honest devices syncing beside one attacker\n", args.devices);
    println!(
        "Each attack ran against a fresh server (the release `gridwork-server` binary, default limits) with a fresh city of {} grids and {} honest devices, and one attacker enrolled as the worker of a unit grid of its own. The honest load ran twice on that server: quiet, then beside the attacker (started a few seconds before the round and stopped after it). In each round every honest device synced at least {} times and until the round had lasted {} s; each sync pushed {} new residents and pulled its grid's changes, {} syncs in flight at once. \"p99 vs quiet\" divides an attacked row's p99 by the p99 of the quiet row just above it (same server, same devices); the aim is at most 2.0x. Peaks are sampled from `/proc` every 50 ms (memory) and 200 ms (descriptors); an attacked row's peaks and database growth cover the attacker's whole run, warm-up included. Database growth is that of `gridwork.db` and `gridwork.db-wal` together; the WAL file keeps its largest size, so a round may reuse room an earlier one grew. An honest sync counts as an error once the client library has given up on it (after its retries). The attacker runs on a thread of its own, and shares the machine's cores with the server and the honest devices.\n",
        args.grids, args.devices, args.rounds, args.round_secs, args.changes, args.concurrency
    );
    println!(
        "| round | honest syncs | syncs/s | sync p50 ms | sync p99 ms | p99 vs quiet | honest sync errors | server RSS peak MiB | server descriptors peak | database + WAL growth MB | partial uploads at end MB |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let number = |v: Option<f64>| v.map_or_else(|| "–".to_owned(), |v| format!("{v:.1}"));
    for row in reports.iter().flat_map(|r| [&r.quiet, &r.attacked]) {
        let latencies = &row.round.latencies;
        let p99 = percentile(latencies, 0.99);
        let ratio = match (p99, row.quiet_p99) {
            (Some(p99), Some(quiet)) if quiet > 0.0 => {
                let ratio = p99 / quiet;
                if ratio > 2.0 { format!("**{ratio:.1}x**") } else { format!("{ratio:.1}x") }
            }
            (_, None) => "–".to_owned(),
            _ => "?".to_owned(),
        };
        println!(
            "| {} | {} | {:.0} | {} | {} | {} | {} | {:.0} | {} | {:.1} | {:.1} |",
            row.label,
            latencies.len(),
            latencies.len() as f64 / row.round.elapsed.as_secs_f64(),
            number(percentile(latencies, 0.5)),
            number(p99),
            ratio,
            row.round.errors,
            row.rss_peak_mib,
            row.descriptors_peak,
            row.database_growth as f64 / 1e6,
            row.partial_bytes as f64 / 1e6,
        );
    }
    println!();
    let mb = |bytes: u64| bytes as f64 / 1e6;
    for report in reports {
        let outcomes: Vec<String> = report.outcomes.iter().map(|(what, n)| format!("{what}: {n}")).collect();
        let (quiet, attacked) = (&report.quiet, &report.attacked);
        println!(
            "- `{}`: set up in {:.0} s. Server CPU {:.1} s in the quiet round, {:.1} s in the attacked one; the attacker's thread used {:.1} s. Database file / WAL at the end: {:.0} / {:.0} MB quiet, {:.0} / {:.0} MB attacked. The attacker's requests: {}.",
            report.attack.name(),
            report.setup.as_secs_f64(),
            quiet.round.server_cpu,
            attacked.round.server_cpu,
            report.attacker_cpu,
            mb(quiet.database_files.0),
            mb(quiet.database_files.1),
            mb(attacked.database_files.0),
            mb(attacked.database_files.1),
            if outcomes.is_empty() { "none counted".to_owned() } else { outcomes.join("; ") }
        );
        for row in [&report.quiet, &report.attacked] {
            if let Some(error) = &row.round.first_error {
                println!("  - first failed honest sync ({}): {error}", row.label);
            }
        }
    }
    println!("\nThe whole run took {:.0} s.", total.as_secs_f64());
}

/// Where the attacker connects from: another loopback address than the
/// honest devices' 127.0.0.1, as from a machine of its own (the server
/// limits connections per address).
const ATTACKER_ADDRESS: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

/// The attacker's enrolled device.
#[derive(Clone, Debug)]
struct Intruder {
    url: String,
    token: String,
    number: DeviceId,
    /// Its own unit grid, which no honest device has.
    grid: String,
    /// An honest device's grid: out of the attacker's scope.
    victim_grid: String,
    /// The last counter it pushed up to.
    counter: u64,
    /// The photos it uploaded (for `writer`), sorted.
    photos: Vec<String>,
}

impl Intruder {
    /// A connection that tries each request once: failures are counted,
    /// not retried.
    fn http(&self) -> Result<Http> {
        let client = reqwest::Client::builder()
            .local_address(ATTACKER_ADDRESS)
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .build()?;
        let mut http = Http::with_client(client, &self.url, Some(self.token.clone()))?;
        http.retry.attempts = 1;
        Ok(http)
    }

    fn address(&self) -> Result<SocketAddr> {
        Ok(self.url.trim_start_matches("http://").parse()?)
    }

    /// A push of `records`, with the next counter.
    fn push(&mut self, records: Vec<RecordChanges>) -> PushRequest {
        self.counter += 1;
        PushRequest { up_to_counter: self.counter, pending: 0, records }
    }
}

fn random_digest() -> String {
    (0..4).map(|_| format!("{:016x}", fastrand::u64(..))).collect()
}

/// A new case of `grid`, reported by `device`, listing `photos` (sorted
/// here: the server takes only sorted lists) if any.
fn case(device: DeviceId, grid: &str, mut photos: Vec<String>, description: &str) -> RecordChanges {
    let now = now_ms();
    let write = |field: &str, value: Value| FieldState {
        field: field.into(),
        register: Register::first_write(value, device, Hlc::new(now, 0)),
    };
    let mut fields = vec![
        write("grid", grid.into()),
        write("category", "public_facilities".into()),
        write("description", description.into()),
        write("status", "reported".into()),
    ];
    if !photos.is_empty() {
        photos.sort_unstable();
        photos.dedup();
        fields.push(write("attachments", Value::List(photos)));
    }
    let mut random = [0u8; 10];
    fastrand::fill(&mut random);
    RecordChanges { id: RecordId::from_parts(now, random), kind: Kind::Case, fields }
}

/// What an attack needs before its round: for `writer`, 200 stored photos
/// behind 120 cases of many digests, and a case listing them.
async fn prepare(attack: Attack, me: &mut Intruder) -> Result<()> {
    if attack != Attack::Writer {
        return Ok(());
    }
    let mut http = me.http()?;
    http.retry = gridwork_client::Retry::default();
    for i in 0..200u32 {
        let bytes = format!("photo {i} {}", fastrand::u64(..)).into_bytes();
        me.photos.push(gridwork_client::upload(&http, &bytes, gridwork_client::CHUNK, &mut |_| {}).await?);
    }
    me.photos.sort_unstable();
    for _ in 0..3 {
        let records = (0..40)
            .map(|_| case(me.number, &me.grid, (0..1000).map(|_| random_digest()).collect(), "填充"))
            .collect();
        let push = me.push(records);
        let (answer, _): (PushResponse, u64) = http.sync_call("/sync/push", &push).await?;
        if answer.applied != 40 {
            bail!("filler cases refused: {:?}", answer.rejected.first());
        }
    }
    let listed = case(me.number, &me.grid, me.photos.clone(), "二百张照片");
    let push = me.push(vec![listed]);
    let (answer, _): (PushResponse, u64) = http.sync_call("/sync/push", &push).await?;
    if answer.applied != 1 {
        bail!("the case listing the photos was refused: {:?}", answer.rejected.first());
    }
    Ok(())
}

/// Outcomes of the attacker's requests, counted by kind.
#[derive(Debug, Default)]
struct Tally(Mutex<BTreeMap<String, u64>>);

impl Tally {
    fn add(&self, what: impl Into<String>, n: u64) {
        let mut counts = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *counts.entry(what.into()).or_default() += n;
    }

    /// Keeps the largest value seen of a gauge.
    fn max(&self, what: impl Into<String>, n: u64) {
        let mut counts = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let entry = counts.entry(what.into()).or_default();
        *entry = (*entry).max(n);
    }

    fn into_counts(self) -> Vec<(String, u64)> {
        self.0.into_inner().unwrap_or_else(|p| p.into_inner()).into_iter().collect()
    }
}

/// A client error, as a short kind to count.
fn error_kind(error: &ClientError) -> String {
    match error {
        ClientError::Api { status, error } => format!("HTTP {status} {}", error.code),
        ClientError::Network(e) if e.is_timeout() => "timed out".to_owned(),
        ClientError::Network(e) if e.is_connect() => "could not connect".to_owned(),
        ClientError::Network(e) => {
            // The innermost cause: "connection reset by peer", "broken pipe"...
            let mut cause: &dyn std::error::Error = e;
            while let Some(source) = cause.source() {
                cause = source;
            }
            format!("network error ({})", cause.to_string().chars().take(60).collect::<String>())
        }
        ClientError::Decode(_) => "unreadable answer".to_owned(),
        other => format!("error: {other}"),
    }
}

/// The attacker's end of "stop now".
#[derive(Clone, Debug)]
struct Stop(watch::Receiver<bool>);

impl Stop {
    fn is_set(&self) -> bool {
        *self.0.borrow()
    }

    async fn wait(&mut self) {
        // A dropped sender means stop as well.
        let _ = self.0.wait_for(|stop| *stop).await;
    }

    /// `work`'s output, or `None` if told to stop first.
    async fn or_stop<F: Future>(&mut self, work: F) -> Option<F::Output> {
        tokio::select! {
            output = work => Some(output),
            () = self.wait() => None,
        }
    }
}

/// An attack running on a thread and runtime of its own.
struct Attacker {
    stop: watch::Sender<bool>,
    ready: Arc<AtomicBool>,
    tally: Arc<Tally>,
    /// The attack's outcome and the CPU seconds its thread used.
    thread: std::thread::JoinHandle<(Result<()>, f64)>,
}

impl Attacker {
    fn launch(attack: Attack, me: Intruder, idle_connections: usize) -> Result<Attacker> {
        let (stop, watching) = watch::channel(false);
        let ready = Arc::new(AtomicBool::new(false));
        let tally = Arc::new(Tally::default());
        let thread = {
            let (ready, tally) = (ready.clone(), tally.clone());
            std::thread::Builder::new().name(format!("attacker-{}", attack.name())).spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(runtime) => runtime,
                    Err(error) => return (Err(error.into()), 0.0),
                };
                let stop = Stop(watching);
                let outcome = runtime.block_on(async move {
                    match attack {
                        Attack::Writer => writer(me, stop, &tally, &ready).await,
                        Attack::Idle => idle(me, stop, tally, &ready, idle_connections).await,
                        Attack::Bodies => bodies(me, stop, tally, &ready).await,
                        Attack::Parked => parked(me, stop, &tally, &ready).await,
                        Attack::Uploads => uploads(me, stop, &tally, &ready).await,
                    }
                });
                drop(runtime);
                (outcome, cpu_seconds("/proc/thread-self/stat"))
            })?
        };
        Ok(Attacker { stop, ready, tally, thread })
    }

    /// Waits until the attack is in full swing (at most `limit`), then a
    /// second more.
    async fn until_ready(&self, limit: Duration) {
        let began = Instant::now();
        while !self.ready.load(Ordering::Relaxed) && !self.thread.is_finished() && began.elapsed() < limit {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    /// Stops the attack, its connections closed: what its requests got,
    /// and the CPU seconds the attacker used.
    async fn stop(self) -> (Vec<(String, u64)>, f64) {
        let Attacker { stop, tally, thread, .. } = self;
        let _ = stop.send(true);
        let cpu = match tokio::task::spawn_blocking(move || thread.join()).await {
            Ok(Ok((Ok(()), cpu))) => cpu,
            Ok(Ok((Err(error), cpu))) => {
                tally.add(format!("the attacker stopped early: {error:#}"), 1);
                cpu
            }
            Ok(Err(_)) | Err(_) => {
                tally.add("the attacker panicked", 1);
                f64::NAN
            }
        };
        (Arc::try_unwrap(tally).map(Tally::into_counts).unwrap_or_default(), cpu)
    }
}

/// Whether `error` is a failure to reach the server at all (then the
/// attacker pauses rather than spin).
fn unreachable(error: &ClientError) -> bool {
    matches!(error, ClientError::Network(e) if e.is_connect())
}

/// Counts what a push got; false if the server could not be reached.
fn count_push(tally: &Tally, outcome: Result<(PushResponse, u64), ClientError>) -> bool {
    match outcome {
        Ok((answer, _)) => {
            tally.add("pushes answered", 1);
            tally.add("cases applied", answer.applied as u64);
            for refused in &answer.rejected {
                tally.add(format!("cases refused ({})", refused.code), 1);
            }
            true
        }
        Err(error) => {
            tally.add(format!("pushes failed: {}", error_kind(&error)), 1);
            !unreachable(&error)
        }
    }
}

/// Pushes `make()` again and again until stopped.
async fn push_again_and_again(
    mut me: Intruder,
    mut stop: Stop,
    tally: &Tally,
    ready: &AtomicBool,
    make: impl Fn(&Intruder) -> Vec<RecordChanges>,
) -> Result<()> {
    let http = me.http()?;
    ready.store(true, Ordering::Relaxed);
    while !stop.is_set() {
        let records = make(&me);
        let push = me.push(records);
        let Some(outcome) = stop.or_stop(http.sync_call::<_, PushResponse>("/sync/push", &push)).await else {
            tally.add("pushes cut off by the end of the round", 1);
            break;
        };
        if !count_push(tally, outcome) {
            // Not a busy loop when the server cannot be reached.
            stop.or_stop(tokio::time::sleep(Duration::from_millis(50))).await;
        }
    }
    Ok(())
}

/// `writer`: 60 new cases listing the 200 stored photos, pushed again and
/// again.
async fn writer(me: Intruder, stop: Stop, tally: &Tally, ready: &AtomicBool) -> Result<()> {
    push_again_and_again(me, stop, tally, ready, |me| {
        (0..60).map(|_| case(me.number, &me.grid, me.photos.clone(), "重复引用")).collect()
    })
    .await
}

/// `parked`: 200 cases of an honest device's grid with 5,000-character
/// descriptions, pushed again and again: each refused and parked.
async fn parked(me: Intruder, stop: Stop, tally: &Tally, ready: &AtomicBool) -> Result<()> {
    let long = "越".repeat(5000);
    push_again_and_again(me, stop, tally, ready, |me| {
        (0..200).map(|_| case(me.number, &me.victim_grid, Vec::new(), &long)).collect()
    })
    .await
}

/// `uploads`: new 20 MiB uploads, each with a first chunk of 1 MiB, again
/// and again.
async fn uploads(me: Intruder, mut stop: Stop, tally: &Tally, ready: &AtomicBool) -> Result<()> {
    const SIZE: u64 = 20 << 20;
    let http = me.http()?;
    let chunk = vec![7u8; 1 << 20];
    ready.store(true, Ordering::Relaxed);
    while !stop.is_set() {
        let path = format!("/attachments/{}?offset=0&size={SIZE}", random_digest());
        let sent = http.raw(|h| h.builder(reqwest::Method::PUT, &path).body(chunk.clone()));
        let Some(outcome) = stop.or_stop(sent).await else {
            tally.add("uploads cut off by the end of the round", 1);
            break;
        };
        match outcome {
            Ok(response) => {
                let status = response.status().as_u16();
                let what = if response.status().is_success() {
                    format!("uploads begun: HTTP {status}")
                } else {
                    let code = response
                        .json::<ErrorBody>()
                        .await
                        .map_or_else(|_| "?".to_owned(), |b| b.error.code.to_string());
                    format!("uploads refused: HTTP {status} {code}")
                };
                tally.add(what, 1);
            }
            Err(error) => {
                tally.add(format!("uploads failed: {}", error_kind(&error)), 1);
                if unreachable(&error) {
                    stop.or_stop(tokio::time::sleep(Duration::from_millis(50))).await;
                }
            }
        }
    }
    Ok(())
}

/// A connection to `address`, trying for at most a second; failures are
/// counted under `what`. `None` when told to stop.
async fn connect(address: SocketAddr, stop: &mut Stop, tally: &Tally, what: &str) -> Option<TcpStream> {
    loop {
        let socket = async {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind(SocketAddr::new(ATTACKER_ADDRESS, 0))?;
            socket.connect(address).await
        };
        match stop.or_stop(tokio::time::timeout(Duration::from_secs(1), socket)).await? {
            Ok(Ok(stream)) => {
                tally.add(format!("{what}: opened"), 1);
                return Some(stream);
            }
            Ok(Err(error)) => {
                tally.add(format!("{what}: could not connect ({})", error.kind()), 1);
                stop.or_stop(tokio::time::sleep(Duration::from_secs(1))).await?;
            }
            Err(_) => tally.add(format!("{what}: connect timed out"), 1),
        }
    }
}

/// Whether the server has closed (or answered on) `stream`, without
/// waiting: what it did, if anything.
fn closed(stream: &TcpStream) -> Option<String> {
    let mut scratch = [0u8; 256];
    match stream.try_read(&mut scratch) {
        Ok(0) => Some("closed by the server".to_owned()),
        Ok(n) => Some(format!("answered `{}`", first_line(&scratch[..n]))),
        Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => None,
        Err(error) => Some(format!("cut off ({})", error.kind())),
    }
}

/// The status line of an HTTP answer.
fn first_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.lines().next().unwrap_or_default().chars().take(40).collect()
}

/// `idle`: as many connections as this process may open, sending nothing,
/// each opened again when the server closes it; and 300 connections
/// trickling a request's headers a byte a second.
async fn idle(
    me: Intruder,
    mut stop: Stop,
    tally: Arc<Tally>,
    ready: &AtomicBool,
    wanted: usize,
) -> Result<()> {
    const TRICKLING: usize = 300;
    let address = me.address()?;
    let descriptors = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024);
    // Leave room for the honest devices' connections and the runtime.
    let room = (descriptors as usize).saturating_sub(TRICKLING + 2048);
    let count = wanted.min(room);
    tally.max("idle: connections attempted at once", count as u64);
    let open = Arc::new(AtomicUsize::new(0));
    let mut tasks = JoinSet::new();
    for i in 0..count {
        let (stop, tally, open) = (stop.clone(), tally.clone(), open.clone());
        // Opened at about 3,000 a second, not all at once.
        let delay = Duration::from_micros(i as u64 * 333);
        tasks.spawn(hold_idle(address, delay, stop, tally, open));
    }
    for _ in 0..TRICKLING {
        tasks.spawn(trickle(address, stop.clone(), tally.clone()));
    }
    let began = Instant::now();
    loop {
        let now_open = open.load(Ordering::Relaxed);
        tally.max("idle: open at most", now_open as u64);
        if !ready.load(Ordering::Relaxed)
            && (now_open >= count * 9 / 10 || began.elapsed() > Duration::from_secs(15))
        {
            tally.max("idle: open when the honest round began", now_open as u64);
            ready.store(true, Ordering::Relaxed);
        }
        if stop.or_stop(tokio::time::sleep(Duration::from_millis(200))).await.is_none() {
            break;
        }
    }
    tally.max("idle: open at the end", open.load(Ordering::Relaxed) as u64);
    tasks.shutdown().await;
    Ok(())
}

/// Holds an idle connection, opening it again whenever the server closes it.
async fn hold_idle(
    address: SocketAddr,
    delay: Duration,
    mut stop: Stop,
    tally: Arc<Tally>,
    open: Arc<AtomicUsize>,
) {
    if stop.or_stop(tokio::time::sleep(delay)).await.is_none() {
        return;
    }
    while let Some(stream) = connect(address, &mut stop, &tally, "idle").await {
        open.fetch_add(1, Ordering::Relaxed);
        let outcome = loop {
            let pause = Duration::from_millis(900 + fastrand::u64(..200));
            if stop.or_stop(tokio::time::sleep(pause)).await.is_none() {
                break None;
            }
            if let Some(what) = closed(&stream) {
                break Some(what);
            }
        };
        open.fetch_sub(1, Ordering::Relaxed);
        match outcome {
            Some(what) => tally.add(format!("idle: {what}"), 1),
            None => return,
        }
    }
}

/// Sends a request's headers a byte a second, opening a new connection
/// whenever the server closes it.
async fn trickle(address: SocketAddr, mut stop: Stop, tally: Arc<Tally>) {
    while let Some(mut stream) = connect(address, &mut stop, &tally, "trickle").await {
        let outcome = match stream.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: ").await {
            Err(error) => Some(format!("cut off ({})", error.kind())),
            Ok(()) => loop {
                if stop.or_stop(tokio::time::sleep(Duration::from_secs(1))).await.is_none() {
                    break None;
                }
                if let Some(what) = closed(&stream) {
                    break Some(what);
                }
                if let Err(error) = stream.write_all(b"a").await {
                    break Some(format!("cut off ({})", error.kind()));
                }
            },
        };
        match outcome {
            Some(what) => tally.add(format!("trickle: {what}"), 1),
            None => return,
        }
    }
}

/// `bodies`: 300 logins of a mebibyte (less a byte) and 50 upload chunks of
/// nearly 4 MiB, each connection opened again once answered or closed.
async fn bodies(me: Intruder, mut stop: Stop, tally: Arc<Tally>, ready: &AtomicBool) -> Result<()> {
    const LOGINS: usize = 300;
    const CHUNKS: usize = 50;
    const LOGIN: usize = 1 << 20;
    const CHUNK: usize = 4 << 20;
    let address = me.address()?;
    let login_body: Arc<[u8]> = vec![b'x'; LOGIN - 1].into();
    let chunk_body: Arc<[u8]> = vec![b'x'; CHUNK - 1].into();
    let sent = Arc::new(AtomicUsize::new(0));
    let mut tasks = JoinSet::new();
    for _ in 0..LOGINS {
        let head = move || {
            format!(
                "POST /api/v1/login HTTP/1.1\r\nHost: x\r\nX-Gridwork-Protocol: 1\r\nContent-Type: application/json\r\nContent-Length: {LOGIN}\r\n\r\n"
            )
        };
        let (stop, tally, sent, body) = (stop.clone(), tally.clone(), sent.clone(), login_body.clone());
        tasks.spawn(half_sent(address, "login", head, body, stop, tally, sent));
    }
    for _ in 0..CHUNKS {
        let token = me.token.clone();
        let head = move || {
            format!(
                "PUT /api/v1/attachments/{}?offset=0&size={CHUNK} HTTP/1.1\r\nHost: x\r\nX-Gridwork-Protocol: 1\r\nAuthorization: Bearer {token}\r\nContent-Type: application/octet-stream\r\nContent-Length: {CHUNK}\r\n\r\n",
                random_digest()
            )
        };
        let (stop, tally, sent, body) = (stop.clone(), tally.clone(), sent.clone(), chunk_body.clone());
        tasks.spawn(half_sent(address, "upload chunk", head, body, stop, tally, sent));
    }
    let began = Instant::now();
    while sent.load(Ordering::Relaxed) < LOGINS + CHUNKS
        && began.elapsed() < Duration::from_secs(10)
        && !stop.is_set()
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ready.store(true, Ordering::Relaxed);
    stop.wait().await;
    tasks.shutdown().await;
    Ok(())
}

/// Sends `head()` and `body` on a connection and waits for the answer (or
/// the close), then does it again on a new connection, until stopped.
/// Counts each first body sent in `sent`.
async fn half_sent(
    address: SocketAddr,
    what: &'static str,
    head: impl Fn() -> String,
    body: Arc<[u8]>,
    mut stop: Stop,
    tally: Arc<Tally>,
    sent: Arc<AtomicUsize>,
) {
    let mut first = true;
    while let Some(mut stream) = connect(address, &mut stop, &tally, what).await {
        let attempt = async {
            stream.write_all(head().as_bytes()).await?;
            // The server may refuse early and stop reading: then the
            // answer is read below.
            let wrote = stream.write_all(&body).await;
            if first {
                sent.fetch_add(1, Ordering::Relaxed);
                first = false;
            }
            let mut answer = [0u8; 256];
            match stream.read(&mut answer).await {
                Ok(0) => Ok(match wrote {
                    Ok(()) => "closed without an answer".to_owned(),
                    Err(error) => format!("cut off while sending ({})", error.kind()),
                }),
                Ok(n) => Ok(format!("answered `{}`", first_line(&answer[..n]))),
                Err(error) => Err(error),
            }
        };
        let outcome = match stop.or_stop(attempt).await {
            None => return,
            Some(Ok(what)) => what,
            Some(Err(error)) => format!("cut off ({})", error.kind()),
        };
        tally.add(format!("{what}: {outcome}"), 1);
    }
}
