//! The app's commands through Tauri's mock runtime (the IPC layer the UI
//! calls, without a window), on a real encrypted database and against the
//! real `gridwork-server` binary on a loopback port.

use std::path::Path;
use std::sync::{Arc, Mutex};

use gridwork_app::state::DATABASE;
use gridwork_app::vault::Vault;
use gridwork_app::{AppState, with_commands};
use gridwork_tests::Server;
use serde_json::{Value, json};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{INVOKE_KEY, MockRuntime, get_ipc_response, mock_builder, mock_context, noop_assets};
use tauri::webview::InvokeRequest;
use tauri::{App, WebviewWindow};

/// The app on the mock runtime, its files in `dir`, and the events it sent.
struct TestApp {
    _app: App<MockRuntime>,
    window: WebviewWindow<MockRuntime>,
    state: Arc<AppState>,
    events: Arc<Mutex<Vec<String>>>,
}

fn open(dir: &Path) -> TestApp {
    let state = Arc::new(AppState::open(&dir.join("data"), Vault::key_file_only(&dir.join("config"))));
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    state.set_emitter(Box::new(move |event, _| seen.lock().unwrap().push(event.to_owned())));
    let app =
        with_commands(mock_builder(), state.clone()).build(mock_context(noop_assets())).expect("builds");
    let window =
        tauri::WebviewWindowBuilder::new(&app, "main", Default::default()).build().expect("a window");
    TestApp { _app: app, window, state, events }
}

/// One IPC call, as the UI makes it.
fn invoke(
    window: &WebviewWindow<MockRuntime>,
    cmd: &str,
    body: InvokeBody,
    headers: &[(&'static str, &str)],
) -> Result<Value, Value> {
    let mut map = tauri::http::HeaderMap::new();
    for (name, value) in headers {
        map.insert(*name, value.parse().unwrap());
    }
    get_ipc_response(
        window,
        InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            // The app's own origin on Linux (the UI is served from it).
            url: "tauri://localhost".parse().unwrap(),
            body,
            headers: map,
            invoke_key: INVOKE_KEY.to_string(),
        },
    )
    .map(|body| body.deserialize::<Value>().unwrap_or(Value::Null))
}

impl TestApp {
    fn call_body(
        &self,
        cmd: &str,
        body: InvokeBody,
        headers: &[(&'static str, &str)],
    ) -> Result<Value, Value> {
        invoke(&self.window, cmd, body, headers)
    }

    fn call(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        self.call_body(cmd, InvokeBody::Json(args), &[])
    }

    fn ok(&self, cmd: &str, args: Value) -> Value {
        self.call(cmd, args.clone()).unwrap_or_else(|e| panic!("{cmd} {args}: {e}"))
    }

    fn err(&self, cmd: &str, args: Value) -> Value {
        match self.call(cmd, args.clone()) {
            Ok(answer) => panic!("{cmd} {args} should fail, answered {answer}"),
            Err(error) => error,
        }
    }

    fn phase(&self) -> String {
        self.ok("app_status", json!({}))["phase"].as_str().unwrap().to_owned()
    }

    fn sync(&self) {
        tauri::async_runtime::block_on(self.state.sync_once());
    }
}

/// A real server with the test city, and an enrollment code for a new
/// worker of grid C1-01.
fn server_with_worker(name: &str) -> (Server, String) {
    let server = Server::start();
    server.city();
    let (_, code) = server.worker(name, &["C1-01"]);
    (server, code)
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let image =
        image::RgbImage::from_fn(width, height, |x, y| image::Rgb([(x % 200) as u8, (y % 200) as u8, 40]));
    let mut bytes = Vec::new();
    image.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png).unwrap();
    bytes
}

#[test]
fn a_worker_enrolls_sets_a_pin_records_offline_and_everything_reaches_the_server() {
    let (server, code) = server_with_worker("网格员小王");
    let dir = tempfile::tempdir().unwrap();
    let app = open(dir.path());
    assert_eq!(app.phase(), "enroll");
    assert_eq!(app.err("put_record", json!({"kind": "resident", "fields": {}}))["code"], "not_enrolled");

    // A wrong code is refused and changes nothing; the QR payload works.
    let refused = app.err("enroll", json!({"server": server.url, "code": "AAAA-BBBB"}));
    assert_eq!(refused["code"], "bad_enrollment_code", "{refused}");
    assert_eq!(app.phase(), "enroll");
    let payload = gridwork_protocol::sync::enrollment_payload(&server.url, &code);
    let status = app.ok("enroll", json!({"server": "", "code": payload}));
    assert_eq!(status["phase"], "set_pin", "{status}");
    assert_eq!(status["user_name"], "网格员小王");
    assert_eq!(status["key_store"], "key_file");
    assert_eq!(app.err("grids", json!({}))["code"], "locked", "nothing before the PIN");

    let weak = app.err("set_pin", json!({"pin": "123456"}));
    assert_eq!(weak["field"], "pin");
    assert_eq!(app.ok("set_pin", json!({"pin": "402917"}))["phase"], "ready");

    // The grid came with the enrollment: recording works before any sync.
    let grids = app.ok("grids", json!({}));
    let mine: Vec<&Value> = grids.as_array().unwrap().iter().filter(|g| g["in_scope"] == true).collect();
    assert_eq!(mine.len(), 1, "{grids}");
    assert_eq!(mine[0]["code"], "C1-01");

    let building = app.ok(
        "put_record",
        json!({"kind": "building", "fields": {"grid": "C1-01", "address": "东苑路1号", "floors": "6", "use": "住宅"}}),
    )["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let household = app.ok(
        "put_record",
        json!({"kind": "household", "fields": {"grid": "C1-01", "address": "东苑路1号1-101", "building": building, "room": "1-101"}}),
    )["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // A wrong ID number is refused, naming the field, in Chinese too.
    let wrong = app.err(
        "put_record",
        json!({"kind": "resident", "fields": {"grid": "C1-01", "name": "张秀英", "id_number": "110105194912310021"}}),
    );
    assert_eq!(wrong["code"], "invalid");
    assert_eq!(wrong["field"], "id_number", "{wrong}");
    assert!(wrong["message_zh"].as_str().unwrap().contains("校验"), "{wrong}");
    assert!(
        app.ok("search_residents", json!({"text": "张"})).as_array().unwrap().is_empty(),
        "nothing half-saved"
    );

    let resident = app.ok(
        "put_record",
        json!({"kind": "resident", "fields": {"grid": "C1-01", "name": "张秀英", "id_number": "11010519491231002X",
               "household": household, "building": building, "sex": "女", "tags": ["elderly_alone"], "phone": "13800000001"}}),
    )["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for text in ["张", "110105", "138000"] {
        let found = app.ok("search_residents", json!({"text": text}));
        assert_eq!(found[0]["id"], resident.as_str(), "{text}: {found}");
    }
    let in_household = app.ok("list_records", json!({"kind": "resident", "household": household}));
    assert_eq!(in_household.as_array().unwrap().len(), 1);
    let in_building = app.ok("list_records", json!({"kind": "household", "building": building}));
    assert_eq!(in_building[0]["id"], household.as_str());
    let view = app.ok("get_record", json!({"kind": "resident", "id": resident}));
    let name = view["fields"].as_array().unwrap().iter().find(|f| f["name"] == "name").unwrap();
    assert_eq!(name["writer_is_me"], true);
    assert_eq!(view["record"]["sex"], "female", "a label is stored as its code");

    // A case with a photo, shrunk and kept in the database.
    let big = png(3200, 2400);
    let photo = app
        .call_body("add_photo", InvokeBody::Raw(big), &[("x-file-name", "现场.png")])
        .unwrap_or_else(|e| panic!("add_photo: {e}"));
    assert_eq!((photo["width"].as_u64(), photo["height"].as_u64()), (Some(1600), Some(1200)));
    let sha = photo["sha256"].as_str().unwrap().to_owned();
    let case = app.ok(
        "put_record",
        json!({"kind": "case", "fields": {"grid": "C1-01", "category": "public_facilities", "description": "井盖破损",
               "status": "reported", "attachments": [sha]}}),
    )["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let today = app.ok("today", json!({}));
    assert_eq!(today["cases"][0]["id"], case.as_str(), "{today}");
    let state = app.ok("sync_state", json!({}));
    assert_eq!(state["pending_photos"], 1, "{state}");
    assert!(state["pending_records"].as_u64().unwrap() >= 4, "{state}");

    app.sync();
    let state = app.ok("sync_state", json!({}));
    assert_eq!(
        (state["pending_records"].as_u64(), state["pending_photos"].as_u64()),
        (Some(0), Some(0)),
        "{state}"
    );
    assert!(app.events.lock().unwrap().iter().any(|e| e == "sync-state"));

    // A colleague's device sees the case, the resident, and the photo's bytes.
    let colleague = server.enrolled(dir.path(), "colleague", "同网格的人", &["C1-01"]);
    assert_eq!(colleague.get("case", &case)["attachments"], json!([sha]));
    assert_eq!(colleague.get("resident", &resident)["name"], "张秀英");
    let token = colleague.token();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let stored = runtime.block_on(async {
        let http = gridwork_client::Http::new(&server.url, Some(token)).unwrap();
        let answer = http.builder(reqwest::Method::GET, &format!("/attachments/{sha}")).send().await.unwrap();
        assert_eq!(answer.status(), 200);
        answer.bytes().await.unwrap()
    });
    assert_eq!(gridwork_store::sha256_hex(&stored), sha, "the server holds the photo whole");

    // The file on disk is not a plain SQLite database.
    let head = std::fs::read(dir.path().join("data").join(DATABASE)).unwrap();
    assert_ne!(&head[..16], b"SQLite format 3\0");
}

#[test]
fn wrong_pins_lock_the_app_for_a_while_even_across_restarts_and_wipe_nothing() {
    let (server, code) = server_with_worker("网格员");
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let app = open(dir.path());
        app.ok("enroll", json!({"server": server.url, "code": code}));
        app.ok("set_pin", json!({"pin": "402917"}));
        let id = app
            .ok("put_record", json!({"kind": "resident", "fields": {"grid": "C1-01", "name": "未同步的人"}}))
            ["id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(app.ok("lock", json!({}))["phase"], "locked");
        assert_eq!(app.err("get_record", json!({"kind": "resident", "id": id}))["code"], "locked");
        for left in (1..5).rev() {
            let wrong = app.err("unlock", json!({"pin": "111111"}));
            assert_eq!(wrong["code"], "wrong_pin");
            assert_eq!(wrong["attempts_left"], left);
        }
        let out = app.err("unlock", json!({"pin": "111111"}));
        assert_eq!(out["code"], "pin_locked_out", "{out}");
        assert!(out["message_zh"].as_str().unwrap().contains("秒后再试"));
        id
    };
    // Restarted: still locked out, even with the right PIN; the record kept.
    let app = open(dir.path());
    assert_eq!(app.phase(), "locked");
    let status = app.ok("app_status", json!({}));
    assert!(status["retry_at_ms"].as_u64().is_some(), "{status}");
    assert_eq!(app.err("unlock", json!({"pin": "402917"}))["code"], "pin_locked_out");
    // The lock-out is in the database: end it as time passing would.
    {
        let device = app.state.device().unwrap();
        device.store().set_setting("pin.retry_at_ms", Some("1")).unwrap();
    }
    assert_eq!(app.ok("unlock", json!({"pin": "402917"}))["phase"], "ready");
    let kept = app.ok("get_record", json!({"kind": "resident", "id": id}));
    assert_eq!(kept["record"]["name"], "未同步的人");
}

#[test]
fn a_lost_key_is_said_plainly_and_the_records_are_kept() {
    let (server, code) = server_with_worker("网格员");
    let dir = tempfile::tempdir().unwrap();
    {
        let app = open(dir.path());
        app.ok("enroll", json!({"server": server.url, "code": code}));
    }
    let key_file = dir.path().join("config").join("database.key");
    let key = std::fs::read(&key_file).unwrap();
    std::fs::remove_file(&key_file).unwrap();
    let db = dir.path().join("data").join(DATABASE);
    let before = std::fs::read(&db).unwrap();
    let app = open(dir.path());
    let status = app.ok("app_status", json!({}));
    assert_eq!(status["phase"], "key_error");
    assert_eq!(status["error"]["code"], "key_missing", "{status}");
    assert_eq!(app.err("grids", json!({}))["code"], "key_missing");
    drop(app);
    assert_eq!(std::fs::read(&db).unwrap(), before, "the database is untouched");

    // Another key is not this database's key: refused, file untouched.
    let mut other = key.clone();
    other[0] = if other[0] == b'0' { b'1' } else { b'0' };
    std::fs::write(&key_file, &other).unwrap();
    let app = open(dir.path());
    assert_eq!(app.ok("app_status", json!({}))["error"]["code"], "key_wrong");
    drop(app);
    assert_eq!(std::fs::read(&db).unwrap(), before);

    // The right key back: everything is there.
    std::fs::write(&key_file, &key).unwrap();
    assert_eq!(open(dir.path()).phase(), "set_pin");
}

#[test]
fn a_revoked_tablet_wipes_its_records_and_key_and_returns_to_enrollment() {
    let (server, code) = server_with_worker("网格员");
    let dir = tempfile::tempdir().unwrap();
    let app = open(dir.path());
    let enrolled = app.ok("enroll", json!({"server": server.url, "code": code}));
    app.ok("set_pin", json!({"pin": "402917"}));
    app.ok("put_record", json!({"kind": "resident", "fields": {"grid": "C1-01", "name": "敏感信息"}}));
    app.sync();
    let devices = server.admin(&["device", "list"]);
    let device =
        devices.as_array().unwrap().iter().find(|d| d["number"] == enrolled["device_number"]).unwrap();
    server.admin(&["device", "revoke", "--device", device["id"].as_str().unwrap()]);

    app.sync();
    assert!(app.events.lock().unwrap().iter().any(|e| e == "revoked"));
    assert_eq!(app.phase(), "enroll");
    drop(app);
    // Reopened: a new, empty database under a new key.
    let app = open(dir.path());
    assert_eq!(app.phase(), "enroll");
    let device = app.state.device().unwrap();
    assert!(device.store().session().unwrap().is_none());
    assert!(
        gridwork_client::records_json(&device.store(), gridwork_domain::Kind::Resident).unwrap().is_empty()
    );
}

#[test]
fn pins_tried_at_once_are_each_counted_and_lock_the_app_out() {
    let (server, code) = server_with_worker("网格员");
    let dir = tempfile::tempdir().unwrap();
    let app = open(dir.path());
    app.ok("enroll", json!({"server": server.url, "code": code}));
    app.ok("set_pin", json!({"pin": "402917"}));
    app.ok("lock", json!({}));
    // Twelve tries at once, on a runtime with threads to run them together.
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap();
    let answers: Vec<Value> = runtime.block_on(async {
        let mut tries = tokio::task::JoinSet::new();
        for _ in 0..12 {
            let state = app.state.clone();
            tries.spawn(async move { state.unlock("111111".into()).await });
        }
        let mut answers = Vec::new();
        while let Some(answer) = tries.join_next().await {
            answers.push(serde_json::to_value(answer.unwrap().unwrap_err()).unwrap());
        }
        answers
    });
    let wrong = answers.iter().filter(|a| a["code"] == "wrong_pin").count();
    let locked_out = answers.iter().filter(|a| a["code"] == "pin_locked_out").count();
    assert_eq!((wrong, locked_out), (4, 8), "four free tries, then locked out: {answers:?}");
    assert_eq!(
        app.err("unlock", json!({"pin": "402917"}))["code"],
        "pin_locked_out",
        "even the right PIN waits"
    );
}

#[test]
fn an_app_left_unused_locks_itself_and_plain_http_to_another_machine_is_refused() {
    let (server, code) = server_with_worker("网格员");
    let dir = tempfile::tempdir().unwrap();
    let app = open(dir.path());
    let plain = app.err("enroll", json!({"server": "http://10.255.255.1:8080", "code": code}));
    assert_eq!(plain["field"], "server", "{plain}");
    assert!(plain["message_zh"].as_str().unwrap().contains("https://"));
    assert_eq!(app.phase(), "enroll", "nothing changed");
    app.ok("enroll", json!({"server": server.url, "code": code}));
    app.ok("set_pin", json!({"pin": "402917"}));
    app.ok("grids", json!({}));
    // The sync state the screen shows by itself does not keep it open.
    app.state.set_idle_lock(std::time::Duration::from_millis(300));
    std::thread::sleep(std::time::Duration::from_millis(400));
    assert_eq!(app.err("sync_state", json!({}))["code"], "locked");
    assert_eq!(app.err("grids", json!({}))["code"], "locked");
    assert_eq!(app.phase(), "locked");
    assert_eq!(app.ok("unlock", json!({"pin": "402917"}))["phase"], "ready");
    app.ok("grids", json!({}));
}
