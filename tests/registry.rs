//! The registry the console reviews (`GET /api/v1/records`,
//! `GET /api/v1/records/{id}`, `gridwork admin record`), on both backends,
//! against the real server with real devices: the grid subtree, tag,
//! residence and search filters; paging by cursor; the history of a field
//! two devices wrote concurrently; who may see what; bad parameters.

use std::collections::BTreeSet;

use gridwork_tests::{Backend, Console, Server, department, on_both_backends, person};
use serde_json::Value;

/// An 18-character ID-card number with its GB 11643 check character.
fn id_number(first17: &str) -> String {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = first17.chars().zip(WEIGHTS).map(|(c, w)| c.to_digit(10).unwrap() * w).sum();
    let check = b"10X98765432"[(sum % 11) as usize] as char;
    format!("{first17}{check}")
}

/// The ids of a list's items, in order.
fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("a page: {page}"))
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Every page of a list, `limit` at a time, following `next`.
fn all_pages(console: &Console, query: &str, limit: usize) -> Vec<String> {
    let mut found = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..100 {
        let path = match &after {
            None => format!("/records?{query}&limit={limit}"),
            Some(cursor) => format!("/records?{query}&limit={limit}&after={cursor}"),
        };
        let page = console.get(&path);
        let items = ids(&page);
        assert!(items.len() <= limit, "{page}");
        found.extend(items);
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => return found,
        }
    }
    panic!("paging does not end")
}

/// The status and the error's message of a call that must fail.
fn refused(console: &Console, path: &str) -> (u16, String) {
    let (status, body) = console.call(reqwest::Method::GET, path, None);
    (status, body["error"]["message"].as_str().unwrap_or_default().to_owned())
}

fn the_registry_lists_filters_pages_and_shows_each_fields_history(backend: Backend) {
    let server = Server::start_on(backend);
    server.city();
    // A second street with its own community.
    server.grid("330702002", "江南街道", Some("330702"));
    server.grid("C3", "南湖社区", Some("330702002"));
    server.grid("C3-01", "南湖社区第一网格", Some("C3"));
    department(&server, "civil_affairs", "民政局", "Civil affairs");
    person(&server, "值班员", "staff", &[]);
    person(&server, "城东街道员", "staff", &["--grid", "330702001"]);
    person(&server, "江南街道员", "staff", &["--grid", "330702002"]);
    person(&server, "民政员", "handler", &["--department", "civil_affairs"]);
    let dir = tempfile::tempdir().unwrap();
    let a = server.enrolled(dir.path(), "a", "网格员甲", &["C1"]);
    let b = server.enrolled(dir.path(), "b", "网格员乙", &["C1"]);
    let west = server.enrolled(dir.path(), "west", "网格员丙", &["C2"]);
    let south = server.enrolled(dir.path(), "south", "网格员丁", &["C3"]);

    // Residents across the tree, some tagged, of several residence types.
    let zhang = a.put(
        "resident",
        None,
        &[
            "grid=C1-01",
            "name=张三",
            &format!("id_number={}", id_number("33070219500101123")),
            "phone=13800000001",
            "residence_type=registered",
            "tags=elderly_alone",
        ],
    );
    let li =
        a.put("resident", None, &["grid=C1-01", "name=李四", "residence_type=floating", "phone=13900000002"]);
    let mut c1: Vec<String> = vec![zhang.clone(), li.clone()];
    for i in 0..8 {
        let grid = if i % 2 == 0 { "C1-01" } else { "C1-02" };
        let tags = if i == 3 { "tags=elderly_alone,disabled" } else { "tags=" };
        c1.push(a.put(
            "resident",
            None,
            &[&format!("grid={grid}"), &format!("name=王{i}"), "residence_type=permanent", tags],
        ));
    }
    let gone = a.put("resident", None, &["grid=C1-02", "name=张已删"]);
    a.put("resident", Some(&gone), &["deleted=true"]);
    let household =
        a.put("household", None, &["grid=C1-01", "address=东苑小区1幢101", "head=张三", "tags=low_income"]);
    a.sync();
    let mut c2 = Vec::new();
    for i in 0..4 {
        c2.push(west.put(
            "resident",
            None,
            &["grid=C2-01", &format!("name=赵{i}"), "residence_type=floating"],
        ));
    }
    let building = west.put("building", None, &["grid=C2-01", "address=西山路8号", "name=西山大厦"]);
    west.sync();
    let far = south.put(
        "resident",
        None,
        &["grid=C3-01", "name=张远", "residence_type=registered", "tags=elderly_alone"],
    );
    south.sync();

    let centre = Console::login(&server, "值班员", "correct horse");
    let east = Console::login(&server, "城东街道员", "correct horse");
    let southern = Console::login(&server, "江南街道员", "correct horse");
    let handler = Console::login(&server, "民政员", "correct horse");
    let set = |list: Vec<String>| list.into_iter().collect::<BTreeSet<_>>();

    // The city, a grid's subtree, deleted records left out.
    let everyone = ids(&centre.get("/records?kind=resident&limit=200"));
    assert_eq!(everyone.len(), c1.len() + c2.len() + 1, "{everyone:?}");
    assert!(!everyone.contains(&gone), "a deleted resident is not listed");
    assert_eq!(set(ids(&centre.get("/records?kind=resident&grid=C1&limit=200"))), set(c1.clone()));
    let street: Vec<String> = c1.iter().chain(&c2).cloned().collect();
    assert_eq!(set(ids(&centre.get("/records?kind=resident&grid=330702001&limit=200"))), set(street.clone()));
    assert_eq!(ids(&centre.get("/records?kind=resident&grid=C1-02&limit=200")).len(), 4);
    let (status, body) = centre.call(reqwest::Method::GET, "/records?kind=resident&grid=NOSUCH", None);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found")),
        "an unknown grid is said: {body}"
    );
    assert!(refused(&centre, "/records?kind=resident&grid=NOSUCH").1.contains("NOSUCH"), "{body}");

    // An item: its title, grid and values.
    let first = centre.get("/records?kind=resident&grid=C3");
    assert_eq!(first["items"][0]["title"], "张远");
    assert_eq!(first["items"][0]["grid"], "C3-01");
    assert_eq!(first["items"][0]["kind"], "resident");
    assert_eq!(first["items"][0]["fields"]["tags"], serde_json::json!(["elderly_alone"]));
    assert_eq!(first["next"], Value::Null);

    // Tag, residence type, search by name, phone and ID-number prefix.
    assert_eq!(
        set(ids(&centre.get("/records?kind=resident&tag=elderly_alone"))),
        set(vec![zhang.clone(), c1[5].clone(), far.clone()])
    );
    assert_eq!(
        set(ids(&centre.get("/records?kind=resident&tag=elderly_alone&grid=C1"))),
        set(vec![zhang.clone(), c1[5].clone()])
    );
    assert_eq!(ids(&centre.get("/records?kind=resident&tag=disabled")), vec![c1[5].clone()]);
    let floating: Vec<String> = std::iter::once(li.clone()).chain(c2.iter().cloned()).collect();
    assert_eq!(set(ids(&centre.get("/records?kind=resident&residence=floating&limit=200"))), set(floating));
    assert_eq!(set(ids(&centre.get("/records?kind=resident&q=张"))), set(vec![zhang.clone(), far.clone()]));
    assert_eq!(ids(&centre.get("/records?kind=resident&q=张&grid=C1")), vec![zhang.clone()]);
    assert_eq!(
        ids(&centre.get("/records?kind=resident&q=张&tag=elderly_alone&residence=registered&grid=C1")),
        vec![zhang.clone()]
    );
    assert_eq!(ids(&centre.get("/records?kind=resident&q=1390000")), vec![li.clone()]);
    assert_eq!(ids(&centre.get("/records?kind=resident&q=3307021950")), vec![zhang.clone()]);
    assert_eq!(centre.get("/records?kind=resident&q=钱")["items"], serde_json::json!([]));
    assert_eq!(ids(&centre.get("/records?kind=household&tag=low_income")), vec![household.clone()]);
    assert_eq!(ids(&centre.get("/records?kind=household&q=东苑")), vec![household.clone()]);
    let buildings = centre.get("/records?kind=building&q=西山");
    assert_eq!(ids(&buildings), vec![building.clone()]);
    assert_eq!(buildings["items"][0]["title"], "西山大厦");

    // Paging by cursor: every record exactly once, in one stable order,
    // with or without filters.
    for limit in [1, 3, 7] {
        let paged = all_pages(&centre, "kind=resident", limit);
        assert_eq!(paged, everyone, "pages of {limit}");
        let searched = all_pages(&centre, "kind=resident&q=王", limit);
        assert_eq!(searched.len(), 8, "{searched:?}");
        assert_eq!(set(searched), set(c1[2..].to_vec()));
    }
    assert_eq!(all_pages(&centre, "kind=resident&residence=permanent", 3).len(), 8);

    // A field two devices wrote concurrently: both versions, with writers.
    a.sync();
    b.sync();
    a.put("resident", Some(&zhang), &["phone=13811111111"]);
    b.put("resident", Some(&zhang), &["phone=13922222222"]);
    a.sync();
    b.sync();
    let view = centre.get(&format!("/records/{zhang}"));
    assert_eq!(
        (view["kind"].as_str(), view["grid"].as_str(), view["deleted"].as_bool()),
        (Some("resident"), Some("C1-01"), Some(false))
    );
    let phone = view["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["field"] == "phone")
        .expect("the phone's history")
        .clone();
    assert_eq!((phone["label_zh"].as_str(), phone["label_en"].as_str()), (Some("联系电话"), Some("Phone")));
    assert_eq!(phone["in_conflict"], true, "{phone}");
    let versions = phone["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2, "{phone}");
    assert_eq!(versions.iter().filter(|v| v["winner"] == true).count(), 1);
    assert_eq!(versions[0]["winner"], true, "the winner comes first");
    assert_eq!(view["fields"]["phone"], versions[0]["value"]);
    let values: BTreeSet<&str> = versions.iter().map(|v| v["value"].as_str().unwrap()).collect();
    assert_eq!(values, BTreeSet::from(["13811111111", "13922222222"]));
    let writers: BTreeSet<&str> =
        versions.iter().map(|v| v["writer"]["user_name"].as_str().unwrap()).collect();
    assert_eq!(writers, BTreeSet::from(["网格员甲", "网格员乙"]));
    for version in versions {
        assert!(version["writer"]["number"].as_u64().unwrap() > 0);
        assert!(version["writer"]["device_id"].is_string() && version["writer"]["user_id"].is_string());
        assert!(
            version["counter"].as_u64().unwrap() >= 1
                && version["at_ms"].as_u64().unwrap() > 1_600_000_000_000
        );
    }
    let name = view["history"].as_array().unwrap().iter().find(|h| h["field"] == "name").unwrap();
    assert_eq!(
        (name["in_conflict"].as_bool(), name["versions"][0]["value"].as_str()),
        (Some(false), Some("张三"))
    );
    // Settled at the centre: the server's own write, number 0.
    let settle =
        serde_json::json!({"kind": "resident", "id": zhang, "field": "phone", "value": "13811111111"});
    let (status, answer) = centre.call(reqwest::Method::POST, "/admin/conflicts/settle", Some(settle));
    assert_eq!(status, 200, "{answer}");
    let view = centre.get(&format!("/records/{zhang}"));
    let phone = view["history"].as_array().unwrap().iter().find(|h| h["field"] == "phone").unwrap();
    assert_eq!(phone["in_conflict"], false);
    assert_eq!(
        phone["versions"][0]["writer"],
        serde_json::json!({"number": 0, "device_id": null, "user_id": null, "user_name": null})
    );
    // A deleted record is shown whole, marked deleted.
    assert_eq!(centre.get(&format!("/records/{gone}"))["deleted"], true);

    // Scope: a street's staff see their street only; the other street's
    // records are neither listed nor read (404, as for no record at all).
    assert_eq!(set(ids(&east.get("/records?kind=resident&limit=200"))), set(street.clone()));
    assert_eq!(ids(&southern.get("/records?kind=resident&limit=200")), vec![far.clone()]);
    // Another street's grid is as unknown as one that does not exist.
    let (status, other) = refused(&southern, "/records?kind=resident&grid=C1");
    assert_eq!(status, 404, "{other}");
    assert_eq!(other.replace("C1", "C9"), refused(&southern, "/records?kind=resident&grid=C9").1);
    assert_eq!(southern.get("/records?kind=resident&q=张三")["items"], serde_json::json!([]));
    assert_eq!(
        southern.get("/records?kind=resident&tag=elderly_alone"),
        southern.get("/records?kind=resident&grid=C3&tag=elderly_alone")
    );
    assert_eq!(southern.get(&format!("/records/{far}"))["id"], far.as_str());
    let missing = "01890a5d-ac96-774b-bcce-b302099a8057";
    for (console, id) in
        [(&southern, &zhang), (&southern, &household), (&east, &far), (&centre, &missing.to_owned())]
    {
        let (status, body) = console.call(reqwest::Method::GET, &format!("/records/{id}"), None);
        assert_eq!(status, 404, "{id}: {body}");
        assert_eq!(body["error"]["code"], "not_found");
    }
    // A case is not a registry record.
    a.put("case", None, &["grid=C1-01", "category=sanitation", "status=reported", "description=垃圾"]);
    a.sync();
    let case = centre.get("/cases")["items"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(refused(&centre, &format!("/records/{case}")).0, 404);
    assert_eq!(refused(&centre, "/records/not-an-id").0, 404);
    // Handlers see cases, not the registry; devices sync instead.
    assert_eq!(refused(&handler, "/records?kind=resident").0, 403);
    assert_eq!(refused(&handler, &format!("/records/{zhang}")).0, 403);
    let device = Console::with_token(&server, &a.token());
    assert_eq!(refused(&device, "/records?kind=resident").0, 403);

    // The list as filtered, exported whole: ids, grids and labels as people
    // read them; a street's staff export their street's only; each export
    // leaves an audit line with the filter, not the values.
    let (status, bytes) = centre.download("/records/export?format=xlsx&kind=resident&tag=elderly_alone");
    assert_eq!(status, 200);
    let rows = gridwork_tests::xlsx_rows(&bytes);
    assert_eq!(rows[0][..5], ["编号", "网格", "姓名", "身份证号", "性别"]);
    let exported: BTreeSet<String> = rows[1..].iter().map(|r| r[0].clone()).collect();
    assert_eq!(exported, set(vec![zhang.clone(), c1[5].clone(), far.clone()]));
    let row = rows.iter().find(|r| r[0] == zhang).unwrap();
    let column = |name: &str| rows[0].iter().position(|h| h == name).unwrap();
    assert_eq!(row[1], "东苑社区第一网格 (C1-01)");
    assert_eq!((row[column("姓名")].as_str(), row[column("人口类型")].as_str()), ("张三", "户籍人口"));
    assert_eq!(row[column("特殊人群")], "独居老人");
    let (status, csv) = southern.download("/records/export?format=csv&kind=resident&lang=en");
    assert_eq!(status, 200);
    let csv = String::from_utf8(csv).unwrap();
    assert!(csv.starts_with("\u{feff}Id,Grid,Name,"), "{csv}");
    assert_eq!(csv.lines().count(), 2, "the header and the street's one resident: {csv}");
    assert!(csv.contains(&far) && csv.contains("Elderly living alone"), "{csv}");
    assert_eq!(refused(&handler, "/records/export?format=xlsx&kind=resident").0, 403);
    assert_eq!(refused(&southern, "/records/export?format=xlsx&kind=resident&grid=C1").0, 404);
    assert_eq!(refused(&centre, "/records/export?format=pdf&kind=resident").0, 400);
    let (status, message) = refused(&centre, "/records/export?format=xlsx&kind=case");
    assert!(status == 422 && message.contains("`kind`"), "{status} {message}");
    let lines = server.sql("SELECT detail FROM audit WHERE action = 'records_export'");
    assert_eq!(lines.lines().count(), 2, "{lines}");
    assert!(lines.contains("\"rows\":3") && !lines.contains("张"), "{lines}");

    // Bad parameters: 422 naming the parameter; nothing listed, nothing
    // changed.
    for (query, named) in [
        ("kind=case", "kind"),
        ("", "kind"),
        ("kind=resident&limit=0", "limit"),
        ("kind=resident&limit=201", "limit"),
        ("kind=resident&limit=many", "limit"),
        ("kind=resident&after=garbage", "after"),
        ("kind=resident&tag=vip", "tag"),
        ("kind=building&tag=elderly_alone", "tag"),
        ("kind=household&residence=floating", "residence"),
        ("kind=resident&residence=tourist", "residence"),
        ("kind=resident&grid=no%20such%20grid", "grid"),
    ] {
        let (status, message) = refused(&centre, &format!("/records?{query}"));
        assert_eq!(status, 422, "{query}: {message}");
        assert!(message.contains(&format!("`{named}`")), "{query}: {message}");
    }
    assert_eq!(ids(&centre.get("/records?kind=resident&limit=200")), everyone);

    // The command line lists and shows the same.
    let listed =
        server.admin(&["record", "list", "--kind", "resident", "--grid", "C1", "--tag", "elderly_alone"]);
    assert_eq!(set(ids(&listed)), set(vec![zhang.clone(), c1[5].clone()]));
    let page = server.admin(&["record", "list", "--kind", "resident", "--limit", "2"]);
    assert_eq!(ids(&page), everyone[..2]);
    let next = page["next"].as_str().unwrap();
    let page = server.admin(&["record", "list", "--kind", "resident", "--limit", "2", "--after", next]);
    assert_eq!(ids(&page), everyone[2..4]);
    let shown = server.admin(&["record", "show", &zhang]);
    assert_eq!(
        (shown["id"].as_str(), shown["fields"]["name"].as_str()),
        (Some(zhang.as_str()), Some("张三"))
    );

    // Tags changed or removed on a tablet move in and out of the filter.
    a.sync();
    a.put("resident", Some(&c1[5]), &["tags=veteran"]);
    a.put("resident", Some(&zhang), &["deleted=true"]);
    a.sync();
    assert_eq!(ids(&centre.get("/records?kind=resident&tag=elderly_alone")), vec![far.clone()]);
    assert_eq!(centre.get("/records?kind=resident&tag=disabled")["items"], serde_json::json!([]));
    assert_eq!(ids(&centre.get("/records?kind=resident&tag=veteran")), vec![c1[5].clone()]);

    // Reading a record is in the audit trail (who and which, not what).
    if backend == Backend::Postgres {
        let reads: u64 =
            server.sql("SELECT count(*) FROM audit WHERE action = 'record_read'").parse().unwrap();
        assert!(reads >= 5, "{reads}");
        let details = server.sql("SELECT DISTINCT detail FROM audit WHERE action = 'record_read'");
        assert!(!details.contains("138") && !details.contains("张"), "{details}");
    }
}

on_both_backends!(the_registry_lists_filters_pages_and_shows_each_fields_history);

/// A PostgreSQL database from before the registry's tables: the migration
/// that makes them fills them from the records' bodies.
#[test]
fn postgres_fills_the_registry_from_records_stored_before_it() {
    let mut server = Server::start_on(Backend::Postgres);
    server.city();
    person(&server, "值班员", "staff", &[]);
    let dir = tempfile::tempdir().unwrap();
    let a = server.enrolled(dir.path(), "a", "网格员甲", &["C1"]);
    let zhang = a.put("resident", None, &["grid=C1-01", "name=张三", "tags=elderly_alone"]);
    let household = a.put("household", None, &["grid=C1-02", "address=东苑小区2幢", "tags=low_income"]);
    let gone = a.put("resident", None, &["grid=C1-01", "name=李已删"]);
    a.put("resident", Some(&gone), &["deleted=true"]);
    a.sync();
    server.stop();
    // Back to migration 8: no registry tables (nor those after).
    server.sql(
        "DROP TABLE registry; DROP TABLE registry_tags; DROP TABLE activity;
         DROP INDEX parked_grid; DROP INDEX parked_record; ALTER TABLE parked DROP COLUMN grid;
         DELETE FROM schema_migrations WHERE version >= 9",
    );
    server.serve();
    let centre = Console::login(&server, "值班员", "correct horse");
    assert_eq!(ids(&centre.get("/records?kind=resident")), vec![zhang.clone()]);
    assert_eq!(ids(&centre.get("/records?kind=resident&tag=elderly_alone&q=张")), vec![zhang]);
    assert_eq!(ids(&centre.get("/records?kind=household&tag=low_income&grid=C1-02")), vec![household]);
}

/// The ids of a day's patrols or visits, in order.
fn day_ids(day: &Value, list: &str) -> Vec<String> {
    day[list]
        .as_array()
        .unwrap_or_else(|| panic!("a day: {day}"))
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Patrols and visits by day (in the city's zone, whatever offset a tablet
/// wrote), grid subtree and worker, with each worker's tally; street staff
/// see their street's only, a handler none; bad parameters are named.
fn a_days_patrols_and_visits_by_grid_and_worker(backend: Backend) {
    let server = Server::start_on(backend);
    server.city();
    server.grid("330702002", "江南街道", Some("330702"));
    server.grid("C3", "南湖社区", Some("330702002"));
    department(&server, "civil_affairs", "民政局", "Civil affairs");
    person(&server, "值班员", "staff", &[]);
    person(&server, "城东街道员", "staff", &["--grid", "330702001"]);
    person(&server, "民政员", "handler", &["--department", "civil_affairs"]);
    let dir = tempfile::tempdir().unwrap();
    let a = server.enrolled(dir.path(), "a", "网格员甲", &["C1"]);
    let west = server.enrolled(dir.path(), "west", "网格员丙", &["C2"]);
    let south = server.enrolled(dir.path(), "south", "网格员丁", &["C3"]);

    let route = r#"route={"type":"LineString","coordinates":[[119.641,29.081],[119.643,29.081]]}"#;
    let morning = a.put(
        "patrol",
        None,
        &[
            "grid=C1-01",
            "worker=网格员甲",
            "started_at=2026-11-20T08:30:00+08:00",
            "ended_at=2026-11-20T10:00:00+08:00",
            route,
            "items=fire_safety,sanitation",
        ],
    );
    // 23:30 UTC on the 20th is 07:30 on the 21st in the city.
    let next_day =
        a.put("patrol", None, &["grid=C1-02", "worker=网格员甲", "started_at=2026-11-20T23:30:00Z"]);
    let day_before =
        a.put("patrol", None, &["grid=C1-01", "worker=网格员甲", "started_at=2026-11-19T23:59:00+08:00"]);
    let gone =
        a.put("patrol", None, &["grid=C1-01", "worker=网格员甲", "started_at=2026-11-20T12:00:00+08:00"]);
    // The farthest offsets RFC 3339 allows: 20:00 at -20:00 on the 18th is
    // midnight starting the 20th in the city; 02:30 UTC is 10:30 there,
    // after 08:30 at +08:00 although its text sorts first.
    let far_offset =
        a.put("patrol", None, &["grid=C1-01", "worker=网格员甲", "started_at=2026-11-18T20:00:00-20:00"]);
    let late_utc =
        a.put("patrol", None, &["grid=C1-02", "worker=网格员甲", "started_at=2026-11-20T02:30:00Z"]);
    let household = a.put("household", None, &["grid=C1-01", "address=东苑小区1幢101室"]);
    let visit = a.put(
        "visit",
        None,
        &[
            "grid=C1-01",
            &format!("household={household}"),
            "visited_at=2026-11-20T15:00:00+08:00",
            "purpose=care",
            "worker=网格员甲",
        ],
    );
    a.sync();
    a.put("patrol", Some(&gone), &["deleted=true"]);
    a.sync();
    let west_patrol = west.put(
        "patrol",
        None,
        &[
            "grid=C2-01",
            "worker=网格员丙",
            "started_at=2026-11-20T09:00:00+08:00",
            "ended_at=2026-11-20T09:45:00+08:00",
        ],
    );
    west.sync();
    let south_patrol =
        south.put("patrol", None, &["grid=C3", "worker=网格员丁", "started_at=2026-11-20T07:00:00+08:00"]);
    south.sync();

    let centre = Console::login(&server, "值班员", "correct horse");
    let day = centre.get("/activity?day=2026-11-20");
    assert_eq!(day["day"], "2026-11-20");
    assert_eq!(
        day_ids(&day, "patrols"),
        [far_offset.clone(), south_patrol.clone(), morning.clone(), west_patrol.clone(), late_utc.clone()],
        "earliest first"
    );
    assert_eq!(day_ids(&day, "visits"), std::slice::from_ref(&visit));
    assert_eq!(day["truncated"], false);
    let shown = &day["patrols"][2];
    assert_eq!((shown["grid"].as_str(), shown["title"].as_str()), (Some("C1-01"), Some("网格员甲")));
    assert!(shown["fields"]["route"].as_str().is_some_and(|r| r.contains("LineString")), "{shown}");
    let tally: Vec<(String, u64, u64, u64)> = day["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["worker"].as_str().unwrap().to_owned(),
                w["patrols"].as_u64().unwrap(),
                w["visits"].as_u64().unwrap(),
                w["patrol_minutes"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        tally,
        [
            ("网格员甲".to_owned(), 3, 1, 90),
            ("网格员丙".to_owned(), 1, 0, 45),
            ("网格员丁".to_owned(), 1, 0, 0),
        ]
    );
    // Over a span of days: each worker's patrols, visits and days worked,
    // the days counted in the city's zone (so the far offsets fall inside).
    let period = |console: &Console, query: &str| -> Vec<(String, u64, u64, u64)> {
        let answer = console.get(&format!("/activity/period?{query}"));
        answer["workers"]
            .as_array()
            .unwrap_or_else(|| panic!("{answer}"))
            .iter()
            .map(|w| {
                let n = |k: &str| w[k].as_u64().unwrap();
                (w["worker"].as_str().unwrap().to_owned(), n("patrols"), n("visits"), n("days"))
            })
            .collect()
    };
    let who = |name: &str, p, v, d| (name.to_owned(), p, v, d);
    assert_eq!(
        period(&centre, "from=2026-11-19&to=2026-11-21"),
        [who("网格员甲", 5, 1, 3), who("网格员丁", 1, 0, 1), who("网格员丙", 1, 0, 1)],
        "most patrols first, then by name"
    );
    assert_eq!(
        period(&centre, "from=2026-11-20&to=2026-11-20"),
        [who("网格员甲", 3, 1, 1), who("网格员丁", 1, 0, 1), who("网格员丙", 1, 0, 1)],
        "one day's span counts as the day's tally"
    );
    assert_eq!(period(&centre, "from=2026-11-21&to=2026-11-22&grid=C1"), [who("网格员甲", 1, 0, 1)]);
    let whole = centre.get("/activity/period?from=2026-11-19&to=2026-11-21");
    assert_eq!(
        (&whole["patrols"], &whole["visits"], &whole["truncated"]),
        (&7.into(), &1.into(), &false.into())
    );
    for (query, named) in [
        ("from=2026-11-21&to=2026-11-19", "`to`"),
        ("from=2026-10-01&to=2026-11-20", "`from`"),
        ("from=2026-11-31", "`from`"),
        ("to=yesterday", "`to`"),
        ("from=2026-11-19&grid=no%20such", "`grid`"),
    ] {
        let (status, message) = refused(&centre, &format!("/activity/period?{query}"));
        assert_eq!(status, 422, "{query}: {message}");
        assert!(message.contains(named), "{query}: {message}");
    }
    let (status, bytes) =
        centre.download("/activity/period/export?format=xlsx&from=2026-11-19&to=2026-11-21");
    assert_eq!(status, 200);
    let rows = gridwork_tests::xlsx_rows(&bytes);
    assert_eq!(rows[0][..4], ["网格员", "巡查次数", "走访次数", "在岗天数"]);
    assert_eq!(rows[1][..4], ["网格员甲", "5", "1", "3"]);
    assert_eq!(rows.len(), 4);
    assert_eq!(day_ids(&centre.get("/activity?day=2026-11-21"), "patrols"), [next_day]);
    assert_eq!(day_ids(&centre.get("/activity?day=2026-11-19"), "patrols"), [day_before]);
    assert_eq!(
        day_ids(&centre.get("/activity?day=2026-11-20&grid=C1"), "patrols"),
        [far_offset.clone(), morning.clone(), late_utc.clone()]
    );
    let one = centre.get("/activity?day=2026-11-20&worker=%E7%BD%91%E6%A0%BC%E5%91%98%E4%B8%99");
    assert_eq!(day_ids(&one, "patrols"), std::slice::from_ref(&west_patrol));
    assert_eq!(day_ids(&one, "visits"), Vec::<String>::new());
    // Today, in the city's zone, when no day is asked for.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let today = chrono::DateTime::from_timestamp_millis(now.as_millis() as i64)
        .unwrap()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .date_naive()
        .to_string();
    assert_eq!(centre.get("/activity")["day"], today.as_str());

    // A street's staff see their street; a handler has no registry.
    let street = Console::login(&server, "城东街道员", "correct horse");
    assert_eq!(
        day_ids(&street.get("/activity?day=2026-11-20"), "patrols"),
        [far_offset, morning.clone(), west_patrol, late_utc]
    );
    // Another street's grid is not found, as an unknown one is.
    let (status, message) = refused(&street, "/activity?day=2026-11-20&grid=C3");
    assert_eq!(status, 404, "{message}");
    assert_eq!(message.replace("C3", "C9"), refused(&street, "/activity?day=2026-11-20&grid=C9").1);
    let handler = Console::login(&server, "民政员", "correct horse");
    assert_eq!(refused(&handler, "/activity?day=2026-11-20").0, 403);

    // A day's lists exported as shown (routes left out), audited.
    let shown = day_ids(&centre.get("/activity?day=2026-11-20&grid=C1"), "patrols");
    let (status, bytes) = centre.download("/activity/export?format=xlsx&kind=patrol&day=2026-11-20&grid=C1");
    assert_eq!(status, 200);
    let rows = gridwork_tests::xlsx_rows(&bytes);
    assert_eq!(rows[0][..4], ["编号", "网格", "网格员", "开始时间"]);
    assert!(!rows[0].iter().any(|h| h == "巡查路线"), "{:?}", rows[0]);
    assert_eq!(rows[1..].iter().map(|r| r[0].clone()).collect::<Vec<_>>(), shown, "the same rows, in order");
    let (status, csv) = street.download("/activity/export?format=csv&kind=visit&day=2026-11-20&lang=en");
    assert_eq!(status, 200);
    let csv = String::from_utf8(csv).unwrap();
    assert!(csv.starts_with("\u{feff}Id,Grid,Household,"), "{csv}");
    assert_eq!(refused(&handler, "/activity/export?format=csv&kind=visit").0, 403);
    let (status, message) = refused(&centre, "/activity/export?format=csv&kind=route");
    assert!(status == 422 && message.contains("`kind`"), "{status} {message}");
    assert_eq!(server.sql("SELECT count(*) FROM audit WHERE action = 'activity_export'"), "2");

    for (query, named) in [
        ("day=2026-13-01", "day"),
        ("day=20261120", "day"),
        ("day=2026-11-20T00:00", "day"),
        ("day=2026-11-20&grid=no%20such", "grid"),
        ("day=2026-11-20&worker=", ""),
    ] {
        if named.is_empty() {
            // An empty parameter is not given.
            assert_eq!(day_ids(&centre.get(&format!("/activity?{query}")), "patrols").len(), 5);
            continue;
        }
        let (status, message) = refused(&centre, &format!("/activity?{query}"));
        assert_eq!(status, 422, "{query}: {message}");
        assert!(message.contains(&format!("`{named}`")), "{query}: {message}");
    }
    let (status, message) = refused(&centre, "/activity?day=2026-11-20&when=now");
    assert_eq!(status, 400, "an unknown parameter: {message}");
    assert!(message.contains("when"), "{message}");

    if backend == Backend::Postgres {
        // A database from before the day's table: the migration fills it.
        let mut server = server;
        server.stop();
        // (And from before parked refusals kept their grid.)
        server.sql(
            "DROP TABLE activity; DROP INDEX parked_grid; DROP INDEX parked_record; ALTER TABLE parked DROP COLUMN grid;
             DELETE FROM schema_migrations WHERE version >= 10",
        );
        server.serve();
        let centre = Console::login(&server, "值班员", "correct horse");
        let day = centre.get("/activity?day=2026-11-20&grid=330702001");
        assert_eq!(day_ids(&day, "patrols").len(), 4);
        assert_eq!(day_ids(&day, "visits"), [visit]);
    }
}

on_both_backends!(a_days_patrols_and_visits_by_grid_and_worker);

/// Long routes cut a day's page (8 MiB of routes at most), not its
/// exports, which leave routes out: each list exports whole.
fn a_days_exports_are_not_cut_by_routes(backend: Backend) {
    let server = Server::start_on(backend);
    server.city();
    person(&server, "值班员", "staff", &[]);
    let dir = tempfile::tempdir().unwrap();
    let a = server.enrolled(dir.path(), "a", "网格员甲", &["C1"]);
    // 90 patrols of a 99,000-character route: 8.9 MB, past the page's bound.
    let points: Vec<String> = (0..5_200).map(|i| format!("[119.{:05},29.08]", i % 100_000)).collect();
    let route = format!(r#"route={{"type":"LineString","coordinates":[{}]}}"#, points.join(","));
    assert!(route.len() < 100_000, "{}", route.len());
    for i in 0..90 {
        let start = format!("started_at=2026-11-20T{:02}:{:02}:00+08:00", 6 + i / 60, i % 60);
        a.put("patrol", None, &["grid=C1-01", "worker=网格员甲", &start, &route]);
    }
    let household = a.put("household", None, &["grid=C1-01", "address=东苑小区1幢101室"]);
    let visited = format!("household={household}");
    a.put(
        "visit",
        None,
        &["grid=C1-01", &visited, "visited_at=2026-11-20T15:00:00+08:00", "purpose=care", "worker=网格员甲"],
    );
    a.sync();
    let centre = Console::login(&server, "值班员", "correct horse");
    let day = centre.get("/activity?day=2026-11-20");
    assert_eq!(day["truncated"], true, "the page stops at its routes' bound");
    assert!(day["patrols"].as_array().unwrap().len() < 90);
    for (kind, rows) in [("patrol", 90), ("visit", 1)] {
        let (status, csv) =
            centre.download(&format!("/activity/export?format=csv&kind={kind}&day=2026-11-20"));
        let csv = String::from_utf8(csv).unwrap();
        assert_eq!(status, 200, "{kind}: {csv}");
        assert_eq!(csv.lines().count(), rows + 1, "{kind}: every row and a header");
        assert!(!csv.contains("LineString"), "no routes in the export");
    }
}

on_both_backends!(a_days_exports_are_not_cut_by_routes);
