//! Sync figures: push and pull over loopback against the server (its
//! library, served in this process over real TCP and a real database file),
//! beside the store's own apply rate; a community's first sync; bytes on the
//! wire per field change; and what each encoding costs.

use gridwork_protocol::admin::{NewEnrollmentCode, NewGrid, NewUser, Role as UserRole};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use gridwork_client::{Admin, Device};
use gridwork_domain::formats::make_id_number;
use gridwork_domain::{Kind, Value};
use gridwork_protocol::sync::PushRequest;
use gridwork_protocol::{Encoding, RecordChanges};
use gridwork_server::core::Core;
use gridwork_server::limits::Limits;
use gridwork_server::postgres::PgBackend;
use gridwork_server::sqlite::SqliteStorage;
use gridwork_server::storage::DailyBudget;
use gridwork_server::storage::Storage;
use gridwork_server::{AppState, router};
use gridwork_store::{Clock, Role, Store, SystemClock};

/// A server on a loopback port, on a database in `dir` (or on PostgreSQL).
pub struct LocalServer {
    pub url: String,
    pub admin: Admin,
    /// The embedded database, when it runs on one.
    pub storage: Option<Arc<SqliteStorage>>,
}

impl LocalServer {
    pub async fn start(dir: &Path) -> Result<LocalServer> {
        LocalServer::start_on(dir, None).await
    }

    /// On the embedded database in `dir`, or on the empty PostgreSQL
    /// database `postgres`.
    pub async fn start_on(dir: &Path, postgres: Option<&str>) -> Result<LocalServer> {
        // One device pushes 20,000 residents here, far past what a device
        // may send in a day: the day's budget is lifted, the rest is the
        // server's defaults.
        let mut limits = Limits::default();
        limits.storage.daily = DailyBudget { push_bytes: u64::MAX / 2, upload_bytes: u64::MAX / 2 };
        let (token, storage, sqlite): (String, Arc<dyn Storage>, _) = match postgres {
            None => {
                let db = dir.join("gridwork.db");
                let token = SqliteStorage::init(&db, SystemClock.now_ms())?;
                let mut storage = SqliteStorage::open(&db)?;
                storage.set_limits(limits.storage);
                let storage = Arc::new(storage);
                (token, storage.clone(), Some(storage))
            }
            Some(url) => {
                let (url, runtime, storage_limits) =
                    (url.to_owned(), tokio::runtime::Handle::current(), limits.storage);
                let (token, storage) = tokio::task::spawn_blocking(move || -> Result<_> {
                    let backend = PgBackend::connect(&url, runtime)?;
                    let token = gridwork_server::core::init(&backend, "PostgreSQL", SystemClock.now_ms())?;
                    let mut storage = Core::new(backend, "PostgreSQL")?;
                    storage.set_limits(storage_limits);
                    Ok((token, storage))
                })
                .await??;
                (token, Arc::new(storage), None)
            }
        };
        let settings = limits.listener(4096);
        let state = AppState::with_limits(storage, dir.to_owned(), limits);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        tokio::spawn(gridwork_server::listener::serve(
            listener,
            router(state),
            settings,
            std::future::pending(),
        ));
        let admin = Admin::new(&url, &token)?;
        let community = NewGrid {
            code: "C1".into(),
            name: "东苑社区".into(),
            parent: None,
            level: Some("community".into()),
        };
        admin.add_grid(&community).await?;
        let grid =
            NewGrid {
                code: "C1-01".into(), name: "第一网格".into(), parent: Some("C1".into()), level: None
            };
        admin.add_grid(&grid).await?;
        Ok(LocalServer { url, admin, storage: sqlite })
    }

    /// A device of a new worker of grid C1, enrolled and synced.
    pub async fn device(&self, path: &Path, name: &str, encoding: Encoding) -> Result<Device> {
        let user = NewUser {
            name: name.into(),
            role: UserRole::Worker,
            grids: vec!["C1".into()],
            password: None,
            department: None,
        };
        let user = self.admin.add_user(&user).await?;
        let code =
            self.admin.enrollment_code(&NewEnrollmentCode { user_id: user.id, ttl_minutes: None }).await?;
        let mut device = Device::open(path)?;
        device.set_encoding(encoding);
        device.enroll(&self.url, &code.code, "bench").await?;
        device.sync(|_| {}).await?;
        Ok(device)
    }
}

fn resident(n: usize) -> Vec<(&'static str, Value)> {
    let birth =
        chrono::NaiveDate::from_ymd_opt(1950, 1, 1).unwrap() + chrono::Days::new((n * 37 % 25_000) as u64);
    let sequence = (n % 1000) as u32;
    vec![
        ("grid", "C1-01".into()),
        ("name", format!("居民{n}").into()),
        ("id_number", make_id_number(330702, birth, sequence).into()),
        ("sex", if sequence % 2 == 1 { "male" } else { "female" }.into()),
        ("birth_date", birth.format("%Y-%m-%d").to_string().into()),
        ("phone", format!("138{:08}", n).into()),
        ("room", format!("{}-{}", 1 + n % 30, 101 + n % 20).into()),
        ("residence_type", "registered".into()),
        ("notes", format!("第{n}号").into()),
        ("tags", Value::List(vec![])),
    ]
}

/// A grid record as the server sends it.
pub fn grid_changes(code: &str) -> RecordChanges {
    let fields = [("code", code), ("name", "网格"), ("level", "unit")]
        .into_iter()
        .map(|(field, value)| gridwork_protocol::FieldState {
            field: field.into(),
            register: gridwork_merge::Register::first_write(
                Value::from(value),
                gridwork_domain::DeviceId::SERVER,
                gridwork_merge::Hlc::new(1, 0),
            ),
        })
        .collect();
    let mut random = [0u8; 10];
    for (slot, byte) in random.iter_mut().zip(code.bytes()) {
        *slot = byte;
    }
    RecordChanges { id: gridwork_domain::RecordId::from_parts(1, random), kind: Kind::Grid, fields }
}

fn rate(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

/// Push and pull of 20,000 residents (200,000 field changes) over loopback.
async fn push_and_pull() -> Result<()> {
    const RECORDS: usize = 20_000;
    println!("\n### Push and pull over loopback\n");
    println!(
        "One device pushes {RECORDS} new residents of 10 fields ({} field changes) in pages of 1,000 records; a second device then pulls them all. Server in this process on a real socket and a real database file (`synchronous=FULL`); the ceiling is the store applying the same pages directly, in the same run.\n",
        RECORDS * 10
    );
    println!(
        "| encoding | push: time | push: field changes/s | pull: time | pull: field changes/s | bytes on the wire per field change (push) |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    let mut pages_for_ceiling = Vec::new();
    let mut small_syncs = Vec::new();
    for (name, encoding) in [("binary (postcard) + zstd", Encoding::Binary), ("JSON + zstd", Encoding::Json)]
    {
        let run = tempfile::tempdir()?;
        let server = LocalServer::start(run.path()).await?;
        let writer = server.device(&run.path().join("writer.db"), "写入员", encoding).await?;
        for n in 0..RECORDS {
            writer.store().put(Kind::Resident, None, &resident(n))?;
        }
        if pages_for_ceiling.is_empty() {
            // The same records as the push sends, for the ceiling.
            let mut store = writer.store();
            let mut page = Vec::new();
            for id in store.ids(Kind::Resident)? {
                page.push(store.export(Kind::Resident, id)?.context("exported")?);
                if page.len() == 1000 {
                    pages_for_ceiling.push(std::mem::take(&mut page));
                }
            }
        }
        let start = Instant::now();
        let pushed = writer.push(|_| {}).await?;
        let push_time = start.elapsed();
        assert_eq!(pushed.pushed, RECORDS);
        let reader = server.device(&run.path().join("reader.db"), "读取员", encoding).await?;
        // `device()` synced the reader already; pull again from scratch to time it.
        let reader_path = reader.path().to_owned();
        drop(reader);
        let fresh = Device::open(&reader_path)?;
        fresh.store().set_cursor(0)?;
        let start = Instant::now();
        let pulled = fresh.sync(|_| {}).await?;
        let pull_time = start.elapsed();
        let changes = RECORDS * 10;
        println!(
            "| {name} | {:.2} s | {:.0} | {:.2} s | {:.0} | {:.1} |",
            push_time.as_secs_f64(),
            rate(changes, push_time),
            pull_time.as_secs_f64(),
            rate(changes, pull_time),
            pushed.bytes as f64 / changes as f64
        );
        assert!(pulled.pulled >= RECORDS, "the reader got everything: {}", pulled.pulled);
        // The writer's own pull brings nothing back: it has what it sent.
        let echo = writer.sync(|_| {}).await?;
        assert_eq!(echo.pulled, 0, "no echo of the writer's own changes: {echo:?}");
        // A typical small sync: five residents, two fields each.
        let ids = writer.store().ids(Kind::Resident)?;
        for (i, id) in ids.iter().take(5).enumerate() {
            writer.store().put(
                Kind::Resident,
                Some(*id),
                &[("phone", format!("1390000000{i}").into()), ("room", "9-909".into())],
            )?;
        }
        let small = writer.sync(|_| {}).await?;
        small_syncs.push((name, small.bytes));
    }
    let ceiling_dir = tempfile::tempdir()?;
    let mut store = Store::open(ceiling_dir.path().join("ceiling.db"), Role::Server, Arc::new(SystemClock))?;
    store.apply_remote(vec![grid_changes("C1-01")])?;
    let start = Instant::now();
    for page in pages_for_ceiling {
        store.apply_remote(page)?;
    }
    let elapsed = start.elapsed();
    println!(
        "| ceiling: the store's `apply_remote` of the same pages, no network | {:.2} s | {:.0} | | | |",
        elapsed.as_secs_f64(),
        rate(RECORDS * 10, elapsed)
    );
    println!(
        "\nA typical small sync afterwards (5 residents, 2 fields each: a push of 10 field changes, its acknowledgement, an empty push, a pull that brings nothing back), all bytes both ways:\n"
    );
    println!("| encoding | bytes on the wire | per field change |");
    println!("|---|---:|---:|");
    for (name, bytes) in small_syncs {
        println!("| {name} | {bytes} | {:.0} |", bytes as f64 / 10.0);
    }
    Ok(())
}

/// A community's first sync: 2,000 residents, 600 households, 100
/// buildings, 5,000 cases.
async fn first_sync(dir: &Path) -> Result<()> {
    println!("\n### First sync of one community grid\n");
    println!(
        "2,000 residents, 600 households, 100 buildings and 5,000 cases in the worker's grid, written at the server; a newly enrolled device pulls them in pages of 1,000 records.\n"
    );
    println!("| encoding | records | requests | time | bytes on the wire | bytes per record |");
    println!("|---|---:|---:|---:|---:|---:|");
    let server = LocalServer::start(dir).await?;
    server.storage.as_ref().context("the embedded database")?.with_store(|store| -> Result<()> {
        let mut buildings = Vec::new();
        for b in 0..100 {
            buildings.push(store.put(
                Kind::Building,
                None,
                &[
                    ("grid", "C1-01".into()),
                    ("address", format!("东苑小区{b}幢").into()),
                    ("floors", Value::Int(6)),
                    ("use", "residential".into()),
                ],
            )?);
        }
        let mut households = Vec::new();
        for h in 0..600 {
            households.push(store.put(
                Kind::Household,
                None,
                &[
                    ("grid", "C1-01".into()),
                    ("address", format!("东苑小区{}幢{}室", h % 100, 101 + h / 100).into()),
                    ("building", buildings[h % 100].to_string().into()),
                    ("head", format!("户主{h}").into()),
                ],
            )?);
        }
        for n in 0..2000 {
            let mut fields = resident(n);
            fields.push(("household", households[n % 600].to_string().into()));
            store.put(Kind::Resident, None, &fields)?;
        }
        for c in 0..5000 {
            store.put(
                Kind::Case,
                None,
                &[
                    ("grid", "C1-01".into()),
                    ("category", "sanitation".into()),
                    ("description", format!("第{c}号事件:垃圾桶满溢未及时清运").into()),
                    ("status", if c % 3 == 0 { "closed" } else { "reported" }.into()),
                    ("urgency", "normal".into()),
                    ("reported_at", "2026-11-20T09:30:00+08:00".into()),
                ],
            )?;
        }
        // The setup wrote about 100 MB of log: the server truncates it at
        // the next push; done here, so that the sync measured is the sync.
        store.truncate_log()?;
        Ok(())
    })?;
    for (name, encoding) in [("binary (postcard) + zstd", Encoding::Binary), ("JSON + zstd", Encoding::Json)]
    {
        let start = Instant::now();
        let path = dir.join(format!("first-{name}.db").replace(' ', "-"));
        let user = NewUser {
            name: name.into(),
            role: UserRole::Worker,
            grids: vec!["C1".into()],
            password: None,
            department: None,
        };
        let user = server.admin.add_user(&user).await?;
        let code =
            server.admin.enrollment_code(&NewEnrollmentCode { user_id: user.id, ttl_minutes: None }).await?;
        let mut device = Device::open(&path)?;
        device.set_encoding(encoding);
        device.enroll(&server.url, &code.code, "bench").await?;
        let enrolled = start.elapsed();
        let start = Instant::now();
        let mut requests = 0;
        let report = device.sync(|_| requests += 1).await?;
        let elapsed = start.elapsed();
        println!(
            "| {name} | {} | {} | {:.2} s (+ {:.0} ms to enroll) | {} | {:.0} |",
            report.pulled,
            requests,
            elapsed.as_secs_f64(),
            enrolled.as_secs_f64() * 1000.0,
            report.bytes,
            report.bytes as f64 / report.pulled as f64
        );
    }
    println!(
        "\nRequests: one push (nothing to push) and the pull pages, as counted by the progress reports."
    );
    Ok(())
}

/// What each encoding costs to encode and decode, and its size.
fn encodings() -> Result<()> {
    println!("\n### Encodings\n");
    println!(
        "A push of 10,000 residents (100,000 field changes) as built by a device, encoded and decoded in memory on one core.\n"
    );
    println!(
        "| encoding | bytes per field change | bytes per field change, zstd | encode: field changes/s | decode: field changes/s |"
    );
    println!("|---|---:|---:|---:|---:|");
    let dir = tempfile::tempdir()?;
    let mut store = Store::open(dir.path().join("device.db"), Role::Device, Arc::new(SystemClock))?;
    store.set_device_id(gridwork_domain::DeviceId(7))?;
    store.apply_remote(vec![grid_changes("C1-01")])?;
    for n in 0..10_000 {
        store.put(Kind::Resident, None, &resident(n))?;
    }
    let records = store.outgoing(gridwork_store::PageLimit::records(10_000))?.records;
    let request = PushRequest { up_to_counter: 10_000, pending: 0, records };
    let changes = 100_000;
    for (name, encoding) in [("binary (postcard)", Encoding::Binary), ("JSON", Encoding::Json)] {
        let start = Instant::now();
        let bytes = encoding.encode(&request);
        let encode = start.elapsed();
        let start = Instant::now();
        let back: PushRequest = encoding.decode(&bytes)?;
        let decode = start.elapsed();
        assert_eq!(back.records.len(), request.records.len());
        let compressed = zstd::bulk::compress(&bytes, 3)?;
        println!(
            "| {name} | {:.1} | {:.1} | {:.0} | {:.0} |",
            bytes.len() as f64 / changes as f64,
            compressed.len() as f64 / changes as f64,
            rate(changes, encode),
            rate(changes, decode)
        );
    }
    Ok(())
}

/// Push and pull of 20,000 residents on the PostgreSQL backend, beside
/// PostgreSQL's own upsert of the same rows (one multi-row statement per
/// page of 1,000, one transaction per page: no merging, no checks), in the
/// same run. `base` is a server (`postgres://USER@HOST:PORT`) where this
/// may create databases.
async fn postgres(base: &str) -> Result<()> {
    const RECORDS: usize = 20_000;
    let create = |name: &str| -> Result<String> {
        let status = std::process::Command::new("psql")
            .arg(format!("{base}/postgres"))
            .args([
                "-qc",
                &format!("DROP DATABASE IF EXISTS {name}"),
                "-c",
                &format!("CREATE DATABASE {name}"),
            ])
            .status()?;
        anyhow::ensure!(status.success(), "creating {name}");
        Ok(format!("{base}/{name}"))
    };
    println!("\n### PostgreSQL backend: push and pull over loopback\n");
    println!(
        "The same {RECORDS} residents (200,000 field changes) as above, one device pushing them in pages of 1,000 records and a second pulling them, on the PostgreSQL backend (one node, this process, tokio-postgres over loopback); the ceiling is PostgreSQL itself upserting the same rows, each with its registers' blob, one multi-row `INSERT … ON CONFLICT` per page, one transaction per page.\n"
    );
    println!("| | push: time | push: field changes/s | pull: time | pull: field changes/s |");
    println!("|---|---:|---:|---:|---:|");
    let run = tempfile::tempdir()?;
    let url = create("gw_bench_backend")?;
    let server = LocalServer::start_on(run.path(), Some(&url)).await?;
    let writer = server.device(&run.path().join("writer.db"), "写入员", Encoding::Binary).await?;
    for n in 0..RECORDS {
        writer.store().put(Kind::Resident, None, &resident(n))?;
    }
    let mut rows = Vec::new();
    {
        let mut store = writer.store();
        for id in store.ids(Kind::Resident)? {
            let change = store.export(Kind::Resident, id)?.context("exported")?;
            rows.push((id.as_bytes().to_vec(), gridwork_protocol::Encoding::Binary.encode(&change)));
        }
    }
    let start = Instant::now();
    let pushed = writer.push(|_| {}).await?;
    let push_time = start.elapsed();
    assert_eq!(pushed.pushed, RECORDS);
    let reader = server.device(&run.path().join("reader.db"), "读取员", Encoding::Binary).await?;
    let reader_path = reader.path().to_owned();
    drop(reader);
    let fresh = Device::open(&reader_path)?;
    fresh.store().set_cursor(0)?;
    let start = Instant::now();
    let pulled = fresh.sync(|_| {}).await?;
    let pull_time = start.elapsed();
    assert!(pulled.pulled >= RECORDS);
    let changes = RECORDS * 10;
    println!(
        "| gridwork on PostgreSQL, postcard + zstd | {:.2} s | {:.0} | {:.2} s | {:.0} |",
        push_time.as_secs_f64(),
        rate(changes, push_time),
        pull_time.as_secs_f64(),
        rate(changes, pull_time)
    );
    // The ceiling: the same rows, straight into a table like `records`.
    let raw = create("gw_bench_raw")?;
    let (client, connection) = tokio_postgres::connect(&raw, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    client
        .batch_execute(
            "CREATE TABLE records (id bytea PRIMARY KEY, kind smallint NOT NULL, grid text, deleted boolean NOT NULL,
                                   seq bigint NOT NULL, body bytea NOT NULL);
             CREATE INDEX records_seq ON records (seq);
             CREATE INDEX records_grid_seq ON records (grid, seq)",
        )
        .await?;
    let upsert = client
        .prepare(
            "INSERT INTO records (id, kind, grid, deleted, seq, body)
             SELECT id, 3, 'C1-01', false, seq, body FROM unnest($1::bytea[], $2::bigint[], $3::bytea[]) AS t(id, seq, body)
             ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, body = excluded.body",
        )
        .await?;
    let start = Instant::now();
    for (p, page) in rows.chunks(1000).enumerate() {
        let ids: Vec<&[u8]> = page.iter().map(|(id, _)| id.as_slice()).collect();
        let seqs: Vec<i64> = (0..page.len()).map(|i| (p * 1000 + i) as i64 + 1).collect();
        let bodies: Vec<&[u8]> = page.iter().map(|(_, body)| body.as_slice()).collect();
        client.batch_execute("BEGIN").await?;
        client.execute(&upsert, &[&ids, &seqs, &bodies]).await?;
        client.batch_execute("COMMIT").await?;
    }
    let elapsed = start.elapsed();
    let start = Instant::now();
    let read = client.query("SELECT id, body FROM records WHERE grid = 'C1-01' ORDER BY seq", &[]).await?;
    let read_time = start.elapsed();
    assert_eq!(read.len(), RECORDS);
    println!(
        "| ceiling: PostgreSQL upserting the same rows / reading them back | {:.2} s | {:.0} | {:.2} s | {:.0} |",
        elapsed.as_secs_f64(),
        rate(changes, elapsed),
        read_time.as_secs_f64(),
        rate(changes, read_time)
    );
    Ok(())
}

/// The PostgreSQL figures, on the server at `base`.
pub fn run_postgres(base: &str) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(postgres(base))
}

pub fn run() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    encodings()?;
    runtime.block_on(push_and_pull())?;
    let dir = tempfile::tempdir()?;
    runtime.block_on(first_sync(dir.path()))?;
    Ok(())
}
