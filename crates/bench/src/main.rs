//! `gridwork-bench`: the store's and the merge engine's figures for
//! BENCHMARKS.md, each measured beside a raw SQLite ceiling in the same run,
//! on real database files with the store's own settings (WAL; `synchronous`
//! as named).
//!
//! Run: `cargo run --release -p gridwork-bench` (all), or with
//! `-- --only apply|meta|edit|search|cipher|sync` for one part, `--only registry`
//! for the console's registry and case list on a server holding a city
//! (2,000,000 residents, 500,000 cases; not part of the default run), `--only postgres`
//! for the PostgreSQL backend (with `GRIDWORK_BENCH_POSTGRES`). Prints Markdown.
//!
//! This is plain timing, not a test: nothing here asserts a speed.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod registry;
mod sync;

use anyhow::Result;
use clap::Parser;
use gridwork_domain::formats::make_id_number;
use gridwork_domain::{DeviceId, Kind, RecordId, Value};
use gridwork_merge::{Hlc, Register};
use gridwork_protocol::{FieldState, RecordChanges};
use gridwork_store::{
    Checkpointer, Durability, ListQuery, Options, ResidentSearch, Role, Store, SystemClock,
};
use rusqlite::{Connection, params};

#[derive(Parser)]
struct Args {
    /// Run only one part: apply, meta, edit, search, cipher, sync or postgres.
    #[arg(long)]
    only: Option<String>,
    /// Only this apply workload: full or low.
    #[arg(long)]
    workload: Option<String>,
    /// Residents in the database for the edit and search figures.
    #[arg(long, default_value_t = 100_000)]
    residents: usize,
    /// Residents and cases on the server for `--only registry`.
    #[arg(long, default_value_t = 2_000_000)]
    registry_residents: usize,
    #[arg(long, default_value_t = 500_000)]
    registry_cases: usize,
}

const T0: u64 = 1_750_000_000_000;
const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭", "何",
    "高", "林", "罗",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "秀", "英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛",
    "明", "超", "兰", "霞", "平", "刚", "桂", "华", "建", "国", "文", "红", "玉",
];

/// A small deterministic generator (xorshift), so every run builds the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn record_id(n: usize) -> RecordId {
    let mut random = [0u8; 10];
    random[..8].copy_from_slice(&(n as u64).to_be_bytes());
    RecordId::from_parts(T0 + n as u64, random)
}

fn name(rng: &mut Rng) -> String {
    let mut name = SURNAMES[rng.below(SURNAMES.len())].to_owned();
    for _ in 0..1 + rng.below(2) {
        name += GIVEN[rng.below(GIVEN.len())];
    }
    name
}

/// Ten valid resident fields for record `n` as written by `device`.
fn resident_fields(n: usize, device: u32, rng: &mut Rng) -> Vec<(&'static str, Value)> {
    let birth =
        chrono::NaiveDate::from_ymd_opt(1940, 1, 1).unwrap() + chrono::Days::new(rng.below(25_000) as u64);
    let sequence = (n + device as usize) as u32 % 1000;
    vec![
        ("grid", Value::from(if n.is_multiple_of(2) { "G1" } else { "G2" })),
        ("name", name(rng).into()),
        ("id_number", make_id_number(330702, birth, sequence).into()),
        ("sex", Value::from(if sequence % 2 == 1 { "male" } else { "female" })),
        ("birth_date", birth.format("%Y-%m-%d").to_string().into()),
        ("phone", format!("13{:09}", rng.next() % 1_000_000_000).into()),
        ("room", format!("{}-{}", 1 + rng.below(30), 101 + rng.below(20)).into()),
        ("residence_type", Value::from(["registered", "permanent", "floating"][rng.below(3)])),
        ("notes", format!("第{device}台设备登记").into()),
        ("tags", Value::List(if rng.below(5) == 0 { vec!["elderly_alone".into()] } else { vec![] })),
    ]
}

/// A record's fields as written by one device that had seen nothing else.
fn first_writes(n: usize, device: u32, hlc: Hlc, rng: &mut Rng) -> RecordChanges {
    let fields = resident_fields(n, device, rng)
        .into_iter()
        .map(|(field, value)| FieldState {
            field: field.to_owned(),
            register: Register::first_write(value, DeviceId(device), hlc),
        })
        .collect();
    RecordChanges { id: record_id(n), kind: Kind::Resident, fields }
}

fn grids() -> Vec<RecordChanges> {
    vec![sync::grid_changes("G1"), sync::grid_changes("G2")]
}

fn open_device(path: &Path, durability: Durability) -> Result<Store> {
    let options = Options { durability, cache_mib: 64, auto_checkpoint: true, key: None };
    let mut store = Store::open_with(path, Role::Device, Arc::new(SystemClock), options)?;
    store.set_device_id(DeviceId(1))?;
    Ok(store)
}

fn open_raw(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA cache_size = -65536;
         CREATE TABLE raw (record BLOB NOT NULL, field INTEGER NOT NULL, value ANY,
                           PRIMARY KEY (record, field)) STRICT, WITHOUT ROWID;",
    )?;
    Ok(conn)
}

fn sql_value(value: &Value) -> rusqlite::types::Value {
    use rusqlite::types::Value as Sql;
    match value {
        Value::Null => Sql::Null,
        Value::Bool(b) => Sql::Integer(i64::from(*b)),
        Value::Int(n) => Sql::Integer(*n),
        Value::Float(x) => Sql::Real(*x),
        Value::Text(t) => Sql::Text(t.clone()),
        Value::List(l) => Sql::Text(l.join(",")),
    }
}

/// The ceiling: the same field changes as plain rows, upserted with one
/// prepared statement, in one transaction or one per batch.
fn raw_upserts(batches: &[Vec<RecordChanges>], dir: &Path, per_batch: bool) -> Result<(usize, Duration)> {
    let rows: Vec<Vec<([u8; 16], i64, rusqlite::types::Value)>> = batches
        .iter()
        .map(|batch| {
            batch
                .iter()
                .flat_map(|change| {
                    change.fields.iter().map(move |f| {
                        let tag = Kind::Resident.def().field(&f.field).unwrap().tag;
                        (*change.id.as_bytes(), i64::from(tag), sql_value(f.register.value()))
                    })
                })
                .collect()
        })
        .collect();
    let name = if per_batch { "raw-batches.db" } else { "raw.db" };
    let mut conn = open_raw(&dir.join(name))?;
    let sql = "INSERT INTO raw (record, field, value) VALUES (?1, ?2, ?3)
               ON CONFLICT (record, field) DO UPDATE SET value = excluded.value";
    let start = Instant::now();
    let mut tx = conn.transaction()?;
    for (i, batch) in rows.iter().enumerate() {
        if per_batch && i > 0 {
            tx.commit()?;
            tx = conn.transaction()?;
        }
        let mut upsert = tx.prepare_cached(sql)?;
        for (record, field, value) in batch {
            upsert.execute(params![record, field, value])?;
        }
    }
    tx.commit()?;
    Ok((rows.iter().map(Vec::len).sum(), start.elapsed()))
}

fn rate(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

const REPEATS: usize = 3;

fn apply(title: &str, batches: Vec<Vec<RecordChanges>>) -> Result<()> {
    let versions: usize = batches.iter().flatten().map(RecordChanges::version_count).sum();
    let (mut raw_one, mut raw_batched, mut one, mut batched) = (vec![], vec![], vec![], vec![]);
    let (mut new_losers, mut conflicts, mut stats) = (0, 0, None);
    for _ in 0..REPEATS {
        let dir = tempfile::tempdir()?;
        let (raw_rows, raw_time) = raw_upserts(&batches, dir.path(), false)?;
        assert_eq!(raw_rows, versions);
        raw_one.push(raw_time);
        raw_batched.push(raw_upserts(&batches, dir.path(), true)?.1);

        let mut store = open_device(&dir.path().join("batches.db"), Durability::Full)?;
        store.apply_remote(grids())?;
        let copies = batches.clone();
        let start = Instant::now();
        new_losers = 0;
        for batch in copies {
            new_losers += store.apply_remote(batch)?.new_losers;
        }
        batched.push(start.elapsed());
        conflicts =
            store.connection().query_row("SELECT count(*) FROM conflicts", [], |r| r.get::<_, i64>(0))?;
        stats = Some(store.storage_stats(Kind::Resident)?);
        drop(store);

        let mut store = open_device(&dir.path().join("one.db"), Durability::Full)?;
        store.apply_remote(grids())?;
        let all: Vec<RecordChanges> = batches.iter().flatten().cloned().collect();
        let start = Instant::now();
        store.apply_remote(all)?;
        one.push(start.elapsed());
    }
    let stats = stats.expect("at least one repeat");
    let (raw_one, raw_batched, one, batched) =
        (median(raw_one), median(raw_batched), median(one), median(batched));
    let raw_rate = rate(versions, raw_one);
    let raw_batched_rate = rate(versions, raw_batched);
    println!("\n### Applying remote changes: {title}\n");
    println!(
        "{versions} field changes; {new_losers} versions kept as concurrent losers along the way; {conflicts} fields end in conflict. Median of {REPEATS} runs.\n"
    );
    println!("| what | time | field changes/s | vs raw, same transactions |");
    println!("|---|---:|---:|---:|");
    let rows = [
        ("raw SQLite: prepared `INSERT … ON CONFLICT DO UPDATE`, one transaction", raw_one, raw_rate),
        ("store `apply_remote`, everything in one transaction", one, raw_rate),
        ("raw SQLite, one transaction per device's batch", raw_batched, raw_batched_rate),
        ("store `apply_remote`, one transaction per device's batch", batched, raw_batched_rate),
    ];
    for (what, elapsed, ceiling) in rows {
        let r = rate(versions, elapsed);
        println!("| {what} | {:.2} s | {:.0} | {:.2} |", elapsed.as_secs_f64(), r, r / ceiling);
    }
    println!(
        "\nStored: {} records, {} fields, {:.1} metadata bytes per field against {:.1} value bytes per field; {} losers holding {:.1} value bytes each.",
        stats.records,
        stats.fields,
        stats.meta_bytes as f64 / stats.fields as f64,
        stats.value_bytes as f64 / stats.fields as f64,
        stats.losers,
        stats.loser_value_bytes as f64 / stats.losers.max(1) as f64
    );
    Ok(())
}

fn apply_benches(workload: Option<&str>) -> Result<()> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // Full contention: every one of 100 devices edits all 10 fields of every
    // one of 1,000 records, each without having seen the others.
    let full: Vec<Vec<RecordChanges>> = (1..=100u32)
        .map(|device| {
            (0..1000)
                .map(|n| {
                    first_writes(n, device, Hlc::new(T0 + u64::from(device) * 1000 + n as u64, 0), &mut rng)
                })
                .collect()
        })
        .collect();
    if workload.is_none_or(|w| w == "full") {
        apply("full contention (100 devices × 1,000 records × 10 fields)", full)?;
    }
    // Low contention: each device edits its own 100 records.
    let low: Vec<Vec<RecordChanges>> = (1..=100u32)
        .map(|device| {
            (0..100)
                .map(|i| {
                    let n = device as usize * 100 + i;
                    first_writes(n, device, Hlc::new(T0 + n as u64, 0), &mut rng)
                })
                .collect()
        })
        .collect();
    if workload.is_none_or(|w| w == "low") {
        apply("low contention (100 devices × their own 100 records × 10 fields)", low)?;
    }
    Ok(())
}

fn meta_benches() -> Result<()> {
    println!("\n### Version vectors and metadata by number of writers of a field\n");
    println!(
        "All 10 fields of a resident written by *n* devices. *In turn*: each device had seen the previous writes (one version, a vector of *n* entries). *Concurrently*: none had (*n* versions kept, *n* − 1 of them losers for review).\n"
    );
    println!(
        "| writers | in turn: metadata bytes/field | in turn: merge ns | concurrently: metadata bytes/field | concurrently: merge ns |"
    );
    println!("|---:|---:|---:|---:|---:|");
    let dir = tempfile::tempdir()?;
    let mut store = open_device(&dir.path().join("meta.db"), Durability::Normal)?;
    store.apply_remote(grids())?;
    let mut rng = Rng(7);
    for (row, writers) in [1u32, 5, 100].into_iter().enumerate() {
        let mut figures = Vec::new();
        for concurrent in [false, true] {
            let n = row * 2 + usize::from(concurrent);
            let base = resident_fields(n, 0, &mut rng);
            let fields: Vec<FieldState> = base
                .iter()
                .map(|(field, value)| {
                    let mut register = Register::first_write(value.clone(), DeviceId(1), Hlc::new(T0, 0));
                    for device in 2..=writers {
                        let hlc = Hlc::new(T0 + u64::from(device), 0);
                        if concurrent {
                            register.merge(Register::first_write(value.clone(), DeviceId(device), hlc));
                        } else {
                            register.write(value.clone(), DeviceId(device), hlc);
                        }
                    }
                    FieldState { field: (*field).to_owned(), register }
                })
                .collect();
            // Merge cost: one more device's write, made without having seen
            // the field (so concurrent with every version in it).
            let register = fields[1].register.clone();
            let incoming = Register::first_write(
                Value::from("新值"),
                DeviceId(writers + 1),
                Hlc::new(T0 + 1_000_000, 0),
            );
            let rounds = 20_000;
            let start = Instant::now();
            for _ in 0..rounds {
                let mut copy = register.clone();
                std::hint::black_box(copy.merge(incoming.clone()));
            }
            let merge_ns = start.elapsed().as_nanos() as f64 / f64::from(rounds);
            let id = record_id(n);
            store.apply_remote(vec![RecordChanges { id, kind: Kind::Resident, fields }])?;
            let meta: i64 = store.connection().query_row(
                "SELECT length(meta) FROM residents WHERE id = ?1",
                [id.as_bytes()],
                |r| r.get(0),
            )?;
            figures.push((meta as f64 / 10.0, merge_ns));
        }
        println!(
            "| {writers} | {:.1} | {:.0} | {:.1} | {:.0} |",
            figures[0].0, figures[0].1, figures[1].0, figures[1].1
        );
    }
    println!(
        "\nMerge ns: cloning the register and merging in one more device's write made without seeing it (kept beside every version), on one core."
    );
    Ok(())
}

/// A database of `count` residents in two grids, as a device has them after
/// its first sync.
fn populated(path: &Path, durability: Durability, count: usize) -> Result<Store> {
    let mut store = open_device(path, durability)?;
    store.apply_remote(grids())?;
    let mut rng = Rng(42);
    let mut n = 0;
    while n < count {
        let batch: Vec<RecordChanges> = (n..(n + 5000).min(count))
            .map(|i| first_writes(i, 2, Hlc::new(T0 + i as u64, 0), &mut rng))
            .collect();
        n += batch.len();
        store.apply_remote(batch)?;
    }
    Ok(store)
}

fn percentile(samples: &mut [Duration], p: f64) -> f64 {
    samples.sort_unstable();
    let i = ((samples.len() as f64 * p).ceil() as usize).clamp(1, samples.len()) - 1;
    samples[i].as_secs_f64() * 1000.0
}

fn edit_benches(residents: usize) -> Result<()> {
    println!("\n### A local edit of one record (10 fields) among {residents} residents\n");
    println!(
        "2,000 edits of random residents, each one `put` (validate, stamp, write the registers and columns, queue in the outbox, commit). The ceiling updates the same ten columns and appends a log row in one transaction, on the same database.\n"
    );
    println!(
        "| durability | checkpoints | store `put` p50 ms | p99 ms | max ms | raw SQLite p50 ms | raw p99 ms |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|");
    for durability in [Durability::Full, Durability::Normal] {
        for background in [false, true] {
            let dir = tempfile::tempdir()?;
            let path = dir.path().join("edit.db");
            drop(populated(&path, durability, residents)?);
            let options = Options { durability, cache_mib: 64, auto_checkpoint: !background, key: None };
            let mut store = Store::open_with(&path, Role::Device, Arc::new(SystemClock), options)?;
            let checkpointer =
                if background { Some(Checkpointer::spawn(&path, Duration::from_millis(250))?) } else { None };
            let mut rng = Rng(99);
            let mut samples = Vec::new();
            for round in 0..2000 {
                let n = rng.below(residents);
                let fields = resident_fields(n, 3 + round, &mut rng);
                let start = Instant::now();
                store.put(Kind::Resident, Some(record_id(n)), &fields)?;
                samples.push(start.elapsed());
            }
            let conn = store.connection_mut();
            conn.execute_batch("CREATE TABLE IF NOT EXISTS raw_log (record BLOB, counter INTEGER)")?;
            let mut raw = Vec::new();
            for round in 0..2000 {
                let n = rng.below(residents);
                let fields = resident_fields(n, 3 + round, &mut rng);
                let start = Instant::now();
                let tx = conn.transaction()?;
                tx.prepare_cached(
                    "UPDATE residents SET grid=?2, name=?3, id_number=?4, sex=?5, birth_date=?6, phone=?7, room=?8,
                     residence_type=?9, notes=?10, tags=?11 WHERE id = ?1",
                )?
                .execute(rusqlite::params_from_iter(
                    std::iter::once(rusqlite::types::Value::Blob(record_id(n).as_bytes().to_vec()))
                        .chain(fields.iter().map(|(_, v)| sql_value(v))),
                ))?;
                tx.prepare_cached("INSERT INTO raw_log VALUES (?1, ?2)")?
                    .execute(params![record_id(n).as_bytes(), round as i64])?;
                tx.commit()?;
                raw.push(start.elapsed());
            }
            drop(checkpointer);
            println!(
                "| {durability:?} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
                if background { "background thread every 250 ms" } else { "in the commit (SQLite default)" },
                percentile(&mut samples, 0.5),
                percentile(&mut samples, 0.99),
                percentile(&mut samples, 1.0),
                percentile(&mut raw, 0.5),
                percentile(&mut raw, 0.99)
            );
        }
    }
    Ok(())
}

/// The tablet app's store is encrypted (SQLCipher); the server's and the
/// headless device's are not. The same work on both, alternating, in one
/// run: applying a first sync's worth of remote changes, and local edits.
fn cipher_benches(residents: usize) -> Result<()> {
    println!("\n### Encrypted (SQLCipher) against plain, same run\n");
    println!(
        "Apply: {residents} residents (10 fields each) in batches of 5,000, one transaction each, as a first sync does. Edit: 2,000 `put`s of random residents among them (Full durability, SQLite's own checkpoints). Plain and encrypted alternate, {REPEATS} rounds; medians.\n"
    );
    let mut rng = Rng(7);
    let batches: Vec<Vec<RecordChanges>> = (0..residents)
        .collect::<Vec<_>>()
        .chunks(5000)
        .map(|chunk| {
            chunk.iter().map(|&n| first_writes(n, 2, Hlc::new(T0 + n as u64, 0), &mut rng)).collect()
        })
        .collect();
    let key = gridwork_store::DatabaseKey::random();
    let (mut apply_times, mut edit_p50, mut edit_p99) =
        ([vec![], vec![]], [vec![], vec![]], [vec![], vec![]]);
    for _ in 0..REPEATS {
        for (i, encrypted) in [false, true].into_iter().enumerate() {
            let dir = tempfile::tempdir()?;
            let path = dir.path().join("cipher.db");
            let options = || Options {
                durability: Durability::Full,
                cache_mib: 64,
                auto_checkpoint: true,
                key: encrypted.then(|| gridwork_store::DatabaseKey::new(*key.bytes())),
            };
            let mut store = Store::open_with(&path, Role::Device, Arc::new(SystemClock), options())?;
            store.set_device_id(DeviceId(1))?;
            store.apply_remote(grids())?;
            let copies = batches.clone();
            let start = Instant::now();
            for batch in copies {
                store.apply_remote(batch)?;
            }
            apply_times[i].push(start.elapsed());
            let mut samples = Vec::new();
            let mut rng = Rng(99);
            for round in 0..2000 {
                let n = rng.below(residents);
                let fields = resident_fields(n, 3 + round, &mut rng);
                let start = Instant::now();
                store.put(Kind::Resident, Some(record_id(n)), &fields)?;
                samples.push(start.elapsed());
            }
            edit_p50[i].push(Duration::from_secs_f64(percentile(&mut samples, 0.5) / 1000.0));
            edit_p99[i].push(Duration::from_secs_f64(percentile(&mut samples, 0.99) / 1000.0));
            let head = std::fs::read(&path)?;
            assert_eq!(
                head.starts_with(b"SQLite format 3"),
                !encrypted,
                "encrypted files have no plain header"
            );
        }
    }
    let [plain_apply, cipher_apply] = apply_times.map(median);
    let [plain_p50, cipher_p50] = edit_p50.map(median);
    let [plain_p99, cipher_p99] = edit_p99.map(median);
    let fields = residents * 10;
    println!("| what | plain | encrypted | encrypted ÷ plain |");
    println!("|---|---:|---:|---:|");
    println!(
        "| apply {residents} residents | {:.2} s ({:.0} fields/s) | {:.2} s ({:.0} fields/s) | {:.2} |",
        plain_apply.as_secs_f64(),
        rate(fields, plain_apply),
        cipher_apply.as_secs_f64(),
        rate(fields, cipher_apply),
        cipher_apply.as_secs_f64() / plain_apply.as_secs_f64()
    );
    for (what, plain, cipher) in
        [("local edit p50", plain_p50, cipher_p50), ("local edit p99", plain_p99, cipher_p99)]
    {
        println!(
            "| {what} | {:.3} ms | {:.3} ms | {:.2} |",
            plain.as_secs_f64() * 1000.0,
            cipher.as_secs_f64() * 1000.0,
            cipher.as_secs_f64() / plain.as_secs_f64()
        );
    }
    Ok(())
}

fn search_benches(residents: usize) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut store = populated(&dir.path().join("search.db"), Durability::Full, residents)?;
    let stats = store.storage_stats(Kind::Resident)?;
    let listed =
        store.list(Kind::Resident, &ListQuery { limit: usize::MAX >> 1, ..ListQuery::default() })?.len();
    assert_eq!(listed, residents);
    println!("\n### Searching {residents} residents (first 50 matches, by name)\n");
    println!("| search | matches (first query) | store p50 ms | p99 ms | raw SQLite p50 ms | raw p99 ms |");
    println!("|---|---:|---:|---:|---:|---:|");
    let mut rng = Rng(5);
    type Make = fn(&mut Rng) -> ResidentSearch;
    let searches: [(&str, Make, &str); 4] = [
        (
            "name, one-character prefix (surname)",
            |r| ResidentSearch {
                name: Some(SURNAMES[r.below(SURNAMES.len())].into()),
                limit: 50,
                ..Default::default()
            },
            "name",
        ),
        (
            "name, two-character prefix",
            |r| ResidentSearch {
                name: Some(format!("{}{}", SURNAMES[r.below(SURNAMES.len())], GIVEN[r.below(GIVEN.len())])),
                limit: 50,
                ..Default::default()
            },
            "name",
        ),
        (
            "ID number, first 10 digits",
            |r| ResidentSearch {
                id_number: Some(format!("330702{}", 1940 + r.below(68))),
                limit: 50,
                ..Default::default()
            },
            "id_number",
        ),
        (
            "phone, first 7 digits",
            |r| ResidentSearch {
                phone: Some(format!("13{:05}", r.below(100_000))),
                limit: 50,
                ..Default::default()
            },
            "phone",
        ),
    ];
    for (what, make, column) in searches {
        let mut samples = Vec::new();
        let mut raw = Vec::new();
        let mut first_matches = None;
        for _ in 0..1000 {
            let search = make(&mut rng);
            let start = Instant::now();
            let found = store.search_residents(&search)?;
            samples.push(start.elapsed());
            first_matches.get_or_insert(found.len());
            let prefix = search.name.or(search.id_number).or(search.phone).unwrap();
            let start = Instant::now();
            let sql = format!(
                "SELECT id FROM residents WHERE {column} >= ?1 AND {column} < ?2 AND deleted IS NOT 1 ORDER BY name LIMIT 50"
            );
            let ids: Vec<Vec<u8>> = store
                .connection()
                .prepare_cached(&sql)?
                .query_map(params![prefix, format!("{prefix}\u{10FFFF}")], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            std::hint::black_box(ids);
            raw.push(start.elapsed());
        }
        println!(
            "| {what} | {} | {:.3} | {:.3} | {:.3} | {:.3} |",
            first_matches.unwrap_or(0),
            percentile(&mut samples, 0.5),
            percentile(&mut samples, 0.99),
            percentile(&mut raw, 0.5),
            percentile(&mut raw, 0.99)
        );
    }
    println!(
        "\n### Metadata per field, {residents} residents each written once by one device\n\n{:.1} bytes of metadata per field against {:.1} bytes of value per field ({} fields).",
        stats.meta_bytes as f64 / stats.fields as f64,
        stats.value_bytes as f64 / stats.fields as f64,
        stats.fields
    );
    Ok(())
}

fn main() -> Result<()> {
    let args = Args::parse();
    let only = args.only.as_deref();
    println!("## Store and merge figures\n");
    println!(
        "Produced by `cargo run --release -p gridwork-bench` on {} ({} cores).",
        chrono::Local::now().format("%Y-%m-%d"),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    if only.is_none_or(|o| o == "apply") {
        apply_benches(args.workload.as_deref())?;
    }
    if only.is_none_or(|o| o == "meta") {
        meta_benches()?;
    }
    if only.is_none_or(|o| o == "edit") {
        edit_benches(args.residents)?;
    }
    if only.is_none_or(|o| o == "search") {
        search_benches(args.residents)?;
    }
    if only.is_none_or(|o| o == "cipher") {
        cipher_benches(args.residents)?;
    }
    if only == Some("registry") {
        let dir = tempfile::tempdir()?;
        registry::run(dir.path(), args.registry_residents, args.registry_cases)?;
    }
    if only == Some("postgres") {
        let base = std::env::var("GRIDWORK_BENCH_POSTGRES").map_err(|_| {
            anyhow::anyhow!("set GRIDWORK_BENCH_POSTGRES=postgres://USER@HOST:PORT (a server where databases may be created)")
        })?;
        sync::run_postgres(&base)?;
    }
    if only.is_none_or(|o| o == "sync") {
        sync::run()?;
    }
    Ok(())
}
