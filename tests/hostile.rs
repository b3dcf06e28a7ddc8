//! The server under hostile and heavy load, against the real binary: what a
//! connection, a body, a push, a refusal or an upload can cost stays
//! bounded, and a device with records of any legal size keeps syncing.
//! Each test reproduces a finding of the adversarial pass (issue 7).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use gridwork_client::{Device, Http};
use gridwork_domain::{DeviceId, Kind, RecordId, Value};
use gridwork_merge::{Hlc, Register, VersionVector};
use gridwork_protocol::sync::{ErrorBody, PushRequest, PushResponse};
use gridwork_protocol::{FieldState, RecordChanges};
use gridwork_store::{Clock, SystemClock};
use gridwork_tests::{Backend, Server, on_both_backends, session_of};
use serde_json::{Value as Json, json};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().expect("a runtime")
}

fn library_device(runtime: &tokio::runtime::Runtime, server: &Server, path: &Path, worker: &str) -> Device {
    let (_, code) = server.worker(worker, &["C1"]);
    let device = Device::open(path).expect("opens");
    runtime.block_on(device.enroll(&server.url, &code, "tests")).expect("enrolls");
    runtime.block_on(device.sync(|_| {})).expect("first sync");
    device
}

fn new_id(n: u64) -> RecordId {
    let mut random = [0u8; 10];
    random[..8].copy_from_slice(&fastrand::u64(..).to_le_bytes());
    random[8..].copy_from_slice(&(n as u16).to_le_bytes());
    RecordId::from_parts(SystemClock.now_ms(), random)
}

fn write(field: &str, value: Value, device: DeviceId) -> FieldState {
    FieldState {
        field: field.into(),
        register: Register::first_write(value, device, Hlc::new(SystemClock.now_ms(), 0)),
    }
}

/// A new case of `grid` listing `photos`.
fn case(device: DeviceId, grid: &str, mut photos: Vec<String>, description: &str) -> RecordChanges {
    photos.sort();
    RecordChanges {
        id: new_id(photos.len() as u64),
        kind: Kind::Case,
        fields: vec![
            write("grid", grid.into(), device),
            write("category", "public_facilities".into(), device),
            write("description", description.into(), device),
            write("status", "reported".into(), device),
            write("attachments", Value::List(photos), device),
        ],
    }
}

fn today() -> chrono::NaiveDate {
    chrono::DateTime::from_timestamp_millis(SystemClock.now_ms() as i64).expect("a time").date_naive()
}

fn random_digest() -> String {
    (0..4).map(|_| format!("{:016x}", fastrand::u64(..))).collect()
}

/// The refusals of a push, short enough to print.
fn codes(answer: &PushResponse) -> Vec<(String, Option<String>)> {
    answer.rejected.iter().take(3).map(|r| (r.code.to_string(), r.field.clone())).collect()
}

fn push(
    runtime: &tokio::runtime::Runtime,
    server: &Server,
    token: &str,
    request: &PushRequest,
) -> PushResponse {
    let http = Http::new(&server.url, Some(token.to_owned())).unwrap();
    runtime.block_on(http.sync_call::<_, PushResponse>("/sync/push", request)).expect("push answered").0
}

/// A request that must fail: its status and error body.
fn refused(runtime: &tokio::runtime::Runtime, request: reqwest::RequestBuilder) -> (u16, ErrorBody) {
    let response = runtime.block_on(request.send()).expect("answered");
    let status = response.status().as_u16();
    let text = runtime.block_on(response.text()).unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status} `{text}`: {e}"));
    (status, body)
}

fn checking_the_photos_a_push_lists_never_holds_the_writer_for_long(backend: Backend) {
    let server = Server::start_on(backend);
    server.city();
    let dir = tempfile::tempdir().unwrap();
    let runtime = runtime();
    // A worker photographs 200 things and reports them in one case, so every
    // device of the grid may read those photos.
    let a = library_device(&runtime, &server, &dir.path().join("a.db"), "甲");
    let mut photos = Vec::new();
    for i in 0..200u32 {
        let bytes = format!("photo {i} {}", fastrand::u64(..)).into_bytes();
        photos.push(runtime.block_on(a.upload(&bytes, |_| {})).expect("uploads"));
    }
    let (a_token, a_number) = session_of(a.path());
    // Another device of the grid fills it with cases of many digests.
    let b = library_device(&runtime, &server, &dir.path().join("b.db"), "乙");
    let (b_token, b_number) = session_of(b.path());
    for batch in 0..3u64 {
        let records = (0..40)
            .map(|_| case(b_number, "C1-01", (0..1000).map(|_| random_digest()).collect(), "填充"))
            .collect();
        let answer = push(
            &runtime,
            &server,
            &b_token,
            &PushRequest { up_to_counter: 10 + batch, pending: 0, records },
        );
        assert_eq!(answer.applied, 40, "{:?}", codes(&answer));
    }
    // The photos are listed by a case reported after the filler: finding
    // that case means passing every filler case first.
    let listed = case(a_number, "C1-01", photos.clone(), "二百张照片");
    let answer = push(
        &runtime,
        &server,
        &a_token,
        &PushRequest { up_to_counter: 1, pending: 0, records: vec![listed] },
    );
    assert_eq!((answer.applied, answer.rejected.len()), (1, 0), "{:?}", codes(&answer));
    // Then B lists the 200 stored photos again and again: each listed photo
    // it did not upload itself must be checked.
    let attack: Vec<RecordChanges> =
        (0..60).map(|_| case(b_number, "C1-01", photos.clone(), "重复引用")).collect();
    let attacker = {
        let (url, token) = (server.url.clone(), b_token.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let mut http = Http::new(&url, Some(token)).unwrap();
            http.retry.attempts = 1;
            let request = PushRequest { up_to_counter: 100, pending: 0, records: attack };
            runtime
                .block_on(http.sync_call::<_, PushResponse>("/sync/push", &request))
                .map(|(answer, _)| answer)
        })
    };
    std::thread::sleep(Duration::from_millis(300));

    // Meanwhile an honest device and an admin go about their work.
    let mut c = library_device(&runtime, &server, &dir.path().join("c.db"), "丙");
    // Once: a push that waited out the server's timeout would fail.
    c.set_retry(gridwork_client::Retry { attempts: 1, ..Default::default() });
    c.store().put(Kind::Resident, None, &[("grid", "C1-01".into()), ("name", "王五".into())]).unwrap();
    let report = runtime.block_on(c.sync(|_| {})).expect("another device syncs while the photos are checked");
    assert_eq!(report.pushed, 1);
    server.grid("C1-03", "东苑社区第三网格", Some("C1"));

    let answer = attacker.join().unwrap().expect("the checking push is answered, not timed out");
    assert_eq!((answer.applied, answer.rejected.len()), (60, 0), "{:?}", codes(&answer));
}
on_both_backends!(checking_the_photos_a_push_lists_never_holds_the_writer_for_long);

/// Opens `n` TCP connections to the server and sends nothing on them.
fn idle_connections(server: &Server, n: usize) -> Vec<TcpStream> {
    let address: std::net::SocketAddr = server.node_address().parse().unwrap();
    (0..n).filter_map(|_| TcpStream::connect_timeout(&address, Duration::from_secs(1)).ok()).collect()
}

fn health(server: &Server) -> Result<u16, String> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(15)).build().unwrap();
        client
            .get(format!("{}/api/v1/health", server.url))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .map_err(|e| e.to_string())
    })
}

#[test]
fn idle_connections_cannot_use_up_the_servers_descriptors() {
    rlimit::increase_nofile_limit(u64::MAX).expect("the test may open many sockets");
    // A server allowed 1,024 descriptors, and 1,500 connections that never
    // send a byte: the server keeps answering.
    let server = Server::start_with(Backend::Sqlite, &[], Some(1024));
    let idle = idle_connections(&server, 1500);
    assert!(idle.len() > 1024, "the test opened {} connections", idle.len());
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(health(&server), Ok(200), "the server still answers beside {} idle connections", idle.len());
    assert!(
        server.open_descriptors() < 1024,
        "descriptors stay below the limit: {}",
        server.open_descriptors()
    );
    drop(idle);
    assert_eq!(health(&server), Ok(200));
}

#[test]
fn connections_that_trickle_headers_or_sit_idle_are_closed() {
    let server = Server::start_with(Backend::Sqlite, &["--idle-timeout-secs", "2"], None);
    let address = server.node_address();
    // One sends a request line and then a header byte every half second.
    let mut trickling = TcpStream::connect(&address).unwrap();
    trickling.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: ").unwrap();
    // Another asks once and keeps the connection open, idle.
    let mut idle = TcpStream::connect(&address).unwrap();
    idle.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut answer = [0u8; 4096];
    let n = idle.read(&mut answer).unwrap();
    assert!(String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 200"), "answered");

    let started = Instant::now();
    let mut trickle_closed = false;
    while started.elapsed() < Duration::from_secs(12) {
        std::thread::sleep(Duration::from_millis(500));
        if trickling.write_all(b"a").is_err() {
            trickle_closed = true;
            break;
        }
    }
    assert!(trickle_closed, "a connection that never finishes its headers is closed");
    // The idle connection was closed too: reading gives end of file.
    let read = idle.read(&mut answer);
    assert!(matches!(read, Ok(0)) || read.is_err(), "an idle keep-alive connection is closed: {read:?}");
}

/// Sends `body_len` bytes of a `Content-Length: declared` request on each of
/// `n` connections and keeps them open; returns them.
fn half_sent(server: &Server, n: usize, head: &str, declared: usize, body_len: usize) -> Vec<TcpStream> {
    let address = server.node_address();
    let body = vec![b'x'; body_len];
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let (address, head, body) = (address.clone(), head.to_owned(), body.clone());
            std::thread::spawn(move || {
                let mut stream = TcpStream::connect(&address).ok()?;
                stream.set_write_timeout(Some(Duration::from_secs(5))).ok()?;
                stream
                    .write_all(
                        format!("{head}Content-Length: {declared}\r\nContent-Type: application/json\r\n\r\n")
                            .as_bytes(),
                    )
                    .ok()?;
                // The server may refuse early and stop reading: that is fine.
                let _ = stream.write_all(&body);
                Some(stream)
            })
        })
        .collect();
    threads.into_iter().filter_map(|t| t.join().unwrap()).collect()
}

fn bodies_are_not_buffered_before_anyone_is_checked(backend: Backend) {
    let server = Server::start_on(backend);
    server.city();
    let dir = tempfile::tempdir().unwrap();
    let runtime = runtime();
    let a = library_device(&runtime, &server, &dir.path().join("a.db"), "甲");
    let (token, _) = session_of(a.path());
    let before = server.status_kib("VmRSS");

    // 300 logins of nearly 1 MiB each, nobody logged in.
    let login = half_sent(
        &server,
        300,
        "POST /api/v1/login HTTP/1.1\r\nHost: x\r\nX-Gridwork-Protocol: 1\r\n",
        1 << 20,
        (1 << 20) - 1,
    );
    std::thread::sleep(Duration::from_millis(500));
    let after_logins = server.status_kib("VmRSS");
    drop(login);
    // 60 photo chunks of nearly 4 MiB each, from one device.
    let head = |i: usize| {
        format!(
            "PUT /api/v1/attachments/{:064x}?offset=0&size=4194304 HTTP/1.1\r\nHost: x\r\nX-Gridwork-Protocol: 1\r\nAuthorization: Bearer {token}\r\n",
            i + 1
        )
    };
    let uploads: Vec<TcpStream> =
        (0..60).flat_map(|i| half_sent(&server, 1, &head(i), 4 << 20, (4 << 20) - 1)).collect();
    std::thread::sleep(Duration::from_millis(500));
    let after_uploads = server.status_kib("VmRSS");
    drop(uploads);
    let peak = server.status_kib("VmHWM");
    assert!(
        after_logins < before + 64 * 1024 && after_uploads < before + 64 * 1024 && peak < before + 96 * 1024,
        "memory stays bounded: {before} kB before, {after_logins} kB during the logins, {after_uploads} kB during the uploads, {peak} kB at the peak"
    );
    assert_eq!(health(&server), Ok(200));
}
on_both_backends!(bodies_are_not_buffered_before_anyone_is_checked);

fn parked_refusals_are_capped_paged_and_dismissable(backend: Backend) {
    // A day's budget large enough for the attack (36 MB of refused cases):
    // parking must hold on its own.
    let server = Server::start_with(backend, &["--daily-push-mib", "64"], None);
    server.city();
    let dir = tempfile::tempdir().unwrap();
    let runtime = runtime();
    let a = library_device(&runtime, &server, &dir.path().join("a.db"), "甲");
    let (token, number) = session_of(a.path());
    let db_size = || server.database_bytes();
    let size_before = db_size();
    // 2,400 cases of another grid, each with a 5,000-character description.
    let long = "越".repeat(5000);
    let mut first = None;
    for batch in 0..12u64 {
        let records: Vec<RecordChanges> = (0..200).map(|_| case(number, "C2-01", vec![], &long)).collect();
        first.get_or_insert_with(|| records[0].clone());
        let answer =
            push(&runtime, &server, &token, &PushRequest { up_to_counter: batch + 1, pending: 0, records });
        assert_eq!((answer.applied, answer.rejected.len()), (0, 200));
        assert!(answer.rejected.iter().all(|r| r.code.as_str() == "out_of_scope"));
    }
    // The same refused record again: still one row for it.
    let again = first.unwrap();
    push(
        &runtime,
        &server,
        &token,
        &PushRequest { up_to_counter: 13, pending: 0, records: vec![again.clone()] },
    );

    let grown = db_size().saturating_sub(size_before);
    assert!(grown < 48 << 20, "parking grew the database by {grown} bytes");
    let page = server.admin(&["parked", "list"]);
    let items = page["items"].as_array().expect("a page of summaries");
    assert!(!items.is_empty() && items.len() <= 100, "a page, not everything: {}", items.len());
    assert!(items.iter().all(|i| i.get("values").is_none()), "summaries carry no values");
    let total = page["total"].as_u64().unwrap();
    assert!(total <= 1000, "at most 1,000 rows per device: {total}");
    // The device list counts every refusal, parked or only counted.
    let devices = server.admin(&["device", "list"]);
    assert_eq!(devices[0]["refused"], 2400, "{devices}");
    let overflow = &page["overflow"][0];
    assert_eq!(overflow["device_id"], a_device_id(&a));
    assert_eq!(
        overflow["count"].as_u64().unwrap() + total,
        2400,
        "the rest is counted, not kept: {overflow}"
    );
    // Pages follow each other without repeats.
    let mut seen = std::collections::BTreeSet::new();
    let mut after: Option<String> = None;
    loop {
        let mut args = vec!["parked", "list", "--limit", "250"];
        if let Some(after) = &after {
            args.extend(["--after", after]);
        }
        let page = server.admin(&args);
        for item in page["items"].as_array().unwrap() {
            assert!(seen.insert(item["id"].as_u64().unwrap()), "no repeats");
        }
        match page["next"].as_u64() {
            Some(next) => after = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len() as u64, total);
    let records: std::collections::BTreeSet<_> =
        items.iter().map(|i| i["record"].as_str().unwrap().to_owned()).collect();
    assert_eq!(records.len(), items.len(), "one row per device and record");

    // One row in full, then dismissed.
    let id = items[0]["id"].as_u64().unwrap().to_string();
    let shown = server.admin(&["parked", "show", "--id", &id]);
    assert!(
        shown["values"]["description"].as_str().is_some_and(|d| d.starts_with('越'))
            || shown["values"].is_null(),
        "{shown}"
    );
    server.admin(&["parked", "dismiss", "--id", &id]);
    let page = server.admin(&["parked", "list"]);
    assert_eq!(page["total"].as_u64().unwrap(), total - 1);
    assert!(page["items"].as_array().unwrap().iter().all(|i| i["id"].as_u64().unwrap().to_string() != id));

    // A row kept without its values (past the bytes) keeps its field
    // names: the centre types the values, of those fields only.
    let bare = items[1..]
        .iter()
        .map(|i| i["id"].as_u64().unwrap().to_string())
        .find(|id| server.admin(&["parked", "show", "--id", id])["values"].is_null())
        .expect("rows past the bytes keep no values");
    let said = server.admin_refused(&["parked", "apply", "--id", &bare]);
    assert!(said.contains("`values`"), "nothing to apply: {said}");
    let said = server.admin_refused(&["parked", "apply", "--id", &bare, "--set", "result=已处理"]);
    assert!(said.contains("not part of the refused change"), "{said}");
    let typed = [
        "--set",
        "grid=C2-01",
        "--set",
        "category=public_facilities",
        "--set",
        "description=核实后的描述",
        "--set",
        "status=reported",
    ];
    let applied = server.admin(&[&["parked", "apply", "--id", &bare][..], &typed].concat());
    assert_eq!(applied["fields"], json!(["category", "description", "grid", "status"]), "{applied}");
    assert_eq!(server.admin(&["parked", "list"])["total"].as_u64().unwrap(), total - 2);
}
on_both_backends!(parked_refusals_are_capped_paged_and_dismissable);

fn a_device_id(device: &Device) -> Json {
    json!(device.store().session().unwrap().unwrap().device_id)
}

fn unfinished_uploads_are_capped_per_uploader_and_expire(backend: Backend) {
    let server = Server::start_with(backend, &["--upload-expiry-secs", "3"], None);
    server.city();
    let dir = tempfile::tempdir().unwrap();
    let runtime = runtime();
    let a = library_device(&runtime, &server, &dir.path().join("a.db"), "甲");
    let (token, _) = session_of(a.path());
    let client = reqwest::Client::new();
    let chunk = vec![7u8; 1 << 20];
    let mut accepted = 0;
    let mut refusal = None;
    for i in 0..50 {
        let response = runtime
            .block_on(
                client
                    .put(format!(
                        "{}/api/v1/attachments/{:064x}?offset=0&size={}",
                        server.url,
                        i + 1,
                        20 << 20
                    ))
                    .header("x-gridwork-protocol", "1")
                    .bearer_auth(&token)
                    .body(chunk.clone())
                    .send(),
            )
            .unwrap();
        if response.status().is_success() {
            accepted += 1;
        } else {
            let status = response.status().as_u16();
            let retry_after = response.headers().get("retry-after").cloned();
            refusal = Some((status, retry_after, runtime.block_on(response.json::<ErrorBody>()).unwrap()));
            break;
        }
    }
    let (status, retry_after, body) = refusal.expect("the uploader runs out of room");
    assert_eq!(status, 429, "{body:?}");
    assert!(retry_after.is_some(), "the device is told when to try again");
    assert_eq!(body.error.code.as_str(), "upload_quota");
    assert!(body.error.message.contains("256 MiB") && body.error.message_zh.contains("256 MiB"), "{body:?}");
    assert_eq!(accepted, 12, "12 uploads of 20 MiB fit in 256 MiB");

    // Left alone, they expire: files and records.
    let partial = server.data.path().join("attachments").join("partial");
    let started = Instant::now();
    while std::fs::read_dir(&partial).map_or(0, |d| d.count()) > 0 {
        assert!(started.elapsed() < Duration::from_secs(30), "unfinished uploads expire");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (status, _) = refused(
        &runtime,
        client
            .get(format!("{}/api/v1/attachments/{:064x}/status", server.url, 1))
            .header("x-gridwork-protocol", "1")
            .bearer_auth(&token),
    );
    assert_eq!(status, 404, "an expired upload starts over");
    // And there is room again.
    let response = runtime
        .block_on(
            client
                .put(format!("{}/api/v1/attachments/{:064x}?offset=0&size={}", server.url, 99, 20 << 20))
                .header("x-gridwork-protocol", "1")
                .bearer_auth(&token)
                .body(chunk)
                .send(),
        )
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
}
on_both_backends!(unfinished_uploads_are_capped_per_uploader_and_expire);

fn a_device_with_records_of_the_largest_legal_size_keeps_syncing(backend: Backend) {
    let server = Server::start_on(backend);
    server.city();
    let dir = tempfile::tempdir().unwrap();
    let a = server.enrolled(dir.path(), "a", "甲", &["C1"]);
    // 90 patrols whose routes are 100,000 characters each (9 MB in all),
    // then a resident: everything reaches the server.
    let route: String = "120.6512,29.0853;".repeat(100_000 / 17 + 1)[..100_000].to_owned();
    let route_arg = format!("route={route}");
    for _ in 0..90 {
        a.put(
            "patrol",
            None,
            &["grid=C1-01", "worker=甲", "started_at=2026-11-27T08:00:00+08:00", &route_arg],
        );
    }
    a.put("resident", None, &["grid=C1-01", "name=最后一位"]);
    let report = a.sync();
    assert_eq!(report["pushed"], 91, "{report}");
    assert_eq!(a.run(&["status"])["pending"], 0);
    // Another device of the grid receives them all.
    let b = server.enrolled(dir.path(), "b", "乙", &["C1"]);
    let patrols = b.list("patrol");
    assert_eq!(patrols.len(), 90);
    assert!(patrols.iter().all(|p| p["route"].as_str() == Some(route.as_str())));
    assert_eq!(b.list("resident").len(), 1);
}
on_both_backends!(a_device_with_records_of_the_largest_legal_size_keeps_syncing);

fn user_names_and_passwords_are_checked_like_any_field(backend: Backend) {
    let server = Server::start_on(backend);
    server.city();
    let runtime = runtime();
    let client = reqwest::Client::new();
    let add = |body: Json| {
        client
            .post(format!("{}/api/v1/admin/users", server.url))
            .header("x-gridwork-protocol", "1")
            .bearer_auth(&server.admin_token)
            .json(&body)
    };
    for name in ["\u{202e}admin", "adm\u{0000}in", "line\nbreak"] {
        let (status, body) =
            refused(&runtime, add(json!({"name": name, "role": "staff", "password": "long enough"})));
        assert_eq!((status, body.error.code.as_str()), (422, "invalid"), "{name:?}: {body:?}");
        assert!(body.error.message.contains("`name`"), "{body:?}");
    }
    let (status, body) =
        refused(&runtime, add(json!({"name": "值班员", "role": "staff", "password": "x".repeat(100_000)})));
    assert_eq!((status, body.error.code.as_str()), (422, "invalid"), "{body:?}");
    assert!(body.error.message.contains("`password`") && body.error.message.contains("1024"), "{body:?}");
    let users = server.admin(&["user", "list"]);
    assert!(users.as_array().unwrap().iter().all(|u| u["name"] == "admin"), "nobody was added: {users}");

    let (status, body) = refused(
        &runtime,
        client
            .post(format!("{}/api/v1/login", server.url))
            .header("x-gridwork-protocol", "1")
            .json(&json!({"name": "admin", "password": "y".repeat(100_000)})),
    );
    assert_eq!((status, body.error.code.as_str()), (413, "too_large"), "{body:?}");
}
on_both_backends!(user_names_and_passwords_are_checked_like_any_field);

fn counters_at_the_top_of_their_range_are_refused(backend: Backend) {
    let server = Server::start_on(backend);
    server.city();
    let dir = tempfile::tempdir().unwrap();
    let runtime = runtime();
    let a = library_device(&runtime, &server, &dir.path().join("a.db"), "甲");
    let (token, number) = session_of(a.path());
    let client = reqwest::Client::new();
    let raw = |request: &PushRequest| {
        client
            .post(format!("{}/api/v1/sync/push", server.url))
            .header("x-gridwork-protocol", "1")
            .bearer_auth(&token)
            .json(request)
    };
    let resident = |counter: u32| {
        let context = VersionVector::from_entries([(number, counter)]);
        let version = gridwork_merge::Version {
            value: Value::from("名字"),
            writer: number,
            counter,
            hlc: Hlc::new(SystemClock.now_ms(), 0),
        };
        let name = Register::from_parts(context, vec![version]).unwrap();
        RecordChanges {
            id: new_id(1),
            kind: Kind::Resident,
            fields: vec![
                write("grid", "C1-01".into(), number),
                FieldState { field: "name".into(), register: name },
            ],
        }
    };
    let cases = [
        ("up_to_counter", PushRequest { up_to_counter: i64::MAX as u64, pending: 0, records: vec![] }),
        ("pending", PushRequest { up_to_counter: 1, pending: u64::MAX, records: vec![] }),
        ("counter", PushRequest { up_to_counter: 1, pending: 0, records: vec![resident(u32::MAX)] }),
    ];
    for (field, request) in &cases {
        let (status, body) = refused(&runtime, raw(request));
        assert_eq!(status, 422, "{field}: {body:?}");
        assert!(body.error.message.contains(field), "{field}: {body:?}");
    }
    // Nothing moved: an honest push is acknowledged from where it was.
    let answer = push(
        &runtime,
        &server,
        &token,
        &PushRequest { up_to_counter: 5, pending: 0, records: vec![resident(1)] },
    );
    assert_eq!((answer.acked_up_to, answer.applied), (5, 1));
    let devices = server.admin(&["device", "list"]);
    assert_eq!(devices[0]["pending"], 0);
}
on_both_backends!(counters_at_the_top_of_their_range_are_refused);

fn records_outside_the_devices_grids_are_refused_alike_whatever_kind_they_are_sent_as(backend: Backend) {
    let server = Server::start_on(backend);
    server.city();
    let dir = tempfile::tempdir().unwrap();
    let runtime = runtime();
    let a = library_device(&runtime, &server, &dir.path().join("a.db"), "甲");
    let (token, number) = session_of(a.path());
    let b = server.enrolled(dir.path(), "b", "乙", &["C2"]);
    let resident = b.put("resident", None, &["grid=C2-01", "name=西山居民"]);
    let household = b.put("household", None, &["grid=C2-01", "address=西山路1号"]);
    b.sync();
    // A record of another grid, sent as each kind, with values valid or not
    // for that kind, and claiming a grid of the device's own.
    for existing in [&resident, &household] {
        let id: RecordId = existing.parse().unwrap();
        for kind in [Kind::Resident, Kind::Household, Kind::Case, Kind::Building, Kind::Task] {
            for fields in [
                vec![write("grid", "C1-01".into(), number)],
                vec![write("grid", "C1-01".into(), number), write("phone", "12345".into(), number)],
                vec![write("grid", "C1-01".into(), number), write("no_such_field", "x".into(), number)],
            ] {
                let change = RecordChanges { id, kind, fields };
                let answer = push(
                    &runtime,
                    &server,
                    &token,
                    &PushRequest { up_to_counter: 1, pending: 0, records: vec![change] },
                );
                let rejection =
                    answer.rejected.first().unwrap_or_else(|| panic!("{kind} {existing}: accepted"));
                assert_eq!(rejection.code.as_str(), "out_of_scope", "{kind} {existing}: {rejection:?}");
                assert!(rejection.server_state.is_none());
                assert!(!rejection.message.contains("another kind"), "{rejection:?}");
            }
        }
    }
}
on_both_backends!(records_outside_the_devices_grids_are_refused_alike_whatever_kind_they_are_sent_as);

fn birth_dates_in_the_future_are_refused_on_the_device_and_on_the_server(backend: Backend) {
    let server = Server::start_on(backend);
    server.city();
    let dir = tempfile::tempdir().unwrap();
    let a = server.enrolled(dir.path(), "a", "甲", &["C1"]);
    let next_year = today() + chrono::Days::new(400);
    let future_id = gridwork_domain::formats::make_id_number(330702, next_year, 123);
    let failed =
        a.try_run(&["put", "resident", "grid=C1-01", "name=未来人", &format!("id_number={future_id}")]);
    assert!(!failed.status.success());
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(stderr.contains("id_number") && stderr.contains("future") && stderr.contains("未来"), "{stderr}");
    let failed =
        a.try_run(&["put", "resident", "grid=C1-01", "name=未来人", &format!("birth_date={next_year}")]);
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(!failed.status.success() && stderr.contains("birth_date"), "{stderr}");
    assert!(a.list("resident").is_empty());
    // Today is fine.
    let today = today() - chrono::Days::new(1);
    a.put("resident", None, &["grid=C1-01", "name=新生儿", &format!("birth_date={today}")]);

    // A device that skips its own check is refused by the server.
    let runtime = runtime();
    let (token, number) = session_of(&a.db);
    for (field, value) in [("id_number", future_id.clone()), ("birth_date", next_year.to_string())] {
        let change = RecordChanges {
            id: new_id(2),
            kind: Kind::Resident,
            fields: vec![
                write("grid", "C1-01".into(), number),
                write("name", "未来人".into(), number),
                write(field, value.into(), number),
            ],
        };
        let answer = push(
            &runtime,
            &server,
            &token,
            &PushRequest { up_to_counter: 100, pending: 0, records: vec![change] },
        );
        let rejection = answer.rejected.first().expect("refused");
        assert_eq!(
            (rejection.code.as_str(), rejection.field.as_deref()),
            ("invalid", Some(field)),
            "{rejection:?}"
        );
        assert!(
            rejection.message.contains("future") && rejection.message_zh.contains("未来"),
            "{rejection:?}"
        );
    }
}
on_both_backends!(birth_dates_in_the_future_are_refused_on_the_device_and_on_the_server);

fn a_device_may_send_only_its_daily_budget(backend: Backend) {
    let server = Server::start_with(backend, &["--daily-push-mib", "8", "--daily-upload-mib", "30"], None);
    server.city();
    let dir = tempfile::tempdir().unwrap();
    let runtime = runtime();
    let a = library_device(&runtime, &server, &dir.path().join("a.db"), "甲");
    let (token, number) = session_of(a.path());
    // Pages of 40 cases, 600 kB each, until the 8 MiB day is spent.
    let long = "越".repeat(5000);
    let page = |n: u64| PushRequest {
        up_to_counter: n,
        pending: 0,
        records: (0..40).map(|_| case(number, "C1-01", vec![], &long)).collect(),
    };
    let http = Http::new(&server.url, Some(token.clone())).unwrap();
    let mut applied = 0;
    let refusal = (1..40u64).find_map(|n| {
        match runtime.block_on(http.sync_call::<_, PushResponse>("/sync/push", &page(n))) {
            Ok((answer, _)) => {
                applied += answer.applied;
                None
            }
            Err(gridwork_client::ClientError::Api { status: 429, error }) => Some(error),
            Err(other) => panic!("{other}"),
        }
    });
    let error = refusal.expect("the day's budget is spent");
    assert_eq!(error.code.as_str(), "device_quota");
    assert!(error.message.contains("today") && error.message_zh.contains("每日上限"), "{error:?}");
    assert!((520..=560).contains(&applied), "about 8 MiB of cases went through: {applied}");
    // Nothing of the refused push was applied; an empty push still records
    // the sync.
    let answer =
        push(&runtime, &server, &token, &PushRequest { up_to_counter: 100, pending: 0, records: vec![] });
    assert_eq!(answer.acked_up_to, 100);
    let b = server.enrolled(dir.path(), "b", "乙", &["C1"]);
    assert_eq!(b.list("case").len(), applied);

    // Photos: 20 MiB started, then another 20 MiB passes the 30 MiB day.
    let client = reqwest::Client::new();
    let start = |i: u64| {
        runtime
            .block_on(
                client
                    .put(format!("{}/api/v1/attachments/{:064x}?offset=0&size={}", server.url, i, 20 << 20))
                    .header("x-gridwork-protocol", "1")
                    .bearer_auth(&token)
                    .body(vec![1u8; 1024])
                    .send(),
            )
            .unwrap()
    };
    assert_eq!(start(1).status().as_u16(), 200);
    let refused = start(2);
    assert_eq!(refused.status().as_u16(), 429);
    assert!(refused.headers().get("retry-after").is_some());
    let body: ErrorBody = runtime.block_on(refused.json()).unwrap();
    assert_eq!(body.error.code.as_str(), "device_quota");
    assert!(body.error.message_zh.contains("照片"), "{body:?}");
}
on_both_backends!(a_device_may_send_only_its_daily_budget);

fn a_device_past_its_day_keeps_its_edits_and_still_pulls(backend: Backend) {
    let server = Server::start_with(backend, &["--daily-push-mib", "8"], None);
    server.city();
    let dir = tempfile::tempdir().unwrap();
    let a = server.enrolled(dir.path(), "a", "甲", &["C1"]);
    let b = server.enrolled(dir.path(), "b", "乙", &["C1"]);
    let route = format!("route={}", "120.6512,29.0853;".repeat(5882));
    for _ in 0..90 {
        a.put("patrol", None, &["grid=C1-01", "worker=甲", "started_at=2026-11-27T08:00:00+08:00", &route]);
    }
    let from_b = b.put("resident", None, &["grid=C1-01", "name=乙的居民"]);
    b.sync();
    // 9 MB of patrols against an 8 MiB day: what fits goes, the rest waits,
    // and the pull still brings B's resident.
    let report = a.sync();
    assert_eq!(report["held_back"]["code"], "device_quota", "{report}");
    let pushed = report["pushed"].as_u64().unwrap();
    assert!((70..90).contains(&pushed), "{report}");
    assert_eq!(a.run(&["status"])["pending"].as_u64().unwrap(), 90 - pushed);
    assert_eq!(a.get("resident", &from_b)["name"], "乙的居民");
}
on_both_backends!(a_device_past_its_day_keeps_its_edits_and_still_pulls);

fn answers_nobody_reads_hold_no_memory(backend: Backend) {
    let server = Server::start_with(backend, &["--daily-push-mib", "64"], None);
    server.city();
    let dir = tempfile::tempdir().unwrap();
    let runtime = runtime();
    let a = library_device(&runtime, &server, &dir.path().join("a.db"), "甲");
    let (token, _) = session_of(a.path());
    let photo: Vec<u8> = (0..16u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let sha = runtime.block_on(a.upload(&photo, |_| {})).unwrap();
    let route = "120.6512,29.0853;".repeat(5882);
    for _ in 0..60 {
        let fields = [
            ("grid", "C1-01".into()),
            ("worker", "甲".into()),
            ("started_at", "2026-11-27T08:00:00+08:00".into()),
            ("route", route.as_str().into()),
        ];
        a.store().put(Kind::Patrol, None, &fields).unwrap();
    }
    runtime.block_on(a.sync(|_| {})).unwrap();
    let before = server.status_kib("VmRSS");
    let address = server.node_address();
    let unread = |request: String| -> Vec<TcpStream> {
        (0..40)
            .filter_map(|_| {
                let mut stream = TcpStream::connect(&address).ok()?;
                stream.write_all(request.as_bytes()).ok()?;
                Some(stream)
            })
            .collect()
    };
    // 40 downloads of a 16 MiB photo, and 40 first pulls of 6 MB of
    // patrols, none of them read.
    let downloads = unread(format!(
        "GET /api/v1/attachments/{sha} HTTP/1.1\r\nHost: x\r\nX-Gridwork-Protocol: 1\r\nAuthorization: Bearer {token}\r\n\r\n"
    ));
    let pull = serde_json::to_string(&gridwork_protocol::sync::PullRequest {
        cursor: 0,
        after: 0,
        limit: 5000,
        scope_hash: String::new(),
    })
    .unwrap();
    let pulls = unread(format!(
        "POST /api/v1/sync/pull HTTP/1.1\r\nHost: x\r\nX-Gridwork-Protocol: 1\r\nContent-Type: application/json\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\n\r\n{pull}",
        pull.len()
    ));
    std::thread::sleep(Duration::from_secs(2));
    let during = server.status_kib("VmRSS");
    assert!(
        during < before + 80 * 1024,
        "{} unread downloads and {} unread pulls took the server from {before} kB to {during} kB",
        downloads.len(),
        pulls.len()
    );
    assert_eq!(health(&server), Ok(200));
}
on_both_backends!(answers_nobody_reads_hold_no_memory);

fn a_push_whose_answer_would_be_huge_is_refused_and_split(backend: Backend) {
    let server = Server::start_with(backend, &["--daily-push-mib", "64"], None);
    server.city();
    let dir = tempfile::tempdir().unwrap();
    let runtime = runtime();
    let a = library_device(&runtime, &server, &dir.path().join("a.db"), "甲");
    let (token, number) = session_of(a.path());
    let route = "120.6512,29.0853;".repeat(5882);
    let mut ids = Vec::new();
    for _ in 0..100 {
        let fields = [
            ("grid", "C1-01".into()),
            ("worker", "甲".into()),
            ("started_at", "2026-11-27T08:00:00+08:00".into()),
            ("route", route.as_str().into()),
        ];
        ids.push(a.store().put(Kind::Patrol, None, &fields).unwrap());
    }
    runtime.block_on(a.sync(|_| {})).unwrap();
    // 100 tiny changes, each refused (an unknown field), each refusal
    // sending back a 100 kB record: 10 MB of answer for 50 kB of push.
    let refused = |ids: &[RecordId]| PushRequest {
        up_to_counter: 1000,
        pending: 0,
        records: ids
            .iter()
            .map(|id| RecordChanges {
                id: *id,
                kind: Kind::Patrol,
                fields: vec![write("no_such_field", "x".into(), number)],
            })
            .collect(),
    };
    let http = Http::new(&server.url, Some(token.clone())).unwrap();
    match runtime.block_on(http.sync_call::<_, PushResponse>("/sync/push", &refused(&ids))) {
        Err(gridwork_client::ClientError::Api { status: 413, error }) => {
            assert_eq!(error.code.as_str(), "too_large");
            assert!(error.message.contains("fewer records"), "{error:?}");
        }
        other => panic!("expected 413, got {:?}", other.map(|(a, _)| a.rejected.len())),
    }
    // Fewer at once: answered, each refusal with the record to roll back to.
    let (answer, _) =
        runtime.block_on(http.sync_call::<_, PushResponse>("/sync/push", &refused(&ids[..40]))).unwrap();
    assert_eq!(answer.rejected.len(), 40);
    assert!(answer.rejected.iter().all(|r| r.server_state.is_some()));
}
on_both_backends!(a_push_whose_answer_would_be_huge_is_refused_and_split);

#[test]
fn slow_bodies_from_one_address_do_not_shut_out_the_others() {
    let server = Server::start_with(Backend::Sqlite, &["--max-connections-per-address", "50"], None);
    server.city();
    let dir = tempfile::tempdir().unwrap();
    let runtime = runtime();
    let a = library_device(&runtime, &server, &dir.path().join("a.db"), "甲");
    let (token, _) = session_of(a.path());
    // 200 connections from 127.0.0.1 announce a login and never send it.
    let address = server.node_address();
    let mut slow: Vec<TcpStream> = (0..200)
        .filter_map(|_| {
            let mut stream = TcpStream::connect(&address).ok()?;
            stream
                .write_all(b"POST /api/v1/login HTTP/1.1\r\nHost: x\r\nX-Gridwork-Protocol: 1\r\nContent-Type: application/json\r\nContent-Length: 8192\r\n\r\n")
                .ok()?;
            Some(stream)
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    // A client from another address is served at once.
    let other = runtime.block_on(async {
        let client = reqwest::Client::builder()
            .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let health =
            client.get(format!("{}/api/v1/health", server.url)).send().await.map(|r| r.status().as_u16());
        let pull = client
            .post(format!("{}/api/v1/sync/pull", server.url))
            .header("x-gridwork-protocol", "1")
            .bearer_auth(&token)
            .json(&serde_json::json!({"cursor": 0, "after": 0, "limit": 10, "scope_hash": ""}))
            .send()
            .await
            .map(|r| r.status().as_u16());
        (health, pull)
    });
    assert!(matches!(other, (Ok(200), Ok(200))), "{other:?}");
    // The silent bodies are given up on within the small-body deadline.
    let mut answer = String::new();
    let first = slow.iter_mut().find(|s| s.set_read_timeout(Some(Duration::from_secs(15))).is_ok()).unwrap();
    let _ = first.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408") || answer.is_empty(), "{answer}");
}

fn roles_are_checked_before_a_body_is_read(backend: Backend) {
    let server = Server::start_on(backend);
    server.city();
    let dir = tempfile::tempdir().unwrap();
    let runtime = runtime();
    let a = library_device(&runtime, &server, &dir.path().join("a.db"), "甲");
    let (token, _) = session_of(a.path());
    // A device token announcing a 256 kB administration body and sending
    // none of it is refused at once, not after waiting for the body.
    let address = server.node_address();
    let mut stream = TcpStream::connect(&address).unwrap();
    stream
        .write_all(format!("POST /api/v1/admin/grids HTTP/1.1\r\nHost: x\r\nX-Gridwork-Protocol: 1\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 262144\r\n\r\n").as_bytes())
        .unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut answer = [0u8; 512];
    let n = stream.read(&mut answer).expect("answered before the body");
    assert!(
        String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 403"),
        "{}",
        String::from_utf8_lossy(&answer[..n])
    );
}
on_both_backends!(roles_are_checked_before_a_body_is_read);

fn logins_are_limited_per_address_and_sessions_per_person(backend: Backend) {
    let server = Server::start_on(backend);
    server.admin(&["user", "add", "--name", "值班员", "--role", "staff", "--password", "correct horse"]);
    let runtime = runtime();
    let client = reqwest::Client::new();
    let login = |url: &str| {
        let response = runtime
            .block_on(
                client
                    .post(format!("{url}/api/v1/login"))
                    .header("x-gridwork-protocol", "1")
                    .json(&json!({"name": "值班员", "password": "correct horse"}))
                    .send(),
            )
            .unwrap();
        let status = response.status().as_u16();
        (status, runtime.block_on(response.json::<Json>()).unwrap())
    };
    // Sessions are counted in the database: on PostgreSQL these logins
    // reach both nodes in turn.
    let tokens: Vec<String> =
        (0..25).map(|_| login(&server.url).1["token"].as_str().unwrap().to_owned()).collect();
    let works = |token: &str| {
        runtime
            .block_on(
                client
                    .get(format!("{}/api/v1/admin/conflicts", server.url))
                    .header("x-gridwork-protocol", "1")
                    .bearer_auth(token)
                    .send(),
            )
            .unwrap()
            .status()
            .is_success()
    };
    assert!(tokens[..5].iter().all(|t| !works(t)), "the oldest sessions ended");
    assert!(tokens[5..].iter().all(|t| works(t)), "the 20 newest work");
    // Right or wrong, an address logs in 120 times a minute at most on a
    // node (a flood guard each node keeps for itself).
    let node = format!("http://{}", server.node_address());
    let refused = (0..121).map(|_| login(&node)).find(|(status, _)| *status == 429);
    let (_, body) = refused.expect("the 121st login of the minute on one node is refused");
    assert_eq!(body["error"]["code"], "too_many_attempts");
}
on_both_backends!(logins_are_limited_per_address_and_sessions_per_person);

/// A right password whose client hangs up before the answer is not left
/// counted as a wrong guess: ten such logins do not lock the address out.
fn a_login_whose_client_hangs_up_is_not_a_wrong_guess(backend: Backend) {
    let server = Server::start_on(backend);
    server.admin(&["user", "add", "--name", "值班员", "--role", "staff", "--password", "correct horse"]);
    let address = server.node_address();
    let body = json!({"name": "值班员", "password": "correct horse"}).to_string();
    for _ in 0..12 {
        let mut stream = TcpStream::connect(&address).unwrap();
        stream
            .write_all(
                format!(
                    "POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Gridwork-Protocol: 1\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            )
            .unwrap();
        std::thread::sleep(Duration::from_millis(5));
        drop(stream); // the tablet's network drops before the answer
        std::thread::sleep(Duration::from_millis(300));
    }
    let runtime = runtime();
    let response = runtime
        .block_on(
            reqwest::Client::new()
                .post(format!("{}/api/v1/login", server.url))
                .header("x-gridwork-protocol", "1")
                .json(&json!({"name": "值班员", "password": "correct horse"}))
                .send(),
        )
        .unwrap();
    let status = response.status().as_u16();
    assert_eq!(status, 200, "{}", runtime.block_on(response.text()).unwrap());
}
on_both_backends!(a_login_whose_client_hangs_up_is_not_a_wrong_guess);
