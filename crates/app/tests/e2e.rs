//! The app end to end: the real `gridwork-app` binary on a (virtual)
//! display, driven through `tauri-driver` by the UI's `data-testid` hooks
//! as a worker would use it, against a real `gridwork-server`. What reached
//! the server is checked with a colleague's headless device. The screenshots
//! of the main screens go to `target/screenshots/` (or to the directory
//! `GRIDWORK_SCREENSHOTS` names: `docs/screenshots` for the README's).
//!
//! Needs a display: `xvfb-run -a -s "-screen 0 1280x800x24" cargo test -p
//! gridwork-app --test e2e` (scripts/test runs the whole suite that way),
//! `tauri-driver` (`cargo install tauri-driver --version '^2' --locked`) and
//! WebKitWebDriver (Debian `webkit2gtk-driver`).

#[path = "e2e/driver.rs"]
mod driver;

use std::path::Path;
use std::time::{Duration, Instant};

use driver::{TauriDriver, Ui, tid};
use gridwork_tests::{Server, workspace_root};
use serde_json::Value;

const PIN: &str = "402917";
/// A name no one in the demo city has.
const RESIDENT: &str = "司马秀英";
/// Fails the check digit (the right one ends in X).
const WRONG_ID: &str = "110105194912310021";
const RIGHT_ID: &str = "11010519491231002X";

const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A camera-sized JPEG: a sky, a road and a manhole cover.
fn write_photo(path: &Path, width: u32, height: u32) {
    let (cx, cy, r) = (width as f32 * 0.5, height as f32 * 0.68, height as f32 * 0.16);
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (x as f32, y as f32);
        let d = ((fx - cx).powi(2) + ((fy - cy) * 2.2).powi(2)).sqrt();
        if d < r {
            let ring = ((d / 18.0) as u32 % 2) as u8 * 30;
            image::Rgb([70 + ring, 70 + ring, 75 + ring])
        } else if fy < height as f32 * 0.4 {
            image::Rgb([120, (170.0 + 60.0 * fy / height as f32) as u8, 230])
        } else {
            let grain = ((x * 7 + y * 13) % 23) as u8;
            image::Rgb([110 + grain, 108 + grain, 100 + grain])
        }
    });
    let mut bytes = Vec::new();
    image.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Jpeg).expect("a JPEG");
    std::fs::write(path, bytes).expect("the photo written");
}

/// Saves a screenshot of the window as NAME.png, once
/// toasts have gone.
fn screenshot(ui: &Ui, name: &str) {
    ui.wait(&format!("the toasts to go before the {name} screenshot"), secs(10), |ui| {
        ui.displayed(".van-toast").is_none().then_some(())
    });
    // Let transitions (page, popup) finish.
    std::thread::sleep(Duration::from_millis(600));
    // target/screenshots, or where GRIDWORK_SCREENSHOTS says (the README's
    // come from `GRIDWORK_SCREENSHOTS=docs/screenshots`).
    let dir = match std::env::var_os("GRIDWORK_SCREENSHOTS") {
        Some(dir) => workspace_root().join(dir),
        None => workspace_root().join("target").join("screenshots"),
    };
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let png = ui.screenshot();
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("the screenshot written");
}

/// GET /api/v1/attachments/SHA with `token`: the status and the bytes.
fn fetch_attachment(server: &Server, token: &str, sha: &str) -> (u16, Vec<u8>) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    runtime.block_on(async {
        let http = gridwork_client::Http::new(&server.url, Some(token.to_owned())).expect("a client");
        let answer = http
            .builder(reqwest::Method::GET, &format!("/attachments/{sha}"))
            .send()
            .await
            .expect("the server answers");
        let status = answer.status().as_u16();
        (status, answer.bytes().await.map(|b| b.to_vec()).unwrap_or_default())
    })
}

/// The record id at the end of a route like /record/KIND/ID or /cases/ID.
fn id_of(route: &str) -> String {
    let path = route.split('?').next().unwrap_or_default();
    path.rsplit('/').next().unwrap_or_default().to_owned()
}

fn assert_encrypted(driver: &TauriDriver) {
    let db = driver.xdg_data_home().join("org.gridwork.app").join("gridwork.db");
    let head = std::fs::read(&db).unwrap_or_else(|e| panic!("{}: {e}", db.display()));
    assert!(head.len() >= 16, "{} is {} bytes", db.display(), head.len());
    assert_ne!(&head[..16], b"SQLite format 3\0", "{} is a plain SQLite file", db.display());
}

/// Opens the resident from the registry's search box.
fn open_resident(ui: &Ui, id: &str) {
    ui.click(&tid("tab-registry"));
    let search = ui.wait_for(&tid("registry-search"), secs(15));
    let typed = ui.block("value", search.prop("value")).ok().flatten().unwrap_or_default();
    if typed != RESIDENT {
        ui.erase(&tid("registry-search"));
        ui.type_into(&tid("registry-search"), RESIDENT);
    }
    ui.wait_text(&tid("registry-result"), RESIDENT, secs(15));
    ui.click(&tid("registry-result"));
    ui.wait_path(&format!("/record/resident/{id}"), secs(15));
    ui.wait_for(&tid("view-name"), secs(15));
}

/// Presses "sync now" on the Sync page.
fn sync_now(ui: &Ui) {
    ui.click(&tid("tab-sync"));
    ui.wait_path("/sync", secs(10));
    ui.click(&tid("sync-now"));
}

fn step(started: Instant, what: &str) {
    eprintln!("[e2e {:>6.1} s] {what}", started.elapsed().as_secs_f64());
}

#[test]
fn a_worker_enrolls_records_reports_offline_syncs_sees_conflicts_and_is_revoked_through_the_ui() {
    let display = std::env::var("DISPLAY").unwrap_or_default();
    assert!(
        !display.trim().is_empty(),
        "DISPLAY is not set: the app's end-to-end test needs a display. Run it under a virtual one: \
         xvfb-run -a -s \"-screen 0 1280x800x24\" cargo test -p gridwork-app --test e2e \
         (scripts/test does so for the whole suite)"
    );
    let started = Instant::now();

    // ---- the demo city (grids with boundaries, residents, cases with
    // deadlines), its first worker and a fresh code for them
    let (mut server, demo) = Server::start_demo();
    let worker = &demo["workers"][0];
    let grid = worker["grid"].as_str().expect("the worker's grid").to_owned();
    let code = server.enroll_code(worker["user_id"].as_str().expect("the worker's id"));
    let work = tempfile::tempdir().expect("a temporary directory");
    let photo = work.path().join("manhole-3000x2000.jpg");
    write_photo(&photo, 3000, 2000);
    step(started, "server up, worker added, photo written");

    // ---- the app through tauri-driver, on a tablet-sized window
    let driver = TauriDriver::start();
    let failure_shot = workspace_root().join("target").join("e2e-failure.png");
    let ui = Ui::open(&driver, Path::new(env!("CARGO_BIN_EXE_gridwork-app")), failure_shot);
    ui.wait_for(&tid("screen-enroll"), secs(60));
    if let Err(e) = ui.set_window_size(1280, 800) {
        eprintln!("the window could not be sized: {e}");
    }
    step(started, &format!("app started, viewport {:?}", ui.viewport()));

    // ---- enrollment and PIN
    ui.type_into(&tid("enroll-server"), &server.url);
    ui.type_into(&tid("enroll-code"), &code);
    ui.click(&tid("enroll-submit"));
    ui.wait_for(&tid("screen-set-pin"), secs(30));
    ui.type_into(&tid("pin-input"), PIN);
    ui.type_into(&tid("pin-confirm"), PIN);
    ui.click(&tid("pin-submit"));
    ui.wait_for(&tid("tab-today"), secs(30));
    step(started, "enrolled, PIN set");

    // ---- a building, a household in it, a resident in that
    ui.click(&tid("tab-registry"));
    ui.wait_for(&tid("registry-search"), secs(15));
    ui.click(&tid("add-building"));
    ui.wait_route("/new/building", secs(15));
    ui.type_into(&tid("field-address"), "东苑路1号");
    ui.type_into(&tid("field-floors"), "6");
    ui.click(&tid("form-save"));
    let building = id_of(&ui.wait_route("/record/building/", secs(15)));

    ui.click(&tid("add-household"));
    ui.wait_route("/new/household", secs(15));
    ui.type_into(&tid("field-address"), "东苑路1号1-101");
    ui.type_into(&tid("field-room"), "1-101");
    ui.click(&tid("form-save"));
    let household = id_of(&ui.wait_route("/record/household/", secs(15)));

    ui.click(&tid("add-resident"));
    ui.wait_route("/new/resident", secs(15));
    ui.type_into(&tid("field-name"), RESIDENT);
    ui.type_into(&tid("field-id_number"), WRONG_ID);
    ui.click(&tid("field-sex-female"));
    ui.type_into(&tid("field-phone"), "13800000001");
    ui.click(&tid("form-save"));
    // Refused, with the reason under the field; nothing saved.
    let reason = ui.wait("the wrong ID number refused under field-error-id_number", secs(15), |ui| {
        let text = ui.element_text(&ui.displayed(&tid("field-error-id_number"))?).ok()?;
        (!text.trim().is_empty()).then_some(text)
    });
    if !reason.contains("校验") {
        ui.fail(&format!(
            "the ID number's refusal should give the reason (the check digit), says {reason:?}"
        ));
    }
    if !ui.route().starts_with("/new/resident") {
        ui.fail("a refused resident must stay on its form");
    }
    ui.erase(&tid("field-id_number"));
    ui.type_into(&tid("field-id_number"), RIGHT_ID);
    ui.click(&tid("form-save"));
    let resident = id_of(&ui.wait_route("/record/resident/", secs(15)));
    ui.wait_text(&tid("view-name"), RESIDENT, secs(15));
    step(started, &format!("building {building}, household {household}, resident {resident} saved"));

    // ---- the resident found by name
    ui.click(&tid("tab-registry"));
    ui.type_into(&tid("registry-search"), "司马秀");
    ui.wait_text(&tid("registry-result"), RESIDENT, secs(15));
    screenshot(&ui, "registry");
    assert_encrypted(&driver);
    step(started, "found by name; the database is not plain SQLite");

    // ---- a patrol: its map
    ui.click(&tid("tab-patrol"));
    ui.click(&tid("start-patrol"));
    ui.wait_for(&tid("patrol-map"), secs(15));
    ui.wait_for(&tid("end-patrol"), secs(15));
    // Points placed by hand on the grid's map (no location on this machine).
    ui.click(&tid("patrol-tap-mode"));
    for (x, y) in [(0.25, 0.7), (0.4, 0.45), (0.6, 0.4), (0.75, 0.55)] {
        ui.js(&format!(
            "const m = document.querySelector('[data-testid=patrol-map]'); const r = m.getBoundingClientRect(); \
             m.dispatchEvent(new MouseEvent('click', {{bubbles: true, clientX: r.left + r.width * {x}, clientY: r.top + r.height * {y}}}))"
        ));
    }
    ui.wait("the route's four points on the map", secs(10), |ui| {
        let points = ui.js("return document.querySelectorAll('[data-testid=\"patrol-map\"] circle').length");
        (points.as_u64().unwrap_or(0) >= 4).then_some(())
    });
    screenshot(&ui, "patrol");
    ui.click(&tid("end-patrol"));
    ui.click(".van-dialog__confirm");
    ui.wait_for(&tid("start-patrol"), secs(15));
    step(started, "patrol started and ended");

    // ---- a case with a photo while the server is down: saved at once
    server.stop();
    ui.click(&tid("tab-cases"));
    ui.click(&tid("report-case"));
    ui.wait_route("/cases/new", secs(15));
    ui.click(&tid("field-category"));
    ui.click(&tid("field-category-public_facilities"));
    ui.type_into(&tid("field-description"), "东苑路1号门口井盖破损，夜间有行人绊倒的危险");
    ui.type_into(&tid("field-location"), "东苑路1号门口");
    ui.choose_file(&tid("photo-input"), &photo);
    ui.wait("the photo's thumbnail", secs(30), |ui| {
        let loaded = ui.js("const i = document.querySelector('[data-testid=\"photo-thumb\"] img'); \
             return !!(i && i.complete && i.naturalWidth > 0)");
        (loaded == Value::Bool(true)).then_some(())
    });
    let sha = ui.js("return document.querySelector('[data-testid=\"photo-thumb\"]').dataset.sha256");
    let sha = sha.as_str().unwrap_or_default().to_owned();
    assert_eq!(sha.len(), 64, "the thumbnail names the photo's SHA-256: {sha:?}");
    // The thumbnail sits at the foot of the form: show it.
    ui.js("document.querySelector('[data-testid=\"photo-thumb\"]').scrollIntoView({block: 'center'})");
    screenshot(&ui, "report-case");
    let pressed = Instant::now();
    ui.click(&tid("form-save"));
    let case_route = ui.wait("the case saved (its page)", secs(10), |ui| {
        let route = ui.route();
        (route.starts_with("/cases/") && !route.starts_with("/cases/new")).then_some(route)
    });
    ui.wait_for(&tid("case-saved"), secs(5));
    let saved_in = pressed.elapsed();
    assert!(saved_in < secs(5), "the case must save at once with the server down; took {saved_in:?}");
    let case = id_of(&case_route);
    ui.click(&tid("tab-sync"));
    ui.wait_text(&tid("sync-pending"), "待上传照片 1 张", secs(15));
    step(started, &format!("case {case} saved offline in {saved_in:?}, photo {sha}"));

    // ---- the server back: the case and its photo reach it
    server.serve();
    ui.click(&tid("sync-now"));
    let colleague = server.enrolled(work.path(), "colleague", "网格员同事", &[&grid]);
    let token = colleague.token();
    let deadline = Instant::now() + secs(60);
    let mut pressed = Instant::now();
    let stored = loop {
        colleague.sync();
        let arrived = colleague.list("case").into_iter().find(|c| c["id"] == case.as_str());
        if let Some(arrived) = &arrived
            && arrived["attachments"] == serde_json::json!([sha])
        {
            let (status, bytes) = fetch_attachment(&server, &token, &sha);
            if status == 200 {
                break bytes;
            }
        }
        if Instant::now() > deadline {
            ui.fail(&format!(
                "the case {case} with its photo {sha} did not reach the server within 60 s; a colleague sees {arrived:?}"
            ));
        }
        if pressed.elapsed() > secs(15) {
            ui.click(&tid("sync-now"));
            pressed = Instant::now();
        }
        std::thread::sleep(secs(2));
    };
    assert_eq!(gridwork_store::sha256_hex(&stored), sha, "the server holds the photo whole");
    let shrunk = image::load_from_memory(&stored).expect("the stored photo is an image");
    assert_eq!((shrunk.width(), shrunk.height()), (1600, 1067), "shrunk to 1600 px on its long side");
    assert_eq!(colleague.get("case", &case)["description"], "东苑路1号门口井盖破损，夜间有行人绊倒的危险");
    assert_eq!(colleague.get("resident", &resident)["name"], RESIDENT);
    ui.wait_text(&tid("sync-pending"), "待上传记录 0 条", secs(30));
    step(started, "case and photo on the server");

    ui.click(&tid("tab-today"));
    ui.wait("the new case among Today's cases", secs(15), |ui| {
        let found = ui.js("return [...document.querySelectorAll('[data-testid=\"today-case\"]')]\
             .some(e => e.innerText.includes('夜间有行人绊倒'))");
        (found == Value::Bool(true)).then_some(())
    });
    screenshot(&ui, "today");
    match ui.set_window_size(800, 1280) {
        Ok(()) => {
            let (width, height) = ui.viewport();
            if width > height {
                eprintln!("the window did not turn portrait: viewport {width}x{height}");
            }
            screenshot(&ui, "today-portrait");
            if let Err(e) = ui.set_window_size(1280, 800) {
                ui.fail(&format!("the window could not be sized back to 1280x800: {e}"));
            }
        }
        Err(e) => eprintln!("no portrait screenshot: the window could not be resized: {e}"),
    }
    step(started, "today screenshots");

    // ---- a colleague's edit reaches the app
    colleague.put("resident", Some(&resident), &["phone=13800000009"]);
    colleague.sync();
    let deadline = Instant::now() + secs(60);
    loop {
        sync_now(&ui);
        std::thread::sleep(secs(2));
        open_resident(&ui, &resident);
        if ui.text(&tid("view-phone")).contains("13800000009") {
            break;
        }
        if Instant::now() > deadline {
            ui.fail("the colleague's phone 13800000009 did not reach the app within 60 s");
        }
    }
    step(started, "the colleague's edit shown in the app");

    // ---- both change the phone, neither synced: a conflict the app shows
    server.stop();
    ui.click(&tid("record-edit"));
    ui.wait_route(&format!("/record/resident/{resident}/edit"), secs(15));
    ui.erase(&tid("field-phone"));
    ui.type_into(&tid("field-phone"), "13900000005");
    ui.click(&tid("form-save"));
    ui.wait_path(&format!("/record/resident/{resident}"), secs(15));
    ui.wait_text(&tid("view-phone"), "13900000005", secs(15));
    std::thread::sleep(Duration::from_millis(50));
    colleague.put("resident", Some(&resident), &["phone=13900000006"]);
    server.serve();
    colleague.sync();
    let deadline = Instant::now() + secs(60);
    sync_now(&ui);
    let mut pressed = Instant::now();
    let conflict = loop {
        if let Some(item) = ui.displayed(&tid("conflict-item")) {
            break ui.element_text(&item).unwrap_or_default();
        }
        if Instant::now() > deadline {
            ui.fail("no conflict-item on the Sync page within 60 s after both devices changed the phone");
        }
        if pressed.elapsed() > secs(10) {
            ui.click(&tid("sync-now"));
            pressed = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(
        conflict.contains("13900000006") && conflict.contains("13900000005"),
        "the conflict names the kept and the other phone: {conflict:?}"
    );
    screenshot(&ui, "sync");
    ui.click(&tid("conflict-item"));
    ui.wait_path(&format!("/record/resident/{resident}"), secs(15));
    let on_record = ui.wait_text(&tid("record-conflict"), "13900000005", secs(15));
    let kept = ui.text(&tid("view-phone"));
    assert!(kept.contains("13900000006"), "the later write is kept: {kept:?} ({on_record:?})");
    assert_eq!(colleague.get("resident", &resident)["phone"], "13900000006");
    step(started, "conflict shown on the Sync page and on the record");

    // ---- revoked: the app says so and goes back to enrollment
    assert_encrypted(&driver);
    ui.click(&tid("tab-today"));
    ui.click(&tid("open-settings"));
    let number: u64 = ui.text(&tid("settings-device")).trim().parse().unwrap_or_else(|_| {
        ui.fail("settings-device should show this tablet's device number");
    });
    let devices = server.admin(&["device", "list"]);
    let device = devices
        .as_array()
        .and_then(|all| all.iter().find(|d| d["number"] == number))
        .unwrap_or_else(|| panic!("device {number} in {devices}"));
    server.admin(&["device", "revoke", "--device", device["id"].as_str().expect("a device id")]);
    sync_now(&ui);
    ui.wait_for(&tid("revoked-dialog"), secs(60));
    ui.click(&tid("revoked-ok"));
    ui.wait_for(&tid("screen-enroll"), secs(15));
    step(started, "revoked: back to enrollment");

    drop(ui);
    drop(driver);
    server.kill();
    step(started, "torn down");
}
