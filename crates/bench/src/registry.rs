//! The registry the console reviews and the case list, on a server's own
//! database holding a city: 2,000,000 residents in 2,048 unit grids (a
//! tree of 8 districts, 64 streets, 512 communities) and 500,000 cases.
//!
//! The data goes in through the backend's own writes (`Writes::apply`, as
//! a push's merge does, and `Writes::save_case_flow` for each case's place
//! in the flow), not through HTTP sync: sending 2.5 million records over
//! loopback would measure sync, which BENCHMARKS.md measures elsewhere.
//! Then each question is asked through `Storage` (the rules, the scope
//! and the backend, without HTTP), each beside the raw SQL that answers the
//! same question on the same file, in the same run.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;
use gridwork_domain::formats::make_id_number;
use gridwork_domain::{DeviceId, Kind, RecordId, Value};
use gridwork_merge::{Hlc, Register};
use gridwork_protocol::cases::CaseFilter;
use gridwork_protocol::registry::{ActivityFilter, ActivityPeriodFilter, RecordFilter};
use gridwork_protocol::{FieldState, RecordChanges};
use gridwork_server::backend::{Backend, CaseFlowRow, UserRow};
use gridwork_server::sqlite::SqliteStorage;
use gridwork_server::storage::{Principal, Role, Storage};
use rusqlite::{OpenFlags, params};

use crate::{GIVEN, Rng, SURNAMES, percentile};

const T0: u64 = 1_750_000_000_000;

fn changes(kind: Kind, id: RecordId, fields: Vec<(&str, Value)>, hlc: Hlc) -> RecordChanges {
    let fields = fields
        .into_iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(field, value)| FieldState {
            field: field.to_owned(),
            register: Register::first_write(value, DeviceId(1), hlc),
        })
        .collect();
    RecordChanges { id, kind, fields }
}

fn id(kind: u8, n: usize) -> RecordId {
    let mut random = [0u8; 10];
    random[0] = kind;
    random[2..].copy_from_slice(&(n as u64).to_be_bytes());
    RecordId::from_parts(T0 + n as u64, random)
}

/// The grid tree: city `X`, districts `X1`…, streets `X1-1`…, communities
/// `X1-1-1`…, unit grids `X1-1-1-1`…; returns the unit grids.
fn grid_tree() -> (Vec<RecordChanges>, Vec<String>) {
    let hlc = Hlc::new(T0, 0);
    let mut records = Vec::new();
    let mut units = Vec::new();
    let mut n = 0;
    let mut grid = |code: &str, level: &str, parent: Option<&str>, records: &mut Vec<RecordChanges>| {
        n += 1;
        let fields = vec![
            ("code", Value::from(code)),
            ("name", Value::from(format!("网格{code}"))),
            ("level", Value::from(level)),
            ("parent", parent.map_or(Value::Null, Value::from)),
        ];
        records.push(changes(Kind::Grid, id(0, n), fields, hlc));
    };
    grid("X", "city", None, &mut records);
    for d in 1..=8 {
        let district = format!("X{d}");
        grid(&district, "district", Some("X"), &mut records);
        for s in 1..=8 {
            let street = format!("{district}-{s}");
            grid(&street, "street", Some(&district), &mut records);
            for c in 1..=8 {
                let community = format!("{street}-{c}");
                grid(&community, "community", Some(&street), &mut records);
                for u in 1..=4 {
                    let unit = format!("{community}-{u}");
                    grid(&unit, "unit", Some(&community), &mut records);
                    units.push(unit);
                }
            }
        }
    }
    (records, units)
}

fn resident(n: usize, units: &[String], rng: &mut Rng) -> RecordChanges {
    let birth =
        chrono::NaiveDate::from_ymd_opt(1940, 1, 1).unwrap() + chrono::Days::new(rng.below(25_000) as u64);
    let mut name = SURNAMES[rng.below(SURNAMES.len())].to_owned();
    for _ in 0..1 + rng.below(2) {
        name += GIVEN[rng.below(GIVEN.len())];
    }
    let sequence = (n % 1000) as u32;
    let roll = rng.below(1000);
    let tags: Vec<String> = match roll {
        0..200 => vec!["elderly_alone".into()],
        200..205 => vec!["community_correction".into()],
        _ => vec![],
    };
    let fields = vec![
        ("grid", Value::from(units[rng.below(units.len())].as_str())),
        ("name", name.into()),
        ("id_number", make_id_number(330702, birth, sequence).into()),
        ("sex", Value::from(if sequence % 2 == 1 { "male" } else { "female" })),
        ("birth_date", birth.format("%Y-%m-%d").to_string().into()),
        ("phone", format!("13{:09}", rng.next() % 1_000_000_000).into()),
        ("room", format!("{}-{}", 1 + rng.below(30), 101 + rng.below(20)).into()),
        ("residence_type", Value::from(["registered", "permanent", "floating"][rng.below(3)])),
        ("tags", if tags.is_empty() { Value::Null } else { Value::List(tags) }),
    ];
    changes(Kind::Resident, id(3, n), fields, Hlc::new(T0 + n as u64, 0))
}

const CATEGORIES: [&str; 4] = ["city_appearance", "sanitation", "public_facilities", "roads_traffic"];
const STATUSES: [&str; 4] = ["reported", "accepted", "dispatched", "closed"];

fn case(n: usize, units: &[String], rng: &mut Rng) -> (RecordChanges, CaseFlowRow) {
    let grid = units[rng.below(units.len())].clone();
    let category = CATEGORIES[rng.below(CATEGORIES.len())];
    let status = STATUSES[rng.below(STATUSES.len())];
    let received = T0 + n as u64 * 60_000;
    let record = changes(
        Kind::Case,
        id(6, n),
        vec![
            ("grid", Value::from(grid.as_str())),
            ("category", category.into()),
            ("status", status.into()),
            ("description", format!("第{n}号事件").into()),
        ],
        Hlc::new(received, 0),
    );
    let flow = CaseFlowRow {
        case_id: record.id,
        grid: grid.clone(),
        handling_grid: grid,
        category: category.into(),
        status: status.into(),
        department: None,
        received_at_ms: received,
        due_at_ms: received + 7 * 86_400_000,
        on_site_due_at_ms: None,
        handled_at_ms: None,
        closed_at_ms: (status == "closed").then_some(received + 86_400_000),
        handled_in_grid: false,
        satisfaction: None,
        updated_at_ms: received,
    };
    (record, flow)
}

/// Fills the database: the tree, `residents`, `cases` with their flow.
fn fill(storage: &SqliteStorage, residents: usize, cases: usize) -> Result<Vec<String>> {
    let (tree, units) = grid_tree();
    storage.backend().write(|w| Ok(w.apply(tree)?))?;
    let mut rng = Rng(7);
    let mut n = 0;
    while n < residents {
        let batch: Vec<RecordChanges> =
            (n..(n + 10_000).min(residents)).map(|i| resident(i, &units, &mut rng)).collect();
        n += batch.len();
        storage.backend().write(|w| Ok(w.apply(batch)?))?;
    }
    let mut n = 0;
    while n < cases {
        let (records, flows): (Vec<_>, Vec<_>) =
            (n..(n + 10_000).min(cases)).map(|i| case(i, &units, &mut rng)).unzip();
        n += records.len();
        storage.backend().write(|w| {
            w.apply(records)?;
            for flow in &flows {
                w.save_case_flow(flow)?;
            }
            Ok(())
        })?;
    }
    fill_activity(storage, &units, &mut rng)?;
    // A street's staff member: 32 unit grids of 2,048.
    storage.backend().write(|w| {
        w.insert_user(
            &UserRow {
                id: "street".into(),
                name: "街道员".into(),
                role: Role::Staff,
                password_hash: None,
                department: None,
            },
            T0,
        )?;
        w.assign_grid("street", "X3-5")?;
        Ok(())
    })?;
    Ok(units)
}

/// The days of patrols and visits filled: a week from 2025-06-16.
const ACTIVITY_DAYS: usize = 7;

/// A week of patrols and visits: each unit grid's worker patrols once a day
/// (an hour, a route point every 15 s: 240 points, about 6 KB) and makes
/// two visits.
fn fill_activity(storage: &SqliteStorage, units: &[String], rng: &mut Rng) -> Result<()> {
    let mut n = 0;
    for day in 0..ACTIVITY_DAYS {
        let date = format!("2025-06-{}", 16 + day);
        let mut batch = Vec::with_capacity(units.len() * 3);
        for (u, unit) in units.iter().enumerate() {
            let worker = format!("网格员{unit}");
            let hour = 8 + u % 3;
            let (x, y) = (119.6 + (u % 64) as f64 * 0.01, 29.0 + (u / 64) as f64 * 0.01);
            let route: Vec<[f64; 2]> = (0..240)
                .map(|i| {
                    let t = i as f64 / 240.0;
                    let wobble = (rng.below(100) as f64 - 50.0) * 1e-6;
                    [((x + t * 0.004) * 1e6).round() / 1e6, ((y + wobble) * 1e6).round() / 1e6]
                })
                .collect();
            let route = serde_json::json!({"type": "LineString", "coordinates": route}).to_string();
            let hlc = Hlc::new(T0 + n as u64, 0);
            batch.push(changes(
                Kind::Patrol,
                id(7, n),
                vec![
                    ("grid", unit.as_str().into()),
                    ("worker", worker.as_str().into()),
                    ("started_at", format!("{date}T{hour:02}:30:00+08:00").into()),
                    ("ended_at", format!("{date}T{:02}:30:00+08:00", hour + 1).into()),
                    ("route", route.into()),
                    ("items", Value::List(vec!["fire_safety".into(), "sanitation".into()])),
                    ("findings", "未发现异常".into()),
                ],
                hlc,
            ));
            for v in 0..2 {
                batch.push(changes(
                    Kind::Visit,
                    id(8, n * 2 + v),
                    vec![
                        ("grid", unit.as_str().into()),
                        ("visited_at", format!("{date}T{}:10:00+08:00", 14 + v).into()),
                        ("purpose", ["routine", "care"][v].into()),
                        ("worker", worker.as_str().into()),
                        ("notes", "了解家庭近况,无特殊需求".into()),
                    ],
                    hlc,
                ));
            }
            n += 1;
        }
        storage.backend().write(|w| Ok(w.apply(batch)?))?;
    }
    Ok(())
}

fn filter(pairs: &[(&str, &str)]) -> RecordFilter {
    let mut f = RecordFilter { kind: Some("resident".into()), ..Default::default() };
    for (key, value) in pairs {
        let value = Some((*value).to_owned());
        match *key {
            "grid" => f.grid = value,
            "q" => f.q = value,
            "tag" => f.tag = value,
            "residence" => f.residence = value,
            "after" => f.after = value,
            _ => unreachable!(),
        }
    }
    f
}

/// Times `f` `runs` times: p50 and p99 in ms.
fn time<T>(runs: usize, mut f: impl FnMut(usize) -> Result<T>) -> Result<(f64, f64, T)> {
    let mut samples: Vec<Duration> = Vec::with_capacity(runs);
    let mut last = None;
    for i in 0..runs {
        let start = Instant::now();
        let out = f(i)?;
        samples.push(start.elapsed());
        last = Some(out);
    }
    Ok((percentile(&mut samples, 0.5), percentile(&mut samples, 0.99), last.expect("runs > 0")))
}

pub fn run(dir: &Path, residents: usize, cases: usize) -> Result<()> {
    let db = dir.join("gridwork.db");
    SqliteStorage::init(&db, T0)?;
    let storage = SqliteStorage::open(&db)?;
    let start = Instant::now();
    let units = fill(&storage, residents, cases)?;
    let filled = start.elapsed();
    let bytes =
        std::fs::metadata(&db)?.len() + std::fs::metadata(dir.join("gridwork.db-wal")).map_or(0, |m| m.len());
    let raw = rusqlite::Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let admin = Principal {
        user_id: "admin".into(),
        user_name: "admin".into(),
        role: Role::Admin,
        device: None,
        key: None,
    };
    let street = Principal {
        user_id: "street".into(),
        user_name: "街道员".into(),
        role: Role::Staff,
        device: None,
        key: None,
    };
    println!(
        "\n### The registry and the case list, {residents} residents and {cases} cases (SQLite)\n\n\
         Filled through the backend's writes (`Writes::apply`, `save_case_flow`) in {:.0} s, {:.2} GB; \
         {} unit grids. Each question through `Storage` (rules, scope, backend; no HTTP), 200 runs \
         with varying values where the question has any; the ceiling is the bare SQL answering the same \
         question on the same file.\n",
        filled.as_secs_f64(),
        bytes as f64 / 1e9,
        units.len()
    );
    println!("| question | items | p50 ms | p99 ms | ceiling: bare SQL p50 ms |");
    println!("|---|---:|---:|---:|---:|");
    let runs = 200;
    let mut rng = Rng(11);
    let row = |what: &str, items: usize, (p50, p99): (f64, f64), ceiling: f64| {
        println!("| {what} | {items} | {p50:.2} | {p99:.2} | {ceiling:.2} |");
    };
    // The bare SQL: the first 51 (grid, id) of one unit grid.
    let bare_grid = |grid: &str| -> Result<usize> {
        let ids: Vec<Vec<u8>> = raw
            .prepare_cached(
                "SELECT id FROM residents WHERE grid = ?1 AND deleted IS NOT 1 ORDER BY id LIMIT 51",
            )?
            .query_map([grid], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(ids.len())
    };
    let (c50, _, _) = time(runs, |i| bare_grid(&units[i % units.len()]))?;

    let (p50, p99, page) = time(runs, |_| Ok(storage.records(&admin, filter(&[]))?))?;
    row("first page, whole city (admin)", page.items.len(), (p50, p99), c50);
    // A deep page: after a record half-way along the order.
    let deep: Vec<String> = (0..runs)
        .map(|i| -> Result<String> {
            let grid = &units[units.len() / 2 + i % 100];
            let first = storage.records(&admin, filter(&[("grid", grid)]))?;
            Ok(first.next.unwrap_or_default())
        })
        .collect::<Result<_>>()?;
    let (p50, p99, page) = time(runs, |i| Ok(storage.records(&admin, filter(&[("after", &deep[i])]))?))?;
    row("a deep page by cursor (half-way, page 20,000 of 40,000)", page.items.len(), (p50, p99), c50);
    let (p50, p99, page) = time(runs, |_| Ok(storage.records(&street, filter(&[]))?))?;
    row("first page, a street's staff (32 unit grids)", page.items.len(), (p50, p99), c50);
    let (p50, p99, page) = time(runs, |i| {
        Ok(storage.records(&admin, filter(&[("grid", &format!("X{}-{}", 1 + i % 8, 1 + i % 7))]))?)
    })?;
    row("grid filter: a street's subtree", page.items.len(), (p50, p99), c50);
    let (p50, p99, page) =
        time(runs, |i| Ok(storage.records(&admin, filter(&[("grid", &units[(i * 37) % units.len()])]))?))?;
    row("grid filter: one unit grid", page.items.len(), (p50, p99), c50);

    let bare_tag = |tag: &str| -> Result<f64> {
        let (p50, _, _) = time(runs, |i| {
            let ids: Vec<Vec<u8>> = raw
                .prepare_cached("SELECT id FROM record_tags WHERE kind = 'resident' AND tag = ?1 AND grid = ?2 ORDER BY id LIMIT 51")?
                .query_map(params![tag, units[i % units.len()]], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            Ok(ids.len())
        })?;
        Ok(p50)
    };
    let (c_common, c_rare) = (bare_tag("elderly_alone")?, bare_tag("community_correction")?);
    let (p50, p99, page) = time(runs, |_| Ok(storage.records(&admin, filter(&[("tag", "elderly_alone")]))?))?;
    row("tag: elderly living alone (20% of residents), whole city", page.items.len(), (p50, p99), c_common);
    let (p50, p99, page) =
        time(runs, |_| Ok(storage.records(&admin, filter(&[("tag", "community_correction")]))?))?;
    row("tag: community correction (0.5%), whole city", page.items.len(), (p50, p99), c_rare);
    let (p50, p99, page) = time(runs, |_| Ok(storage.records(&admin, filter(&[("tag", "veteran")]))?))?;
    row("tag nobody holds, whole city (every grid visited)", page.items.len(), (p50, p99), c_rare);
    let (p50, p99, page) =
        time(runs, |_| Ok(storage.records(&admin, filter(&[("residence", "floating")]))?))?;
    row("residence: floating, whole city", page.items.len(), (p50, p99), c50);

    type Make = fn(&mut Rng) -> (String, &'static str);
    let searches: [(&str, Make); 4] = [
        ("search: a surname (one character, ~5% of the city)", |r| {
            (SURNAMES[r.below(SURNAMES.len())].into(), "name")
        }),
        ("search: two characters of a name", |r| {
            (format!("{}{}", SURNAMES[r.below(SURNAMES.len())], GIVEN[r.below(GIVEN.len())]), "name")
        }),
        ("search: ID number, first 10 digits", |r| (format!("330702{}", 1940 + r.below(68)), "id_number")),
        ("search: phone, first 7 digits", |r| (format!("13{:05}", r.below(100_000)), "phone")),
    ];
    for (what, make) in searches {
        let texts: Vec<(String, &str)> = (0..runs).map(|_| make(&mut rng)).collect();
        let (p50, p99, page) = time(runs, |i| Ok(storage.records(&admin, filter(&[("q", &texts[i].0)]))?))?;
        let (c50, _, _) = time(runs, |i| {
            let (text, column) = &texts[i];
            let sql = format!(
                "SELECT grid, id FROM residents WHERE {column} >= ?1 AND {column} < ?2 AND deleted IS NOT 1 ORDER BY grid, id LIMIT 51"
            );
            let ids: Vec<Vec<u8>> = raw
                .prepare_cached(&sql)?
                .query_map(params![text, format!("{text}\u{10FFFF}")], |r| r.get(1))?
                .collect::<Result<_, _>>()?;
            Ok(ids.len())
        })?;
        row(what, page.items.len(), (p50, p99), c50);
        let texts: Vec<(String, &str)> = (0..runs).map(|_| make(&mut rng)).collect();
        let (p50, p99, page) = time(runs, |i| Ok(storage.records(&street, filter(&[("q", &texts[i].0)]))?))?;
        row(&format!("{what}, a street's staff"), page.items.len(), (p50, p99), c50);
    }
    let (p50, p99, _) = time(runs, |i| Ok(storage.record(&admin, id(3, (i * 9973) % residents), T0)?))?;
    let (c50, _, _) = time(runs, |i| {
        let n: Vec<u8> = raw
            .prepare_cached("SELECT meta FROM residents WHERE id = ?1")?
            .query_row([id(3, (i * 9973) % residents).as_bytes().to_vec()], |r| r.get(0))?;
        Ok(n.len())
    })?;
    row("record detail with history (and its audit line)", 1, (p50, p99), c50);

    // The case list at 500k cases.
    let cases_filter = |status: Option<&str>, overdue: bool, after: Option<String>| CaseFilter {
        status: status.map(str::to_owned),
        overdue,
        after,
        ..Default::default()
    };
    let now = T0 + cases as u64 * 60_000;
    let (c50, _, _) = time(runs, |_| {
        let ids: Vec<Vec<u8>> = raw
            .prepare_cached(
                "SELECT case_id FROM case_flow ORDER BY received_at_ms DESC, case_id DESC LIMIT 51",
            )?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(ids.len())
    })?;
    let (p50, p99, page) =
        time(runs, |_| Ok(storage.cases(&admin, cases_filter(None, false, None), now)?))?;
    row("cases: first page, whole city", page.items.len(), (p50, p99), c50);
    let deep = format!("{}:{}", T0 + (cases as u64 / 2) * 60_000, id(6, cases / 2));
    let (p50, p99, page) =
        time(runs, |_| Ok(storage.cases(&admin, cases_filter(None, false, Some(deep.clone())), now)?))?;
    row("cases: a deep page by cursor (half-way)", page.items.len(), (p50, p99), c50);
    let (p50, p99, page) =
        time(runs, |_| Ok(storage.cases(&admin, cases_filter(Some("dispatched"), false, None), now)?))?;
    row("cases: status dispatched", page.items.len(), (p50, p99), c50);
    let (p50, p99, page) = time(runs, |_| Ok(storage.cases(&admin, cases_filter(None, true, None), now)?))?;
    row("cases: overdue", page.items.len(), (p50, p99), c50);
    let (p50, p99, page) =
        time(runs, |_| Ok(storage.cases(&street, cases_filter(None, false, None), now)?))?;
    row("cases: first page, a street's staff", page.items.len(), (p50, p99), c50);

    // A day's patrols and visits (GET /api/v1/activity). The bare SQL reads
    // the same day's rows whole, both kinds, for the same grids.
    let street_units: Vec<String> = units.iter().filter(|u| u.starts_with("X3-5-")).cloned().collect();
    let day = |i: usize| format!("2025-06-{}", 16 + i % ACTIVITY_DAYS);
    let bare_day = |grids: &[String], day: &str, worker: Option<&str>| -> Result<usize> {
        let grids = serde_json::to_string(grids)?;
        let (from, to) = (format!("{day}T00:00"), format!("{day}T24:00"));
        let mut rows = 0;
        for (table, at) in [("patrols", "started_at"), ("visits", "visited_at")] {
            let sql = format!(
                "SELECT * FROM {table} WHERE grid IN (SELECT value FROM json_each(?1)) AND {at} >= ?2 AND {at} < ?3
                 AND (?4 IS NULL OR worker = ?4) ORDER BY {at}"
            );
            let mut statement = raw.prepare_cached(&sql)?;
            let columns = statement.column_count();
            let mut cursor = statement.query(params![grids, from, to, worker])?;
            while let Some(row) = cursor.next()? {
                for c in 0..columns {
                    std::hint::black_box(row.get_ref(c)?);
                }
                rows += 1;
            }
        }
        Ok(rows)
    };
    let activity = |grid: Option<&str>, day: String, worker: Option<String>| ActivityFilter {
        day: Some(day),
        grid: grid.map(str::to_owned),
        worker,
    };
    let now = T0 + 30 * 86_400_000;
    let runs = 50;
    let (c50, _, _) =
        time(runs, |i| bare_day(std::slice::from_ref(&units[(i * 37) % units.len()]), &day(i), None))?;
    let (p50, p99, answer) = time(runs, |i| {
        Ok(storage.activity(&admin, activity(Some(&units[(i * 37) % units.len()]), day(i), None), now)?)
    })?;
    row(
        "a day's patrols and visits, one unit grid",
        answer.patrols.len() + answer.visits.len(),
        (p50, p99),
        c50,
    );
    let (c50, _, _) = time(runs, |i| bare_day(&street_units, &day(i), None))?;
    let (p50, p99, answer) =
        time(runs, |i| Ok(storage.activity(&street, activity(None, day(i), None), now)?))?;
    row("… a street's staff (32 unit grids)", answer.patrols.len() + answer.visits.len(), (p50, p99), c50);
    let worker = |i: usize| format!("网格员{}", units[(i * 37) % units.len()]);
    let (c50, _, _) = time(runs, |i| bare_day(&units, &day(i), Some(&worker(i))))?;
    let (p50, p99, answer) =
        time(runs, |i| Ok(storage.activity(&admin, activity(None, day(i), Some(worker(i))), now)?))?;
    row("… one worker, whole city", answer.patrols.len() + answer.visits.len(), (p50, p99), c50);
    let (c50, _, rows) = time(runs, |i| bare_day(&units, &day(i), None))?;
    let (p50, p99, answer) =
        time(runs, |i| Ok(storage.activity(&admin, activity(None, day(i), None), now)?))?;
    row(
        &format!(
            "… whole city ({rows} rows; the answer stops at its bounds, truncated: {})",
            answer.truncated
        ),
        answer.patrols.len() + answer.visits.len(),
        (p50, p99),
        c50,
    );
    // Each worker over the week (GET /api/v1/activity/period): the bare
    // SQL reads the week's (grid, time, worker) of both tables.
    let week = ActivityPeriodFilter {
        from: Some("2025-06-16".into()),
        to: Some(format!("2025-06-{}", 15 + ACTIVITY_DAYS)),
        grid: None,
    };
    let runs = 20;
    let bare_week = |grids: &[String]| -> Result<usize> {
        let grids = serde_json::to_string(grids)?;
        let mut rows = 0;
        for (table, at) in [("patrols", "started_at"), ("visits", "visited_at")] {
            let sql = format!(
                "SELECT id, {at}, worker FROM {table} WHERE grid IN (SELECT value FROM json_each(?1)) AND {at} >= ?2 AND {at} < ?3"
            );
            let mut statement = raw.prepare_cached(&sql)?;
            let mut cursor = statement.query(params![grids, "2025-06-14", "2025-06-25"])?;
            while let Some(row) = cursor.next()? {
                std::hint::black_box(row.get_ref(1)?);
                rows += 1;
            }
        }
        Ok(rows)
    };
    let (c50, _, _) = time(runs, |_| bare_week(&units))?;
    let (p50, p99, answer) = time(runs, |_| Ok(storage.activity_period(&admin, week.clone(), now)?))?;
    row(
        "each worker over the week, whole city (GET /activity/period)",
        answer.workers.len(),
        (p50, p99),
        c50,
    );
    let street_week = ActivityPeriodFilter { grid: Some("X3-5".into()), ..week.clone() };
    let (c50, _, _) = time(runs, |_| bare_week(&street_units))?;
    let (p50, p99, answer) =
        time(runs, |_| Ok(storage.activity_period(&admin, street_week.clone(), now)?))?;
    row("… a street (32 unit grids)", answer.workers.len(), (p50, p99), c50);
    Ok(())
}
