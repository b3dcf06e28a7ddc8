//! Tests of the store on real SQLite databases (in memory, or files where
//! reopening matters), with devices and a server-role store exchanging
//! changes the way sync does.

use std::collections::BTreeMap;
use std::sync::Arc;

use gridwork_domain::formats::make_id_number;
use gridwork_domain::{DeviceId, FieldType, Kind, Reason, RecordId, ValidationError, Value};
use proptest::prelude::*;

use super::*;

const T0: u64 = 1_750_000_000_000;

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(T0))
}

fn device(n: u32, clock: &Arc<ManualClock>) -> Store {
    let mut store = Store::open_in_memory(Role::Device, clock.clone()).unwrap();
    store.set_device_id(DeviceId(n)).unwrap();
    store
}

fn server(clock: &Arc<ManualClock>) -> Store {
    let mut store = Store::open_in_memory(Role::Server, clock.clone()).unwrap();
    add_grid(&mut store, "G1");
    add_grid(&mut store, "G2");
    store
}

fn add_grid(store: &mut Store, code: &str) -> RecordId {
    store
        .put(
            Kind::Grid,
            None,
            &[("code", code.into()), ("name", format!("网格{code}").into()), ("level", "unit".into())],
        )
        .unwrap()
}

/// One sync round: push the outbox, then pull everything after `cursor`.
fn sync(device: &mut Store, server: &mut Store, cursor: &mut u64) {
    sync_noting(device, server, cursor, &mut BTreeMap::new());
}

/// Every version ever pushed, joined per field: what every replica's
/// register must end up equal to.
type Joined = BTreeMap<(RecordId, String), gridwork_merge::Register<Value>>;

fn sync_noting(device: &mut Store, server: &mut Store, cursor: &mut u64, pushed: &mut Joined) {
    let outgoing = device.outgoing(PageLimit::records(1000)).unwrap();
    for record in &outgoing.records {
        for field in &record.fields {
            match pushed.get_mut(&(record.id, field.field.clone())) {
                Some(joined) => {
                    joined.merge(field.register.clone());
                }
                None => {
                    pushed.insert((record.id, field.field.clone()), field.register.clone());
                }
            }
        }
    }
    server.apply_remote(outgoing.records.clone()).unwrap();
    device.acknowledge(outgoing.up_to_counter).unwrap();
    let mut position = PullPosition::start(*cursor);
    loop {
        let page = server.changes_in_scope(position, None, None, PageLimit::records(100)).unwrap();
        device.apply_remote(page.records).unwrap();
        if !page.more {
            *cursor = page.next;
            break;
        }
        position.after = page.next;
    }
}

fn resident(name: &str) -> Vec<(&'static str, Value)> {
    vec![("grid", "G1".into()), ("name", name.into())]
}

fn count(store: &Store, sql: &str) -> i64 {
    store.connection().query_row(sql, [], |row| row.get(0)).unwrap()
}

#[test]
fn migrations_build_tables_that_match_the_schema() {
    for role in [Role::Device, Role::Server] {
        let store = Store::open_in_memory(role, clock()).unwrap();
        for kind in Kind::ALL {
            let def = kind.def();
            let mut statement =
                store.connection().prepare(&format!("PRAGMA table_info({})", def.table)).unwrap();
            let columns: Vec<(String, String)> = statement
                .query_map([], |row| Ok((row.get(1)?, row.get(2)?)))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let expected: Vec<(String, String)> = [("id", "BLOB"), ("seq", "INTEGER"), ("meta", "BLOB")]
                .into_iter()
                .map(|(n, t)| (n.to_owned(), t.to_owned()))
                .chain(def.fields.iter().map(|f| {
                    let ty = match f.ty {
                        FieldType::Int { .. } | FieldType::Bool => "INTEGER",
                        FieldType::Float { .. } => "REAL",
                        FieldType::Ref { .. } => "BLOB",
                        _ => "TEXT",
                    };
                    (f.name.to_owned(), ty.to_owned())
                }))
                .collect();
            assert_eq!(columns, expected, "{kind}");
            assert!(def.fields.iter().all(|f| f.tag < 64), "{kind}: outbox keeps tags in a 64-bit mask");
        }
    }
}

#[test]
fn a_database_from_a_newer_program_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.db");
    drop(Store::open(&path, Role::Device, clock()).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("INSERT INTO schema_migrations VALUES ('common', 999, '0999_future.sql')", []).unwrap();
    drop(conn);
    let err = Store::open(&path, Role::Device, clock()).unwrap_err();
    assert!(matches!(err, Error::SchemaTooNew { set: "common", found: 999, .. }), "{err}");
}

#[test]
fn a_local_edit_is_stored_found_and_queued_and_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.db");
    let clock = clock();
    let id = {
        let mut store = Store::open(&path, Role::Device, clock.clone()).unwrap();
        store.set_device_id(DeviceId(7)).unwrap();
        store.apply_remote(vec![export_grid("G1")]).unwrap();
        let mut fields = resident("张秀英");
        fields.push(("id_number", "11010519491231002X".into()));
        fields.push(("phone", "138-1234-5678".into()));
        fields.push(("tags", Value::List(vec!["elderly_alone".into(), "disabled".into()])));
        store.put(Kind::Resident, None, &fields).unwrap()
    };
    let mut store = Store::open(&path, Role::Device, clock.clone()).unwrap();
    let record = store.get(Kind::Resident, id).unwrap().unwrap();
    assert_eq!(record.get("phone"), Some(&Value::from("13812345678")));
    assert_eq!(record.get("tags"), Some(&Value::List(vec!["disabled".into(), "elderly_alone".into()])));
    assert_eq!(store.pending_count().unwrap(), 1);
    let outgoing = store.outgoing(PageLimit::records(10)).unwrap();
    assert_eq!(outgoing.up_to_counter, 1);
    assert_eq!(outgoing.records[0].fields.len(), 5);
    assert_eq!(store.acknowledge(1).unwrap(), 1);
    assert_eq!(store.pending_count().unwrap(), 0);
}

#[test]
fn an_encrypted_store_is_unreadable_without_its_key_and_whole_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tablet.db");
    let clock = clock();
    let key = DatabaseKey::random();
    let keyed = |key: Option<DatabaseKey>| Options { key, auto_checkpoint: false, ..Options::default() };
    let id = {
        let mut store =
            Store::open_with(&path, Role::Device, clock.clone(), keyed(Some(key.clone()))).unwrap();
        let _checkpointer =
            Checkpointer::spawn_keyed(&path, std::time::Duration::from_millis(5), Some(&key)).unwrap();
        store.set_device_id(DeviceId(7)).unwrap();
        store.apply_remote(vec![export_grid("G1")]).unwrap();
        let mut fields = resident("张秀英");
        fields.push(("id_number", "11010519491231002X".into()));
        fields.push(("phone", "13812345678".into()));
        let id = store.put(Kind::Resident, None, &fields).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        id
    };
    // On disk: neither SQLite's header nor the resident's name or numbers,
    // in the database or its log.
    for suffix in ["", "-wal"] {
        let bytes = std::fs::read(format!("{}{suffix}", path.display())).unwrap_or_default();
        assert!(!bytes.starts_with(b"SQLite format 3"), "{suffix}: a plain SQLite header");
        for secret in ["张秀英".as_bytes(), b"11010519491231002X", b"13812345678"] {
            assert!(!bytes.windows(secret.len()).any(|w| w == secret), "{suffix}: readable on disk");
        }
    }
    // Without the key, or with another one, it does not open, and the file
    // is left as it was.
    let before = std::fs::read(&path).unwrap();
    for wrong in [None, Some(DatabaseKey::random())] {
        let error = Store::open_with(&path, Role::Device, clock.clone(), keyed(wrong)).unwrap_err();
        assert!(matches!(error, Error::Locked), "{error}");
        assert!(error.zh().contains("密钥"));
    }
    assert_eq!(std::fs::read(&path).unwrap(), before, "a failed open changes nothing");
    // With it, everything is there, the unsent edit included.
    let store = Store::open_with(&path, Role::Device, clock.clone(), keyed(Some(key.clone()))).unwrap();
    assert_eq!(store.get(Kind::Resident, id).unwrap().unwrap().get("name"), Some(&Value::from("张秀英")));
    assert_eq!(store.pending_count().unwrap(), 1);
    // A new key replaces the old one.
    let next = DatabaseKey::random();
    store.rekey(Some(&next)).unwrap();
    drop(store);
    assert!(matches!(
        Store::open_with(&path, Role::Device, clock.clone(), keyed(Some(key))),
        Err(Error::Locked)
    ));
    let store = Store::open_with(&path, Role::Device, clock, keyed(Some(next))).unwrap();
    assert_eq!(store.pending_count().unwrap(), 1);
}

/// A grid record as a server would send it, for devices in tests.
fn export_grid(code: &str) -> gridwork_protocol::RecordChanges {
    let mut hub = Store::open_in_memory(Role::Server, clock()).unwrap();
    let id = add_grid(&mut hub, code);
    hub.export(Kind::Grid, id).unwrap().unwrap()
}

#[test]
fn bad_input_names_the_field_and_changes_nothing() {
    let clock = clock();
    let mut store = device(3, &clock);
    store.apply_remote(vec![export_grid("G1")]).unwrap();
    let good = store.put(Kind::Resident, None, &resident("李明")).unwrap();
    let snapshot = |s: &Store| {
        (
            count(s, "SELECT count(*) FROM residents"),
            count(s, "SELECT count(*) FROM outbox"),
            count(s, "SELECT counter FROM replica"),
            count(s, "SELECT hlc FROM replica"),
            s.get(Kind::Resident, good).unwrap(),
        )
    };
    let before = snapshot(&store);
    let attempts: Vec<(Vec<(&str, Value)>, &str)> = vec![
        (vec![("grid", "G1".into()), ("name", "王".into()), ("nickname", "小王".into())], "nickname"),
        (vec![("grid", "G1".into()), ("name", Value::Int(5))], "name"),
        (
            vec![("grid", "G1".into()), ("name", "王".into()), ("id_number", "110105194912310021".into())],
            "id_number",
        ),
        (vec![("name", "无网格".into())], "grid"),
        (vec![("grid", "NOPE".into()), ("name", "王".into())], "grid"),
        (
            vec![
                ("grid", "G1".into()),
                ("name", "王".into()),
                ("household", RecordId::from_parts(1, [0; 10]).to_string().into()),
            ],
            "household",
        ),
    ];
    for (fields, field) in attempts {
        let err = store.put(Kind::Resident, None, &fields).unwrap_err();
        let validation = err.validation().unwrap_or_else(|| panic!("{err}"));
        assert_eq!(validation.field(), Some(field), "{err}");
        assert!(err.to_string().contains(field), "{err}");
        assert_eq!(snapshot(&store), before, "{err}");
    }
    // An update that breaks the record leaves it as it was.
    let err = store.put(Kind::Resident, Some(good), &[("phone", "12345".into())]).unwrap_err();
    assert_eq!(err.validation(), Some(&ValidationError::invalid("phone", Reason::Phone)));
    assert_eq!(snapshot(&store), before);
}

#[test]
fn a_bad_change_refuses_the_whole_batch() {
    let clock = clock();
    let mut hub = server(&clock);
    let mut author = device(1, &clock);
    let mut cursor = 0;
    sync(&mut author, &mut hub, &mut cursor);
    let a = author.put(Kind::Resident, None, &resident("甲")).unwrap();
    let b = author.put(Kind::Resident, None, &resident("乙")).unwrap();
    let good_batch = author.outgoing(PageLimit::records(10)).unwrap().records;

    let mut receiver = device(2, &clock);
    let mut tampered = good_batch.clone();
    let phone = gridwork_merge::Register::first_write(
        Value::from("not a phone"),
        DeviceId(1),
        gridwork_merge::Hlc::new(T0, 9),
    );
    tampered[1].fields.push(gridwork_protocol::FieldState { field: "phone".into(), register: phone });
    let err = receiver.apply_remote(tampered).unwrap_err();
    assert!(matches!(&err, Error::InBatch { index: 1, id, .. } if *id == b), "{err}");
    assert_eq!(err.validation().and_then(|v| v.field()), Some("phone"));
    assert!(receiver.get(Kind::Resident, a).unwrap().is_none(), "the good change was not applied either");

    let mut unknown = good_batch.clone();
    unknown[0].fields[0].field = "nickname".into();
    let err = receiver.apply_remote(unknown).unwrap_err();
    assert_eq!(err.validation().and_then(|v| v.field()), Some("nickname"), "{err}");

    let mut no_grid = good_batch.clone();
    no_grid[0].fields.retain(|f| f.field != "grid");
    let err = receiver.apply_remote(no_grid).unwrap_err();
    assert_eq!(err.validation(), Some(&ValidationError::required("grid")), "{err}");
    assert_eq!(count(&receiver, "SELECT count(*) FROM residents"), 0);

    let report = receiver.apply_remote(good_batch.clone()).unwrap();
    assert_eq!((report.records, report.created), (2, 2));
    // Applying it again changes nothing.
    let again = receiver.apply_remote(good_batch).unwrap();
    assert_eq!(again.changed_fields, 0);
}

#[test]
fn concurrent_edits_converge_and_the_loser_is_kept_until_settled() {
    let clock = clock();
    let mut hub = server(&clock);
    let (mut a, mut b) = (device(1, &clock), device(2, &clock));
    let (mut ca, mut cb) = (0, 0);
    sync(&mut a, &mut hub, &mut ca);
    let id = a.put(Kind::Resident, None, &resident("赵六")).unwrap();
    sync(&mut a, &mut hub, &mut ca);
    sync(&mut b, &mut hub, &mut cb);

    // Both edit the phone offline; B a little later.
    clock.advance(1000);
    a.put(Kind::Resident, Some(id), &[("phone", "13800000001".into())]).unwrap();
    clock.advance(1000);
    b.put(Kind::Resident, Some(id), &[("phone", "13800000002".into())]).unwrap();
    for _ in 0..2 {
        sync(&mut a, &mut hub, &mut ca);
        sync(&mut b, &mut hub, &mut cb);
    }
    for store in [&a, &b, &hub] {
        assert_eq!(
            store.get(Kind::Resident, id).unwrap().unwrap().get("phone"),
            Some(&Value::from("13800000002"))
        );
    }
    let conflicts: Vec<_> =
        [&mut a, &mut b, &mut hub].into_iter().map(|s| s.conflicts(10).unwrap()).collect();
    assert_eq!(conflicts[0].len(), 1);
    assert_eq!(conflicts[0], conflicts[1]);
    assert_eq!(conflicts[0], conflicts[2]);
    assert_eq!(conflicts[0][0].field, "phone");
    assert_eq!(conflicts[0][0].losers[0].value, Value::from("13800000001"));
    assert_eq!(conflicts[0][0].losers[0].writer, DeviceId(1));

    // The centre settles it: an ordinary write that has seen both.
    hub.put(Kind::Resident, Some(id), &[("phone", "13800000001".into())]).unwrap();
    sync(&mut a, &mut hub, &mut ca);
    sync(&mut b, &mut hub, &mut cb);
    for store in [&mut a, &mut b, &mut hub] {
        assert!(store.conflicts(10).unwrap().is_empty());
        assert_eq!(
            store.get(Kind::Resident, id).unwrap().unwrap().get("phone"),
            Some(&Value::from("13800000001"))
        );
    }
}

#[test]
fn a_write_after_seeing_another_wins_even_from_a_clock_a_year_behind() {
    let ahead = clock();
    let behind = Arc::new(ManualClock::new(T0 - 365 * 24 * 3600 * 1000));
    let mut hub = server(&ahead);
    let mut a = device(1, &ahead);
    let mut b = device(2, &behind);
    let (mut ca, mut cb) = (0, 0);
    sync(&mut a, &mut hub, &mut ca);
    let id = a.put(Kind::Resident, None, &resident("钱七")).unwrap();
    sync(&mut a, &mut hub, &mut ca);
    sync(&mut b, &mut hub, &mut cb);
    b.put(Kind::Resident, Some(id), &[("name", "钱七七".into())]).unwrap();
    sync(&mut b, &mut hub, &mut cb);
    sync(&mut a, &mut hub, &mut ca);
    for store in [&mut a, &mut b, &mut hub] {
        assert_eq!(store.get(Kind::Resident, id).unwrap().unwrap().get("name"), Some(&Value::from("钱七七")));
        assert!(store.conflicts(10).unwrap().is_empty());
    }
    // B's HLC moved past A's timestamp although its wall clock is a year behind.
    assert!(b.hlc().unwrap() > a.registers(Kind::Resident, id).unwrap().unwrap()[0].register.winner().hlc);
}

#[test]
fn a_delete_hides_the_record_and_a_concurrent_edit_is_kept_not_resurrecting() {
    let clock = clock();
    let mut hub = server(&clock);
    let (mut a, mut b) = (device(1, &clock), device(2, &clock));
    let (mut ca, mut cb) = (0, 0);
    sync(&mut a, &mut hub, &mut ca);
    let id = a.put(Kind::Resident, None, &resident("孙八")).unwrap();
    sync(&mut a, &mut hub, &mut ca);
    sync(&mut b, &mut hub, &mut cb);
    a.delete(Kind::Resident, id).unwrap();
    clock.advance(10);
    b.put(Kind::Resident, Some(id), &[("room", "302".into())]).unwrap();
    for _ in 0..2 {
        sync(&mut a, &mut hub, &mut ca);
        sync(&mut b, &mut hub, &mut cb);
    }
    for store in [&a, &b, &hub] {
        let record = store.get(Kind::Resident, id).unwrap().unwrap();
        assert!(record.is_deleted());
        assert_eq!(record.get("room"), Some(&Value::from("302")));
        assert!(store.list(Kind::Resident, &ListQuery::default()).unwrap().is_empty());
    }
    // Restoring is a write of `deleted`, which brings the edit back too.
    b.put(Kind::Resident, Some(id), &[("deleted", Value::Bool(false))]).unwrap();
    sync(&mut b, &mut hub, &mut cb);
    sync(&mut a, &mut hub, &mut ca);
    let restored = a.list(Kind::Resident, &ListQuery::default()).unwrap();
    assert_eq!(restored.len(), 1);
    assert_eq!(restored[0].get("room"), Some(&Value::from("302")));
}

#[test]
fn residents_are_found_by_name_id_number_and_phone_prefix() {
    let clock = clock();
    let mut store = device(1, &clock);
    store.apply_remote(vec![export_grid("G1")]).unwrap();
    let birth = chrono::NaiveDate::from_ymd_opt(1980, 3, 4).unwrap();
    for (i, name) in ["张三", "张三丰", "张伟", "李四"].into_iter().enumerate() {
        let mut fields = resident(name);
        fields.push(("id_number", make_id_number(330702, birth, i as u32).into()));
        fields.push(("phone", format!("1380000000{i}").into()));
        store.put(Kind::Resident, None, &fields).unwrap();
    }
    let names = |search: ResidentSearch| -> Vec<String> {
        store.search_residents(&search).unwrap().iter().map(|r| r.get("name").unwrap().to_string()).collect()
    };
    assert_eq!(names(ResidentSearch { name: Some("张三".into()), ..Default::default() }), ["张三", "张三丰"]);
    assert_eq!(
        names(ResidentSearch { name: Some("张".into()), ..Default::default() }),
        ["张三", "张三丰", "张伟"]
    );
    assert_eq!(names(ResidentSearch { phone: Some("13800000003".into()), ..Default::default() }), ["李四"]);
    let id_prefix = make_id_number(330702, birth, 2)[..17].to_owned();
    assert_eq!(names(ResidentSearch { id_number: Some(id_prefix), ..Default::default() }), ["张伟"]);
    assert!(names(ResidentSearch { name: Some("王".into()), ..Default::default() }).is_empty());
}

#[test]
fn an_unenrolled_device_cannot_write() {
    let mut store = Store::open_in_memory(Role::Device, clock()).unwrap();
    assert!(matches!(store.put(Kind::Grid, None, &[]), Err(Error::NotEnrolled)));
    store.set_device_id(DeviceId(4)).unwrap();
    assert!(matches!(store.set_device_id(DeviceId(5)), Err(Error::DeviceMismatch { .. })));
}

#[derive(Clone, Debug)]
enum Op {
    Edit { device: usize, record: usize, field: usize, value: u8 },
    Create { device: usize },
    Delete { device: usize, record: usize },
    Sync { device: usize },
    Tick { ms: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0usize..5, 0usize..4, 0usize..3, 0u8..10).prop_map(|(device, record, field, value)| Op::Edit { device, record, field, value }),
        1 => (0usize..5).prop_map(|device| Op::Create { device }),
        1 => (0usize..5, 0usize..4).prop_map(|(device, record)| Op::Delete { device, record }),
        4 => (0usize..5).prop_map(|device| Op::Sync { device }),
        2 => (0u64..3000).prop_map(|ms| Op::Tick { ms }),
    ]
}

/// Everything a store shows: each resident's values and each conflict.
type Snapshot = (BTreeMap<RecordId, Vec<Value>>, Vec<Conflict>);

fn snapshot(store: &mut Store) -> Snapshot {
    let all = ListQuery { include_deleted: true, ..ListQuery::default() };
    let records = store.list(Kind::Resident, &all).unwrap().into_iter().map(|r| (r.id, r.values)).collect();
    (records, store.conflicts(1000).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).map_or(200, |c: u32| c / 10),
        ..ProptestConfig::default()
    })]

    /// Five device stores and a server store, editing the same residents
    /// offline and syncing in random order, end identical, conflicts
    /// included.
    #[test]
    fn stores_that_sync_in_any_order_end_identical(ops in prop::collection::vec(op(), 1..80)) {
        let clock = clock();
        let mut hub = server(&clock);
        let mut devices: Vec<Store> = (0..5).map(|i| device(10 + i as u32, &clock)).collect();
        let mut cursors = [0u64; 5];
        let mut pushed = Joined::new();
        let fields = ["phone", "room", "notes"];
        let mut ids: Vec<RecordId> = Vec::new();
        for (i, d) in devices.iter_mut().enumerate() {
            sync(d, &mut hub, &mut cursors[i]);
        }
        for op in ops {
            match op {
                Op::Create { device } => {
                    ids.push(devices[device].put(Kind::Resident, None, &resident("新")).unwrap());
                }
                Op::Edit { device, record, field, value } => {
                    let Some(&id) = ids.get(record % ids.len().max(1)) else { continue };
                    if devices[device].get(Kind::Resident, id).unwrap().is_none() { continue }
                    let value: Value = match fields[field] {
                        "phone" => format!("1390000000{value}").into(),
                        other => format!("{other}-{value}").into(),
                    };
                    devices[device].put(Kind::Resident, Some(id), &[(fields[field], value)]).unwrap();
                }
                Op::Delete { device, record } => {
                    let Some(&id) = ids.get(record % ids.len().max(1)) else { continue };
                    if devices[device].get(Kind::Resident, id).unwrap().is_none() { continue }
                    devices[device].delete(Kind::Resident, id).unwrap();
                }
                Op::Sync { device } => sync_noting(&mut devices[device], &mut hub, &mut cursors[device], &mut pushed),
                Op::Tick { ms } => clock.advance(ms),
            }
        }
        for _ in 0..2 {
            for (i, d) in devices.iter_mut().enumerate() {
                sync_noting(d, &mut hub, &mut cursors[i], &mut pushed);
            }
        }
        // The server holds exactly the join of everything pushed...
        for ((id, field), joined) in &pushed {
            let registers = hub.registers(Kind::Resident, *id).unwrap().unwrap();
            let held = &registers.iter().find(|f| f.field == field).unwrap().register;
            prop_assert_eq!(held, joined);
        }
        // ...and every device shows what the server shows.
        let expected = snapshot(&mut hub);
        for d in &mut devices {
            prop_assert_eq!(snapshot(d), expected.clone());
            prop_assert_eq!(d.pending_count().unwrap(), 0);
        }
    }
}

#[derive(Clone, Debug)]
enum Step {
    /// A replica writes a field, with any timestamp (clocks need not agree
    /// with causality here, so every merge path is taken).
    Write { replica: usize, field: usize, ms: u64 },
    /// One replica merges another's register.
    Exchange { from: usize, to: usize, field: usize },
    /// The store receives a replica's register.
    Deliver { from: usize, field: usize },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0usize..4, 0usize..3, 1u64..60).prop_map(|(replica, field, ms)| Step::Write { replica, field, ms }),
        2 => (0usize..4, 0usize..4, 0usize..3).prop_map(|(from, to, field)| Step::Exchange { from, to, field }),
        3 => (0usize..4, 0usize..3).prop_map(|(from, field)| Step::Deliver { from, field }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).map_or(500, |c: u32| c / 4),
        ..ProptestConfig::default()
    })]

    /// The store keeps registers in its own layout (winner in the row,
    /// losers in a table) and merges with SQL; after every delivery, in any
    /// order, it must hold exactly what the merge engine's own merge gives.
    #[test]
    fn the_stored_merge_matches_the_merge_engine(steps in prop::collection::vec(step(), 1..120)) {
        use gridwork_merge::{Hlc, Register};
        use gridwork_protocol::{FieldState, RecordChanges};
        let fields = ["phone", "room", "notes"];
        let id = RecordId::from_parts(T0, [9; 10]);
        let mut store = device(99, &clock());
        // The record exists with its required fields, written by device 50.
        let base = |field: &str, value: &str| FieldState {
            field: field.into(),
            register: Register::first_write(Value::from(value), DeviceId(50), Hlc::new(T0, 0)),
        };
        store.apply_remote(vec![RecordChanges { id, kind: Kind::Resident, fields: vec![base("grid", "G1"), base("name", "测试")] }]).unwrap();
        let mut replicas: Vec<Vec<Option<Register<Value>>>> = vec![vec![None; 3]; 4];
        let mut reference: Vec<Option<Register<Value>>> = vec![None; 3];
        let mut written = 0u32;
        for step in steps {
            match step {
                Step::Write { replica, field, ms } => {
                    written += 1;
                    let value: Value = match fields[field] {
                        "phone" => format!("139{:08}", written).into(),
                        other => format!("{other}-{written}").into(),
                    };
                    let (device, hlc) = (DeviceId(replica as u32 + 1), Hlc::new(T0 + ms, 0));
                    match &mut replicas[replica][field] {
                        Some(register) => { register.write(value, device, hlc); }
                        empty @ None => *empty = Some(Register::first_write(value, device, hlc)),
                    }
                }
                Step::Exchange { from, to, field } => {
                    if let Some(theirs) = replicas[from][field].clone() {
                        match &mut replicas[to][field] {
                            Some(ours) => { ours.merge(theirs); }
                            empty @ None => *empty = Some(theirs),
                        }
                    }
                }
                Step::Deliver { from, field } => {
                    let Some(register) = replicas[from][field].clone() else { continue };
                    match &mut reference[field] {
                        Some(ours) => { ours.merge(register.clone()); }
                        empty @ None => *empty = Some(register.clone()),
                    }
                    let change = RecordChanges { id, kind: Kind::Resident, fields: vec![FieldState { field: fields[field].into(), register }] };
                    store.apply_remote(vec![change]).unwrap();
                    let stored = store.registers(Kind::Resident, id).unwrap().unwrap();
                    let held = stored.iter().find(|f| f.field == fields[field]).map(|f| &f.register);
                    prop_assert_eq!(held, reference[field].as_ref());
                    let shown = store.get(Kind::Resident, id).unwrap().unwrap().get(fields[field]).cloned();
                    prop_assert_eq!(shown.as_ref(), reference[field].as_ref().map(|r| r.value()));
                    let conflicted = store.conflicts(10).unwrap().len();
                    prop_assert_eq!(conflicted, reference.iter().flatten().filter(|r| r.in_conflict()).count());
                }
            }
        }
    }
}

/// The winner is overwritten by a write that had not seen a loser which
/// outranks it (possible with a clock running ahead): the loser is
/// promoted, and the new write becomes a loser.
#[test]
fn a_loser_that_outranks_the_write_replacing_the_winner_is_promoted() {
    use gridwork_merge::{Hlc, Register};
    use gridwork_protocol::{FieldState, RecordChanges};
    let id = RecordId::from_parts(T0, [3; 10]);
    let mut store = device(99, &clock());
    let deliver = |store: &mut Store, field: &str, register: &Register<Value>| {
        let fields = vec![FieldState { field: field.into(), register: register.clone() }];
        store.apply_remote(vec![RecordChanges { id, kind: Kind::Resident, fields }]).unwrap();
    };
    let base = |field: &str, value: &str| FieldState {
        field: field.into(),
        register: Register::first_write(Value::from(value), DeviceId(50), Hlc::new(T0, 0)),
    };
    store
        .apply_remote(vec![RecordChanges {
            id,
            kind: Kind::Resident,
            fields: vec![base("grid", "G1"), base("name", "名")],
        }])
        .unwrap();
    let mut on_a = Register::first_write(Value::from("a1"), DeviceId(1), Hlc::new(T0 + 30, 0));
    let on_b = Register::first_write(Value::from("b1"), DeviceId(2), Hlc::new(T0 + 20, 0));
    deliver(&mut store, "room", &on_a);
    deliver(&mut store, "room", &on_b);
    on_a.write(Value::from("a2"), DeviceId(1), Hlc::new(T0 + 10, 0));
    deliver(&mut store, "room", &on_a);
    let mut expected = on_a.clone();
    expected.merge(on_b);
    assert_eq!(expected.value(), &Value::from("b1"));
    let stored = store.registers(Kind::Resident, id).unwrap().unwrap();
    assert_eq!(&stored.iter().find(|f| f.field == "room").unwrap().register, &expected);
    assert_eq!(store.get(Kind::Resident, id).unwrap().unwrap().get("room"), Some(&Value::from("b1")));
}

/// A record that moved into a scope and changed again later reaches a
/// device whole, whichever page it falls in.
#[test]
fn a_record_moved_into_the_scope_arrives_whole_in_any_page() {
    let clock = clock();
    let mut hub = server(&clock);
    let outsider = hub
        .put(
            Kind::Resident,
            None,
            &[("grid", "G2".into()), ("name", "外来户".into()), ("room", "1-1".into())],
        )
        .unwrap();
    let cursor =
        hub.changes_in_scope(PullPosition::start(0), None, None, PageLimit::records(1000)).unwrap().next;
    // After the device's cursor: the move in, other changes, a later edit.
    hub.put(Kind::Resident, Some(outsider), &[("grid", "G1".into())]).unwrap();
    for n in 0..3 {
        hub.put(Kind::Resident, None, &[("grid", "G1".into()), ("name", format!("本地{n}").into())]).unwrap();
    }
    hub.put(Kind::Resident, Some(outsider), &[("room", "2-2".into())]).unwrap();

    let scope = vec!["G1".to_owned()];
    let mut position = PullPosition::start(cursor);
    let mut seen = None;
    loop {
        let page = hub.changes_in_scope(position, Some(&scope), None, PageLimit::records(1)).unwrap();
        for record in &page.records {
            if record.id == outsider {
                seen = Some(record.fields.iter().map(|f| f.field.clone()).collect::<Vec<_>>());
            }
        }
        position.after = page.next;
        if !page.more {
            break;
        }
    }
    let fields = seen.expect("the moved record is sent");
    for field in ["grid", "name", "room"] {
        assert!(fields.iter().any(|f| f == field), "{field} missing from {fields:?}");
    }
}

/// A record changed twice with other records' changes between lands in the
/// page of its last change, and still brings its first.
#[test]
fn a_page_brings_every_change_of_its_records_since_the_cursor() {
    let clock = clock();
    let mut hub = server(&clock);
    let mut device = device(5, &clock);
    let mut cursor = 0;
    let id = hub.put(Kind::Resident, None, &resident("两次修改")).unwrap();
    sync(&mut device, &mut hub, &mut cursor);
    hub.put(Kind::Resident, Some(id), &[("room", "1-101".into())]).unwrap();
    for n in 0..3 {
        hub.put(Kind::Resident, None, &resident(&format!("其他{n}"))).unwrap();
    }
    hub.put(Kind::Resident, Some(id), &[("phone", "13900000001".into())]).unwrap();

    let mut position = PullPosition::start(cursor);
    let mut pages = 0;
    loop {
        let page =
            hub.changes_in_scope(position, Some(&["G1".to_owned()]), None, PageLimit::records(1)).unwrap();
        device.apply_remote(page.records).unwrap();
        pages += 1;
        if !page.more {
            break;
        }
        position.after = page.next;
    }
    assert!(pages >= 4, "one record a page: {pages}");
    let record = device.get(Kind::Resident, id).unwrap().unwrap();
    assert_eq!(record.get("room"), Some(&Value::from("1-101")), "the first change came too");
    assert_eq!(record.get("phone"), Some(&Value::from("13900000001")));
}

/// Pulls `scope`'s changes after `cursor` into `device`, page by page, as
/// the client does, sweeping when the hub says to; returns what was dropped.
fn pull_scope(device: &mut Store, hub: &mut Store, scope: &[String], cursor: &mut u64) -> usize {
    let mut dropped = 0;
    let mut sweeping = false;
    let mut position = PullPosition::start(*cursor);
    loop {
        let page = hub.changes_in_scope(position, Some(scope), None, PageLimit::records(100)).unwrap();
        if page.resync {
            assert!(!sweeping, "a pull from 0 is never told to resync");
            device.start_sweep().unwrap();
            sweeping = true;
            position = PullPosition::start(0);
            continue;
        }
        for id in &page.removed {
            dropped += usize::from(device.drop_record(*id).unwrap());
        }
        if sweeping {
            device.note_seen(page.records.iter().map(|r| r.id)).unwrap();
        }
        device.apply_remote(page.records).unwrap();
        if !page.more {
            *cursor = page.next;
            if sweeping {
                dropped += device.finish_sweep().unwrap();
            }
            return dropped;
        }
        position.after = page.next;
    }
}

#[test]
fn a_device_too_far_behind_in_moves_pulls_everything_again_and_drops_what_left() {
    let clock = clock();
    let mut hub = server(&clock);
    let mut device = device(5, &clock);
    let scope = vec!["G1".to_owned()];
    let mut cursor = 0;
    let stays = hub.put(Kind::Resident, None, &resident("留下")).unwrap();
    let leaves = hub.put(Kind::Resident, None, &resident("迁走")).unwrap();
    pull_scope(&mut device, &mut hub, &scope, &mut cursor);
    assert_eq!(device.list(Kind::Resident, &ListQuery::default()).unwrap().len(), 2);

    // A few moves: the device is told what left, once per record however
    // often it went back and forth.
    for grid in ["G2", "G1", "G2"] {
        hub.put(Kind::Resident, Some(leaves), &[("grid", grid.into())]).unwrap();
    }
    let page = hub
        .changes_in_scope(PullPosition::start(cursor), Some(&scope), None, PageLimit::records(100))
        .unwrap();
    assert_eq!(page.removed, vec![leaves]);
    assert!(!page.resync);

    // More moves since its cursor than a page reads: everything again.
    for n in 0..=crate::scope::MAX_MOVES_READ {
        let grid = if n % 2 == 0 { "G2" } else { "G1" };
        hub.put(Kind::Resident, Some(stays), &[("grid", grid.into())]).unwrap();
    }
    hub.put(Kind::Resident, Some(stays), &[("grid", "G1".into())]).unwrap();
    let page = hub
        .changes_in_scope(PullPosition::start(cursor), Some(&scope), None, PageLimit::records(100))
        .unwrap();
    assert!(page.resync && page.records.is_empty() && page.removed.is_empty());
    let dropped = pull_scope(&mut device, &mut hub, &scope, &mut cursor);
    assert_eq!(dropped, 1, "the resident who left is dropped by the sweep");
    let left: Vec<_> =
        device.list(Kind::Resident, &ListQuery::default()).unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(left, vec![stays]);
    // And the next pull is an ordinary one.
    let page = hub
        .changes_in_scope(PullPosition::start(cursor), Some(&scope), None, PageLimit::records(100))
        .unwrap();
    assert!(!page.resync && page.records.is_empty());
}
