//! The server's rules about time, in-process: the server reads a clock the
//! test moves (`AppState::with_clock`), so a test can stand an hour or a day
//! later without `faketime`. (The real binaries under `faketime` are tested
//! in `sync.rs`.)

use std::path::Path;
use std::sync::Arc;

use gridwork_client::{Admin, ClientError, Device};
use gridwork_domain::{Kind, Value};
use gridwork_protocol::admin::{NewEnrollmentCode, NewGrid, NewUser, Role};
use gridwork_protocol::codes::ErrorCode;
use gridwork_server::sqlite::{SqliteStorage, digest};
use gridwork_server::storage::Storage;
use gridwork_server::{AppState, Clock, OffsetClock, SystemClock, router};

const HOUR_MS: i64 = 60 * 60 * 1000;

/// A server on a loopback port whose clock the test sets.
struct MovableServer {
    url: String,
    admin: Admin,
    storage: Arc<SqliteStorage>,
    clock: Arc<OffsetClock>,
    _dir: tempfile::TempDir,
}

impl MovableServer {
    async fn start() -> MovableServer {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("gridwork.db");
        let token = SqliteStorage::init(&db, SystemClock.now_ms()).unwrap();
        let storage = Arc::new(SqliteStorage::open(&db).unwrap());
        let clock = Arc::new(OffsetClock::new(Arc::new(SystemClock), 0));
        let state = AppState::new(storage.clone(), dir.path().to_owned()).with_clock(clock.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let settings = gridwork_server::limits::Limits::default().listener(1024);
        tokio::spawn(gridwork_server::listener::serve(
            listener,
            router(state),
            settings,
            std::future::pending(),
        ));
        let admin = Admin::new(&url, &token).unwrap();
        for (code, name) in [("G1", "一号网格"), ("G2", "二号网格")] {
            let grid =
                NewGrid { code: code.into(), name: name.into(), parent: None, level: Some("unit".into()) };
            admin.add_grid(&grid).await.unwrap();
        }
        MovableServer { url, admin, storage, clock, _dir: dir }
    }

    /// Moves the server's clock to `hours` from the real time.
    fn set_hours(&self, hours: i64) {
        self.clock.set_offset(hours * HOUR_MS);
    }

    async fn enrolled_device(&self, path: &Path, name: &str) -> Device {
        let user = NewUser {
            name: name.into(),
            role: Role::Worker,
            grids: vec!["G1".into()],
            password: None,
            department: None,
        };
        let user = self.admin.add_user(&user).await.unwrap();
        let code = self
            .admin
            .enrollment_code(&NewEnrollmentCode { user_id: user.id, ttl_minutes: None })
            .await
            .unwrap();
        let device = Device::open(path).unwrap();
        device.enroll(&self.url, &code.code, "test").await.unwrap();
        device
    }
}

fn patrol(device: &Device, note: &str) -> gridwork_domain::RecordId {
    let fields: Vec<(&str, Value)> = vec![
        ("grid", "G1".into()),
        ("worker", "测试".into()),
        ("started_at", "2026-11-27T08:00:00+08:00".into()),
        ("findings", note.into()),
    ];
    device.store().put(Kind::Patrol, None, &fields).unwrap()
}

/// A device whose clock runs an hour ahead of the server's (its clock was
/// set wrong after enrollment) has its edit refused as `clock_ahead`,
/// corrects its clock from that answer, stamps the edit again and sends it:
/// nothing is lost, nothing is left refused, and what the server keeps is
/// stamped within the tolerance of the server's clock. Then the server's
/// clock moves on a day and the same device, corrected, is taken at once.
#[tokio::test]
async fn a_device_an_hour_ahead_restamps_its_edit_and_the_server_takes_it() {
    let server = MovableServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    drop(server.enrolled_device(&path, "甲").await);
    // The tablet's clock jumps an hour ahead.
    Device::open(&path).unwrap().store().note_server_time(HOUR_MS, None).unwrap();
    let device = Device::open(&path).unwrap();
    let id = patrol(&device, "一小时之后");
    let report = device.sync(|_| {}).await.unwrap();
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    assert_eq!(report.pushed, 1);
    let stamped_within_tolerance = |server: &MovableServer| {
        let registers =
            server.storage.with_store(|store| store.registers(Kind::Patrol, id).unwrap()).unwrap();
        let server_now = server.clock.now_ms();
        registers.iter().all(|field| {
            field.register.versions().iter().all(|v| v.hlc.physical_ms() <= server_now + 10 * 60 * 1000)
        })
    };
    assert!(stamped_within_tolerance(&server));

    // A day later by the server's clock: the device's corrected clock is a
    // day behind, which loses nothing (causality is the vectors' job).
    server.set_hours(24);
    device.store().put(Kind::Patrol, Some(id), &[("findings", "第二天".into())]).unwrap();
    let report = device.sync(|_| {}).await.unwrap();
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    let findings = server.storage.with_store(|store| store.get(Kind::Patrol, id).unwrap()).unwrap();
    assert_eq!(findings.get("findings"), Some(&Value::from("第二天")));
}

/// A console session lasts twelve hours by the server's clock.
#[tokio::test]
async fn a_console_session_ends_twelve_hours_later_by_the_servers_clock() {
    let server = MovableServer::start().await;
    let staff = NewUser {
        name: "值班员".into(),
        role: Role::Staff,
        grids: vec![],
        password: Some("correct horse".into()),
        department: None,
    };
    server.admin.add_user(&staff).await.unwrap();
    let session = server.storage.login("值班员", "correct horse", server.clock.now_ms()).unwrap();
    let console = Admin::new(&server.url, &session.token).unwrap();
    assert!(console.conflicts().await.is_ok(), "a fresh session works");
    server.set_hours(11);
    assert!(console.conflicts().await.is_ok(), "eleven hours later it still works");
    server.set_hours(12);
    match console.conflicts().await {
        Err(ClientError::Api { status: 401, error }) => assert_eq!(error.code, ErrorCode::Unauthorized),
        other => panic!("expected 401 after twelve hours, got {other:?}"),
    }
    // Stored as digests; the session row is still there, just ended.
    assert!(server.storage.authenticate(digest(&session.token), server.clock.now_ms()).unwrap().is_none());
}

/// An enrollment code is good for the minutes it was given, by the
/// server's clock.
#[tokio::test]
async fn an_enrollment_code_expires_by_the_servers_clock() {
    let server = MovableServer::start().await;
    let user = NewUser {
        name: "乙".into(),
        role: Role::Worker,
        grids: vec!["G1".into()],
        password: None,
        department: None,
    };
    let user = server.admin.add_user(&user).await.unwrap();
    let code = server
        .admin
        .enrollment_code(&NewEnrollmentCode { user_id: user.id, ttl_minutes: Some(30) })
        .await
        .unwrap();
    server.set_hours(1);
    let dir = tempfile::tempdir().unwrap();
    let device = Device::open(&dir.path().join("b.db")).unwrap();
    match device.enroll(&server.url, &code.code, "test").await {
        Err(ClientError::Api { status: 403, error }) => assert_eq!(error.code, ErrorCode::BadEnrollmentCode),
        other => panic!("expected the code to have expired, got {other:?}"),
    }
    // Back within the half hour (the code was not used up by the refusal).
    server.set_hours(0);
    device.enroll(&server.url, &code.code, "test").await.unwrap();
}

/// Changes of a record's grid and deleted records are kept for devices that
/// are behind only up to the horizon (180 days by default). Past it they
/// are cut, and a device whose cursor is older pulls everything again and
/// drops what does not come back: the record deleted and the record moved
/// away leave it, as they would have had it synced in time.
#[tokio::test]
async fn past_the_horizon_moves_and_deletions_are_cut_and_a_device_behind_pulls_everything_again() {
    let server = MovableServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let a = server.enrolled_device(&dir.path().join("a.db"), "甲").await;
    let b = server.enrolled_device(&dir.path().join("b.db"), "乙").await;
    let deleted = patrol(&a, "将被删除");
    let moved = patrol(&a, "将迁往二号网格");
    let kept = patrol(&a, "留下");
    a.sync(|_| {}).await.unwrap();
    b.sync(|_| {}).await.unwrap();
    for id in [deleted, moved, kept] {
        assert!(b.store().get(Kind::Patrol, id).unwrap().is_some());
    }
    // While b is away: one record deleted, one moved out of its grids.
    a.store().delete(Kind::Patrol, deleted).unwrap();
    a.store().put(Kind::Patrol, Some(moved), &[("grid", "G2".into())]).unwrap();
    a.sync(|_| {}).await.unwrap();

    // Hourly work notes where the sequence stands; nothing is old enough.
    let first = server.storage.purge(server.clock.now_ms()).unwrap();
    assert_eq!((first.moves, first.records), (0, 0));
    // Half a year and a day later, it is.
    server.set_hours(181 * 24);
    let cut = server.storage.purge(server.clock.now_ms()).unwrap();
    assert_eq!((cut.moves, cut.records), (1, 1), "{cut:?}");
    assert!(
        server.storage.with_store(|s| s.get(Kind::Patrol, deleted).unwrap()).is_none(),
        "the tombstone went"
    );
    // Again: nothing more to cut.
    let again = server.storage.purge(server.clock.now_ms()).unwrap();
    assert_eq!((again.through_seq, again.moves, again.records), (cut.through_seq, 0, 0));

    // b comes back with its old cursor: it is told to pull everything, and
    // what left its grids while it was away leaves it too.
    let report = b.sync(|_| {}).await.unwrap();
    assert!(report.dropped >= 2, "{report:?}");
    assert!(b.store().get(Kind::Patrol, deleted).unwrap().is_none());
    assert!(b.store().get(Kind::Patrol, moved).unwrap().is_none());
    assert!(b.store().get(Kind::Patrol, kept).unwrap().is_some());
    // A device enrolled now never hears of the deleted record.
    let c = server.enrolled_device(&dir.path().join("c.db"), "丙").await;
    c.sync(|_| {}).await.unwrap();
    assert!(c.store().get(Kind::Patrol, deleted).unwrap().is_none());
    assert!(c.store().get(Kind::Patrol, kept).unwrap().is_some());
    // a, whose cursor is past the cut, just syncs on.
    let report = a.sync(|_| {}).await.unwrap();
    assert_eq!(report.dropped, 0, "{report:?}");
}
