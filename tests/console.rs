//! The centre console: its API on both backends (settling a conflict so
//! that the choice reaches the devices; exports; the dashboard's figures;
//! what street staff and handlers may see), and the console itself end to
//! end in headless Chromium against the real server, with real devices.

use std::path::Path;
use std::process::Command;

use gridwork_tests::{
    Backend, CliDevice, Console, Server, department, on_both_backends, person, workspace_root,
};
use serde_json::{Value, json};

/// Two devices of grid C1-01 change a resident's phone without seeing each
/// other's edit: the server keeps a conflict. Returns the resident's id
/// and the losing value.
fn conflict(server: &Server, a: &CliDevice, b: &CliDevice) -> (String, String) {
    conflict_in(server, a, b, "C1-01")
}

/// As [`conflict`], in `grid`.
fn conflict_in(server: &Server, a: &CliDevice, b: &CliDevice, grid: &str) -> (String, String) {
    let resident = a.put("resident", None, &[&format!("grid={grid}"), "name=张三", "phone=13800000000"]);
    a.sync();
    b.sync();
    a.put("resident", Some(&resident), &["phone=13811111111"]);
    b.put("resident", Some(&resident), &["phone=13922222222"]);
    a.sync();
    b.sync();
    let conflicts = server.admin(&["conflicts", "list"]);
    let found = conflicts
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == resident.as_str() && c["field"] == "phone")
        .unwrap_or_else(|| panic!("a conflict on the phone: {conflicts}"))
        .clone();
    let loser = found["losers"][0]["value"].as_str().expect("a losing phone").to_owned();
    (resident, loser)
}

fn export(console: &Console, query: &str) -> (u16, Vec<u8>) {
    console.download(&format!("/cases/export?{query}"))
}

fn settling_a_conflict_reaches_the_devices_and_street_staff_see_their_street_only(backend: Backend) {
    let server = Server::start_on(backend);
    server.city();
    department(&server, "city_management", "城市管理局", "City management");
    person(&server, "值班员", "staff", &[]);
    person(&server, "西山街道员", "staff", &["--grid", "C2"]);
    person(&server, "城管员", "handler", &["--department", "city_management"]);
    let dir = tempfile::tempdir().unwrap();
    let a = server.enrolled(dir.path(), "a", "网格员甲", &["C1-01"]);
    let b = server.enrolled(dir.path(), "b", "网格员乙", &["C1-01"]);
    let west = server.enrolled(dir.path(), "west", "网格员丙", &["C2-01"]);
    let west2 = server.enrolled(dir.path(), "west2", "网格员丁", &["C2-01"]);
    a.put(
        "case",
        None,
        &["grid=C1-01", "category=public_facilities", "status=reported", "description=东苑井盖破损"],
    );
    a.put(
        "case",
        None,
        &[
            "grid=C1-01",
            "category=sanitation",
            "status=reported",
            "description==HYPERLINK(\"http://evil\",\"点我\")",
        ],
    );
    a.sync();
    west.put(
        "case",
        None,
        &[
            "grid=C2-01",
            "category=sanitation",
            "status=reported",
            "description=西山垃圾满溢",
            "latitude=29.0805",
            "longitude=119.6412",
            "reporter=王大爷",
            "reporter_phone=13900000001",
        ],
    );
    west.sync();
    let (resident, loser) = conflict(&server, &a, &b);
    let (west_resident, west_loser) = conflict_in(&server, &west, &west2, "C2-01");

    let centre = Console::login(&server, "值班员", "correct horse");
    let street = Console::login(&server, "西山街道员", "correct horse");
    let handler = Console::login(&server, "城管员", "correct horse");

    // Who is logged in, and what they see of the tree.
    let me = street.get("/me");
    assert_eq!((me["user"]["role"].as_str(), me["citywide"].as_bool()), (Some("staff"), Some(false)), "{me}");
    let codes = |grids: &Value| -> Vec<String> {
        grids.as_array().unwrap().iter().map(|g| g["code"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(codes(&street.get("/grids")), ["C2", "C2-01"]);
    assert_eq!(codes(&centre.get("/grids")).len(), 8);
    assert!(handler.get("/grids").as_array().unwrap().iter().all(|g| g["boundary"].is_null()));

    // The dashboard counts what each may see.
    assert_eq!(centre.get("/stats")["total"], 3);
    let west_stats = street.get("/stats");
    assert_eq!(west_stats["total"], 1, "{west_stats}");
    assert_eq!(west_stats["by_grid"][0]["key"], "C2-01");
    assert_eq!(handler.get("/stats")["total"], 0, "nothing is with the department yet");
    let east = centre.get("/cases?limit=10")["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["description"] == "东苑井盖破损")
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .expect("the east case is listed");
    centre.must_step(&east, json!({"step": "accept"}));
    let dispatched = centre.must_step(&east, json!({"step": "dispatch", "department": "city_management"}));
    assert_eq!(
        dispatched["open_steps"],
        json!(["transfer", "return", "handle", "supervise"]),
        "{dispatched}"
    );
    let stats = handler.get("/stats");
    assert_eq!((stats["total"].as_u64(), stats["open"].as_u64()), (Some(1), Some(1)), "{stats}");
    assert_eq!(handler.get(&format!("/cases/{east}"))["open_steps"], json!(["transfer", "return", "handle"]));

    // Supervision (督办): the note reaches the department's handler and the
    // centre, not another street.
    assert_eq!(handler.get("/supervisions"), json!([]));
    centre.must_step(&east, json!({"step": "supervise", "note": "请于今日内处置"}));
    let notes = handler.get("/supervisions");
    assert_eq!(notes.as_array().map(Vec::len), Some(1), "{notes}");
    assert_eq!(
        (notes[0]["note"].as_str(), notes[0]["by"].as_str()),
        (Some("请于今日内处置"), Some("值班员"))
    );
    assert_eq!(notes[0]["case"]["id"], east.as_str());
    assert_eq!(centre.get("/supervisions").as_array().map(Vec::len), Some(1));
    assert_eq!(street.get("/supervisions"), json!([]), "another street's supervision");

    // Exports hold what the list holds, formulas as text.
    let (status, csv) = export(&street, "format=csv");
    assert_eq!(status, 200);
    let csv = String::from_utf8(csv).unwrap();
    assert!(csv.starts_with('\u{feff}') && csv.contains("西山垃圾满溢"), "{csv}");
    assert!(!csv.contains("东苑"), "street staff export another street's case: {csv}");
    let (_, csv) = export(&centre, "format=csv&lang=en");
    let csv = String::from_utf8(csv).unwrap();
    assert!(csv.contains("Case,Grid,Category,Status"), "{csv}");
    assert!(csv.contains("'=HYPERLINK"), "the formula is neutralised: {csv}");
    let (status, answer) = export(&centre, "format=pdf");
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&answer));
    assert!(String::from_utf8_lossy(&answer).contains("format=xlsx"));
    let (status, _) = export(&handler, "format=xlsx");
    assert_eq!(status, 200, "handlers export their department's list");
    // GeoJSON of the cases: a point where the tablet had a position, the
    // street's only, nobody's name or phone.
    let (status, geojson) = export(&street, "format=geojson");
    assert_eq!(status, 200);
    let text = String::from_utf8(geojson).unwrap();
    let collection: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(collection["type"], "FeatureCollection");
    let features = collection["features"].as_array().unwrap();
    assert_eq!(features.len(), 1, "{collection}");
    assert_eq!(features[0]["geometry"], json!({"type": "Point", "coordinates": [119.6412, 29.0805]}));
    assert_eq!(features[0]["properties"]["description"], "西山垃圾满溢");
    assert!(!text.contains("王大爷") && !text.contains("13900000001"), "{text}");
    let all: Value = serde_json::from_slice(&export(&centre, "format=geojson").1).unwrap();
    assert!(
        all["features"].as_array().unwrap().iter().any(|f| f["geometry"].is_null()),
        "no position, no point"
    );
    // Registry lists have no map.
    let (status, _) = street.download("/records/export?format=geojson&kind=resident");
    assert_eq!(status, 400);
    // The administration lists: conflicts and refused changes within the
    // caller's grids; devices and accounts for administrators only.
    let (status, csv) = street.download("/admin/conflicts/export?format=csv");
    assert_eq!(status, 200);
    let csv = String::from_utf8(csv).unwrap();
    assert!(csv.contains(&west_resident) && !csv.contains(&resident), "the street's conflicts only: {csv}");
    assert_eq!(server.sql("SELECT count(*) FROM audit WHERE action = 'conflicts_export'"), "1");
    assert_eq!(street.download("/admin/parked/export?format=xlsx").0, 200);
    assert_eq!(street.download("/admin/devices/export?format=csv").0, 403);
    assert_eq!(street.download("/admin/users/export?format=csv").0, 403);
    let admin = Console::with_token(&server, &server.admin_token);
    let (status, xlsx) = admin.download("/admin/devices/export?format=xlsx");
    assert_eq!(status, 200);
    let rows = gridwork_tests::xlsx_rows(&xlsx);
    assert_eq!(rows[0][..3], ["编号", "设备", "使用人"]);
    assert_eq!(rows.len(), 5, "a header and the four tablets: {rows:?}");
    let (status, csv) = admin.download("/admin/users/export?format=csv&lang=en");
    assert_eq!(status, 200);
    let csv = String::from_utf8(csv).unwrap();
    assert!(csv.contains("西山街道员,centre staff,C2,"), "{csv}");

    // Street staff read and settle their street's conflicts only; the
    // centre sees every street's; a handler none.
    let ids_of = |conflicts: Value| -> Vec<String> {
        conflicts.as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(ids_of(street.get("/admin/conflicts")), std::slice::from_ref(&west_resident));
    let mut everyone = ids_of(centre.get("/admin/conflicts"));
    everyone.sort();
    let mut expected = vec![resident.clone(), west_resident.clone()];
    expected.sort();
    assert_eq!(everyone, expected);
    let (status, _) = handler.call(reqwest::Method::GET, "/admin/conflicts", None);
    assert_eq!(status, 403);
    let settle = json!({"kind": "resident", "id": resident, "field": "phone", "value": loser});
    let (status, answer) =
        street.call(reqwest::Method::POST, "/admin/conflicts/settle", Some(settle.clone()));
    assert_eq!(status, 404, "another street's record is not there for them: {answer}");
    let (status, _) = handler.call(reqwest::Method::POST, "/admin/conflicts/settle", Some(settle.clone()));
    assert_eq!(status, 403);
    let west_settle = json!({"kind": "resident", "id": west_resident, "field": "phone", "value": west_loser});
    let (status, answer) = street.call(reqwest::Method::POST, "/admin/conflicts/settle", Some(west_settle));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(street.get("/admin/conflicts"), json!([]));
    west.sync();
    assert_eq!(west.get("resident", &west_resident)["phone"], west_loser.as_str());
    // A correction keeps a record within the street: moving it into
    // another is refused before anything is written.
    let moved = json!({"kind": "resident", "id": west_resident, "field": "grid", "value": "C1-01"});
    let (status, answer) = street.call(reqwest::Method::POST, "/admin/conflicts/settle", Some(moved));
    assert_eq!(status, 403, "into another street: {answer}");
    assert_eq!(centre.get(&format!("/records/{west_resident}"))["grid"], "C2-01");

    // Bad settles change nothing.
    let (status, answer) = centre.call(
        reqwest::Method::POST,
        "/admin/conflicts/settle",
        Some(json!({"kind": "resident", "id": resident, "field": "shoe_size", "value": "42"})),
    );
    assert_eq!(status, 422, "{answer}");
    let (status, answer) = centre.call(
        reqwest::Method::POST,
        "/admin/conflicts/settle",
        Some(json!({"kind": "resident", "id": resident, "field": "name", "value": "李四"})),
    );
    assert_eq!(status, 409, "a field not in conflict: {answer}");
    let (status, answer) = centre.call(
        reqwest::Method::POST,
        "/admin/conflicts/settle",
        Some(json!({"kind": "resident", "id": resident, "field": "phone", "value": "not a phone"})),
    );
    assert_eq!(status, 422, "{answer}");
    assert_eq!(server.admin(&["conflicts", "list"]).as_array().unwrap().len(), 1);

    // The centre keeps the losing value: it replaces both on every device.
    let (status, answer) =
        centre.call(reqwest::Method::POST, "/admin/conflicts/settle", Some(settle.clone()));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["value"], loser.as_str());
    assert_eq!(server.admin(&["conflicts", "list"]), json!([]));
    let (status, _) = centre.call(reqwest::Method::POST, "/admin/conflicts/settle", Some(settle));
    assert_eq!(status, 409, "settled already");
    for device in [&a, &b] {
        device.sync();
        assert_eq!(device.get("resident", &resident)["phone"], loser.as_str());
    }
    // Keeping the value that was winning settles the field too.
    a.put("resident", Some(&resident), &["name=张三丰"]);
    b.put("resident", Some(&resident), &["name=张三峰"]);
    a.sync();
    b.sync();
    a.sync();
    let name = server.admin(&["conflicts", "list"])[0]["winner"]["value"].clone();
    let (status, _) = centre.call(
        reqwest::Method::POST,
        "/admin/conflicts/settle",
        Some(json!({"kind": "resident", "id": resident, "field": "name", "value": name})),
    );
    assert_eq!(status, 200);
    assert_eq!(server.admin(&["conflicts", "list"]), json!([]));

    // A deleted record's conflicts wait until someone restores it.
    a.put("resident", Some(&resident), &["name=张三"]);
    b.put("resident", Some(&resident), &["name=张叁"]);
    a.sync();
    b.sync();
    a.sync();
    a.run(&["delete", "resident", &resident]);
    a.sync();
    let (status, answer) = centre.call(
        reqwest::Method::POST,
        "/admin/conflicts/settle",
        Some(json!({"kind": "resident", "id": resident, "field": "name", "value": "张三"})),
    );
    assert_eq!(status, 409, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap_or_default().contains("deleted"), "{answer}");
}
on_both_backends!(settling_a_conflict_reaches_the_devices_and_street_staff_see_their_street_only);

/// A square boundary (GeoJSON) with its south-west corner at `x`, `y`.
fn square(x: f64, y: f64, side: f64) -> Value {
    json!({"type": "Polygon", "coordinates": [[[x, y], [x + side, y], [x + side, y + side], [x, y + side], [x, y]]]})
}

/// Draws the test city's communities and unit grids from a GeoJSON file,
/// as `gridwork admin grid import` does; adds C2-02.
fn draw_city(server: &Server, dir: &Path) -> Value {
    let feature = |code: &str, name: &str, parent: &str, geometry: Value| json!({"type": "Feature", "properties": {"code": code, "name": name, "parent": parent}, "geometry": geometry});
    let collection = json!({"type": "FeatureCollection", "features": [
        feature("C1", "东苑社区", "330702001", square(119.640, 29.080, 0.008)),
        feature("C1-01", "东苑社区第一网格", "C1", square(119.640, 29.080, 0.004)),
        feature("C1-02", "东苑社区第二网格", "C1", square(119.644, 29.080, 0.004)),
        feature("C2", "西山社区", "330702001", square(119.650, 29.080, 0.008)),
        feature("C2-01", "西山社区第一网格", "C2", square(119.650, 29.080, 0.004)),
        feature("C2-02", "西山社区第二网格", "C2", square(119.654, 29.080, 0.004)),
    ]});
    let file = dir.join("grids.geojson");
    std::fs::write(&file, collection.to_string()).unwrap();
    server.admin(&["grid", "import", file.to_str().unwrap()])
}

fn grids_are_imported_drawn_renamed_and_moved(backend: Backend) {
    let server = Server::start_on(backend);
    server.city();
    person(&server, "西山街道员", "staff", &["--grid", "C2"]);
    let dir = tempfile::tempdir().unwrap();
    let imported = draw_city(&server, dir.path());
    assert_eq!(imported["added"], json!(["C2-02"]), "{imported}");
    assert_eq!(imported["updated"].as_array().unwrap().len(), 5);
    let grids = server.admin(&["grid", "list"]);
    let grid = |code: &str| grids.as_array().unwrap().iter().find(|g| g["code"] == code).cloned().unwrap();
    assert_eq!(grid("C2-02")["level"], "unit");
    let drawn: Value = serde_json::from_str(grid("C1-01")["boundary"].as_str().unwrap()).unwrap();
    assert_eq!(drawn, square(119.640, 29.080, 0.004));
    assert!(grid("330702001")["boundary"].is_null());
    // Street staff see the new grid at once.
    let street = Console::login(&server, "西山街道员", "correct horse");
    let codes: Vec<String> = street
        .get("/grids")
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["code"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes, ["C2", "C2-01", "C2-02"]);
    // The grids as GeoJSON, as the street sees them, each with its own
    // boundary (or none).
    let (status, geojson) = street.download("/grids/export?format=geojson");
    assert_eq!(status, 200);
    let collection: Value = serde_json::from_slice(&geojson).unwrap();
    let features = collection["features"].as_array().unwrap();
    let ids: Vec<&str> = features.iter().map(|f| f["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["C2", "C2-01", "C2-02"]);
    let c2_01 = &features[1];
    assert_eq!(c2_01["geometry"]["type"], "Polygon", "{c2_01}");
    assert_eq!(c2_01["properties"]["parent"], "C2");
    let (status, csv) = street.download("/grids/export?format=csv");
    assert_eq!(status, 200);
    assert!(String::from_utf8(csv).unwrap().contains("C2-02"));

    // Wrong boundaries, loops and unknown grids are refused, naming the
    // field, and change nothing.
    let bad = dir.path().join("bad.geojson");
    for (text, field) in [
        (r#"{"type":"Point","coordinates":[119.6,29.0]}"#, "boundary"),
        (
            r#"{"type":"Polygon","coordinates":[[[13319000,3390000],[1,1],[2,2],[13319000,3390000]]]}"#,
            "boundary",
        ),
    ] {
        std::fs::write(&bad, text).unwrap();
        let output = gridwork_tests::gridwork(&[
            "admin",
            "--server",
            &server.url,
            "--token",
            &server.admin_token,
            "grid",
            "set",
            "--code",
            "C1-01",
            "--boundary",
            bad.to_str().unwrap(),
        ]);
        assert!(!output.status.success());
        let said = String::from_utf8_lossy(&output.stderr);
        assert!(said.contains(field) && said.contains("WGS-84"), "{said}");
    }
    for (parent, what) in [("C1-01", "itself"), ("C1", "itself"), ("NOWHERE", "NOWHERE")] {
        let output = gridwork_tests::gridwork(&[
            "admin",
            "--server",
            &server.url,
            "--token",
            &server.admin_token,
            "grid",
            "set",
            "--code",
            "C1",
            "--parent",
            parent,
        ]);
        assert!(!output.status.success(), "C1 under {parent}");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains(what),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert_eq!(server.admin(&["grid", "list"]), grids, "nothing changed");

    // Renamed and moved: C2-02 goes to C1, out of the street staff's sight.
    let moved =
        server.admin(&["grid", "set", "--code", "C2-02", "--parent", "C1", "--name", "东苑社区第三网格"]);
    assert_eq!((moved["parent"].as_str(), moved["name"].as_str()), (Some("C1"), Some("东苑社区第三网格")));
    let codes: Vec<String> = street
        .get("/grids")
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["code"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes, ["C2", "C2-01"]);
    let grids = server.admin(&["grid", "list"]);
    let moved = grids.as_array().unwrap().iter().find(|g| g["code"] == "C2-02").unwrap();
    assert_eq!(moved["level"], "unit", "one level below the community it moved to");

    // An import is checked whole before anything is written: a new grid
    // before a wrong one is not added either.
    let file = dir.path().join("wrong.geojson");
    let feature = |code: &str, parent: &str, geometry: Value| json!({"type": "Feature", "properties": {"code": code, "name": "新网格", "parent": parent}, "geometry": geometry});
    for (features, said) in [
        (
            json!([
                feature("C3", "330702001", square(119.66, 29.08, 0.008)),
                feature("C3-01", "C3", json!({"type": "Point", "coordinates": [119.6, 29.0]}))
            ]),
            "feature 1: grid C3-01's geometry is not a boundary",
        ),
        (
            json!([feature("C3-01", "C3", Value::Null), feature("C3", "330702001", Value::Null)]),
            "feature 0: grid C3-01's parent C3",
        ),
        (
            json!([feature("C3", "330702001", Value::Null), feature("C3", "330702001", Value::Null)]),
            "grid C3 is in the file twice",
        ),
    ] {
        std::fs::write(&file, json!({"type": "FeatureCollection", "features": features}).to_string())
            .unwrap();
        let refused = server.admin_refused(&["grid", "import", file.to_str().unwrap()]);
        assert!(refused.contains(said) && refused.contains("nothing was imported"), "{refused}");
    }
    let csv = dir.path().join("grids.csv");
    std::fs::write(&csv, "code,name,parent\nC3,南湖社区,330702001\nC3-01,南湖社区第一网格,C4\n").unwrap();
    let refused = server.admin_refused(&["grid", "import", csv.to_str().unwrap()]);
    assert!(refused.contains("line 3: grid C3-01's parent C4"), "{refused}");
    assert_eq!(server.admin(&["grid", "list"]), grids, "nothing changed");

    // CSV with codes, as a spreadsheet saves it (a BOM, blanks around cells).
    std::fs::write(&csv, "\u{feff}code, name ,parent\nC3,南湖社区,330702001\nC3-01, 南湖社区第一网格 ,C3\n")
        .unwrap();
    let imported = server.admin(&["grid", "import", csv.to_str().unwrap()]);
    assert_eq!(imported["added"], json!(["C3", "C3-01"]), "{imported}");
    let grids = server.admin(&["grid", "list"]);
    let grid = |code: &str| grids.as_array().unwrap().iter().find(|g| g["code"] == code).cloned().unwrap();
    assert_eq!(
        (grid("C3-01")["name"].as_str(), grid("C3-01")["parent"].as_str()),
        (Some("南湖社区第一网格"), Some("C3"))
    );
}
on_both_backends!(grids_are_imported_drawn_renamed_and_moved);

/// The console's pages and files: the app for every path outside the API,
/// with its security headers.
#[test]
fn the_server_serves_the_console() {
    let server = Server::start();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let client = reqwest::Client::new();
    let get = |path: &str| {
        runtime.block_on(async {
            let response = client.get(format!("{}{path}", server.url)).send().await.unwrap();
            let headers = response.headers().clone();
            (response.status().as_u16(), headers, response.text().await.unwrap())
        })
    };
    for path in ["/", "/cases/0123", "/login"] {
        let (status, headers, body) = get(path);
        assert_eq!(status, 200, "{path}");
        assert!(body.contains("<div id=\"app\">"), "{path}: {body}");
        let policy = headers["content-security-policy"].to_str().unwrap();
        assert!(
            policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'"),
            "{policy}"
        );
        assert_eq!(headers["x-content-type-options"], "nosniff");
    }
    let (status, _, body) = get("/api/v1/nothing-here");
    assert_eq!(status, 400, "the API's own answer, not the console: {body}");
    let (status, _, body) = get("/api/nothing");
    assert_eq!(status, 404, "{body}");
    let index = get("/").2;
    let script = index.split("src=\"").nth(1).and_then(|s| s.split('"').next()).expect("a script");
    let (status, headers, _) = get(script);
    assert_eq!(status, 200, "{script}");
    assert!(headers["content-type"].to_str().unwrap().contains("javascript"));
    assert!(headers["cache-control"].to_str().unwrap().contains("immutable"));
}

/// The XLSX the console downloaded: its rows as text, after checking that
/// no cell is a formula and every cell of text is a string.
fn xlsx_rows(path: &Path) -> Vec<Vec<String>> {
    gridwork_tests::xlsx_rows(&std::fs::read(path).expect("the export was saved"))
}

/// In headless Chromium on the demo city, as centre staff, a department's
/// handler and an admin: a case a device reported is dispatched, handled
/// and closed, and the device sees it closed; the list is exported to XLSX
/// and read back; a conflict is settled and the choice reaches the devices;
/// a device is revoked; markup in a description stays text. Screenshots of
/// the main pages go to target/screenshots (or GRIDWORK_SCREENSHOTS: the
/// README's come from `GRIDWORK_SCREENSHOTS=docs/screenshots`).
#[test]
fn the_console_end_to_end_in_chromium() {
    let (server, demo) = Server::start_demo();
    let worker = &demo["workers"][0];
    let (user, grid) = (worker["user_id"].as_str().unwrap(), worker["grid"].as_str().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let a = CliDevice::new(dir.path(), "a");
    a.enroll(&server, &server.enroll_code(user));
    a.sync();
    let b = CliDevice::new(dir.path(), "b");
    b.enroll(&server, &server.enroll_code(user));
    b.sync();
    let description = "东苑路12号井盖破损,路人易绊倒";
    let hostile =
        "<img src=x onerror=\"window.__gridworkXss=true\"><script>window.__gridworkXss=true</script>楼道堆物";
    let grid_field = format!("grid={grid}");
    let case = a.put(
        "case",
        None,
        &[
            &grid_field,
            "category=public_facilities",
            "status=reported",
            &format!("description={description}"),
        ],
    );
    a.put(
        "case",
        None,
        &[&grid_field, "category=fire_safety", "status=reported", &format!("description={hostile}")],
    );
    a.put("case", None, &[&grid_field, "category=sanitation", "status=reported", "description=@SUM(1+1)"]);
    a.sync();
    // Two tablets of the same grid change a resident's phone apart.
    let resident = a.put("resident", None, &[&grid_field, "name=张三", "phone=13800000000"]);
    a.sync();
    b.sync();
    a.put("resident", Some(&resident), &["phone=13811111111"]);
    b.put("resident", Some(&resident), &["phone=13922222222"]);
    a.sync();
    b.sync();
    let conflicts = server.admin(&["conflicts", "list"]);
    let loser = conflicts
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == resident.as_str())
        .and_then(|c| c["losers"][0]["value"].as_str())
        .unwrap_or_else(|| panic!("a conflict on the phone: {conflicts}"))
        .to_owned();
    // A resident moved to the next grid from B while A, offline, typed her
    // phone: A's edit is refused and parked for the centre.
    let next_grid = demo["workers"][1]["grid"].as_str().unwrap();
    assert_ne!(next_grid, grid, "the demo's first two workers keep different grids");
    let moved = a.put("resident", None, &[&grid_field, "name=李四", "phone=13700000001"]);
    a.sync();
    b.sync();
    b.put("resident", Some(&moved), &[&format!("grid={next_grid}")]);
    b.sync();
    a.put("resident", Some(&moved), &["phone=13700000002"]);
    assert_eq!(a.sync()["rejected"][0]["code"], "out_of_scope");
    let b_number = session_number(&b);
    let total: u64 = demo["cases"].as_u64().unwrap() + 3;

    let out = tempfile::tempdir().unwrap();
    let screenshots = std::env::var("GRIDWORK_SCREENSHOTS")
        .map(|dir| workspace_root().join(dir))
        .unwrap_or_else(|_| workspace_root().join("target/screenshots"));
    let login = |who: &str| json!({"name": demo[who]["name"], "password": demo[who]["password"]});
    let config = json!({
        "base": server.url,
        "out": out.path(),
        "staff": login("staff"),
        "handler": login("handler"),
        "admin": login("admin"),
        "department": "城市管理局",
        "case": description,
        "hostile": hostile,
        "conflict": {"loser": loser},
        "resident": "张三",
        "parked": {"field": "联系电话", "sent": "13700000002", "correction": "13700000009"},
        "revoke": b_number,
    });
    let script = workspace_root().join("server/console/e2e/console.mjs");
    let output = Command::new("node")
        .arg(&script)
        .env("GRIDWORK_E2E", config.to_string())
        .env("GRIDWORK_SCREENSHOTS", &screenshots)
        .output()
        .expect("node runs (Node.js 20; scripts/setup installs the console's packages)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let seen: Value = stdout
        .lines()
        .last()
        .and_then(|line| serde_json::from_str(line).ok())
        .unwrap_or_else(|| panic!("the browser's report: {stdout}\n{stderr}"));
    assert!(seen["failed"].is_null(), "the browser failed: {}\n{stderr}", seen["failed"]);
    assert_eq!(seen["errors"], json!([]), "errors in the page");

    // What the person at the desk saw.
    assert!(seen["wrongPassword"].as_str().is_some_and(|m| m.contains("密码")), "{seen}");
    assert_eq!(seen["total"], total, "the dashboard counts every case");
    assert_eq!(seen["dashboardActivity"], true, "the dashboard charts today's patrols and visits");
    assert_eq!(seen["reported"], "已上报");
    assert_eq!(seen["steps"], json!(["已受理", "已派遣", "已处置", "已结案"]));
    assert_eq!(seen["dispatchedTo"], "城市管理局");
    let handler_steps: Vec<&str> =
        seen["handlerSteps"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(
        handler_steps,
        ["step-transfer", "step-return", "step-handle"],
        "a handler's steps, no closing"
    );
    assert_eq!(seen["hostileRan"], false);
    assert_eq!(seen["hostileRanOnCase"], false);
    assert_eq!(seen["hostileImages"], 0);
    assert_eq!(seen["hostileShown"], hostile, "markup is shown as typed");
    // 12 unit grids and 4 communities drawn, and open cases on them.
    assert!(
        seen["mapShapes"].as_u64().is_some_and(|n| n > 16),
        "the demo's grids and cases are drawn: {seen}"
    );
    assert_eq!(seen["english"], true);
    // The demo's workers each patrolled today (and made two visits): the
    // routes on the map and the day's lists.
    let workers = demo["workers"].as_array().unwrap().len() as u64;
    assert_eq!(seen["mapRoutes"], format!("{} 巡查路线 {workers} 条", today_in_the_city()), "{seen}");
    assert_eq!(
        (&seen["activityWorkers"], &seen["activityPatrols"], &seen["activityVisits"]),
        (&json!(workers), &json!(workers), &json!(2 * workers)),
        "{seen}"
    );
    assert_eq!(seen["periodWorkers"], workers, "each worker over the week: {seen}");
    // The registry's history of the phone: the kept value first, written by
    // the centre.
    let phone = seen["registryPhone"].as_str().unwrap_or_default();
    assert!(phone.starts_with("当前值") && phone.contains(&loser) && phone.contains("中心"), "{seen}");
    // The refused phone, corrected at the desk and applied: the record in
    // its new grid holds the correction, and nothing is parked any more.
    assert_eq!(seen["parkedSent"], "13700000002", "the reviewer saw what was typed: {seen}");
    let centre = Console::login(&server, demo["staff"]["name"].as_str().unwrap(), "gridwork-demo");
    let record = centre.get(&format!("/records/{moved}"));
    assert_eq!(
        (record["grid"].as_str(), &record["fields"]["phone"]),
        (Some(next_grid), &json!("13700000009"))
    );
    assert_eq!(server.admin(&["parked", "list"])["total"], 0);

    // The registry as searched, exported: the resident by name.
    let registry = xlsx_rows(Path::new(seen["registryXlsx"].as_str().unwrap()));
    assert_eq!(registry[0][..3], ["编号", "网格", "姓名"]);
    assert!(registry[1..].iter().any(|r| r[0] == resident && r[2] == "张三"), "{registry:?}");
    assert!(registry[1..].iter().all(|r| r[2].starts_with('张')), "only the search's matches: {registry:?}");

    // The export, read back: every case the staff sees.
    let rows = xlsx_rows(Path::new(seen["xlsx"].as_str().unwrap()));
    assert_eq!(rows[0][..4], ["事件编号", "网格", "类别", "状态"]);
    assert_eq!(rows.len() as u64, total + 1, "a header and every case");
    let row = rows
        .iter()
        .find(|r| r[0] == case)
        .unwrap_or_else(|| panic!("the case is exported: {:?}", &rows[..3]));
    assert!(row[1].ends_with(&format!("({grid})")), "{row:?}");
    assert_eq!((row[2].as_str(), row[3].as_str(), row[5].as_str()), ("公共设施", "已上报", description));
    assert!(rows.iter().any(|r| r[5] == "@SUM(1+1)"), "the formula stays text, as typed");
    assert!(rows.iter().any(|r| r[5] == hostile));

    // What reached the devices.
    a.sync();
    let on_tablet = a.get("case", &case);
    assert_eq!(on_tablet["status"], "closed", "{on_tablet}");
    assert_eq!(on_tablet["department"], "city_management");
    assert_eq!(on_tablet["result"], "经核查已处置到位,予以办结");
    assert_eq!(a.get("resident", &resident)["phone"], loser.as_str(), "the kept value reached the device");
    let refused = b.try_run(&["sync"]);
    assert!(!refused.status.success(), "a revoked device cannot sync");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("revoked"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    // The trail on the server names everyone.
    let trail = centre.get(&format!("/cases/{case}"))["steps"].clone();
    let steps: Vec<(&str, &str)> = trail
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["step"].as_str().unwrap(), s["user_name"].as_str().unwrap_or("")))
        .collect();
    let (worker, staff, handler) = (
        worker["name"].as_str().unwrap(),
        demo["staff"]["name"].as_str().unwrap(),
        demo["handler"]["name"].as_str().unwrap(),
    );
    assert_eq!(
        steps,
        [("report", worker), ("accept", staff), ("dispatch", staff), ("handle", handler), ("close", staff)]
    );
    for page in
        ["dashboard", "cases", "case", "map", "activity", "conflicts", "registry", "parked", "devices"]
    {
        let file = screenshots.join(format!("console-{page}.png"));
        assert!(std::fs::metadata(&file).is_ok_and(|m| m.len() > 10_000), "{} was taken", file.display());
    }
}

/// Today's date in the city's zone, `2026-11-28`.
fn today_in_the_city() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    chrono::DateTime::from_timestamp_millis(now.as_millis() as i64)
        .unwrap()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .date_naive()
        .to_string()
}

/// A device's number, as the server lists it.
fn session_number(device: &CliDevice) -> u32 {
    gridwork_tests::session_of(&device.db).1.0
}
