//! Sync against the real `gridwork-server` binary on a loopback port, with
//! devices driven through the `gridwork` binary and through the client
//! library, each on its own SQLite file.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gridwork_client::{Device, Http, Progress, Retry};
use gridwork_domain::{DeviceId, Kind, RecordId, Value};
use gridwork_merge::{Hlc, Register};
use gridwork_protocol::sync::{
    EnrollRequest, EnrollResponse, ErrorBody, PullRequest, PullResponse, PushRequest, PushResponse,
};
use gridwork_protocol::{FieldState, RecordChanges};
use gridwork_store::{Clock, Role, Store, SystemClock};
use gridwork_tests::{Backend, CliDevice, Server, on_both_backends, session_of};
use serde_json::Value as Json;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime")
}

/// A device driven through the client library.
fn library_device(runtime: &tokio::runtime::Runtime, server: &Server, path: &Path, code: &str) -> Device {
    let device = Device::open(path).expect("opens");
    runtime.block_on(device.enroll(&server.url, code, "tests")).expect("enrolls");
    runtime.block_on(device.sync(|_| {})).expect("first sync");
    device
}

fn field<'a>(record: &'a Json, name: &str) -> &'a Json {
    &record[name]
}

fn devices_that_edit_offline_converge_and_the_overwrite_is_listed(backend: Backend) {
    let server = Server::start_on(backend);
    server.city();
    let dir = tempfile::tempdir().unwrap();
    let (_, code_a) = server.worker("网格员甲", &["C1"]);
    let (_, code_b) = server.worker("网格员乙", &["C1"]);
    let (_, code_c) = server.worker("网格员丙", &["C1"]);
    let (a, b) = (CliDevice::new(dir.path(), "a"), CliDevice::new(dir.path(), "b"));
    let a_number = a.enroll(&server, &code_a)["device_number"].as_u64().unwrap();
    b.enroll(&server, &code_b);
    a.sync();
    b.sync();
    let runtime = runtime();
    let c = library_device(&runtime, &server, &dir.path().join("c.db"), &code_c);

    let id = a.put(
        "resident",
        None,
        &["grid=C1-01", "name=张秀英", "id_number=11010519491231002X", "phone=13800000001"],
    );
    a.sync();
    b.sync();
    runtime.block_on(c.sync(|_| {})).unwrap();

    // All three edit offline: A and B the same field, B later.
    a.put("resident", Some(&id), &["phone=13800000002"]);
    std::thread::sleep(Duration::from_millis(5));
    b.put("resident", Some(&id), &["phone=13800000003", "room=3-201"]);
    let rid: RecordId = id.parse().unwrap();
    c.store().put(Kind::Resident, Some(rid), &[("notes", Value::from("子女每周探望"))]).unwrap();

    // They sync in different orders, some twice.
    b.sync();
    runtime.block_on(c.sync(|_| {})).unwrap();
    a.sync();
    b.sync();
    runtime.block_on(c.sync(|_| {})).unwrap();
    a.sync();

    let on_a = a.get("resident", &id);
    let on_b = b.get("resident", &id);
    let on_c = c.store().get(Kind::Resident, rid).unwrap().unwrap().to_json();
    assert_eq!(on_a, on_b);
    assert_eq!(on_a, on_c);
    assert_eq!(field(&on_a, "phone"), "13800000003", "the later concurrent write wins");
    assert_eq!(field(&on_a, "room"), "3-201");
    assert_eq!(field(&on_a, "notes"), "子女每周探望");

    // The server holds the same: a device enrolled now pulls it.
    let d = server.enrolled(dir.path(), "d", "网格员丁", &["C1"]);
    assert_eq!(d.get("resident", &id), on_a);

    // The overwritten phone is there for the centre to review.
    let conflicts = server.admin(&["conflicts", "list"]);
    let conflicts = conflicts.as_array().unwrap();
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!(conflicts[0]["id"], id.as_str());
    assert_eq!(conflicts[0]["field"], "phone");
    assert_eq!(conflicts[0]["winner"]["value"], "13800000003");
    assert_eq!(conflicts[0]["losers"][0]["value"], "13800000002");
    assert_eq!(conflicts[0]["losers"][0]["writer"].as_u64(), Some(a_number));
}
on_both_backends!(devices_that_edit_offline_converge_and_the_overwrite_is_listed);

fn a_write_made_after_syncing_wins_even_from_a_clock_a_year_behind(backend: Backend) {
    let server = Server::start_on(backend);
    server.city();
    let dir = tempfile::tempdir().unwrap();
    let a = server.enrolled(dir.path(), "a", "网格员甲", &["C1"]);
    let mut b = server.enrolled(dir.path(), "b", "网格员乙", &["C1"]);
    let id = a.put("resident", None, &["grid=C1-01", "name=钱七"]);
    a.sync();
    b.sync();

    // B's clock goes back a year; it edits what it has seen.
    b.faketime = Some("-365 days".into());
    let year = b.try_run(&["status"]);
    assert!(year.status.success());
    let faked = std::process::Command::new("faketime").args(["-365 days", "date", "+%Y"]).output().unwrap();
    let this_year = std::process::Command::new("date").arg("+%Y").output().unwrap();
    assert_ne!(faked.stdout, this_year.stdout, "faketime must move the clock");
    b.put("resident", Some(&id), &["name=钱七七"]);
    b.sync();
    a.sync();

    for device in [&a, &b] {
        assert_eq!(field(&device.get("resident", &id), "name"), "钱七七");
    }
    let conflicts = server.admin(&["conflicts", "list"]);
    assert!(conflicts.as_array().unwrap().is_empty(), "no conflict: B had seen A's write: {conflicts}");
}
on_both_backends!(a_write_made_after_syncing_wins_even_from_a_clock_a_year_behind);

fn push_as(
    runtime: &tokio::runtime::Runtime,
    server: &Server,
    db: &Path,
    records: Vec<RecordChanges>,
) -> PushResponse {
    let (token, _) = session_of(db);
    let http = Http::new(&server.url, Some(token)).unwrap();
    let request = PushRequest { up_to_counter: 1_000_000, pending: 0, records };
    runtime.block_on(http.sync_call::<_, PushResponse>("/sync/push", &request)).expect("push answered").0
}

fn resident_changes(id: RecordId, device: DeviceId, fields: &[(&str, &str)]) -> RecordChanges {
    let now = SystemClock.now_ms();
    RecordChanges {
        id,
        kind: Kind::Resident,
        fields: fields
            .iter()
            .map(|(name, value)| FieldState {
                field: (*name).into(),
                register: Register::first_write(Value::from(*value), device, Hlc::new(now, 0)),
            })
            .collect(),
    }
}

fn a_device_can_neither_pull_nor_push_another_grids_records(backend: Backend) {
    let server = Server::start_on(backend);
    server.city();
    let dir = tempfile::tempdir().unwrap();
    let a = server.enrolled(dir.path(), "a", "东苑网格员", &["C1"]);
    let b = server.enrolled(dir.path(), "b", "西山网格员", &["C2"]);
    let theirs = b.put("resident", None, &["grid=C2-01", "name=西山居民", "phone=13900000009"]);
    b.sync();

    // Pulling: nothing of C2 reaches A.
    a.sync();
    assert!(a.list("resident").is_empty());
    assert!(!a.try_run(&["get", "resident", &theirs]).status.success());

    // Pushing: a new record in C2, and a change to B's record, both refused.
    let runtime = runtime();
    let (_, a_number) = session_of(&a.db);
    let intruder = RecordId::from_parts(SystemClock.now_ms(), [7; 10]);
    let attempts = vec![
        resident_changes(intruder, a_number, &[("grid", "C2-01"), ("name", "冒名")]),
        resident_changes(theirs.parse().unwrap(), a_number, &[("name", "篡改")]),
        // Even an invalid change is refused as out of scope, and the
        // answer shows nothing of the record.
        resident_changes(theirs.parse().unwrap(), a_number, &[("phone", "12345")]),
        // Nor does sending it as another kind tell that it exists.
        RecordChanges {
            kind: Kind::Case,
            ..resident_changes(theirs.parse().unwrap(), a_number, &[("description", "探测")])
        },
    ];
    for attempt in attempts {
        let answer = push_as(&runtime, &server, &a.db, vec![attempt]);
        assert_eq!(answer.applied, 0);
        assert_eq!(answer.rejected.len(), 1, "{answer:?}");
        let rejection = &answer.rejected[0];
        assert_eq!(rejection.code.as_str(), "out_of_scope");
        assert!(rejection.server_state.is_none(), "A must not learn what B's record holds");
    }

    b.sync();
    assert_eq!(field(&b.get("resident", &theirs), "name"), "西山居民");
    assert_eq!(b.list("resident").len(), 1, "the intruder's record was not created");
    // Parked for the centre, one row per device and record: the intruder,
    // and B's record with the latest attempt on it.
    let parked = server.admin(&["parked", "list"]);
    assert_eq!(parked["total"], 2, "refused changes are parked for the centre: {parked}");
    let latest = parked["items"].as_array().unwrap().iter().find(|p| p["record"] == theirs.as_str()).unwrap();
    assert_eq!(latest["kind"], "case", "{parked}");
}
on_both_backends!(a_device_can_neither_pull_nor_push_another_grids_records);

fn a_resident_moved_to_another_grid_leaves_the_old_device_and_reaches_the_new(backend: Backend) {
    let server = Server::start_on(backend);
    server.city();
    let dir = tempfile::tempdir().unwrap();
    let a = server.enrolled(dir.path(), "a", "第一网格员", &["C1-01"]);
    let b = server.enrolled(dir.path(), "b", "第二网格员", &["C1-02"]);
    let id = a.put("resident", None, &["grid=C1-01", "name=搬家的人", "room=1-101"]);
    a.sync();
    a.put("resident", Some(&id), &["grid=C1-02"]);
    let report = a.sync();
    assert_eq!(report["dropped"], 1, "{report}");
    assert!(a.list("resident").is_empty());
    b.sync();
    let moved = b.get("resident", &id);
    assert_eq!(field(&moved, "grid"), "C1-02");
    assert_eq!(field(&moved, "room"), "1-101", "the record arrives whole");
}
on_both_backends!(a_resident_moved_to_another_grid_leaves_the_old_device_and_reaches_the_new);

fn a_revoked_device_is_refused_and_wipes_its_data(backend: Backend) {
    let server = Server::start_on(backend);
    server.city();
    let dir = tempfile::tempdir().unwrap();
    let (_, code) = server.worker("网格员", &["C1"]);
    let a = CliDevice::new(dir.path(), "a");
    let device_id = a.enroll(&server, &code)["device_id"].as_str().unwrap().to_owned();
    a.sync();
    a.put("resident", None, &["grid=C1-01", "name=敏感信息", "id_number=11010519491231002X"]);
    let devices = server.admin(&["device", "list"]);
    assert_eq!(devices[0]["id"], device_id.as_str());
    assert_eq!(devices[0]["revoked"], false);

    server.admin(&["device", "revoke", "--device", &device_id]);
    let refused = a.try_run(&["sync"]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("revoked") && stderr.contains("wiped"), "{stderr}");
    assert!(stderr.contains("停用"), "and in Chinese: {stderr}");
    assert!(!a.db.exists(), "the database is gone");
    let wal = a.db.with_extension("db-wal");
    assert!(!wal.exists());
    assert_eq!(server.admin(&["device", "list"])[0]["revoked"], true);
}
on_both_backends!(a_revoked_device_is_refused_and_wipes_its_data);

fn copy_database(from: &Path, to: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let (mut source, mut target) = (from.as_os_str().to_owned(), to.as_os_str().to_owned());
        source.push(suffix);
        target.push(suffix);
        if Path::new(&source).exists() {
            std::fs::copy(&source, &target).unwrap();
        } else {
            let _ = std::fs::remove_file(&target);
        }
    }
}

fn a_push_whose_acknowledgement_is_lost_is_sent_again_without_duplicates(backend: Backend) {
    let server = Server::start_on(backend);
    server.city();
    let dir = tempfile::tempdir().unwrap();
    let a = server.enrolled(dir.path(), "a", "网格员", &["C1"]);
    let ids: Vec<String> = (0..3)
        .map(|i| {
            a.put(
                "resident",
                None,
                &["grid=C1-01", &format!("name=居民{i}"), &format!("phone=1380000000{i}")],
            )
        })
        .collect();
    let before = dir.path().join("before-sync.db");
    copy_database(&a.db, &before);
    assert_eq!(a.sync()["pushed"], 3);
    // The acknowledgement is lost: the device is back to before the sync.
    copy_database(&before, &a.db);
    assert_eq!(a.run(&["status"])["pending"], 3);
    let again = a.sync();
    assert_eq!(again["pushed"], 0, "the server recognised the push it had applied: {again}");
    assert_eq!(a.run(&["status"])["pending"], 0);

    let d = server.enrolled(dir.path(), "d", "核对员", &["C1"]);
    let residents = d.list("resident");
    assert_eq!(residents.len(), 3);
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(field(&d.get("resident", id), "name"), format!("居民{i}").as_str());
    }
    assert!(server.admin(&["conflicts", "list"]).as_array().unwrap().is_empty());
}
on_both_backends!(a_push_whose_acknowledgement_is_lost_is_sent_again_without_duplicates);

fn a_server_killed_mid_push_keeps_every_change_it_acknowledged(backend: Backend) {
    let mut server = Server::start_on(backend);
    server.city();
    let dir = tempfile::tempdir().unwrap();
    let runtime = runtime();
    let mut devices = Vec::new();
    for n in 0..4 {
        let (_, code) = server.worker(&format!("网格员{n}"), &["C1"]);
        let mut device = library_device(&runtime, &server, &dir.path().join(format!("{n}.db")), &code);
        device.set_retry(Retry {
            attempts: 2,
            first_delay: Duration::from_millis(50),
            max_delay: Duration::from_millis(100),
        });
        devices.push(Arc::new(device));
    }
    let acknowledged: Arc<Mutex<Vec<(RecordId, String)>>> = Arc::default();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let tasks: Vec<_> = devices
        .iter()
        .enumerate()
        .map(|(n, device)| {
            let (device, acknowledged) = (device.clone(), acknowledged.clone());
            runtime.spawn(async move {
                for i in 0.. {
                    let name = format!("设备{n}居民{i}");
                    let fields = [("grid", Value::from("C1-01")), ("name", Value::from(name.as_str()))];
                    let id = device.store().put(Kind::Resident, None, &fields).unwrap();
                    if device.sync(|_| {}).await.is_err() {
                        return;
                    }
                    acknowledged.lock().unwrap().push((id, name));
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    server.kill();
    for task in tasks {
        runtime.block_on(task).unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() > 10, "the devices should have synced a while: {}", acknowledged.len());

    server.serve();
    let check = server.enrolled(dir.path(), "check", "核对员", &["C1"]);
    for (id, name) in &acknowledged {
        let record = check.get("resident", &id.to_string());
        assert_eq!(field(&record, "name"), name.as_str());
    }
    // And the devices carry on where they stopped.
    runtime.block_on(devices[0].sync(|_| {})).unwrap();
    assert_eq!(devices[0].store().pending_count().unwrap(), 0);
}
on_both_backends!(a_server_killed_mid_push_keeps_every_change_it_acknowledged);

fn pseudo_random(len: usize) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(42);
    (0..len).map(|_| rng.u8(..)).collect()
}

fn an_interrupted_upload_resumes_and_the_stored_file_has_the_right_hash(backend: Backend) {
    let server = Server::start_on(backend);
    server.city();
    let dir = tempfile::tempdir().unwrap();
    let runtime = runtime();
    let (_, code_a) = server.worker("上报人", &["C1"]);
    let (_, code_b) = server.worker("隔壁网格员", &["C2"]);
    let (_, code_c) = server.worker("同社区网格员", &["C1"]);
    let a = library_device(&runtime, &server, &dir.path().join("a.db"), &code_a);
    let b = library_device(&runtime, &server, &dir.path().join("b.db"), &code_b);
    let c = library_device(&runtime, &server, &dir.path().join("c.db"), &code_c);

    let photo = pseudo_random(3 * 1024 * 1024 + 123);
    let sha = gridwork_client::sha256_hex(&photo);
    // The first megabyte arrives, then the connection drops.
    let (token, _) = session_of(a.path());
    let http = Http::new(&server.url, Some(token.clone())).unwrap();
    let first = runtime
        .block_on(async {
            http.builder(reqwest::Method::PUT, &format!("/attachments/{sha}?offset=0&size={}", photo.len()))
                .body(photo[..1024 * 1024].to_vec())
                .send()
                .await
        })
        .unwrap();
    assert_eq!(first.status(), 200);

    let sent: Arc<Mutex<Vec<u64>>> = Arc::default();
    let seen = sent.clone();
    let uploaded = runtime
        .block_on(a.upload(&photo, move |p| {
            if let Progress::Uploading { sent, .. } = p {
                seen.lock().unwrap().push(sent);
            }
        }))
        .unwrap();
    assert_eq!(uploaded, sha);
    let sent = sent.lock().unwrap().clone();
    assert_eq!(sent.first(), Some(&(2 * 1024 * 1024)), "resumed after the first megabyte: {sent:?}");
    assert_eq!(sent.last(), Some(&(photo.len() as u64)));

    let download = |device: &Device| {
        let (token, _) = session_of(device.path());
        let http = Http::new(&server.url, Some(token)).unwrap();
        let response = runtime
            .block_on(async {
                http.builder(reqwest::Method::GET, &format!("/attachments/{sha}")).send().await
            })
            .unwrap();
        let status = response.status().as_u16();
        (status, runtime.block_on(response.bytes()).unwrap().to_vec())
    };
    let (status, bytes) = download(&a);
    assert_eq!(status, 200);
    assert_eq!(gridwork_client::sha256_hex(&bytes), sha);

    // A case in C1 names the photo: C1's worker may read it, C2's may not.
    assert_eq!(download(&c).0, 404);
    let fields = [
        ("grid", Value::from("C1-01")),
        ("category", "public_facilities".into()),
        ("description", "井盖破损".into()),
        ("status", "reported".into()),
        ("attachments", Value::List(vec![sha.clone()])),
    ];
    a.store().put(Kind::Case, None, &fields).unwrap();
    runtime.block_on(a.sync(|_| {})).unwrap();
    let (status, bytes) = download(&c);
    assert_eq!(status, 200);
    assert_eq!(bytes, photo);
    assert_eq!(download(&b).0, 404);
    // Uploading it again sends nothing: the server has it.
    let again = Arc::new(Mutex::new(0));
    let counter = again.clone();
    runtime.block_on(c.upload(&photo, move |_| *counter.lock().unwrap() += 1)).unwrap();
    assert_eq!(*again.lock().unwrap(), 0);

    // B cannot get the photo by listing its digest on a case of its own.
    let theirs = [
        ("grid", Value::from("C2-01")),
        ("category", "public_facilities".into()),
        ("description", "借图".into()),
        ("status", "reported".into()),
        ("attachments", Value::List(vec![sha.clone()])),
    ];
    b.store().put(Kind::Case, None, &theirs).unwrap();
    let report = runtime.block_on(b.sync(|_| {})).unwrap();
    assert_eq!(report.rejected.len(), 1, "{report:?}");
    assert_eq!(
        (report.rejected[0].code.as_str(), report.rejected[0].field.as_deref()),
        ("forbidden", Some("attachments"))
    );
    assert_eq!(download(&b).0, 404);
    // Nor through the centre applying the refused change as it was sent.
    let parked = server.admin(&["parked", "list"]);
    let item = parked["items"].as_array().unwrap().iter().find(|p| p["field"] == "attachments").unwrap();
    let said = server.admin_refused(&["parked", "apply", "--id", &item["id"].to_string()]);
    assert!(said.contains(&format!("attachment {sha} is not one device")), "{said}");
    assert_eq!(download(&b).0, 404);
    // Nor learn from an upload that the server has it: its own upload starts
    // from nothing, whatever size it claims.
    let (b_token, _) = session_of(b.path());
    let b_http = Http::new(&server.url, Some(b_token)).unwrap();
    let claim = |http: &Http, sha: &str, size: usize| {
        let response = runtime
            .block_on(async {
                http.builder(reqwest::Method::PUT, &format!("/attachments/{sha}?offset=0&size={size}"))
                    .body(Vec::new())
                    .send()
                    .await
            })
            .unwrap();
        let status = response.status().as_u16();
        (status, runtime.block_on(response.json::<Json>()).unwrap())
    };
    let (status, answer) = claim(&b_http, &sha, 10);
    assert_eq!(
        (status, &answer["received"], &answer["complete"]),
        (200, &0.into(), &false.into()),
        "{answer}"
    );

    // B squats on the digest of a photo A has not uploaded yet, with a wrong
    // size: A's upload is not disturbed.
    let second = pseudo_random(100_000);
    let second_sha = gridwork_client::sha256_hex(&second);
    assert_eq!(claim(&b_http, &second_sha, 7).0, 200);
    assert_eq!(runtime.block_on(a.upload(&second, |_| {})).unwrap(), second_sha);
    // Uploading every byte proves B holds the file: then it may read it.
    runtime.block_on(b.upload(&photo, |_| {})).unwrap();
    assert_eq!(download(&b), (200, photo.clone()));

    // The file is lost (a database restored without its photos): the server
    // forgets it instead of failing, and the next upload stores it again.
    std::fs::remove_file(server.data.path().join("attachments").join(&sha[..2]).join(&sha)).unwrap();
    assert_eq!(download(&a).0, 404);
    let sent = Arc::new(Mutex::new(0));
    let counter = sent.clone();
    runtime.block_on(a.upload(&photo, move |_| *counter.lock().unwrap() += 1)).unwrap();
    assert!(*sent.lock().unwrap() > 0, "the bytes were sent again");
    assert_eq!(download(&c), (200, photo));
}
on_both_backends!(an_interrupted_upload_resumes_and_the_stored_file_has_the_right_hash);

fn bad_requests_get_clear_errors_and_change_nothing(backend: Backend) {
    let server = Server::start_on(backend);
    server.city();
    let dir = tempfile::tempdir().unwrap();
    let a = server.enrolled(dir.path(), "a", "网格员", &["C1"]);
    let id = a.put("resident", None, &["grid=C1-01", "name=原值"]);
    a.sync();
    let (token, number) = session_of(&a.db);
    let devices_before = server.admin(&["device", "list"]);

    let runtime = runtime();
    let client = reqwest::Client::new();
    let url = |path: &str| format!("{}/api/v1{path}", server.url);
    let send = |request: reqwest::RequestBuilder| -> (u16, ErrorBody) {
        let response = runtime.block_on(async { request.send().await }).unwrap();
        let status = response.status().as_u16();
        let body = runtime.block_on(response.text()).unwrap();
        let error: ErrorBody = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("{status}: `{body}` is not an error body: {e}"));
        assert!(!error.error.message.is_empty() && !error.error.message_zh.is_empty());
        (status, error)
    };
    let bare = || client.post(url("/sync/push")).header("x-gridwork-protocol", "1");
    let push = || bare().header("content-type", "application/json");
    let authed = || push().bearer_auth(&token);

    let cases: Vec<(&str, reqwest::RequestBuilder, u16, &str)> = vec![
        ("no token", push().body("{}"), 401, "unauthorized"),
        ("a wrong token", push().bearer_auth("gw_wrong").body("{}"), 401, "unauthorized"),
        (
            "no protocol header",
            client.post(url("/sync/push")).bearer_auth(&token).body("{}"),
            400,
            "protocol_missing",
        ),
        (
            "an old protocol",
            client.post(url("/sync/push")).bearer_auth(&token).header("x-gridwork-protocol", "0").body("{}"),
            426,
            "protocol_unsupported",
        ),
        (
            "a newer protocol",
            client.post(url("/sync/push")).bearer_auth(&token).header("x-gridwork-protocol", "99").body("{}"),
            426,
            "protocol_unsupported",
        ),
        ("malformed JSON", authed().body("{\"up_to_counter\": "), 400, "malformed"),
        ("a missing field", authed().body("{\"records\": []}"), 400, "malformed"),
        (
            "binary garbage",
            bare()
                .bearer_auth(&token)
                .header("content-type", "application/x-gridwork+postcard")
                .body(vec![0xff, 0xfe, 0x01]),
            400,
            "malformed",
        ),
        (
            "an unknown content type",
            bare().bearer_auth(&token).header("content-type", "text/plain").body("hi"),
            415,
            "unsupported_media_type",
        ),
        ("an oversized body", authed().body(vec![b' '; 17 * 1024 * 1024]), 413, "too_large"),
        (
            "a compressed bomb",
            authed()
                .header("content-encoding", "zstd")
                .body(zstd::bulk::compress(&vec![b' '; 70 * 1024 * 1024], 3).unwrap()),
            413,
            "too_large",
        ),
        (
            "an admin call with a device token",
            client.get(url("/admin/devices")).header("x-gridwork-protocol", "1").bearer_auth(&token),
            403,
            "forbidden",
        ),
        (
            "an unknown endpoint",
            client.get(url("/nowhere")).header("x-gridwork-protocol", "1"),
            404,
            "not_found",
        ),
        (
            "a wrong method",
            client.get(url("/sync/push")).header("x-gridwork-protocol", "1").bearer_auth(&token),
            405,
            "method_not_allowed",
        ),
        (
            "an upload without its offset",
            client
                .put(url(&format!("/attachments/{}", "a".repeat(64))))
                .header("x-gridwork-protocol", "1")
                .bearer_auth(&token)
                .body("x"),
            400,
            "malformed",
        ),
        (
            "a wrong enrollment code",
            client
                .post(url("/enroll"))
                .header("x-gridwork-protocol", "1")
                .header("content-type", "application/json")
                .body("{\"code\":\"AAAA-AAAA\",\"app_version\":\"x\"}"),
            403,
            "bad_enrollment_code",
        ),
        (
            "an enrollment code of 100 KB",
            client
                .post(url("/enroll"))
                .header("x-gridwork-protocol", "1")
                .header("content-type", "application/json")
                .body(format!("{{\"code\":\"{}\",\"app_version\":\"x\"}}", "A".repeat(100_000))),
            413,
            "too_large",
        ),
        (
            "a list of 1,001 tags",
            authed().body(
                serde_json::json!({
                    "up_to_counter": 5, "pending": 0,
                    "records": [{"id": id, "kind": "resident", "fields": [{"field": "tags", "register": {
                        "context": [[number.0, 9]],
                        "versions": [{"value": vec![""; 1001], "writer": number.0, "counter": 9, "hlc": "1"}]}}]}]
                })
                .to_string(),
            ),
            400,
            "malformed",
        ),
    ];
    for (what, request, status, code) in cases {
        let (got_status, error) = send(request);
        assert_eq!(
            (got_status, error.error.code.as_str()),
            (status, code),
            "{what}: {}",
            error.error.message
        );
    }

    // Well-formed pushes with bad contents: each record refused, naming the
    // field, parked; nothing applied.
    let rid: RecordId = id.parse().unwrap();
    let one_field = |field: &str, value: Value, hlc: Hlc| RecordChanges {
        id: rid,
        kind: Kind::Resident,
        fields: vec![FieldState { field: field.into(), register: Register::first_write(value, number, hlc) }],
    };
    let now = Hlc::new(SystemClock.now_ms(), 0);
    let bad = vec![
        one_field("phone", Value::from("12345"), now),
        one_field("grid", Value::Null, now),
        one_field("room", Value::from("1-101"), Hlc::ZERO),
    ];
    let expected = [("invalid", "phone"), ("invalid", "grid"), ("invalid", "room")];
    let refusals = |changes: &[RecordChanges]| -> Vec<(String, String)> {
        changes
            .iter()
            .flat_map(|change| push_as(&runtime, &server, &a.db, vec![change.clone()]).rejected)
            .map(|r| (r.code.to_string(), r.field.unwrap_or_default()))
            .collect()
    };
    let expected: Vec<(String, String)> =
        expected.iter().map(|(c, f)| (c.to_string(), f.to_string())).collect();
    assert_eq!(refusals(&bad), expected);
    // Sent again under the same counter (its answer lost), the refusals come
    // back again, and nothing is parked twice: one row per device and
    // record, the latest refusal.
    assert_eq!(refusals(&bad), expected);
    let parked = server.admin(&["parked", "list"]);
    assert_eq!(parked["total"], 1, "{parked}");
    assert_eq!(parked["items"][0]["field"], "room", "{parked}");
    // A push naming one record twice, or one field twice, is malformed whole.
    let (token, _) = session_of(&a.db);
    let http = Http::new(&server.url, Some(token)).unwrap();
    let twice_field =
        RecordChanges { fields: [bad[0].fields.clone(), bad[0].fields.clone()].concat(), ..bad[0].clone() };
    for records in [vec![bad[0].clone(), bad[1].clone()], vec![twice_field]] {
        let request = PushRequest { up_to_counter: 1_000_001, pending: 0, records };
        match runtime.block_on(http.sync_call::<_, PushResponse>("/sync/push", &request)) {
            Err(gridwork_client::ClientError::Api { status: 400, error }) => {
                assert!(error.message.contains("twice"), "{error:?}")
            }
            other => panic!("expected a malformed push, got {other:?}"),
        }
    }

    // Nothing changed: the record, the device registry, no conflicts.
    a.sync();
    let record = a.get("resident", &id);
    assert_eq!(field(&record, "name"), "原值");
    assert!(record.get("phone").is_none());
    let devices_after = server.admin(&["device", "list"]);
    assert_eq!(devices_after.as_array().unwrap().len(), devices_before.as_array().unwrap().len());
    assert!(server.admin(&["conflicts", "list"]).as_array().unwrap().is_empty());
}
on_both_backends!(bad_requests_get_clear_errors_and_change_nothing);

fn after_a_restore_from_backup_devices_send_again_what_the_server_lost(backend: Backend) {
    let mut server = Server::start_on(backend);
    server.city();
    let dir = tempfile::tempdir().unwrap();
    let a = server.enrolled(dir.path(), "a", "网格员", &["C1"]);
    let kept = a.put("resident", None, &["grid=C1-01", "name=备份前"]);
    a.sync();
    let backup = dir.path().join("backup");
    server.backup_to(&backup);
    let lost = a.put("resident", None, &["grid=C1-01", "name=备份后"]);
    a.sync();

    server.stop();
    let restored = server.restore_from(&backup);
    assert!(restored["epoch"].is_string());
    server.serve();

    let report = a.sync();
    assert_eq!(report["server_restored"], true, "{report}");
    let d = server.enrolled(dir.path(), "d", "核对员", &["C1"]);
    let number = d.run(&["status"])["device_number"].as_u64().unwrap();
    assert!(number > 100_000, "numbers of devices enrolled after the backup are not given again: {number}");
    assert_eq!(field(&d.get("resident", &kept), "name"), "备份前");
    assert_eq!(field(&d.get("resident", &lost), "name"), "备份后", "sent again after the restore");
}
on_both_backends!(after_a_restore_from_backup_devices_send_again_what_the_server_lost);

/// A resident of C1-01 whom B (keeping C1 and C2) moves to C2-01 while A
/// (keeping C1-01), offline, types her phone 13700000007: A's edit is
/// waiting to be pushed. A, B and her id.
fn moved_away_while_offline(server: &Server, dir: &Path) -> (CliDevice, CliDevice, String) {
    let a = server.enrolled(dir, "a", "第一网格员", &["C1-01"]);
    let b = server.enrolled(dir, "b", "社区网格长", &["C1", "C2"]);
    let id = a.put("resident", None, &["grid=C1-01", "name=迁出居民"]);
    a.sync();
    b.sync();
    b.put("resident", Some(&id), &["grid=C2-01"]);
    b.sync();
    a.put("resident", Some(&id), &["phone=13700000007"]);
    (a, b, id)
}

fn a_late_edit_to_a_record_moved_away_is_refused_rolled_back_and_parked(backend: Backend) {
    let server = Server::start_on(backend);
    server.city();
    let dir = tempfile::tempdir().unwrap();
    let (a, b, id) = moved_away_while_offline(&server, dir.path());
    let report = a.sync();
    let rejected = report["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 1, "{report}");
    assert_eq!(rejected[0]["code"], "out_of_scope");
    assert_eq!(rejected[0]["local"]["phone"], "13700000007", "the sync says what was refused: {report}");
    // A may not see the record any more: it is gone from A, the refusal is
    // listed with what A had typed.
    assert!(!a.try_run(&["get", "resident", &id]).status.success());
    let status = a.run(&["status"]);
    assert_eq!(status["pending"], 0);
    assert_eq!(status["refused"][0]["id"], id.as_str());
    assert_eq!(
        status["refused"][0]["local"]["phone"], "13700000007",
        "what the worker typed is kept: {status}"
    );
    // The server kept B's move, without A's phone, and parked A's change.
    b.sync();
    let record = b.get("resident", &id);
    assert_eq!(field(&record, "grid"), "C2-01");
    assert!(record.get("phone").is_none());
    let page = server.admin(&["parked", "list"]);
    let summary = &page["items"][0];
    assert_eq!(summary["record"], id.as_str());
    assert_eq!(summary["code"], "out_of_scope");
    assert!(summary["message"].as_str().unwrap().contains("moved"), "{page}");
    let parked = server.admin(&["parked", "show", "--id", &summary["id"].to_string()]);
    assert_eq!(parked["values"]["phone"], "13700000007", "the centre sees what was typed: {parked}");
}
on_both_backends!(a_late_edit_to_a_record_moved_away_is_refused_rolled_back_and_parked);

fn the_centre_applies_a_parked_change_by_hand_and_devices_take_it(backend: Backend) {
    let runtime = runtime();
    let server = Server::start_on(backend);
    server.city();
    gridwork_tests::person(&server, "值班员", "staff", &[]);
    gridwork_tests::person(&server, "西山街道", "staff", &["--grid", "C2"]);
    gridwork_tests::person(&server, "东苑社区", "staff", &["--grid", "C1"]);
    let dir = tempfile::tempdir().unwrap();
    // B moves her to C2 while A, offline, types her phone: parked.
    let (a, b, id) = moved_away_while_offline(&server, dir.path());
    assert_eq!(a.sync()["rejected"][0]["code"], "out_of_scope");
    let parked = server.admin(&["parked", "list"])["items"][0]["id"].to_string();

    // Only the change's own fields, with values the record takes; a
    // refused apply changes nothing and the change stays parked.
    let said = server.admin_refused(&["parked", "apply", "--id", &parked, "--set", "name=改名"]);
    assert!(said.contains("not part of the refused change"), "{said}");
    let said = server.admin_refused(&["parked", "apply", "--id", &parked, "--set", "phone=12"]);
    assert!(said.contains("phone"), "a bad correction names the field: {said}");
    let said = server.admin_refused(&["parked", "apply", "--id", &parked, "--skip", "phone"]);
    assert!(said.contains("values"), "nothing to apply is said: {said}");
    assert_eq!(server.admin(&["parked", "list"])["total"], 1);
    b.sync();
    assert!(b.get("resident", &id).get("phone").is_none());
    // The refusal is the street's where she now lives: C2's staff list it,
    // C1's neither see nor apply nor dismiss it.
    let west = gridwork_tests::Console::login(&server, "西山街道", "correct horse");
    let east = gridwork_tests::Console::login(&server, "东苑社区", "correct horse");
    let listed = west.get("/admin/parked");
    assert_eq!(
        (&listed["total"], &listed["items"][0]["grid"]),
        (&serde_json::json!(1), &serde_json::json!("C2-01"))
    );
    assert_eq!(east.get("/admin/parked")["total"], 0);
    for (method, path, body) in [
        (reqwest::Method::GET, format!("/admin/parked/{parked}"), None),
        (reqwest::Method::POST, format!("/admin/parked/{parked}/dismiss"), Some(serde_json::json!({}))),
        (
            reqwest::Method::POST,
            format!("/admin/parked/{parked}/apply"),
            Some(serde_json::json!({"values": {"phone": "13700000007"}})),
        ),
    ] {
        let (status, answer) = east.call(method, &path, body);
        assert_eq!(status, 404, "{path}: {answer}");
    }
    // Moved back to C1 and again to C2: the refusal follows her each time.
    b.put("resident", Some(&id), &["grid=C1-02"]);
    b.sync();
    assert_eq!(
        (east.get("/admin/parked")["total"].as_u64(), west.get("/admin/parked")["total"].as_u64()),
        (Some(1), Some(0))
    );
    b.put("resident", Some(&id), &["grid=C2-01"]);
    b.sync();
    assert_eq!(
        (east.get("/admin/parked")["total"].as_u64(), west.get("/admin/parked")["total"].as_u64()),
        (Some(0), Some(1))
    );

    // Applied with the phone corrected (read as the field's type, text,
    // digits and all): B, whose grid she is now in, takes it.
    let applied = server.admin(&["parked", "apply", "--id", &parked, "--set", "phone=13700000008"]);
    assert_eq!(applied["fields"], serde_json::json!(["phone"]), "{applied}");
    assert_eq!(applied["record"], id.as_str());
    assert_eq!(server.admin(&["parked", "list"])["total"], 0);
    b.sync();
    let record = b.get("resident", &id);
    assert_eq!(field(&record, "phone"), "13700000008", "{record}");
    assert_eq!(field(&record, "grid"), "C2-01");
    let said = server.admin_refused(&["parked", "apply", "--id", &parked]);
    assert!(said.contains(&format!("no parked change {parked}")), "applied once only: {said}");
    let trail = server.sql("SELECT detail FROM audit WHERE action = 'parked_apply'");
    assert!(trail.contains("\"phone\"") && !trail.contains("1370000000"), "names, not values: {trail}");

    // A change sent as a case for the resident's id: refused, parked, and
    // not applicable (the id is a resident's).
    let as_case = RecordChanges {
        kind: Kind::Case,
        ..resident_changes(id.parse().unwrap(), session_of(&a.db).1, &[("description", "串号")])
    };
    assert_eq!(push_as(&runtime, &server, &a.db, vec![as_case]).rejected.len(), 1);
    let wrong_kind = server.admin(&["parked", "list"])["items"][0]["id"].to_string();
    assert_ne!(wrong_kind, parked, "a parked change's number is never given again");
    let said = server.admin_refused(&["parked", "apply", "--id", &wrong_kind]);
    assert!(said.contains("is a resident, not a case"), "{said}");
    server.admin(&["parked", "dismiss", "--id", &wrong_kind]);

    // A case A reported in a grid it does not keep: parked, then applied
    // by the centre with its photo left out; it takes its place in the
    // flow from when the server first got it, and reaches C2's tablet.
    let (_, a_number) = session_of(&a.db);
    let case = RecordId::from_parts(SystemClock.now_ms(), [9; 10]);
    let photo = "ab".repeat(32);
    let mut change = RecordChanges {
        kind: Kind::Case,
        ..resident_changes(
            case,
            a_number,
            &[
                ("grid", "C2-01"),
                ("category", "sanitation"),
                ("description", "<script>alert(1)</script>"),
                ("status", "reported"),
            ],
        )
    };
    change.fields.push(FieldState {
        field: "attachments".into(),
        register: Register::first_write(
            Value::List(vec![photo.clone()]),
            a_number,
            Hlc::new(SystemClock.now_ms(), 0),
        ),
    });
    let answer = push_as(&runtime, &server, &a.db, vec![change]);
    assert_eq!(answer.rejected.len(), 1, "{answer:?}");
    let page = server.admin(&["parked", "list"]);
    let parked = page["items"][0]["id"].to_string();
    let at_ms = page["items"][0]["at_ms"].as_u64().unwrap();
    let staff = gridwork_tests::Console::login(&server, "值班员", "correct horse");
    let (status, _) = staff.call(reqwest::Method::GET, &format!("/cases/{case}"), None);
    assert_eq!(status, 404, "not a case until applied");
    // C2's staff may not apply it into another street's grid.
    let values = serde_json::json!({"values": {"grid": "C1-01", "category": "sanitation", "description": "改到东苑", "status": "reported"}});
    let (status, answer) =
        west.call(reqwest::Method::POST, &format!("/admin/parked/{parked}/apply"), Some(values));
    assert_eq!(status, 403, "{answer}");
    assert_eq!(server.admin(&["parked", "list"])["total"], 1, "nothing applied");
    // What the flow decides is applied only as sent: closing it here
    // would be a step nobody took.
    let said = server.admin_refused(&[
        "parked",
        "apply",
        "--id",
        &parked,
        "--skip",
        "attachments",
        "--set",
        "status=closed",
    ]);
    assert!(said.contains("`status` is applied only as the tablet sent it"), "{said}");
    let applied = server.admin(&["parked", "apply", "--id", &parked, "--skip", "attachments"]);
    assert_eq!(applied["kind"], "case", "{applied}");
    let view = staff.get(&format!("/cases/{case}"));
    assert_eq!(view["summary"]["status"], "reported", "{view}");
    assert_eq!(view["summary"]["grid"], "C2-01");
    let report = &view["steps"][0];
    assert_eq!(report["step"], "report", "{view}");
    assert_eq!(report["at_ms"].as_u64(), Some(at_ms), "received when the server first got it: {view}");
    b.sync();
    let on_tablet = b.get("case", &case.to_string());
    assert_eq!(on_tablet["description"], "<script>alert(1)</script>");
    assert!(on_tablet["deadline"].is_string(), "the flow's deadline reaches the grid's tablet: {on_tablet}");
    assert!(on_tablet.get("attachments").is_none_or(|a| a.is_null()), "{on_tablet}");
}
on_both_backends!(the_centre_applies_a_parked_change_by_hand_and_devices_take_it);

fn edits_stamped_by_a_clock_running_ahead_are_refused_then_stamped_again(backend: Backend) {
    let server = Server::start_on(backend);
    server.city();
    let dir = tempfile::tempdir().unwrap();
    let mut a = server.enrolled(dir.path(), "a", "网格员甲", &["C1"]);
    let b = server.enrolled(dir.path(), "b", "网格员乙", &["C1"]);
    let id = a.put("resident", None, &["grid=C1-01", "name=钟快"]);
    a.sync();
    b.sync();

    // A's clock runs a day ahead. Its edit would win every concurrent edit
    // for a day; the server refuses it, A corrects its clock and stamps the
    // edit again.
    a.faketime = Some("+1 day".into());
    a.put("resident", Some(&id), &["phone=13600000001"]);
    let report = a.sync();
    assert!(report["rejected"].as_array().unwrap().is_empty(), "re-stamped and accepted: {report}");
    assert_eq!(report["pushed"], 1, "{report}");
    // B, with a right clock, edits the same field after A's sync: B is the
    // later write and must win.
    std::thread::sleep(Duration::from_millis(20));
    b.put("resident", Some(&id), &["phone=13600000002"]);
    b.sync();
    a.sync();
    for device in [&a, &b] {
        assert_eq!(field(&device.get("resident", &id), "phone"), "13600000002");
    }
    let conflicts = server.admin(&["conflicts", "list"]);
    assert_eq!(conflicts[0]["losers"][0]["value"], "13600000001", "{conflicts}");
}
on_both_backends!(edits_stamped_by_a_clock_running_ahead_are_refused_then_stamped_again);

fn an_enrollment_whose_answer_was_lost_is_retried_without_using_up_the_code(backend: Backend) {
    let server = Server::start_on(backend);
    server.city();
    let (user, code) = server.worker("网格员", &["C1"]);
    let runtime = runtime();
    let anonymous = Http::new(&server.url, None).unwrap();
    let enroll = |code: &str, request_id: Option<&str>| {
        let request = EnrollRequest {
            code: code.to_owned(),
            app_version: "tests".into(),
            request_id: request_id.map(str::to_owned),
        };
        runtime
            .block_on(anonymous.sync_call::<_, EnrollResponse>("/enroll", &request))
            .map(|(response, _)| response)
    };
    let refused_code = |result: Result<EnrollResponse, gridwork_client::ClientError>| match result {
        Err(gridwork_client::ClientError::Api { status, error }) => {
            assert_eq!((status, error.code.as_str()), (403, "bad_enrollment_code"));
        }
        other => panic!("expected bad_enrollment_code, got {other:?}"),
    };
    let pulls = |token: &str| {
        let http = Http::new(&server.url, Some(token.to_owned())).unwrap();
        let request = PullRequest { cursor: 0, after: 0, limit: 10, scope_hash: String::new() };
        runtime.block_on(http.sync_call::<_, PullResponse>("/sync/pull", &request)).is_ok()
    };

    let first = enroll(&code, Some("request-1")).expect("enrolls");
    // The answer is lost; the device sends the same request again.
    let again = enroll(&code, Some("request-1")).expect("the retry is answered");
    assert_eq!(
        (again.device_id.as_str(), again.device_number),
        (first.device_id.as_str(), first.device_number)
    );
    assert_ne!(again.token, first.token);
    assert!(!pulls(&first.token), "the token of the lost answer no longer works");
    assert!(pulls(&again.token), "the token of the retry works");

    // Anyone else with the code, or a request without the id, is refused.
    refused_code(enroll(&code, Some("request-2")));
    refused_code(enroll(&code, None));
    let devices = server.admin(&["device", "list"]);
    let mine: Vec<_> = devices.as_array().unwrap().iter().filter(|d| d["user_id"] == user.as_str()).collect();
    assert_eq!(mine.len(), 1, "one device, not one per attempt: {devices}");

    // Once the device is revoked, the retry no longer revives it.
    server.admin(&["device", "revoke", "--device", &first.device_id]);
    refused_code(enroll(&code, Some("request-1")));
}
on_both_backends!(an_enrollment_whose_answer_was_lost_is_retried_without_using_up_the_code);

fn guessing_enrollment_codes_is_stopped_and_told_how_long_to_wait(backend: Backend) {
    let server = Server::start_on(backend);
    server.city();
    let (_, code) = server.worker("网格员", &["C1"]);
    let runtime = runtime();
    let client = reqwest::Client::new();
    let attempt = |code: &str| {
        let request = client
            .post(format!("{}/api/v1/enroll", server.url))
            .header("x-gridwork-protocol", "1")
            .json(&serde_json::json!({"code": code, "app_version": "tests"}));
        let response = runtime.block_on(request.send()).unwrap();
        let status = response.status().as_u16();
        let wait = response.headers().get("retry-after").map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
        let body: ErrorBody = runtime.block_on(response.json()).unwrap();
        (status, body.error.code, wait)
    };
    // Thirty guesses sent at once: ten are tried, the rest wait.
    let url = format!("{}/api/v1/enroll", server.url);
    let mut statuses: Vec<u16> = runtime.block_on(async {
        let sent: Vec<_> = (0..30)
            .map(|guess| {
                let request = client
                    .post(&url)
                    .header("x-gridwork-protocol", "1")
                    .json(&serde_json::json!({"code": format!("AAAA-{guess:04}"), "app_version": "tests"}));
                tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
            })
            .collect();
        let mut statuses = Vec::new();
        for answer in sent {
            statuses.push(answer.await.unwrap());
        }
        statuses
    });
    statuses.sort();
    assert_eq!(statuses, [vec![403; 10], vec![429; 20]].concat());
    let (status, error, wait) = attempt(&code);
    assert_eq!((status, error.as_str()), (429, "too_many_attempts"), "even a right code waits");
    assert!(wait.is_some_and(|seconds| (1..=601).contains(&seconds)), "Retry-After: {wait:?}");
    // The client reports it instead of retrying for ten minutes.
    let dir = tempfile::tempdir().unwrap();
    let device = Device::open(&dir.path().join("d.db")).unwrap();
    match runtime.block_on(device.enroll(&server.url, &code, "tests")) {
        Err(gridwork_client::ClientError::Api { status: 429, error }) => {
            assert!(error.message_zh.contains("分钟"), "{error:?}")
        }
        other => panic!("expected too_many_attempts, got {other:?}"),
    }
}
on_both_backends!(guessing_enrollment_codes_is_stopped_and_told_how_long_to_wait);

fn a_device_cannot_forge_other_devices_writes_or_push_their_clocks_ahead(backend: Backend) {
    let server = Server::start_on(backend);
    server.city();
    let dir = tempfile::tempdir().unwrap();
    let a = server.enrolled(dir.path(), "a", "网格员甲", &["C1"]);
    let b = server.enrolled(dir.path(), "b", "网格员乙", &["C1"]);
    let id = a.put("resident", None, &["grid=C1-01", "name=居民", "phone=13700000001"]);
    a.sync();
    b.sync();
    let (_, a_number) = session_of(&a.db);
    let (_, b_number) = session_of(&b.db);
    let runtime = runtime();
    let now = SystemClock.now_ms();
    let phone = |context: &[(DeviceId, u32)], writer: DeviceId, counter: u32, hlc: Hlc| RecordChanges {
        id: id.parse().unwrap(),
        kind: Kind::Resident,
        fields: vec![FieldState {
            field: "phone".into(),
            register: Register::from_parts(
                gridwork_merge::VersionVector::from_entries(context.iter().copied()),
                [gridwork_merge::Version { value: Value::from("13900000666"), writer, counter, hlc }],
            )
            .unwrap(),
        }],
    };
    let twenty_years = 20 * 365 * 24 * 3600 * 1000;
    let forgeries = [
        ("signed as device a", phone(&[(a_number, 2)], a_number, 2, Hlc::new(now, 0))),
        (
            "claiming to have seen a thousand of a's writes",
            phone(&[(a_number, 1000), (b_number, 1)], b_number, 1, Hlc::new(now, 0)),
        ),
        ("signed as the server", phone(&[(DeviceId(0), 1)], DeviceId(0), 1, Hlc::new(now, 0))),
        (
            "signed as the server, twenty years ahead",
            phone(&[(DeviceId(0), 1)], DeviceId(0), 1, Hlc::new(now + twenty_years, 0)),
        ),
        (
            "signed as device a, at the end of time",
            phone(&[(a_number, 2)], a_number, 2, Hlc::from_u64(u64::MAX)),
        ),
    ];
    for (what, change) in forgeries {
        let answer = push_as(&runtime, &server, &b.db, vec![change]);
        assert_eq!(answer.applied, 0, "{what}: {answer:?}");
        let rejection = &answer.rejected[0];
        assert_eq!(
            (rejection.code.as_str(), rejection.field.as_deref()),
            ("forbidden", Some("phone")),
            "{what}: {rejection:?}"
        );
    }

    // Nothing of it reached a, and the clocks are where they were: a's next
    // edit is accepted, and so is b's honest overwrite of it.
    a.sync();
    assert_eq!(field(&a.get("resident", &id), "phone"), "13700000001");
    a.put("resident", Some(&id), &["phone=13700000002"]);
    assert_eq!(a.sync()["rejected"], serde_json::json!([]));
    b.sync();
    b.put("resident", Some(&id), &["phone=13800000003"]);
    assert_eq!(b.sync()["rejected"], serde_json::json!([]));
    a.sync();
    assert_eq!(field(&a.get("resident", &id), "phone"), "13800000003");
}
on_both_backends!(a_device_cannot_forge_other_devices_writes_or_push_their_clocks_ahead);

fn a_device_database_restored_from_a_copy_is_stopped_not_left_to_diverge(backend: Backend) {
    let server = Server::start_on(backend);
    server.city();
    let dir = tempfile::tempdir().unwrap();
    let a = server.enrolled(dir.path(), "a", "网格员甲", &["C1"]);
    let watcher = server.enrolled(dir.path(), "w", "网格员乙", &["C1"]);
    let id = a.put("resident", None, &["grid=C1-01", "name=居民", "phone=13700000001"]);
    a.sync();
    let backup = dir.path().join("a-backup.db");
    copy_database(&a.db, &backup);
    for phone in ["phone=13700000002", "phone=13700000003"] {
        a.put("resident", Some(&id), &[phone]);
        a.sync();
    }
    let refused = |device: &CliDevice| {
        let output = device.try_run(&["sync"]);
        assert!(!output.status.success(), "sync must fail: {}", String::from_utf8_lossy(&output.stdout));
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(stderr.contains("restored from a copy") && stderr.contains("重新注册"), "{stderr}");
    };

    // The tablet's database goes back to the backup; an edit made on it is
    // refused whole, not acknowledged and dropped.
    copy_database(&backup, &a.db);
    a.put("resident", Some(&id), &["phone=13600000006", "notes=恢复后"]);
    refused(&a);

    // A copy running beside the original: the first to push wins the
    // names of their writes; the other is stopped.
    copy_database(&backup, &a.db);
    let original = CliDevice::new(dir.path(), "original");
    let clone = CliDevice::new(dir.path(), "clone");
    copy_database(&a.db, &original.db);
    copy_database(&a.db, &clone.db);
    let fresh = server.enrolled(dir.path(), "fresh", "网格员丙", &["C1"]);
    let other = fresh.put("resident", None, &["grid=C1-01", "name=另一居民"]);
    fresh.sync();
    original.sync();
    clone.sync();
    original.put("resident", Some(&other), &["room=A-1"]);
    clone.put("resident", Some(&other), &["room=B-2"]);
    original.sync();
    refused(&clone);

    watcher.sync();
    let record = watcher.get("resident", &id);
    assert_eq!(field(&record, "phone"), "13700000003");
    assert!(record.get("notes").is_none());
    assert_eq!(field(&watcher.get("resident", &other), "room"), "A-1");
}
on_both_backends!(a_device_database_restored_from_a_copy_is_stopped_not_left_to_diverge);

#[test]
fn databases_and_the_data_directory_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let server = Server::start();
    server.city();
    let dir = tempfile::tempdir().unwrap();
    let a = server.enrolled(dir.path(), "a", "网格员", &["C1"]);
    a.put("resident", None, &["grid=C1-01", "name=居民", "id_number=11010519491231002X"]);
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(server.data.path()), 0o700);
    assert_eq!(mode(&server.data.path().join("gridwork.db")), 0o600);
    assert_eq!(mode(&a.db), 0o600);
    // SQLite's journal files, while open, take the database's permissions.
    let store = Store::open(&a.db, Role::Device, Arc::new(SystemClock)).unwrap();
    let mut wal = a.db.as_os_str().to_owned();
    wal.push("-wal");
    assert_eq!(mode(Path::new(&wal)), 0o600);
    drop(store);
}

fn device_mistakes_are_named_in_both_languages_and_change_nothing(backend: Backend) {
    let mut server = Server::start_on(backend);
    server.city();
    let dir = tempfile::tempdir().unwrap();
    let a = server.enrolled(dir.path(), "a", "网格员", &["C1"]);
    let fails = |args: &[&str], words: &[&str]| {
        let output = a.try_run(args);
        assert!(!output.status.success(), "{args:?} should fail");
        assert!(output.stdout.is_empty(), "{args:?}: nothing on stdout");
        let stderr = String::from_utf8(output.stderr).unwrap();
        for word in words {
            assert!(stderr.contains(word), "{args:?}: `{word}` not in: {stderr}");
        }
    };
    fails(
        &["put", "grid", "code=X1", "name=私设", "level=unit"],
        &["grids are drawn by admins", "网格由中心"],
    );
    fails(
        &["put", "resident", "grid=C2-01", "name=越界"],
        &["C2-01", "not one of this device's grids", "不在"],
    );
    fails(&["put", "resident", "grid=C1-01", "name=甲", "name=乙"], &["`name` is given twice", "重复"]);
    fails(&["put", "people", "name=甲"], &["unknown record kind", "人口(resident)"]);
    fails(&["get", "resident", "01a207df-c177-753e-b299-2c782395b519"], &["has no resident", "没有编号"]);
    fails(&["put", "resident", "grid=C1-01", "name"], &["not FIELD=VALUE", "字段=值"]);
    assert!(a.list("resident").is_empty(), "nothing was created");
    assert_eq!(a.run(&["status"])["pending"], 0);

    // With the server down, an edit is kept and the sync says so.
    let id = a.put("resident", None, &["grid=C1-01", "name=离线录入"]);
    server.stop();
    fails(&["sync"], &["cannot reach the server", "kept", "无法连接服务器", "已保存"]);
    assert_eq!(field(&a.get("resident", &id), "name"), "离线录入");
    server.serve();
    assert_eq!(a.sync()["pushed"], 1);

    // A failed enrollment leaves no database file behind.
    let ghost = CliDevice::new(dir.path(), "ghost");
    let output = ghost.try_run(&["enroll", "--server", &server.url, "--code", "AAAA-AAAA"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("注册码"), "{output:?}");
    assert!(!ghost.db.exists());
}
on_both_backends!(device_mistakes_are_named_in_both_languages_and_change_nothing);

fn a_fast_clocked_edit_to_a_record_moved_away_is_refused_as_moved_not_restamped(backend: Backend) {
    let server = Server::start_on(backend);
    server.city();
    let dir = tempfile::tempdir().unwrap();
    let mut a = server.enrolled(dir.path(), "a", "第一网格员", &["C1-01"]);
    let b = server.enrolled(dir.path(), "b", "社区网格长", &["C1", "C2"]);
    let id = a.put("resident", None, &["grid=C1-01", "name=迁出居民", "phone=13700000001"]);
    a.sync();
    b.sync();
    b.put("resident", Some(&id), &["grid=C2-01"]);
    b.sync();
    a.faketime = Some("+1 day".into());
    a.put("resident", Some(&id), &["phone=13700000002"]);
    let report = a.sync();
    assert_eq!(report["rejected"][0]["code"], "out_of_scope", "{report}");
    // Moved back, the record reaches A again and A syncs on as before.
    b.put("resident", Some(&id), &["grid=C1-01"]);
    b.sync();
    a.faketime = None;
    a.sync();
    assert_eq!(field(&a.get("resident", &id), "phone"), "13700000001");
    a.put("resident", Some(&id), &["name=迁回居民"]);
    assert_eq!(a.sync()["rejected"], serde_json::json!([]));
}
on_both_backends!(a_fast_clocked_edit_to_a_record_moved_away_is_refused_as_moved_not_restamped);

fn a_device_records_in_its_grids_straight_after_enrolling_before_any_sync(backend: Backend) {
    let server = Server::start_on(backend);
    server.city();
    let dir = tempfile::tempdir().unwrap();
    let (_, code) = server.worker("新网格员", &["C1-01"]);
    let device = CliDevice::new(dir.path(), "new");
    let enrolled = device.enroll(&server, &code);
    assert_eq!(enrolled["scope"], serde_json::json!(["C1-01"]), "{enrolled}");

    // No sync yet: the grid is known, with its name, and can be recorded in.
    let grids = device.list("grid");
    assert_eq!(grids.len(), 1, "{grids:?}");
    assert_eq!(field(&grids[0], "name"), "东苑社区第一网格");
    let id = device.put("resident", None, &["grid=C1-01", "name=刚登记的居民"]);
    // A grid outside its scope is still unknown, and said so.
    let outside = device.try_run(&["put", "resident", "grid=C2-01", "name=别处的人"]);
    assert!(!outside.status.success());
    assert!(String::from_utf8_lossy(&outside.stderr).contains("C2-01"));

    let report = device.sync();
    assert_eq!(report["pushed"], 1, "the resident: {report}");
    assert_eq!(report["rejected"], serde_json::json!([]), "nothing refused: {report}");
    let colleague = server.enrolled(dir.path(), "colleague", "同网格的人", &["C1-01"]);
    assert_eq!(field(&colleague.get("resident", &id), "name"), "刚登记的居民");
    let grids = device.list("grid");
    assert_eq!(grids.len(), 8, "the first sync brings the whole tree: {grids:?}");
    let own = grids.iter().filter(|grid| field(grid, "code") == "C1-01").count();
    assert_eq!(own, 1, "and no second copy of the grid it enrolled with");
}
on_both_backends!(a_device_records_in_its_grids_straight_after_enrolling_before_any_sync);
