//! Several server nodes on one PostgreSQL behave like one server: devices
//! that reach a different node on every request, devices pushing to
//! different nodes at once while others pull, a node killed mid-push, a
//! revocation made on one node. Real binaries, a real PostgreSQL (see
//! `cluster.rs`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gridwork_client::{Device, Retry};
use gridwork_domain::{Kind, RecordId, Value};
use gridwork_tests::{CliDevice, Server, session_of};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn enroll_cli(device: &CliDevice, url: &str, code: &str) {
    device.run(&["enroll", "--server", url, "--code", code]);
}

fn library_device(runtime: &tokio::runtime::Runtime, url: &str, path: &Path, code: &str) -> Device {
    let mut device = Device::open(path).expect("opens");
    device.set_retry(Retry {
        attempts: 3,
        first_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(100),
    });
    runtime.block_on(device.enroll(url, code, "tests")).expect("enrolls");
    runtime.block_on(device.sync(|_| {})).expect("first sync");
    device
}

/// Every resident a device holds, whole, by id.
fn residents(device: &Device) -> BTreeMap<String, serde_json::Value> {
    gridwork_client::records_json(&device.store(), Kind::Resident)
        .unwrap()
        .into_iter()
        .map(|r| (r["id"].as_str().unwrap().to_owned(), r))
        .collect()
}

/// The same edits, conflicts and refusals as on one server, with every
/// request going to the other node than the one before.
#[test]
fn devices_alternating_between_two_nodes_sync_as_with_one() {
    let cluster = Server::cluster(2);
    cluster.city();
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (CliDevice::new(dir.path(), "a"), CliDevice::new(dir.path(), "b"));
    let (_, code_a) = cluster.worker("网格员甲", &["C1"]);
    let (_, code_b) = cluster.worker("网格员乙", &["C1"]);
    enroll_cli(&a, &cluster.url, &code_a);
    enroll_cli(&b, &cluster.url, &code_b);
    a.sync();
    b.sync();

    let id = a.put("resident", None, &["grid=C1-01", "name=张三", "phone=13800000001"]);
    a.sync();
    b.sync();
    assert_eq!(b.get("resident", &id)["name"], "张三");

    // Concurrent edits of one field, each device through whichever node:
    // both end with the same winner, and the loser is listed once.
    a.put("resident", Some(&id), &["name=李四"]);
    b.put("resident", Some(&id), &["name=王五"]);
    for _ in 0..2 {
        a.sync();
        b.sync();
    }
    let (on_a, on_b) = (a.get("resident", &id), b.get("resident", &id));
    assert_eq!(on_a["name"], on_b["name"]);
    assert!(on_a["name"] == "李四" || on_a["name"] == "王五", "{on_a}");
    let conflicts = cluster.admin(&["conflicts", "list"]);
    assert_eq!(conflicts.as_array().unwrap().len(), 1, "{conflicts}");

    // A write made after seeing the conflict settles it, on every device.
    a.put("resident", Some(&id), &["name=赵六"]);
    a.sync();
    b.sync();
    assert_eq!(b.get("resident", &id)["name"], "赵六");
    assert_eq!(cluster.admin(&["conflicts", "list"]).as_array().unwrap().len(), 0);

    // The database holds what the devices hold.
    let count =
        cluster.sql(&format!("SELECT count(*) FROM records WHERE kind = {}", Kind::Resident.number()));
    assert_eq!(count, "1");
}

/// A device revoked through one node is refused by every node, and told to
/// wipe itself.
#[test]
fn a_device_revoked_on_one_node_is_refused_on_all() {
    let cluster = Server::cluster(2);
    cluster.city();
    let dir = tempfile::tempdir().unwrap();
    let device = CliDevice::new(dir.path(), "c");
    let (_, code) = cluster.worker("网格员丙", &["C1"]);
    enroll_cli(&device, &cluster.url, &code);
    device.sync();
    let token = device.token();
    let id = cluster.admin_on(0, &["device", "list"])[0]["id"].as_str().unwrap().to_owned();
    cluster.admin_on(0, &["device", "revoke", "--device", &id]);
    let runtime = runtime();
    for node in &cluster.nodes {
        let answer = runtime.block_on(async {
            reqwest::Client::new()
                .post(format!("{}/api/v1/sync/pull", node.url))
                .bearer_auth(&token)
                .header("x-gridwork-protocol", "1")
                .json(&serde_json::json!({"cursor": 0, "after": 0, "limit": 10, "scope_hash": ""}))
                .send()
                .await
                .unwrap()
        });
        assert_eq!(answer.status().as_u16(), 403, "{}", node.url);
        let body: serde_json::Value = runtime.block_on(answer.json()).unwrap();
        assert_eq!(body["error"]["code"], "device_revoked", "{}: {body}", node.url);
    }
    let output = device.try_run(&["sync"]);
    assert!(!output.status.success());
    assert!(!device.db.exists(), "the revoked device wiped its database");
}

/// Devices push to three nodes at once, each to its own, editing their own
/// records and one shared record, while other devices pull through the
/// proxy. Afterwards every device holds exactly what the database holds:
/// every acknowledged edit, once, and the same winner everywhere.
#[test]
fn concurrent_pushers_on_three_nodes_and_pullers_end_identical() {
    let cluster = Server::cluster(3);
    cluster.city();
    let dir = tempfile::tempdir().unwrap();
    let setup = runtime();
    let mut pushers = Vec::new();
    for n in 0..6 {
        let (_, code) = cluster.worker(&format!("推送员{n}"), &["C1"]);
        let url = cluster.nodes[n % 3].url.clone();
        pushers.push(Arc::new(library_device(&setup, &url, &dir.path().join(format!("p{n}.db")), &code)));
    }
    let mut pullers = Vec::new();
    for n in 0..3 {
        let (_, code) = cluster.worker(&format!("拉取员{n}"), &["C1"]);
        pullers.push(Arc::new(library_device(
            &setup,
            &cluster.url,
            &dir.path().join(format!("q{n}.db")),
            &code,
        )));
    }
    // One record everyone edits.
    let shared = pushers[0]
        .store()
        .put(Kind::Resident, None, &[("grid", Value::from("C1-01")), ("name", Value::from("共同"))])
        .unwrap();
    setup.block_on(pushers[0].sync(|_| {})).unwrap();
    for device in &pushers {
        setup.block_on(device.sync(|_| {})).unwrap();
    }
    drop(setup);

    let acknowledged: Arc<Mutex<Vec<(RecordId, String)>>> = Arc::default();
    let runtime = runtime();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for (n, device) in pushers.iter().enumerate() {
        let (device, acknowledged) = (device.clone(), acknowledged.clone());
        tasks.push(runtime.spawn(async move {
            for i in 0..12 {
                let name = format!("设备{n}居民{i}");
                let id = device
                    .store()
                    .put(
                        Kind::Resident,
                        None,
                        &[("grid", Value::from("C1-01")), ("name", Value::from(name.as_str()))],
                    )
                    .unwrap();
                if i % 3 == 0 {
                    device
                        .store()
                        .put(
                            Kind::Resident,
                            Some(shared),
                            &[("phone", Value::from(format!("1380000{n:04}")))],
                        )
                        .unwrap();
                }
                device.sync(|_| {}).await.expect("a push through its node");
                acknowledged.lock().unwrap().push((id, name));
            }
        }));
    }
    let mut pulls = Vec::new();
    for device in &pullers {
        let (device, done) = (device.clone(), done.clone());
        pulls.push(runtime.spawn(async move {
            let mut rounds = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                device.sync(|_| {}).await.expect("a pull through the proxy");
                rounds += 1;
            }
            rounds
        }));
    }
    for task in tasks {
        runtime.block_on(task).unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    for pull in pulls {
        assert!(runtime.block_on(pull).unwrap() > 0);
    }
    // Everyone syncs twice more: what anyone pushed last reaches all.
    for _ in 0..2 {
        for device in pushers.iter().chain(&pullers) {
            runtime.block_on(device.sync(|_| {})).unwrap();
        }
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert_eq!(acknowledged.len(), 6 * 12);
    let reference = residents(&pullers[0]);
    for (id, name) in &acknowledged {
        assert_eq!(reference[&id.to_string()]["name"], name.as_str(), "{id}");
    }
    for device in pushers.iter().chain(&pullers) {
        assert_eq!(residents(device), reference, "every device holds the same records");
    }
    let count =
        cluster.sql(&format!("SELECT count(*) FROM records WHERE kind = {}", Kind::Resident.number()));
    assert_eq!(count, (6 * 12 + 1).to_string(), "each record once in the database");
    // The shared record's phone is the same everywhere, and what the
    // pushes left concurrent is listed, not lost.
    let phones: Vec<_> = pushers.iter().map(|d| residents(d)[&shared.to_string()]["phone"].clone()).collect();
    assert!(phones.windows(2).all(|w| w[0] == w[1]), "{phones:?}");
}

/// A node killed with SIGKILL in the middle of pushes loses nothing it
/// acknowledged, and the devices' next attempts, through the other node,
/// apply each edit once.
#[test]
fn a_node_killed_mid_push_loses_nothing_and_the_retry_elsewhere_applies_once() {
    let mut cluster = Server::cluster(2);
    cluster.city();
    let dir = tempfile::tempdir().unwrap();
    let setup = runtime();
    let mut devices = Vec::new();
    for n in 0..4 {
        let (_, code) = cluster.worker(&format!("网格员{n}"), &["C1"]);
        devices.push(Arc::new(library_device(
            &setup,
            &cluster.url,
            &dir.path().join(format!("{n}.db")),
            &code,
        )));
    }
    drop(setup);
    let created: Arc<Mutex<Vec<(RecordId, String)>>> = Arc::default();
    let acknowledged: Arc<Mutex<Vec<RecordId>>> = Arc::default();
    let runtime = runtime();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let tasks: Vec<_> = devices
        .iter()
        .enumerate()
        .map(|(n, device)| {
            let (device, created, acknowledged, stop) =
                (device.clone(), created.clone(), acknowledged.clone(), stop.clone());
            runtime.spawn(async move {
                for i in 0.. {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        return;
                    }
                    let name = format!("设备{n}居民{i}");
                    let fields = [("grid", Value::from("C1-01")), ("name", Value::from(name.as_str()))];
                    let id = device.store().put(Kind::Resident, None, &fields).unwrap();
                    created.lock().unwrap().push((id, name));
                    // Failures while the node dies are expected: the edit
                    // stays in the outbox and goes with a later sync.
                    if device.sync(|_| {}).await.is_ok() {
                        acknowledged.lock().unwrap().push(id);
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    cluster.nodes[0].kill();
    std::thread::sleep(Duration::from_millis(1000));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for task in tasks {
        runtime.block_on(task).unwrap();
    }
    // Everything the devices still hold goes through the node left.
    for device in &devices {
        runtime.block_on(device.sync(|_| {})).unwrap();
        assert_eq!(device.store().pending_count().unwrap(), 0);
    }
    let created = created.lock().unwrap().clone();
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() > 10, "the devices should have synced a while: {}", acknowledged.len());
    let check = {
        let (_, code) = cluster.worker("核对员", &["C1"]);
        let device = CliDevice::new(dir.path(), "check");
        enroll_cli(&device, &cluster.url, &code);
        device.sync();
        device
    };
    let held: BTreeMap<String, serde_json::Value> =
        check.list("resident").into_iter().map(|r| (r["id"].as_str().unwrap().to_owned(), r)).collect();
    for (id, name) in &created {
        assert_eq!(held[&id.to_string()]["name"], name.as_str(), "{id}");
    }
    assert_eq!(held.len(), created.len(), "each edit applied once");
    // Each device's writes are counted once in its registers: its
    // acknowledged counter is what it sent, not more.
    for device in &devices {
        let (token, number) = session_of(device.path());
        let _ = token;
        let acked = cluster.sql(&format!("SELECT acked_counter FROM devices WHERE number = {}", number.0));
        let sent = device
            .store()
            .connection()
            .query_row("SELECT counter FROM replica", [], |r| r.get::<_, i64>(0))
            .unwrap();
        assert_eq!(acked, sent.to_string(), "device {}", number.0);
    }
}

/// Wrong enrollment codes and wrong passwords are counted by every node
/// together: spreading guesses over the nodes buys nothing.
#[test]
fn guessing_codes_and_passwords_is_counted_across_nodes() {
    let cluster = Server::cluster(2);
    cluster.admin(&["user", "add", "--name", "值班员", "--role", "staff", "--password", "correct horse"]);
    let runtime = runtime();
    let client = reqwest::Client::new();
    let attempt = |node: usize, path: &str, body: serde_json::Value| -> (u16, serde_json::Value) {
        runtime.block_on(async {
            let answer = client
                .post(format!("{}/api/v1/{path}", cluster.nodes[node].url))
                .header("x-gridwork-protocol", "1")
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = answer.status().as_u16();
            (status, answer.json().await.unwrap_or_default())
        })
    };
    // Ten wrong codes, half on each node: the eleventh is refused on both.
    for n in 0..10 {
        let (status, body) =
            attempt(n % 2, "enroll", serde_json::json!({"code": "0000-0000", "app_version": "t"}));
        assert_eq!(status, 403, "{body}");
    }
    for node in 0..2 {
        let (status, body) =
            attempt(node, "enroll", serde_json::json!({"code": "0000-0000", "app_version": "t"}));
        assert_eq!((status, body["error"]["code"].as_str()), (429, Some("too_many_attempts")), "node {node}");
    }
    // Passwords likewise, counted apart from codes.
    for n in 0..10 {
        let (status, body) =
            attempt(n % 2, "login", serde_json::json!({"name": "值班员", "password": "wrong horse"}));
        assert_eq!(status, 401, "{body}");
    }
    let (status, body) =
        attempt(1, "login", serde_json::json!({"name": "值班员", "password": "correct horse"}));
    assert_eq!((status, body["error"]["code"].as_str()), (429, Some("too_many_attempts")), "{body}");
    let count = cluster.sql("SELECT count(*) FROM guesses");
    assert_eq!(count, "20");
}

/// One upload is written by one node at a time: while a node (here, the
/// test holding the upload's lock file in the shared data directory) is
/// receiving it, a chunk sent to another node is turned away to be sent
/// again, and then goes through.
#[test]
fn an_upload_is_received_by_one_node_at_a_time() {
    let cluster = Server::cluster(2);
    cluster.city();
    let dir = tempfile::tempdir().unwrap();
    let device = CliDevice::new(dir.path(), "u");
    let (_, code) = cluster.worker("网格员丁", &["C1"]);
    enroll_cli(&device, &cluster.url, &code);
    let token = device.token();
    let device_id = cluster.admin(&["device", "list"])[0]["id"].as_str().unwrap().to_owned();
    let photo = vec![7u8; 100_000];
    let sha256 = gridwork_client::sha256_hex(&photo);
    let lock_path = gridwork_server::attachments::upload_lock_path(cluster.data.path(), &sha256, &device_id);
    std::fs::create_dir_all(lock_path.parent().unwrap()).unwrap();
    let held = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path).unwrap();
    held.lock().unwrap();
    let runtime = runtime();
    let put = |node: usize| -> (u16, serde_json::Value) {
        runtime.block_on(async {
            let answer = reqwest::Client::new()
                .put(format!(
                    "{}/api/v1/attachments/{sha256}?offset=0&size={}",
                    cluster.nodes[node].url,
                    photo.len()
                ))
                .bearer_auth(&token)
                .header("x-gridwork-protocol", "1")
                .body(photo.clone())
                .send()
                .await
                .unwrap();
            let status = answer.status().as_u16();
            (status, answer.json().await.unwrap_or_default())
        })
    };
    for node in 0..2 {
        let (status, body) = put(node);
        assert_eq!((status, body["error"]["code"].as_str()), (503, Some("busy")), "node {node}: {body}");
    }
    held.unlock().unwrap();
    drop(held);
    let (status, body) = put(1);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["complete"], true);
    assert!(!lock_path.exists(), "the lock goes with the finished upload");
}

/// A forged register that would merge to no version at all (it claims to
/// have seen and dropped the version held, and holds only a version the
/// server saw overwritten) is refused whole and changes nothing, on either
/// backend: the record stays readable for every device, and the cluster's
/// writer is free for the next push.
#[test]
fn a_register_that_would_merge_to_nothing_is_refused_on_both_backends() {
    use gridwork_merge::{Register, VersionVector};
    use gridwork_protocol::sync::{PushRequest, PushResponse};
    let check = |url: &str, admin: &dyn Fn(&[&str]) -> serde_json::Value| {
        let dir = tempfile::tempdir().unwrap();
        let worker = |name: &str| {
            let id = admin(&["user", "add", "--name", name, "--role", "worker", "--grid", "C1"])["id"]
                .as_str()
                .unwrap()
                .to_owned();
            admin(&["enroll-code", "--user", &id])["code"].as_str().unwrap().to_owned()
        };
        let (a, b) = (CliDevice::new(dir.path(), "a"), CliDevice::new(dir.path(), "b"));
        enroll_cli(&a, url, &worker("甲"));
        enroll_cli(&b, url, &worker("乙"));
        // B writes the notes; A sees them and overwrites them.
        let id = b.put("resident", None, &["grid=C1-01", "name=张三", "notes=乙写的"]);
        b.sync();
        a.sync();
        a.put("resident", Some(&id), &["notes=甲写的"]);
        a.sync();
        let clock = std::sync::Arc::new(gridwork_store::SystemClock);
        let mut b_store = gridwork_store::Store::open(&b.db, gridwork_store::Role::Device, clock).unwrap();
        let record_id: RecordId = id.parse().unwrap();
        let theirs = b_store.registers(Kind::Resident, record_id).unwrap().unwrap();
        let b_version = theirs.iter().find(|f| f.field == "notes").unwrap().register.winner().clone();
        drop(b_store);
        let (token, a_number) = session_of(&a.db);
        // A's register saying it saw B's write and its own, and holds B's.
        let context = VersionVector::from_entries([(a_number, 1), (b_version.writer, 1)]);
        let forged = Register::from_parts(context, [b_version]).unwrap();
        let change = gridwork_protocol::RecordChanges {
            id: record_id,
            kind: Kind::Resident,
            fields: vec![gridwork_protocol::FieldState { field: "notes".into(), register: forged }],
        };
        let runtime = runtime();
        let http = gridwork_client::Http::new(url, Some(token)).unwrap();
        let request = PushRequest { up_to_counter: 1_000_000, pending: 0, records: vec![change] };
        let refused = runtime.block_on(http.sync_call::<_, PushResponse>("/sync/push", &request));
        assert!(refused.is_err(), "{refused:?}");
        // Nothing changed, everyone still syncs, and the record reads.
        b.sync();
        assert_eq!(b.get("resident", &id)["notes"], "甲写的");
        a.put("resident", Some(&id), &["notes=甲又写的"]);
        a.sync();
        b.sync();
        assert_eq!(b.get("resident", &id)["notes"], "甲又写的");
    };
    let embedded = gridwork_tests::Server::start();
    embedded.city();
    check(&embedded.url, &|args| embedded.admin(args));
    let cluster = Server::cluster(2);
    cluster.city();
    check(&cluster.url, &|args| cluster.admin(args));
}

/// psql holding the lock every write of the PostgreSQL backend takes first
/// (`WRITER_LOCK` in server/src/postgres.rs, 0x6772696477726974: classid
/// and objid in pg_locks are its two halves) for 15 s, once it holds it;
/// and a check that it still does.
fn hold_the_writer(cluster: &Server) -> (std::process::Child, impl Fn() -> bool + '_) {
    let lock = 0x6772_6964_7772_6974_i64;
    let holder = std::process::Command::new("psql")
        .arg(cluster.database.as_deref().unwrap())
        .args(["-qc", &format!("SELECT pg_advisory_lock({lock}); SELECT pg_sleep(15)")])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("psql runs");
    let held = move || {
        cluster.sql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) AND classid = 1735551332 AND objid = 2003986804 AND mode = 'ExclusiveLock' AND granted") == "1"
    };
    let started = std::time::Instant::now();
    while !held() {
        assert!(started.elapsed() < Duration::from_secs(10), "psql took the lock");
        std::thread::sleep(Duration::from_millis(50));
    }
    (holder, held)
}

/// A device with nothing to send reports in without waiting for the
/// cluster's writer: while another session holds the writer's lock, its
/// empty push is answered, and a push with an edit waits until the lock
/// is let go.
#[test]
fn a_device_with_nothing_to_send_does_not_queue_for_the_writer() {
    let cluster = Server::cluster(2);
    cluster.city();
    let dir = tempfile::tempdir().unwrap();
    let runtime = runtime();
    let (_, code) = cluster.worker("网格员戊", &["C1"]);
    let device = library_device(&runtime, &cluster.url, &dir.path().join("d.db"), &code);
    let (mut holder, held) = hold_the_writer(&cluster);
    let quick =
        runtime.block_on(async { tokio::time::timeout(Duration::from_secs(4), device.push(|_| {})).await });
    let report = quick.expect("an empty push is answered while the writer is held").expect("pushed");
    assert_eq!(report.pushed, 0);
    device.store().put(Kind::Resident, None, &[("grid", "C1-01".into()), ("name", "等锁".into())]).unwrap();
    let waiting = runtime
        .block_on(async { tokio::time::timeout(Duration::from_millis(1500), device.push(|_| {})).await });
    assert!(waiting.is_err(), "a push with an edit waits for the writer: {waiting:?}");
    assert!(held(), "the lock was still held while the edit waited");
    holder.wait().expect("psql ends");
    let report = runtime.block_on(device.sync(|_| {})).expect("syncs once the lock is let go");
    assert_eq!(device.store().pending_count().unwrap(), 0, "{report:?}");
    assert_eq!(
        cluster.sql(&format!("SELECT count(*) FROM records WHERE kind = {}", Kind::Resident.number())),
        "1"
    );
}

/// `gridwork-server ARGS`, without GRIDWORK_DATABASE from the caller: its
/// status and its standard error.
fn server_command(args: &[&str]) -> (bool, String) {
    let output = std::process::Command::new(gridwork_tests::bin("gridwork-server"))
        .args(args)
        .env_remove("GRIDWORK_DATABASE")
        .output()
        .expect("gridwork-server runs");
    (output.status.success(), String::from_utf8_lossy(&output.stderr).into_owned())
}

/// What an operator gets wrong when setting up nodes is refused before it
/// serves anything, with what to do instead, and names no password.
#[test]
fn an_operators_mistakes_with_nodes_are_refused_with_what_to_do() {
    let mut cluster = Server::cluster(1);
    let (database, shared) = (cluster.database.clone().unwrap(), cluster.data.path().to_owned());
    let shared = shared.to_str().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let elsewhere = elsewhere.path().to_str().unwrap();
    let refused = |args: &[&str], words: &[&str]| {
        let (ok, stderr) = server_command(args);
        assert!(!ok, "{args:?} should be refused");
        for word in words {
            assert!(stderr.contains(word), "{args:?}: `{word}` not in: {stderr}");
        }
    };
    // A node given a directory of its own would lose photos between nodes.
    refused(
        &["serve", "--data", elsewhere, "--database", &database, "--listen", "127.0.0.1:0"],
        &["not this database's shared directory", "database-id", "共享目录"],
    );
    // The nodes' directory served as an embedded database: another city.
    refused(&["serve", "--data", shared, "--listen", "127.0.0.1:0"], &["--database", "PostgreSQL"]);
    refused(&["backup", "--data", shared, "--to", "/tmp/x.db", "--database", &database], &["pg_dump"]);
    // A restore while a node still serves (it would keep the old epoch).
    refused(&["restore", "--data", shared, "--database", &database], &["stop every", "停止所有节点"]);
    cluster.stop();
    let (ok, stderr) = server_command(&["restore", "--data", shared, "--database", &database]);
    assert!(ok, "with every node stopped the restore goes ahead: {stderr}");
    // Addresses that do not work say why, and never show the password.
    let new = format!("{elsewhere}/new");
    let base = database.rsplit_once('/').unwrap().0;
    refused(
        &["init", "--data", &new, "--database", &format!("{base}/no_such_db")],
        &["no_such_db", "does not exist"],
    );
    let with_password = base.replacen("postgres://postgres@", "postgres://postgres:s3cret@", 1);
    let (ok, stderr) =
        server_command(&["init", "--data", &new, "--database", &format!("{with_password}:x/city")]);
    assert!(!ok && stderr.contains("not a PostgreSQL address") && !stderr.contains("s3cret"), "{stderr}");
    assert!(!Path::new(&new).exists(), "a failed init leaves no directory behind");
    // The embedded database: serving before init says to run init.
    refused(&["serve", "--data", elsewhere, "--listen", "127.0.0.1:0"], &["gridwork-server init"]);
}

/// A console login: its status and body.
fn login_on(url: &str, password: &str) -> (u16, String) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let response = reqwest::Client::new()
            .post(format!("{url}/api/v1/login"))
            .header("x-gridwork-protocol", "1")
            .json(&serde_json::json!({"name": "值班员", "password": password}))
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    })
}

/// Logins count their guesses without waiting for the cluster's writer:
/// while psql holds it, a right password is answered at once.
#[test]
fn a_login_does_not_queue_for_the_writer() {
    let cluster = Server::cluster(1);
    cluster.admin(&["user", "add", "--name", "值班员", "--role", "staff", "--password", "correct horse"]);
    let (mut holder, held) = hold_the_writer(&cluster);
    let asked = std::time::Instant::now();
    let (status, body) = login_on(&cluster.url, "correct horse");
    let waited = asked.elapsed();
    let (wrong, _) = login_on(&cluster.url, "wrong horse");
    let still_held = held();
    holder.wait().expect("psql ends");
    assert_eq!((status, wrong), (200, 401), "{body}");
    assert!(still_held, "the writer was held throughout");
    assert!(waited < Duration::from_secs(3), "the login waited {waited:?} for the writer");
}

/// A node whose clock runs 11 minutes ahead counts guesses by the
/// database's clock like the others: alternating between it and a node
/// on time gets no more than the 10 wrong passwords a window allows.
#[test]
fn a_node_with_a_clock_ahead_does_not_reset_the_guess_count() {
    let cluster = Server::cluster(1);
    cluster.admin(&["user", "add", "--name", "值班员", "--role", "staff", "--password", "correct horse"]);
    // libfaketime preloaded into the server itself (not the `faketime`
    // wrapper, whose child would outlive a kill), 660 s ahead.
    let mut ahead = std::process::Command::new(gridwork_tests::bin("gridwork-server"))
        .env("LD_PRELOAD", "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1")
        .env("FAKETIME", "+660")
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(cluster.data.path())
        .args(["--database", cluster.database.as_deref().unwrap()])
        .env("GRIDWORK_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("gridwork-server starts");
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(ahead.stdout.take().unwrap()), &mut line)
        .unwrap();
    let announced: serde_json::Value = serde_json::from_str(&line).expect("the node announces its address");
    let ahead_url = format!("http://{}", announced["listening"].as_str().unwrap());
    let mut tried = 0;
    for round in 0..4 {
        for url in [&cluster.url; 10].into_iter().chain([&ahead_url]) {
            if login_on(url, &format!("guess {round} {tried}")).0 == 401 {
                tried += 1;
            }
        }
    }
    let _ = ahead.kill();
    let _ = ahead.wait();
    assert_eq!(tried, 10, "wrong passwords tried within a window");
}
