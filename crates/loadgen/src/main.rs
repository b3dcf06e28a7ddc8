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

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use clap::Parser;
use gridwork_client::{Admin, Http};
use gridwork_domain::{DeviceId, Kind, RecordId, Value};
use gridwork_merge::{Hlc, Register};
use gridwork_protocol::sync::{
    EnrollRequest, EnrollResponse, PullRequest, PullResponse, PushRequest, PushResponse,
};
use gridwork_protocol::{FieldState, RecordChanges};
use tokio::sync::Semaphore;

#[derive(Parser)]
#[command(about = "Simulated devices syncing against a real gridwork-server")]
struct Args {
    /// Simulated devices, each a worker of one unit grid.
    #[arg(long, default_value_t = 3000)]
    devices: usize,
    /// Unit grids the devices are spread over.
    #[arg(long, default_value_t = 300)]
    grids: usize,
    /// Syncs per device.
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
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

struct ServerProcess {
    child: Child,
    url: String,
    token: String,
    _data: tempfile::TempDir,
}

impl ServerProcess {
    fn start(binary: &PathBuf) -> Result<ServerProcess> {
        let data = tempfile::tempdir()?;
        let init = Command::new(binary)
            .args(["init", "--data"])
            .arg(data.path())
            .output()
            .context("running gridwork-server init")?;
        if !init.status.success() {
            bail!("init failed: {}", String::from_utf8_lossy(&init.stderr));
        }
        let token = serde_json::from_slice::<serde_json::Value>(&init.stdout)?["admin_token"]
            .as_str()
            .context("a token")?
            .to_owned();
        let mut child = Command::new(binary)
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data.path())
            .env("GRIDWORK_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .context("starting gridwork-server")?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line)?;
        let address: serde_json::Value = serde_json::from_str(&line)?;
        let url = format!("http://{}", address["listening"].as_str().context("an address")?);
        Ok(ServerProcess { child, url, token, _data: data })
    }

    /// CPU seconds the server has used (user + system), from /proc.
    fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the command name (which may hold spaces) in parentheses.
        let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        // utime and stime are fields 14 and 15 of stat; here 11 and 12.
        (ticks(11) + ticks(12)) / 100.0
    }

    /// Resident memory now and at its peak, in MiB, from /proc.
    fn memory(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
                .map_or(0.0, |kb| kb / 1024.0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let binary = match &args.server_bin {
        Some(path) => path.clone(),
        None => std::env::current_exe()?.with_file_name("gridwork-server"),
    };
    let server = ServerProcess::start(&binary).with_context(|| format!("with {}", binary.display()))?;
    let admin = Admin::new(&server.url, &server.token)?;
    eprintln!("setting up {} grids and {} devices on {}", args.grids, args.devices, server.url);

    // The city: one district, ten streets, communities, unit grids.
    admin.post("/admin/grids", &serde_json::json!({"code": "L", "name": "压测市"})).await?;
    admin.post("/admin/grids", &serde_json::json!({"code": "L-1", "name": "压测区", "parent": "L"})).await?;
    for s in 0..10 {
        admin
            .post(
                "/admin/grids",
                &serde_json::json!({"code": format!("L-1-{s}"), "name": format!("街道{s}"), "parent": "L-1"}),
            )
            .await?;
    }
    for g in 0..args.grids {
        let street = format!("L-1-{}", g % 10);
        admin.post("/admin/grids", &serde_json::json!({"code": format!("{street}-{g}"), "name": format!("网格{g}"), "parent": street, "level": "unit"})).await?;
    }

    // The devices, enrolled concurrently.
    let client = Http::client()?;
    let limit = Arc::new(Semaphore::new(args.concurrency));
    let mut setups = Vec::new();
    let start = Instant::now();
    for d in 0..args.devices {
        let (admin, client, url, limit) = (admin.clone(), client.clone(), server.url.clone(), limit.clone());
        let grid = format!("L-1-{}-{}", (d % args.grids) % 10, d % args.grids);
        setups.push(tokio::spawn(async move {
            let _permit = limit.acquire().await?;
            let user = admin
                .post(
                    "/admin/users",
                    &serde_json::json!({"name": format!("压测网格员{d}"), "role": "worker", "grids": [grid]}),
                )
                .await?;
            let code =
                admin.post("/admin/enrollment-codes", &serde_json::json!({"user_id": user["id"]})).await?;
            let anonymous = Http::with_client(client.clone(), &url, None)?;
            let request = EnrollRequest {
                code: code["code"].as_str().context("a code")?.to_owned(),
                app_version: "loadgen".into(),
                request_id: Some(gridwork_client::enrollment_request_id()),
            };
            let (enrolled, _): (EnrollResponse, u64) = anonymous.sync_call("/enroll", &request).await?;
            anyhow::Ok(SimDevice {
                http: Http::with_client(client, &url, Some(enrolled.token))?,
                number: enrolled.device_number,
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
    // Every device's first sync (pulls its grid's tree and records).
    for device in &mut devices {
        device.sync(0).await?;
    }
    let (rss_before, _) = server.memory();

    // The load: every device syncs `rounds` times, `concurrency` at once.
    let peak = Arc::new(AtomicU64::new(0));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, sampling) = (peak.clone(), sampling.clone());
        let pid = server.child.id();
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
                if let Some(kb) = status
                    .lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse::<u64>().ok())
                {
                    peak.fetch_max(kb, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let cpu_before = server.cpu_seconds();
    let start = Instant::now();
    let mut runs = Vec::new();
    for mut device in devices {
        let (limit, changes, rounds) = (limit.clone(), args.changes, args.rounds);
        runs.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(rounds);
            for _ in 0..rounds {
                let _permit = limit.acquire().await?;
                let began = Instant::now();
                device.sync(changes).await?;
                latencies.push(began.elapsed());
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for run in runs {
        latencies.extend(run.await??);
    }
    let elapsed = start.elapsed();
    let server_cpu = server.cpu_seconds() - cpu_before;
    sampling.store(false, Ordering::Relaxed);
    sampler.await?;
    latencies.sort_unstable();
    let (_, hwm) = server.memory();
    let syncs = latencies.len();

    println!("\n### Load: {} devices syncing against one server\n", args.devices);
    println!(
        "Each device synced {} times; each sync pushed {} new residents and pulled its grid's changes ({} grids, so each pull brings the other devices' residents of the same grid). {} syncs in flight at once. Server: the release `gridwork-server` binary, embedded SQLite, `synchronous=FULL`.\n",
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
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        server_cpu * 1000.0 / syncs as f64,
        rss_before,
        peak.load(Ordering::Relaxed) as f64 / 1024.0,
        hwm
    );
    Ok(())
}
